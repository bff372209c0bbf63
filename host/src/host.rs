//! [`Host`]: one node, its connections and peer links, driven by a runtime that moves bytes.

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::conn::{Conn, ConnKind, HttpConn};
use crate::links::PeerLinks;
use crate::stats::RuntimeStats;
use distro_core::http::{ApiOptions, RenderCache};
use distro_core::wire::FrameDecoder;
use distro_core::{ConnId, Input, Limits, MemberId, Node, ServiceView, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Connection ids start here, so a runtime may use the numbers below for its own sockets
/// (listeners, UDP, signals). Ids are never reused, so a late reply never reaches a newer
/// connection.
pub const FIRST_CONN: u64 = 16;
/// Longest interval between checks of connections for stalled requests and idleness.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// Which listening socket accepted a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The HTTP port (Nacos v1 API).
    Http,
    /// The client port (native protocol).
    Native,
    /// The peer port (other members' outgoing links).
    Peer,
    /// A link from another shard of this process (in-process, trusted: not authenticated).
    Sibling,
}

/// What the runtime must do next, from [`Host::poll_action`].
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Bytes are queued for `conn`: write them ([`Host::output`] then [`Host::consume`], or
    /// [`Host::take_output`] then [`Host::written`]). Given once until they are all taken.
    Write(ConnId),
    /// `conn` wants to be read again (it stopped reading while its buffer was full).
    Read(ConnId),
    /// Close `conn`'s socket once what was taken from it is written; the host forgot it.
    Close(ConnId),
    /// Open an outgoing peer link to `member` at `addr` under the id `conn`; report the
    /// outcome with [`Host::link_connected`] or [`Host::failed`].
    Connect {
        /// The new connection's id.
        conn: ConnId,
        /// The member it links to.
        member: MemberId,
        /// The member's peer address.
        addr: SocketAddr,
    },
    /// Send `data` as one UDP datagram to `addr` (best effort).
    SendTo {
        /// The receiver.
        addr: SocketAddr,
        /// The datagram.
        data: Vec<u8>,
    },
}

/// Work found while draining the node, done after the drain (it may feed the node again).
#[derive(Debug)]
pub(crate) enum Work {
    /// Close this connection.
    Close(ConnId, &'static str),
    /// Parse the next buffered HTTP request of this connection (its previous one was answered).
    Resume(ConnId),
    /// The outgoing link with this index broke.
    LinkDown(usize, &'static str),
}

/// A member: the [`Node`], every connection's state and the peer links, without a socket.
///
/// A runtime accepts and reads sockets and tells the host ([`Host::accept`],
/// [`Host::received`], [`Host::read_closed`], [`Host::failed`], [`Host::datagram`]), writes what
/// the host hands back, and sleeps until [`Host::next_deadline`] or the next socket event, then
/// calls [`Host::handle_timeout`]. After feeding the host it drains [`Host::poll_action`] until
/// `None`. Everything else (HTTP/1.1 framing and keep-alive, frame decoding, request deadlines,
/// routing the node's outputs, peer reconnects with backoff, write-buffer bounds, the counters)
/// happens here, once for every runtime.
pub struct Host {
    pub(crate) node: Node,
    pub(crate) clock: Clock,
    pub(crate) config: ServerConfig,
    pub(crate) limits: Limits,
    pub(crate) api: ApiOptions,
    pub(crate) conns: HashMap<ConnId, Conn>,
    pub(crate) links: PeerLinks,
    next_conn: u64,
    /// Open client connections (HTTP and native), which `max_connections` bounds.
    clients: usize,
    pub(crate) next_request: u64,
    pub(crate) work: VecDeque<Work>,
    pub(crate) actions: VecDeque<Action>,
    /// The deadline of the node's last `Output::Timeout`.
    pub(crate) core_deadline: Timestamp,
    next_sweep: Timestamp,
    pub(crate) stats: RuntimeStats,
    /// Addresses of peers refused for failed authentication (each logged once).
    pub(crate) refused_peers: std::collections::HashSet<std::net::IpAddr>,
    /// The last native push frame, reused for every subscriber of the same view.
    pub(crate) push_cache: Option<(Arc<ServiceView>, bytes::Bytes)>,
    last_reject_log: Option<Timestamp>,
    /// The node was fed since its last drain.
    undrained: bool,
    /// Rendered list bodies, reused while the node answers with the same view.
    pub(crate) render_cache: RenderCache,
}

impl Host {
    /// A host for a member configured by `config`, starting now. Its first
    /// [`Host::handle_timeout`] is due at once.
    pub fn new(config: ServerConfig) -> Host {
        let clock = Clock::new();
        let node = Node::new(config.node.clone(), clock.now());
        let links = PeerLinks::new(&config.peers, config.peer_write_buffer);
        Host {
            node,
            clock,
            limits: config.node.limits.clone(),
            api: ApiOptions {
                push_to_client_ip: config.push_to_client_ip,
            },
            config,
            conns: HashMap::new(),
            links,
            next_conn: FIRST_CONN,
            clients: 0,
            next_request: 0,
            work: VecDeque::new(),
            actions: VecDeque::new(),
            core_deadline: Timestamp::ZERO,
            next_sweep: Timestamp::ZERO,
            stats: RuntimeStats::default(),
            refused_peers: Default::default(),
            push_cache: None,
            last_reject_log: None,
            undrained: true,
            render_cache: Default::default(),
        }
    }

    /// The node (read-only: registry, members, stats).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The configuration the host was built with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// What the host rejected so far.
    pub fn stats(&self) -> &RuntimeStats {
        &self.stats
    }

    /// The host's clock (monotonic, anchored at the wall clock).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Number of open connections (client, incoming peer and outgoing link).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The earliest time [`Host::handle_timeout`] must be called.
    pub fn next_deadline(&self) -> Timestamp {
        self.core_deadline
            .min(self.next_sweep)
            .min(self.links.next_deadline())
    }

    /// Runs whatever is due: the node's timers, request and idle deadlines, link reconnects.
    /// Early or extra calls are harmless.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if now >= self.core_deadline {
            self.feed(Input::Timeout(now));
        }
        if now >= self.next_sweep {
            self.sweep(now);
            self.next_sweep = now.plus(self.sweep_interval());
        }
        self.connect_due(now);
    }

    /// The next thing the runtime must do, after draining the node; `None` once there is
    /// nothing left (call again after the next input).
    pub fn poll_action(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            if self.undrained {
                self.undrained = false;
                self.drain();
                continue;
            }
            match self.work.pop_front() {
                Some(Work::Close(conn, why)) => self.close(conn, why),
                Some(Work::Resume(conn)) => self.http_resume(conn),
                Some(Work::LinkDown(i, why)) => self.link_down(i, why),
                None => return None,
            }
        }
    }

    /// A listener accepted a connection from `peer_addr`. Returns its id, or `None` when the
    /// connection limit is reached (the runtime closes the socket; it is counted).
    pub fn accept(&mut self, listener: Listener, peer_addr: SocketAddr) -> Option<ConnId> {
        if !matches!(listener, Listener::Peer | Listener::Sibling)
            && self.clients >= self.config.max_connections
        {
            self.stats.connections_rejected += 1;
            self.log_reject_limited(peer_addr);
            return None;
        }
        let now = self.clock.now();
        let kind = match listener {
            Listener::Http => ConnKind::Http(HttpConn::default()),
            Listener::Native => ConnKind::Client,
            Listener::Peer | Listener::Sibling => {
                ConnKind::PeerIn(FrameDecoder::new(self.limits.max_frame_len))
            }
        };
        let conn = self.new_conn(peer_addr, kind, now);
        let peer = matches!(listener, Listener::Peer | Listener::Sibling);
        if !peer {
            self.clients += 1;
        }
        if listener == Listener::Peer && self.config.cluster_secrets.enabled() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.auth = Some(crate::auth::AuthState::Accepted);
            }
        }
        match listener {
            Listener::Native => {
                self.feed(Input::ConnectionOpened { now, conn });
            }
            Listener::Peer | Listener::Sibling => {
                // A member connected: links down to it (it may have restarted) reconnect now,
                // so that the answers to its first requests are held for it, not dropped.
                self.links.retry_now(now);
                self.connect_due(now);
            }
            Listener::Http => {}
        }
        Some(conn)
    }

    pub(crate) fn new_conn(
        &mut self,
        peer_addr: SocketAddr,
        kind: ConnKind,
        now: Timestamp,
    ) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        tracing::debug!(conn = conn.0, kind = kind.name(), %peer_addr, "connection");
        self.conns.insert(
            conn,
            Conn {
                peer_addr,
                out: Default::default(),
                write_announced: false,
                last_activity: now,
                closing: false,
                auth: None,
                kind,
            },
        );
        conn
    }

    /// Bytes read from `conn`.
    pub fn received(&mut self, conn: ConnId, data: &[u8]) {
        let now = self.clock.now();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.last_activity = now;
        if matches!(c.kind, ConnKind::Client) {
            if data.first() == Some(&b'P') {
                self.grpc_start(conn);
            } else if let Some(c) = self.conns.get_mut(&conn) {
                c.kind = ConnKind::Native(FrameDecoder::new(self.limits.max_frame_len));
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match &mut c.kind {
            ConnKind::Http(_) => self.http_received(conn, data, now),
            ConnKind::Grpc(_) => self.grpc_received(conn, data),
            ConnKind::Client => {}
            ConnKind::Native(d) | ConnKind::PeerIn(d) => {
                d.extend(data);
                self.frames_process(conn);
            }
            // The link is write-only: what a peer sends on it is dropped, but for the answers
            // of authentication.
            ConnKind::PeerOut(_) => {
                if c.auth.is_some() {
                    self.auth_link_received(conn, data);
                }
            }
        }
    }

    /// Whether the runtime should read from `conn` now (`false` while its request buffer is
    /// full; an [`Action::Read`] says when to go on).
    pub fn wants_read(&self, conn: ConnId) -> bool {
        match self.conns.get(&conn) {
            Some(c) if c.closing => false,
            Some(Conn {
                kind: ConnKind::Http(h),
                ..
            }) => !h.read_paused && !h.close_after_flush,
            Some(_) => true,
            None => false,
        }
    }

    /// The remote side of `conn` shut down its writing half (a read returned 0).
    pub fn read_closed(&mut self, conn: ConnId) {
        match self
            .conns
            .get_mut(&conn)
            .map(|c| (&mut c.kind, c.out.is_empty()))
        {
            Some((ConnKind::Http(h), out_empty)) => {
                h.peer_closed = true;
                if h.is_idle() && out_empty {
                    self.work.push_back(Work::Close(conn, "closed by client"));
                } else {
                    // answer what is complete, then close
                    self.http_process(conn);
                }
            }
            Some((ConnKind::Grpc(_), _)) => self.grpc_read_closed(conn),
            Some((ConnKind::PeerOut(i), _)) => {
                let i = *i;
                self.work.push_back(Work::LinkDown(i, "closed by peer"));
            }
            Some(_) => self.schedule_close(conn, "closed by remote"),
            None => {}
        }
    }

    /// Reading or writing `conn` failed, or its outgoing connect did: the runtime dropped the
    /// socket; the host forgets the connection (and tells the node).
    pub fn failed(&mut self, conn: ConnId) {
        if let Some(i) = self.links.by_conn(conn) {
            if self.links.is_connecting(i) {
                self.link_connect_failed(i);
            } else {
                self.work.push_back(Work::LinkDown(i, "socket failed"));
            }
            return;
        }
        self.forget(conn, "socket failed");
    }

    /// The bytes queued for `conn` and not yet written.
    pub fn output(&self, conn: ConnId) -> &[u8] {
        self.conns.get(&conn).map_or(&[], |c| c.out.pending())
    }

    /// The runtime wrote `n` bytes of [`Host::output`] to `conn`'s socket.
    pub fn consume(&mut self, conn: ConnId, n: usize) {
        let now = self.clock.now();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.out.consume(n);
            if n > 0 {
                c.last_activity = now;
            }
            if c.out.pending().is_empty() {
                c.write_announced = false;
            }
        }
        self.after_write(conn);
    }

    /// Moves the bytes queued for `conn` into `into` (appending; no copy when `into` is
    /// empty). They count against the connection's write bound until [`Host::written`].
    pub fn take_output(&mut self, conn: ConnId, into: &mut Vec<u8>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.out.take(into);
            c.write_announced = false;
        }
    }

    /// Everything taken from `conn` with [`Host::take_output`] is written.
    pub fn written(&mut self, conn: ConnId) {
        let now = self.clock.now();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.out.written();
            c.last_activity = now;
        }
        self.after_write(conn);
    }

    /// Whether `conn` is still open (the host has not forgotten it).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// A datagram arrived on the UDP push socket (a push acknowledgement).
    pub fn datagram(&mut self, from: SocketAddr, data: &[u8]) {
        let now = self.clock.now();
        self.feed(Input::Datagram { now, from, data });
    }

    /// Every byte of `conn` is out: close it if that was all it was waiting for.
    fn after_write(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !c.out.is_empty() {
            return;
        }
        if let ConnKind::Http(h) = &c.kind {
            if h.close_after_flush || (h.peer_closed && h.is_idle()) {
                self.work.push_back(Work::Close(conn, "response written"));
            }
        }
    }

    /// Gives the node one input. Its outputs are drained by the next [`Host::poll_action`], so
    /// inputs that arrive together are drained, and synced, as one batch.
    pub(crate) fn feed(&mut self, input: Input<'_>) -> bool {
        let result = self.node.handle_input(input);
        self.undrained = true;
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "input rejected by the node");
                false
            }
        }
    }

    /// Queues bytes on a connection; a connection whose unwritten bytes pass the bound is a
    /// slow reader and is closed.
    pub(crate) fn send(&mut self, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.out.push(data);
        self.announce_write(conn);
    }

    /// Tells the runtime that `conn` has bytes to write (once until they are taken), and
    /// closes a client connection whose unwritten bytes passed the bound: a slow reader must
    /// not make the member hold unbounded memory.
    pub(crate) fn announce_write(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.out.len() > self.config.client_write_buffer && !matches!(c.kind, ConnKind::PeerOut(_))
        {
            c.out.clear();
            if let ConnKind::Http(h) = &mut c.kind {
                // no further pipelined request is answered
                h.close_after_flush = true;
                h.inbuf.clear();
            }
            self.stats.slow_readers_closed += 1;
            tracing::warn!(conn = conn.0, peer = %c.peer_addr, "slow reader: write buffer over its bound");
            self.schedule_close(conn, "slow reader");
            return;
        }
        if !c.write_announced && !c.out.pending().is_empty() {
            c.write_announced = true;
            self.actions.push_back(Action::Write(conn));
        }
    }

    /// Schedules a close after the current drain; nothing more read from `conn` is processed.
    pub(crate) fn schedule_close(&mut self, conn: ConnId, why: &'static str) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closing = true;
        }
        self.work.push_back(Work::Close(conn, why));
    }

    /// Closes a connection: the runtime closes the socket, the node hears of it if it knew it.
    pub(crate) fn close(&mut self, conn: ConnId, why: &'static str) {
        if let Some(i) = self.links.by_conn(conn) {
            self.link_down(i, why);
            return;
        }
        if self.forget(conn, why) {
            self.actions.push_back(Action::Close(conn));
        }
    }

    /// Drops the connection's state and tells the node; whether it was open.
    fn forget(&mut self, conn: ConnId, why: &'static str) -> bool {
        let Some(c) = self.conns.remove(&conn) else {
            return false;
        };
        tracing::debug!(conn = conn.0, kind = c.kind.name(), peer = %c.peer_addr, why, "closed");
        if !matches!(c.kind, ConnKind::PeerIn(_) | ConnKind::PeerOut(_)) {
            self.clients -= 1;
        }
        if c.kind.known_to_node() {
            let now = self.clock.now();
            self.feed(Input::ConnectionClosed { now, conn });
        }
        true
    }

    fn log_reject_limited(&mut self, peer: SocketAddr) {
        let now = self.clock.now();
        if self
            .last_reject_log
            .is_none_or(|t| now.since(t) >= Duration::from_secs(1))
        {
            self.last_reject_log = Some(now);
            tracing::warn!(%peer, max = self.config.max_connections, rejected = self.stats.connections_rejected,
                "connection limit reached; closing new connections");
        }
    }

    /// How often connection deadlines are checked: often enough for the shortest of them.
    fn sweep_interval(&self) -> Duration {
        let shortest = self.config.request_timeout.min(self.config.idle_timeout) / 2;
        shortest.clamp(Duration::from_millis(10), SWEEP_INTERVAL)
    }

    /// Closes HTTP connections whose request stalled or that idled too long, and incoming
    /// peer links that went silent.
    fn sweep(&mut self, now: Timestamp) {
        let request_timeout = self.config.request_timeout;
        let idle_timeout = self.config.idle_timeout;
        // The node answers every request (forwards time out); this only guards the host
        // against a request it never hears back about.
        let reply_timeout = self.config.node.timings.forward_timeout * 4 + request_timeout;
        // Members ping over their links every few seconds; a silent incoming link is dead
        // or not a member.
        let peer_silence = idle_timeout.max(self.config.node.timings.member_ping_interval * 4);
        for (id, conn) in &self.conns {
            let h = match &conn.kind {
                ConnKind::Http(h) => h,
                ConnKind::PeerIn(_) if now.since(conn.last_activity) > peer_silence => {
                    self.work.push_back(Work::Close(*id, "silent peer link"));
                    continue;
                }
                _ => continue,
            };
            let why = match h.inflight {
                Some(f) if now.since(f.since) > reply_timeout => "no reply from the node",
                Some(_) => continue,
                None if h
                    .request_started
                    .is_some_and(|t| now.since(t) > request_timeout) =>
                {
                    "request stalled"
                }
                None if now.since(conn.last_activity) > idle_timeout => "idle",
                None => continue,
            };
            self.stats.http_timeouts += 1;
            self.work.push_back(Work::Close(*id, why));
        }
    }
}
