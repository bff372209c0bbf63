//! Nothing a client sends makes a member panic: mutated and random input on every port.

use crate::cluster::Target;
use crate::cluster::{Cluster, HttpConn, NativeClient};
use distro_core::wire::{encode_frame, ClientMsg, Hello, PeerMsg};
use distro_core::{Instance, MemberId, Request, RequestId, ServiceKey};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// Inputs sent; each is one connection or datagram.
const ROUNDS: usize = 3000;
/// Fixed, so that a failure replays.
const SEED: u64 = 0x5eed_d157_0000_0001;

/// A xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// 1 to `max` random bytes.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = 1 + self.below(max);
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `input` with a few random replacements, insertions, deletions or a truncation.
    fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(5) {
                0 | 1 if at < out.len() => out[at] = self.next() as u8,
                2 => {
                    let extra = self.bytes(8);
                    out.splice(at..at, extra);
                }
                3 if at < out.len() => {
                    out.remove(at);
                }
                4 => out.truncate(at),
                _ => {}
            }
        }
        out
    }
}

fn http_templates() -> Vec<Vec<u8>> {
    let meta = "%7B%22a%22%3A%22b%22%2C%22c%22%3A%22d%22%7D";
    let beat = "%7B%22serviceName%22%3A%22DEFAULT_GROUP%40%40f%22%2C%22ip%22%3A%221.2.3.4%22%2C%22port%22%3A5%2C%22metadata%22%3A%7B%22k%22%3A%22v%22%7D%7D";
    [
        format!("POST /nacos/v1/ns/instance?serviceName=f&ip=1.2.3.4&port=5&weight=2.5&metadata={meta}&clusterName=c1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        format!("PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40f&beat={beat} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        "GET /nacos/v1/ns/instance/list?serviceName=f&clusters=c1,c2&healthyOnly=true&udpPort=9&clientIP=127.0.0.1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "PATCH /nacos/v1/ns/instance?serviceName=f&ip=1.2.3.4&port=5&metadata=a%3Db%2Cc%3Dd&enabled=false HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
        "POST /nacos/v1/ns/service?serviceName=g%40%40f&protectThreshold=0.3&metadata=k%3Dv HTTP/1.1\r\nContent-Length: 11\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nnamespaceId".to_string(),
        "GET /nacos/v1/ns/catalog/instances?serviceName=f&pageNo=2&pageSize=1 HTTP/1.1\r\n\r\n".to_string(),
        "DELETE /nacos/v1/ns/instance?serviceName=f&ip=1.2.3.4&port=5&namespaceId=n1&groupName=g HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
        "GET /nacos/v1/ns/operator/distro/client?ip=1.2.3.4&port=5 HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

fn native_templates() -> Vec<Vec<u8>> {
    let svc = ServiceKey::parse(None, None, "f");
    let mut inst = Instance::new("1.2.3.4", 5);
    inst.metadata.insert("k".into(), "v".into());
    let requests = [
        Request::Register {
            service: svc.clone(),
            instance: inst.clone(),
        },
        Request::BatchRegister {
            service: svc.clone(),
            instances: vec![inst.clone(), Instance::new("1.2.3.5", 6)],
        },
        Request::Subscribe {
            service: svc.clone(),
            clusters: "c1".into(),
        },
        Request::Deregister {
            service: svc,
            ip: "1.2.3.4".into(),
            port: 5,
        },
        Request::Ping,
    ];
    let mut out: Vec<Vec<u8>> = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            let id = RequestId(i as u64);
            encode_frame(&ClientMsg::Request { id, request }).to_vec()
        })
        .collect();
    out.push(encode_frame(&ClientMsg::ProbeAck).to_vec());
    out
}

fn peer_templates(c: &Cluster) -> Vec<Vec<u8>> {
    let hello = |member: &str, cluster: &str| {
        encode_frame(&PeerMsg::Hello(Hello {
            cluster: cluster.into(),
            member: MemberId::new(member),
            version: distro_core::wire::PEER_PROTOCOL_VERSION,
            epoch: 7,
            shards: 1,
        }))
        .to_vec()
    };
    let ping = encode_frame(&PeerMsg::Ping { seq: 1 }).to_vec();
    let stranger = [hello("127.0.0.1:1", "distro"), ping.clone()].concat();
    // pretending to be the member itself
    let itself = [hello(&c.http_addr(0).to_string(), "distro"), ping.clone()].concat();
    vec![stranger, itself, hello("x", "other-cluster"), ping]
}

/// Sends `bytes` on a new connection, half-closes, and reads until the member closes.
fn send_and_drain(addr: SocketAddr, bytes: &[u8]) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut conn = HttpConn::from_stream(s);
    // A valid-looking partial request may wait for the request timeout; do not wait for it.
    let _ = conn.closed_by_server(Duration::from_millis(500));
}

/// Mutated and random input on the HTTP, native, peer and UDP ports from a fixed seed; the
/// member never panics, keeps serving, and keeps a well-behaved client's registration.
pub fn fuzzed_input_never_panics(t: &Target) {
    let mut c = Cluster::start(t, 1, &["--request-timeout-ms", "300"]);
    let mut good = NativeClient::connect(c.native_addr(0));
    good.register("fuzz-ok", "10.0.0.1", 1);
    let http = http_templates();
    let native = native_templates();
    let peer = peer_templates(&c);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let acks: Vec<&[u8]> = vec![
        br#"{"type":"push-ack","lastRefTime":12,"data":""}"#,
        br#"{"type":"dump-ack","lastRefTime":1,"data":"{}"}"#,
    ];
    let mut rng = Rng(SEED);
    for round in 0..ROUNDS {
        match rng.below(8) {
            0 | 1 => {
                let t = &http[rng.below(http.len())];
                send_and_drain(c.http_addr(0), &rng.mutate(t));
            }
            2 => {
                let junk = rng.bytes(300);
                send_and_drain(c.http_addr(0), &junk);
            }
            3 | 4 => {
                let t = &native[rng.below(native.len())];
                send_and_drain(c.native_addr(0), &rng.mutate(t));
            }
            5 => {
                let t = &peer[rng.below(peer.len())];
                send_and_drain(c.peer_addr(0), &rng.mutate(t));
            }
            6 => {
                let junk = rng.bytes(300);
                let port = [c.native_addr(0), c.peer_addr(0)][rng.below(2)];
                send_and_drain(port, &junk);
            }
            _ => {
                if let Some(to) = c.udp_addr(0) {
                    let t = acks[rng.below(acks.len())];
                    let _ = udp.send_to(&rng.mutate(t), to);
                }
            }
        }
        if round % 500 == 499 {
            assert!(
                c.is_running(0),
                "the member died at round {round} (seed {SEED:#x})"
            );
            let r = c.http(0, "GET", "/nacos/v1/ns/instance/list?serviceName=fuzz-ok");
            assert_eq!(r.status, 200, "round {round}: {}", r.body);
        }
    }
    assert!(c.is_running(0), "the member died (seed {SEED:#x})");
    let log = c.log(0);
    assert!(
        !log.contains("panicked"),
        "the member panicked (seed {SEED:#x})"
    );
    assert!(super::v1::addrs(&c, 0, "fuzz-ok").contains("10.0.0.1:1"));
    assert_eq!(good.request(Request::Ping), distro_core::Reply::Pong);
    c.stop(0);
}
