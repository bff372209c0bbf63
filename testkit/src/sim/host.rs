//! The host side of the node API: hand each node its inputs (queued while it is paused,
//! refused while it does not run), drain its outputs until `Timeout`, and carry them out.

use super::clients::{ConnEv, IpEv};
use super::world::ReqInfo;
use super::world::{
    ClientRef, Ev, NodeIn, Sim, DIGEST_VARIANT, HTTP_CONN, PEER_CONN, VERIFY_VARIANT,
};
use bytes::Bytes;
use distro_core::{ConnId, Event, Input, MemberState, Output, PushTarget, Reply, RequestId};

impl Sim {
    /// Hands an input to node `i`: queued while it is paused, dropped (with the sender told)
    /// when it does not run.
    pub(crate) fn deliver(&mut self, i: usize, input: NodeIn) {
        if !self.alive(i) {
            self.lost(i, input);
        } else if self.slots[i].paused.is_some() {
            self.slots[i].backlog.push(input);
        } else {
            self.feed(i, Some(input));
        }
    }

    /// An input that reached no node: tell whoever waits on it.
    pub(crate) fn lost(&mut self, i: usize, input: NodeIn) {
        match input {
            NodeIn::PeerFrame { fwd: Some(f), .. } => self.write_settled(f.client),
            NodeIn::Request { id, .. } => self.request_lost(id, i),
            NodeIn::ConnOpened(conn) | NodeIn::ClientFrame(conn, _) => self.conn_refused(conn),
            NodeIn::ConnClosed(conn) => {
                if let Some(&s) = self.session_of.get(&conn.0) {
                    self.settle_session(s);
                }
            }
            _ => {}
        }
    }

    /// Feeds one input (or a timeout when `None`) to running node `i` and drains it.
    pub(crate) fn feed(&mut self, i: usize, input: Option<NodeIn>) {
        let now = self.now;
        let ready = self.ready(i);
        let mut settled = None;
        let mut closed_session = None;
        let mut new_members = None;
        let bytes: Bytes;
        let input = match input {
            None => Input::Timeout(now),
            Some(NodeIn::PeerUp(j)) => Input::PeerUp {
                now,
                member: self.slots[j].id.clone(),
            },
            Some(NodeIn::PeerDown(j)) => Input::PeerDown {
                now,
                member: self.slots[j].id.clone(),
            },
            Some(NodeIn::PeerFrame { from, frame, fwd }) => {
                settled = fwd.map(|f| f.client);
                if let Some(f) = fwd {
                    let fresh = f.creates && !self.holds_ip_client(i, f.client);
                    let cl = &mut self.ip[f.client as usize];
                    cl.last_heard = Some(now);
                    if now.since(f.sent) > self.cfg.timings.forward_timeout || !ready || fresh {
                        // Executed after its forwarder gave up and served it, or before this
                        // member loaded its snapshot (see `sides`).
                        cl.stale_write_at = Some(now);
                    }
                }
                bytes = frame;
                Input::PeerFrame {
                    now,
                    conn: ConnId(PEER_CONN + from as u64),
                    frame: &bytes[4..],
                }
            }
            Some(NodeIn::ConnOpened(conn)) => Input::ConnectionOpened { now, conn },
            Some(NodeIn::ConnClosed(conn)) => {
                closed_session = self.session_of.get(&conn.0).copied();
                Input::ConnectionClosed { now, conn }
            }
            Some(NodeIn::ClientFrame(conn, frame)) => {
                bytes = frame;
                Input::ClientFrame {
                    now,
                    conn,
                    frame: &bytes[4..],
                }
            }
            Some(NodeIn::Request { conn, id, request }) => {
                if let Some(&ReqInfo {
                    client: ClientRef::Ip(c),
                    sent,
                    ..
                }) = self.requests.get(&id.0)
                {
                    let fresh =
                        super::links::request_creates(&request) && !self.holds_ip_client(i, c);
                    let cl = &mut self.ip[c as usize];
                    cl.last_heard = Some(now);
                    if now.since(sent) > self.cfg.workload.request_timeout || !ready || fresh {
                        // Executed after the client gave up on it and went elsewhere, or before
                        // this member loaded its snapshot.
                        cl.stale_write_at = Some(now);
                    }
                }
                Input::Request {
                    now,
                    conn,
                    id,
                    request,
                }
            }
            Some(NodeIn::Datagram(from, data)) => {
                bytes = data;
                Input::Datagram {
                    now,
                    from,
                    data: &bytes,
                }
            }
            Some(NodeIn::SetMembers(members)) => {
                new_members = Some(members.clone());
                Input::SetMembers { now, members }
            }
        };
        self.trace.input(i, now, &input);
        let node = self.slots[i].node.as_mut().expect("running");
        let _ = node.handle_input(input);
        if let Some(c) = settled {
            self.write_settled(c);
        }
        if let Some(s) = closed_session {
            self.settle_session(s);
        }
        self.drain(i);
        if let Some(members) = new_members {
            self.after_set_members(i, &members);
        }
        self.check_after_event(i);
    }

    /// The checks after an event that changed node `i`'s registry: when calm, every invariant
    /// about what node `i` holds (so they hold at every event of a calm period, not only at
    /// the samples); otherwise the beat sides of node `i`.
    fn check_after_event(&mut self, i: usize) {
        let Some(gen) = self.node(i).map(|n| n.registry().generation()) else {
            return;
        };
        if self.slots[i].checked_gen == gen || !self.violations.is_empty() {
            return;
        }
        self.slots[i].checked_gen = gen;
        if self.is_calm() {
            // (stronger than the beat-side check: every running member, no grace)
            self.judged.event_checks += 1;
            self.check_member(i);
        } else {
            self.check_sides(Some(i));
        }
    }

    /// Drains node `i` until `Timeout`, carrying out every output.
    pub(crate) fn drain(&mut self, i: usize) {
        loop {
            let out = self.slots[i].node.as_mut().expect("running").poll_output();
            self.trace.output(i, self.now, &out);
            match out {
                Output::Timeout(d) => {
                    self.slots[i].deadline = d;
                    return;
                }
                Output::Transmit { to, frame } => {
                    let verify = matches!(frame.get(5), Some(&VERIFY_VARIANT | &DIGEST_VARIANT));
                    if verify && !self.ready(i) {
                        let detail = format!("n{i} sent a verify round before it was ready");
                        self.violate("readiness gate", detail);
                    }
                    self.transmit(i, &to, frame)
                }
                Output::Reply { id, reply, .. } => self.route_reply(i, id, reply),
                Output::Push {
                    to: PushTarget::Udp { addr, ack },
                    view,
                } => {
                    if let Some(&c) = self.watch_of.get(&addr) {
                        let lat = self.cfg.workload.client_latency;
                        self.after(lat, Ev::Ip(c, IpEv::Pushed(i, ack, view)));
                    }
                }
                Output::Push { to, view } => {
                    if let PushTarget::Conn(conn) = to {
                        if let Some(&s) = self.session_of.get(&conn.0) {
                            let client = self.sessions[s as usize].client;
                            let lat = self.cfg.workload.client_latency;
                            self.after(lat, Ev::Conn(client, ConnEv::Push(conn, view)));
                        }
                    }
                }
                Output::Probe { conn } => {
                    if let Some(&s) = self.session_of.get(&conn.0) {
                        let client = self.sessions[s as usize].client;
                        let lat = self.cfg.workload.client_latency;
                        self.after(lat, Ev::Conn(client, ConnEv::Probe(conn)));
                    }
                }
                Output::Close { conn } => self.node_closes(i, conn),
                Output::Event(e) => self.node_event(i, e),
            }
        }
    }

    fn route_reply(&mut self, _i: usize, id: RequestId, reply: Reply) {
        let Some(info) = self.requests.remove(&id.0) else {
            return;
        };
        let lat = self.cfg.workload.client_latency;
        match info.client {
            ClientRef::Ip(c) => {
                self.write_settled(c);
                self.after(lat, Ev::Ip(c, IpEv::Reply(id, reply)));
            }
            ClientRef::Conn(c) => self.after(lat, Ev::Conn(c, ConnEv::Reply(id, reply))),
            ClientRef::Watch(c) => self.after(lat, Ev::Ip(c, IpEv::Listed(info.member, reply))),
            ClientRef::Admin => {}
        }
    }

    fn node_closes(&mut self, i: usize, conn: ConnId) {
        if conn.0 >= PEER_CONN && conn.0 < HTTP_CONN {
            let from = (conn.0 - PEER_CONN) as usize;
            if from < self.slots.len() {
                self.break_link(from, i);
            }
        } else if let Some(&s) = self.session_of.get(&conn.0) {
            self.session_closed_by_member(s, super::truth::CloseKind::ByMember);
        }
    }

    fn node_event(&mut self, i: usize, e: Event) {
        let expiry = match &e {
            Event::ClientRemoved { reason, .. } => *reason == "beat timeout",
            Event::ReplicaExpired { .. } | Event::InstanceUnhealthy { .. } => true,
            _ => false,
        };
        if expiry && !self.ready(i) {
            self.violate(
                "readiness gate",
                format!("n{i} expired something before it was ready: {e:?}"),
            );
        }
        match &e {
            Event::ClientRemoved { client, .. } => self.observe_removal(i, client),
            Event::SuspicionRefuted { client } => self.observe_refutation(i, client),
            Event::Ready { .. } => self.slots[i].ready_at = Some(self.now),
            Event::MemberStateChanged { member, state } => {
                if let Some(j) = self.slot_of(member) {
                    let now = self.now;
                    let sees = &mut self.slots[i].sees;
                    if sees.len() <= j {
                        sees.resize(j + 1, None);
                    }
                    sees[j] = match state {
                        MemberState::Down => None,
                        _ => Some(sees[j].unwrap_or(now)),
                    };
                }
            }
            _ => {}
        }
    }

    /// Whether node `i` holds ip-port client `c` (live).
    fn holds_ip_client(&self, i: usize, c: u32) -> bool {
        let cl = &self.ip[c as usize];
        let id = distro_core::ClientId::IpPort {
            ip: cl.ip.clone(),
            port: cl.port,
        };
        self.node(i)
            .is_some_and(|n| n.registry().client(&id).is_some())
    }

    fn ready(&self, i: usize) -> bool {
        self.slots[i].node.as_ref().is_some_and(|n| n.is_ready())
    }

    /// A client request lost with node `i` (crashed before answering).
    fn request_lost(&mut self, id: RequestId, _i: usize) {
        let Some(info) = self.requests.remove(&id.0) else {
            return;
        };
        let lat = self.cfg.workload.client_latency;
        match info.client {
            ClientRef::Ip(c) => {
                self.write_settled(c);
                self.after(lat, Ev::Ip(c, IpEv::Refused(id)));
            }
            ClientRef::Conn(_) | ClientRef::Watch(_) | ClientRef::Admin => {}
        }
    }

    /// Every request waiting on node `i` is lost (it crashed or was removed).
    pub(crate) fn drop_requests_of(&mut self, i: usize) {
        let ids: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.member == i)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.request_lost(RequestId(id), i);
        }
    }
}
