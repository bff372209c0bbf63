//! The simulator's core: the event queue, the member slots, booting nodes, and the run loop
//! (the earliest queued event or node timer next, ties broken by sequence number).

use super::clients::{ConnClient, ConnEv, IpClient, IpEv};
use super::config::{NetParams, SimConfig};
use super::invariants::Violation;
use super::links::Link;
use super::rng::Rng;
use super::trace::Trace;
use super::truth::SessionTruth;
use bytes::Bytes;
use distro_core::{ConnId, MemberId, Node, Request, RequestId, Timestamp};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

/// A hash map with a fast fixed hasher (iteration order never matters to the simulation:
/// every map is only looked up, or its results are sorted).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Connection ids of incoming peer links: `PEER_CONN + sender slot`.
pub(crate) const PEER_CONN: u64 = 1 << 40;
/// Connection ids of v1 (HTTP) clients: `HTTP_CONN + client index`.
pub(crate) const HTTP_CONN: u64 = 2 << 40;
/// Variant numbers of `PeerMsg::Verify` and `PeerMsg::VerifyDigest` in their postcard
/// encoding (checked by a test).
pub(crate) const VERIFY_VARIANT: u8 = 5;
pub(crate) const DIGEST_VARIANT: u8 = 11;

/// An input for a node, owned (it may wait in a paused node's backlog).
#[derive(Debug)]
pub(crate) enum NodeIn {
    PeerUp(usize),
    PeerDown(usize),
    PeerFrame {
        from: usize,
        frame: Bytes,
        fwd: Option<Fwd>,
    },
    ConnOpened(ConnId),
    ConnClosed(ConnId),
    ClientFrame(ConnId, Bytes),
    Request {
        conn: ConnId,
        id: RequestId,
        request: Request,
    },
    SetMembers(Vec<MemberId>),
    Datagram(std::net::SocketAddr, Bytes),
}

/// A frame that carries a client's forwarded write: which client, and when the forwarder
/// sent it (it gives up after the forward timeout and serves the write itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fwd {
    pub client: u32,
    pub sent: Timestamp,
    /// A write that creates the client where it is not held (a register, a beat's body).
    pub creates: bool,
}

/// Something that happens at a point of virtual time.
#[derive(Debug)]
pub(crate) enum Ev {
    Node(usize, NodeIn),
    Frame {
        from: usize,
        to: usize,
        gen: u32,
        frame: Bytes,
        fwd: Option<Fwd>,
    },
    LinkConnect {
        from: usize,
        to: usize,
        attempt: u32,
    },
    LinkDetect {
        from: usize,
        to: usize,
        gen: u32,
    },
    Resume(usize, u32),
    Ip(u32, IpEv),
    Conn(u32, ConnEv),
    Fault(super::config::Fault),
    RandomFault,
    EndFaults,
    Admin,
    Check,
    UnhealthyDue(u32, u32),
}

struct Scheduled {
    at: Timestamp,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the earliest (time, sequence) must compare greatest.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One member slot: a member address and, while it runs, its node.
pub(crate) struct Slot {
    pub id: MemberId,
    pub node: Option<Node>,
    pub deadline: Timestamp,
    /// Paused until this time (a `Resume` event is queued).
    pub paused: Option<Timestamp>,
    pub pause_gen: u32,
    pub backlog: Vec<NodeIn>,
    pub incarnation: u64,
    /// In the member list (false once removed).
    pub member: bool,
    pub crashed_at: Option<Timestamp>,
    /// When it last crashed (kept across restarts).
    pub last_crash: Option<Timestamp>,
    /// When its current node started.
    pub booted_at: Timestamp,
    /// When its current node last started or resumed from a pause.
    pub active_since: Timestamp,
    /// When its current node became ready.
    pub ready_at: Option<Timestamp>,
    /// Per member slot: since when its node has seen that member not DOWN (`None`: DOWN).
    pub sees: Vec<Option<Timestamp>>,
    /// The registry generation of its node at the last check after an event.
    pub checked_gen: u64,
    /// The member list its node has (slots), which its outgoing links follow.
    pub view: Vec<usize>,
}

/// A request a client sent and the simulator routes the reply of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReqInfo {
    pub client: ClientRef,
    pub member: usize,
    /// When the client sent it.
    pub sent: Timestamp,
}

/// Which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRef {
    Ip(u32),
    Conn(u32),
    /// The v1 subscription (list polls) of an ip-port client.
    Watch(u32),
    /// The operator (service settings).
    Admin,
}

/// A deterministic simulated cluster. See the [module docs](super).
pub struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) now: Timestamp,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    pub(crate) slots: Vec<Slot>,
    pub(crate) links: Vec<Vec<Link>>,
    pub(crate) net: NetParams,
    pub(crate) net_rng: Rng,
    pub(crate) fault_rng: Rng,
    pub(crate) trace: Trace,
    pub(crate) ip: Vec<IpClient>,
    pub(crate) ip_index: HashMap<(Arc<str>, u16), u32>,
    /// UDP address of a v1 subscriber -> ip-port client.
    pub(crate) watch_of: HashMap<std::net::SocketAddr, u32>,
    pub(crate) conn: Vec<ConnClient>,
    pub(crate) sessions: Vec<SessionTruth>,
    /// Native connection id -> session index.
    pub(crate) session_of: HashMap<u64, u32>,
    pub(crate) requests: BTreeMap<u64, ReqInfo>,
    /// The newest revision of every client seen at the last check, and since when.
    pub(crate) newest_seen: HashMap<distro_core::ClientId, (distro_core::Revision, Timestamp)>,
    /// The newest settings revision of every service seen at the last check, and since when.
    pub(crate) meta_seen: HashMap<distro_core::ServiceKey, (distro_core::Revision, Timestamp)>,
    pub(crate) next_conn: u64,
    pub(crate) next_req: u64,
    /// Invariants that do not hold yet may be checked from here on (faults settle).
    pub(crate) calm_from: Timestamp,
    /// When a member last started or resumed from a pause (it sees its peers as it left
    /// them until its own pings fail).
    pub(crate) last_boot: Timestamp,
    /// Lifecycle churn of clients stops here.
    pub(crate) churn_until: Timestamp,
    pub(crate) faults_until: Timestamp,
    pub(crate) violations: Vec<Violation>,
    /// When the beat-side check must look again (a member's grace for a missing client
    /// ends). Kept out of the event queue, so that checking never changes the order of events.
    pub(crate) side_recheck: Option<Timestamp>,
    /// When the network (common or of one link) last changed.
    pub(crate) net_changed_at: Timestamp,
    pub(crate) steps: u64,
    stalled_steps: u64,
    /// How often each kind of check judged something (to show the invariants were exercised).
    pub(crate) judged: super::runner::Judged,
    /// Wall-clock start, for the speed report only (never read by the simulation).
    pub(crate) started: std::time::Instant,
}

impl Sim {
    /// A cluster of `cfg.members` fresh members at time zero, with the workload and the fault
    /// plan scheduled (nothing runs until [`Sim::run_until`] or [`Sim::run_for`]).
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_trace(cfg, None)
    }

    /// Like [`Sim::new`], also writing the trace as text to `out`.
    pub fn with_trace(cfg: SimConfig, out: Option<Box<dyn std::io::Write>>) -> Self {
        let seed = cfg.seed;
        let mut sim = Sim {
            net: cfg.net.clone(),
            now: Timestamp::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            slots: Vec::new(),
            links: Vec::new(),
            net_rng: Rng::fork(seed, 1),
            fault_rng: Rng::fork(seed, 2),
            trace: Trace::new(out),
            ip: Vec::new(),
            ip_index: HashMap::default(),
            watch_of: HashMap::default(),
            conn: Vec::new(),
            sessions: Vec::new(),
            session_of: HashMap::default(),
            requests: BTreeMap::new(),
            newest_seen: HashMap::default(),
            meta_seen: HashMap::default(),
            next_conn: 1,
            next_req: 1,
            calm_from: Timestamp::ZERO,
            last_boot: Timestamp::ZERO,
            churn_until: Timestamp::NEVER,
            faults_until: Timestamp::ZERO.plus(cfg.faults.until),
            violations: Vec::new(),
            side_recheck: None,
            net_changed_at: Timestamp::ZERO,
            steps: 0,
            stalled_steps: 0,
            judged: Default::default(),
            started: std::time::Instant::now(),
            cfg,
        };
        for _ in 0..sim.cfg.members {
            sim.new_slot();
        }
        let members = sim.member_ids();
        for i in 0..sim.slots.len() {
            sim.set_view(i, &members);
        }
        for i in 0..sim.slots.len() {
            sim.boot(i, members.clone());
        }
        sim.disturb(core::time::Duration::ZERO);
        sim.spawn_workload();
        sim.schedule_faults();
        let check = Timestamp::ZERO.plus(sim.cfg.check_interval);
        sim.at(check, Ev::Check);
        sim
    }

    /// Queues `ev` at time `at` (never earlier than now).
    pub(crate) fn at(&mut self, at: Timestamp, ev: Ev) {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Queues `ev` after `d`.
    pub(crate) fn after(&mut self, d: core::time::Duration, ev: Ev) {
        self.at(self.now.plus(d), ev);
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The running node of slot `i`, if it runs.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots.get(i).and_then(|s| s.node.as_ref())
    }

    /// Number of member slots ever created (added members get new slots).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The address of slot `i`.
    pub fn member_id(&self, i: usize) -> &MemberId {
        &self.slots[i].id
    }

    /// The hash of everything traced so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }

    /// Inputs and outputs traced so far.
    pub fn trace_records(&self) -> u64 {
        self.trace.records
    }

    /// Every invariant violation found so far (the run stops at the first).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The addresses of the current member list.
    pub(crate) fn member_ids(&self) -> Vec<MemberId> {
        self.slots
            .iter()
            .filter(|s| s.member)
            .map(|s| s.id.clone())
            .collect()
    }

    pub(crate) fn new_slot(&mut self) -> usize {
        let i = self.slots.len();
        let id = MemberId::new(&format!("10.0.0.{}:8848", i + 1));
        self.slots.push(Slot {
            id,
            node: None,
            deadline: Timestamp::NEVER,
            paused: None,
            pause_gen: 0,
            backlog: Vec::new(),
            incarnation: 0,
            member: true,
            crashed_at: None,
            last_crash: None,
            booted_at: Timestamp::ZERO,
            active_since: Timestamp::ZERO,
            ready_at: None,
            sees: Vec::new(),
            checked_gen: u64::MAX,
            view: Vec::new(),
        });
        for row in &mut self.links {
            row.push(Link::default());
        }
        self.links.push((0..=i).map(|_| Link::default()).collect());
        i
    }

    /// Starts a fresh node in slot `i` with member list `members`, and connects its links.
    pub(crate) fn boot(&mut self, i: usize, members: Vec<MemberId>) {
        let slot = &mut self.slots[i];
        slot.incarnation += 1;
        let cfg = distro_core::Config {
            self_id: slot.id.clone(),
            members,
            shards: 1,
            cluster_name: "sim".into(),
            seed: super::rng::mix(self.cfg.seed ^ ((i as u64) << 32) ^ slot.incarnation),
            timings: self.cfg.timings.clone(),
            limits: self.cfg.limits.clone(),
        };
        let node = Node::new(cfg, self.now);
        slot.ready_at = node.is_ready().then_some(self.now);
        slot.node = Some(node);
        slot.booted_at = self.now;
        slot.active_since = self.now;
        slot.checked_gen = u64::MAX;
        // Members start seeing every peer UP (as Nacos does).
        let n = self.slots.len();
        self.slots[i].sees = vec![Some(self.now); n];
        self.last_boot = self.now;
        // A fresh member has seen no deletion yet.
        for c in &mut self.ip {
            c.gone_on &= !(1 << i);
        }
        for t in &mut self.sessions {
            t.gone_on &= !(1 << i);
        }
        self.slots[i].crashed_at = None;
        self.slots[i].deadline = self.now;
        self.drain(i);
        for j in 0..self.slots.len() {
            if j != i {
                self.ensure_link(i, j);
                self.ensure_link(j, i);
            }
        }
    }

    /// Whether slot `i` runs a node (crashed and removed members do not).
    pub(crate) fn alive(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    /// Runs until virtual time `until` (or the first invariant violation).
    pub fn run_until(&mut self, until: Timestamp) {
        while self.violations.is_empty() {
            let next_ev = self.queue.peek().map(|s| s.at).unwrap_or(Timestamp::NEVER);
            let (next_node, node) = self.next_timer();
            let next = next_ev.min(next_node);
            if let Some(at) = self.side_recheck.filter(|&at| at <= next.min(until)) {
                self.now = self.now.max(at);
                self.side_recheck = None;
                self.check_sides(None);
                continue;
            }
            if next > until {
                self.now = self.now.max(until);
                return;
            }
            self.steps += 1;
            if next == self.now {
                self.stalled_steps += 1;
                if self.stalled_steps > 2_000_000 {
                    self.violate(
                        "livelock",
                        "two million steps without time advancing".into(),
                    );
                    return;
                }
            } else {
                self.stalled_steps = 0;
            }
            self.now = next;
            if next_ev <= next_node {
                let ev = self.queue.pop().expect("peeked").ev;
                self.handle(ev);
            } else {
                self.feed(node, None);
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: core::time::Duration) {
        let until = self.now.plus(d);
        self.run_until(until);
    }

    fn next_timer(&self) -> (Timestamp, usize) {
        let mut best = (Timestamp::NEVER, usize::MAX);
        for (i, s) in self.slots.iter().enumerate() {
            if s.node.is_some() && s.paused.is_none() && s.deadline < best.0 {
                best = (s.deadline, i);
            }
        }
        best
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Node(i, NodeIn::SetMembers(_)) => {
                // Members read the current list when they get to it (announcements may race).
                let members = self.member_ids();
                self.deliver(i, NodeIn::SetMembers(members));
            }
            Ev::Node(i, input) => self.deliver(i, input),
            Ev::Frame {
                from,
                to,
                gen,
                frame,
                fwd,
            } => self.frame_arrives(from, to, gen, frame, fwd),
            Ev::LinkConnect { from, to, attempt } => self.link_connect(from, to, attempt),
            Ev::LinkDetect { from, to, gen } => self.link_detect(from, to, gen),
            Ev::Resume(i, gen) => self.resume(i, gen),
            Ev::Ip(c, ev) => self.ip_event(c, ev),
            Ev::Conn(c, ev) => self.conn_event(c, ev),
            Ev::Fault(f) => self.apply_fault(f),
            Ev::RandomFault => self.random_fault(),
            Ev::EndFaults => self.end_faults(),
            Ev::Admin => self.admin_act(),
            Ev::Check => {
                self.check();
                self.after(self.cfg.check_interval, Ev::Check);
            }
            Ev::UnhealthyDue(c, inc) => self.check_unhealthy(c, inc),
        }
    }

    /// Records an invariant violation; the run stops.
    pub(crate) fn violate(&mut self, kind: &'static str, detail: String) {
        let now = self.now;
        self.trace
            .note(now, format_args!("VIOLATION {kind}: {detail}"));
        self.trace.flush();
        self.violations.push(Violation {
            at: now,
            kind,
            detail,
        });
    }
}
