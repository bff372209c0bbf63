//! What the load generator sends and how it reads the answers: the Nacos v1 HTTP API
//! (HTTP/1.1, keep-alive, pipelined) and the native protocol (`distro_core::wire` frames).

use crate::fixtures::{ip_of, port_of};
use distro_core::wire::{decode_payload, encode_frame, ClientMsg, FrameDecoder, ServerMsg};
use distro_core::{Instance, Reply, Request, RequestId, ServiceKey};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// Which protocol a load speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Nacos v1 HTTP API (any Nacos-compatible server).
    Http,
    /// distro's native framed protocol (distrod only).
    Native,
    /// Nacos 2.x gRPC on the client port (distrod, r-nacos, Nacos).
    Grpc,
}

/// The kind of an operation, for per-kind figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Register an instance.
    Register,
    /// Beat an instance (HTTP), or ping the connection (native keep-alive).
    Beat,
    /// List a service's instances.
    List,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 3] = [OpKind::Register, OpKind::Beat, OpKind::List];

    /// Index into per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Register => "register",
            OpKind::Beat => "beat",
            OpKind::List => "list",
        }
    }
}

/// One operation of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Register instance number `n` (address [`ip_of`]`(n)`, [`port_of`]`(n)`) into service
    /// `n % services`.
    Register(u64),
    /// Beat instance number `n` (native: a ping).
    Beat(u64),
    /// List service number `s`.
    List(u64),
    /// Native only: register instances `first, first + step, ...` (`count` of them) into
    /// service `service` in one request (used to preload lists over the native protocol).
    BatchRegister {
        /// Service number.
        service: u64,
        /// First instance number.
        first: u64,
        /// Distance between instance numbers.
        step: u64,
        /// How many.
        count: u32,
    },
}

impl Op {
    /// The kind it is counted as.
    pub fn kind(self) -> OpKind {
        match self {
            Op::Register(_) | Op::BatchRegister { .. } => OpKind::Register,
            Op::Beat(_) => OpKind::Beat,
            Op::List(_) => OpKind::List,
        }
    }
}

/// Names of services: `{prefix}-{s}`.
#[derive(Clone, Debug)]
pub struct Naming {
    /// Service name prefix.
    pub prefix: String,
    /// Number of services instances are spread over.
    pub services: u64,
    keys: Vec<ServiceKey>,
}

impl Naming {
    /// Services `{prefix}-0 .. {prefix}-{services - 1}`.
    pub fn new(prefix: &str, services: u64) -> Naming {
        let services = services.max(1);
        Naming {
            prefix: prefix.to_string(),
            services,
            keys: (0..services)
                .map(|s| ServiceKey::parse(None, None, &format!("{prefix}-{s}")))
                .collect(),
        }
    }

    /// The service of instance `n`.
    pub fn service_of(&self, n: u64) -> u64 {
        n % self.services
    }

    /// The key of service `s`.
    pub fn key(&self, s: u64) -> &ServiceKey {
        &self.keys[(s % self.services) as usize]
    }
}

/// Appends the HTTP/1.1 request of `op` to `out`.
pub fn write_http(op: Op, naming: &Naming, host: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = match op {
        Op::Register(n) | Op::BatchRegister { first: n, .. } => write!(
            out,
            "POST /nacos/v1/ns/instance?serviceName={}-{}&ip={}&port={}&ephemeral=true&weight=1.0&enabled=true&healthy=true HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n",
            naming.prefix,
            naming.service_of(n),
            ip_of(n),
            port_of(n)
        ),
        Op::Beat(n) => write!(
            out,
            "PUT /nacos/v1/ns/instance/beat?serviceName={}-{}&ip={}&port={} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n",
            naming.prefix,
            naming.service_of(n),
            ip_of(n),
            port_of(n)
        ),
        Op::List(s) => write!(
            out,
            "GET /nacos/v1/ns/instance/list?serviceName={}-{}&healthyOnly=false HTTP/1.1\r\nHost: {host}\r\n\r\n",
            naming.prefix,
            s % naming.services
        ),
    };
}

/// One complete HTTP response at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Bytes it takes (head and body).
    pub len: usize,
    /// Where its body starts and ends (for a chunked body, the raw chunked bytes).
    pub body: (usize, usize),
}

/// Parses one response from the start of `buf`: `Ok(None)` until it is complete.
pub fn parse_http_response(buf: &[u8]) -> Result<Option<HttpResponse>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad response: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_length = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|e| e.to_string())?;
            content_length = Some(v.trim().parse::<usize>().map_err(|e| e.to_string())?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"));
        }
    }
    if chunked {
        return Ok(chunked_len(&buf[head..])?.map(|body| HttpResponse {
            status,
            len: head + body,
            body: (head, head + body),
        }));
    }
    let body = content_length.unwrap_or(0);
    if buf.len() < head + body {
        return Ok(None);
    }
    Ok(Some(HttpResponse {
        status,
        len: head + body,
        body: (head, head + body),
    }))
}

/// Length of a complete chunked body at the start of `buf`, trailers included.
fn chunked_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut pos = 0;
    loop {
        let Some(eol) = find_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[pos..pos + eol]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size: {e}"))?;
        pos += eol + 2;
        if size == 0 {
            // trailers, then an empty line
            loop {
                let Some(eol) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        pos += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// Appends the native frame of `op` with request id `id` to `out`.
pub fn write_native(op: Op, id: u64, naming: &Naming, out: &mut Vec<u8>) {
    let request = match op {
        Op::Register(n) => Request::Register {
            service: naming.key(naming.service_of(n)).clone(),
            instance: Instance::new(&ip_of(n), port_of(n)),
        },
        Op::BatchRegister {
            service,
            first,
            step,
            count,
        } => Request::BatchRegister {
            service: naming.key(service).clone(),
            instances: (0..u64::from(count))
                .map(|i| {
                    let n = first + i * step;
                    Instance::new(&ip_of(n), port_of(n))
                })
                .collect(),
        },
        Op::Beat(_) => Request::Ping,
        Op::List(s) => Request::List {
            service: naming.key(s).clone(),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: None,
        },
    };
    let frame = encode_frame(&ClientMsg::Request {
        id: RequestId(id),
        request,
    });
    out.extend_from_slice(&frame);
}

/// What a native connection received.
#[derive(Debug, PartialEq, Eq)]
pub enum NativeEvent {
    /// The answer to request `id`.
    Reply {
        /// Request id.
        id: u64,
        /// Whether it is a success.
        ok: bool,
    },
    /// A keep-alive probe: answer with [`probe_ack`].
    Probe,
    /// A push (ignored by the load).
    Push,
}

/// The next native event buffered in `decoder`.
pub fn next_native(decoder: &mut FrameDecoder) -> Result<Option<NativeEvent>, String> {
    let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let msg: ServerMsg = decode_payload(&frame).map_err(|e| e.to_string())?;
    Ok(Some(match msg {
        ServerMsg::Reply { id, reply } => NativeEvent::Reply {
            id: id.0,
            ok: !matches!(reply, Reply::Error(_)),
        },
        ServerMsg::Probe => NativeEvent::Probe,
        ServerMsg::Push(_) => NativeEvent::Push,
    }))
}

/// The frame answering a probe.
pub fn probe_ack() -> bytes::Bytes {
    encode_frame(&ClientMsg::ProbeAck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_parse_with_length_and_chunked_bodies() {
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 X\r\n";
        let r = parse_http_response(a).unwrap().unwrap();
        assert_eq!((r.status, r.len), (200, 40));
        assert_eq!(&a[r.body.0..r.body.1], b"ok");
        assert_eq!(parse_http_response(&a[r.len..]).unwrap(), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        let r = parse_http_response(c).unwrap().unwrap();
        assert_eq!(r.len, c.len());
        assert_eq!(parse_http_response(&c[..c.len() - 1]).unwrap(), None);
    }

    #[test]
    fn http_requests_parse_on_the_server_side() {
        let naming = Naming::new("t", 10);
        let limits = distro_core::Limits::default();
        for op in [Op::Register(77), Op::Beat(77), Op::List(3)] {
            let mut out = Vec::new();
            write_http(op, &naming, "127.0.0.1:1", &mut out);
            let (req, used) = distro_core::http::parse_request(&out, &limits)
                .unwrap()
                .unwrap();
            assert_eq!(used, out.len());
            let request = distro_core::http::to_request(
                &req,
                None,
                &distro_core::http::ApiOptions::default(),
                &limits,
            )
            .unwrap();
            match (op, request) {
                (Op::Register(_), Request::Register { service, instance }) => {
                    assert_eq!(&*service.name, "t-7");
                    assert_eq!(&*instance.ip, "10.0.0.77");
                }
                (Op::Beat(_), Request::Beat { ip, .. }) => assert_eq!(&*ip, "10.0.0.77"),
                (Op::List(_), Request::List { service, .. }) => assert_eq!(&*service.name, "t-3"),
                other => panic!("{other:?}"),
            }
        }
    }
}
