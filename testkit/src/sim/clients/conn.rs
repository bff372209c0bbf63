//! Native clients (connection clients): connect to a member, register their services,
//! subscribe, answer probes (or hang and ignore them), and disconnect. When their member dies
//! or stops answering they reconnect to another one and register again (the redo every real
//! native client does).

use super::super::rng::Rng;
use super::super::truth::{CloseKind, SessionTruth};
use super::super::world::{ClientRef, Ev, NodeIn, ReqInfo, Sim};
use core::time::Duration;
use distro_core::wire::{encode_frame, ClientMsg};
use distro_core::{ConnId, Instance, Reply, Request, RequestId, ServiceKey, ServiceView};
use std::sync::Arc;

/// What a connection client is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnPhase {
    /// Not connected (not started, or waiting to reconnect).
    Idle,
    Registering,
    Subscribing,
    Live,
    /// Hung: connected but answering nothing; it never comes back.
    Hung,
    /// Disconnected for good (or until it comes back).
    Left,
}

/// Something that happens to a connection client.
#[derive(Debug)]
pub(crate) enum ConnEv {
    Wake(u32),
    Reply(RequestId, Reply),
    Push(ConnId, Arc<ServiceView>),
    Probe(ConnId),
    Closed(ConnId),
    Refused(ConnId),
    Timeout(RequestId),
}

/// A connection client.
#[derive(Debug)]
pub(crate) struct ConnClient {
    pub ip: Arc<str>,
    pub services: Vec<ServiceKey>,
    pub subs: Vec<ServiceKey>,
    /// Sends a keep-alive ping every 5 s (and so notices a stalled member).
    pub pings: bool,
    pub rng: Rng,
    pub phase: ConnPhase,
    pub step: usize,
    pub wake_gen: u32,
    pub outstanding: Option<RequestId>,
    /// Current session (index into the simulator's sessions).
    pub session: Option<u32>,
    /// The latest view of each subscribed service (parallel to `subs`).
    pub views: Vec<Option<Arc<ServiceView>>>,
}

impl ConnClient {
    pub fn new(k: usize, services: Vec<ServiceKey>, subs: Vec<ServiceKey>, rng: Rng) -> Self {
        let n = subs.len();
        ConnClient {
            ip: Arc::from(format!("172.16.{}.{}", k / 200, k % 200 + 1)),
            services,
            subs,
            pings: k & 1 == 0,
            rng,
            phase: ConnPhase::Idle,
            step: 0,
            wake_gen: 0,
            outstanding: None,
            session: None,
            views: vec![None; n],
        }
    }
}

impl Sim {
    pub(crate) fn conn_wake(&mut self, c: u32, d: Duration) {
        let cl = &mut self.conn[c as usize];
        cl.wake_gen += 1;
        let gen = cl.wake_gen;
        self.after(d, Ev::Conn(c, ConnEv::Wake(gen)));
    }

    fn current_conn(&self, c: u32) -> Option<ConnId> {
        self.conn[c as usize]
            .session
            .map(|s| self.sessions[s as usize].conn)
    }

    pub(crate) fn conn_event(&mut self, c: u32, ev: ConnEv) {
        let cur = self.current_conn(c);
        match ev {
            ConnEv::Wake(gen) if gen == self.conn[c as usize].wake_gen => self.conn_act(c),
            ConnEv::Reply(id, reply) if self.conn[c as usize].outstanding == Some(id) => {
                self.conn[c as usize].outstanding = None;
                self.conn_reply(c, reply);
            }
            ConnEv::Push(conn, view) if Some(conn) == cur => {
                let cl = &mut self.conn[c as usize];
                if let Some(k) = cl.subs.iter().position(|s| *s == view.service) {
                    cl.views[k] = Some(view);
                }
            }
            ConnEv::Probe(conn)
                if Some(conn) == cur && self.conn[c as usize].phase != ConnPhase::Hung =>
            {
                self.conn_frame(c, &ClientMsg::ProbeAck);
            }
            ConnEv::Closed(conn) | ConnEv::Refused(conn) if Some(conn) == cur => {
                let hung = self.conn[c as usize].phase == ConnPhase::Hung;
                self.conn[c as usize].session = None;
                self.conn[c as usize].outstanding = None;
                if hung {
                    return; // a hung client never notices; it stays gone
                }
                self.conn[c as usize].phase = ConnPhase::Idle;
                let d = self.conn[c as usize]
                    .rng
                    .between(Duration::from_millis(500), Duration::from_secs(3));
                self.conn_wake(c, d);
            }
            ConnEv::Timeout(id) if self.conn[c as usize].outstanding == Some(id) => {
                // The member does not answer: drop the connection and go elsewhere.
                self.conn[c as usize].outstanding = None;
                self.trace.note(
                    self.now,
                    format_args!("conn{c} request timed out, reconnecting"),
                );
                self.conn_close(c);
                self.conn[c as usize].phase = ConnPhase::Idle;
                self.conn_wake(c, Duration::from_millis(200));
            }
            _ => {}
        }
    }

    fn conn_act(&mut self, c: u32) {
        let churn = self.now < self.churn_until;
        match self.conn[c as usize].phase {
            ConnPhase::Idle => self.conn_connect(c),
            ConnPhase::Left if churn => self.conn_connect(c),
            ConnPhase::Registering | ConnPhase::Subscribing => self.conn_send(c),
            ConnPhase::Live => {
                let p = self.cfg.workload.churn_per_minute * (5.0 / 60.0);
                if churn && self.conn[c as usize].rng.chance(p) {
                    self.conn_lifecycle(c);
                    return;
                }
                if self.conn[c as usize].pings {
                    self.conn_request(c, Request::Ping);
                }
                self.conn_wake(c, Duration::from_secs(5));
            }
            _ => {}
        }
    }

    fn conn_lifecycle(&mut self, c: u32) {
        let now = self.now;
        match self.conn[c as usize].rng.below(10) {
            0..=3 => {
                self.trace.note(now, format_args!("conn{c} disconnects"));
                self.conn_close(c);
                self.conn[c as usize].phase = ConnPhase::Left;
                if self.conn[c as usize].rng.chance(0.5) {
                    let d = self.conn[c as usize]
                        .rng
                        .between(Duration::from_secs(5), Duration::from_secs(90));
                    self.conn_wake(c, d);
                }
            }
            4..=5 => {
                self.trace.note(now, format_args!("conn{c} hangs"));
                self.conn[c as usize].phase = ConnPhase::Hung;
                self.conn[c as usize].wake_gen += 1;
                if let Some(s) = self.conn[c as usize].session {
                    self.sessions[s as usize].hung_at = Some(now);
                }
            }
            _ => {
                self.trace
                    .note(now, format_args!("conn{c} moves to another member"));
                self.conn_close(c);
                self.conn_connect(c);
            }
        }
    }

    fn conn_connect(&mut self, c: u32) {
        let member = self.pick_member(ClientRef::Conn(c));
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let s = self.sessions.len() as u32;
        self.sessions.push(SessionTruth {
            client: c,
            member,
            conn,
            registered_at: None,
            hung_at: None,
            last_sent: self.now,
            closed: None,
            settled_at: None,
            deleted_rev: None,
            gone_on: 0,
            record_id: None,
        });
        self.session_of.insert(conn.0, s);
        let cl = &mut self.conn[c as usize];
        cl.session = Some(s);
        cl.step = 0;
        cl.views.iter_mut().for_each(|v| *v = None);
        cl.phase = if cl.services.is_empty() {
            ConnPhase::Subscribing
        } else {
            ConnPhase::Registering
        };
        let lat = self.cfg.workload.client_latency;
        self.trace.note(
            self.now,
            format_args!("conn{c} connects to n{member} as {conn:?}"),
        );
        self.after(lat, Ev::Node(member, NodeIn::ConnOpened(conn)));
        self.conn_send(c);
    }

    /// The client closes its current connection.
    fn conn_close(&mut self, c: u32) {
        let Some(s) = self.conn[c as usize].session.take() else {
            return;
        };
        self.conn[c as usize].outstanding = None;
        let t = &mut self.sessions[s as usize];
        if t.closed.is_none() {
            t.closed = Some((self.now, CloseKind::ByClient));
            let (member, conn) = (t.member, t.conn);
            let lat = self.cfg.workload.client_latency;
            self.after(lat, Ev::Node(member, NodeIn::ConnClosed(conn)));
        }
    }

    /// Sends the request of the current phase and step; moves on when there is none left.
    fn conn_send(&mut self, c: u32) {
        let cl = &mut self.conn[c as usize];
        match cl.phase {
            ConnPhase::Registering if cl.step < cl.services.len() => {
                let service = cl.services[cl.step].clone();
                let mut instance = Instance::new(&cl.ip, 9000 + cl.step as u16);
                instance.metadata.insert("kind".into(), "native".into());
                self.conn_request(c, Request::Register { service, instance });
            }
            ConnPhase::Registering => {
                if let Some(s) = cl.session {
                    self.sessions[s as usize].registered_at = Some(self.now);
                }
                cl.phase = ConnPhase::Subscribing;
                cl.step = 0;
                self.conn_send(c);
            }
            ConnPhase::Subscribing if cl.step < cl.subs.len() => {
                let service = cl.subs[cl.step].clone();
                let clusters = String::new();
                self.conn_request(c, Request::Subscribe { service, clusters });
            }
            ConnPhase::Subscribing => {
                cl.phase = ConnPhase::Live;
                let d = cl
                    .rng
                    .between(Duration::from_secs(1), Duration::from_secs(5));
                self.conn_wake(c, d);
            }
            _ => {}
        }
    }

    fn conn_request(&mut self, c: u32, request: Request) {
        let id = RequestId(self.next_req);
        self.next_req += 1;
        let Some(s) = self.conn[c as usize].session else {
            return;
        };
        let member = self.sessions[s as usize].member;
        self.conn[c as usize].outstanding = Some(id);
        self.requests.insert(
            id.0,
            ReqInfo {
                client: ClientRef::Conn(c),
                member,
                sent: self.now,
            },
        );
        self.conn_frame(c, &ClientMsg::Request { id, request });
        let timeout = self.cfg.workload.request_timeout;
        self.after(timeout, Ev::Conn(c, ConnEv::Timeout(id)));
    }

    fn conn_frame(&mut self, c: u32, msg: &ClientMsg) {
        let Some(s) = self.conn[c as usize].session else {
            return;
        };
        let t = &mut self.sessions[s as usize];
        t.last_sent = self.now;
        let (member, conn) = (t.member, t.conn);
        let lat = self.cfg.workload.client_latency;
        self.after(
            lat,
            Ev::Node(member, NodeIn::ClientFrame(conn, encode_frame(msg))),
        );
    }

    fn conn_reply(&mut self, c: u32, reply: Reply) {
        let cl = &mut self.conn[c as usize];
        match (cl.phase, reply) {
            (ConnPhase::Registering, Reply::Ok) => {
                cl.step += 1;
                self.conn_send(c);
            }
            (ConnPhase::Subscribing, Reply::Service(view)) => {
                cl.views[cl.step] = Some(view);
                cl.step += 1;
                self.conn_send(c);
            }
            (ConnPhase::Registering | ConnPhase::Subscribing, _) => {
                self.conn_wake(c, Duration::from_secs(1));
            }
            _ => {}
        }
    }

    /// Node `i` refused a connection or a frame (it does not run).
    pub(crate) fn conn_refused(&mut self, conn: ConnId) {
        let Some(&s) = self.session_of.get(&conn.0) else {
            return;
        };
        let t = &mut self.sessions[s as usize];
        if t.closed.is_none() {
            t.closed = Some((self.now, CloseKind::MemberCrashed));
        }
        let client = t.client;
        self.settle_session(s);
        let lat = self.cfg.workload.client_latency;
        self.after(lat, Ev::Conn(client, ConnEv::Refused(conn)));
    }

    /// The member closed session `s` (or died): the client hears of it after the latency.
    pub(crate) fn session_closed_by_member(&mut self, s: u32, kind: CloseKind) {
        let t = &mut self.sessions[s as usize];
        if t.closed.is_none() {
            t.closed = Some((self.now, kind));
        }
        let (client, conn) = (t.client, t.conn);
        self.settle_session(s);
        let lat = self.cfg.workload.client_latency;
        self.after(lat, Ev::Conn(client, ConnEv::Closed(conn)));
    }
}
