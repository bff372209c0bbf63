//! # distro-host: everything between a socket and the core that is not a socket
//!
//! Three layers make a `distrod` member, and each lives in one place:
//!
//! | layer | crate | does |
//! |---|---|---|
//! | decisions | `distro-core` | the Distro protocol as a state machine: [`distro_core::Node`] |
//! | connections | `distro-host` (this crate) | HTTP/1.1 framing, keep-alive and pipelining, frame decoding, request and idle deadlines, write bounds, peer links with backoff, routing the node's outputs, counters, the command line |
//! | bytes | `distro-mio`, `distro-glommio`, or your own | sockets: accept, read, write, sleep |
//!
//! [`Host`] holds one node and the state of every connection by [`ConnId`](distro_core::ConnId);
//! it never touches a socket. A runtime is a pump around it.
//!
//! ## Driving a host
//!
//! 1. Build it: `Host::new(ServerConfig::parse_from(argv)?)`; bind the HTTP, native and peer
//!    listeners at `config.http`, `config.native`, `config.peer` and a UDP socket.
//! 2. On an accepted socket, call [`Host::accept`] with the [`Listener`] it came from; keep
//!    the socket under the returned id (on `None`, the connection limit is reached: close it).
//! 3. Read while [`Host::wants_read`] and give the bytes to [`Host::received`]; on end of
//!    stream call [`Host::read_closed`], on an error [`Host::failed`]. Datagrams go to
//!    [`Host::datagram`].
//! 4. After feeding the host, drain [`Host::poll_action`] until `None`, and do each
//!    [`Action`]: `Write` (write [`Host::output`] and [`Host::consume`] what the socket took,
//!    or [`Host::take_output`] and [`Host::written`] for completion-based I/O), `Read` (read
//!    that connection again), `Close`, `Connect` (open an outgoing peer link, report
//!    [`Host::link_connected`] or [`Host::failed`]) and `SendTo` (a UDP datagram).
//! 5. Sleep until the next socket event or [`Host::next_deadline`], then call
//!    [`Host::handle_timeout`] and drain the actions again.
//!
//! `examples/tokio_host.rs` is a whole host on tokio in under 200 lines; `distro-mio` is the
//! same loop on epoll readiness and `distro-glommio` on io_uring completions.
//!
//! ## Contract
//!
//! * The host calls its own [`Clock`] (monotonic, anchored at the wall clock so that client
//!   revisions keep growing across restarts); everything else it does is a function of what
//!   the runtime reports.
//! * Every connection's unwritten bytes (queued and taken but not yet written) are bounded:
//!   a client past `client_write_buffer` is closed as a slow reader, a peer link past
//!   `peer_write_buffer` is dropped and reconnected (the node resends). What one connection
//!   sends is bounded by the request and frame limits.
//! * Bad input (a malformed request, an invalid frame) is answered or closes that connection,
//!   and is counted in [`RuntimeStats`]; it never panics the host.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod buffer;
pub mod client;
mod clock;
pub mod config;
mod conn;
mod frames;
mod grpc;
mod host;
mod http;
mod links;
mod route;
mod stats;
#[cfg(test)]
mod tests;
pub mod users;

pub use client::{Client, ClientError};
pub use clock::Clock;
pub use config::{tuning, Args, ConfigError, FileConfig, ServerConfig};
pub use host::{Action, Host, Listener, FIRST_CONN};
pub use stats::RuntimeStats;
