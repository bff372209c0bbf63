//! The event loop: one `mio::Poll`, one [`Host`], every socket of the member.

use distro_core::ConnId;
use distro_host::{Action, Host, Listener, ServerConfig};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

const HTTP_LISTENER: Token = Token(0);
const NATIVE_LISTENER: Token = Token(1);
const PEER_LISTENER: Token = Token(2);
const UDP: Token = Token(3);
const SIGNALS: Token = Token(4);
/// Reads from one connection per turn of the loop before the others get theirs.
const READ_BUDGET: usize = 16;
/// Read buffer size.
const SCRATCH: usize = 64 << 10;

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

/// A socket of a connection the host knows.
struct Socket {
    stream: TcpStream,
    /// `WRITABLE` interest is registered (only while bytes wait, or while connecting).
    writable: bool,
    /// An outgoing link whose connect has not finished.
    connecting: bool,
}

/// A member: the host plus its listeners and sockets.
pub struct Server {
    poll: Poll,
    host: Host,
    http_listener: TcpListener,
    native_listener: TcpListener,
    peer_listener: TcpListener,
    udp: UdpSocket,
    signals: Signals,
    sockets: HashMap<ConnId, Socket>,
    scratch: Vec<u8>,
    /// Connections that used up their read budget with data left; read again next turn.
    pending_reads: Vec<ConnId>,
    stop: bool,
}

fn token(conn: ConnId) -> Token {
    Token(conn.0 as usize)
}

fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr).map_err(|source| RunError::Bind { what, addr, source })
}

impl Server {
    /// Binds every socket and builds the host. Nothing is served until [`Server::run`].
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
        Ok(Server {
            poll,
            host: Host::new(config),
            http_listener,
            native_listener,
            peer_listener,
            udp,
            signals,
            sockets: HashMap::new(),
            scratch: vec![0; SCRATCH],
            pending_reads: Vec::new(),
            stop: false,
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

    /// The host (its node, configuration and counters).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Serves until SIGINT or SIGTERM.
    pub fn run(&mut self) -> Result<(), RunError> {
        let mut events = Events::with_capacity(1024);
        while !self.stop {
            let now = self.host.clock().now();
            if now >= self.host.next_deadline() {
                self.host.handle_timeout();
            }
            self.pump();
            let deadline = self.host.next_deadline();
            let timeout = if self.pending_reads.is_empty() {
                // A little late rather than early, so the deadline has passed on waking.
                let now = self.host.clock().now();
                self.host.clock().until(deadline).map(|d| {
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
            for conn in std::mem::take(&mut self.pending_reads) {
                self.read(conn);
            }
            self.pump();
        }
        tracing::info!(stats = ?self.host.stats(), "shutting down");
        Ok(())
    }

    fn dispatch(&mut self, event: &mio::event::Event) {
        match event.token() {
            HTTP_LISTENER => self.accept(Listener::Http),
            NATIVE_LISTENER => self.accept(Listener::Native),
            PEER_LISTENER => self.accept(Listener::Peer),
            UDP => self.read_udp(),
            SIGNALS => {
                for signal in self.signals.pending() {
                    tracing::info!(signal, "signal received");
                    self.stop = true;
                }
            }
            Token(t) => {
                let conn = ConnId(t as u64);
                if self.sockets.get(&conn).is_some_and(|s| s.connecting) {
                    self.connect_done(conn, event.is_error());
                    return;
                }
                if event.is_writable() {
                    self.flush(conn);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(conn);
                }
            }
        }
    }

    /// Does what the host asks until it asks nothing more.
    fn pump(&mut self) {
        while let Some(action) = self.host.poll_action() {
            match action {
                Action::Write(conn) => self.flush(conn),
                Action::Read(conn) => self.read(conn),
                Action::Close(conn) => self.drop_socket(conn),
                Action::Connect { conn, addr, .. } => self.connect(conn, addr),
                Action::SendTo { addr, data } => {
                    if let Err(e) = self.udp.send_to(&data, addr) {
                        // UDP is best effort; the node resends unacknowledged pushes
                        tracing::debug!(%addr, error = %e, "udp push not sent");
                    }
                }
            }
        }
    }

    fn accept(&mut self, listener: Listener) {
        loop {
            let accepted = match listener {
                Listener::Http => self.http_listener.accept(),
                Listener::Native => self.native_listener.accept(),
                Listener::Peer | Listener::Sibling => self.peer_listener.accept(),
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
            let Some(conn) = self.host.accept(listener, peer_addr) else {
                continue;
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, token(conn), Interest::READABLE)
            {
                tracing::warn!(error = %e, "cannot register a connection");
                self.host.failed(conn);
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.sockets.insert(
                conn,
                Socket {
                    stream,
                    writable: false,
                    connecting: false,
                },
            );
            // Data may have arrived with the connection; edge-triggered readiness will not
            // report it again.
            self.read(conn);
            self.pump();
        }
    }

    /// Reads while the host wants it, up to the read budget, so that a fast sender does not
    /// starve the others.
    fn read(&mut self, conn: ConnId) {
        for _ in 0..READ_BUDGET {
            if !self.host.wants_read(conn) {
                return;
            }
            let Some(socket) = self.sockets.get_mut(&conn) else {
                return;
            };
            match socket.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.host.read_closed(conn);
                    return;
                }
                Ok(n) => self.host.received(conn, &self.scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_socket(conn);
                    self.host.failed(conn);
                    return;
                }
            }
        }
        self.pending_reads.push(conn);
    }

    /// Writes what the host queued for `conn` until the socket would block; keeps `WRITABLE`
    /// interest exactly while bytes remain.
    fn flush(&mut self, conn: ConnId) {
        let Some(socket) = self.sockets.get_mut(&conn) else {
            return;
        };
        if socket.connecting {
            return;
        }
        let mut blocked = false;
        loop {
            let out = self.host.output(conn);
            if out.is_empty() {
                break;
            }
            match socket.stream.write(out) {
                Ok(0) => {
                    self.drop_socket(conn);
                    self.host.failed(conn);
                    return;
                }
                Ok(n) => self.host.consume(conn, n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    blocked = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_socket(conn);
                    self.host.failed(conn);
                    return;
                }
            }
        }
        if blocked != socket.writable {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut socket.stream, token(conn), interest)
                .is_err()
            {
                self.drop_socket(conn);
                self.host.failed(conn);
                return;
            }
            socket.writable = blocked;
        }
    }

    /// Starts a non-blocking connect of an outgoing peer link.
    fn connect(&mut self, conn: ConnId, addr: SocketAddr) {
        let started = TcpStream::connect(addr).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, token(conn), interest)
                .map(|()| stream)
        });
        match started {
            Ok(stream) => {
                let socket = Socket {
                    stream,
                    writable: true,
                    connecting: true,
                };
                self.sockets.insert(conn, socket);
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "peer connect failed");
                self.host.failed(conn);
            }
        }
    }

    /// Readiness on a connecting link: it connected or it failed.
    fn connect_done(&mut self, conn: ConnId, error_event: bool) {
        let Some(socket) = self.sockets.get_mut(&conn) else {
            return;
        };
        let failed = match socket.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match socket.stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == ErrorKind::NotConnected && !error_event => return,
                Err(e) => Some(e),
            },
        };
        let registered = failed.is_none()
            && self
                .poll
                .registry()
                .reregister(&mut socket.stream, token(conn), Interest::READABLE)
                .is_ok();
        if !registered {
            tracing::debug!(conn = conn.0, error = ?failed, "peer connect failed");
            self.drop_socket(conn);
            self.host.failed(conn);
            return;
        }
        let _ = socket.stream.set_nodelay(true);
        socket.connecting = false;
        socket.writable = false;
        self.host.link_connected(conn);
    }

    fn drop_socket(&mut self, conn: ConnId) {
        if let Some(mut socket) = self.sockets.remove(&conn) {
            let _ = self.poll.registry().deregister(&mut socket.stream);
        }
    }

    fn read_udp(&mut self) {
        loop {
            match self.udp.recv_from(&mut self.scratch) {
                Ok((n, from)) => self.host.datagram(from, &self.scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors from earlier sends surface here; they are not fatal
                    tracing::debug!(error = %e, "udp receive failed");
                }
            }
        }
    }
}

/// Binds, prints the ready line, and serves until SIGINT or SIGTERM.
pub fn run(config: ServerConfig) -> Result<(), RunError> {
    let mut server = Server::bind(config)?;
    let addrs = server.local_addrs()?;
    tracing::info!(%addrs, members = server.host.config().node.members.len(), "listening");
    // One write, so a reader never sees half of the line (stderr is unbuffered).
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("distrod listening {addrs}\n").as_bytes(),
    );
    server.run()
}
