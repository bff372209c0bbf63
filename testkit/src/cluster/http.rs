//! A small blocking HTTP/1.1 client over `std::net::TcpStream`: enough for the Nacos v1 API and
//! for sending a server bytes no real client would.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a request waits for its response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Status line and headers, as received.
    pub head: String,
    /// Body (by `Content-Length`, or to the end of the stream without one), lossily UTF-8.
    pub body: String,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The body parsed as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.body))
    }
}

/// One request on a fresh connection with `Connection: close` (as the Python SDK sends it);
/// `target` is the path and query. Panics if the server cannot be reached or does not answer.
pub fn request(addr: SocketAddr, method: &str, target: &str) -> Response {
    try_request(addr, method, target)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{target}: {e}"))
}

/// [`request`], returning I/O errors instead of panicking.
pub fn try_request(addr: SocketAddr, method: &str, target: &str) -> io::Result<Response> {
    let mut conn = HttpConn::connect(addr)?;
    let length = if matches!(method, "POST" | "PUT" | "PATCH") {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    let req =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{length}Connection: close\r\n\r\n");
    conn.send(req.as_bytes())?;
    conn.read_response()
}

/// A client connection that can send arbitrary bytes and read responses one at a time
/// (keep-alive, pipelining, malformed requests).
pub struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Wraps a connected stream (of any port: the close check works on every protocol).
    pub fn from_stream(stream: TcpStream) -> HttpConn {
        let _ = stream.set_read_timeout(Some(RESPONSE_TIMEOUT));
        HttpConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `method target` (no body) with keep-alive and returns its response.
    pub fn request(&mut self, method: &str, target: &str) -> io::Result<Response> {
        self.send(
            format!("{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        )?;
        self.read_response()
    }

    /// Sends `GET target` with keep-alive and returns its response.
    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
        self.read_response()
    }

    /// Reads the next response (the head, then `Content-Length` bytes of body, or everything
    /// until the server closes when there is no length).
    pub fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full response head: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, format!("bad head {head:?}")))?;
        let mut response = Response {
            status,
            head,
            body: String::new(),
        };
        let length = response
            .header("content-length")
            .map(|v| v.parse::<usize>())
            .transpose()
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        let body_end = match length {
            Some(len) => {
                while self.buf.len() < head_end + len {
                    if self.fill()? == 0 {
                        return Err(io::Error::new(ErrorKind::UnexpectedEof, "body cut short"));
                    }
                }
                head_end + len
            }
            None => {
                while self.fill()? > 0 {}
                self.buf.len()
            }
        };
        response.body = String::from_utf8_lossy(&self.buf[head_end..body_end]).into_owned();
        self.buf.drain(..body_end);
        Ok(response)
    }

    /// Whether the server closes the connection within `timeout`: end of stream or a reset,
    /// after reading (and discarding) anything still sent.
    pub fn closed_by_server(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                return true;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return false
                }
                Err(_) => return true,
            }
        }
    }

    /// The underlying stream (for socket options or a half close).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the server at `addr` closes a connection we open and leave silent within `timeout`.
pub fn silent_connection_closed(addr: SocketAddr, timeout: Duration) -> bool {
    match HttpConn::connect(addr) {
        Ok(mut c) => c.closed_by_server(timeout),
        Err(_) => true,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
