//! The tokio example (`examples/tokio_host.rs`) serves the v1 API: the host layer runs under
//! a third runtime unchanged.

#[path = "../examples/tokio_host.rs"]
#[allow(dead_code)]
mod example;

use distro_host::ServerConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

fn request(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let status = text[9..12].parse().expect("status");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_tokio_host_serves_the_v1_api() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = ServerConfig::parse_from([
        "tokio_host",
        "--http",
        &http.to_string(),
        "--native",
        "127.0.0.1:0",
        "--log-level",
        "error",
    ])
    .unwrap();
    let stop = Arc::new(Notify::new());
    let stopper = stop.clone();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, example::serve(config, stopper))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(http).is_err() {
        assert!(Instant::now() < deadline, "the example did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reg = "/nacos/v1/ns/instance?serviceName=orders&ip=10.1.0.1&port=80";
    assert_eq!(request(http, "POST", reg), (200, "ok".to_string()));
    let (status, body) = request(http, "GET", "/nacos/v1/ns/instance/list?serviceName=orders");
    assert_eq!(status, 200);
    assert!(body.contains("\"ip\":\"10.1.0.1\",\"port\":80"), "{body}");
    let (status, body) = request(http, "GET", "/nacos/v1/ns/nope");
    assert_eq!(status, 404, "{body}");
    assert_eq!(request(http, "DELETE", reg), (200, "ok".to_string()));
    let (_, body) = request(http, "GET", "/nacos/v1/ns/instance/list?serviceName=orders");
    assert!(!body.contains("10.1.0.1"), "{body}");
    stop.notify_one();
    server.join().unwrap().unwrap();
}
