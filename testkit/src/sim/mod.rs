//! The deterministic cluster simulator (to be written).
