//! # distro-mio: a `distrod` member on one `mio::Poll` loop
//!
//! The runtime only moves bytes. It accepts and reads sockets and hands what it reads to a
//! [`distro_host::Host`] (which frames it, decides with the [`Node`](distro_core::Node) and
//! routes the answers), writes what the host hands back, and sleeps in `Poll::poll` until the
//! host's next deadline. Sockets are registered edge-triggered; `WRITABLE` interest is held
//! only while bytes wait.
//!
//! | socket | what it carries |
//! |---|---|
//! | HTTP (8848) | Nacos v1 API, HTTP/1.1 keep-alive, one request at a time per connection |
//! | native (9848) | framed [`ClientMsg`](distro_core::wire::ClientMsg) / [`ServerMsg`](distro_core::wire::ServerMsg) |
//! | peer (9849) | incoming links of other members (read-only); outgoing links are made to theirs |
//! | UDP (HTTP IP, any port) | v1 push packets out, acknowledgements in |
//!
//! Every connection has a [`mio::Token`] whose number is its host `ConnId`; numbers are
//! never reused. Write buffers (in the host) are bounded: a client that does not read is
//! closed, a peer link that does not drain is dropped and reconnected (the node resends).
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
//! [`Client`] (from `distro-host`) is a blocking client of the native protocol that registers
//! its instances again on a new connection after the old one broke.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod server;

pub use distro_host::{Client, ClientError, Clock, RuntimeStats};
pub use server::{run, BoundAddrs, RunError, Server};
