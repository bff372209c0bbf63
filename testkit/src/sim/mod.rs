//! # The deterministic cluster simulator
//!
//! Many [`distro_core::Node`]s run in one thread on virtual time, connected by a seeded network,
//! driven by simulated clients, and broken by faults drawn from the same seed. Every input and
//! output is folded into a trace hash, so a seed replays exactly: the same seed gives the same
//! hash, and a failing seed is one command away from a replay with a full text trace.
//!
//! ## How a run works
//!
//! * One event queue ordered by (virtual time, sequence number). Each node is driven the way a
//!   runtime drives it: `handle_input`, then `poll_output` until `Timeout`, whose deadline
//!   becomes the node's next timer. Nothing is ever delivered synchronously, so the order of
//!   events is fully determined by the seed.
//! * The host side of the node API: one directed link per ordered pair of members (`PeerUp`,
//!   `PeerDown`, `PeerFrame` on a stable connection id per pair, `ConnectionClosed` for the
//!   receiver when the link breaks), native connections (`ConnectionOpened`, `ClientFrame`,
//!   `Probe`, `Close`), and v1 requests (`Request` / `Reply`).
//! * Clients ([`Workload`]): ip-port clients register, beat every interval, stop beating,
//!   deregister, come back; connection clients connect, register, subscribe, answer or ignore
//!   probes, disconnect, and reconnect elsewhere (registering again) when their member dies.
//! * Faults ([`Fault`], [`FaultPlan`]): drop, duplicate, delay (latency and jitter), reorder,
//!   symmetric and one-way partitions (a cut link either resets at once or blackholes until the
//!   sender's transport gives up), heal, crash (memory wiped) and restart, pause (a long stall:
//!   inputs and timers arrive late), and membership changes.
//! * Invariants (see the `invariants` module docs): resurrection, convergence, no lost live
//!   client, expiry bounds and subscriber views, sampled every [`SimConfig::check_interval`]
//!   and at the end; determinism by running a seed twice ([`run_seeds`]).
//!
//! ## Running
//!
//! ```no_run
//! use distro_testkit::sim::{Sim, SimConfig};
//! let report = Sim::new(SimConfig::random(7)).run().expect("invariants hold");
//! println!("{report}");
//! ```
//!
//! `cargo test -p distro-testkit` runs the named scenarios and a batch of random seeds;
//! `SIM_SEED=<n>` replays one seed, `SIM_SEEDS=<count>` runs many. A failure prints the command
//! that replays it and writes the trace to `target/sim-traces/<seed>.trace`.

mod clients;
mod config;
mod faults;
mod host;
mod invariants;
mod links;
mod rng;
mod runner;
mod trace;
mod truth;
mod world;

pub use clients::service;
pub use config::{Fault, FaultPlan, NetParams, SimConfig, Workload};
pub use invariants::Violation;
pub use rng::Rng;
pub use runner::{
    replay_command, run_seeds, run_seeds_with, seeds_from_env, trace_path, write_trace, Failure,
    Report,
};
pub use world::Sim;
