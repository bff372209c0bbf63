//! The network between members: one directed link per ordered pair (the sender's outgoing
//! connection), with connect, break, cut (blackhole or reset), heal, latency, jitter, loss,
//! duplication and reordering. The host side of `PeerUp` / `PeerDown` / `PeerFrame` /
//! `ConnectionClosed` lives here.

use super::config::NetParams;
use super::world::{Ev, Fwd, NodeIn, Sim, PEER_CONN};
use bytes::Bytes;
use core::time::Duration;
use distro_core::wire::{decode_payload, PeerMsg};
use distro_core::{ConnId, MemberId, Request};

/// Variant number of `PeerMsg::Forward` in its postcard encoding (checked by a test).
const FORWARD_VARIANT: u8 = 9;

/// State of a directed link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum LinkState {
    #[default]
    Down,
    Connecting,
    Up,
    /// Cut while up: frames are held (TCP retransmits) until the cut heals or the break is
    /// detected, whichever comes first.
    Blackholed,
}

/// One directed link (the sender's outgoing connection).
#[derive(Debug, Default)]
pub(crate) struct Link {
    pub state: LinkState,
    /// Bumped each time the link comes up; frames of an older generation are lost.
    pub gen: u32,
    pub attempt: u32,
    pub cut: bool,
    /// No frame of this generation is delivered before this (FIFO order, or the handshake first).
    pub floor: Timestamp,
    pub first_sent: bool,
    pub held: Vec<(Bytes, Option<Fwd>)>,
    /// Network parameters of this link only (a slow link), instead of the global ones.
    pub params: Option<NetParams>,
    /// When it last came up (or was healed from a blackhole).
    pub up_at: Timestamp,
}

use distro_core::Timestamp;

impl Sim {
    /// Slot index of member `id`.
    pub(crate) fn slot_of(&self, id: &MemberId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == *id)
    }

    /// Whether `from` should hold a link to `to`: both run, `to` is in `from`'s member list.
    fn wants_link(&self, from: usize, to: usize) -> bool {
        from != to
            && self.alive(from)
            && self.slots[from].member
            && self.slots[to].member
            && self.slots[from].view.contains(&to)
    }

    /// Starts connecting `from -> to` if it should be up and is down.
    pub(crate) fn ensure_link(&mut self, from: usize, to: usize) {
        if !self.wants_link(from, to) || self.links[from][to].state != LinkState::Down {
            return;
        }
        let d = self
            .net_rng
            .between(Duration::from_millis(1), Duration::from_millis(300));
        let link = &mut self.links[from][to];
        link.state = LinkState::Connecting;
        link.attempt += 1;
        let attempt = link.attempt;
        self.after(d, Ev::LinkConnect { from, to, attempt });
    }

    pub(crate) fn link_connect(&mut self, from: usize, to: usize, attempt: u32) {
        let link = &self.links[from][to];
        if link.attempt != attempt || link.state != LinkState::Connecting {
            return;
        }
        if !self.wants_link(from, to) {
            self.links[from][to].state = LinkState::Down;
            return;
        }
        if link.cut || !self.alive(to) {
            // Refused or unreachable: try again in a second.
            let link = &mut self.links[from][to];
            link.attempt += 1;
            let attempt = link.attempt;
            self.after(
                Duration::from_secs(1),
                Ev::LinkConnect { from, to, attempt },
            );
            return;
        }
        let link = &mut self.links[from][to];
        link.state = LinkState::Up;
        link.up_at = self.now;
        link.gen += 1;
        link.floor = self.now;
        link.first_sent = false;
        self.deliver(from, NodeIn::PeerUp(to));
    }

    /// The link `from -> to` breaks: the sender gets `PeerDown`, the receiver
    /// `ConnectionClosed`, frames in flight are lost, and the sender reconnects.
    pub(crate) fn break_link(&mut self, from: usize, to: usize) {
        let link = &mut self.links[from][to];
        let was = link.state;
        link.state = LinkState::Down;
        link.attempt += 1;
        let held: Vec<_> = link.held.drain(..).collect();
        for (_, fwd) in held {
            if let Some(f) = fwd {
                self.write_settled(f.client);
            }
        }
        if matches!(was, LinkState::Up | LinkState::Blackholed) {
            if self.alive(from) {
                self.at(self.now, Ev::Node(from, NodeIn::PeerDown(to)));
            }
            if self.alive(to) {
                let conn = ConnId(PEER_CONN + from as u64);
                self.at(self.now, Ev::Node(to, NodeIn::ConnClosed(conn)));
            }
        }
        self.ensure_link(from, to);
    }

    /// Cuts `from -> to`: frames stop; the break is noticed at once (a reset) or after a
    /// while (a blackhole, until the sender's transport gives up).
    pub(crate) fn cut_link(&mut self, from: usize, to: usize) {
        if from == to || self.links[from][to].cut {
            return;
        }
        self.links[from][to].cut = true;
        match self.links[from][to].state {
            LinkState::Up if self.net_rng.chance(0.5) => {
                let link = &mut self.links[from][to];
                link.state = LinkState::Blackholed;
                let gen = link.gen;
                let d = self
                    .net_rng
                    .between(Duration::from_secs(1), Duration::from_secs(10));
                self.after(d, Ev::LinkDetect { from, to, gen });
            }
            LinkState::Up => self.break_link(from, to),
            _ => {}
        }
    }

    pub(crate) fn link_detect(&mut self, from: usize, to: usize, gen: u32) {
        let link = &self.links[from][to];
        if link.state == LinkState::Blackholed && link.gen == gen {
            self.break_link(from, to);
        }
    }

    /// Restores every cut link; held frames are delivered late, broken links reconnect.
    pub(crate) fn heal_links(&mut self) {
        let n = self.slots.len();
        for from in 0..n {
            for to in 0..n {
                let link = &mut self.links[from][to];
                if !link.cut {
                    continue;
                }
                link.cut = false;
                match link.state {
                    LinkState::Blackholed => {
                        link.state = LinkState::Up;
                        link.up_at = self.now;
                        let held: Vec<_> = link.held.drain(..).collect();
                        for (frame, fwd) in held {
                            // Scheduling counts the write again; then the held count goes.
                            self.schedule_frame(from, to, frame, fwd, false);
                            if let Some(f) = fwd {
                                self.write_settled(f.client);
                            }
                        }
                    }
                    LinkState::Down => self.ensure_link(from, to),
                    _ => {}
                }
            }
        }
    }

    /// Whether any link is cut.
    pub(crate) fn any_cut(&self) -> bool {
        self.links.iter().flatten().any(|l| l.cut)
    }

    /// Node `from` sends `frame` to member `to`.
    pub(crate) fn transmit(&mut self, from: usize, to: &MemberId, frame: Bytes) {
        let Some(to) = self.slot_of(to) else {
            return;
        };
        let now = self.now;
        let fwd = self.forward_client(&frame).map(|(client, creates)| Fwd {
            client,
            sent: now,
            creates,
        });
        match self.links[from][to].state {
            LinkState::Up => self.schedule_frame(from, to, frame, fwd, true),
            LinkState::Blackholed => {
                if let Some(f) = fwd {
                    self.write_pending(f.client);
                }
                self.links[from][to].held.push((frame, fwd));
            }
            _ => {}
        }
    }

    fn schedule_frame(
        &mut self,
        from: usize,
        to: usize,
        frame: Bytes,
        fwd: Option<Fwd>,
        new: bool,
    ) {
        let p = self.links[from][to]
            .params
            .clone()
            .unwrap_or_else(|| self.net.clone());
        let first = !self.links[from][to].first_sent;
        self.links[from][to].first_sent = true;
        if new && !first && self.net_rng.chance(p.drop) {
            return; // lost (a handshake is never lost: it would only stall the link)
        }
        let copies = if new && self.net_rng.chance(p.duplicate) {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let mut delay = p.latency + p.jitter.mul_f64(self.net_rng.unit());
            if copy > 0 {
                delay += self
                    .net_rng
                    .between(Duration::ZERO, Duration::from_millis(50));
            }
            let link = &mut self.links[from][to];
            let mut at = self.now.plus(delay).max(link.floor);
            if !p.reorder || first {
                link.floor = at;
            } else {
                at = at.max(link.floor);
            }
            let gen = link.gen;
            if let Some(f) = fwd {
                self.write_pending(f.client);
            }
            let frame = frame.clone();
            self.at(
                at,
                Ev::Frame {
                    from,
                    to,
                    gen,
                    frame,
                    fwd,
                },
            );
        }
    }

    pub(crate) fn frame_arrives(
        &mut self,
        from: usize,
        to: usize,
        gen: u32,
        frame: Bytes,
        fwd: Option<Fwd>,
    ) {
        let link = &self.links[from][to];
        let live = matches!(link.state, LinkState::Up | LinkState::Blackholed) && link.gen == gen;
        if !live {
            if let Some(f) = fwd {
                self.write_settled(f.client);
            }
            return;
        }
        self.deliver(to, NodeIn::PeerFrame { from, frame, fwd });
    }

    /// The ip-port client a `Forward` frame writes for, if it is one, and whether the write
    /// creates the client where it is not held.
    fn forward_client(&self, frame: &[u8]) -> Option<(u32, bool)> {
        if frame.get(5) != Some(&FORWARD_VARIANT) {
            return None;
        }
        let Ok(PeerMsg::Forward { request, .. }) = decode_payload::<PeerMsg>(&frame[4..]) else {
            return None;
        };
        let (ip, port) = match &request {
            Request::Register { instance, .. } => (instance.ip.clone(), instance.port),
            Request::Deregister { ip, port, .. }
            | Request::Update { ip, port, .. }
            | Request::Beat { ip, port, .. } => (ip.clone(), *port),
            _ => return None,
        };
        let creates = request_creates(&request);
        self.ip_index.get(&(ip, port)).map(|&c| (c, creates))
    }
}

/// Whether `request` registers an ip-port instance (creating its client where it is not held).
pub(crate) fn request_creates(request: &Request) -> bool {
    matches!(
        request,
        Request::Register { .. }
            | Request::Beat {
                register: Some(_),
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use distro_core::wire::encode_frame;
    use distro_core::{Instance, ServiceKey};

    #[test]
    fn forward_variant_number_matches_the_encoding() {
        let f = encode_frame(&PeerMsg::Forward {
            id: 300,
            request: Request::Register {
                service: ServiceKey::parse(None, None, "s"),
                instance: Instance::new("1.2.3.4", 1),
            },
        });
        assert_eq!(f[5], FORWARD_VARIANT);
        let p = encode_frame(&PeerMsg::Ping { seq: 1 });
        assert_ne!(p[5], FORWARD_VARIANT);
        let v = encode_frame(&PeerMsg::Verify {
            round: 1,
            entries: vec![],
        });
        assert_eq!(v[5], crate::sim::world::VERIFY_VARIANT);
        let d = encode_frame(&PeerMsg::VerifyDigest {
            round: 1,
            digests: vec![0],
        });
        assert_eq!(d[5], crate::sim::world::DIGEST_VARIANT);
    }
}
