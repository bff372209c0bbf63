//! Outgoing peer links: one write-only connection to every other member, reconnected with
//! backoff. The node speaks first on each (its handshake) after `Input::PeerUp`.
//!
//! The runtime opens the connection when told ([`Action::Connect`]) and reports whether it
//! connected; the rest (what is held while connecting, the write bound, backoff, telling the
//! node) is here.

use crate::buffer::OutBuf;
use crate::conn::ConnKind;
use crate::host::{Action, Host, Work};
use distro_core::{ConnId, Input, MemberId, Timestamp};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// First reconnect delay.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A connect attempt not finished after this is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The state of one link.
#[derive(Debug, Clone, Copy)]
enum LinkState {
    /// Not connected; the next attempt is due at `retry_at`.
    Down { retry_at: Timestamp },
    /// The runtime is connecting under the id `conn`.
    Connecting { conn: ConnId, since: Timestamp },
    /// Connected; frames are written to `conn`.
    Up { conn: ConnId },
}

/// The link to one member.
#[derive(Debug)]
struct PeerLink {
    member: MemberId,
    addr: SocketAddr,
    state: LinkState,
    /// Frames given while connecting, written right after the handshake.
    held: OutBuf,
    backoff: Duration,
    /// The member left the list: the link stays down (and its slot is reused if it returns).
    retired: bool,
}

impl PeerLink {
    /// Schedules the next attempt after the current backoff, and doubles it.
    fn retry_later(&mut self, now: Timestamp) {
        self.held.clear();
        self.state = LinkState::Down {
            retry_at: now.plus(self.backoff),
        };
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

/// Every outgoing link, by member and by connection.
#[derive(Debug)]
pub(crate) struct PeerLinks {
    links: Vec<PeerLink>,
    by_member: HashMap<MemberId, usize>,
    by_conn: HashMap<ConnId, usize>,
    max_buffer: usize,
}

impl PeerLinks {
    /// Links to `peers`, all down and due to connect at once.
    pub(crate) fn new(peers: &[(MemberId, SocketAddr)], max_buffer: usize) -> Self {
        let mut links = PeerLinks {
            links: Vec::new(),
            by_member: HashMap::new(),
            by_conn: HashMap::new(),
            max_buffer,
        };
        for (member, addr) in peers {
            links.add(member.clone(), *addr);
        }
        links
    }

    fn add(&mut self, member: MemberId, addr: SocketAddr) {
        self.by_member.insert(member.clone(), self.links.len());
        self.links.push(PeerLink {
            member,
            addr,
            state: LinkState::Down {
                retry_at: Timestamp::ZERO,
            },
            held: OutBuf::default(),
            backoff: BACKOFF_MIN,
            retired: false,
        });
    }

    /// The link using connection `conn`, if any.
    pub(crate) fn by_conn(&self, conn: ConnId) -> Option<usize> {
        self.by_conn.get(&conn).copied()
    }

    /// The member of link `i`.
    pub(crate) fn member(&self, i: usize) -> &MemberId {
        &self.links[i].member
    }

    /// Whether link `i` is still connecting.
    pub(crate) fn is_connecting(&self, i: usize) -> bool {
        matches!(self.links[i].state, LinkState::Connecting { .. })
    }

    /// The earliest reconnect or connect-timeout deadline.
    pub(crate) fn next_deadline(&self) -> Timestamp {
        self.links
            .iter()
            .map(|l| match l.state {
                LinkState::Down { .. } if l.retired => Timestamp::NEVER,
                LinkState::Down { retry_at } => retry_at,
                LinkState::Connecting { since, .. } => since.plus(CONNECT_TIMEOUT),
                LinkState::Up { .. } => Timestamp::NEVER,
            })
            .min()
            .unwrap_or(Timestamp::NEVER)
    }

    /// Makes every link that is down retry at once: a member just connected to us, so the
    /// members that were down may be back.
    pub(crate) fn retry_now(&mut self, now: Timestamp) {
        for link in &mut self.links {
            if let LinkState::Down { retry_at } = &mut link.state {
                *retry_at = now;
                link.backoff = BACKOFF_MIN;
            }
        }
    }
}

impl Host {
    /// Starts the connects that are due; abandons those that took too long.
    pub(crate) fn connect_due(&mut self, now: Timestamp) {
        for i in 0..self.links.links.len() {
            match self.links.links[i].state {
                LinkState::Down { .. } if self.links.links[i].retired => continue,
                LinkState::Down { retry_at } if retry_at <= now => {}
                LinkState::Connecting { conn, since } if now.since(since) > CONNECT_TIMEOUT => {
                    tracing::debug!(member = %self.links.links[i].member, "peer connect timed out");
                    self.drop_link_conn(conn);
                }
                _ => continue,
            }
            let (member, addr) = {
                let l = &self.links.links[i];
                (l.member.clone(), l.addr)
            };
            let conn = self.new_conn(addr, ConnKind::PeerOut(i), now);
            self.links.by_conn.insert(conn, i);
            self.links.links[i].state = LinkState::Connecting { conn, since: now };
            self.actions
                .push_back(Action::Connect { conn, member, addr });
        }
    }

    /// The runtime's connect of outgoing link `conn` succeeded.
    pub fn link_connected(&mut self, conn: ConnId) {
        let Some(i) = self.links.by_conn(conn) else {
            // abandoned meanwhile: the runtime closes it
            self.actions.push_back(Action::Close(conn));
            return;
        };
        let link = &self.links.links[i];
        if !matches!(link.state, LinkState::Connecting { conn: c, .. } if c == conn) {
            return;
        }
        let member = link.member.to_string();
        if !self.auth_link_start(conn, &member) {
            self.link_authenticated(i, conn);
        }
    }

    /// Link `i` on connection `conn` is connected and (when a secret is set) authenticated:
    /// the node may speak on it.
    pub(crate) fn link_authenticated(&mut self, i: usize, conn: ConnId) {
        let now = self.clock.now();
        let link = &mut self.links.links[i];
        link.state = LinkState::Up { conn };
        link.backoff = BACKOFF_MIN;
        let member = link.member.clone();
        let held = std::mem::take(&mut link.held);
        tracing::info!(%member, addr = %link.addr, "peer link up");
        self.feed(Input::PeerUp { now, member });
        if !held.is_empty() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.out.push(held.pending());
            }
            self.link_bound(i, conn);
        }
    }

    /// The connect of link `i` failed.
    pub(crate) fn link_connect_failed(&mut self, i: usize) {
        let now = self.clock.now();
        let link = &mut self.links.links[i];
        if let LinkState::Connecting { conn, .. } = link.state {
            tracing::debug!(member = %link.member, "peer connect failed");
            link.retry_later(now);
            self.links.by_conn.remove(&conn);
            self.conns.remove(&conn);
        }
    }

    /// Queues a frame for `member`; dropped when its link is down (the node retries). A link
    /// whose unwritten bytes pass the bound is dropped.
    pub(crate) fn link_send(&mut self, member: &MemberId, frame: &[u8]) {
        let Some(&i) = self.links.by_member.get(member) else {
            tracing::debug!(%member, "transmit to an unknown member dropped");
            return;
        };
        let max = self.links.max_buffer;
        let link = &mut self.links.links[i];
        match link.state {
            LinkState::Up { conn } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.out.push(frame);
                }
                self.link_bound(i, conn);
            }
            // Held until the node's handshake went out after `PeerUp`: a restarted member's
            // first requests are answered while the link back to it is still connecting.
            LinkState::Connecting { .. } => {
                link.held.push(frame);
                if link.held.len() > max {
                    link.held.clear();
                }
            }
            LinkState::Down { .. } => {}
        }
    }

    /// Announces the link's bytes to the runtime, or drops the link if they pass the bound.
    fn link_bound(&mut self, i: usize, conn: ConnId) {
        let queued = self.conns.get(&conn).map_or(0, |c| c.out.len());
        if queued > self.links.max_buffer {
            self.stats.peer_links_overflowed += 1;
            tracing::warn!(member = %self.links.links[i].member, bytes = queued, "peer link write buffer over its bound; reconnecting");
            if let Some(c) = self.conns.get_mut(&conn) {
                c.out.clear();
            }
            self.work
                .push_back(Work::LinkDown(i, "write buffer over its bound"));
            return;
        }
        self.announce_write(conn);
    }

    /// Drops a broken link, tells the node, and schedules a reconnect.
    pub(crate) fn link_down(&mut self, i: usize, why: &'static str) {
        let now = self.clock.now();
        let state = self.links.links[i].state;
        let conn = match state {
            LinkState::Up { conn } | LinkState::Connecting { conn, .. } => conn,
            LinkState::Down { .. } => return,
        };
        self.drop_link_conn(conn);
        let link = &mut self.links.links[i];
        link.backoff = BACKOFF_MIN;
        link.retry_later(now);
        if let LinkState::Up { .. } = state {
            let member = link.member.clone();
            tracing::info!(%member, why, "peer link down");
            self.feed(Input::PeerDown { now, member });
        }
    }

    /// The node's member list changed: links to new members are opened at once, links to
    /// members that left are closed.
    pub(crate) fn reconcile_links(&mut self, members: &[MemberId]) {
        let now = self.clock.now();
        for member in members {
            match self.links.by_member.get(member) {
                Some(&i) if self.links.links[i].retired => {
                    let link = &mut self.links.links[i];
                    link.retired = false;
                    link.backoff = BACKOFF_MIN;
                    link.state = LinkState::Down { retry_at: now };
                }
                Some(_) => {}
                None => match self.config.peer_address_of(member) {
                    Ok(addr) => {
                        tracing::info!(%member, %addr, "member joined");
                        self.links.add(member.clone(), addr);
                    }
                    Err(e) => tracing::warn!(%member, error = %e, "no peer address for a member"),
                },
            }
        }
        for i in 0..self.links.links.len() {
            if !self.links.links[i].retired && !members.contains(&self.links.links[i].member) {
                tracing::info!(member = %self.links.links[i].member, "member left");
                self.link_down(i, "member left");
                self.links.links[i].retired = true;
            }
        }
        self.connect_due(now);
    }

    /// Forgets a link's connection and has the runtime close it.
    fn drop_link_conn(&mut self, conn: ConnId) {
        self.links.by_conn.remove(&conn);
        if self.conns.remove(&conn).is_some() {
            self.actions.push_back(Action::Close(conn));
        }
    }
}
