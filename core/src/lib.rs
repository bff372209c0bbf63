//! # distro-core: a sans-IO Distro member
//!
//! `distro-core` is a complete member of a Nacos-compatible ephemeral service registry that
//! replicates with the **Distro** protocol, written as a deterministic state machine. It does no
//! I/O: no sockets, no clocks, no threads, no global randomness. A host (the `distrod` runtimes,
//! the simulator, a test, your own program) feeds it [`Input`]s and carries out the [`Output`]s
//! it returns.
//!
//! ## The run loop
//!
//! 1. Build a node with [`Node::new`] from a [`Config`] (identity, members, timings, limits,
//!    seed) and the current time.
//! 2. Whenever something happens (bytes arrive, a connection opens or closes, a deadline passes),
//!    call [`Node::handle_input`] with an [`Input`] carrying the current time.
//! 3. **After every input, drain** [`Node::poll_output`] until it returns [`Output::Timeout`]:
//!    send each [`Output::Transmit`] frame to its member, write each [`Output::Reply`] and
//!    [`Output::Push`], probe and close connections as told.
//! 4. Sleep until the deadline of that `Output::Timeout` (or until the next input), then call
//!    `handle_input(Input::Timeout(now))`.
//!
//! ```
//! use distro_core::{Config, Input, Node, Output, Request, Reply, ServiceKey, Instance,
//!                   ConnId, RequestId, Timestamp};
//!
//! let mut node = Node::new(Config::standalone("127.0.0.1:8848"), Timestamp::ZERO);
//! let request = Request::Register {
//!     service: ServiceKey::parse(None, None, "orders"),
//!     instance: Instance::new("10.0.0.5", 8080),
//! };
//! node.handle_input(Input::Request {
//!     now: Timestamp::from_millis(1), conn: ConnId(1), id: RequestId(1), request,
//! }).unwrap();
//! let mut replies = Vec::new();
//! loop {
//!     match node.poll_output() {
//!         Output::Reply { reply, .. } => replies.push(reply),
//!         Output::Timeout(_deadline) => break,
//!         _other => {} // transmit, push, probe, close, event
//!     }
//! }
//! assert_eq!(replies, vec![Reply::Ok]);
//! ```
//!
//! `examples/two_members.rs` is a complete host for two members in one process
//! (`cargo run -p distro-core --example two_members`).
//!
//! ## The contract
//!
//! * **No clock.** [`Timestamp`] is a `u64` of nanoseconds on the host's monotonic clock. A
//!   timestamp earlier than one already seen is clamped to it: time never runs backwards, and
//!   that is never a panic. Revisions are derived from timestamps, so a host that restarts
//!   its process must keep them growing across the restart: anchor the clock at the wall
//!   time when the process starts (as `distrod` does), not at zero.
//! * **Drain after every input.** Outputs queue up until polled. A host may feed several
//!   inputs that arrived together before draining; changes are then synced to each peer in
//!   one batch per drain. `Output::Timeout` ends a
//!   drain; the next call of `poll_output` after it starts a new one. Extra or early
//!   `Input::Timeout`s are no-ops.
//! * **Seeded determinism.** All randomness and every hash seed come from [`Config::seed`].
//!   The same config and the same inputs give the same outputs, byte for byte.
//! * **Untrusted network.** A bad frame, request or datagram is a typed error (an
//!   [`Reply::Error`] for clients, an [`Event::Rejected`] plus a counter in [`Stats`] for peers),
//!   never a panic. Everything the network can make the node hold is bounded by [`Limits`].
//! * **Cheap steady state.** A beat allocates nothing. Timers are a fixed table plus per-peer
//!   deadlines, not one timer per key.
//!
//! ## The protocol in brief
//!
//! Every instance belongs to a *client*: an ip-port client (v1 HTTP users, kept alive by beats)
//! or a connection client (native protocol, kept alive by the connection and probes). Each
//! client has one *responsible* member: the one holding the connection, or for ip-port clients
//! `sorted(UP ∪ SUSPICIOUS)[distro_hash("ip:port") % n]` exactly as Nacos computes it. Writes
//! reaching another member are forwarded to it. Only the responsible member changes a client
//! and advances its [`Revision`]; it syncs each change to every other member at once (batched
//! per peer, acknowledged, retried with backoff), and every 5 s sends each peer a verify list of
//! `(client, revision)` pairs that renews replicas and repairs what a peer missed. A replica
//! its responsible member stops verifying (it lost it) is handed back to that member; replicas
//! not renewed for 3 minutes expire. A starting member pulls a chunked snapshot before it verifies
//! or expires anything. Replicas apply only newer revisions, and deletions leave tombstones, so
//! reordered, duplicated or stale data never rolls anything back or resurrects a deletion.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod config;
mod distro;
mod error;
pub mod fuzzing;
pub mod grpc;
mod health;
pub mod http;
mod io;
mod members;
mod model;
mod node;
mod ops;
mod peer;
mod push;
mod registry;
mod request;
mod stats;
mod time;
mod view_cache;
pub mod wire;

pub use config::{Config, Limits, Timings};
pub use error::{Error, FrameError};
pub use io::{Event, Input, MemberState, Output, PushTarget, Source};
pub use model::{
    distro_hash, java_string_hash, ClientId, ClientRecord, ConnId, Instance, Instances, MemberId,
    Publication, RequestId, Revision, ServiceKey, ServiceMeta, DEFAULT_CLUSTER, DEFAULT_GROUP,
    DEFAULT_NAMESPACE, META_BEAT_INTERVAL, META_BEAT_TIMEOUT, META_DELETE_TIMEOUT,
};
pub use node::Node;
pub use registry::Registry;
pub use request::{
    ApiError, HostView, InstanceDetail, MemberView, MetricsView, Reply, Request, ServiceDetail,
    ServiceView, BEAT_NOT_FOUND, BEAT_OK,
};
pub use stats::Stats;
pub use time::Timestamp;
#[cfg(test)]
mod tests;
