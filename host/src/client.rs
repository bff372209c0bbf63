//! A blocking client of the native protocol.
//!
//! Requests are written by the calling thread; one reader thread per client reads replies and
//! pushes, answers probes, and after the connection breaks connects to the next address and
//! redoes every registration and subscription (the bookkeeping is
//! [`distro_core::client::ClientState`]).

use distro_core::client::{ClientState, Completion};
use distro_core::wire::{decode_payload, encode_frame, ClientMsg, FrameDecoder, ServerMsg};
use distro_core::{ApiError, Instance, Reply, Request, RequestId, ServiceKey, ServiceView};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a request waits for its reply by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Socket timeout of one connect attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the reader wakes to notice that the client was dropped.
const READ_TICK: Duration = Duration::from_millis(100);
/// Largest frame accepted from a server.
const MAX_FRAME: usize = 64 << 20;
/// Pushes kept for [`Client::recv_push`]; older ones are dropped first.
const MAX_QUEUED_PUSHES: usize = 10_000;

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// No server could be reached.
    Connect(io::Error),
    /// Not connected right now (registrations and subscriptions are still remembered and sent
    /// once the client reconnects).
    NotConnected,
    /// The connection broke before the reply came (redone after the reconnect if it was a
    /// registration or a subscription).
    Disconnected,
    /// No reply within the timeout.
    Timeout,
    /// The server answered with an error.
    Server(ApiError),
    /// The server answered with a reply of the wrong kind.
    Unexpected(Box<Reply>),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "cannot connect: {e}"),
            ClientError::NotConnected => f.write_str("not connected"),
            ClientError::Disconnected => f.write_str("connection lost before the reply"),
            ClientError::Timeout => f.write_str("no reply in time"),
            ClientError::Server(e) => write!(f, "server error {}: {}", e.status, e.message),
            ClientError::Unexpected(r) => write!(f, "unexpected reply {r:?}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// What the caller threads and the reader thread share.
struct Shared {
    addrs: Vec<SocketAddr>,
    inner: Mutex<Inner>,
    changed: Condvar,
}

struct Inner {
    state: ClientState,
    /// The write half of the current connection.
    writer: Option<TcpStream>,
    /// Requests whose caller still waits.
    waiting: HashSet<RequestId>,
    replies: HashMap<RequestId, Result<Reply, ClientError>>,
    pushes: VecDeque<ServiceView>,
    connected_to: Option<SocketAddr>,
    connections: u64,
    shutdown: bool,
}

impl Inner {
    /// Writes one message; a failed write shuts the socket so the reader reconnects.
    fn write(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let writer = self.writer.as_mut().ok_or(ClientError::NotConnected)?;
        if writer.write_all(&encode_frame(msg)).is_err() {
            let _ = writer.shutdown(Shutdown::Both);
            return Err(ClientError::Disconnected);
        }
        Ok(())
    }
}

/// A blocking native-protocol client. Cheap to share between threads by reference; dropping
/// it closes the connection (and so removes its instances).
pub struct Client {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl Client {
    /// Connects to the first reachable address of `addrs` (native protocol ports). After a
    /// break the client moves on to the next address, round robin.
    pub fn connect(addrs: &[SocketAddr]) -> Result<Client, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::Connect(io::Error::new(
                ErrorKind::InvalidInput,
                "no address",
            )));
        }
        let mut last = None;
        for (i, addr) in addrs.iter().enumerate() {
            match open(*addr) {
                Ok(stream) => return Client::start(addrs, i, stream),
                Err(e) => last = Some(e),
            }
        }
        Err(ClientError::Connect(last.expect("at least one address")))
    }

    fn start(addrs: &[SocketAddr], index: usize, stream: TcpStream) -> Result<Client, ClientError> {
        let writer = stream.try_clone().map_err(ClientError::Connect)?;
        let mut state = ClientState::new();
        state.on_connected();
        let shared = Arc::new(Shared {
            addrs: addrs.to_vec(),
            inner: Mutex::new(Inner {
                state,
                writer: Some(writer),
                waiting: HashSet::new(),
                replies: HashMap::new(),
                pushes: VecDeque::new(),
                connected_to: Some(addrs[index]),
                connections: 1,
                shutdown: false,
            }),
            changed: Condvar::new(),
        });
        let reader_shared = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("distro-client".into())
            .spawn(move || reader_loop(&reader_shared, stream, index))
            .map_err(ClientError::Connect)?;
        Ok(Client {
            shared,
            reader: Some(reader),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long calls wait for their reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Registers `instance` in `service` (replacing what this client published there).
    pub fn register(&self, service: &ServiceKey, instance: Instance) -> Result<(), ClientError> {
        expect_ok(self.call(|s| s.register(service.clone(), instance))?)
    }

    /// Registers several instances of `service` at once.
    pub fn batch_register(
        &self,
        service: &ServiceKey,
        instances: Vec<Instance>,
    ) -> Result<(), ClientError> {
        expect_ok(self.call(|s| s.batch_register(service.clone(), instances))?)
    }

    /// Deregisters the instance `ip:port` of `service`.
    pub fn deregister(&self, service: &ServiceKey, ip: &str, port: u16) -> Result<(), ClientError> {
        expect_ok(self.call(|s| s.deregister(service.clone(), ip, port))?)
    }

    /// Lists a service's instances (`clusters` comma separated, empty for all).
    pub fn list(
        &self,
        service: &ServiceKey,
        clusters: &str,
        healthy_only: bool,
    ) -> Result<ServiceView, ClientError> {
        let request = Request::List {
            service: service.clone(),
            clusters: clusters.to_string(),
            healthy_only,
            udp_subscriber: None,
        };
        expect_view(self.call(|s| s.request(request))?)
    }

    /// Subscribes to changes of a service; returns its current view. Later views arrive
    /// through [`Client::recv_push`].
    pub fn subscribe(
        &self,
        service: &ServiceKey,
        clusters: &str,
    ) -> Result<ServiceView, ClientError> {
        expect_view(self.call(|s| s.subscribe(service.clone(), clusters))?)
    }

    /// Cancels a subscription.
    pub fn unsubscribe(&self, service: &ServiceKey, clusters: &str) -> Result<(), ClientError> {
        expect_ok(self.call(|s| s.unsubscribe(service.clone(), clusters))?)
    }

    /// Round trip to the server.
    pub fn ping(&self) -> Result<(), ClientError> {
        match self.call(|s| s.request(Request::Ping))? {
            Reply::Pong => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Any request; the reply as it came (errors included).
    pub fn request(&self, request: Request) -> Result<Reply, ClientError> {
        self.call(|s| s.request(request))
    }

    /// The next pushed view of a subscribed service, waiting at most `timeout`. After a
    /// reconnect the views answering the redone subscriptions come this way too.
    pub fn recv_push(&self, timeout: Duration) -> Option<ServiceView> {
        self.shared
            .wait_for(Instant::now() + timeout, |inner| inner.pushes.pop_front())
    }

    /// The server address of the current connection, if connected.
    pub fn connected_to(&self) -> Option<SocketAddr> {
        self.lock().connected_to
    }

    /// Connections made so far (1 until the first reconnect).
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// Waits until the client is connected, at most `timeout`.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.shared
            .wait_for(deadline, |inner| inner.connected_to.map(|_| ()))
            .is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Sends the message built by `make` and waits for its reply.
    fn call(
        &self,
        make: impl FnOnce(&mut ClientState) -> (RequestId, ClientMsg),
    ) -> Result<Reply, ClientError> {
        let mut inner = self.lock();
        let (id, msg) = make(&mut inner.state);
        if inner.writer.is_none() {
            return Err(ClientError::NotConnected);
        }
        inner.waiting.insert(id);
        if let Err(e) = inner.write(&msg) {
            inner.waiting.remove(&id);
            return Err(e);
        }
        drop(inner);
        let deadline = Instant::now() + self.timeout;
        let reply = self
            .shared
            .wait_for(deadline, |inner| inner.replies.remove(&id));
        reply.unwrap_or_else(|| {
            self.lock().waiting.remove(&id);
            Err(ClientError::Timeout)
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        {
            let mut inner = self.lock();
            inner.shutdown = true;
            if let Some(w) = inner.writer.take() {
                let _ = w.shutdown(Shutdown::Both);
            }
        }
        self.shared.changed.notify_all();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not make every later call panic too.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` finds something, at most until `deadline`.
    fn wait_for<T>(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&mut Inner) -> Option<T>,
    ) -> Option<T> {
        let mut inner = self.lock();
        loop {
            if let Some(found) = ready(&mut inner) {
                return Some(found);
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())?;
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn unexpected(reply: Reply) -> ClientError {
    match reply {
        Reply::Error(e) => ClientError::Server(e),
        other => ClientError::Unexpected(Box::new(other)),
    }
}

fn expect_ok(reply: Reply) -> Result<(), ClientError> {
    match reply {
        Reply::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn expect_view(reply: Reply) -> Result<ServiceView, ClientError> {
    match reply {
        Reply::Service(view) => Ok(Arc::unwrap_or_clone(view)),
        other => Err(unexpected(other)),
    }
}

fn open(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(READ_TICK))?;
    stream.set_write_timeout(Some(DEFAULT_TIMEOUT))?;
    Ok(stream)
}

/// Reads from the current connection; reconnects and redoes after it breaks.
fn reader_loop(shared: &Shared, mut stream: TcpStream, mut index: usize) {
    loop {
        read_connection(shared, &mut stream);
        {
            let mut inner = shared.lock();
            for id in inner.state.on_disconnected() {
                if inner.waiting.remove(&id) {
                    inner.replies.insert(id, Err(ClientError::Disconnected));
                }
            }
            inner.writer = None;
            inner.connected_to = None;
            shared.changed.notify_all();
            if inner.shutdown {
                return;
            }
        }
        match reconnect(shared, index) {
            Some((s, i)) => {
                stream = s;
                index = i;
            }
            None => return,
        }
    }
}

/// Reads frames until the connection breaks or the client is dropped.
fn read_connection(shared: &Shared, stream: &mut TcpStream) {
    let mut decoder = FrameDecoder::new(MAX_FRAME);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => decoder.extend(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if shared.lock().shutdown {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        loop {
            let msg = match decoder.next_frame() {
                Ok(Some(frame)) => decode_payload::<ServerMsg>(&frame),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            let Ok(msg) = msg else {
                // A server we cannot understand: try another one.
                let _ = stream.shutdown(Shutdown::Both);
                return;
            };
            handle(shared, msg);
        }
    }
}

fn handle(shared: &Shared, msg: ServerMsg) {
    let mut inner = shared.lock();
    match msg {
        ServerMsg::Reply { id, reply } => match inner.state.on_reply(id, reply) {
            Completion::Caller(reply) => {
                if inner.waiting.remove(&id) {
                    inner.replies.insert(id, Ok(reply));
                }
            }
            Completion::RedoneView(view) => queue_push(&mut inner, view),
            Completion::Redone | Completion::Unknown => return,
        },
        ServerMsg::Push(view) => queue_push(&mut inner, view),
        ServerMsg::Probe => {
            let ack = inner.state.probe_ack();
            let _ = inner.write(&ack);
            return;
        }
    }
    shared.changed.notify_all();
}

fn queue_push(inner: &mut Inner, view: ServiceView) {
    if inner.pushes.len() >= MAX_QUEUED_PUSHES {
        inner.pushes.pop_front();
    }
    inner.pushes.push_back(view);
}

/// Connects to the addresses after `index`, round robin, with backoff; then redoes.
fn reconnect(shared: &Shared, index: usize) -> Option<(TcpStream, usize)> {
    let n = shared.addrs.len();
    let mut backoff = Duration::from_millis(100);
    let mut i = index;
    loop {
        for _ in 0..n {
            i = (i + 1) % n;
            if shared.lock().shutdown {
                return None;
            }
            let Ok(stream) = open(shared.addrs[i]) else {
                continue;
            };
            let Ok(writer) = stream.try_clone() else {
                continue;
            };
            let mut inner = shared.lock();
            inner.writer = Some(writer);
            inner.connected_to = Some(shared.addrs[i]);
            inner.connections += 1;
            let redo = inner.state.on_connected();
            for msg in &redo {
                if inner.write(msg).is_err() {
                    break; // the reader sees the broken socket and comes back here
                }
            }
            shared.changed.notify_all();
            return Some((stream, i));
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if shared.lock().shutdown {
                return None;
            }
            std::thread::sleep(READ_TICK.min(backoff));
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
