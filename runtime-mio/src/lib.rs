//! # distro-mio: a `distrod` member on one `mio::Poll` loop
//!
//! The runtime does only I/O. It accepts and reads sockets, frames what it reads, gives the
//! [`Node`](distro_core::Node) one [`Input`](distro_core::Input) at a time, drains
//! `poll_output` after every input, writes what the node returns, and sleeps in `Poll::poll`
//! until the earliest of the node's `Output::Timeout` and its own I/O deadlines.
//!
//! | socket | what it carries |
//! |---|---|
//! | HTTP (8848) | Nacos v1 API, HTTP/1.1 keep-alive, one request at a time per connection |
//! | native (9848) | framed [`ClientMsg`](distro_core::wire::ClientMsg) / [`ServerMsg`](distro_core::wire::ServerMsg) |
//! | peer (9849) | incoming links of other members (read-only); outgoing links are made to theirs |
//! | UDP (HTTP IP, any port) | v1 push packets out, acknowledgements in |
//!
//! Every connection has a [`mio::Token`] whose number is its node `ConnId`; numbers are
//! never reused. Write buffers are bounded: a client that does not read is closed, a peer
//! link that does not drain is dropped and reconnected (the node resends).
//!
//! ## Running
//!
//! ```text
//! cargo run --release -p distro-mio                       # standalone on 127.0.0.1:8848
//! distrod --http 127.0.0.1:18848 --members 127.0.0.1:18848,127.0.0.1:18858,127.0.0.1:18868
//! distrod --config distrod.toml --timing beat_timeout=15000 --limit max_clients=1000
//! distrod --help                                          # every flag, timing and limit
//! ```
//!
//! When every socket is bound, `distrod` prints one line to stderr,
//! `distrod listening http=… native=… peer=… udp=…`; logs go to stderr too. SIGINT and
//! SIGTERM stop it with exit status 0; a socket that cannot be bound exits with 1, a bad
//! command line or config file with 2.
//!
//! [`Client`] is a blocking client of the native protocol that registers its instances again
//! on a new connection after the old one broke.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buffer;
mod client;
mod clock;
mod conn;
mod links;
mod outputs;
mod serve_frames;
mod serve_http;
mod server;

pub use client::{Client, ClientError};
pub use clock::Clock;
pub use server::{run, BoundAddrs, RunError, RuntimeStats, Server};
