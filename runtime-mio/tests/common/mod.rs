//! Starting `distrod` processes on free loopback ports and talking raw HTTP to them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Next HTTP port to try; native and peer ports are +1000 and +1001.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// An HTTP port whose +1000 and +1001 are free too.
pub fn free_http_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        20_000 + (std::process::id() % 400) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT_PORT.fetch_add(10, Ordering::SeqCst);
        assert!(p < 60_000, "ran out of ports");
        let all_free = [p, p + 1000, p + 1001]
            .iter()
            .all(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok());
        if all_free {
            return p;
        }
    }
}

/// A running `distrod`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub http: SocketAddr,
    pub native: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts `distrod --http 127.0.0.1:PORT` plus `extra` args, and waits for its ready line.
    pub fn start(port: u16, extra: &[&str]) -> Daemon {
        let http: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_distrod"))
            .arg("--http")
            .arg(http.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn distrod");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with("distrod listening ") {
                    let _ = ready_tx.send(line.clone());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => assert!(line.contains(&format!("http={http}")), "{line}"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "distrod did not become ready; log:\n{}",
                    log.lock().unwrap()
                );
            }
        }
        Daemon {
            child,
            http,
            native: SocketAddr::new(http.ip(), port + 1000),
            log,
        }
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "distrod did not exit; log:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One HTTP request on a fresh connection; returns (status, body).
    pub fn http(&self, method: &str, path_and_query: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "{method} {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        parse_response(&text)
    }

    /// Polls `GET path` until `pred(body)` holds, at most `timeout`.
    pub fn wait_for(&self, path: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, body) = self.http("GET", path);
            if pred(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "condition not met on {} {path}; last body: {body}\nlog:\n{}",
                self.http,
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, body) of one HTTP/1.1 response text.
pub fn parse_response(text: &str) -> (u16, String) {
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Reads one response (head plus Content-Length body) from a keep-alive connection.
pub fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (status, head, String::from_utf8_lossy(&body).to_string())
}

/// Whether the server closed the connection (EOF within the timeout).
pub fn closed_by_server(s: &mut TcpStream, timeout: Duration) -> bool {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).is_ok()
}
