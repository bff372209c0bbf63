//! The `node` target: three nodes of one cluster driven by a script read from fuzzer bytes.

use super::{drain, gen, small_limits, ByteReader};
use crate::wire::{encode_frame, ClientMsg};
use crate::{Config, ConnId, Input, MemberId, Node, Output, PushTarget, RequestId, Timestamp};
use bytes::Bytes;
use core::fmt::Write as _;
use core::hash::Hasher as _;
use core::time::Duration;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

/// Nodes in the cluster.
const N: usize = 3;
/// The connection HTTP requests arrive on (never opened as native).
const HTTP_CONN: ConnId = ConnId(1);
/// A connection that is no member's link: a stranger that may claim to be one.
const STRANGER_CONN: ConnId = ConnId(2);
/// Frames in flight beyond this are lost.
const MAX_QUEUE: usize = 4096;
/// Most frames delivered while quiescing before it counts as a livelock.
const MAX_QUIESCE: usize = 100_000;
/// How far one time step moves the clock.
const STEPS_MS: [u64; 8] = [1, 20, 100, 1_000, 2_000, 5_000, 30_000, 200_000];

/// The incoming connection at a node that carries `from`'s link to it.
fn peer_conn(from: usize) -> ConnId {
    ConnId(100 + from as u64)
}

/// What the host does after a drain, once every output was routed.
enum Followup {
    /// Node `at` asked to close `from`'s link to it.
    LinkBroken { from: usize, at: usize },
    /// Node `at` asked to close a native connection; the host reports it closed.
    Closed { at: usize, conn: ConnId },
}

struct Cluster {
    nodes: Vec<Node>,
    cfgs: Vec<Config>,
    ids: Vec<MemberId>,
    now: Timestamp,
    /// Frames in flight: sender, receiver, frame with its length prefix.
    queue: VecDeque<(usize, usize, Bytes)>,
    /// `links[i][j]`: node i's outgoing link to node j is up.
    links: [[bool; N]; N],
    /// Open native connections per node.
    native: [Vec<ConnId>; N],
    next_conn: u64,
    next_req: u64,
    /// Requests not answered yet: node, connection, id.
    waiting: BTreeSet<(usize, ConnId, RequestId)>,
    /// UDP pushes seen, to acknowledge: node, subscriber, ack number.
    udp_pushes: Vec<(usize, SocketAddr, u64)>,
    /// Every output, folded into a hash, for the determinism check.
    trace: TraceHash,
}

/// A fixed-key hash of everything written into it.
struct TraceHash(DefaultHasher);

impl core::fmt::Write for TraceHash {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl Cluster {
    fn new(r: &mut ByteReader) -> Self {
        let flags = r.u8();
        let ids: Vec<MemberId> = (0..N)
            .map(|i| MemberId::new(&format!("10.0.0.{}:8848", i + 1)))
            .collect();
        let cfgs: Vec<Config> = (0..N)
            .map(|i| {
                let mut c = Config {
                    self_id: ids[i].clone(),
                    members: ids.clone(),
                    seed: u64::from(flags) + i as u64,
                    limits: small_limits(),
                    ..Config::default()
                };
                if flags & 1 == 1 {
                    c.timings.sync_delay = Duration::from_millis(20);
                }
                c
            })
            .collect();
        let nodes = cfgs
            .iter()
            .map(|c| Node::new(c.clone(), Timestamp::ZERO))
            .collect();
        let mut c = Cluster {
            nodes,
            cfgs,
            ids,
            now: Timestamp::ZERO,
            queue: VecDeque::new(),
            links: [[false; N]; N],
            native: Default::default(),
            next_conn: 1000,
            next_req: 0,
            waiting: BTreeSet::new(),
            udp_pushes: Vec::new(),
            trace: TraceHash(DefaultHasher::new()),
        };
        for i in 0..N {
            c.after_input(i);
        }
        for i in 0..N {
            for j in 0..N {
                if i != j {
                    c.link_up(i, j);
                }
            }
        }
        c.deliver_all();
        c
    }

    /// Feeds one input to node `i` and does what its outputs say.
    fn feed(&mut self, i: usize, input: Input<'_>) -> Result<(), crate::Error> {
        let result = self.nodes[i].handle_input(input);
        self.after_input(i);
        result
    }

    /// Feeds an input that cannot be wrong: it must be accepted.
    fn feed_ok(&mut self, i: usize, input: Input<'_>) {
        let what = format!("{input:?}");
        if let Err(e) = self.feed(i, input) {
            panic!("node {i} refused {what}: {e}");
        }
    }

    fn after_input(&mut self, i: usize) {
        let drained = drain(&mut self.nodes[i]);
        self.check_bounds(i);
        let mut followups = Vec::new();
        for o in drained {
            self.route(i, o, &mut followups);
        }
        for f in followups {
            match f {
                Followup::LinkBroken { from, at } => self.link_down(from, at),
                Followup::Closed { at, conn } => self.feed_ok(
                    at,
                    Input::ConnectionClosed {
                        now: self.now,
                        conn,
                    },
                ),
            }
        }
    }

    fn route(&mut self, i: usize, o: Output, followups: &mut Vec<Followup>) {
        let _ = writeln!(self.trace, "{i} {o:?}");
        match o {
            Output::Transmit { to, frame } => {
                assert!(frame.len() > 5, "empty frame to {to:?}");
                let prefix = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                assert_eq!(prefix as usize, frame.len() - 4, "length prefix");
                let Some(j) = self.ids.iter().position(|m| *m == to) else {
                    return; // a member only a membership change made up
                };
                assert_ne!(i, j, "node {i} sent a frame to itself");
                if self.links[i][j] && self.queue.len() < MAX_QUEUE {
                    self.queue.push_back((i, j, frame));
                }
            }
            Output::Reply { conn, id, reply } => {
                assert!(
                    self.waiting.remove(&(i, conn, id)),
                    "node {i} answered {conn:?} {id:?}, which waits for nothing: {reply:?}"
                );
            }
            Output::Push { to, .. } => match to {
                PushTarget::Conn(conn) => assert!(
                    self.native[i].contains(&conn),
                    "node {i} pushed to {conn:?}, which is not an open native connection"
                ),
                PushTarget::Udp { addr, ack } => {
                    if self.udp_pushes.len() < 16 {
                        self.udp_pushes.push((i, addr, ack));
                    }
                }
            },
            Output::Probe { conn } => assert!(
                self.native[i].contains(&conn),
                "node {i} probed {conn:?}, which is not an open native connection"
            ),
            Output::Close { conn } => {
                if let Some(k) = self.native[i].iter().position(|c| *c == conn) {
                    self.native[i].remove(k);
                    followups.push(Followup::Closed { at: i, conn });
                } else if let Some(from) = (0..N).find(|&j| j != i && peer_conn(j) == conn) {
                    followups.push(Followup::LinkBroken { from, at: i });
                }
            }
            Output::Event(_) => {}
            Output::Timeout(_) => unreachable!("drain ends at the timeout"),
        }
    }

    /// Everything node `i` holds is within its limits, and its service index is consistent.
    fn check_bounds(&self, i: usize) {
        let n = &self.nodes[i];
        let l = &n.cfg.limits;
        let reg = &n.registry;
        assert!(
            reg.client_count() <= l.max_clients,
            "clients over the limit"
        );
        assert!(
            reg.service_count() <= l.max_services,
            "services over the limit"
        );
        assert!(
            n.push.count() <= l.max_subscriptions,
            "subscriptions over the limit"
        );
        let mut instances = 0;
        for c in reg.clients.values() {
            assert_eq!(
                c.beats.len(),
                c.record.publications.len(),
                "{:?}",
                c.record.id
            );
            for p in &c.record.publications {
                instances += p.instances.len();
                let entry = reg.services.get(&p.service);
                assert!(
                    entry.is_some_and(|e| e.publishers.contains(&c.record.id)),
                    "{:?} publishes in {:?} but is not indexed there",
                    c.record.id,
                    p.service
                );
            }
        }
        assert_eq!(instances, reg.instance_count(), "instance count");
        assert!(instances <= l.max_clients * l.max_instances_per_client);
        for (service, e) in &reg.services {
            for id in &e.publishers {
                let c = reg.clients.get(id);
                assert!(
                    c.is_some_and(|c| c.find(service).is_ok()),
                    "{service:?} lists {id:?}, which does not publish there"
                );
            }
        }
    }

    fn link_up(&mut self, i: usize, j: usize) {
        if self.links[i][j] {
            return;
        }
        self.links[i][j] = true;
        let member = self.ids[j].clone();
        self.feed_ok(
            i,
            Input::PeerUp {
                now: self.now,
                member,
            },
        );
    }

    fn link_down(&mut self, i: usize, j: usize) {
        if !self.links[i][j] {
            return;
        }
        self.links[i][j] = false;
        self.queue.retain(|(from, to, _)| !(*from == i && *to == j));
        let member = self.ids[j].clone();
        self.feed_ok(
            i,
            Input::PeerDown {
                now: self.now,
                member,
            },
        );
        let conn = peer_conn(i);
        self.feed_ok(
            j,
            Input::ConnectionClosed {
                now: self.now,
                conn,
            },
        );
    }

    /// Delivers the frame at `k` in the queue, if any.
    fn deliver(&mut self, k: usize) {
        let Some((from, to, frame)) = self.queue.remove(k) else {
            return;
        };
        let max = self.nodes[to].cfg.limits.max_frame_len;
        if frame.len() - 4 > max {
            // The receiver's frame decoder refuses it and drops the connection.
            self.link_down(from, to);
            return;
        }
        let input = Input::PeerFrame {
            now: self.now,
            conn: peer_conn(from),
            frame: &frame[4..],
        };
        // A frame on a link can be refused (a duplicate handshake, one from before a restart).
        let _ = self.feed(to, input);
    }

    /// Delivers frames until none is in flight.
    fn deliver_all(&mut self) {
        let mut delivered = 0;
        while !self.queue.is_empty() {
            delivered += 1;
            assert!(
                delivered < MAX_QUIESCE,
                "the nodes never stop sending frames"
            );
            self.deliver(0);
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.plus(d);
        for i in 0..N {
            self.feed_ok(i, Input::Timeout(self.now));
        }
    }

    fn new_request_id(&mut self) -> RequestId {
        self.next_req += 1;
        RequestId(self.next_req)
    }

    /// Node `i` crashes and starts again at once, its links restored.
    fn restart(&mut self, i: usize) {
        for j in 0..N {
            if j != i {
                self.link_down(j, i);
                self.link_down(i, j);
            }
        }
        self.queue.retain(|(from, to, _)| *from != i && *to != i);
        self.waiting.retain(|(at, _, _)| *at != i);
        self.udp_pushes.retain(|(at, _, _)| *at != i);
        self.native[i].clear();
        self.nodes[i] = Node::new(self.cfgs[i].clone(), self.now);
        self.after_input(i);
        for j in 0..N {
            if j != i {
                self.link_up(i, j);
                self.link_up(j, i);
            }
        }
    }

    /// One step of the script.
    fn step(&mut self, r: &mut ByteReader) {
        let i = r.below(N);
        match r.u8() % 16 {
            0 => self.deliver(0),
            1 => {
                for _ in 0..=r.below(32) {
                    self.deliver(0);
                }
            }
            2 => self.deliver(r.below(self.queue.len())),
            3 => {
                let k = r.below(self.queue.len());
                if let Some(f) = self.queue.get(k).cloned() {
                    self.queue.push_back(f);
                }
            }
            4 => {
                let k = r.below(self.queue.len());
                self.queue.remove(k);
            }
            5 => {
                let k = r.below(self.queue.len());
                let (at, flip) = (r.u16(), r.u8() | 1);
                if let Some((_, _, frame)) = self.queue.get_mut(k) {
                    let mut body = frame.to_vec();
                    let at = 4 + usize::from(at) % (body.len() - 4);
                    body[at] ^= flip;
                    *frame = Bytes::from(body);
                }
            }
            6 => {
                let ms = *r.pick(&STEPS_MS);
                self.advance(Duration::from_millis(ms));
            }
            7 | 8 => {
                let conn = match self.native[i].is_empty() || r.bool() {
                    true => HTTP_CONN,
                    false => *r.pick(&self.native[i]),
                };
                let id = self.new_request_id();
                let request = gen::request(r);
                // Now and then a timestamp from the past, which the node clamps.
                let now = if r.one_in(8) {
                    Timestamp::ZERO
                } else {
                    self.now
                };
                self.waiting.insert((i, conn, id));
                self.feed_ok(
                    i,
                    Input::Request {
                        now,
                        conn,
                        id,
                        request,
                    },
                );
            }
            9 => {
                if self.native[i].is_empty() {
                    return;
                }
                let conn = *r.pick(&self.native[i]);
                let kind = r.u8() % 5;
                if kind == 4 {
                    self.feed_ok(
                        i,
                        Input::ProbeAnswered {
                            now: self.now,
                            conn,
                        },
                    );
                    return;
                }
                let frame = match kind {
                    0 | 1 => {
                        let id = self.new_request_id();
                        let request = gen::request(r);
                        self.waiting.insert((i, conn, id));
                        encode_frame(&ClientMsg::Request { id, request })
                    }
                    2 => encode_frame(&ClientMsg::ProbeAck),
                    _ => {
                        let mut f = vec![0; 4];
                        f.extend_from_slice(r.bytes(48));
                        Bytes::from(f)
                    }
                };
                let _ = self.feed(
                    i,
                    Input::ClientFrame {
                        now: self.now,
                        conn,
                        frame: &frame[4..],
                    },
                );
            }
            10 => {
                self.next_conn += 1;
                let conn = ConnId(self.next_conn);
                self.native[i].push(conn);
                self.feed_ok(
                    i,
                    Input::ConnectionOpened {
                        now: self.now,
                        conn,
                    },
                );
            }
            11 => {
                let conn = if self.native[i].is_empty() {
                    ConnId(r.u8().into())
                } else {
                    let k = r.below(self.native[i].len());
                    self.native[i].remove(k)
                };
                self.feed_ok(
                    i,
                    Input::ConnectionClosed {
                        now: self.now,
                        conn,
                    },
                );
            }
            12 => {
                let j = r.below(N);
                if i != j && self.links[i][j] {
                    self.link_down(i, j);
                } else if i != j {
                    self.link_up(i, j);
                }
            }
            13 => {
                let j = r.below(N);
                let conn = if j != i && self.links[j][i] && r.bool() {
                    peer_conn(j)
                } else {
                    STRANGER_CONN
                };
                let body = if r.one_in(4) {
                    r.bytes(64).to_vec()
                } else {
                    let cluster = self.cfgs[i].cluster_name.clone();
                    encode_frame(&gen::peer_msg(r, &self.ids, &cluster))[4..].to_vec()
                };
                let input = Input::PeerFrame {
                    now: self.now,
                    conn,
                    frame: &body,
                };
                let _ = self.feed(i, input);
            }
            14 => {
                let (at, from, data) = match self.udp_pushes.is_empty() || r.bool() {
                    true => (
                        i,
                        SocketAddr::from(([192, 0, 2, 1], 9000)),
                        r.bytes(64).to_vec(),
                    ),
                    false => {
                        let (at, from, ack) =
                            self.udp_pushes.remove(r.below(self.udp_pushes.len()));
                        let ack = format!(r#"{{"type":"push-ack","lastRefTime":{ack},"data":""}}"#);
                        (at, from, ack.into_bytes())
                    }
                };
                let input = Input::Datagram {
                    now: self.now,
                    from,
                    data: &data,
                };
                let _ = self.feed(at, input);
            }
            _ => match r.u8() % 4 {
                0 => self.restart(i),
                1 => {
                    let mask = r.u8();
                    let mut members: Vec<MemberId> = (0..N)
                        .filter(|k| mask & (1 << k) != 0)
                        .map(|k| self.ids[k].clone())
                        .collect();
                    if mask & 0x80 != 0 {
                        members.push(MemberId::new("10.0.0.9:8848"));
                    }
                    self.feed_ok(
                        i,
                        Input::SetMembers {
                            now: self.now,
                            members,
                        },
                    );
                }
                _ => {
                    let members = self.ids.clone();
                    self.feed_ok(
                        i,
                        Input::SetMembers {
                            now: self.now,
                            members,
                        },
                    );
                }
            },
        }
    }

    /// Lets the network go quiet and the clock pass every forward timeout; then every request
    /// must have its reply.
    fn finish(&mut self) {
        for _ in 0..3 {
            self.deliver_all();
            self.advance(Duration::from_secs(3));
        }
        self.deliver_all();
        assert!(
            self.waiting.is_empty(),
            "requests never answered: {:?}",
            self.waiting
        );
    }
}

/// Runs the script in `data` and returns the hash of every output.
fn run_once(data: &[u8]) -> u64 {
    let mut r = ByteReader::new(data);
    let mut cluster = Cluster::new(&mut r);
    while !r.is_empty() {
        cluster.step(&mut r);
    }
    cluster.finish();
    cluster.trace.0.finish()
}

/// The `node` target; see [`node`](super::node).
pub fn run(data: &[u8]) {
    let trace = run_once(data);
    // Seeded determinism, for one input in two (the high bit of the configuration byte).
    if data.first().is_some_and(|b| b & 0x80 != 0) {
        assert_eq!(run_once(data), trace, "the same inputs gave other outputs");
    }
}
