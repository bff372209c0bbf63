//! The node's inputs, outputs and events.

use crate::model::{ConnId, MemberId, RequestId};
use crate::request::{Reply, Request, ServiceView};
use crate::time::Timestamp;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// Something that happened to the node. Every input carries the host's current time.
#[derive(Debug)]
pub enum Input<'a> {
    /// A deadline announced by [`Output::Timeout`] passed. Extra or early timeouts are harmless.
    Timeout(Timestamp),
    /// The host's outgoing link to `member` is connected; the node sends its handshake first.
    PeerUp {
        /// Now.
        now: Timestamp,
        /// The member.
        member: MemberId,
    },
    /// The host's outgoing link to `member` broke; frames sent since the last `PeerUp` may be lost.
    PeerDown {
        /// Now.
        now: Timestamp,
        /// The member.
        member: MemberId,
    },
    /// One frame body (see [`wire::FrameDecoder`](crate::wire::FrameDecoder)) read from an
    /// incoming peer connection. The first frame must be the handshake.
    PeerFrame {
        /// Now.
        now: Timestamp,
        /// The incoming connection (unique among all the host's connections).
        conn: ConnId,
        /// The frame body, borrowed.
        frame: &'a [u8],
    },
    /// A native client connected.
    ConnectionOpened {
        /// Now.
        now: Timestamp,
        /// The connection (unique among all the host's connections).
        conn: ConnId,
    },
    /// A native client or an incoming peer connection closed. Also harmless for connections
    /// the node itself asked to close, for HTTP connections, and for unknown ones.
    ConnectionClosed {
        /// Now.
        now: Timestamp,
        /// The connection.
        conn: ConnId,
    },
    /// One frame body read from a native client connection.
    ClientFrame {
        /// Now.
        now: Timestamp,
        /// The connection.
        conn: ConnId,
        /// The frame body, borrowed.
        frame: &'a [u8],
    },
    /// A typed request (a parsed v1 HTTP request, or an embedder's call). Answered by exactly
    /// one [`Output::Reply`] with the same `conn` and `id`, possibly after other inputs when the
    /// request is forwarded to another member.
    Request {
        /// Now.
        now: Timestamp,
        /// Where the reply goes.
        conn: ConnId,
        /// Echoed in the reply.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// A native client answered a probe (for hosts that decode the client protocol themselves;
    /// a `ClientMsg::ProbeAck` frame does the same).
    ProbeAnswered {
        /// Now.
        now: Timestamp,
        /// The connection.
        conn: ConnId,
    },
    /// A UDP datagram (a push acknowledgement) arrived on the push socket.
    Datagram {
        /// Now.
        now: Timestamp,
        /// Sender.
        from: SocketAddr,
        /// The datagram, borrowed.
        data: &'a [u8],
    },
    /// Replace the member list (a membership change). Responsibility moves accordingly.
    SetMembers {
        /// Now.
        now: Timestamp,
        /// The new list.
        members: Vec<MemberId>,
    },
}

impl Input<'_> {
    /// The time this input carries.
    pub fn now(&self) -> Timestamp {
        match self {
            Input::Timeout(now)
            | Input::PeerUp { now, .. }
            | Input::PeerDown { now, .. }
            | Input::PeerFrame { now, .. }
            | Input::ConnectionOpened { now, .. }
            | Input::ConnectionClosed { now, .. }
            | Input::ClientFrame { now, .. }
            | Input::Request { now, .. }
            | Input::ProbeAnswered { now, .. }
            | Input::Datagram { now, .. }
            | Input::SetMembers { now, .. } => *now,
        }
    }
}

/// Where a push goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushTarget {
    /// A native connection: send `ServerMsg::Push(view)`.
    Conn(ConnId),
    /// A v1 UDP subscriber: send the packet rendered by `http::render_udp_push(view, ack)`.
    Udp {
        /// Subscriber address.
        addr: SocketAddr,
        /// The packet's `lastRefTime`, which the acknowledgement echoes.
        ack: u64,
    },
}

/// Something the host must do, or know.
#[derive(Debug)]
pub enum Output {
    /// Send this frame to `to` on the outgoing link (drop it if the link is down).
    Transmit {
        /// The member.
        to: MemberId,
        /// A complete frame, length prefix included.
        frame: Bytes,
    },
    /// Answer a request.
    Reply {
        /// The connection the request came on.
        conn: ConnId,
        /// The request's id.
        id: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Push a service's current view to a subscriber.
    Push {
        /// The subscriber.
        to: PushTarget,
        /// The view (shared between the subscribers of one change).
        view: Arc<ServiceView>,
    },
    /// Send a keep-alive probe (`ServerMsg::Probe`) on an idle native connection.
    Probe {
        /// The connection.
        conn: ConnId,
    },
    /// Close this connection (a dead native client, or a peer that broke the protocol).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// For logs and metrics only.
    Event(Event),
    /// Nothing more to do now: call again with [`Input::Timeout`] at this time, or earlier
    /// with any other input. Ends the drain.
    Timeout(Timestamp),
}

/// Who sent something the node rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A peer member (or an incoming connection not yet identified).
    Peer(Option<MemberId>),
    /// A client connection.
    Client(ConnId),
    /// A UDP sender.
    Udp(SocketAddr),
}

/// A member's health as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    /// Answering pings.
    Up,
    /// Missed pings, still on the responsibility ring.
    Suspicious,
    /// Missed more pings than the threshold; off the ring.
    Down,
}

impl MemberState {
    /// The Nacos name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Up => "UP",
            MemberState::Suspicious => "SUSPICIOUS",
            MemberState::Down => "DOWN",
        }
    }
}

/// Notable things, for logs and metrics.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Input from the network was rejected.
    Rejected {
        /// Who sent it.
        source: Source,
        /// Why.
        reason: String,
    },
    /// A peer's state changed.
    MemberStateChanged {
        /// The peer.
        member: MemberId,
        /// Its new state.
        state: MemberState,
    },
    /// The node became ready (snapshot loaded, or the gate timed out).
    Ready {
        /// The member whose snapshot was loaded, if any.
        snapshot_from: Option<MemberId>,
        /// Records loaded from the snapshot.
        records: u64,
    },
    /// An instance turned unhealthy for lack of beats.
    InstanceUnhealthy {
        /// `ip:port`.
        client: String,
    },
    /// A client was removed: its last instance expired, its connection died, or it was
    /// deregistered.
    ClientRemoved {
        /// The client id.
        client: String,
        /// Why.
        reason: &'static str,
    },
    /// The member list changed: a `SetMembers`, or a process announced another shard count.
    /// Hosts open links to the new members and close those to members that left.
    MembersChanged {
        /// Every other member now.
        members: Vec<MemberId>,
    },
    /// Another member suspected a client for lack of beats (turned an instance unhealthy or
    /// expired it), but this member heard it beat within its beat timeout: it answered with
    /// the client alive, at a newer revision, to every member.
    SuspicionRefuted {
        /// The client id.
        client: String,
    },
    /// A replica was dropped because its responsible member stopped renewing it.
    ReplicaExpired {
        /// The client id.
        client: String,
    },
}
