//! A Nacos 2.x gRPC client for scenarios: HTTP/2 by `h2` on a small tokio runtime of its
//! own, the messages built as JSON, the way the SDKs send them (server check, then the
//! bi-stream with its setup, then unary requests).

use bytes::{Buf, Bytes, BytesMut};
use distro_core::grpc::{Metadata, Payload};
use prost::Message as _;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a request waits for its answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One gRPC connection to a member's client port.
pub struct GrpcClient {
    rt: tokio::runtime::Runtime,
    send: h2::client::SendRequest<Bytes>,
    bi: Arc<Mutex<h2::SendStream<Bytes>>>,
    server_requests: Receiver<(String, Value)>,
    probes: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    next_id: u64,
    /// Sent as `accessToken` with every request, when set.
    pub token: Option<String>,
    /// The connection id the server check answered.
    pub connection_id: String,
}

/// `payload` framed as one gRPC message.
pub fn grpc_message(kind: &str, body: &Value) -> Bytes {
    grpc_message_with(kind, body, None)
}

/// [`grpc_message`] with an `accessToken` in the metadata headers.
pub fn grpc_message_with(kind: &str, body: &Value, token: Option<&str>) -> Bytes {
    let mut headers = std::collections::BTreeMap::new();
    if let Some(t) = token {
        headers.insert("accessToken".to_string(), t.to_string());
    }
    let p = Payload {
        metadata: Some(Metadata {
            r#type: kind.to_string(),
            client_ip: "127.0.0.1".into(),
            headers,
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: serde_json::to_vec(body).expect("json"),
        }),
    }
    .encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(&p);
    Bytes::from(out)
}

/// Takes the complete messages off `buf` as (type, body).
fn messages(buf: &mut BytesMut) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        buf.advance(5);
        let bytes = buf.split_to(len);
        let p = Payload::decode(&bytes[..]).expect("a Payload from the server");
        let body = p
            .body
            .map(|b| serde_json::from_slice(&b.value).expect("a JSON body"))
            .unwrap_or(Value::Null);
        out.push((p.metadata.map(|m| m.r#type).unwrap_or_default(), body));
    }
    out
}

fn request(path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

impl GrpcClient {
    /// Connects like an SDK: server check, bi-stream, setup. Probes are answered.
    pub fn connect(addr: SocketAddr) -> GrpcClient {
        Self::open(addr, true)
    }

    /// Connects, but never answers a probe (a hung client).
    pub fn connect_ignoring_probes(addr: SocketAddr) -> GrpcClient {
        Self::open(addr, false)
    }

    fn open(addr: SocketAddr, answer_probes: bool) -> GrpcClient {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let probes = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (send, bi, connection_id) = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (mut send, conn) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let check = unary(
                &mut send,
                grpc_message("ServerCheckRequest", &json!({"requestId": "0"})),
            )
            .await;
            assert_eq!(check.0, "ServerCheckResponse", "{check:?}");
            let connection_id = check.1["connectionId"].as_str().unwrap_or_default().to_string();
            let (resp, bi) = send
                .send_request(request("/BiRequestStream/requestBiStream"), false)
                .expect("open the bi-stream");
            let bi = Arc::new(Mutex::new(bi));
            bi.lock().unwrap().send_data(
                grpc_message(
                    "ConnectionSetupRequest",
                    &json!({"clientVersion": "distro-testkit", "tenant": "", "labels": {}, "abilityTable": {}}),
                ),
                false,
            )
            .expect("setup");
            let probes = probes.clone();
            let closed = closed.clone();
            // the reader answers probes on the bi-stream and hands every server request on
            let answers = bi.clone();
            tokio::spawn(async move {
                let Ok(resp) = resp.await else {
                    closed.store(true, Ordering::SeqCst);
                    return;
                };
                let mut body = resp.into_body();
                let mut buf = BytesMut::new();
                while let Some(Ok(chunk)) = body.data().await {
                    let _ = body.flow_control().release_capacity(chunk.len());
                    buf.extend_from_slice(&chunk);
                    for (kind, msg) in messages(&mut buf) {
                        if kind == "ClientDetectionRequest" {
                            probes.fetch_add(1, Ordering::SeqCst);
                            if answer_probes {
                                let id = msg["requestId"].clone();
                                let _ = answers.lock().unwrap().send_data(grpc_message(
                                    "ClientDetectionResponse",
                                    &json!({"requestId": id, "resultCode": 200, "errorCode": 0}),
                                ), false);
                            }
                        } else if kind == "NotifySubscriberRequest" {
                            let id = msg["requestId"].clone();
                            let _ = answers.lock().unwrap().send_data(grpc_message(
                                "NotifySubscriberResponse",
                                &json!({"requestId": id, "resultCode": 200, "errorCode": 0}),
                            ), false);
                        }
                        let _ = tx.send((kind, msg));
                    }
                }
                closed.store(true, Ordering::SeqCst);
            });
            (send, bi, connection_id)
        });
        GrpcClient {
            rt,
            send,
            bi,
            server_requests: rx,
            probes,
            closed,
            next_id: 0,
            token: None,
            connection_id,
        }
    }

    /// A unary request; returns the answer's type and body.
    pub fn request(&mut self, kind: &str, mut body: Value) -> (String, Value) {
        self.next_id += 1;
        body["requestId"] = json!(self.next_id.to_string());
        let send = &mut self.send;
        let message = grpc_message_with(kind, &body, self.token.as_deref());
        self.rt
            .block_on(async { tokio::time::timeout(REPLY_TIMEOUT, unary(send, message)).await })
            .unwrap_or_else(|_| panic!("no answer to {kind} within {REPLY_TIMEOUT:?}"))
    }

    /// Registers `ip:port` in `service` (default group) for this connection.
    pub fn register(&mut self, service: &str, ip: &str, port: u16) -> (String, Value) {
        self.request(
            "InstanceRequest",
            json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
                   "type": "registerInstance", "module": "naming", "headers": {},
                   "instance": {"ip": ip, "port": port, "weight": 1.0, "healthy": true,
                                "enabled": true, "ephemeral": true, "clusterName": "DEFAULT",
                                "metadata": {}}}),
        )
    }

    /// Subscribes to `service`; returns the answer.
    pub fn subscribe(&mut self, service: &str) -> (String, Value) {
        self.request(
            "SubscribeServiceRequest",
            json!({"namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
                   "subscribe": true, "clusters": "", "module": "naming", "headers": {}}),
        )
    }

    /// The next request the server sent on the bi-stream (a push or a probe).
    pub fn recv_server_request(&self, timeout: Duration) -> Option<(String, Value)> {
        self.server_requests.recv_timeout(timeout).ok()
    }

    /// Whether the server ended the connection (its bi-stream ended).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Probes the server sent so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }

    /// Sends raw bytes as one message on the bi-stream.
    pub fn send_on_bi(&mut self, data: Bytes) {
        let _ = self.bi.lock().unwrap().send_data(data, false);
    }
}

/// One unary call: the message, then the single answer and the trailers.
async fn unary(send: &mut h2::client::SendRequest<Bytes>, message: Bytes) -> (String, Value) {
    let (resp, mut stream) = send
        .send_request(request("/Request/request"), false)
        .expect("send a request");
    stream.send_data(message, true).expect("send the message");
    let resp = resp.await.expect("an answer");
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("answer data");
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    messages(&mut buf)
        .into_iter()
        .next()
        .unwrap_or_else(|| (String::new(), Value::Null))
}
