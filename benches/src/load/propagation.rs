//! Propagation: how long an instance registered at member A takes to become visible at the
//! other members, seen by a native subscription (push) and by polling `GET /instance/list`,
//! optionally under a background registration load at A.

use super::engine::{self, LoadSpec, Workload, WorkloadKind};
use super::grpc::GrpcSubscriber;
use super::proto::{parse_http_response, Protocol};
use super::report::{histogram, kind_reports, Latency, LoadReport};
use crate::fixtures::{ip_of, port_of};
use distro_core::{distro_hash, ServiceKey};
use distro_mio::Client;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

/// A propagation measurement.
#[derive(Clone, Debug)]
pub struct PropagationSpec {
    /// HTTP addresses of the members; probes register at the first. Member ids are these
    /// addresses (as `distrod` names its members).
    pub members: Vec<SocketAddr>,
    /// Native addresses of the members (for push observers), in the same order.
    pub natives: Vec<SocketAddr>,
    /// Probes to make.
    pub probes: usize,
    /// Pause between probes.
    pub interval: Duration,
    /// How long a probe waits to be seen before it counts as missed.
    pub timeout: Duration,
    /// Background registrations per second at the first member (0 for none).
    pub background_rate: f64,
    /// Connections of the background load.
    pub background_connections: usize,
    /// Time the background load runs before the first probe.
    pub warmup: Duration,
    /// Observe by native subscription.
    pub push: bool,
    /// Observe by polling the v1 list.
    pub poll: bool,
    /// Observe by gRPC subscription too (a Nacos 2.x client's `NotifySubscriberRequest`).
    pub grpc_push: bool,
}

/// Time-to-visible at one member by one method.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The member's HTTP address.
    pub member: String,
    /// `push` or `poll`.
    pub method: String,
    /// Probes not seen within the timeout.
    pub missed: u64,
    /// Time from sending the register to seeing the instance.
    pub latency: Latency,
}

/// What a propagation run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PropagationReport {
    /// Probes made.
    pub probes: usize,
    /// Probes whose register failed.
    pub register_errors: u64,
    /// Latency of the probes' register requests at the first member.
    pub register: Latency,
    /// Per member and method.
    pub observed: Vec<Observed>,
    /// Every observation of one method together.
    pub all_push: Latency,
    /// Every poll observation together.
    pub all_poll: Latency,
    /// The background load, if any.
    pub background: Option<LoadReport>,
}

impl PropagationReport {
    /// A fixed-width table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "propagation: {} probes, register at member A: p50 {:.1} µs p99 {:.1} µs, {} register errors\n",
            self.probes, self.register.p50_us, self.register.p99_us, self.register_errors
        );
        s.push_str(&format!(
            "{:<22} {:<6} {:>8} {:>10} {:>10} {:>10} {:>10} {:>7}\n",
            "member", "method", "count", "p50 µs", "p90 µs", "p99 µs", "max µs", "missed"
        ));
        for o in &self.observed {
            let l = &o.latency;
            s.push_str(&format!(
                "{:<22} {:<6} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>7}\n",
                o.member, o.method, l.count, l.p50_us, l.p90_us, l.p99_us, l.max_us, o.missed
            ));
        }
        if let Some(bg) = &self.background {
            s.push_str(&format!(
                "background: {:.0} registrations/s achieved at A, p99 {:.1} µs, {} errors\n",
                bg.total.throughput, bg.total.latency.p99_us, bg.total.errors
            ));
        }
        s
    }
}

/// A probe: a fresh service and an instance the first member is responsible for.
#[derive(Clone, Debug)]
struct Probe {
    service: String,
    ip: String,
    port: u16,
    t0: Instant,
    deadline: Instant,
}

enum Cmd {
    Subscribe(String, Sender<()>),
    Watch(Probe),
    Stop,
}

/// Runs the measurement.
pub fn run(spec: &PropagationSpec) -> io::Result<PropagationReport> {
    assert!(
        spec.members.len() >= 2,
        "propagation needs two members or more"
    );
    let a = spec.members[0];
    // Member ids are the HTTP addresses; the responsible member is sorted(ids)[hash % n].
    let mut ids: Vec<String> = spec.members.iter().map(|m| m.to_string()).collect();
    ids.sort();
    let a_index = ids
        .iter()
        .position(|i| *i == a.to_string())
        .expect("a is a member");
    let owned_by_a =
        |ip: &str, port: u16| distro_hash(&format!("{ip}:{port}")) as usize % ids.len() == a_index;

    // Observers: one thread per (member, method), each answering on `results`.
    let (results_tx, results_rx) = mpsc::channel::<(usize, Option<Duration>)>();
    let mut observers: Vec<(String, String, Sender<Cmd>)> = Vec::new();
    let mut handles = Vec::new();
    for (i, member) in spec.members.iter().enumerate().skip(1) {
        if spec.push {
            let native = spec.natives[i];
            let client = Client::connect(&[native]).map_err(io::Error::other)?;
            let (tx, rx) = mpsc::channel();
            let id = observers.len();
            let results = results_tx.clone();
            handles.push(std::thread::spawn(move || {
                push_observer(client, rx, id, results)
            }));
            observers.push((member.to_string(), "push".into(), tx));
        }
        if spec.grpc_push {
            let client = GrpcSubscriber::connect(spec.natives[i])?;
            let (tx, rx) = mpsc::channel();
            let id = observers.len();
            let results = results_tx.clone();
            handles.push(std::thread::spawn(move || {
                grpc_observer(client, rx, id, results)
            }));
            observers.push((member.to_string(), "grpc".into(), tx));
        }
        if spec.poll {
            let conn = HttpConn::connect(*member)?;
            let (tx, rx) = mpsc::channel();
            let id = observers.len();
            let results = results_tx.clone();
            handles.push(std::thread::spawn(move || {
                poll_observer(conn, rx, id, results)
            }));
            observers.push((member.to_string(), "poll".into(), tx));
        }
    }

    // Background registrations at A.
    let total_time = spec.warmup
        + (spec.interval + Duration::from_millis(2)) * spec.probes as u32
        + Duration::from_secs(1);
    let background = (spec.background_rate > 0.0).then(|| {
        let load = LoadSpec {
            protocol: Protocol::Http,
            addr: a,
            connections: spec.background_connections.max(1),
            pipeline: 4096,
            rate: Some(spec.background_rate),
            warmup: Duration::from_millis(500),
            duration: total_time,
            threads: 1,
            workload: Workload::new(WorkloadKind::Register, "bg", 100, 0),
            first_new: 1 << 20,
        };
        std::thread::spawn(move || engine::run(&load))
    });
    if background.is_some() {
        std::thread::sleep(spec.warmup + Duration::from_millis(500));
    }

    let mut register_conn = HttpConn::connect(a)?;
    let mut register = histogram();
    let mut seen: Vec<_> = observers.iter().map(|_| histogram()).collect();
    let mut missed = vec![0u64; observers.len()];
    let mut register_errors = 0;
    let mut n = 60_000_000u64;
    let run_id = std::process::id();
    for k in 0..spec.probes {
        let (ip, port) = loop {
            n += 1;
            let (ip, port) = (ip_of(n), port_of(n));
            if owned_by_a(&ip, port) {
                break (ip, port);
            }
        };
        let service = format!("prop-{run_id}-{k}");
        // subscriptions first, so the push of the change is the one measured
        let mut acks = Vec::new();
        for (_, method, tx) in &observers {
            if method == "push" || method == "grpc" {
                let (ack_tx, ack_rx) = mpsc::channel();
                let _ = tx.send(Cmd::Subscribe(service.clone(), ack_tx));
                acks.push(ack_rx);
            }
        }
        for a in acks {
            let _ = a.recv_timeout(Duration::from_secs(5));
        }
        let t0 = Instant::now();
        let probe = Probe {
            service: service.clone(),
            ip: ip.clone(),
            port,
            t0,
            deadline: t0 + spec.timeout,
        };
        for (_, _, tx) in &observers {
            let _ = tx.send(Cmd::Watch(probe.clone()));
        }
        let req = format!(
            "POST /nacos/v1/ns/instance?serviceName={service}&ip={ip}&port={port}&ephemeral=true HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\n\r\n"
        );
        match register_conn.request(req.as_bytes()) {
            Ok((200, _)) => {
                register.saturating_record(t0.elapsed().as_nanos() as u64);
            }
            _ => register_errors += 1,
        }
        let mut pending = observers.len();
        while pending > 0 {
            match results_rx.recv_timeout(spec.timeout + Duration::from_secs(1)) {
                Ok((id, Some(d))) => {
                    seen[id].saturating_record(d.as_nanos().max(1) as u64);
                    pending -= 1;
                }
                Ok((id, None)) => {
                    missed[id] += 1;
                    pending -= 1;
                }
                Err(_) => break,
            }
        }
        std::thread::sleep(spec.interval);
    }
    for (_, _, tx) in &observers {
        let _ = tx.send(Cmd::Stop);
    }
    for h in handles {
        let _ = h.join();
    }
    let background = match background {
        Some(h) => {
            let r = h
                .join()
                .map_err(|_| io::Error::other("background load panicked"))??;
            let (total, kinds) = kind_reports(&r.recorder, r.measured.as_secs_f64());
            Some(LoadReport {
                label: "background".into(),
                protocol: "http".into(),
                workload: "register".into(),
                mode: "open".into(),
                connections: spec.background_connections,
                pipeline: 4096,
                rate: Some(spec.background_rate),
                threads: 1,
                warmup_s: 0.5,
                duration_s: r.measured.as_secs_f64(),
                total,
                kinds,
                error_reasons: r.recorder.reasons.clone(),
                ..LoadReport::default()
            })
        }
        None => None,
    };
    let mut all_push = histogram();
    let mut all_poll = histogram();
    let observed = observers
        .iter()
        .enumerate()
        .map(|(i, (member, method, _))| {
            if method == "push" {
                all_push.add(&seen[i]).expect("same bounds");
            } else {
                all_poll.add(&seen[i]).expect("same bounds");
            }
            Observed {
                member: member.clone(),
                method: method.clone(),
                missed: missed[i],
                latency: Latency::of(&seen[i]),
            }
        })
        .collect();
    Ok(PropagationReport {
        probes: spec.probes,
        register_errors,
        register: Latency::of(&register),
        observed,
        all_push: Latency::of(&all_push),
        all_poll: Latency::of(&all_poll),
        background,
    })
}

fn push_observer(
    client: Client,
    rx: Receiver<Cmd>,
    id: usize,
    results: Sender<(usize, Option<Duration>)>,
) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Subscribe(service, ack) => {
                let key = ServiceKey::parse(None, None, &service);
                let _ = client.subscribe(&key, "");
                let _ = ack.send(());
            }
            Cmd::Watch(p) => {
                let mut found = None;
                loop {
                    let now = Instant::now();
                    if now >= p.deadline {
                        break;
                    }
                    let Some(view) = client.recv_push(p.deadline - now) else {
                        break;
                    };
                    if *view.service.name == *p.service
                        && view
                            .hosts
                            .iter()
                            .any(|h| *h.ip == *p.ip && h.port == p.port)
                    {
                        found = Some(p.t0.elapsed());
                        break;
                    }
                }
                let key = ServiceKey::parse(None, None, &p.service);
                let _ = results.send((id, found));
                let _ = client.unsubscribe(&key, "");
            }
            Cmd::Stop => return,
        }
    }
}

fn grpc_observer(
    mut client: GrpcSubscriber,
    rx: Receiver<Cmd>,
    id: usize,
    results: Sender<(usize, Option<Duration>)>,
) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Subscribe(service, ack) => {
                let _ = client.subscribe(&service);
                let _ = ack.send(());
            }
            Cmd::Watch(p) => {
                let want = format!("{}:{}", p.ip, p.port);
                let mut found = None;
                loop {
                    let now = Instant::now();
                    if now >= p.deadline {
                        break;
                    }
                    let Some((service, hosts)) = client.recv_push(p.deadline - now) else {
                        break;
                    };
                    if service == p.service && hosts.contains(&want) {
                        found = Some(p.t0.elapsed());
                        break;
                    }
                }
                let _ = results.send((id, found));
                let _ = client.unsubscribe(&p.service);
            }
            Cmd::Stop => return,
        }
    }
}

fn poll_observer(
    mut conn: HttpConn,
    rx: Receiver<Cmd>,
    id: usize,
    results: Sender<(usize, Option<Duration>)>,
) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Subscribe(..) => {}
            Cmd::Watch(p) => {
                let req = format!(
                    "GET /nacos/v1/ns/instance/list?serviceName={}&healthyOnly=false HTTP/1.1\r\nHost: x\r\n\r\n",
                    p.service
                );
                let needle = format!("\"{}\"", p.ip);
                let mut found = None;
                while Instant::now() < p.deadline {
                    match conn.request(req.as_bytes()) {
                        Ok((_, body)) if contains(&body, needle.as_bytes()) => {
                            found = Some(p.t0.elapsed());
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
                let _ = results.send((id, found));
            }
            Cmd::Stop => return,
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A blocking keep-alive HTTP/1.1 connection, one request at a time.
pub struct HttpConn {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    /// Connects.
    pub fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(HttpConn {
            addr,
            stream,
            buf: Vec::with_capacity(16 << 10),
        })
    }

    /// Sends one request and reads its response (reconnecting once if the connection broke).
    pub fn request(&mut self, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        match self.try_request(req) {
            Ok(r) => Ok(r),
            Err(_) => {
                *self = HttpConn::connect(self.addr)?;
                self.try_request(req)
            }
        }
    }

    fn try_request(&mut self, req: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(req)?;
        self.buf.clear();
        let mut chunk = [0u8; 16 << 10];
        loop {
            if let Some(r) = parse_http_response(&self.buf).map_err(io::Error::other)? {
                let body = self.buf[r.body.0..r.body.1].to_vec();
                self.buf.drain(..r.len);
                return Ok((r.status, body));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
