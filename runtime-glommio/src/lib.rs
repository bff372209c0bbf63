//! # distro-glommio: `distrod-glommio`, thread-per-core on io_uring, a shard is a member
//!
//! The process runs `--shards N` glommio executors (default: one per online CPU), each pinned
//! to a CPU and each a full Distro member: its own [`distro_host::Host`] and
//! [`Node`](distro_core::Node), its own member identity, its own peer port and UDP socket.
//! Nothing is shared between shards but the listening ports.
//!
//! ## The shard-as-member model
//!
//! * **Identity.** Shard `k` of the process whose HTTP address is `ip:port` is the member
//!   `ip:port` for `k = 0` and `ip:port/k` otherwise ([`MemberId::of_shard`](distro_core::MemberId::of_shard)). The member list
//!   (`--members`) names processes, as for `distrod`; each process announces its shard count in
//!   the peer handshake, so every member, `distrod` on mio included, counts
//!   `processes × shards` members and computes the Nacos responsibility hash over all of them.
//!   Shard `k` listens for peers on the process's peer port + `k` (HTTP port + 1001 + `k` by
//!   default), which is where other processes connect to it.
//! * **Client ports are shared.** Every shard listens on the HTTP and client (native) ports
//!   with `SO_REUSEPORT`, so the kernel spreads connections over shards. Reads are answered by
//!   the shard that got them; an ip-port write goes to its responsible member, a sibling shard
//!   or another process, exactly as between machines.
//! * **Siblings replicate in process.** The shards of one process are linked by glommio's
//!   channel mesh with the same peer protocol as over TCP (same frames, same handshake), so
//!   sync, verify, snapshots and forwarding are unchanged. A write is answered only once every
//!   reachable sibling acknowledged it, so a client that writes on one connection reads its
//!   write on any other connection to the same process (microseconds over the mesh).
//! * **Cost.** Every shard holds every replica, and each change is synced to
//!   `processes × shards − 1` members. Measured (`benches/scripts/rss_per_instance.py 50000`,
//!   50,000 v1 instances in 100 services): `distrod` 1,001 bytes per instance, one shard 1,002,
//!   two shards 1,735 (per process). Writes pay for the replication between shards: on the
//!   2-core test machine, shared with the load generator, a v1 register costs more server CPU
//!   with two shards than with one (`benches/README.md`), while lists, answered by each
//!   shard from its own replica, gain throughput.
//!
//! ## Running
//!
//! ```text
//! cargo run --release -p distro-glommio                   # standalone, one shard per CPU
//! distrod-glommio --shards 2 --cpus 0,1 --http 127.0.0.1:18848 --members 127.0.0.1:18848,127.0.0.1:18858
//! ```
//!
//! Flags and the config file are `distrod`'s ([`distro_host::ServerConfig`]), plus `--shards`
//! and `--cpus`. When every shard bound its sockets, one line goes to stderr:
//! `distrod listening http=… native=… peer=… udp=… shards=N` (shard 0's peer and UDP
//! addresses). SIGINT and SIGTERM stop every shard and exit 0; a socket that cannot be bound
//! exits 1, as does a machine without io_uring or with too little locked memory (checked
//! before any executor starts, with one line naming the cause); a bad command line exits 2.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod mesh;
pub mod preflight;
mod shard;
mod signal;
mod startup;
mod tcp;

pub use startup::{run, RunError};
