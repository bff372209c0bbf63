//! The host's connection logic without sockets: bytes in, actions and bytes out.

use crate::{Action, Host, Listener, ServerConfig};
use distro_core::ConnId;
use std::net::SocketAddr;

fn host(args: &[&str]) -> Host {
    let argv = ["distrod", "--http", "127.0.0.1:18848", "--log-level", "off"];
    Host::new(ServerConfig::parse_from(argv.iter().chain(args)).unwrap())
}

fn client() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

/// Drains the actions; returns them.
fn actions(h: &mut Host) -> Vec<Action> {
    h.handle_timeout();
    std::iter::from_fn(|| h.poll_action()).collect()
}

/// Takes everything written to `conn` as text (the readiness way).
fn written(h: &mut Host, conn: ConnId) -> String {
    let out = String::from_utf8_lossy(h.output(conn)).to_string();
    h.consume(conn, out.len());
    out
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let mut h = host(&[]);
    let conn = h.accept(Listener::Http, client()).unwrap();
    h.received(
        conn,
        b"POST /nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80 HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
          GET /nacos/v1/ns/instance/list?serviceName=s HTTP/1.1\r\n\r\n",
    );
    assert!(actions(&mut h).contains(&Action::Write(conn)));
    let out = written(&mut h, conn);
    let ok = out.find("\r\n\r\nok").expect("the register's answer");
    let list = out.find("\"ip\":\"10.0.0.1\"").expect("the list's answer");
    assert!(ok < list, "{out}");
    assert!(h.is_open(conn), "keep-alive");
}

#[test]
fn connection_close_closes_after_the_answer_is_written() {
    let mut h = host(&[]);
    let conn = h.accept(Listener::Http, client()).unwrap();
    h.received(
        conn,
        b"GET /nacos/v1/ns/service/list HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(actions(&mut h), vec![Action::Write(conn)]);
    // taken but not yet written: still open, still counted
    let mut buf = Vec::new();
    h.take_output(conn, &mut buf);
    assert!(h.is_open(conn) && !buf.is_empty());
    h.written(conn);
    assert_eq!(actions(&mut h), vec![Action::Close(conn)]);
    assert!(!h.is_open(conn));
}

#[test]
fn a_client_that_does_not_read_is_closed_at_the_write_bound() {
    let mut h = host(&["--client-write-buffer", "300"]);
    let conn = h.accept(Listener::Http, client()).unwrap();
    let get = b"GET /nacos/v1/ns/service/list HTTP/1.1\r\n\r\n";
    for _ in 0..10 {
        h.received(conn, get);
        let _ = actions(&mut h);
        if !h.is_open(conn) {
            break;
        }
    }
    assert!(!h.is_open(conn), "closed once over 300 unwritten bytes");
    assert_eq!(h.stats().slow_readers_closed, 1);
}

#[test]
fn garbage_on_a_frame_port_closes_that_connection_and_is_counted() {
    let mut h = host(&[]);
    let bad = h.accept(Listener::Native, client()).unwrap();
    let good = h.accept(Listener::Native, client()).unwrap();
    h.received(bad, &[0xff; 64]);
    assert!(actions(&mut h).contains(&Action::Close(bad)));
    assert_eq!(h.stats().frames_rejected, 1);
    assert!(h.is_open(good) && !h.is_open(bad));
    // what still arrives on it is ignored
    h.received(bad, &[0xff; 64]);
    assert_eq!(h.stats().frames_rejected, 1);
}

#[test]
fn a_peer_link_is_connected_when_due_and_carries_the_handshake() {
    let mut h = host(&["--members", "127.0.0.1:18848,127.0.0.1:18858"]);
    let connect = actions(&mut h)
        .into_iter()
        .find_map(|a| match a {
            Action::Connect { conn, member, addr } => Some((conn, member, addr)),
            _ => None,
        })
        .expect("a connect");
    assert_eq!(connect.1.as_str(), "127.0.0.1:18858");
    assert_eq!(connect.2.port(), 19859);
    h.link_connected(connect.0);
    let acts = actions(&mut h);
    assert!(acts.contains(&Action::Write(connect.0)), "{acts:?}");
    assert!(!h.output(connect.0).is_empty(), "the node's hello");
    // the peer closes it: the link reconnects later, under a new id
    h.read_closed(connect.0);
    let _ = actions(&mut h);
    assert!(!h.is_open(connect.0));
}

#[test]
fn the_connection_limit_counts_clients_not_peers() {
    let mut h = host(&["--max-connections", "1"]);
    let _peer = h.accept(Listener::Peer, client()).unwrap();
    assert!(h.accept(Listener::Http, client()).is_some());
    assert!(h.accept(Listener::Native, client()).is_none());
    assert_eq!(h.stats().connections_rejected, 1);
}

#[test]
fn random_bytes_after_the_http2_preface_never_panic_and_end_the_connection() {
    let mut h = host(&[]);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..300 {
        let conn = h.accept(Listener::Native, client()).unwrap();
        h.received(conn, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let len = (next() % 2000) as usize;
        let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        for chunk in junk.chunks(1 + (next() % 300) as usize) {
            h.received(conn, chunk);
            let _ = actions(&mut h);
            if !h.is_open(conn) {
                break;
            }
            assert!(h.output(conn).len() < 1 << 20, "bounded output");
        }
        h.read_closed(conn);
        let _ = actions(&mut h);
        assert!(!h.is_open(conn), "a broken HTTP/2 connection is closed");
    }
    assert!(h.stats().grpc_protocol_errors > 0);
}

/// Two members A and B (B with `b_secret`), A's link to B connected; bytes are carried
/// between them until neither has more. Returns (A, B, A's link, B's accepted connection).
fn linked_pair(a_secret: &str, b_secret: &str) -> (Host, Host, ConnId, ConnId) {
    let dir = std::env::temp_dir().join(format!("distro-host-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().to_string()
    };
    let (fa, fb) = (file("a", a_secret), file("b", b_secret));
    let members = "127.0.0.1:18848,127.0.0.1:18858";
    let mut a = Host::new(
        ServerConfig::parse_from([
            "d",
            "--http",
            "127.0.0.1:18848",
            "--members",
            members,
            "--cluster-secret-file",
            &fa,
        ])
        .unwrap(),
    );
    let mut b = Host::new(
        ServerConfig::parse_from([
            "d",
            "--http",
            "127.0.0.1:18858",
            "--members",
            members,
            "--cluster-secret-file",
            &fb,
        ])
        .unwrap(),
    );
    let link = actions(&mut a)
        .into_iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .expect("A connects to B");
    let _ = actions(&mut b);
    let accepted = b.accept(Listener::Peer, client()).unwrap();
    a.link_connected(link);
    for _ in 0..10 {
        let _ = actions(&mut a);
        let to_b = taken(&mut a, link);
        if !to_b.is_empty() {
            b.received(accepted, &to_b);
        }
        let _ = actions(&mut b);
        if !b.is_open(accepted) {
            break;
        }
        let to_a = b.output(accepted).to_vec();
        b.consume(accepted, to_a.len());
        if !to_a.is_empty() {
            a.received(link, &to_a);
        }
        if to_b.is_empty() && to_a.is_empty() {
            break;
        }
    }
    (a, b, link, accepted)
}

/// `written` for binary output.
fn taken(h: &mut Host, conn: ConnId) -> Vec<u8> {
    let out = h.output(conn).to_vec();
    h.consume(conn, out.len());
    out
}

#[test]
fn peers_with_the_same_secret_authenticate_and_link_up() {
    let (mut a, b, link, accepted) = linked_pair("s3cret\n", "s3cret\n");
    assert!(a.is_open(link) && b.is_open(accepted));
    assert_eq!((a.stats().peers_refused, b.stats().peers_refused), (0, 0));
    // A's node sent its handshake: the link is up
    let _ = actions(&mut a);
    let _ = taken(&mut a, link);
    assert!(
        a.node()
            .members()
            .iter()
            .any(|m| m.id.as_str() == "127.0.0.1:18858"),
        "{:?}",
        a.node().members()
    );
}

#[test]
fn a_peer_with_another_secret_is_refused_before_any_frame_reaches_the_node() {
    let (a, b, link, accepted) = linked_pair("right\n", "wrong\n");
    assert_eq!(a.stats().peers_refused, 1, "A refuses B's proof");
    assert!(!a.is_open(link));
    let _ = (b, accepted);
    // and the other way round: B proves with the wrong secret to A's challenge only
    let (a, b, _, accepted) = linked_pair("wrong\n", "right\n");
    assert_eq!(a.stats().peers_refused + b.stats().peers_refused, 1);
    assert!(!b.is_open(accepted) || a.stats().peers_refused == 1);
}

#[test]
fn rotation_accepts_every_listed_secret() {
    // the steps of a rotation, each pair a member already restarted and one not yet
    for (a_file, b_file) in [
        ("old\n", "old\nnew\n"),
        ("old\nnew\n", "new\nold\n"),
        ("new\nold\n", "new\n"),
    ] {
        let (a, b, link, accepted) = linked_pair(a_file, b_file);
        assert!(
            a.is_open(link) && b.is_open(accepted),
            "{a_file:?} with {b_file:?}"
        );
        assert_eq!((a.stats().peers_refused, b.stats().peers_refused), (0, 0));
        let (a, b, link, accepted) = linked_pair(b_file, a_file);
        assert!(
            a.is_open(link) && b.is_open(accepted),
            "{b_file:?} with {a_file:?}"
        );
    }
    // skipping a step breaks the link
    let (a, b, _, _) = linked_pair("old\n", "new\nold\n");
    assert_eq!(a.stats().peers_refused + b.stats().peers_refused, 1);
}
