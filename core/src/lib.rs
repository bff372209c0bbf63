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
//!    seed) and the current time. A host that takes settings from users checks them first
//!    with [`Config::validate`] (or builds with [`Node::try_new`]): a setting a node cannot
//!    run with is a [`ConfigError`] naming the field.
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
//! * **Cheap steady state.** A beat a member serves allocates nothing; a beat it forwards to
//!   the responsible member costs one frame there and back and the few strings the frame
//!   carries (`core/tests/beat_allocations.rs` counts them). Timers are a fixed table plus
//!   per-peer deadlines, not one timer per key.
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
//!
//! ## Suspicion and refutation
//!
//! Beats do not advance a client's revision (a beat costs no sync), so a member that merely
//! *stopped hearing* a client must not outrank the members that still hear it. During a
//! partition both sides have a responsible member for every client; the side that gets no
//! beats turns the instances unhealthy and then deletes them, and when the partition heals
//! those changes would otherwise win everywhere: every member would drop a client that never
//! stopped beating (alibaba/nacos has this problem). The rule, as SWIM refutes a suspicion:
//!
//! 1. Every change a member derives from missing beats (an instance turned unhealthy, a
//!    publication or the whole client expired) is a **suspicion**: it travels as
//!    [`Record::Suspected`](wire::Record::Suspected) or
//!    [`Record::Expired`](wire::Record::Expired), at a *derived* revision just above the state
//!    it was derived from ([`Revision::derived`]; a deletion a margin above it,
//!    [`Revision::expiry`], so that it outranks what other members derive from that state
//!    meanwhile), never at the clock. So a suspicion can only ever outrank the copy it judged,
//!    never a write the client made meanwhile (such as a deregistration, which stays final).
//! 2. A member that **heard** the client about an instance (executed or forwarded one of its
//!    beats, or executed one of its writes) within that instance's beat timeout, and receives
//!    a newer suspicion that would turn it unhealthy or remove it, does not apply it. It
//!    **refutes** it: it writes the suspicion's state with those instances alive and healthy,
//!    at the revision just above the suspicion's, and syncs that to every member (counted in
//!    [`Stats::suspicions_refuted`], reported as [`Event::SuspicionRefuted`]).
//! 3. Everyone else applies the suspicion like any newer record, and the refutation after it.
//!
//! Why it holds: a refutation is newer than the suspicion it answers, so it wins everywhere;
//! the member that made the suspicion applies it and holds the client again. Only evidence no
//! older than a beat timeout refutes, so a client that really stopped is judged again from the
//! refutation on and expires within one more beat timeout; in a cluster whose members all
//! reach each other every beat reaches the responsible member, whose own suspicions come after
//! a beat timeout without any beat, so nobody holds fresher evidence and nothing is refuted.
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
pub use error::{ConfigError, Error, FrameError};
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
