//! v1 clients (ip-port clients): register each service, beat every interval, and now and then
//! stop beating, deregister, come back or change their metadata. Requests go to a member of
//! the client's choice (the member forwards to the responsible one); a refused or unanswered
//! request is retried at another member, as the Nacos v1 client does.

use super::super::rng::Rng;
use super::super::world::{ClientRef, Ev, NodeIn, ReqInfo, Sim, HTTP_CONN};
use core::time::Duration;
use distro_core::{
    ConnId, Instance, Reply, Request, RequestId, Revision, ServiceKey, Timestamp, BEAT_OK,
};
use std::sync::Arc;

/// What an ip-port client is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpPhase {
    NotStarted,
    Registering,
    /// Changing its metadata in place (v1 `PUT /instance`), one service after another.
    Updating,
    Beating,
    Deregistering,
    /// Stopped beating (the application died); may come back later.
    Silent,
    /// Deregistered; may come back later.
    Gone,
}

/// Something that happens to an ip-port client.
#[derive(Debug)]
pub(crate) enum IpEv {
    Wake(u32),
    /// Time to poll the watched service's list.
    Poll(u32),
    /// The answer to a poll, from a member.
    Listed(usize, Reply),
    /// A UDP push from a member: `(member, ack, view)`.
    Pushed(usize, u64, std::sync::Arc<distro_core::ServiceView>),
    Reply(RequestId, Reply),
    Refused(RequestId),
    Timeout(RequestId),
}

/// An ip-port client and its ground truth.
#[derive(Debug)]
pub(crate) struct IpClient {
    pub ip: Arc<str>,
    pub port: u16,
    pub services: Vec<ServiceKey>,
    pub meta_version: u32,
    pub beat_body: bool,
    pub rng: Rng,
    pub phase: IpPhase,
    pub step: usize,
    pub wake_gen: u32,
    pub outstanding: Option<RequestId>,
    /// The member its requests go to (it forwards them to the responsible one).
    pub member: usize,
    /// Since when its requests go to `member`.
    pub member_since: Timestamp,
    // ---- ground truth ----
    /// Beating (or registering): it wants to be visible.
    pub active: bool,
    pub incarnation: u32,
    /// Writes that may still take effect.
    pub pending: u32,
    pub settled_at: Option<Timestamp>,
    pub deleted_rev: Option<Revision>,
    /// Members (bit per slot) that held its deletion since it settled.
    pub gone_on: u64,
    pub deregistered: bool,
    /// Every service registered and acknowledged (this incarnation).
    pub registered_at: Option<Timestamp>,
    pub last_beat_ok: Option<Timestamp>,
    /// When a member last got one of its requests (directly or forwarded): the latest
    /// evidence of life any member can hold.
    pub last_heard: Option<Timestamp>,
    /// When one of its writes was last executed where it may roll the client back: late, after
    /// its sender gave up on it (a stalled member, a blackholed link), or by a member still
    /// loading its snapshot, which writes from what little it holds (see `sides`).
    pub stale_write_at: Option<Timestamp>,
    /// Per member slot: since when it has lacked this live client (see `sides`).
    pub missing_since: Vec<Option<Timestamp>>,
    /// After a deregistration asked for by a scenario: register again after this.
    pub comeback: Option<Duration>,
    pub coming_back: bool,
    /// A service it also watches the v1 way (list with a UDP port, pushes), if any.
    pub watch: Option<super::UdpWatch>,
}

impl IpClient {
    pub fn new(k: usize, services: Vec<ServiceKey>, beat_body: bool, rng: Rng) -> Self {
        IpClient {
            ip: Arc::from(format!("192.168.{}.{}", k / 200, k % 200 + 1)),
            port: 8000 + (k % 7) as u16,
            services,
            meta_version: 0,
            beat_body,
            rng,
            phase: IpPhase::NotStarted,
            step: 0,
            wake_gen: 0,
            outstanding: None,
            member: 0,
            member_since: Timestamp::ZERO,
            active: false,
            incarnation: 0,
            pending: 0,
            settled_at: None,
            deleted_rev: None,
            gone_on: 0,
            deregistered: false,
            registered_at: None,
            last_beat_ok: None,
            last_heard: None,
            stale_write_at: None,
            missing_since: Vec::new(),
            comeback: None,
            coming_back: false,
            watch: None,
        }
    }

    fn instance(&self) -> Instance {
        let mut i = Instance::new(&self.ip, self.port);
        i.metadata.insert("v".into(), self.meta_version.to_string());
        i
    }
}

impl Sim {
    fn ip_wake(&mut self, c: u32, d: Duration) {
        let cl = &mut self.ip[c as usize];
        cl.wake_gen += 1;
        let gen = cl.wake_gen;
        self.after(d, Ev::Ip(c, IpEv::Wake(gen)));
    }

    /// A random member of the list the client knows (the current member list).
    pub(crate) fn pick_member(&mut self, rng_of: ClientRef) -> usize {
        let members: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].member)
            .collect();
        let rng = match rng_of {
            ClientRef::Ip(c) | ClientRef::Watch(c) => &mut self.ip[c as usize].rng,
            ClientRef::Conn(c) => &mut self.conn[c as usize].rng,
            ClientRef::Admin => &mut self.fault_rng,
        };
        members[rng.index(members.len())]
    }

    /// Points the client's requests at another member of its choice.
    pub(crate) fn move_ip_client(&mut self, c: u32) {
        let m = self.pick_member(ClientRef::Ip(c));
        let cl = &mut self.ip[c as usize];
        if cl.member != m {
            cl.member = m;
            cl.member_since = self.now;
        }
    }

    /// Registers the client's instances again (a beating client only).
    pub(crate) fn reregister(&mut self, c: u32) {
        let cl = &mut self.ip[c as usize];
        if cl.phase != IpPhase::Beating || cl.outstanding.is_some() {
            return;
        }
        cl.phase = IpPhase::Registering;
        cl.step = 0;
        cl.wake_gen += 1;
        self.trace
            .note(self.now, format_args!("ip{c} registers again"));
        self.ip_send(c);
    }

    /// Deregisters the client (a beating client only); it comes back after `back_after`.
    pub(crate) fn deregister(&mut self, c: u32, back_after: Option<Duration>) {
        let cl = &mut self.ip[c as usize];
        if cl.phase != IpPhase::Beating || cl.outstanding.is_some() {
            return;
        }
        cl.phase = IpPhase::Deregistering;
        cl.active = false;
        cl.deregistered = true;
        cl.step = 0;
        cl.wake_gen += 1;
        cl.comeback = back_after;
        self.trace.note(self.now, format_args!("ip{c} deregisters"));
        self.ip_send(c);
    }

    pub(crate) fn ip_event(&mut self, c: u32, ev: IpEv) {
        match ev {
            IpEv::Wake(gen) if gen == self.ip[c as usize].wake_gen => self.ip_act(c),
            IpEv::Wake(_) => {}
            IpEv::Poll(gen) => self.udp_poll(c, gen),
            IpEv::Listed(member, reply) => self.udp_listed(c, member, reply),
            IpEv::Pushed(member, ack, view) => self.udp_pushed(c, member, ack, view),
            IpEv::Reply(id, reply) if self.ip[c as usize].outstanding == Some(id) => {
                self.ip[c as usize].outstanding = None;
                self.ip_reply(c, reply);
            }
            IpEv::Refused(id) | IpEv::Timeout(id)
                if self.ip[c as usize].outstanding == Some(id) =>
            {
                self.ip[c as usize].outstanding = None;
                self.move_ip_client(c);
                self.ip_wake(c, Duration::from_millis(100));
            }
            _ => {} // a late answer to a request given up on
        }
    }

    fn ip_act(&mut self, c: u32) {
        let now = self.now;
        let churn = now < self.churn_until;
        let cl = &mut self.ip[c as usize];
        match cl.phase {
            IpPhase::NotStarted | IpPhase::Silent | IpPhase::Gone => {
                if cl.phase != IpPhase::NotStarted && !churn && !cl.coming_back {
                    return;
                }
                cl.coming_back = false;
                cl.active = true;
                cl.incarnation += 1;
                cl.settled_at = None;
                cl.deleted_rev = None;
                cl.gone_on = 0;
                cl.deregistered = false;
                cl.registered_at = None;
                cl.phase = IpPhase::Registering;
                cl.step = 0;
                let inc = cl.incarnation;
                self.trace
                    .note(now, format_args!("ip{c} starts incarnation {inc}"));
                // A (re)started application lists its watched service afresh.
                self.udp_start(c);
                self.move_ip_client(c);
                self.ip_send(c);
            }
            IpPhase::Registering | IpPhase::Updating | IpPhase::Deregistering => self.ip_send(c),
            IpPhase::Beating => {
                let n = cl.services.len() as f64;
                let p = self.cfg.workload.churn_per_minute * (5.0 / 60.0) / n;
                if churn && cl.rng.chance(p) {
                    self.ip_lifecycle(c);
                } else {
                    self.ip_send(c);
                }
            }
        }
    }

    /// A lifecycle event: stop beating, deregister, change metadata or move to another member.
    fn ip_lifecycle(&mut self, c: u32) {
        let now = self.now;
        let cl = &mut self.ip[c as usize];
        match cl.rng.below(10) {
            0..=3 => {
                cl.phase = IpPhase::Silent;
                cl.active = false;
                cl.wake_gen += 1;
                self.trace.note(now, format_args!("ip{c} stops beating"));
                if cl.rng.chance(0.4) {
                    let d = cl
                        .rng
                        .between(Duration::from_secs(40), Duration::from_secs(150));
                    self.ip_wake(c, d);
                }
                self.maybe_settle_ip(c);
            }
            4..=6 => {
                cl.phase = IpPhase::Deregistering;
                cl.active = false;
                cl.deregistered = true;
                cl.step = 0;
                self.trace.note(now, format_args!("ip{c} deregisters"));
                self.ip_send(c);
            }
            7..=8 => {
                cl.meta_version += 1;
                // Either registered again with the new metadata, or modified in place.
                cl.phase = if cl.rng.chance(0.5) {
                    IpPhase::Registering
                } else {
                    IpPhase::Updating
                };
                cl.step = 0;
                self.trace.note(now, format_args!("ip{c} changes metadata"));
                self.ip_send(c);
            }
            _ => {
                self.move_ip_client(c);
                self.ip_send(c);
            }
        }
    }

    /// Sends the request of the current phase and step.
    fn ip_send(&mut self, c: u32) {
        let cl = &mut self.ip[c as usize];
        let k = cl.step % cl.services.len();
        let service = cl.services[k].clone();
        let request = match cl.phase {
            IpPhase::Registering => Request::Register {
                service,
                instance: cl.instance(),
            },
            IpPhase::Updating => Request::Update {
                service,
                ip: cl.ip.clone(),
                port: cl.port,
                weight: None,
                enabled: None,
                metadata: Some(cl.instance().metadata),
                replace_metadata: false,
            },
            IpPhase::Deregistering => Request::Deregister {
                service,
                ip: cl.ip.clone(),
                port: cl.port,
            },
            IpPhase::Beating => Request::Beat {
                service,
                ip: cl.ip.clone(),
                port: cl.port,
                register: cl.beat_body.then(|| cl.instance()),
            },
            _ => return,
        };
        let id = RequestId(self.next_req);
        self.next_req += 1;
        let member = cl.member;
        cl.outstanding = Some(id);
        self.requests.insert(
            id.0,
            ReqInfo {
                client: ClientRef::Ip(c),
                member,
                sent: self.now,
            },
        );
        self.write_pending(c);
        let lat = self.cfg.workload.client_latency;
        let input = NodeIn::Request {
            conn: ConnId(HTTP_CONN + c as u64),
            id,
            request,
        };
        self.after(lat, Ev::Node(member, input));
        let timeout = self.cfg.workload.request_timeout;
        self.after(timeout, Ev::Ip(c, IpEv::Timeout(id)));
    }

    fn ip_reply(&mut self, c: u32, reply: Reply) {
        let now = self.now;
        let cl = &mut self.ip[c as usize];
        let n = cl.services.len();
        match (cl.phase, reply) {
            (IpPhase::Registering, Reply::Ok) => {
                cl.step += 1;
                if cl.step < n {
                    self.ip_send(c);
                    return;
                }
                cl.phase = IpPhase::Beating;
                cl.step = 0;
                cl.registered_at.get_or_insert(now);
                cl.last_beat_ok = Some(now);
                let d = Duration::from_secs(5) / n as u32;
                self.ip_wake(c, d);
            }
            (IpPhase::Updating, Reply::Ok) => {
                cl.step += 1;
                if cl.step < n {
                    self.ip_send(c);
                    return;
                }
                cl.phase = IpPhase::Beating;
                cl.step = 0;
                let d = Duration::from_secs(5) / n as u32;
                self.ip_wake(c, d);
            }
            (IpPhase::Updating, Reply::Error(e)) if e.status == 404 => {
                // The member does not know the instance (it expired): register it again.
                cl.registered_at = None;
                cl.phase = IpPhase::Registering;
                cl.step = 0;
                self.ip_send(c);
            }
            (IpPhase::Deregistering, Reply::Ok) => {
                cl.step += 1;
                if cl.step < n {
                    self.ip_send(c);
                    return;
                }
                cl.phase = IpPhase::Gone;
                self.trace.note(now, format_args!("ip{c} deregistered"));
                self.maybe_settle_ip(c);
                let cl = &mut self.ip[c as usize];
                if let Some(d) = cl.comeback.take() {
                    cl.coming_back = true;
                    self.ip_wake(c, d);
                } else if self.now < self.churn_until && cl.rng.chance(0.5) {
                    let d = cl
                        .rng
                        .between(Duration::from_secs(10), Duration::from_secs(120));
                    self.ip_wake(c, d);
                }
            }
            (
                IpPhase::Beating,
                Reply::Beat {
                    code,
                    client_beat_interval_ms,
                },
            ) => {
                cl.step += 1;
                let d = Duration::from_millis(client_beat_interval_ms) / n as u32;
                if code == BEAT_OK {
                    cl.last_beat_ok = Some(now);
                    self.ip_wake(c, d);
                } else {
                    // 20404: the member lost the instance; the v1 client registers it again.
                    cl.registered_at = None;
                    cl.phase = IpPhase::Registering;
                    cl.step = 0;
                    self.trace
                        .note(now, format_args!("ip{c} re-registers after 20404"));
                    self.ip_send(c);
                }
            }
            (
                IpPhase::Registering
                | IpPhase::Updating
                | IpPhase::Deregistering
                | IpPhase::Beating,
                _,
            ) => {
                // An error answer: try again at another member a little later.
                self.move_ip_client(c);
                self.ip_wake(c, Duration::from_millis(500));
            }
            _ => {}
        }
    }
}
