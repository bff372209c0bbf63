//! End-to-end tests of the `distrod` binary over loopback.

mod common;

use common::{closed_by_server, free_http_port, read_response, Daemon};
use distro_core::{Instance, ServiceKey};
use distro_mio::Client;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

#[test]
fn v1_register_list_deregister() {
    let d = Daemon::start(free_http_port(), &[]);
    let (status, body) = d.http(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080",
    );
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = d.http("GET", LIST);
    assert_eq!(status, 200);
    assert!(
        body.contains("\"ip\":\"10.0.0.5\"") && body.contains("\"port\":8080"),
        "{body}"
    );
    let (status, _) = d.http(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080",
    );
    assert_eq!(status, 200);
    let (_, body) = d.http("GET", LIST);
    assert!(!body.contains("10.0.0.5"), "{body}");
}

#[test]
fn keep_alive_serves_requests_in_order_and_unknown_paths_are_404() {
    let d = Daemon::start(free_http_port(), &[]);
    let mut s = TcpStream::connect(d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // three pipelined requests in one write: answered one by one, in order
    write!(
        s,
        "POST /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.7&port=1 HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n\
         GET {LIST} HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let (status, _, body) = read_response(&mut s);
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, _) = read_response(&mut s);
    assert_eq!(status, 404);
    let (status, _, body) = read_response(&mut s);
    assert_eq!(status, 200);
    assert!(body.contains("10.0.0.7"), "{body}");
    // and the connection is still usable
    write!(s, "GET {LIST} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 200);
}

#[test]
fn malformed_request_gets_400_and_close() {
    let d = Daemon::start(free_http_port(), &[]);
    let mut s = TcpStream::connect(d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"\x00\x01GARBAGE \xff\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut s);
    assert_eq!(status, 400, "{head}");
    assert!(closed_by_server(&mut s, Duration::from_secs(2)));
    // the server is still fine
    assert_eq!(d.http("GET", LIST).0, 200);
}

#[test]
fn oversized_header_gets_431() {
    let d = Daemon::start(free_http_port(), &["--limit", "max_http_head=4096"]);
    let mut s = TcpStream::connect(d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let big = "a".repeat(8192);
    let _ = write!(s, "GET {LIST} HTTP/1.1\r\nX-Big: {big}\r\n\r\n");
    let (status, head, _) = read_response(&mut s);
    assert_eq!(status, 431, "{head}");
    assert!(closed_by_server(&mut s, Duration::from_secs(2)));
}

#[test]
fn stalled_partial_request_and_idle_keep_alive_are_closed() {
    let d = Daemon::start(
        free_http_port(),
        &["--request-timeout-ms", "200", "--idle-timeout-ms", "1000"],
    );
    let mut s = TcpStream::connect(d.http).unwrap();
    s.write_all(b"GET /nacos/v1/ns/instance/list?serviceName=orders HTTP/1.1\r\nHost:")
        .unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_by_server(&mut s, Duration::from_secs(3)),
        "a stalled request must be closed"
    );
    assert!(
        started.elapsed() < Duration::from_millis(590),
        "closed by the request timeout, not idleness"
    );

    let mut s = TcpStream::connect(d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {LIST} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s).0, 200);
    std::thread::sleep(Duration::from_millis(300));
    write!(s, "GET {LIST} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(
        read_response(&mut s).0,
        200,
        "a pause under the idle timeout keeps the connection"
    );
    assert!(
        closed_by_server(&mut s, Duration::from_secs(3)),
        "an idle connection must be closed"
    );
}

#[test]
fn connections_over_the_limit_are_closed_at_once() {
    let d = Daemon::start(free_http_port(), &["--max-connections", "2"]);
    let _a = TcpStream::connect(d.http).unwrap();
    let _b = TcpStream::connect(d.native).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = TcpStream::connect(d.http).unwrap();
    assert!(closed_by_server(&mut c, Duration::from_secs(2)));
    drop(_a);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(d.http("GET", LIST).0, 200, "a freed slot serves again");
}

#[test]
fn garbage_on_native_and_peer_ports_does_not_hurt() {
    let d = Daemon::start(free_http_port(), &[]);
    for port in [d.native.port(), d.native.port() + 1] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // a frame announcing 4 GiB, then junk
        let _ = s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert!(
            closed_by_server(&mut s, Duration::from_secs(2)),
            "port {port}"
        );
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(&[0, 0, 0, 3, 1, 0xee, 0xee]);
        assert!(
            closed_by_server(&mut s, Duration::from_secs(2)),
            "port {port}"
        );
    }
    assert_eq!(d.http("GET", LIST).0, 200);
}

#[test]
fn native_client_instances_disappear_when_it_disconnects() {
    let d = Daemon::start(free_http_port(), &[]);
    let client = Client::connect(&[d.native]).unwrap();
    client.ping().unwrap();
    let svc = ServiceKey::parse(None, None, "orders");
    client
        .register(&svc, Instance::new("10.1.1.1", 9000))
        .unwrap();
    let view = client.list(&svc, "", false).unwrap();
    assert_eq!(view.hosts.len(), 1);
    d.wait_for(LIST, Duration::from_secs(2), |b| b.contains("10.1.1.1"));
    drop(client);
    d.wait_for(LIST, Duration::from_secs(5), |b| !b.contains("10.1.1.1"));
}

#[test]
fn native_subscriber_gets_pushes() {
    let d = Daemon::start(free_http_port(), &["--timing", "push_window=10"]);
    let client = Client::connect(&[d.native]).unwrap();
    let svc = ServiceKey::parse(None, None, "orders");
    let view = client.subscribe(&svc, "").unwrap();
    assert!(view.hosts.is_empty());
    d.http(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.9&port=1",
    );
    let pushed = client.recv_push(Duration::from_secs(5)).expect("a push");
    assert_eq!(pushed.hosts.len(), 1);
    assert_eq!(&*pushed.hosts[0].ip, "10.0.0.9");
}

#[test]
fn client_reconnects_to_the_next_server_and_redoes_its_registrations() {
    let mut a = Daemon::start(free_http_port(), &[]);
    let b = Daemon::start(free_http_port(), &["--timing", "push_window=10"]);
    let client = Client::connect(&[a.native, b.native]).unwrap();
    let svc = ServiceKey::parse(None, None, "orders");
    client
        .register(&svc, Instance::new("10.2.2.2", 7000))
        .unwrap();
    client.subscribe(&svc, "").unwrap();
    assert_eq!(client.connected_to(), Some(a.native));
    a.signal("KILL");
    a.wait_exit(Duration::from_secs(5));
    b.wait_for(LIST, Duration::from_secs(10), |body| {
        body.contains("10.2.2.2")
    });
    assert_eq!(client.connected_to(), Some(b.native));
    assert_eq!(client.connections(), 2);
    client.ping().unwrap();
    // the subscription was redone too: its fresh view arrives, then pushes from the new server
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut seen_other = false;
    b.http(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.2.2.3&port=1",
    );
    while !seen_other && std::time::Instant::now() < deadline {
        if let Some(view) = client.recv_push(Duration::from_millis(200)) {
            seen_other = view.hosts.iter().any(|h| &*h.ip == "10.2.2.3");
        }
    }
    assert!(seen_other, "a push from the server the client moved to");
}

#[test]
fn sigterm_and_sigint_exit_0() {
    for sig in ["TERM", "INT"] {
        let mut d = Daemon::start(free_http_port(), &[]);
        let _idle = TcpStream::connect(d.http).unwrap();
        d.signal(sig);
        let status = d.wait_exit(Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "SIG{sig}");
    }
}

#[test]
fn bind_failure_exits_1_with_a_clear_message() {
    let d = Daemon::start(free_http_port(), &[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distrod"))
        .args(["--http", &d.http.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot bind the HTTP address"), "{err}");
}

#[test]
fn bad_flags_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distrod"))
        .args(["--timing", "nope=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown timing `nope`"));
}

#[test]
fn v1_udp_subscriber_gets_a_push() {
    let d = Daemon::start(free_http_port(), &["--timing", "push_window=10"]);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = udp.local_addr().unwrap().port();
    let (status, _) = d.http("GET", &format!("{LIST}&udpPort={port}&clientIP=127.0.0.1"));
    assert_eq!(status, 200);
    d.http(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.3.3.3&port=1",
    );
    let mut buf = [0u8; 65536];
    let (n, from) = udp.recv_from(&mut buf).expect("a UDP push");
    let packet = String::from_utf8_lossy(&buf[..n]);
    assert!(packet.contains("10.3.3.3"), "{packet}");
    assert_eq!(from.ip(), d.http.ip());
}

#[test]
fn native_client_answers_probes_and_stays_registered() {
    let fast_probes = [
        "--timing",
        "conn_idle=100",
        "--timing",
        "conn_scan_interval=50",
        "--timing",
        "probe_timeout=200",
    ];
    let d = Daemon::start(free_http_port(), &fast_probes);
    let client = Client::connect(&[d.native]).unwrap();
    client
        .register(
            &ServiceKey::parse(None, None, "orders"),
            Instance::new("10.4.4.4", 1),
        )
        .unwrap();
    // many probe rounds pass without any request from the client
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = d.http("GET", LIST);
    assert!(body.contains("10.4.4.4"), "{body}");
    assert_eq!(client.connections(), 1, "never disconnected");

    // a raw connection that ignores probes is dropped, and its instance with it
    let mut raw = TcpStream::connect(d.native).unwrap();
    let request = distro_core::Request::Register {
        service: ServiceKey::parse(None, None, "orders"),
        instance: Instance::new("10.5.5.5", 1),
    };
    let msg = distro_core::wire::ClientMsg::Request {
        id: distro_core::RequestId(1),
        request,
    };
    raw.write_all(&distro_core::wire::encode_frame(&msg))
        .unwrap();
    d.wait_for(LIST, Duration::from_secs(2), |b| b.contains("10.5.5.5"));
    d.wait_for(LIST, Duration::from_secs(5), |b| !b.contains("10.5.5.5"));
    assert!(closed_by_server(&mut raw, Duration::from_secs(2)));
}

#[test]
fn native_client_batch_register_deregister_unsubscribe() {
    let d = Daemon::start(free_http_port(), &["--timing", "push_window=10"]);
    let client = Client::connect(&[d.native]).unwrap();
    let svc = ServiceKey::parse(None, None, "orders");
    client.subscribe(&svc, "").unwrap();
    client
        .batch_register(
            &svc,
            vec![Instance::new("10.6.0.1", 1), Instance::new("10.6.0.2", 2)],
        )
        .unwrap();
    assert_eq!(client.list(&svc, "", false).unwrap().hosts.len(), 2);
    let pushed = client
        .recv_push(Duration::from_secs(5))
        .expect("a push after the batch");
    assert_eq!(pushed.hosts.len(), 2);
    // a connection client's deregister withdraws its whole publication in the service
    client.deregister(&svc, "10.6.0.1", 1).unwrap();
    assert!(client.list(&svc, "", false).unwrap().hosts.is_empty());
    client.unsubscribe(&svc, "").unwrap();
    while client.recv_push(Duration::from_millis(200)).is_some() {}
    d.http(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.6.0.3&port=3",
    );
    assert!(
        client.recv_push(Duration::from_millis(500)).is_none(),
        "no push after unsubscribe"
    );
    // an error reply is a typed error, and the client goes on
    let bad = ServiceKey::parse(None, None, "");
    assert!(client.register(&bad, Instance::new("10.6.0.9", 9)).is_err());
    client.ping().unwrap();
}
