//! The `http` target: v1 HTTP request framing, parameter decoding, the node's answer and its
//! rendering.

use super::{drain, ByteReader};
use crate::http::{
    parse_request, render_error, render_reply, render_udp_push, to_request, ApiOptions,
};
use crate::{Config, ConnId, Input, Limits, Node, Output, PushTarget, Reply, RequestId, Timestamp};
use core::time::Duration;
use std::net::SocketAddr;

/// Status codes `parse_request` may answer with.
const FRAMING_STATUSES: [u16; 3] = [400, 413, 431];
/// Status codes `to_request` may answer with.
const MAPPING_STATUSES: [u16; 3] = [400, 404, 405];

/// Checks that `out` is one well-formed HTTP/1.1 response with a correct `Content-Length` and
/// `Connection` header; returns its status.
fn check_response(out: &[u8], keep_alive: bool) -> u16 {
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut res = httparse::Response::new(&mut headers);
    let head_len = match res.parse(out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "unparsable response {other:?}: {:?}",
            String::from_utf8_lossy(out)
        ),
    };
    let header = |name: &str| {
        res.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| std::str::from_utf8(h.value).expect("ASCII header"))
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("a Content-Length");
    assert_eq!(
        length,
        out.len() - head_len,
        "Content-Length of the response"
    );
    let connection = if keep_alive { "keep-alive" } else { "close" };
    assert_eq!(header("connection"), Some(connection));
    res.code.expect("a status")
}

/// The `http` target; see [`http`](super::http).
pub fn run(data: &[u8]) {
    let mut r = ByteReader::new(data);
    let flags = r.u8();
    let limits = Limits {
        max_http_head: 128 << (flags & 3),
        max_http_body: 64 << ((flags >> 2) & 3),
        ..super::small_limits()
    };
    let opts = ApiOptions {
        push_to_client_ip: flags & 0x10 != 0,
    };
    let peer = (flags & 0x20 != 0).then(|| SocketAddr::from(([192, 0, 2, 7], 40_000)));
    let cfg = Config {
        limits: limits.clone(),
        ..Config::standalone("127.0.0.1:8848")
    };
    let mut node = Node::new(cfg, Timestamp::ZERO);
    let mut now = Timestamp::ZERO;
    let mut buf = r.rest();
    let bound = limits.max_http_head + limits.max_http_body;
    let mut next_id = 0;
    let mut out = Vec::new();
    loop {
        let (req, used) = match parse_request(buf, &limits) {
            Ok(None) => {
                assert!(
                    buf.len() <= bound,
                    "{} bytes held for one request",
                    buf.len()
                );
                return;
            }
            Err(e) => {
                assert!(FRAMING_STATUSES.contains(&e.status), "{e:?}");
                out.clear();
                render_error(&e, false, &mut out);
                assert_eq!(check_response(&out, false), e.status);
                return;
            }
            Ok(Some(parsed)) => parsed,
        };
        assert!(
            used > 0 && used <= buf.len() && used <= bound,
            "used {used}"
        );
        // The request does not depend on what follows it, nor arrive before its last byte.
        assert_eq!(
            parse_request(&buf[..used], &limits),
            Ok(Some((req.clone(), used)))
        );
        for k in [used - 1, used / 2] {
            assert_eq!(parse_request(&buf[..k], &limits), Ok(None), "prefix of {k}");
        }
        // Decoding never makes more than it was given.
        assert!(req.path.len() <= used);
        let param_bytes: usize = req.params.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(param_bytes <= used);
        buf = &buf[used..];

        let reply = match to_request(&req, peer, &opts, &limits) {
            Err(e) => {
                assert!(MAPPING_STATUSES.contains(&e.status), "{e:?}");
                Reply::Error(e)
            }
            Ok(request) => {
                next_id += 1;
                let id = RequestId(next_id);
                now = now.plus(Duration::from_millis(1));
                let input = Input::Request {
                    now,
                    conn: ConnId(1),
                    id,
                    request,
                };
                node.handle_input(input)
                    .expect("a request is never an error");
                let mut replies: Vec<_> = drain(&mut node)
                    .into_iter()
                    .filter_map(|o| match o {
                        Output::Reply { conn, id, reply } => Some((conn, id, reply)),
                        _ => None,
                    })
                    .collect();
                assert_eq!(replies.len(), 1, "one reply per request: {replies:?}");
                let (conn, rid, reply) = replies.pop().expect("one");
                assert_eq!((conn, rid), (ConnId(1), id));
                reply
            }
        };
        out.clear();
        render_reply(&reply, req.keep_alive, now.as_millis(), &mut out);
        check_response(&out, req.keep_alive);

        // Let merged pushes go out, and render them as the host would.
        now = now.plus(Duration::from_millis(100));
        node.handle_input(Input::Timeout(now)).expect("a timeout");
        for o in drain(&mut node) {
            if let Output::Push {
                to: PushTarget::Udp { ack, .. },
                view,
            } = o
            {
                let packet = render_udp_push(&view, ack, now.as_millis());
                if !packet.starts_with(&[0x1f, 0x8b]) {
                    serde_json::from_slice::<serde_json::Value>(&packet).expect("JSON push");
                }
            }
        }
    }
}
