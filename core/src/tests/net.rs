//! A minimal in-memory network of nodes for the core's own tests: virtual time, fixed latency,
//! links that can be cut, and a filter to drop chosen peer messages.

use crate::wire::{decode_payload, encode_frame, ClientMsg, PeerMsg};
use crate::*;
use bytes::Bytes;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::Arc;

pub type Filter = Box<dyn FnMut(usize, usize, &PeerMsg) -> bool>;

pub struct Net {
    pub nodes: Vec<Node>,
    pub ids: Vec<MemberId>,
    pub now: Timestamp,
    pub latency: Duration,
    deadlines: Vec<Timestamp>,
    queue: VecDeque<(Timestamp, usize, usize, Bytes)>,
    /// `links[i][j]`: node i's outgoing link to node j is up.
    links: Vec<Vec<bool>>,
    /// Node is running (a stopped node receives nothing and is not driven).
    pub alive: Vec<bool>,
    /// Return false to drop a message from i to j.
    pub filter: Option<Filter>,
    pub replies: Vec<(usize, ConnId, RequestId, Reply)>,
    pub pushes: Vec<(usize, Timestamp, PushTarget, Arc<ServiceView>)>,
    pub events: Vec<(usize, Timestamp, Event)>,
    pub probes: Vec<(usize, Timestamp, ConnId)>,
    pub closes: Vec<(usize, ConnId)>,
    /// Every output, rendered, for determinism checks.
    pub trace: Vec<String>,
    next_req: u64,
    /// The members each node knew at its last `MembersChanged` (or start).
    known: Vec<Vec<MemberId>>,
}

pub fn ids(n: usize) -> Vec<MemberId> {
    (0..n)
        .map(|i| MemberId::new(&format!("10.0.0.{}:8848", i + 1)))
        .collect()
}

pub fn config(n: usize, i: usize) -> Config {
    let ids = ids(n);
    Config {
        self_id: ids[i].clone(),
        members: ids,
        seed: 42 + i as u64,
        ..Config::default()
    }
}

pub fn svc(name: &str) -> ServiceKey {
    ServiceKey::parse(None, None, name)
}

impl Net {
    /// `n` members with default config, links up.
    pub fn new(n: usize) -> Self {
        Self::with(n, |_| {})
    }

    pub fn with(n: usize, tweak: impl Fn(&mut Config)) -> Self {
        let configs = (0..n)
            .map(|i| {
                let mut c = config(n, i);
                tweak(&mut c);
                c
            })
            .collect();
        Self::of(configs)
    }

    /// One node per config, named by its `self_id`, links up.
    pub fn of(configs: Vec<Config>) -> Self {
        let n = configs.len();
        let ids = configs.iter().map(|c| c.self_id.clone()).collect();
        let nodes: Vec<Node> = configs
            .into_iter()
            .map(|c| Node::new(c, Timestamp::ZERO))
            .collect();
        let known = nodes
            .iter()
            .map(|n| n.members().into_iter().map(|m| m.id).collect())
            .collect();
        let mut net = Net {
            nodes,
            ids,
            now: Timestamp::ZERO,
            latency: Duration::from_millis(1),
            deadlines: vec![Timestamp::ZERO; n],
            queue: VecDeque::new(),
            links: vec![vec![false; n]; n],
            alive: vec![true; n],
            filter: None,
            replies: vec![],
            pushes: vec![],
            events: vec![],
            probes: vec![],
            closes: vec![],
            trace: vec![],
            next_req: 0,
            known,
        };
        for i in 0..n {
            net.drain(i);
        }
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    net.link(i, j, true);
                }
            }
        }
        // let the startup snapshots and handshakes settle
        net.run_for(Duration::from_millis(100));
        net
    }

    fn peer_conn(from: usize) -> ConnId {
        ConnId(1_000_000 + from as u64)
    }

    pub fn input(&mut self, i: usize, input: Input<'_>) -> Result<(), Error> {
        let r = self.nodes[i].handle_input(input);
        self.drain(i);
        r
    }

    /// Sets node i's outgoing link to j.
    pub fn link(&mut self, i: usize, j: usize, up: bool) {
        if self.links[i][j] == up {
            return;
        }
        self.links[i][j] = up;
        let member = self.ids[j].clone();
        let now = self.now;
        if up && self.alive[j] {
            let _ = self.input(i, Input::PeerUp { now, member });
        } else if !up {
            let _ = self.input(i, Input::PeerDown { now, member });
            let _ = self.input(
                j,
                Input::ConnectionClosed {
                    now,
                    conn: Self::peer_conn(i),
                },
            );
        }
    }

    /// Cuts or restores both directions between i and j.
    pub fn partition(&mut self, i: usize, j: usize, cut: bool) {
        self.link(i, j, !cut);
        self.link(j, i, !cut);
    }

    /// Stops node i (a crash: its memory is gone).
    pub fn crash(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.link(j, i, false);
                self.links[i][j] = false;
            }
        }
        self.alive[i] = false;
        self.queue.retain(|(_, from, to, _)| *from != i && *to != i);
    }

    /// Starts node i afresh at the current time.
    pub fn restart(&mut self, i: usize, cfg: Config) {
        self.nodes[i] = Node::new(cfg, self.now);
        self.known[i] = self.nodes[i].members().into_iter().map(|m| m.id).collect();
        self.alive[i] = true;
        self.drain(i);
        for j in 0..self.nodes.len() {
            if j != i {
                self.link(i, j, true);
                self.link(j, i, true);
            }
        }
    }

    pub fn drain(&mut self, i: usize) {
        let mut joined = Vec::new();
        loop {
            let o = self.nodes[i].poll_output();
            if !matches!(o, Output::Timeout(_)) {
                self.trace.push(format!("{i} {:?} {o:?}", self.now));
            }
            match o {
                Output::Transmit { to, frame } => {
                    let j = self
                        .ids
                        .iter()
                        .position(|m| *m == to)
                        .expect("known member");
                    if self.links[i][j] && self.alive[j] {
                        self.queue
                            .push_back((self.now.plus(self.latency), i, j, frame));
                    }
                }
                Output::Reply { conn, id, reply } => self.replies.push((i, conn, id, reply)),
                Output::Push { to, view } => self.pushes.push((i, self.now, to, view)),
                Output::Probe { conn } => self.probes.push((i, self.now, conn)),
                Output::Close { conn } => self.closes.push((i, conn)),
                Output::Event(e) => {
                    if let Event::MembersChanged { members } = &e {
                        let known = &mut self.known[i];
                        joined.extend(members.iter().filter(|m| !known.contains(m)).cloned());
                        *known = members.clone();
                    }
                    self.events.push((i, self.now, e))
                }
                Output::Timeout(d) => {
                    assert!(d >= self.now, "deadline in the past");
                    self.deadlines[i] = d;
                    break;
                }
            }
        }
        // A host links up to members it learns of (the link was up but unknown to the node).
        for m in joined {
            if let Some(j) = self.ids.iter().position(|x| *x == m) {
                if self.links[i][j] && self.alive[j] {
                    let now = self.now;
                    let _ = self.input(i, Input::PeerUp { now, member: m });
                }
            }
        }
    }

    /// Runs the network until virtual time `until`.
    pub fn run_until(&mut self, until: Timestamp) {
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 10_000_000, "livelock");
            let next_msg = self
                .queue
                .iter()
                .map(|q| q.0)
                .min()
                .unwrap_or(Timestamp::NEVER);
            let next_timer = (0..self.nodes.len())
                .filter(|&i| self.alive[i])
                .map(|i| self.deadlines[i])
                .min()
                .unwrap_or(Timestamp::NEVER);
            let next = next_msg.min(next_timer);
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            if next_msg <= next_timer {
                let pos = self
                    .queue
                    .iter()
                    .position(|q| q.0 == next_msg)
                    .expect("present");
                let (_, from, to, frame) = self.queue.remove(pos).expect("present");
                if !self.links[from][to] || !self.alive[to] {
                    continue;
                }
                if let Some(f) = self.filter.as_mut() {
                    let msg: PeerMsg = decode_payload(&frame[4..]).expect("own frames decode");
                    if !f(from, to, &msg) {
                        continue;
                    }
                }
                let now = self.now;
                let _ = self.input(
                    to,
                    Input::PeerFrame {
                        now,
                        conn: Self::peer_conn(from),
                        frame: &frame[4..],
                    },
                );
            } else {
                let i = (0..self.nodes.len())
                    .find(|&i| self.alive[i] && self.deadlines[i] == next_timer)
                    .expect("due");
                let now = self.now;
                let _ = self.input(i, Input::Timeout(now));
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now.plus(d);
        self.run_until(until);
    }

    /// Sends a request to node i on `conn` and runs up to 5 s until its reply.
    pub fn request_on(&mut self, i: usize, conn: ConnId, request: Request) -> Reply {
        self.next_req += 1;
        let id = RequestId(self.next_req);
        let now = self.now;
        self.input(
            i,
            Input::Request {
                now,
                conn,
                id,
                request,
            },
        )
        .unwrap();
        let deadline = self.now.plus(Duration::from_secs(5));
        loop {
            if let Some(pos) = self
                .replies
                .iter()
                .position(|r| r.0 == i && r.1 == conn && r.2 == id)
            {
                return self.replies.remove(pos).3;
            }
            assert!(self.now < deadline, "no reply within 5 s");
            let step = self.now.plus(Duration::from_millis(1));
            self.run_until(step);
        }
    }

    pub fn request(&mut self, i: usize, request: Request) -> Reply {
        self.request_on(i, ConnId(1), request)
    }

    /// Opens a native client connection `conn` on node i.
    pub fn open_native(&mut self, i: usize, conn: ConnId) {
        let now = self.now;
        self.input(i, Input::ConnectionOpened { now, conn })
            .unwrap();
    }

    /// Sends `request` as a native client frame on `conn` of node i.
    pub fn native_request(&mut self, i: usize, conn: ConnId, request: Request) {
        self.next_req += 1;
        let msg = ClientMsg::Request {
            id: RequestId(self.next_req),
            request,
        };
        self.client_msg(i, conn, &msg).unwrap();
    }

    /// A native client frame on `conn` of node i.
    pub fn client_msg(&mut self, i: usize, conn: ConnId, msg: &ClientMsg) -> Result<(), Error> {
        let frame = encode_frame(msg);
        let now = self.now;
        self.input(
            i,
            Input::ClientFrame {
                now,
                conn,
                frame: &frame[4..],
            },
        )
    }

    pub fn hosts(&self, i: usize, service: &str) -> Vec<HostView> {
        self.nodes[i]
            .registry()
            .list(&svc(service), "", false, &Timings::default(), 0)
            .hosts
    }

    /// Index of the member responsible for ip:port as member `at` sees it.
    pub fn owner_of_at(&self, at: usize, ip: &str, port: u16) -> usize {
        let m = self.nodes[at].responsible_member(ip, port).clone();
        self.ids.iter().position(|x| *x == m).unwrap()
    }

    /// Index of the member responsible for ip:port.
    pub fn owner_of(&self, ip: &str, port: u16) -> usize {
        let m = self.nodes[0].responsible_member(ip, port).clone();
        self.ids.iter().position(|x| *x == m).unwrap()
    }
}

/// Feeds `request` to a lone node (on connection 1) and drains it; returns the reply it gave
/// at once, if any.
pub fn ask(node: &mut Node, request: Request) -> Option<Reply> {
    let now = node.now();
    let input = Input::Request {
        now,
        conn: ConnId(1),
        id: RequestId(1),
        request,
    };
    node.handle_input(input).unwrap();
    let mut reply = None;
    loop {
        match node.poll_output() {
            Output::Reply { reply: r, .. } => reply = Some(r),
            Output::Timeout(_) => return reply,
            _ => {}
        }
    }
}

pub fn register(service: &str, ip: &str, port: u16) -> Request {
    Request::Register {
        service: svc(service),
        instance: Instance::new(ip, port),
    }
}

pub fn beat(service: &str, ip: &str, port: u16) -> Request {
    Request::Beat {
        service: svc(service),
        ip: ip.into(),
        port,
        register: None,
    }
}
