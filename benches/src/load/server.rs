//! Starting servers for a comparison or a propagation run: `distrod` members and r-nacos, on
//! free loopback ports, stopped when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Next port to try.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// An HTTP port `p` such that `p`, `p + 1000`, `p + 1001` and `p + 2000` are free on loopback
/// (the native, peer and r-nacos console ports follow the HTTP port).
pub fn free_http_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        21_000 + (std::process::id() % 500) as u16 * 16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT_PORT.fetch_add(10, Ordering::SeqCst);
        if p > 60_000 {
            NEXT_PORT.store(21_000, Ordering::SeqCst);
            continue;
        }
        if [p, p + 1000, p + 1001, p + 2000]
            .iter()
            .all(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        {
            return p;
        }
    }
}

/// A server process, killed when dropped.
pub struct ServerProc {
    /// Name for reports (`distrod`, `r-nacos`).
    pub name: String,
    /// Its HTTP (Nacos v1) address.
    pub http: SocketAddr,
    /// Its native-protocol address, if it has one.
    pub native: Option<SocketAddr>,
    child: Child,
    data_dir: Option<PathBuf>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.data_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl ServerProc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far, from `/proc`.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        // USER_HZ is 100 on Linux
        Some(Duration::from_millis((utime + stime) * 10))
    }

    /// Resident memory in bytes, from `/proc`.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }
}

/// Starts `distrod` on `127.0.0.1:http_port` as a member of `members` (HTTP ports; empty for
/// standalone), with extra arguments, and waits for its ready line.
pub fn start_distrod(
    bin: &Path,
    http_port: u16,
    members: &[u16],
    extra: &[String],
) -> std::io::Result<ServerProc> {
    let http: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let mut cmd = Command::new(bin);
    cmd.arg("--http").arg(http.to_string());
    if !members.is_empty() {
        let list: Vec<String> = members.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        cmd.arg("--members").arg(list.join(","));
    }
    cmd.args(["--log-level", "warn"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("distrod listening ") {
                let _ = tx.send(());
            } else if std::env::var_os("DISTRO_LOAD_SERVER_LOG").is_some() {
                eprintln!("[distrod {http_port}] {line}");
            }
        }
    });
    let proc = ServerProc {
        name: "distrod".into(),
        http,
        native: Some(([127, 0, 0, 1], http_port + 1000).into()),
        child,
        data_dir: None,
    };
    rx.recv_timeout(Duration::from_secs(15))
        .map_err(|_| std::io::Error::other("distrod did not print its ready line in 15 s"))?;
    Ok(proc)
}

/// Starts r-nacos (`rnacos` binary) standalone on `127.0.0.1:http_port` with a fresh data
/// directory, the console off, bound to loopback, and waits until its HTTP API answers.
pub fn start_rnacos(bin: &Path, http_port: u16) -> std::io::Result<ServerProc> {
    let http: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let dir = std::env::temp_dir().join(format!(
        "distro-load-rnacos-{}-{http_port}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let quiet = std::env::var_os("DISTRO_LOAD_SERVER_LOG").is_none();
    let child = Command::new(bin)
        .current_dir(&dir)
        .env("RNACOS_HTTP_PORT", http_port.to_string())
        .env("RNACOS_GRPC_PORT", (http_port + 1000).to_string())
        .env("RNACOS_HTTP_CONSOLE_PORT", "0")
        .env("RNACOS_SDK_HOST", "127.0.0.1")
        .env("RNACOS_CONSOLE_HOST", "127.0.0.1")
        .env(
            "RNACOS_RAFT_NODE_ADDR",
            format!("127.0.0.1:{}", http_port + 1000),
        )
        .env("RNACOS_DATA_DIR", dir.join("db"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .stderr(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .spawn()?;
    let mut proc = ServerProc {
        name: "r-nacos".into(),
        http,
        native: None,
        child,
        data_dir: Some(dir),
    };
    wait_http(&mut proc, Duration::from_secs(60))?;
    Ok(proc)
}

/// Waits until `GET /nacos/v1/ns/instance/list` answers with any HTTP status.
fn wait_http(proc: &mut ServerProc, timeout: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(std::io::Error::other(format!(
                "{} exited: {status}",
                proc.name
            )));
        }
        if http_get(
            proc.http,
            "/nacos/v1/ns/instance/list?serviceName=ready-probe",
        )
        .is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(std::io::Error::other(format!(
        "{} did not answer HTTP within {timeout:?}",
        proc.name
    )))
}

/// One blocking HTTP/1.1 GET (Connection: close); returns status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    match super::proto::parse_http_response(&buf) {
        Ok(Some(r)) => Ok((r.status, buf[r.body.0..r.body.1].to_vec())),
        _ => Err(std::io::Error::other("incomplete HTTP response")),
    }
}

/// Where a binary is: the given path, else next to this executable, else on `PATH`.
pub fn locate(given: Option<&Path>, name: &str) -> Option<PathBuf> {
    if let Some(p) = given {
        return p.exists().then(|| p.to_path_buf());
    }
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let p = dir.join(name);
            if p.exists() {
                return Some(p);
            }
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}
