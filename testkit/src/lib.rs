//! Test tools for distro: a deterministic simulator of many [`distro_core::Node`]s with fault
//! injection and invariants ([`sim`]), a launcher of real `distrod` processes ([`cluster`]),
//! conformance scenarios written once and run against any runtime binary ([`conformance`]), the
//! `cluster` fuzz target on the simulator ([`fuzzing`]), and the replay of committed fuzz
//! corpora ([`corpus`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod conformance;
pub mod corpus;
pub mod fuzzing;
pub mod sim;
