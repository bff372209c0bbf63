//! A launcher of real registry processes on loopback, and the clients tests talk to them with.
//!
//! [`Cluster::start`] starts `n` processes of any runtime binary that takes the `distrod`
//! command line (`--http`, `--members`, `--timing`, ...). Each member's HTTP port is chosen so
//! that the ports +1000 (native) and +1001 (peer) are free too; the launcher waits for every
//! `distrod listening http=… native=… peer=… udp=…` line on stderr and takes the addresses from
//! it. Each process's stderr goes to a file under `target/conformance-logs/`; when the thread
//! that owns the cluster panics (a failed scenario), the tail of every log is printed and the
//! files are kept (after a success they are removed, unless `DISTRO_KEEP_LOGS` is set).
//!
//! ```no_run
//! use distro_testkit::cluster::Cluster;
//! let bin = std::path::Path::new("target/debug/distrod");
//! let mut c = Cluster::start(bin, 3, &["--timing", "verify_interval=1000"]);
//! let r = c.http(0, "POST", "/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80");
//! assert_eq!((r.status, r.body.as_str()), (200, "ok"));
//! c.kill9(2);
//! c.restart(2);
//! ```
//!
//! The clients: [`http`] (blocking HTTP/1.1 over `std::net`), [`NativeClient`] (the native
//! protocol spoken with [`distro_core::wire`]) and [`UdpSubscriber`] (v1 UDP pushes and acks).

mod grpc;
pub mod http;
mod native;
mod proxy;
mod udp;

pub use grpc::{grpc_message, grpc_message_with, GrpcClient};
pub use http::{HttpConn, Response};
pub use native::NativeClient;
pub use udp::{UdpPush, UdpSubscriber};

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a process may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped process may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at starting a cluster whose ports were taken meanwhile by someone else.
const START_ATTEMPTS: usize = 5;
/// Lines of each log printed when a scenario fails.
const TAIL_LINES: usize = 60;
/// HTTP ports are drawn from here; +1001 stays below Linux's ephemeral range (32768).
const PORT_RANGE: std::ops::Range<u32> = 11_000..31_700;

/// Ports handed out by this process, so that two clusters of one test binary never share one.
static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
/// Numbers log files and seeds the port choice.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The server under test: a runtime binary that takes the `distrod` command line, and how many
/// shards (members) each of its processes runs.
#[derive(Clone, Debug)]
pub struct Target {
    /// The binary.
    pub bin: PathBuf,
    /// `Some(n)`: start every process with `--shards n` (a thread-per-core runtime); `None`:
    /// a runtime of one member per process, started without the flag.
    pub shards: Option<u16>,
}

impl Target {
    /// A single-member-per-process binary (`distrod`).
    pub fn new(bin: &Path) -> Self {
        Target {
            bin: bin.to_path_buf(),
            shards: None,
        }
    }

    /// A binary whose processes run `shards` shards each (`distrod-glommio --shards n`).
    pub fn sharded(bin: &Path, shards: u16) -> Self {
        Target {
            bin: bin.to_path_buf(),
            shards: Some(shards),
        }
    }

    /// Members each process counts for.
    pub fn shards_per_process(&self) -> usize {
        usize::from(self.shards.unwrap_or(1))
    }

    /// A command running the binary, with `--shards` when the target has shards.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        if let Some(n) = self.shards {
            cmd.arg("--shards").arg(n.to_string());
        }
        cmd
    }
}

impl From<&Path> for Target {
    fn from(bin: &Path) -> Self {
        Target::new(bin)
    }
}

impl From<&Target> for Target {
    fn from(t: &Target) -> Self {
        t.clone()
    }
}

/// One member process.
struct Member {
    target: Target,
    /// Arguments of this member's next starts in place of the cluster's extra arguments.
    args: Option<Vec<String>>,
    http: SocketAddr,
    native: SocketAddr,
    peer: SocketAddr,
    udp: Option<SocketAddr>,
    child: Option<Child>,
    log: PathBuf,
}

/// `n` registry processes forming one cluster (or a standalone member when `n` is 1).
pub struct Cluster {
    target: Target,
    extra: Vec<String>,
    members_arg: String,
    members: Vec<Member>,
    /// With [`Cluster::start_partitionable`]: a proxy for every directed peer link
    /// (from process, to process, proxy).
    proxies: Vec<(usize, usize, proxy::LinkProxy)>,
}

impl Cluster {
    /// Starts `n` members of `binary` on free loopback ports, each with `--http`, `--members`
    /// (unless `n` is 1) and `extra_args`, and waits until every one printed its ready line.
    /// Panics with the logs if a member does not start.
    pub fn start(target: impl Into<Target>, n: usize, extra_args: &[&str]) -> Cluster {
        Self::start_among(target, n, &[], extra_args)
    }

    /// [`Cluster::start`], with `others` (member ids, `ip:port`) added to the member list:
    /// members that are not processes of this cluster, e.g. a fake member listening on a port
    /// from [`free_http_port`] + 1001.
    pub fn start_among(
        target: impl Into<Target>,
        n: usize,
        others: &[String],
        extra_args: &[&str],
    ) -> Cluster {
        Self::start_processes(&[target.into()], n, others, extra_args, false)
    }

    /// A cluster of one process per target (a mixed cluster: e.g. `distrod` and
    /// `distrod-glommio --shards 2`).
    pub fn start_mixed(targets: &[Target], extra_args: &[&str]) -> Cluster {
        Self::start_processes(targets, targets.len(), &[], extra_args, false)
    }

    /// [`Cluster::start`] with every peer link through a proxy of the testkit's
    /// (`--peer-address`), so that [`Cluster::partition`] can cut a process off the network.
    pub fn start_partitionable(
        target: impl Into<Target>,
        n: usize,
        extra_args: &[&str],
    ) -> Cluster {
        Self::start_processes(&[target.into()], n, &[], extra_args, true)
    }

    /// Cuts process `i` off from every other (its peer links blackholed both ways, as a
    /// network link that went down), or heals it (the connections of the outage break, the
    /// links reconnect). Client ports stay reachable.
    pub fn partition(&self, i: usize, cut: bool) {
        assert!(
            !self.proxies.is_empty(),
            "start the cluster with start_partitionable"
        );
        for (from, to, p) in &self.proxies {
            if *from == i || *to == i {
                p.set_cut(cut);
            }
        }
    }

    fn start_processes(
        targets: &[Target],
        n: usize,
        others: &[String],
        extra_args: &[&str],
        proxied: bool,
    ) -> Cluster {
        let target = targets[0].clone();
        let binary = target.bin.clone();
        let binary = binary.as_path();
        let shards = targets
            .iter()
            .map(Target::shards_per_process)
            .max()
            .unwrap_or(1);
        assert!(n > 0, "a cluster needs a member");
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let ports = pick_http_ports(n, shards);
            let members_arg = ports
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .chain(others.iter().cloned())
                .collect::<Vec<_>>()
                .join(",");
            let mut cluster = Cluster {
                target: target.clone(),
                extra: extra_args.iter().map(|s| s.to_string()).collect(),
                members_arg,
                members: Vec::new(),
                proxies: Vec::new(),
            };
            for (i, port) in ports.iter().enumerate() {
                let http: SocketAddr = ([127, 0, 0, 1], *port).into();
                let member = Member {
                    target: targets[i % targets.len()].clone(),
                    args: None,
                    http,
                    native: SocketAddr::new(http.ip(), port + 1000),
                    peer: SocketAddr::new(http.ip(), port + 1001),
                    udp: None,
                    child: None,
                    log: log_path(binary, i),
                };
                cluster.members.push(member);
            }
            if proxied {
                cluster.add_proxies();
            }
            for i in 0..n {
                cluster.spawn(i);
            }
            let mut failed = None;
            for i in 0..n {
                if let Err(e) = cluster.await_ready(i) {
                    failed = Some(e);
                    break;
                }
            }
            match failed {
                None => return cluster,
                Some(Started::BindFailed(log)) => last_failure = log,
                Some(Started::Failed(msg)) => {
                    cluster.kill_all();
                    panic!("{msg}");
                }
            }
            cluster.kill_all();
        }
        panic!("could not find free ports in {START_ATTEMPTS} attempts; last log:\n{last_failure}");
    }

    /// A proxy for every directed link between members (each shard of the receiver), and the
    /// `--peer-address` arguments that route the senders through them.
    fn add_proxies(&mut self) {
        for i in 0..self.members.len() {
            let mut args = self.extra.clone();
            for j in (0..self.members.len()).filter(|j| *j != i) {
                let to = &self.members[j];
                for k in 0..to.target.shards_per_process() as u16 {
                    let upstream = SocketAddr::new(to.peer.ip(), to.peer.port() + k);
                    let p = proxy::LinkProxy::start(upstream).expect("a link proxy");
                    let id = distro_core::MemberId::of_shard(&to.http.to_string(), k);
                    args.push("--peer-address".into());
                    args.push(format!("{id}={}", p.addr));
                    self.proxies.push((i, j, p));
                }
            }
            self.members[i].args = Some(args);
        }
    }

    /// Number of member processes.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Replaces the extra arguments of process `i` for its next [`Cluster::restart`].
    pub fn set_args(&mut self, i: usize, args: &[&str]) {
        self.members[i].args = Some(args.iter().map(|s| s.to_string()).collect());
    }

    /// The extra arguments every process was started with.
    pub fn extra_args(&self) -> &[String] {
        &self.extra
    }

    /// Number of members: every process's shards.
    pub fn members_total(&self) -> usize {
        self.members
            .iter()
            .map(|m| m.target.shards_per_process())
            .sum()
    }

    /// The server under test (of process 0, in a mixed cluster).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The server process `i` runs.
    pub fn target_of(&self, i: usize) -> &Target {
        &self.members[i].target
    }

    /// Whether the cluster has no member (never: [`Cluster::start`] needs one).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member list given with `--members` (`ip:port,...`, member ids are HTTP addresses).
    pub fn members_arg(&self) -> &str {
        &self.members_arg
    }

    /// Member `i`'s HTTP address, which is also its member id.
    pub fn http_addr(&self, i: usize) -> SocketAddr {
        self.members[i].http
    }

    /// Member `i`'s native client protocol address.
    pub fn native_addr(&self, i: usize) -> SocketAddr {
        self.members[i].native
    }

    /// Member `i`'s peer protocol address.
    pub fn peer_addr(&self, i: usize) -> SocketAddr {
        self.members[i].peer
    }

    /// Member `i`'s UDP push socket, as its ready line reported it.
    pub fn udp_addr(&self, i: usize) -> Option<SocketAddr> {
        self.members[i].udp
    }

    /// The index of the process whose HTTP address is `id`'s (a shard `ip:port/k` is one of
    /// the process at `ip:port`).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let process = distro_core::MemberId::new(id);
        let process = process.machine();
        self.members
            .iter()
            .position(|m| m.http.to_string() == process)
    }

    /// Whether member `i`'s process is running.
    pub fn is_running(&mut self, i: usize) -> bool {
        match &mut self.members[i].child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Member `i`'s whole stderr so far (every run of it, restarts included).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    /// Path of member `i`'s stderr log.
    pub fn log_path(&self, i: usize) -> &Path {
        &self.members[i].log
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`, ...) to member `i` with kill(1).
    pub fn signal(&self, i: usize, sig: &str) {
        let child = self.members[i].child.as_ref().expect("member is running");
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits up to `timeout` for member `i` to exit; panics (with its log) if it does not.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.members[i].child.as_mut().expect("member was started");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.members[i].child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "member {i} did not exit within {timeout:?}; log:\n{}",
                    tail(&self.log(i), TAIL_LINES)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops member `i` with SIGTERM and checks that it exits with status 0.
    pub fn stop(&mut self, i: usize) {
        self.signal(i, "TERM");
        let status = self.wait_exit(i, EXIT_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(0),
            "member {i} stopped with {status}; log:\n{}",
            tail(&self.log(i), TAIL_LINES)
        );
    }

    /// Kills member `i` with SIGKILL and reaps it.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again with the same command line (after [`Cluster::stop`] or
    /// [`Cluster::kill9`]) and waits for its ready line.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.is_running(i), "member {i} is still running");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.spawn(i);
            match self.await_ready(i) {
                Ok(()) => return,
                // The old process's sockets may linger for a moment on some runtimes.
                Err(Started::BindFailed(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(Started::BindFailed(msg)) | Err(Started::Failed(msg)) => panic!("{msg}"),
            }
        }
    }

    /// One HTTP request to member `i` on a fresh connection (see [`http::request`]).
    pub fn http(&self, i: usize, method: &str, target: &str) -> Response {
        http::request(self.members[i].http, method, target)
    }

    /// A counter or gauge of process `i`'s `GET /metrics` (Prometheus text): `name` without
    /// the `distro_` prefix and `_total` suffix, e.g. `forwards`, summed over the process's
    /// shards. Each shard answers for itself (`distro_member_info` names it), so the metrics
    /// are read on fresh connections until every shard answered once. Panics if it is absent.
    pub fn metric(&self, i: usize, name: &str) -> u64 {
        let counter = format!("distro_{name}_total ");
        let gauge = format!("distro_{name} ");
        let mut by_shard = std::collections::BTreeMap::new();
        for _ in 0..200 {
            let r = self.http(i, "GET", "/metrics");
            assert_eq!(r.status, 200, "GET /metrics: {}", r.body);
            let member = r
                .body
                .lines()
                .find_map(|l| l.strip_prefix("distro_member_info{member=\""))
                .and_then(|l| l.split('"').next())
                .unwrap_or("")
                .to_string();
            let value: u64 = r
                .body
                .lines()
                .find_map(|l| l.strip_prefix(&counter).or_else(|| l.strip_prefix(&gauge)))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no metric {name} in:\n{}", r.body));
            by_shard.insert(member, value);
            if by_shard.len() >= self.members[i].target.shards_per_process() {
                break;
            }
        }
        by_shard.values().sum()
    }

    /// Starts member `i`'s process, its stderr appended to its log.
    fn spawn(&mut self, i: usize) {
        let m = &self.members[i];
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .unwrap_or_else(|e| panic!("open log {}: {e}", m.log.display()));
        let _ = writeln!(log, "==== testkit: starting member {i} ({})", m.http);
        let mut cmd = m.target.command();
        cmd.arg("--http").arg(m.http.to_string());
        if self.members_arg.contains(',') {
            cmd.arg("--members").arg(&self.members_arg);
        }
        cmd.args(m.args.as_ref().unwrap_or(&self.extra))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", m.target.bin.display()));
        self.members[i].child = Some(child);
    }

    /// Waits for member `i`'s ready line (in the part of its log written by this run).
    fn await_ready(&mut self, i: usize) -> Result<(), Started> {
        let path = self.members[i].log.clone();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let this_run = text
                .rfind("==== testkit: starting member")
                .map_or(text.as_str(), |at| &text[at..]);
            // Only a whole line counts: the process may still be writing it.
            let complete = &this_run[..this_run.rfind('\n').map_or(0, |n| n + 1)];
            if let Some(line) = complete
                .lines()
                .find(|l| l.starts_with("distrod listening "))
            {
                let m = &mut self.members[i];
                let addr = |key: &str| -> Option<SocketAddr> {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .and_then(|a| a.parse().ok())
                };
                assert_eq!(addr("http="), Some(m.http), "ready line: {line}");
                m.native = addr("native=").unwrap_or(m.native);
                m.peer = addr("peer=").unwrap_or(m.peer);
                m.udp = addr("udp=");
                return Ok(());
            }
            let child = self.members[i].child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.members[i].child = None;
                let msg = format!(
                    "member {i} exited with {status} before it was ready; log {}:\n{}",
                    path.display(),
                    tail(this_run, TAIL_LINES)
                );
                return Err(if this_run.contains("cannot bind") {
                    Started::BindFailed(msg)
                } else {
                    Started::Failed(msg)
                });
            }
            if Instant::now() > deadline {
                return Err(Started::Failed(format!(
                    "member {i} printed no ready line within {READY_TIMEOUT:?}; log:\n{}",
                    tail(this_run, TAIL_LINES)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_all(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}

/// Why a member did not start.
enum Started {
    /// Its socket was taken (by another test or user): try other ports.
    BindFailed(String),
    /// Anything else: a failure of the scenario.
    Failed(String),
}

impl Drop for Cluster {
    /// Kills every member. After a failure (the thread is panicking) prints the tail of each
    /// log and keeps the files; after a success removes them unless `DISTRO_KEEP_LOGS` is set.
    fn drop(&mut self) {
        self.kill_all();
        let failed = std::thread::panicking();
        let keep = failed || std::env::var_os("DISTRO_KEEP_LOGS").is_some();
        for (i, m) in self.members.iter().enumerate() {
            if failed {
                let text = std::fs::read_to_string(&m.log).unwrap_or_default();
                eprintln!(
                    "---- member {i} ({}) log {} (last {TAIL_LINES} lines):\n{}",
                    m.http,
                    m.log.display(),
                    tail(&text, TAIL_LINES)
                );
            }
            if !keep {
                let _ = std::fs::remove_file(&m.log);
            }
        }
    }
}

/// Polls `check` every 25 ms until it returns `Ok`, at most `timeout`; panics with `what` and
/// the last error otherwise. Scenarios wait with this, never with fixed sleeps.
#[track_caller]
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A loopback HTTP port whose +1000 and +1001 are free too, never handed out before by this
/// process (for a fake member, or a second cluster's member list).
pub fn free_http_port() -> u16 {
    pick_http_ports(1, 1)[0]
}

/// `n` HTTP ports whose +1000 and +1001 (up to +1000 + `shards`, a peer port per shard) are
/// free as well, none handed out before by this process.
fn pick_http_ports(n: usize, shards: usize) -> Vec<u16> {
    // every port a process of up to 8 shards may use, so clusters never overlap
    let offsets: Vec<u16> = std::iter::once(0)
        .chain((1000..=1000 + shards.max(8) as u16).take(shards.max(8) + 1))
        .collect();
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = seed();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let span = (PORT_RANGE.end - PORT_RANGE.start) as u64;
        let p = (PORT_RANGE.start as u64 + rng % span) as u16;
        let ports: Vec<u16> = offsets.iter().map(|o| p + o).collect();
        let used: HashSet<u16> = taken
            .iter()
            .flat_map(|t| offsets.iter().map(move |o| t + o))
            .collect();
        if ports.iter().any(|q| used.contains(q)) {
            continue;
        }
        if ports
            .iter()
            .all(|q| TcpListener::bind(("127.0.0.1", *q)).is_ok())
        {
            taken.push(p);
            out.push(p);
        }
    }
    out
}

/// A seed that differs between processes and calls.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    (nanos ^ (u64::from(std::process::id()) << 20) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// A fresh log file for member `i`: `target/conformance-logs/<test name>-<pid>-<n>-m<i>.log`
/// next to the binary's profile directory (the system temp directory otherwise).
fn log_path(binary: &Path, i: usize) -> PathBuf {
    let dir = binary
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("conformance-logs"))
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .unwrap_or_else(std::env::temp_dir);
    let test = std::thread::current()
        .name()
        .unwrap_or("cluster")
        .rsplit("::")
        .next()
        .unwrap_or("cluster")
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{test}-{}-{n}-m{i}.log", std::process::id()));
    let _ = File::create(&path);
    path
}
