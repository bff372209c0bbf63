//! What a member does with input no good client sends: it answers or closes, counts, and goes
//! on serving everyone else.

use super::v1::CONVERGE;
use crate::cluster::Target;
use crate::cluster::{wait_until, Cluster, HttpConn, NativeClient};
use distro_core::{Reply, Request};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=bad";
/// How long a member may take to close a connection it should close at once.
const CLOSE_SOON: Duration = Duration::from_secs(5);

/// Asserts that member 0 still answers a list.
fn still_serving(c: &Cluster) {
    assert_eq!(
        c.http(0, "GET", LIST).status,
        200,
        "the member stopped serving"
    );
}

/// Sends `bytes` on a fresh HTTP connection; expects `status` and then a close.
fn expect_status_and_close(c: &Cluster, bytes: &[u8], status: u16) {
    let mut conn = HttpConn::connect(c.http_addr(0)).expect("connect");
    // The member may close before reading everything; a failed write is fine then.
    let _ = conn.send(bytes);
    let r = conn
        .read_response()
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", String::from_utf8_lossy(bytes)));
    assert_eq!(
        r.status,
        status,
        "answer to {:?}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(80)]),
        r.body
    );
    assert!(
        conn.closed_by_server(CLOSE_SOON),
        "the connection must be closed after a {status}"
    );
}

/// Malformed HTTP is answered 400 and the connection closed; the member goes on serving.
pub fn malformed_http_gets_400_and_close(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    expect_status_and_close(&c, b"\x00\x01GARBAGE \xff\r\n\r\n", 400);
    expect_status_and_close(&c, b"GET /a b c d\r\nHost x\r\n\r\n", 400);
    expect_status_and_close(
        &c,
        b"POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    );
    expect_status_and_close(
        &c,
        b"POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        400,
    );
    still_serving(&c);
}

/// A request head over `max_http_head` is answered 431, a body over `max_http_body` 413, and
/// the connection is closed.
pub fn oversized_head_and_body_are_refused(t: &Target) {
    let limits = [
        "--limit",
        "max_http_head=4096",
        "--limit",
        "max_http_body=1000",
    ];
    let c = Cluster::start(t, 1, &limits);
    let big = "a".repeat(8192);
    let head = format!("GET {LIST} HTTP/1.1\r\nX-Big: {big}\r\n\r\n");
    expect_status_and_close(&c, head.as_bytes(), 431);
    let long_url = format!("GET {LIST}&x={big} HTTP/1.1\r\n\r\n");
    expect_status_and_close(&c, long_url.as_bytes(), 431);
    let body = format!(
        "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: 5000\r\n\r\n{}",
        "b".repeat(5000)
    );
    expect_status_and_close(&c, body.as_bytes(), 413);
    // just under the limits is fine
    let fits = format!(
        "GET {LIST} HTTP/1.1\r\nX-Small: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(3000)
    );
    let mut conn = HttpConn::connect(c.http_addr(0)).expect("connect");
    conn.send(fits.as_bytes()).expect("send");
    assert_eq!(conn.read_response().expect("response").status, 200);
    still_serving(&c);
}

/// Unknown paths are 404, a known path with another method 405, missing or invalid
/// parameters 400 with Nacos-style messages; none of these closes a keep-alive connection.
pub fn unknown_paths_and_bad_parameters(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let mut conn = HttpConn::connect(c.http_addr(0)).expect("connect");
    let mut ask = |method: &str, target: &str| {
        let req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        conn.send(req.as_bytes()).expect("send");
        conn.read_response()
            .expect("a response on the same connection")
    };
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/no/such/path", 404, ""),
        ("GET", "/nacos/v1/ns/nothing", 404, ""),
        (
            "DELETE",
            "/nacos/v1/ns/instance/list?serviceName=s",
            405,
            "",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?ip=1.1.1.1&port=1",
            400,
            "Param 'serviceName' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&port=1",
            400,
            "Param 'ip' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=abc",
            400,
            "Param 'port'",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=70000",
            400,
            "Param 'port'",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=1&weight=-3",
            400,
            "Param 'weight'",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=1&healthy=maybe",
            400,
            "Param 'healthy' must be true or false",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=1&metadata=%7Bnot-json",
            400,
            "Param 'metadata'",
        ),
        (
            "GET",
            "/nacos/v1/ns/instance/list",
            400,
            "Param 'serviceName' is required.",
        ),
        (
            "GET",
            "/nacos/v1/ns/instance/list?serviceName=s&udpPort=x",
            400,
            "Param 'udpPort'",
        ),
    ];
    for (method, target, status, message) in cases {
        let r = ask(method, target);
        assert_eq!(r.status, *status, "{method} {target}: {}", r.body);
        assert!(
            r.body.contains(message),
            "{method} {target}: message {:?} does not contain {message:?}",
            r.body
        );
    }
    let r = ask("GET", LIST);
    assert_eq!(r.status, 200, "the connection is still usable: {}", r.body);
}

/// A client that sends part of a request and stalls is closed after the request timeout; an
/// idle keep-alive connection after the idle timeout, not before.
pub fn stalled_and_idle_connections_are_closed(t: &Target) {
    let timeouts = ["--request-timeout-ms", "300", "--idle-timeout-ms", "3000"];
    let c = Cluster::start(t, 1, &timeouts);
    let mut stalled = HttpConn::connect(c.http_addr(0)).expect("connect");
    stalled
        .send(b"GET /nacos/v1/ns/instance/list?serviceName=s HTTP/1.1\r\nHost:")
        .expect("send");
    let started = Instant::now();
    assert!(
        stalled.closed_by_server(Duration::from_secs(10)),
        "a stalled request must be closed"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2700),
        "closed after {took:?}: by the request timeout (300 ms), not idleness (3000 ms)"
    );

    let mut idle = HttpConn::connect(c.http_addr(0)).expect("connect");
    // taken before the request: the member cannot have heard from the client later
    let idle_since = Instant::now();
    assert_eq!(idle.get(LIST).expect("response").status, 200);
    assert!(
        !idle.closed_by_server(Duration::from_millis(1500)),
        "a keep-alive connection idle under the idle timeout must stay open"
    );
    assert!(
        idle.closed_by_server(Duration::from_secs(10)),
        "an idle connection must be closed"
    );
    assert!(
        idle_since.elapsed() >= Duration::from_millis(2950),
        "closed after {:?} idle, before the idle timeout",
        idle_since.elapsed()
    );
    still_serving(&c);
}

/// With `--max-connections 2`, a third client connection (HTTP or native) is closed at once;
/// a freed slot serves again.
pub fn connection_limit(t: &Target) {
    // the limit is per member: a process of several shards holds it on each
    let limit = 2;
    let total = limit * t.shards_per_process();
    let c = Cluster::start(t, 1, &["--max-connections", "2"]);
    let mut native = NativeClient::connect(c.native_addr(0));
    assert_eq!(native.request(Request::Ping), Reply::Pong);
    // fill every member (the kernel spreads connections over shards)
    let mut held = Vec::new();
    let mut refused = 0;
    while held.len() + 1 < total && refused < 40 * t.shards_per_process() {
        let mut conn = HttpConn::connect(c.http_addr(0)).expect("the listener accepts");
        match conn.get(LIST) {
            Ok(r) if r.status == 200 => held.push(conn),
            _ => refused += 1,
        }
    }
    assert_eq!(held.len() + 1, total, "every member serves up to its limit");
    for addr in [c.http_addr(0), c.native_addr(0)] {
        let mut over = HttpConn::connect(addr).expect("the listener accepts");
        assert!(
            over.closed_by_server(CLOSE_SOON),
            "a connection over the limit to {addr} must be closed"
        );
    }
    for conn in &mut held {
        assert_eq!(conn.get(LIST).expect("held connection").status, 200);
    }
    drop(held);
    wait_until(
        CONVERGE,
        "a freed slot to serve again",
        || match crate::cluster::http::try_request(c.http_addr(0), "GET", LIST) {
            Ok(r) if r.status == 200 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    assert_eq!(native.request(Request::Ping), Reply::Pong);
}

/// Garbage on the native or peer port closes that connection and is counted
/// (`distro_rejected_frames_total`); junk datagrams on the UDP port are counted; the member
/// and its other clients carry on.
pub fn garbage_on_frame_ports_is_closed_and_counted(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let mut good = NativeClient::connect(c.native_addr(0));
    good.register("bad", "10.1.1.1", 1);
    let before = c.metric(0, "rejected_frames");
    let runtime_before = c.metric(0, "runtime_frames_rejected");
    let closes = |addr: SocketAddr, bytes: &[u8]| {
        let mut s = TcpStream::connect(addr).expect("connect");
        let _ = s.write_all(bytes);
        let mut conn = HttpConn::from_stream(s);
        assert!(
            conn.closed_by_server(CLOSE_SOON),
            "{addr} must close after {bytes:?}"
        );
    };
    let mut junk_frames = 0;
    for addr in [c.native_addr(0), c.peer_addr(0)] {
        // a frame announcing 4 GiB
        closes(addr, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        // a well-framed payload that decodes to nothing
        closes(addr, &[0, 0, 0, 3, 1, 0xee, 0xee]);
        // a frame of an unknown protocol version
        closes(addr, &[0, 0, 0, 2, 0x7f, 0]);
        // the last two reach the node, which counts them
        junk_frames += 2;
    }
    wait_until(CONVERGE, "junk frames to be counted", || {
        let n = c.metric(0, "rejected_frames");
        if n >= before + junk_frames {
            Ok(())
        } else {
            Err(format!("rejected_frames {before} -> {n}"))
        }
    });
    // the oversized frames never reach the node: the runtime refuses and counts them
    wait_until(CONVERGE, "oversized frames to be counted", || {
        let n = c.metric(0, "runtime_frames_rejected");
        if n >= runtime_before + 2 {
            Ok(())
        } else {
            Err(format!("runtime_frames_rejected {runtime_before} -> {n}"))
        }
    });
    if let Some(udp) = c.udp_addr(0) {
        let before = c.metric(0, "rejected_frames");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.send_to(b"\x00not json{{", udp).expect("send");
        socket
            .send_to(br#"{"type":"push-ack","lastRefTime":"x"}"#, udp)
            .expect("send");
        wait_until(CONVERGE, "junk datagrams to be counted", || {
            let n = c.metric(0, "rejected_frames");
            if n > before {
                Ok(())
            } else {
                Err(format!("rejected_frames {before} -> {n}"))
            }
        });
    }
    assert_eq!(good.request(Request::Ping), Reply::Pong);
    assert!(!good.is_closed());
    assert!(super::v1::addrs(&c, 0, "bad").contains("10.1.1.1:1"));
}

/// A client that pipelines requests and reads the answers far slower than it asks for them is
/// closed once its unwritten answers pass `--client-write-buffer`: it gets a fraction of them,
/// and the member's memory stays bounded.
pub fn slow_reader_is_closed(t: &Target) {
    let c = Cluster::start(t, 1, &["--client-write-buffer", "1000000"]);
    let meta = format!("k%3D{}", "m".repeat(2000));
    for port in 1..=100 {
        let r = c.http(
            0,
            "POST",
            &format!(
                "/nacos/v1/ns/instance?serviceName=slow&ip=10.8.0.1&port={port}&metadata={meta}"
            ),
        );
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    }
    let one = c
        .http(0, "GET", LIST.replace("bad", "slow").as_str())
        .body
        .len();
    let requests = 400;
    let mut conn = HttpConn::connect(c.http_addr(0)).expect("connect");
    let ask = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        LIST.replace("bad", "slow")
    );
    conn.send(ask.repeat(requests).as_bytes()).expect("send");
    // Read 32 KiB every 10 ms: far slower than a member writes, so its buffer fills.
    let mut read = 0usize;
    let mut chunk = vec![0u8; 32 << 10];
    let deadline = Instant::now() + Duration::from_secs(60);
    let closed = loop {
        assert!(
            Instant::now() < deadline,
            "read {read} bytes and still open"
        );
        match std::io::Read::read(&mut conn.stream(), &mut chunk) {
            Ok(0) => break true,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break true,
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let all = one * requests;
    assert!(
        closed && read < all / 2,
        "read {read} of {all} bytes: the slow reader was not cut off"
    );
    still_serving(&c);
}
