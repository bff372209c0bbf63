//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`: seeds and inputs that
//! once found a bug) through the same functions the libFuzzer targets call, so a plain
//! `cargo test` covers them without nightly features.
//!
//! The seeds are written by the ignored test `write_seeds`:
//! `DISTRO_WRITE_SEEDS=1 cargo test -p distro-testkit --test core_fuzz_corpus -- --ignored`.

use distro_core::fuzzing;
use distro_core::wire::{encode_frame, ClientMsg, Hello, PeerMsg, Record, ServerMsg};
use distro_core::{
    ClientId, ClientRecord, Instance, MemberId, Publication, Reply, Request, RequestId, Revision,
    ServiceKey, ServiceMeta,
};
use distro_testkit::corpus::{corpus_dir, replay_corpus};

/// Runs every file of the target's corpus; fails naming the file that panicked.
fn replay(target: &str, run: fn(&[u8])) {
    replay_corpus(&corpus_dir(target), run);
}

#[test]
fn frame_corpus() {
    replay("frame", fuzzing::frame);
}

#[test]
fn http_corpus() {
    replay("http", fuzzing::http);
}

#[test]
fn grpc_corpus() {
    replay("grpc", fuzzing::grpc);
}

#[test]
fn node_corpus() {
    replay("node", fuzzing::node);
}

// ---- seeds ----

fn svc() -> ServiceKey {
    ServiceKey::parse(None, None, "orders")
}

fn register() -> Request {
    Request::Register {
        service: svc(),
        instance: Instance::new("10.0.0.5", 8080),
    }
}

/// `frame` input: 8 KiB frames, cuts at 3, 9 and 40, then the stream.
fn frame_seed(frames: &[bytes::Bytes]) -> Vec<u8> {
    let mut v = vec![7, 3, 0, 9, 0, 40, 0];
    for f in frames {
        v.extend_from_slice(f);
    }
    v
}

fn frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let member = MemberId::new("10.0.0.1:8848");
    let client = ClientId::ip_port("10.0.0.5", 8080);
    let rev = Revision {
        time: 1_000_000,
        writer: 7,
    };
    let mut instance = Instance::new("10.0.0.5", 8080);
    instance.metadata.insert("version".into(), "v1".into());
    let record = Record::Client(ClientRecord {
        id: client.clone(),
        revision: rev,
        publications: vec![Publication {
            service: svc(),
            instances: [instance].into_iter().collect(),
        }],
    });
    let meta = Record::ServiceMeta(ServiceMeta {
        service: svc(),
        revision: rev,
        protect_threshold: 0.5,
        metadata: [("k".to_string(), "v".to_string())].into_iter().collect(),
        deleted: false,
    });
    let hello = encode_frame(&PeerMsg::Hello(Hello {
        cluster: "distro".into(),
        member: member.clone(),
        version: distro_core::wire::PEER_PROTOCOL_VERSION,
        epoch: 42,
        shards: 1,
    }));
    let peer = |name, msg: PeerMsg| (name, frame_seed(&[encode_frame(&msg)]));
    vec![
        ("seed-hello", frame_seed(std::slice::from_ref(&hello))),
        peer("seed-ping", PeerMsg::Ping { seq: 3 }),
        peer(
            "seed-sync",
            PeerMsg::Sync {
                batch: 1,
                records: vec![
                    record.clone(),
                    Record::Deleted {
                        id: ClientId::Conn {
                            owner: member.clone(),
                            epoch: 42,
                            conn: 9,
                        },
                        revision: rev,
                    },
                    meta,
                ],
            },
        ),
        peer(
            "seed-verify",
            PeerMsg::Verify {
                round: 2,
                entries: vec![(client.clone(), rev)],
            },
        ),
        peer(
            "seed-verify-reply",
            PeerMsg::VerifyReply {
                round: 2,
                mismatched: vec![(client, None)],
            },
        ),
        peer(
            "seed-snapshot-chunk",
            PeerMsg::SnapshotChunk {
                session: 5,
                seq: 0,
                last: true,
                records: vec![record],
            },
        ),
        peer(
            "seed-forward",
            PeerMsg::Forward {
                id: 1,
                request: register(),
            },
        ),
        peer(
            "seed-forward-reply",
            PeerMsg::ForwardReply {
                id: 1,
                reply: Reply::Ok,
            },
        ),
        (
            "seed-client",
            frame_seed(&[
                encode_frame(&ClientMsg::Request {
                    id: RequestId(1),
                    request: register(),
                }),
                encode_frame(&ClientMsg::Request {
                    id: RequestId(2),
                    request: Request::Subscribe {
                        service: svc(),
                        clusters: String::new(),
                    },
                }),
                encode_frame(&ClientMsg::ProbeAck),
            ]),
        ),
        (
            "seed-server",
            frame_seed(&[
                encode_frame(&ServerMsg::Reply {
                    id: RequestId(1),
                    reply: Reply::Ok,
                }),
                encode_frame(&ServerMsg::Probe),
            ]),
        ),
        (
            "seed-stream",
            frame_seed(&[
                hello,
                encode_frame(&PeerMsg::SyncAck { batch: 1 }),
                encode_frame(&PeerMsg::SnapshotRequest { session: 5, seq: 0 }),
            ]),
        ),
    ]
}

/// `http` input: head limit 1 KiB, body limit 512 bytes, default options, then the bytes.
fn http_seed(flags: u8, text: &str) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(text.as_bytes());
    v
}

fn http_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let f = 0x0f;
    vec![
        ("seed-register", http_seed(f, "POST /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080&metadata=%7B%22v%22%3A%221%22%7D HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("seed-register-form", http_seed(f, "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 57\r\n\r\nserviceName=orders&ip=10.0.0.5&port=8080&weight=2&healthy")),
        ("seed-beat", http_seed(f, "PUT /nacos/v1/ns/instance/beat?serviceName=orders&beat=%7B%22ip%22%3A%2210.0.0.5%22%2C%22port%22%3A8080%2C%22metadata%22%3A%7B%7D%7D HTTP/1.1\r\n\r\n")),
        ("seed-list-udp", http_seed(0x2f, "POST /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080 HTTP/1.1\r\n\r\nGET /nacos/v1/ns/instance/list?serviceName=orders&udpPort=9000&clusters=DEFAULT&healthyOnly=true HTTP/1.1\r\n\r\n")),
        ("seed-service", http_seed(f, "POST /nacos/v1/ns/service?serviceName=s&protectThreshold=0.5 HTTP/1.1\r\n\r\nPUT /nacos/v1/ns/service?serviceName=s&protectThreshold=0.2&metadata=a%3Db HTTP/1.1\r\n\r\nGET /nacos/v1/ns/service?serviceName=s HTTP/1.1\r\n\r\nDELETE /nacos/v1/ns/service?serviceName=s HTTP/1.1\r\nConnection: close\r\n\r\n")),
        ("seed-update", http_seed(f, "PUT /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080&enabled=false HTTP/1.1\r\n\r\nPATCH /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080&metadata=%7B%7D HTTP/1.1\r\n\r\nDELETE /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080 HTTP/1.1\r\n\r\n")),
        ("seed-reads", http_seed(f, "GET /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nacos/v1/ns/service/list?pageNo=1&pageSize=10 HTTP/1.1\r\n\r\nGET /nacos/v1/ns/catalog/instances?serviceName=orders&pageNo=1&pageSize=5 HTTP/1.1\r\n\r\nGET /nacos/v1/ns/operator/distro/client?ip=10.0.0.5&port=8080 HTTP/1.1\r\n\r\n")),
        ("seed-ops", http_seed(f, "GET /nacos/v1/ns/operator/metrics?onlyStatus=false HTTP/1.1\r\n\r\nGET /nacos/v1/core/cluster/nodes?keyword=127 HTTP/1.1\r\n\r\nGET /nacos/v1/console/health/liveness HTTP/1.1\r\n\r\nGET /nacos/v1/console/health/readiness HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n")),
        ("seed-absolute", http_seed(f, "GET http://h:8848/nacos/v1/ns/instance/list/?serviceName=DEFAULT_GROUP%40%40orders#frag HTTP/1.1\r\nUser-Agent: Nacos-Java-Client:v2.3\r\n\r\n")),
        ("seed-errors", http_seed(0, "POST /nacos/v1/ns/instance HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")),
        ("seed-too-large", http_seed(0, "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: 999999\r\n\r\n")),
    ]
}

/// `node` input: the configuration byte, then steps of (node, operation, the operation's bytes).
/// The bytes follow `distro_core::fuzzing::node`'s reader; the fuzzer takes it from there.
fn node_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Register `orders` 10.0.0.5:8080, then the input's timestamp byte.
    const REGISTER: [u8; 14] = [0, 2, 2, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1];
    // List `orders` with a UDP subscriber.
    const LIST_UDP: [u8; 9] = [9, 2, 2, 0, 5, 0, 1, 0, 0];
    const SUBSCRIBE: [u8; 5] = [10, 2, 2, 0, 5];
    let deliver = [0, 1, 31];
    let tick = |ms_index: u8| [0, 6, ms_index];
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        (
            "seed-register",
            cat(&[&[0], &[1, 7], &REGISTER, &deliver, &tick(5), &deliver]),
        ),
        (
            "seed-native",
            cat(&[
                &[1],
                &[0, 10],
                &[0, 9, 0, 0],
                &SUBSCRIBE,
                &[0, 9, 0, 0],
                &REGISTER[..13],
                &deliver,
                &tick(2),
                &[0, 11, 0],
                &deliver,
                &tick(6),
            ]),
        ),
        (
            "seed-udp",
            cat(&[
                &[0],
                &[2, 7],
                &LIST_UDP,
                &[1],
                &[0, 7],
                &REGISTER,
                &deliver,
                &tick(2),
                &deliver,
                &[2, 14, 0, 0],
            ]),
        ),
        (
            "seed-partition",
            cat(&[
                &[0],
                &[0, 12, 1],
                &[1, 12, 0],
                &[1, 7],
                &REGISTER,
                &tick(5),
                &tick(5),
                &[0, 12, 1],
                &[1, 12, 0],
                &deliver,
                &tick(5),
                &deliver,
            ]),
        ),
        (
            "seed-restart",
            cat(&[
                &[0],
                &[0, 7],
                &REGISTER,
                &deliver,
                &[2, 15, 0],
                &deliver,
                &tick(5),
                &deliver,
            ]),
        ),
        (
            "seed-forged-sync",
            cat(&[
                &[0],
                // A Sync from member 1's link: one ip-port client publishing nothing in `orders`.
                &[
                    0, 13, 1, 1, 1, 3, 0, 1, 0, 1, 1, 0, 1, 0, 3, 16, 0, 0, 0, 0, 1, 2, 2, 0,
                ],
                &[1, 12, 0],
                &[2, 12, 0],
                &tick(6),
                &tick(6),
            ]),
        ),
        (
            "seed-members",
            cat(&[
                &[0],
                &[0, 7],
                &REGISTER,
                &[0, 15, 1, 0x83],
                &deliver,
                &tick(5),
                &[0, 15, 2],
                &deliver,
                &tick(5),
            ]),
        ),
    ]
}

/// Writes the seed corpora into `fuzz/corpus/<target>/seed-*` (only with
/// `DISTRO_WRITE_SEEDS=1`), then replays them.
#[test]
#[ignore = "writes files; run by hand after changing the seeds"]
fn write_seeds() {
    if std::env::var_os("DISTRO_WRITE_SEEDS").is_none() {
        return;
    }
    for (target, seeds) in [
        ("frame", frame_seeds()),
        ("http", http_seeds()),
        ("node", node_seeds()),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (name, data) in seeds {
            std::fs::write(dir.join(name), data).expect("a seed file");
        }
    }
}
