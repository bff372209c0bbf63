//! Nacos 2.x gRPC connections: HTTP/2 served by `h2`, driven by hand over in-memory buffers,
//! with the messages decoded and rendered by [`distro_core::grpc`].
//!
//! The `h2` server connection is a future over `AsyncRead + AsyncWrite`; here its I/O is a pair
//! of byte buffers, and it is polled with a no-op waker whenever bytes arrived or a response was
//! queued, until it makes no more progress. No executor is involved, so every runtime serves
//! gRPC with this code. The HTTP/2 connection is the client: the node knows it as a native
//! connection (opened when it was accepted), so its registrations are a connection client's,
//! removed when it closes; probes go out as `ClientDetectionRequest`s and pushes as
//! `NotifySubscriberRequest`s on the bi-stream.

use crate::conn::ConnKind;
use crate::host::Host;
use bytes::{Buf, Bytes, BytesMut};
use distro_core::grpc::{self, Answer, Message, Rejected};
use distro_core::{ConnId, Input, Limits, Reply, RequestId, ServiceView};
use h2::server::{Connection, Handshake, SendResponse};
use h2::{RecvStream, SendStream};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Streams one client may have open at once.
const MAX_STREAMS: u32 = 128;
/// The largest header list a client may send.
const MAX_HEADER_LIST: u32 = 16 << 10;
/// Flow-control window per stream and per connection: what a client may send before we read.
const WINDOW: u32 = 1 << 20;
/// Bytes `h2` may hold for one stream before sends wait for the client's window.
const SEND_BUFFER: usize = 1 << 20;
/// Pushes a client may leave unacknowledged before it counts as a slow reader and is closed
/// (`h2` would otherwise hold what its flow-control window does not let out).
const MAX_UNACKED_PUSHES: usize = 1024;
/// The gRPC method paths of the Nacos API.
const UNARY: &str = "/Request/request";
const BI_STREAM: &str = "/BiRequestStream/requestBiStream";

/// The bytes between the socket and `h2`.
#[derive(Default)]
struct Buffers {
    input: BytesMut,
    output: Vec<u8>,
    eof: bool,
}

/// `h2`'s I/O: reads what the runtime read, writes what the runtime will write.
#[derive(Clone, Default)]
struct Io(Arc<Mutex<Buffers>>);

impl Io {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut b = self.lock();
        if b.input.is_empty() {
            // end of stream reads nothing; otherwise wait for the next `received`
            return if b.eof {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let n = b.input.len().min(buf.remaining());
        buf.put_slice(&b.input[..n]);
        b.input.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.lock().output.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

enum H2 {
    Handshaking(Pin<Box<Handshake<Io, Bytes>>>),
    Ready(Box<Connection<Io, Bytes>>),
    Done,
}

/// A unary call being read.
struct Unary {
    recv: RecvStream,
    respond: Option<SendResponse<Bytes>>,
    buf: BytesMut,
}

/// The bi-stream: client responses in, server requests out.
struct Bi {
    recv: Option<RecvStream>,
    send: SendStream<Bytes>,
    buf: BytesMut,
}

/// Where the answer to a request goes.
enum Pending {
    Unary(SendResponse<Bytes>, Answer, String),
    Bi(Answer, String),
}

/// One client's HTTP/2 connection.
pub(crate) struct GrpcConn {
    io: Io,
    h2: H2,
    unary: Vec<Unary>,
    bi: Option<Bi>,
    pending: HashMap<RequestId, Pending>,
    next_server_request: u64,
    /// Server requests (pushes, probes) sent and not yet answered.
    unacked: usize,
    connection_id: String,
}

impl std::fmt::Debug for GrpcConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcConn")
            .field("connection_id", &self.connection_id)
            .field("streams", &self.unary.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// What reading the connection found, for the host to act on.
enum Event {
    /// A decoded message on a unary stream (with its responder) or on the bi-stream.
    Message(Message, Option<SendResponse<Bytes>>),
    /// A message that cannot be served.
    Rejected(Rejected, Option<SendResponse<Bytes>>),
}

impl GrpcConn {
    pub(crate) fn new(connection_id: String) -> Self {
        let io = Io::default();
        let handshake = h2::server::Builder::new()
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(MAX_HEADER_LIST)
            .initial_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .max_send_buffer_size(SEND_BUFFER)
            .handshake(io.clone());
        GrpcConn {
            io,
            h2: H2::Handshaking(Box::pin(handshake)),
            unary: Vec::new(),
            bi: None,
            pending: HashMap::new(),
            next_server_request: 0,
            unacked: 0,
            connection_id,
        }
    }

    /// Polls `h2` until it makes no more progress; returns what was read, or `Err` when the
    /// connection is over (a protocol error, or the client went away).
    fn poll(&mut self, limits: &Limits, events: &mut Vec<Event>) -> Result<(), String> {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            let mut progress = false;
            if let H2::Handshaking(h) = &mut self.h2 {
                match h.as_mut().poll(&mut cx) {
                    Poll::Ready(Ok(c)) => {
                        self.h2 = H2::Ready(Box::new(c));
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Err(format!("HTTP/2 handshake: {e}")),
                    Poll::Pending => return Ok(()),
                }
            }
            let H2::Ready(c) = &mut self.h2 else {
                return Err("connection closed".into());
            };
            loop {
                match c.poll_accept(&mut cx) {
                    Poll::Ready(Some(Ok((req, mut respond)))) => {
                        progress = true;
                        let path = req.uri().path().to_string();
                        let recv = req.into_body();
                        if path == UNARY {
                            self.unary.push(Unary {
                                recv,
                                respond: Some(respond),
                                buf: BytesMut::new(),
                            });
                        } else if path == BI_STREAM && self.bi.is_none() {
                            match respond.send_response(grpc_headers(), false) {
                                Ok(send) => {
                                    self.bi = Some(Bi {
                                        recv: Some(recv),
                                        send,
                                        buf: BytesMut::new(),
                                    })
                                }
                                Err(e) => return Err(format!("bi-stream: {e}")),
                            }
                        } else {
                            // UNIMPLEMENTED (a second bi-stream is refused the same way)
                            trailers_only(respond, "12", "unknown method");
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Err(format!("HTTP/2: {e}")),
                    Poll::Ready(None) => {
                        self.h2 = H2::Done;
                        return Err("client closed the connection".into());
                    }
                    Poll::Pending => break,
                }
            }
            let max = limits.max_frame_len;
            // What all of this connection's streams may hold, partial messages together: past
            // it nothing more is read, so flow control holds the client back.
            let budget = max.saturating_mul(2);
            let mut i = 0;
            while i < self.unary.len() {
                let held: usize = self.unary.iter().map(|u| u.buf.len()).sum::<usize>()
                    + self.bi.as_ref().map_or(0, |b| b.buf.len());
                let u = &mut self.unary[i];
                let (read, ended) = if held < budget {
                    read_stream(&mut u.recv, &mut u.buf, &mut cx, max)
                } else {
                    (false, false)
                };
                progress |= read;
                match next_message(&mut u.buf, max, limits) {
                    Some(decoded) => {
                        let respond = u.respond.take();
                        events.push(match decoded {
                            Ok(m) => Event::Message(m, respond),
                            Err(r) => Event::Rejected(r, respond),
                        });
                        self.unary.swap_remove(i);
                        progress = true;
                    }
                    None if ended => {
                        // the stream ended without a whole message
                        if let Some(r) = u.respond.take() {
                            trailers_only(r, "13", "incomplete message");
                        }
                        self.unary.swap_remove(i);
                    }
                    None => i += 1,
                }
            }
            if let Some(bi) = &mut self.bi {
                if let Some(recv) = &mut bi.recv {
                    let (read, ended) = read_stream(recv, &mut bi.buf, &mut cx, max);
                    progress |= read;
                    while let Some(decoded) = next_message(&mut bi.buf, max, limits) {
                        events.push(match decoded {
                            Ok(m) => Event::Message(m, None),
                            Err(r) => Event::Rejected(r, None),
                        });
                    }
                    if ended {
                        bi.recv = None;
                    }
                }
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// Sends `payload` as one message on the bi-stream (a server request, or an answer to a
    /// request that came on it).
    fn send_on_bi(&mut self, payload: Vec<u8>) -> bool {
        match &mut self.bi {
            Some(bi) => bi.send.send_data(framed(&payload), false).is_ok(),
            None => false,
        }
    }

    fn next_request_id(&mut self) -> String {
        self.next_server_request += 1;
        self.unacked += 1;
        format!("s{}", self.next_server_request)
    }
}

/// Reads what the stream has (releasing flow-control capacity as it goes); returns whether
/// anything was read and whether the stream ended. Stops reading past `max` + a prefix.
fn read_stream(
    recv: &mut RecvStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    max: usize,
) -> (bool, bool) {
    let mut read = false;
    loop {
        if buf.len() > max + 5 {
            return (read, false);
        }
        match recv.poll_data(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let _ = recv.flow_control().release_capacity(chunk.len());
                buf.extend_from_slice(&chunk);
                read = true;
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return (read, true),
            Poll::Pending => return (read, false),
        }
    }
}

/// Takes one length-prefixed gRPC message off `buf`, decoded, if it is complete.
fn next_message(
    buf: &mut BytesMut,
    max: usize,
    limits: &Limits,
) -> Option<Result<Message, Rejected>> {
    if buf.len() < 5 {
        return None;
    }
    let compressed = buf[0] != 0;
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > max {
        buf.clear();
        return Some(Err(rejected(format!(
            "message of {len} bytes is over the limit of {max}"
        ))));
    }
    if buf.len() < 5 + len {
        return None;
    }
    buf.advance(5);
    let body = buf.split_to(len);
    if compressed {
        return Some(Err(rejected(
            "compressed messages are not supported".into(),
        )));
    }
    Some(grpc::decode(&body, limits))
}

fn rejected(message: String) -> Rejected {
    Rejected {
        request_id: String::new(),
        code: grpc::BAD_REQUEST,
        message,
    }
}

/// `payload` with the 5-byte gRPC prefix.
fn framed(payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(0);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

fn grpc_headers() -> http::Response<()> {
    let mut r = http::Response::new(());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    r
}

/// Answers a unary call with one message and `grpc-status: 0`.
fn respond(mut respond: SendResponse<Bytes>, payload: &[u8]) {
    if let Ok(mut send) = respond.send_response(grpc_headers(), false) {
        let _ = send.send_data(framed(payload), false);
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let _ = send.send_trailers(trailers);
    }
}

/// Ends a call with a gRPC error status and no message.
fn trailers_only(mut respond: SendResponse<Bytes>, status: &'static str, message: &'static str) {
    let mut r = grpc_headers();
    r.headers_mut()
        .insert("grpc-status", http::HeaderValue::from_static(status));
    r.headers_mut()
        .insert("grpc-message", http::HeaderValue::from_static(message));
    let _ = respond.send_response(r, true);
}

impl Host {
    /// A client connection's first bytes are the HTTP/2 preface: it speaks gRPC.
    pub(crate) fn grpc_start(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let id = format!("{}_{}_{}", conn.0, c.peer_addr.ip(), c.peer_addr.port());
        c.kind = ConnKind::Grpc(Box::new(GrpcConn::new(id)));
    }

    /// Bytes read from a gRPC connection.
    pub(crate) fn grpc_received(&mut self, conn: ConnId, data: &[u8]) {
        if let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) {
            g.io.lock().input.extend_from_slice(data);
        }
        self.grpc_drive(conn);
    }

    /// The client shut its side of a gRPC connection.
    pub(crate) fn grpc_read_closed(&mut self, conn: ConnId) {
        if let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) {
            g.io.lock().eof = true;
        }
        self.grpc_drive(conn);
    }

    /// Polls the connection, acts on what it read, and hands what it wrote to the runtime.
    pub(crate) fn grpc_drive(&mut self, conn: ConnId) {
        let limits = self.limits.clone();
        loop {
            let mut events = Vec::new();
            let result = match self.conns.get_mut(&conn).map(|c| &mut c.kind) {
                Some(ConnKind::Grpc(g)) => g.poll(&limits, &mut events),
                _ => return,
            };
            self.grpc_flush(conn);
            let more = !events.is_empty();
            for e in events {
                self.grpc_event(conn, e);
            }
            if let Err(why) = result {
                if !why.starts_with("client closed") {
                    self.stats.grpc_protocol_errors += 1;
                    tracing::debug!(conn = conn.0, error = %why, "gRPC connection failed");
                }
                self.grpc_flush(conn);
                self.schedule_close(conn, "gRPC connection ended");
                return;
            }
            if !more {
                return;
            }
        }
    }

    /// Moves what `h2` wrote into the connection's output.
    fn grpc_flush(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Grpc(g) = &c.kind else { return };
        let out = std::mem::take(&mut g.io.lock().output);
        if !out.is_empty() {
            c.out.push(&out);
            self.announce_write(conn);
        }
    }

    fn grpc_event(&mut self, conn: ConnId, event: Event) {
        let now = self.clock.now();
        let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        match event {
            Event::Rejected(r, responder) => {
                self.stats.grpc_rejected += 1;
                tracing::debug!(conn = conn.0, code = r.code, message = %r.message, "gRPC message rejected");
                let payload = grpc::error_response(&r);
                match responder {
                    Some(s) => respond(s, &payload),
                    None => {
                        g.send_on_bi(payload);
                    }
                }
            }
            Event::Message(Message::ServerCheck { request_id }, responder) => {
                let payload = grpc::server_check_response(&request_id, &g.connection_id);
                match responder {
                    Some(s) => respond(s, &payload),
                    None => {
                        g.send_on_bi(payload);
                    }
                }
            }
            Event::Message(Message::Setup { client_version }, _) => {
                tracing::debug!(conn = conn.0, %client_version, "gRPC connection set up");
            }
            Event::Message(Message::ProbeAnswered, _) => {
                g.unacked = g.unacked.saturating_sub(1);
                self.feed(Input::ProbeAnswered { now, conn });
            }
            Event::Message(Message::Acknowledged, _) => {
                g.unacked = g.unacked.saturating_sub(1);
            }
            Event::Message(
                Message::Request {
                    request_id,
                    request,
                    answer,
                    headers,
                },
                responder,
            ) => {
                let users = &self.config.users;
                let token = headers.get("accessToken").map(String::as_str).unwrap_or("");
                if users.enabled()
                    && !matches!(*request, distro_core::Request::Ping)
                    && !users.check(token, self.clock.epoch_ms())
                {
                    self.stats.auth_refused += 1;
                    let payload = grpc::error_response(&Rejected {
                        request_id,
                        code: grpc::FORBIDDEN,
                        message: "authorization failed: no valid accessToken".into(),
                    });
                    match responder {
                        Some(s) => respond(s, &payload),
                        None => {
                            g.send_on_bi(payload);
                        }
                    }
                    return;
                }
                self.next_request += 1;
                let id = RequestId(self.next_request);
                let pending = match responder {
                    Some(s) => Pending::Unary(s, answer, request_id),
                    None => Pending::Bi(answer, request_id),
                };
                g.pending.insert(id, pending);
                let accepted = self.feed(Input::Request {
                    now,
                    conn,
                    id,
                    request: *request,
                });
                if !accepted {
                    let reply =
                        Reply::Error(distro_core::ApiError::internal("request not accepted"));
                    self.grpc_reply(conn, id, &reply);
                }
            }
        }
    }

    /// The node answered request `id` of gRPC connection `conn`.
    pub(crate) fn grpc_reply(&mut self, conn: ConnId, id: RequestId, reply: &Reply) {
        let epoch_ms = self.clock.epoch_ms();
        let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        match g.pending.remove(&id) {
            Some(Pending::Unary(s, answer, request_id)) => {
                respond(s, &grpc::response(&answer, &request_id, reply, epoch_ms));
            }
            Some(Pending::Bi(answer, request_id)) => {
                g.send_on_bi(grpc::response(&answer, &request_id, reply, epoch_ms));
            }
            None => return,
        }
        self.grpc_drive(conn);
    }

    /// A subscribed service changed: `NotifySubscriberRequest` on the bi-stream.
    pub(crate) fn grpc_push(&mut self, conn: ConnId, view: &ServiceView) {
        let epoch_ms = self.clock.epoch_ms();
        let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        if g.unacked >= MAX_UNACKED_PUSHES {
            self.stats.slow_readers_closed += 1;
            tracing::warn!(
                conn = conn.0,
                "gRPC subscriber does not acknowledge pushes; closing"
            );
            self.schedule_close(conn, "unacknowledged pushes");
            return;
        }
        let request_id = g.next_request_id();
        g.send_on_bi(grpc::push(view, &request_id, epoch_ms));
        self.grpc_drive(conn);
    }

    /// The node probes an idle connection: `ClientDetectionRequest` on the bi-stream.
    pub(crate) fn grpc_probe(&mut self, conn: ConnId) {
        let Some(ConnKind::Grpc(g)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        let request_id = g.next_request_id();
        g.send_on_bi(grpc::probe(&request_id));
        self.grpc_drive(conn);
    }
}
