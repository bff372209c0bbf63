//! Launcher of real registry processes on loopback (to be written).
