//! The load engine: connections on one `mio::Poll` per thread, closed loop (each connection
//! keeps `pipeline` requests outstanding) or open loop (requests issued at a fixed rate no
//! matter how the server keeps up), with setup, warm-up and measurement phases.

use super::proto::{
    next_native, parse_http_response, probe_ack, write_http, write_native, Naming, NativeEvent, Op,
    OpKind, Protocol,
};
use super::report::{KindCounts, Recorder};
use distro_core::wire::FrameDecoder;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Most requests outstanding on one connection of an open loop.
pub const OPEN_LOOP_MAX_OUTSTANDING: usize = 10_000;

/// What a load does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Register unique instances (each request a new instance).
    Register,
    /// Beat preloaded instances round robin (native: ping the connection).
    Beat,
    /// List preloaded services round robin.
    List,
    /// Registers, beats and lists mixed by `--mix` weights.
    Mixed,
}

impl WorkloadKind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Beat => "beat",
            WorkloadKind::List => "list",
            WorkloadKind::Mixed => "mixed",
        }
    }
}

/// A workload: what to preload and what to send.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Workload {
    /// Kind.
    pub kind: WorkloadKind,
    /// Service name prefix.
    pub prefix: String,
    /// Number of services instances are spread over.
    pub services: u64,
    /// Instances registered during setup (beaten and listed later); 0 for `register`.
    pub preload: u64,
    /// Weights of register, beat and list for `mixed`.
    pub mix: [u32; 3],
}

impl Workload {
    /// The usual shape of each kind: `instances` preloaded over `services` services.
    pub fn new(kind: WorkloadKind, prefix: &str, services: u64, instances: u64) -> Workload {
        Workload {
            kind,
            prefix: prefix.to_string(),
            services: services.max(1),
            preload: if kind == WorkloadKind::Register {
                0
            } else {
                instances.max(1)
            },
            mix: [10, 60, 30],
        }
    }
}

/// Everything one load run needs.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Protocol.
    pub protocol: Protocol,
    /// Server address (HTTP or native port).
    pub addr: SocketAddr,
    /// Connections.
    pub connections: usize,
    /// Requests outstanding per connection (closed loop). An open loop allows up to
    /// [`OPEN_LOOP_MAX_OUTSTANDING`] per connection; past that a request is dropped and counted
    /// as a client-side backlog error.
    pub pipeline: usize,
    /// Open loop at this many requests per second (all connections together); closed loop if
    /// `None`.
    pub rate: Option<f64>,
    /// Warm-up (not recorded).
    pub warmup: Duration,
    /// Measured duration.
    pub duration: Duration,
    /// Generator threads (each with its own poll and share of the connections).
    pub threads: usize,
    /// Workload.
    pub workload: Workload,
    /// First instance number of new registrations (lets runs against one server stay unique).
    pub first_new: u64,
}

/// Result of one run, before it is turned into a report.
pub struct RunResult {
    /// Measured operations.
    pub recorder: Recorder,
    /// Setup operations and their failures.
    pub setup: KindCounts,
    /// Setup time.
    pub setup_time: Duration,
    /// Measured wall time.
    pub measured: Duration,
}

/// Runs a load and returns what it measured.
pub fn run(spec: &LoadSpec) -> io::Result<RunResult> {
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let spec = spec.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || Worker::new(&spec, t, threads)?.run(&barrier))
        })
        .collect::<io::Result<_>>()?;
    let mut results = Vec::new();
    for h in handles {
        results.push(
            h.join()
                .map_err(|_| io::Error::other("load thread panicked"))??,
        );
    }
    let mut it = results.into_iter();
    let mut total = it.next().expect("one thread");
    for r in it {
        total.recorder.merge(&r.recorder);
        total.setup.merge(&r.setup);
        total.setup_time = total.setup_time.max(r.setup_time);
        total.measured = total.measured.max(r.measured);
    }
    Ok(total)
}

/// Generates the operations of one thread (or one lane of the gRPC load).
pub(crate) struct Gen {
    kind: WorkloadKind,
    thread: u64,
    threads: u64,
    k: u64,
    k_new: u64,
    preload: u64,
    services: u64,
    first_new: u64,
    mix: [u32; 3],
}

impl Gen {
    /// The generator of lane `lane` of `lanes` (each draws its own share of the instances).
    pub(crate) fn for_lane(spec: &LoadSpec, lane: u64, lanes: u64) -> Gen {
        let w = &spec.workload;
        Gen {
            kind: w.kind,
            thread: lane,
            threads: lanes.max(1),
            k: 0,
            k_new: 0,
            preload: w.preload,
            services: w.services,
            first_new: spec.first_new.max(w.preload),
            mix: w.mix,
        }
    }

    pub(crate) fn next(&mut self) -> Op {
        let k = self.k;
        self.k += 1;
        let which = match self.kind {
            WorkloadKind::Register => OpKind::Register,
            WorkloadKind::Beat => OpKind::Beat,
            WorkloadKind::List => OpKind::List,
            WorkloadKind::Mixed => {
                let total: u32 = self.mix.iter().sum::<u32>().max(1);
                // a fixed permutation of 0..total spreads the kinds evenly
                let slot = ((k.wrapping_mul(2_654_435_761)) % u64::from(total)) as u32;
                if slot < self.mix[0] {
                    OpKind::Register
                } else if slot < self.mix[0] + self.mix[1] {
                    OpKind::Beat
                } else {
                    OpKind::List
                }
            }
        };
        let spread = self.thread + self.threads * k;
        match which {
            OpKind::Register => {
                let n = self.first_new + self.thread + self.threads * self.k_new;
                self.k_new += 1;
                Op::Register(n)
            }
            OpKind::Beat => Op::Beat(spread % self.preload.max(1)),
            OpKind::List => Op::List(spread % self.services),
        }
    }
}

struct Pending {
    id: u64,
    sent: Instant,
    kind: OpKind,
    setup: bool,
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    inbuf: Vec<u8>,
    decoder: FrameDecoder,
    inflight: VecDeque<Pending>,
    next_id: u64,
    dead: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Setup,
    Running,
    Draining,
}

struct Worker {
    protocol: Protocol,
    naming: Naming,
    host: String,
    conns: Vec<Conn>,
    poll: Poll,
    pipeline: usize,
    rate: Option<f64>,
    warmup: Duration,
    duration: Duration,
    gen: Gen,
    setup_ops: VecDeque<(Option<usize>, Op)>,
    /// Connections that carry the measured load; the ones after them only hold preloaded
    /// native instances.
    measured: usize,
    recorder: Recorder,
    setup: KindCounts,
    scratch: Vec<u8>,
    // phase times
    measure_start: Instant,
    measure_end: Instant,
    rr: usize,
}

impl Worker {
    fn new(spec: &LoadSpec, thread: usize, threads: usize) -> io::Result<Worker> {
        let poll = Poll::new()?;
        let mut conns = Vec::new();
        let w = &spec.workload;
        let setup_ops = setup_ops(spec, thread as u64, threads as u64);
        let holders = setup_ops
            .iter()
            .filter_map(|(c, _)| c.map(|c| c + 1))
            .max()
            .unwrap_or(0);
        let measured = (0..spec.connections.max(1))
            .filter(|c| c % threads == thread)
            .count();
        for i in 0..measured + holders {
            let std = std::net::TcpStream::connect_timeout(&spec.addr, Duration::from_secs(3))?;
            std.set_nodelay(true)?;
            std.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(std);
            poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                out: Vec::with_capacity(64 << 10),
                out_pos: 0,
                inbuf: Vec::with_capacity(64 << 10),
                decoder: FrameDecoder::new(64 << 20),
                inflight: VecDeque::new(),
                next_id: 1,
                dead: false,
            });
        }
        let naming = Naming::new(&w.prefix, w.services);
        let setup_ops = setup_ops
            .into_iter()
            .map(|(c, op)| (c.map(|c| measured + c), op))
            .collect();
        let now = Instant::now();
        Ok(Worker {
            protocol: spec.protocol,
            host: spec.addr.to_string(),
            naming,
            conns,
            poll,
            pipeline: spec.pipeline.max(1),
            rate: spec.rate.map(|r| r / threads as f64),
            warmup: spec.warmup,
            duration: spec.duration,
            gen: Gen {
                kind: w.kind,
                thread: thread as u64,
                threads: threads as u64,
                k: 0,
                k_new: 0,
                preload: w.preload,
                services: w.services,
                first_new: spec.first_new.max(w.preload),
                mix: w.mix,
            },
            setup_ops,
            measured,
            recorder: Recorder::new(),
            setup: KindCounts::default(),
            scratch: vec![0; 256 << 10],
            measure_start: now,
            measure_end: now,
            rr: 0,
        })
    }

    fn run(mut self, barrier: &Barrier) -> io::Result<RunResult> {
        let setup_started = Instant::now();
        let mut events = Events::with_capacity(1024);
        let mut phase = Phase::Setup;
        self.fill_setup();
        let mut setup_time = Duration::ZERO;
        let mut run_start = Instant::now();
        let mut issued: u64 = 0;
        let mut drain_deadline = Instant::now();
        loop {
            let now = Instant::now();
            match phase {
                Phase::Setup => {
                    let idle = self.setup_ops.is_empty()
                        && self.conns.iter().all(|c| c.inflight.is_empty() || c.dead);
                    if idle {
                        setup_time = setup_started.elapsed();
                        barrier.wait();
                        run_start = Instant::now();
                        self.measure_start = run_start + self.warmup;
                        self.measure_end = self.measure_start + self.duration;
                        phase = Phase::Running;
                        if self.rate.is_none() {
                            for c in 0..self.measured {
                                self.fill_closed(c, run_start);
                            }
                        }
                        continue;
                    }
                }
                Phase::Running => {
                    if now >= self.measure_end {
                        phase = Phase::Draining;
                        drain_deadline = now + Duration::from_secs(2);
                        continue;
                    }
                    if let Some(rate) = self.rate {
                        let due = (now.duration_since(run_start).as_secs_f64() * rate) as u64;
                        while issued < due {
                            issued += 1;
                            self.send_open(now);
                        }
                    }
                }
                Phase::Draining => {
                    let idle = self.conns.iter().all(|c| c.inflight.is_empty() || c.dead);
                    if idle || now >= drain_deadline {
                        break;
                    }
                }
            }
            if self.conns.iter().all(|c| c.dead) {
                break;
            }
            let timeout = match (phase, self.rate) {
                (Phase::Running, Some(rate)) => {
                    let next = run_start + Duration::from_secs_f64((issued + 1) as f64 / rate);
                    next.saturating_duration_since(now)
                        .min(self.measure_end.saturating_duration_since(now))
                }
                (Phase::Running, None) => self.measure_end.saturating_duration_since(now),
                _ => Duration::from_millis(50),
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let c = ev.token().0;
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(c, phase);
                }
                if ev.is_writable() {
                    self.flush(c);
                }
            }
        }
        let measured = self
            .measure_end
            .saturating_duration_since(self.measure_start);
        Ok(RunResult {
            recorder: self.recorder,
            setup: self.setup,
            setup_time,
            measured,
        })
    }

    /// Sends setup operations (round robin over the measured connections, or on the
    /// connection they name), up to the pipeline depth of each connection.
    fn fill_setup(&mut self) {
        let now = Instant::now();
        let mut rest = VecDeque::new();
        let mut c = 0;
        while let Some((target, op)) = self.setup_ops.pop_front() {
            let conn = match target {
                Some(t) => t,
                None => {
                    c = (c + 1) % self.measured;
                    c
                }
            };
            if self.conns[conn].inflight.len() >= self.pipeline || self.conns[conn].dead {
                rest.push_back((target, op));
                if target.is_none() && rest.len() >= self.measured * 2 {
                    // every measured connection is full: the rest waits for replies
                    break;
                }
                continue;
            }
            self.enqueue(conn, op, now, true);
        }
        rest.append(&mut self.setup_ops);
        self.setup_ops = rest;
        for c in 0..self.conns.len() {
            self.flush(c);
        }
    }

    fn fill_closed(&mut self, c: usize, now: Instant) {
        while self.conns[c].inflight.len() < self.pipeline && !self.conns[c].dead {
            let op = self.gen.next();
            self.enqueue(c, op, now, false);
        }
        self.flush(c);
    }

    /// One open-loop request on the next connection with room.
    fn send_open(&mut self, now: Instant) {
        let n = self.measured;
        for _ in 0..n {
            let c = self.rr % n;
            self.rr += 1;
            if !self.conns[c].dead && self.conns[c].inflight.len() < OPEN_LOOP_MAX_OUTSTANDING {
                let op = self.gen.next();
                self.enqueue(c, op, now, false);
                self.flush(c);
                return;
            }
        }
        let op = self.gen.next();
        if now >= self.measure_start {
            self.recorder.error(op.kind(), "client backlog full");
        }
    }

    fn enqueue(&mut self, c: usize, op: Op, now: Instant, setup: bool) {
        let conn = &mut self.conns[c];
        let id = conn.next_id;
        conn.next_id += 1;
        match self.protocol {
            Protocol::Http => write_http(op, &self.naming, &self.host, &mut conn.out),
            Protocol::Native => write_native(op, id, &self.naming, &mut conn.out),
            Protocol::Grpc => unreachable!("the gRPC load has an engine of its own"),
        }
        conn.inflight.push_back(Pending {
            id,
            sent: now,
            kind: op.kind(),
            setup,
        });
    }

    fn flush(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        while conn.out_pos < conn.out.len() && !conn.dead {
            match conn.stream.write(&conn.out[conn.out_pos..]) {
                Ok(0) => conn.dead = true,
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => conn.dead = true,
            }
        }
        if conn.out_pos == conn.out.len() {
            conn.out.clear();
            conn.out_pos = 0;
        }
        if conn.dead {
            self.fail_all(c, "connection lost");
        }
    }

    fn fail_all(&mut self, c: usize, why: &str) {
        let now = Instant::now();
        let pending: Vec<Pending> = self.conns[c].inflight.drain(..).collect();
        for p in pending {
            if p.setup {
                self.setup.error(p.kind);
            } else if now >= self.measure_start && p.sent >= self.measure_start {
                self.recorder.error(p.kind, why);
            }
        }
    }

    fn read(&mut self, c: usize, phase: Phase) {
        loop {
            let conn = &mut self.conns[c];
            if conn.dead {
                return;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    conn.dead = true;
                    self.fail_all(c, "connection closed by server");
                    return;
                }
                Ok(n) => {
                    match self.protocol {
                        Protocol::Http => conn.inbuf.extend_from_slice(&self.scratch[..n]),
                        Protocol::Native => conn.decoder.extend(&self.scratch[..n]),
                        Protocol::Grpc => unreachable!("the gRPC load has an engine of its own"),
                    }
                    let now = Instant::now();
                    if let Err(e) = self.process(c, now) {
                        self.conns[c].dead = true;
                        self.fail_all(c, &e);
                        return;
                    }
                    if phase == Phase::Running
                        && now < self.measure_end
                        && self.rate.is_none()
                        && c < self.measured
                    {
                        self.fill_closed(c, now);
                    } else if phase == Phase::Setup {
                        self.fill_setup();
                    } else {
                        self.flush(c);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.conns[c].dead = true;
                    self.fail_all(c, "read failed");
                    return;
                }
            }
        }
    }

    /// Handles every complete response buffered on connection `c`.
    fn process(&mut self, c: usize, now: Instant) -> Result<(), String> {
        match self.protocol {
            Protocol::Http => {
                let mut pos = 0;
                loop {
                    let conn = &mut self.conns[c];
                    let Some(resp) = parse_http_response(&conn.inbuf[pos..])? else {
                        break;
                    };
                    let p = conn
                        .inflight
                        .pop_front()
                        .ok_or("a response to no request")?;
                    let body = &conn.inbuf[pos + resp.body.0..pos + resp.body.1];
                    let ok =
                        resp.status == 200 && (p.kind != OpKind::Beat || contains(body, b"10200"));
                    pos += resp.len;
                    let why = if resp.status != 200 {
                        status_reason(resp.status)
                    } else {
                        "beat of an unknown instance"
                    };
                    self.complete(p, ok, why, now);
                }
                self.conns[c].inbuf.drain(..pos);
            }
            Protocol::Native => loop {
                let conn = &mut self.conns[c];
                match next_native(&mut conn.decoder)? {
                    None => break,
                    Some(NativeEvent::Reply { id, ok }) => {
                        let i = conn
                            .inflight
                            .iter()
                            .position(|p| p.id == id)
                            .ok_or("a reply to no request")?;
                        let p = conn.inflight.remove(i).expect("position is valid");
                        self.complete(p, ok, "error reply", now);
                    }
                    Some(NativeEvent::Probe) => conn.out.extend_from_slice(&probe_ack()),
                    Some(NativeEvent::Push) => {}
                }
            },
            Protocol::Grpc => unreachable!("the gRPC load has an engine of its own"),
        }
        Ok(())
    }

    fn complete(&mut self, p: Pending, ok: bool, why: &str, now: Instant) {
        if p.setup {
            if ok {
                self.setup.ok(p.kind);
            } else {
                self.setup.error(p.kind);
            }
            return;
        }
        if now < self.measure_start || now >= self.measure_end || p.sent < self.measure_start {
            return;
        }
        if ok {
            self.recorder
                .record(p.kind, now.duration_since(p.sent).as_nanos() as u64);
        } else {
            self.recorder.error(p.kind, why);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400..=499 => "HTTP 4xx",
        500..=599 => "HTTP 5xx",
        _ => "HTTP status not 200",
    }
}

/// Most instances one native holder connection publishes (the server's default
/// `max_instances_per_client` is 512).
const HOLDER_INSTANCES: u64 = 500;

/// The setup operations of thread `t` of `threads`, each with the holder connection it must
/// go on (numbered from 0), if any.
fn setup_ops(spec: &LoadSpec, t: u64, threads: u64) -> VecDeque<(Option<usize>, Op)> {
    let w = &spec.workload;
    let mut ops = VecDeque::new();
    let needs_lists = matches!(w.kind, WorkloadKind::List | WorkloadKind::Mixed);
    let needs_beats = matches!(w.kind, WorkloadKind::Beat | WorkloadKind::Mixed);
    match spec.protocol {
        Protocol::Http => {
            if needs_lists || needs_beats {
                ops.extend(
                    (t..w.preload)
                        .step_by(threads as usize)
                        .map(|n| (None, Op::Register(n))),
                );
            }
        }
        Protocol::Native => {
            // Instances of a native client live as long as its connection, and one client
            // publishes a bounded number: preload lists on extra holder connections that stay
            // open for the run, one batch per service.
            if needs_lists {
                let per_service = w.preload.div_ceil(w.services).max(1);
                let services_per_holder = (HOLDER_INSTANCES / per_service).max(1);
                for (i, s) in (t..w.services).step_by(threads as usize).enumerate() {
                    ops.push_back((
                        Some((i as u64 / services_per_holder) as usize),
                        Op::BatchRegister {
                            service: s,
                            first: s,
                            step: w.services,
                            count: per_service as u32,
                        },
                    ));
                }
            }
        }
        Protocol::Grpc => {}
    }
    ops
}
