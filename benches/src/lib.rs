//! # distro-benches: micro-benchmarks of `distro-core` and the load generator `distro-load`
//!
//! * [`fixtures`] builds nodes, requests and peer frames for the criterion suites in
//!   `benches/micro/` (`cargo bench -p distro-benches`).
//! * [`load`] is the load generator behind the `distro-load` binary: closed- and open-loop
//!   workloads over the Nacos v1 HTTP API and the native protocol, propagation latency across
//!   a cluster, and the side-by-side comparison of `distrod` with another Nacos-compatible
//!   server.
//!
//! See `benches/README.md` for the commands and the latest figures.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fixtures;
pub mod load;
