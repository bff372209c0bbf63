//! Fixtures of the micro-benchmarks: nodes in a known state, prebuilt requests and peer frames.
//!
//! Everything drives [`distro_core::Node`] directly through [`Input`] and
//! [`Node::poll_output`], the way a runtime does, in virtual time.

use bytes::Bytes;
use core::time::Duration;
use distro_core::wire::{decode_payload, encode_frame, Hello, PeerMsg, Record};
use distro_core::{
    ClientId, ClientRecord, Config, ConnId, Input, Instance, MemberId, Node, Output, Publication,
    Reply, Request, RequestId, Revision, ServiceKey, Timestamp,
};
use std::sync::Arc;

/// This member's id in cluster fixtures.
pub const SELF_ID: &str = "127.0.0.1:8848";
/// The peers' ids in cluster fixtures (sorted after [`SELF_ID`]).
pub const PEER_IDS: [&str; 2] = ["127.0.0.1:8858", "127.0.0.1:8868"];
/// Connection id of the HTTP-like client connection the fixtures send requests on.
pub const CLIENT_CONN: ConnId = ConnId(1);
/// First connection id of incoming peer links (one per peer).
pub const PEER_CONN_BASE: u64 = 1_000;

/// What one drain of the node produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Replies.
    pub replies: usize,
    /// Transmitted peer frames.
    pub transmits: usize,
    /// Everything else (pushes, events, probes, closes).
    pub other: usize,
}

/// Drains the node until `Output::Timeout`, counting what came out.
pub fn drain(node: &mut Node) -> Drained {
    let mut d = Drained::default();
    loop {
        match node.poll_output() {
            Output::Timeout(_) => return d,
            Output::Reply { .. } => d.replies += 1,
            Output::Transmit { .. } => d.transmits += 1,
            _ => d.other += 1,
        }
    }
}

/// Drains the node and returns the transmitted frames (length prefix included).
pub fn drain_transmits(node: &mut Node) -> Vec<(MemberId, Bytes)> {
    let mut v = Vec::new();
    loop {
        match node.poll_output() {
            Output::Timeout(_) => return v,
            Output::Transmit { to, frame } => v.push((to, frame)),
            _ => {}
        }
    }
}

/// Drains the node and returns the replies.
pub fn drain_replies(node: &mut Node) -> Vec<Reply> {
    let mut v = Vec::new();
    loop {
        match node.poll_output() {
            Output::Timeout(_) => return v,
            Output::Reply { reply, .. } => v.push(reply),
            _ => {}
        }
    }
}

/// The service most fixtures use.
pub fn service(name: &str) -> ServiceKey {
    ServiceKey::parse(None, None, name)
}

/// The `n`-th distinct instance address: `10.a.b.c`, port 8080.
pub fn ip_of(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Port of the `n`-th instance (varies above 2^24 instances so addresses stay unique).
pub fn port_of(n: u64) -> u16 {
    8080 + (n >> 24) as u16
}

/// Timings that leave only what a benchmark triggers itself: periodic work (pings, beat
/// checks, scans, cleanup) is an hour away, verify is every second.
pub fn quiet_timings(config: &mut Config) {
    let hour = Duration::from_secs(3600);
    let t = &mut config.timings;
    t.member_ping_interval = hour;
    t.beat_check_interval = hour;
    t.conn_scan_interval = hour;
    t.cleanup_interval = hour;
    t.verify_interval = Duration::from_secs(1);
    t.replica_expiry = hour * 24;
    t.beat_timeout = hour * 24;
    t.delete_timeout = hour * 24;
    t.sync_timeout = hour;
    config.limits.max_clients = 2_000_000;
    config.limits.max_services = 1_000_000;
    config.limits.max_subscriptions = 1_000_000;
}

/// A standalone node with quiet timings.
pub fn standalone() -> Node {
    let mut cfg = Config::standalone(SELF_ID);
    quiet_timings(&mut cfg);
    Node::new(cfg, Timestamp::from_millis(1))
}

/// A member of a cluster of `1 + peers` members whose outgoing links and incoming
/// connections (handshake done) are up, and which has loaded an empty snapshot, so it is ready.
pub struct Member {
    /// The node.
    pub node: Node,
    /// The peers, in order.
    pub peers: Vec<MemberId>,
}

impl Member {
    /// A ready member of a cluster with `peers` other members (at most 2) and quiet timings.
    pub fn new(peers: usize) -> Member {
        Member::with_seed(peers, 7)
    }

    /// Like [`Member::new`] with a chosen seed (the snapshot session follows from it).
    pub fn with_seed(peers: usize, seed: u64) -> Member {
        let (node, peers) = Member::linked_quiet(peers, seed);
        let mut m = Member { node, peers };
        m.load_empty_snapshot();
        m
    }

    /// A member whose links are up and which has asked `peers[0]` for a snapshot, not yet
    /// answered (not ready). Returns the node, the peers and the snapshot session.
    pub fn loading(peers: usize, seed: u64) -> (Node, Vec<MemberId>, u64) {
        let (mut node, peers) = Member::linked_quiet(peers, seed);
        let mut session = None;
        for p in &peers {
            let now = node.now();
            node.handle_input(Input::PeerUp {
                now,
                member: p.clone(),
            })
            .expect("peer up");
            for (_, frame) in drain_transmits(&mut node) {
                if let Ok(PeerMsg::SnapshotRequest { session: s, .. }) =
                    decode_payload::<PeerMsg>(&frame[4..])
                {
                    session = Some(s);
                }
            }
        }
        (node, peers, session.expect("a snapshot request"))
    }

    /// A ready member named `self_id` in a cluster with `peers` (their incoming connections
    /// numbered in this order from [`PEER_CONN_BASE`]).
    pub fn named(self_id: &str, peers: &[&str], seed: u64) -> Member {
        let (node, peers) = Member::linked_as(self_id, peers, seed);
        let mut m = Member { node, peers };
        m.load_empty_snapshot();
        m
    }

    fn linked_quiet(peers: usize, seed: u64) -> (Node, Vec<MemberId>) {
        assert!(peers <= PEER_IDS.len());
        Member::linked_as(SELF_ID, &PEER_IDS[..peers], seed)
    }

    fn linked_as(self_id: &str, peers: &[&str], seed: u64) -> (Node, Vec<MemberId>) {
        let mut members = vec![self_id];
        members.extend(peers);
        let mut cfg = Config::cluster(self_id, &members);
        cfg.seed = seed;
        quiet_timings(&mut cfg);
        let mut node = Node::new(cfg, Timestamp::from_millis(1));
        drain(&mut node);
        let ids: Vec<MemberId> = peers.iter().map(|p| MemberId::new(p)).collect();
        for (i, id) in ids.iter().enumerate() {
            feed_peer(&mut node, i, &PeerMsg::Hello(hello(id)));
        }
        (node, ids)
    }

    fn load_empty_snapshot(&mut self) {
        let mut session = None;
        for p in &self.peers {
            let now = self.node.now();
            self.node
                .handle_input(Input::PeerUp {
                    now,
                    member: p.clone(),
                })
                .expect("peer up");
            for (_, frame) in drain_transmits(&mut self.node) {
                if let Ok(PeerMsg::SnapshotRequest { session: s, .. }) =
                    decode_payload::<PeerMsg>(&frame[4..])
                {
                    session = Some(s);
                }
            }
        }
        if let Some(session) = session {
            feed_peer(
                &mut self.node,
                0,
                &PeerMsg::SnapshotChunk {
                    session,
                    seq: 0,
                    last: true,
                    records: vec![],
                },
            );
        }
        assert!(self.node.is_ready(), "member did not become ready");
    }

    /// Registers `count` ip-port clients (one instance each, spread over `services`
    /// services) that this member is responsible for, acknowledging the sync frames it sends.
    /// Returns the clients' addresses.
    pub fn register_owned(&mut self, count: usize, services: usize) -> Vec<(Arc<str>, u16)> {
        let addrs = owned_addrs(&self.node, count);
        let keys: Vec<ServiceKey> = (0..services.max(1))
            .map(|s| service(&format!("svc-{s}")))
            .collect();
        for (n, (ip, port)) in addrs.iter().enumerate() {
            let request = Request::Register {
                service: keys[n % keys.len()].clone(),
                instance: Instance::new(ip, *port),
            };
            request_in(&mut self.node, n as u64, request);
            self.ack_syncs();
        }
        addrs
    }

    /// Drains the node, answering every sync frame with its acknowledgement.
    pub fn ack_syncs(&mut self) -> Drained {
        let mut d = Drained::default();
        loop {
            let mut acks = Vec::new();
            loop {
                match self.node.poll_output() {
                    Output::Timeout(_) => break,
                    Output::Reply { .. } => d.replies += 1,
                    Output::Transmit { to, frame } => {
                        d.transmits += 1;
                        if let Some(batch) = sync_batch(&frame) {
                            let peer = self.peers.iter().position(|p| *p == to).expect("peer");
                            acks.push((peer, encode_frame(&PeerMsg::SyncAck { batch })));
                        }
                    }
                    _ => d.other += 1,
                }
            }
            if acks.is_empty() {
                return d;
            }
            for (peer, ack) in acks {
                let now = self.node.now();
                self.node
                    .handle_input(Input::PeerFrame {
                        now,
                        conn: ConnId(PEER_CONN_BASE + peer as u64),
                        frame: &ack[4..],
                    })
                    .expect("ack accepted");
            }
        }
    }
}

/// The handshake of peer `member`.
pub fn hello(member: &MemberId) -> Hello {
    Hello {
        cluster: "distro".into(),
        member: member.clone(),
        version: distro_core::wire::PEER_PROTOCOL_VERSION,
        epoch: 1,
        shards: 1,
    }
}

/// Feeds `msg` as if it came from peer number `peer` (its incoming connection), and drains.
pub fn feed_peer(node: &mut Node, peer: usize, msg: &PeerMsg) -> Drained {
    let frame = encode_frame(msg);
    feed_peer_frame(node, peer, &frame)
}

/// Feeds an encoded frame (length prefix included) from peer number `peer`, and drains.
pub fn feed_peer_frame(node: &mut Node, peer: usize, frame: &[u8]) -> Drained {
    let now = node.now();
    node.handle_input(Input::PeerFrame {
        now,
        conn: ConnId(PEER_CONN_BASE + peer as u64),
        frame: &frame[4..],
    })
    .expect("peer frame accepted");
    drain(node)
}

/// Hands `request` to the node on [`CLIENT_CONN`] and drains it.
pub fn request_in(node: &mut Node, id: u64, request: Request) -> Drained {
    let now = node.now();
    node.handle_input(Input::Request {
        now,
        conn: CLIENT_CONN,
        id: RequestId(id),
        request,
    })
    .expect("request accepted");
    drain(node)
}

/// The batch number of a `PeerMsg::Sync` frame, read from its first bytes without decoding the
/// records (postcard: variant index, then the batch as a varint).
pub fn sync_batch(frame: &[u8]) -> Option<u64> {
    const SYNC_VARIANT: u8 = 3;
    let body = frame.get(5..)?;
    if body.first() != Some(&SYNC_VARIANT) {
        return None;
    }
    let mut batch = 0u64;
    for (i, b) in body[1..].iter().take(10).enumerate() {
        batch |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(batch);
        }
    }
    None
}

/// `count` distinct ip-port addresses the node is responsible for.
pub fn owned_addrs(node: &Node, count: usize) -> Vec<(Arc<str>, u16)> {
    let me = node.config().self_id.clone();
    let mut v = Vec::with_capacity(count);
    let mut n = 0u64;
    while v.len() < count {
        let ip = ip_of(n);
        let port = port_of(n);
        if *node.responsible_member(&ip, port) == me {
            v.push((Arc::from(ip.as_str()), port));
        }
        n += 1;
    }
    v
}

/// A client record of one instance at `revision.time == time`, written by a peer.
pub fn client_record(n: u64, service: &ServiceKey, time: u64) -> ClientRecord {
    let ip = ip_of(n);
    let port = port_of(n);
    ClientRecord {
        id: ClientId::ip_port(&ip, port),
        revision: Revision { time, writer: 99 },
        publications: vec![Publication {
            service: service.clone(),
            instances: std::iter::once(Instance::new(&ip, port)).collect(),
        }],
    }
}

/// A source of `Sync` frames from a peer, cycling over a fixed set of clients with
/// revisions that grow every round, so that every record of every frame applies.
#[derive(Debug)]
pub struct SyncFeed {
    clients: u64,
    next: u64,
    batch: u64,
    services: Vec<ServiceKey>,
}

impl SyncFeed {
    /// A feed over `clients` clients (spread over 16 services).
    pub fn new(clients: u64) -> SyncFeed {
        SyncFeed {
            clients: clients.max(1),
            next: 0,
            batch: 1,
            services: (0..16).map(|s| service(&format!("sync-{s}"))).collect(),
        }
    }

    /// The next `frames` frames of `per_frame` records each.
    pub fn frames(&mut self, frames: usize, per_frame: usize) -> Vec<Bytes> {
        (0..frames)
            .map(|_| {
                let records = (0..per_frame)
                    .map(|_| {
                        let n = self.next % self.clients;
                        let round = self.next / self.clients;
                        self.next += 1;
                        let svc = &self.services[(n % 16) as usize];
                        Record::Client(client_record(n, svc, (round + 1) * 1_000))
                    })
                    .collect();
                self.batch += 1;
                encode_frame(&PeerMsg::Sync {
                    batch: self.batch,
                    records,
                })
            })
            .collect()
    }
}

/// A `Verify` frame listing `entries`.
pub fn verify_frame(round: u64, entries: Vec<(ClientId, Revision)>) -> Bytes {
    encode_frame(&PeerMsg::Verify { round, entries })
}

/// Advances the node's clock by `by` and handles the timeout; returns the drain.
pub fn tick(node: &mut Node, by: Duration) -> Vec<(MemberId, Bytes)> {
    let now = node.now().plus(by);
    node.handle_input(Input::Timeout(now)).expect("timeout");
    drain_transmits(node)
}

/// The HTTP request of a v1 register.
pub fn http_register_bytes(n: u64) -> Vec<u8> {
    format!(
        "POST /nacos/v1/ns/instance?serviceName=svc-{}&ip={}&port={}&ephemeral=true&weight=1.0&healthy=true&enabled=true&clusterName=DEFAULT HTTP/1.1\r\nHost: 127.0.0.1:8848\r\nUser-Agent: Nacos-Java-Client:v1.4.6\r\nContent-Length: 0\r\n\r\n",
        n % 100,
        ip_of(n),
        port_of(n)
    )
    .into_bytes()
}

/// The HTTP request of a v1 light beat.
pub fn http_beat_bytes(n: u64) -> Vec<u8> {
    format!(
        "PUT /nacos/v1/ns/instance/beat?serviceName=svc-{}&ip={}&port={} HTTP/1.1\r\nHost: 127.0.0.1:8848\r\nUser-Agent: Nacos-Java-Client:v1.4.6\r\nContent-Length: 0\r\n\r\n",
        n % 100,
        ip_of(n),
        port_of(n)
    )
    .into_bytes()
}

/// The HTTP request of a v1 beat with a `beat` JSON body (as the Java 1.x SDK sends it).
pub fn http_full_beat_bytes(n: u64) -> Vec<u8> {
    let beat = format!(
        "%7B%22cluster%22%3A%22DEFAULT%22%2C%22ip%22%3A%22{ip}%22%2C%22metadata%22%3A%7B%7D%2C%22period%22%3A5000%2C%22port%22%3A{port}%2C%22scheduled%22%3Afalse%2C%22serviceName%22%3A%22DEFAULT_GROUP%40%40svc-{s}%22%2C%22stopped%22%3Afalse%2C%22weight%22%3A1.0%7D",
        ip = ip_of(n),
        port = port_of(n),
        s = n % 100
    );
    let body = format!("serviceName=DEFAULT_GROUP%40%40svc-{}&beat={beat}", n % 100);
    format!(
        "PUT /nacos/v1/ns/instance/beat HTTP/1.1\r\nHost: 127.0.0.1:8848\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The HTTP request of a v1 list.
pub fn http_list_bytes(service: &str) -> Vec<u8> {
    format!(
        "GET /nacos/v1/ns/instance/list?serviceName={service}&clusters=&healthyOnly=false&namespaceId=public HTTP/1.1\r\nHost: 127.0.0.1:8848\r\n\r\n"
    )
    .into_bytes()
}
