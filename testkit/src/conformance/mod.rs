//! Conformance scenarios against real processes (to be written).
