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
//! * A trace of every input and output, folded into a 64-bit hash ([`Sim::trace_hash`]) and
//!   written as text when asked ([`write_trace`], `SIM_TRACE=1`).
//!
//! ## Why the simulator has a host of its own
//!
//! The runtimes share one host layer (`distro-host`), but the simulator does not drive it: a
//! `Host` reads the wall-anchored clock and decodes real byte streams, while the simulator
//! needs virtual time and delivers whole frames (dropped, duplicated, reordered) one event at a
//! time. So the simulator keeps its own small host here (`host.rs`), and a host shaped like the
//! glommio runtime (members sharing client ports, linked losslessly in process) is not modelled
//! as such. What that runtime adds to the protocol lives in the core and is tested there in
//! virtual time: shard identities and their announcement in the handshake, one ring over
//! `processes × shards`, and answers to writes held until sibling shards acknowledged them
//! (`core/src/tests/shards.rs`); the runtime itself is tested against real processes by the
//! conformance suite (`distrod-glommio` with one and two shards, the shard scenarios, a mixed
//! cluster).
//!
//! ## Invariants
//!
//! Checked after every event that changes a member's registry (during calm periods everything
//! about what that member holds: no resurrection, no lost live client, the expiry bounds; the
//! beat-side check always), sampled every [`SimConfig::check_interval`] for what spans members
//! (convergence, member views) or only time can break (a bound running out), and once more
//! at the end. A client that stops
//! (or deregisters) counts as *settled* once every write it sent has taken effect or been lost
//! (a request stuck in a paused member, a forward in flight, a frame held by a blackholed link
//! can all take effect late). *Calm* means no fault is active and the last one ended at least
//! [`Sim::settle_time`] ago (two verify rounds plus retry delays; plus DOWN detection after a
//! crash).
//!
//! * **No resurrection** (always): a settled client whose deletion is known at revision `R` is
//!   never held live above `R`, and never again by a member that held its deletion.
//! * **Convergence** (when calm): every client whose newest revision has existed for the
//!   settle slack is held identically by every running member, or by none if the newest is a
//!   deletion; every member is ready and sees the running members UP and the others DOWN.
//! * **No lost live client** (when calm): a beating ip-port client is held healthy by every
//!   running member; a registered native client of a running member that answers probes is
//!   held by every running member.
//! * **No lost live client, beat side** (also during partitions and right after they heal):
//!   a client beating through a member is held healthy, with every service, by that member
//!   and by the members on its side of any partition, so a side that stopped hearing the
//!   client cannot take it from the side that hears it (issue 11). See `sides.rs` for the
//!   exact terms and what it leaves out.
//! * **Expiry bounds** (when calm): a stopped ip-port client is unhealthy on its responsible
//!   member within `beat_timeout + beat_check_interval` and gone everywhere within
//!   `delete_timeout + beat_check_interval`; a closed native client is gone at once, an orphan
//!   of a crashed member within DOWN detection + `orphan_conn_expiry` + a cleanup interval; a
//!   hung native client is closed within `conn_idle + conn_scan_interval + probe_timeout`.
//! * **Readiness gate** (always): a member sends no verify round and expires nothing before
//!   its snapshot is loaded.
//! * **Subscribers** (at the end, after a quiet minute): every live subscriber's last view
//!   (native push, or v1 UDP push or list answer) equals its member's list.
//! * **Determinism**: the same seed gives the same trace hash ([`run_seeds`] runs the first
//!   seed twice).
//!
//! ## Running
//!
//! ```no_run
//! use distro_testkit::sim::{Sim, SimConfig};
//! let report = Sim::new(SimConfig::random(7)).run().expect("invariants hold");
//! println!("{report}");
//! ```
//!
//! `cargo test -p distro-testkit` runs the named scenarios (`tests/sim_scenarios.rs`) and a
//! batch of 20 random seeds (`tests/sim.rs`). `SIM_SEED=<n>` replays one seed,
//! `SIM_SEEDS=<count>` runs many (from `SIM_SEED_BASE`), `SIM_TRACE=1` writes every seed's
//! trace; `-- --ignored harsh_seeds` runs the harsher profile. A failure prints the command
//! that replays it and writes the trace to `target/sim-traces/<seed>.trace`.

mod checks;
mod clients;
mod config;
mod faults;
mod host;
mod invariants;
mod links;
mod rng;
mod runner;
mod sides;
mod trace;
mod truth;
mod world;

pub use clients::service;
pub use config::{Fault, FaultPlan, NetParams, SimConfig, Workload};
pub use invariants::Violation;
pub use rng::Rng;
pub use runner::{
    replay_command, run_seeds, run_seeds_with, seeds_from_env, trace_path, write_trace, Failure,
    Judged, Report,
};
pub use world::Sim;
