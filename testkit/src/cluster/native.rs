//! A native-protocol client spoken directly with [`distro_core::wire`] over a std `TcpStream`,
//! so that the testkit depends on no runtime crate.

use distro_core::wire::{decode_payload, encode_frame, ClientMsg, FrameDecoder, ServerMsg};
use distro_core::{Instance, Reply, Request, RequestId, ServiceKey, ServiceView};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a request waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the server.
const MAX_FRAME: usize = 64 << 20;

/// One native connection. A reader thread collects replies and pushes and answers the server's
/// probes (unless made with [`NativeClient::connect_ignoring_probes`]). Dropping the client
/// closes the connection, which ends the client's registrations on the member.
pub struct NativeClient {
    writer: Arc<Mutex<TcpStream>>,
    replies: Receiver<(RequestId, Reply)>,
    pushes: Receiver<ServiceView>,
    closed: Arc<AtomicBool>,
    probes: Arc<AtomicU64>,
    reader: Option<JoinHandle<()>>,
    next_id: u64,
    addr: SocketAddr,
}

impl NativeClient {
    /// Connects to a member's native port; probes are answered.
    pub fn connect(addr: SocketAddr) -> NativeClient {
        Self::open(addr, true)
    }

    /// Connects, but never answers a probe (a client that hung).
    pub fn connect_ignoring_probes(addr: SocketAddr) -> NativeClient {
        Self::open(addr, false)
    }

    fn open(addr: SocketAddr, answer_probes: bool) -> NativeClient {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to native {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        let read_half = stream.try_clone().expect("clone a TcpStream");
        let writer = Arc::new(Mutex::new(stream));
        let (reply_tx, replies) = mpsc::channel();
        let (push_tx, pushes) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(AtomicU64::new(0));
        let reader = Reader {
            stream: read_half,
            writer: answer_probes.then(|| Arc::clone(&writer)),
            replies: reply_tx,
            pushes: push_tx,
            closed: Arc::clone(&closed),
            probes: Arc::clone(&probes),
        };
        let reader = std::thread::spawn(move || reader.run());
        NativeClient {
            writer,
            replies,
            pushes,
            closed,
            probes,
            reader: Some(reader),
            next_id: 0,
            addr,
        }
    }

    /// Sends `request` and waits for its reply; panics on a broken connection or no reply.
    pub fn request(&mut self, request: Request) -> Reply {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        let frame = encode_frame(&ClientMsg::Request { id, request });
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(&frame)
            .unwrap_or_else(|e| panic!("write to native {}: {e}", self.addr));
        loop {
            match self.replies.recv_timeout(REPLY_TIMEOUT) {
                Ok((got, reply)) if got == id => return reply,
                Ok(_) => continue,
                Err(e) => panic!("no reply to request {id:?} from {}: {e}", self.addr),
            }
        }
    }

    /// Registers `ip:port` in service `service` (default namespace and group); panics unless
    /// the member answers `Ok`.
    pub fn register(&mut self, service: &str, ip: &str, port: u16) {
        let request = Request::Register {
            service: ServiceKey::parse(None, None, service),
            instance: Instance::new(ip, port),
        };
        match self.request(request) {
            Reply::Ok => {}
            other => panic!("register {ip}:{port} in {service}: {other:?}"),
        }
    }

    /// Subscribes to `service` (default namespace and group, all clusters); returns the
    /// current view.
    pub fn subscribe(&mut self, service: &str) -> ServiceView {
        let request = Request::Subscribe {
            service: ServiceKey::parse(None, None, service),
            clusters: String::new(),
        };
        match self.request(request) {
            Reply::Service(view) => std::sync::Arc::unwrap_or_clone(view),
            other => panic!("subscribe to {service}: {other:?}"),
        }
    }

    /// The next pushed view, waiting at most `timeout`.
    pub fn recv_push(&self, timeout: Duration) -> Option<ServiceView> {
        self.pushes.recv_timeout(timeout).ok()
    }

    /// Writes raw bytes on the connection (junk, partial frames).
    pub fn send_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(bytes)
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Probes received from the server so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }
}

impl Drop for NativeClient {
    fn drop(&mut self) {
        let _ = self
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reading half of a [`NativeClient`].
struct Reader {
    stream: TcpStream,
    /// Where probe acks go; `None` ignores probes.
    writer: Option<Arc<Mutex<TcpStream>>>,
    replies: Sender<(RequestId, Reply)>,
    pushes: Sender<ServiceView>,
    closed: Arc<AtomicBool>,
    probes: Arc<AtomicU64>,
}

impl Reader {
    fn run(mut self) {
        let mut decoder = FrameDecoder::new(MAX_FRAME);
        let mut chunk = vec![0u8; 64 << 10];
        'read: loop {
            let n = match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            decoder.extend(&chunk[..n]);
            loop {
                let frame = match decoder.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(_) => break 'read,
                };
                let Ok(msg) = decode_payload::<ServerMsg>(&frame) else {
                    break 'read;
                };
                self.handle(msg);
            }
        }
        self.closed.store(true, Ordering::SeqCst);
    }

    fn handle(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Reply { id, reply } => {
                let _ = self.replies.send((id, reply));
            }
            ServerMsg::Push(view) => {
                let _ = self.pushes.send(view);
            }
            ServerMsg::Probe => {
                self.probes.fetch_add(1, Ordering::SeqCst);
                if let Some(w) = &self.writer {
                    let ack = encode_frame(&ClientMsg::ProbeAck);
                    let _ = w.lock().unwrap_or_else(|e| e.into_inner()).write_all(&ack);
                }
            }
        }
    }
}
