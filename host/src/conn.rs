//! The host's connections: what speaks on each, its buffers and deadlines.

use crate::buffer::OutBuf;
use distro_core::wire::FrameDecoder;
use distro_core::{RequestId, Timestamp};
use std::net::SocketAddr;

/// One connection of the runtime's, known to the host by its [`ConnId`](distro_core::ConnId).
#[derive(Debug)]
pub(crate) struct Conn {
    pub peer_addr: SocketAddr,
    pub out: OutBuf,
    /// An [`Action::Write`](crate::Action::Write) was given and its bytes are not all taken.
    pub write_announced: bool,
    /// Last read or write progress.
    pub last_activity: Timestamp,
    /// A close is scheduled: nothing more read from it is processed.
    pub closing: bool,
    /// A peer link in the middle of authentication (`None`: done, or not needed).
    pub auth: Option<crate::auth::AuthState>,
    pub kind: ConnKind,
}

/// What speaks on a connection.
#[derive(Debug)]
pub(crate) enum ConnKind {
    /// Nacos v1 HTTP/1.1.
    Http(HttpConn),
    /// A client connection that has sent nothing yet: its first byte tells native frames from
    /// HTTP/2 (gRPC), whose preface starts with `P`.
    Client,
    /// Native client frames.
    Native(FrameDecoder),
    /// A Nacos 2.x gRPC client (HTTP/2).
    Grpc(Box<crate::grpc::GrpcConn>),
    /// Frames from another member's outgoing link (read-only).
    PeerIn(FrameDecoder),
    /// This member's outgoing link to peer link `usize` (write-only; what is read is dropped).
    PeerOut(usize),
}

impl ConnKind {
    /// Whether the node knows this connection (and must hear that it closed).
    pub fn known_to_node(&self) -> bool {
        !matches!(self, ConnKind::Http(_) | ConnKind::PeerOut(_))
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            ConnKind::Http(_) => "http",
            ConnKind::Client => "client",
            ConnKind::Native(_) => "native",
            ConnKind::Grpc(_) => "grpc",
            ConnKind::PeerIn(_) => "peer",
            ConnKind::PeerOut(_) => "link",
        }
    }
}

/// The request state of an HTTP connection. One request is processed at a time, so that
/// replies (some answered later, after a forward to another member) stay in order.
#[derive(Debug, Default)]
pub(crate) struct HttpConn {
    /// Bytes read and not yet parsed.
    pub inbuf: Vec<u8>,
    /// The request given to the node and not answered yet.
    pub inflight: Option<InFlight>,
    /// Close once `out` is written (a `Connection: close` answer or a fatal error).
    pub close_after_flush: bool,
    /// When the first byte of the incomplete request in `inbuf` arrived.
    pub request_started: Option<Timestamp>,
    /// Reading stopped because `inbuf` is full; resumed once a request is consumed.
    pub read_paused: bool,
    /// The client shut its side; close once the request in flight is answered.
    pub peer_closed: bool,
}

impl HttpConn {
    /// Whether nothing is in flight and nothing is buffered.
    pub fn is_idle(&self) -> bool {
        self.inflight.is_none() && self.inbuf.is_empty()
    }
}

/// A request the node has not answered yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InFlight {
    /// Its id.
    pub id: RequestId,
    /// Whether the client asked for keep-alive.
    pub keep_alive: bool,
    /// When it was given to the node.
    pub since: Timestamp,
}
