//! The event loop: one `mio::Poll`, one [`Node`], every socket of the member.

use crate::buffer::Flushed;
use crate::clock::Clock;
use crate::conn::{Conn, ConnKind, HttpConn};
use crate::links::PeerLinks;
use distro_cli::ServerConfig;
use distro_core::http::ApiOptions;
use distro_core::wire::FrameDecoder;
use distro_core::{ConnId, Input, Limits, Node, ServiceView, Timestamp};
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const HTTP_LISTENER: Token = Token(0);
pub(crate) const NATIVE_LISTENER: Token = Token(1);
pub(crate) const PEER_LISTENER: Token = Token(2);
pub(crate) const UDP: Token = Token(3);
pub(crate) const SIGNALS: Token = Token(4);
/// Tokens from here on name connections; their numbers are the node's [`ConnId`]s and are
/// never reused, so a late reply can never reach a newer connection.
const FIRST_CONN: usize = 16;
/// Longest interval between checks of HTTP connections for stalled requests and idleness.
const SWEEP_INTERVAL: Duration = Duration::from_millis(500);
/// Read buffer size.
const SCRATCH: usize = 64 << 10;

/// Counters of what the runtime itself rejected or dropped (the node counts the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Connections accepted and closed at once because `max_connections` was reached.
    pub connections_rejected: u64,
    /// HTTP requests that did not parse or map to a request.
    pub http_rejected: u64,
    /// HTTP connections closed for a stalled request or idleness.
    pub http_timeouts: u64,
    /// Native or peer connections closed for an invalid frame.
    pub frames_rejected: u64,
    /// Client connections closed because their write buffer passed its bound.
    pub slow_readers_closed: u64,
    /// Peer links dropped because their write buffer passed its bound.
    pub peer_links_overflowed: u64,
}

impl RuntimeStats {
    /// Appends these counters in Prometheus text format, each prefixed `distro_runtime_`.
    pub fn append_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        let counters = [
            ("connections_rejected", self.connections_rejected),
            ("http_rejected", self.http_rejected),
            ("http_timeouts", self.http_timeouts),
            ("frames_rejected", self.frames_rejected),
            ("slow_readers_closed", self.slow_readers_closed),
            ("peer_links_overflowed", self.peer_links_overflowed),
        ];
        for (name, value) in counters {
            let _ = writeln!(
                out,
                "# TYPE distro_runtime_{name}_total counter\ndistro_runtime_{name}_total {value}"
            );
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug)]
pub enum RunError {
    /// A listener or socket could not be bound.
    Bind {
        /// Which socket.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Polling or signal registration failed.
    Io(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Bind { what, addr, source } => {
                write!(f, "cannot bind the {what} address {addr}: {source}")
            }
            RunError::Io(e) => write!(f, "event loop failed: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<io::Error> for RunError {
    fn from(e: io::Error) -> Self {
        RunError::Io(e)
    }
}

/// Work found while draining the node, done after the drain (it may feed the node again).
#[derive(Debug)]
pub(crate) enum Work {
    /// Close this connection.
    Close(Token, &'static str),
    /// Parse the next buffered HTTP request of this connection (its previous one was answered).
    Resume(Token),
    /// The outgoing link to this peer broke.
    LinkDown(usize, &'static str),
}

/// A member: the node plus its listeners, connections and peer links.
pub struct Server {
    pub(crate) poll: Poll,
    pub(crate) node: Node,
    pub(crate) clock: Clock,
    pub(crate) config: ServerConfig,
    pub(crate) limits: Limits,
    pub(crate) api: ApiOptions,
    http_listener: TcpListener,
    native_listener: TcpListener,
    peer_listener: TcpListener,
    pub(crate) udp: UdpSocket,
    signals: Signals,
    pub(crate) conns: HashMap<Token, Conn>,
    pub(crate) links: PeerLinks,
    next_token: usize,
    pub(crate) next_request: u64,
    pub(crate) scratch: Vec<u8>,
    pub(crate) work: VecDeque<Work>,
    /// Connections that used up their read budget with data left; read again next turn.
    pub(crate) pending_reads: Vec<Token>,
    /// The deadline of the node's last `Output::Timeout`.
    pub(crate) core_deadline: Timestamp,
    next_sweep: Timestamp,
    pub(crate) stats: RuntimeStats,
    /// The last native push frame, reused for every subscriber of the same view.
    pub(crate) push_cache: Option<(Arc<ServiceView>, bytes::Bytes)>,
    last_reject_log: Option<Timestamp>,
    stop: bool,
    /// The node was fed since its last drain.
    undrained: bool,
    /// Rendered list bodies, reused while the node answers with the same view.
    pub(crate) render_cache: distro_core::http::RenderCache,
}

/// The addresses a server actually bound.
#[derive(Clone, Copy, Debug)]
pub struct BoundAddrs {
    /// HTTP listener.
    pub http: SocketAddr,
    /// Native client listener.
    pub native: SocketAddr,
    /// Peer listener.
    pub peer: SocketAddr,
    /// UDP push socket.
    pub udp: SocketAddr,
}

impl fmt::Display for BoundAddrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http={} native={} peer={} udp={}",
            self.http, self.native, self.peer, self.udp
        )
    }
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).map_err(|source| RunError::Bind { what, addr, source })
}

impl Server {
    /// Binds every socket and builds the node. Nothing is served until [`Server::run`].
    pub fn bind(config: ServerConfig) -> Result<Server, RunError> {
        let poll = Poll::new()?;
        let mut http_listener = bind("HTTP", config.http)?;
        let mut native_listener = bind("native", config.native)?;
        let mut peer_listener = bind("peer", config.peer)?;
        let udp_addr = SocketAddr::new(config.http.ip(), 0);
        let mut udp = UdpSocket::bind(udp_addr).map_err(|source| RunError::Bind {
            what: "UDP push",
            addr: udp_addr,
            source,
        })?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let registry = poll.registry();
        registry.register(&mut http_listener, HTTP_LISTENER, Interest::READABLE)?;
        registry.register(&mut native_listener, NATIVE_LISTENER, Interest::READABLE)?;
        registry.register(&mut peer_listener, PEER_LISTENER, Interest::READABLE)?;
        registry.register(&mut udp, UDP, Interest::READABLE)?;
        registry.register(&mut signals, SIGNALS, Interest::READABLE)?;

        let clock = Clock::new();
        let node = Node::new(config.node.clone(), clock.now());
        let links = PeerLinks::new(&config.peers, config.peer_write_buffer);
        Ok(Server {
            poll,
            node,
            clock,
            limits: config.node.limits.clone(),
            api: ApiOptions {
                push_to_client_ip: config.push_to_client_ip,
            },
            config,
            http_listener,
            native_listener,
            peer_listener,
            udp,
            signals,
            conns: HashMap::new(),
            links,
            next_token: FIRST_CONN,
            next_request: 0,
            scratch: vec![0; SCRATCH],
            work: VecDeque::new(),
            pending_reads: Vec::new(),
            core_deadline: Timestamp::ZERO,
            next_sweep: Timestamp::ZERO,
            stats: RuntimeStats::default(),
            push_cache: None,
            last_reject_log: None,
            stop: false,
            undrained: false,
            render_cache: Default::default(),
        })
    }

    /// The addresses bound (useful when a port was 0).
    pub fn local_addrs(&self) -> io::Result<BoundAddrs> {
        Ok(BoundAddrs {
            http: self.http_listener.local_addr()?,
            native: self.native_listener.local_addr()?,
            peer: self.peer_listener.local_addr()?,
            udp: self.udp.local_addr()?,
        })
    }

    /// What the runtime rejected so far.
    pub fn runtime_stats(&self) -> &RuntimeStats {
        &self.stats
    }

    /// Serves until SIGINT or SIGTERM.
    pub fn run(&mut self) -> Result<(), RunError> {
        let mut events = Events::with_capacity(1024);
        // The node's first drain: it may want to connect, or set its first timers.
        self.drain();
        self.links
            .connect_due(&self.poll, self.clock.now(), &mut self.next_token);
        self.settle();
        while !self.stop {
            let now = self.clock.now();
            let deadline = self
                .core_deadline
                .min(self.next_sweep)
                .min(self.links.next_deadline());
            let timeout = if self.pending_reads.is_empty() {
                // A little late rather than early, so the deadline has passed on waking.
                self.clock.until(deadline).map(|d| {
                    if deadline > now {
                        d + Duration::from_micros(50)
                    } else {
                        d
                    }
                })
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            for event in events.iter() {
                self.dispatch(event);
            }
            for token in std::mem::take(&mut self.pending_reads) {
                self.read(token);
            }
            self.settle();
            let now = self.clock.now();
            if now >= self.core_deadline {
                self.feed(Input::Timeout(now));
            }
            if now >= self.next_sweep {
                self.sweep(now);
                self.next_sweep = now.plus(self.sweep_interval());
            }
            self.links
                .connect_due(&self.poll, now, &mut self.next_token);
            self.settle();
        }
        tracing::info!(stats = ?self.stats, "shutting down");
        Ok(())
    }

    fn dispatch(&mut self, event: &mio::event::Event) {
        match event.token() {
            HTTP_LISTENER => self.accept(HTTP_LISTENER),
            NATIVE_LISTENER => self.accept(NATIVE_LISTENER),
            PEER_LISTENER => self.accept(PEER_LISTENER),
            UDP => self.read_udp(),
            SIGNALS => {
                for signal in self.signals.pending() {
                    tracing::info!(signal, "signal received");
                    self.stop = true;
                }
            }
            token => {
                if let Some(i) = self.links.by_token(token) {
                    self.link_event(i, event);
                    return;
                }
                if event.is_writable() {
                    self.flush(token);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(token);
                }
            }
        }
    }

    /// Gives the node one input. Its outputs are drained by the next [`Server::settle`], so
    /// inputs that arrive together (one poll's events) are drained, and synced, as one batch.
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

    /// Drains the node and does the work queued while draining, until neither is left.
    pub(crate) fn settle(&mut self) {
        loop {
            if self.undrained {
                self.undrained = false;
                self.drain();
            }
            match self.work.pop_front() {
                Some(Work::Close(token, why)) => self.close(token, why),
                Some(Work::Resume(token)) => self.http_resume(token),
                Some(Work::LinkDown(i, why)) => self.link_down(i, why),
                None if self.undrained => {}
                None => return,
            }
        }
    }

    fn accept(&mut self, listener: Token) {
        loop {
            let accepted = match listener {
                HTTP_LISTENER => self.http_listener.accept(),
                NATIVE_LISTENER => self.native_listener.accept(),
                _ => self.peer_listener.accept(),
            };
            let (mut stream, peer_addr) = match accepted {
                Ok(a) => a,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. EMFILE: leave the rest in the backlog until a descriptor frees up
                    tracing::warn!(error = %e, "accept failed");
                    return;
                }
            };
            if self.conns.len() >= self.config.max_connections {
                self.stats.connections_rejected += 1;
                self.log_reject_limited(peer_addr);
                drop(stream);
                continue;
            }
            let token = Token(self.next_token);
            self.next_token += 1;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
            {
                tracing::warn!(error = %e, "cannot register a connection");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let now = self.clock.now();
            let kind = match listener {
                HTTP_LISTENER => ConnKind::Http(HttpConn::default()),
                NATIVE_LISTENER => ConnKind::Native(FrameDecoder::new(self.limits.max_frame_len)),
                _ => ConnKind::PeerIn(FrameDecoder::new(self.limits.max_frame_len)),
            };
            tracing::debug!(conn = token.0, kind = kind.name(), %peer_addr, "accepted");
            if matches!(kind, ConnKind::PeerIn(_)) {
                // A member connected: links down to it (it may have restarted) reconnect now,
                // so that the answers to its first requests are held for it, not dropped.
                self.links.retry_now(now);
                self.links
                    .connect_due(&self.poll, now, &mut self.next_token);
            }
            let native = matches!(kind, ConnKind::Native(_));
            let out = Default::default();
            self.conns.insert(
                token,
                Conn {
                    stream,
                    peer_addr,
                    out,
                    writable: false,
                    last_activity: now,
                    kind,
                },
            );
            if native {
                self.feed(Input::ConnectionOpened {
                    now,
                    conn: ConnId(token.0 as u64),
                });
            }
            // Data may have arrived with the connection; edge-triggered readiness will not
            // report it again.
            self.read(token);
            self.settle();
        }
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

    fn read(&mut self, token: Token) {
        match self.conns.get(&token).map(|c| &c.kind) {
            Some(ConnKind::Http(_)) => self.http_read(token),
            Some(_) => self.frames_read(token),
            None => {}
        }
    }

    /// Writes what is queued for a connection; keeps `WRITABLE` interest only while bytes
    /// remain.
    pub(crate) fn flush(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let registry = self.poll.registry();
        let result =
            conn.out
                .flush_registered(&mut conn.stream, registry, token, &mut conn.writable);
        let Ok((flushed, written)) = result else {
            self.work.push_back(Work::Close(token, "write failed"));
            return;
        };
        if written > 0 {
            conn.last_activity = self.clock.now();
        }
        if flushed == Flushed::All {
            if let ConnKind::Http(h) = &conn.kind {
                if h.close_after_flush || (h.peer_closed && h.is_idle()) {
                    self.work.push_back(Work::Close(token, "response written"));
                }
            }
        }
    }

    /// Queues bytes on a client connection and writes what the socket takes; a connection
    /// whose unwritten bytes pass the bound is a slow reader and is closed.
    pub(crate) fn send(&mut self, token: Token, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        conn.out.push(data);
        self.flush(token);
        self.bound_backlog(token);
    }

    /// Closes a client connection whose unwritten bytes passed the bound after a write
    /// attempt: a slow reader (native or HTTP) must not make the member hold unbounded memory.
    pub(crate) fn bound_backlog(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.out.len() > self.config.client_write_buffer {
            conn.out.clear();
            if let ConnKind::Http(h) = &mut conn.kind {
                // no further pipelined request is answered
                h.close_after_flush = true;
                h.inbuf.clear();
            }
            self.stats.slow_readers_closed += 1;
            tracing::warn!(conn = token.0, peer = %conn.peer_addr, "slow reader: write buffer over its bound");
            self.work.push_back(Work::Close(token, "slow reader"));
        }
    }

    /// Closes an accepted connection and tells the node if it knew it.
    pub(crate) fn close(&mut self, token: Token, why: &'static str) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        tracing::debug!(conn = token.0, kind = conn.kind.name(), peer = %conn.peer_addr, why, "closed");
        if conn.kind.known_to_node() {
            let now = self.clock.now();
            self.feed(Input::ConnectionClosed {
                now,
                conn: ConnId(token.0 as u64),
            });
        }
    }

    fn read_udp(&mut self) {
        loop {
            match self.udp.recv_from(&mut self.scratch) {
                Ok((n, from)) => {
                    // lend the buffer to the input; `feed` never reads sockets
                    let data = std::mem::take(&mut self.scratch);
                    let now = self.clock.now();
                    self.feed(Input::Datagram {
                        now,
                        from,
                        data: &data[..n],
                    });
                    self.scratch = data;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors from earlier sends surface here; they are not fatal
                    tracing::debug!(error = %e, "udp receive failed");
                }
            }
        }
    }

    /// How often HTTP deadlines are checked: often enough for the shortest of them.
    fn sweep_interval(&self) -> Duration {
        let shortest = self.config.request_timeout.min(self.config.idle_timeout) / 2;
        shortest.clamp(Duration::from_millis(10), SWEEP_INTERVAL)
    }

    /// Closes HTTP connections whose request stalled or that idled too long, and incoming
    /// peer links that went silent.
    fn sweep(&mut self, now: Timestamp) {
        let request_timeout = self.config.request_timeout;
        let idle_timeout = self.config.idle_timeout;
        // The node answers every request (forwards time out); this only guards the runtime
        // against a request it never hears back about.
        let reply_timeout = self.config.node.timings.forward_timeout * 4 + request_timeout;
        // Members ping over their links every few seconds; a silent incoming link is dead
        // or not a member.
        let peer_silence = idle_timeout.max(self.config.node.timings.member_ping_interval * 4);
        for (token, conn) in &self.conns {
            let h = match &conn.kind {
                ConnKind::Http(h) => h,
                ConnKind::PeerIn(_) if now.since(conn.last_activity) > peer_silence => {
                    self.work.push_back(Work::Close(*token, "silent peer link"));
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
            self.work.push_back(Work::Close(*token, why));
        }
    }
}

/// Binds, prints the ready line, and serves until SIGINT or SIGTERM.
pub fn run(config: ServerConfig) -> Result<(), RunError> {
    let mut server = Server::bind(config)?;
    let addrs = server.local_addrs()?;
    tracing::info!(%addrs, members = server.config.node.members.len(), "listening");
    // One write, so a reader never sees half of the line (stderr is unbuffered).
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("distrod listening {addrs}\n").as_bytes(),
    );
    server.run()
}
