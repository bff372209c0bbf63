//! The load over Nacos 2.x gRPC (HTTP/2 on the client port), for any server that speaks it
//! (`distrod` of either runtime, r-nacos, Nacos): each connection opens like an SDK (server
//! check, bi-stream with its setup), then keeps `pipeline` unary calls in flight (closed loop).
//! Register is an `InstanceRequest`, beat a `HealthCheckRequest` (the 2.x keep-alive), list a
//! `ServiceQueryRequest`. Preloaded instances are batch-registered by holder connections that
//! stay open for the run (a 2.x client's instances live as long as its connection).

use super::engine::{Gen, LoadSpec, RunResult, WorkloadKind};
use super::proto::{Naming, Op, OpKind};
use super::report::{KindCounts, Recorder};
use crate::fixtures::{ip_of, port_of};
use bytes::{Buf, Bytes, BytesMut};
use distro_core::grpc::{Metadata, Payload};
use prost::Message as _;
use serde_json::{json, Value};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Instances one holder connection registers in one batch at most.
const BATCH: u64 = 500;

fn message(kind: &str, body: &Value) -> Bytes {
    let p = Payload {
        metadata: Some(Metadata {
            r#type: kind.to_string(),
            client_ip: "127.0.0.1".into(),
            headers: Default::default(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: serde_json::to_vec(body).unwrap_or_default(),
        }),
    }
    .encode_to_vec();
    let mut out = Vec::with_capacity(p.len() + 5);
    out.push(0);
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(&p);
    Bytes::from(out)
}

fn request(path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a request")
}

/// One unary call; the answer's type and `resultCode`.
async fn call(
    send: &mut h2::client::SendRequest<Bytes>,
    body: Bytes,
) -> Result<(String, u64), String> {
    let mut send = send.clone().ready().await.map_err(|e| e.to_string())?;
    let (resp, mut stream) = send
        .send_request(request("/Request/request"), false)
        .map_err(|e| e.to_string())?;
    stream.send_data(body, true).map_err(|e| e.to_string())?;
    let resp = resp.await.map_err(|e| e.to_string())?;
    let mut recv = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    if buf.len() < 5 {
        return Err("no answer message".into());
    }
    buf.advance(5);
    let p = Payload::decode(&buf[..]).map_err(|e| e.to_string())?;
    let kind = p.metadata.map(|m| m.r#type).unwrap_or_default();
    let body: Value = p
        .body
        .map(|b| serde_json::from_slice(&b.value).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    Ok((kind, body["resultCode"].as_u64().unwrap_or(0)))
}

/// Opens a connection the way the SDKs do.
async fn connect(spec: &LoadSpec) -> io::Result<h2::client::SendRequest<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(spec.addr).await?;
    tcp.set_nodelay(true)?;
    let (mut send, conn) = h2::client::Builder::new()
        .initial_window_size(4 << 20)
        .handshake(tcp)
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    call(
        &mut send,
        message("ServerCheckRequest", &json!({"requestId": "0"})),
    )
    .await
    .map_err(io::Error::other)?;
    let (resp, mut bi) = send
        .send_request(request("/BiRequestStream/requestBiStream"), false)
        .map_err(io::Error::other)?;
    bi.send_data(
        message(
            "ConnectionSetupRequest",
            &json!({"clientVersion": "distro-load", "labels": {}, "abilityTable": {}}),
        ),
        false,
    )
    .map_err(io::Error::other)?;
    // keep the bi-stream open and drained for the run
    tokio::spawn(async move {
        let _bi = bi;
        if let Ok(resp) = resp.await {
            let mut body = resp.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
        }
    });
    Ok(send)
}

fn body_of(op: Op, naming: &Naming, id: u64) -> (OpKind, Bytes) {
    let id = id.to_string();
    match op {
        Op::Register(n) => (
            OpKind::Register,
            message(
                "InstanceRequest",
                &json!({"requestId": id, "namespace": "public", "groupName": "DEFAULT_GROUP",
                        "serviceName": naming.key(naming.service_of(n)).name.as_ref(),
                        "type": "registerInstance", "module": "naming", "headers": {},
                        "instance": {"ip": ip_of(n), "port": port_of(n), "weight": 1.0,
                                     "healthy": true, "enabled": true, "ephemeral": true,
                                     "clusterName": "DEFAULT", "metadata": {}}}),
            ),
        ),
        Op::Beat(_) => (
            OpKind::Beat,
            message(
                "HealthCheckRequest",
                &json!({"requestId": id, "headers": {}}),
            ),
        ),
        Op::List(s) => (
            OpKind::List,
            message(
                "ServiceQueryRequest",
                &json!({"requestId": id, "namespace": "public", "groupName": "DEFAULT_GROUP",
                        "serviceName": naming.key(s).name.as_ref(), "cluster": "",
                        "healthyOnly": false, "udpPort": 0, "module": "naming", "headers": {}}),
            ),
        ),
        Op::BatchRegister {
            service,
            first,
            step,
            count,
        } => {
            let instances: Vec<Value> = (0..u64::from(count))
                .map(|i| {
                    let n = first + i * step;
                    json!({"ip": ip_of(n), "port": port_of(n), "weight": 1.0, "healthy": true,
                           "enabled": true, "ephemeral": true, "clusterName": "DEFAULT", "metadata": {}})
                })
                .collect();
            (
                OpKind::Register,
                message(
                    "BatchInstanceRequest",
                    &json!({"requestId": id, "namespace": "public", "groupName": "DEFAULT_GROUP",
                            "serviceName": naming.key(service).name.as_ref(),
                            "type": "batchRegisterInstance", "module": "naming", "headers": {},
                            "instances": instances}),
                ),
            )
        }
    }
}

/// Runs a closed-loop load over gRPC.
pub fn run(spec: &LoadSpec) -> io::Result<RunResult> {
    if spec.rate.is_some() {
        return Err(io::Error::other(
            "the gRPC load is closed loop only (no --rate)",
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run_async(spec))
}

async fn run_async(spec: &LoadSpec) -> io::Result<RunResult> {
    let w = &spec.workload;
    let naming = Arc::new(Naming::new(&w.prefix, w.services));
    let setup_started = Instant::now();
    let mut setup = KindCounts::default();
    // holders: preloaded instances for beats and lists, on connections kept for the run
    let mut holders = Vec::new();
    if matches!(w.kind, WorkloadKind::List | WorkloadKind::Mixed) && w.preload > 0 {
        let per_service = w.preload.div_ceil(w.services).max(1);
        let mut holder = connect(spec).await?;
        let mut in_holder = 0;
        for s in 0..w.services {
            for first in (0..per_service).step_by(BATCH as usize) {
                let count = (per_service - first).min(BATCH);
                if in_holder + count > BATCH {
                    holders.push(holder);
                    holder = connect(spec).await?;
                    in_holder = 0;
                }
                in_holder += count;
                let op = Op::BatchRegister {
                    service: s,
                    first: s + first * w.services,
                    step: w.services,
                    count: count as u32,
                };
                let (kind, body) = body_of(op, &naming, 1);
                match call(&mut holder, body).await {
                    Ok((_, 200)) => setup.ok(kind),
                    _ => setup.error(kind),
                }
            }
        }
        holders.push(holder);
    }
    let setup_time = setup_started.elapsed();
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let end = measure_start + spec.duration;
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let mut tasks = Vec::new();
    let conns = spec.connections.max(1);
    for c in 0..conns {
        let send = connect(spec).await?;
        for p in 0..spec.pipeline.max(1) {
            let lane = (c * spec.pipeline.max(1) + p) as u64;
            let lanes = (conns * spec.pipeline.max(1)) as u64;
            let mut gen = Gen::for_lane(spec, lane, lanes);
            let mut send = send.clone();
            let naming = naming.clone();
            let recorder = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let mut local = Recorder::new();
                let mut id = 0u64;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    id += 1;
                    let (kind, body) = body_of(gen.next(), &naming, id);
                    let sent = Instant::now();
                    let answer = call(&mut send, body).await;
                    if sent < measure_start {
                        continue;
                    }
                    match answer {
                        Ok((_, 200)) => local.record(kind, sent.elapsed().as_nanos() as u64),
                        Ok((k, code)) => local.error(kind, &format!("{k} {code}")),
                        Err(e) => local.error(kind, &e),
                    }
                }
                recorder.lock().expect("recorder").merge(&local);
            }));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(holders);
    let recorder = Arc::try_unwrap(recorder)
        .map(|m| m.into_inner().expect("recorder"))
        .unwrap_or_else(|_| Recorder::new());
    Ok(RunResult {
        recorder,
        setup,
        setup_time,
        measured: spec.duration,
    })
}

/// A blocking gRPC subscriber for propagation runs: its bi-stream's `NotifySubscriberRequest`s
/// arrive as (service name, `ip:port` of every host).
pub struct GrpcSubscriber {
    rt: tokio::runtime::Runtime,
    send: h2::client::SendRequest<Bytes>,
    pushes: std::sync::mpsc::Receiver<(String, Vec<String>)>,
    next_id: u64,
}

impl GrpcSubscriber {
    /// Connects to a client port (HTTP port + 1000).
    pub fn connect(addr: std::net::SocketAddr) -> io::Result<GrpcSubscriber> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let send = rt.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let (mut send, conn) = h2::client::handshake(tcp).await.map_err(io::Error::other)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            call(&mut send, message("ServerCheckRequest", &json!({"requestId": "0"})))
                .await
                .map_err(io::Error::other)?;
            let (resp, mut bi) = send
                .send_request(request("/BiRequestStream/requestBiStream"), false)
                .map_err(io::Error::other)?;
            bi.send_data(
                message(
                    "ConnectionSetupRequest",
                    &json!({"clientVersion": "distro-load", "labels": {}, "abilityTable": {}}),
                ),
                false,
            )
            .map_err(io::Error::other)?;
            tokio::spawn(async move {
                let Ok(resp) = resp.await else { return };
                let mut body = resp.into_body();
                let mut buf = BytesMut::new();
                while let Some(Ok(chunk)) = body.data().await {
                    let _ = body.flow_control().release_capacity(chunk.len());
                    buf.extend_from_slice(&chunk);
                    while buf.len() >= 5 {
                        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                        if buf.len() < 5 + len {
                            break;
                        }
                        buf.advance(5);
                        let bytes = buf.split_to(len);
                        let Ok(p) = Payload::decode(&bytes[..]) else { continue };
                        if p.metadata.as_ref().map(|m| m.r#type.as_str()) != Some("NotifySubscriberRequest") {
                            continue;
                        }
                        let v: Value = p
                            .body
                            .and_then(|b| serde_json::from_slice(&b.value).ok())
                            .unwrap_or(Value::Null);
                        let id = v["requestId"].clone();
                        let _ = bi.send_data(
                            message(
                                "NotifySubscriberResponse",
                                &json!({"requestId": id, "resultCode": 200, "errorCode": 0, "message": ""}),
                            ),
                            false,
                        );
                        let hosts = v["serviceInfo"]["hosts"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|h| format!("{}:{}", h["ip"].as_str().unwrap_or(""), h["port"]))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let name = v["serviceName"].as_str().unwrap_or("").to_string();
                        if tx.send((name, hosts)).is_err() {
                            return;
                        }
                    }
                }
            });
            Ok::<_, io::Error>(send)
        })?;
        Ok(GrpcSubscriber {
            rt,
            send,
            pushes: rx,
            next_id: 0,
        })
    }

    fn subscription(&mut self, service: &str, subscribe: bool) -> io::Result<()> {
        self.next_id += 1;
        let body = message(
            "SubscribeServiceRequest",
            &json!({"requestId": self.next_id.to_string(), "namespace": "public",
                    "groupName": "DEFAULT_GROUP", "serviceName": service, "clusters": "",
                    "subscribe": subscribe, "module": "naming", "headers": {}}),
        );
        let send = &mut self.send;
        self.rt
            .block_on(async { call(send, body).await })
            .map(|_| ())
            .map_err(io::Error::other)
    }

    /// Subscribes to `service` (default group).
    pub fn subscribe(&mut self, service: &str) -> io::Result<()> {
        self.subscription(service, true)
    }

    /// Ends the subscription.
    pub fn unsubscribe(&mut self, service: &str) -> io::Result<()> {
        self.subscription(service, false)
    }

    /// The next push, waiting at most `timeout`.
    pub fn recv_push(&self, timeout: std::time::Duration) -> Option<(String, Vec<String>)> {
        self.pushes.recv_timeout(timeout).ok()
    }
}
