//! Ground truth: what each client did and believes, kept by the simulator to judge the
//! members' registries.
//!
//! A client's writes can take effect late: a request stuck in a paused member, a forward still
//! in flight after its sender gave up and served the write itself, a frame held by a blackholed
//! link. So a client that stops (or deregisters) is only *settled* once every write it sent
//! has been executed or lost; the expiry and resurrection invariants count from that moment.

use super::clients::IpPhase;
use super::world::Sim;
use distro_core::{ClientId, Registry, Revision, Timestamp};

/// How a native session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// The client closed the connection (the member deletes the client at once).
    ByClient,
    /// The member closed it (probe not answered, protocol error).
    ByMember,
    /// The member crashed or was removed: its replicas become orphans.
    MemberCrashed,
}

/// One native connection of a connection client, and what the members should hold for it.
#[derive(Debug)]
pub(crate) struct SessionTruth {
    pub client: u32,
    pub member: usize,
    pub conn: distro_core::ConnId,
    /// Every service of the client registered and acknowledged on this connection.
    pub registered_at: Option<Timestamp>,
    /// The client stopped answering probes (and sending anything) at this time.
    pub hung_at: Option<Timestamp>,
    /// When the client last sent a frame on it.
    pub last_sent: Timestamp,
    pub closed: Option<(Timestamp, CloseKind)>,
    /// The member saw the close (or died): nothing more can change this client.
    pub settled_at: Option<Timestamp>,
    pub deleted_rev: Option<Revision>,
    /// Members (bit per slot) that held its deletion since it settled: showing it live again
    /// there is a resurrection.
    pub gone_on: u64,
    /// The client id the members hold for this connection, once seen.
    pub record_id: Option<ClientId>,
}

/// The newest deletion of `matches` held anywhere, if it is newer than every live copy (then
/// a live copy above it can only be a resurrection).
fn newest_deletion<'a>(
    regs: impl Iterator<Item = &'a Registry> + Clone,
    matches: impl Fn(&ClientId) -> bool,
    direct: Option<&ClientId>,
) -> Option<(Revision, ClientId)> {
    let mut tomb: Option<(Revision, ClientId)> = None;
    let mut live: Option<Revision> = None;
    for reg in regs {
        if let Some(id) = direct {
            if let Some(r) = reg.tombstone(id) {
                if tomb.as_ref().is_none_or(|t| r > t.0) {
                    tomb = Some((r, id.clone()));
                }
            }
            live = live.max(reg.client(id).map(|c| c.revision));
            continue;
        }
        for (id, r) in reg.tombstones() {
            if matches(id) && tomb.as_ref().is_none_or(|t| r > t.0) {
                tomb = Some((r, id.clone()));
            }
        }
        for c in reg.clients() {
            if matches(&c.id) {
                live = live.max(Some(c.revision));
            }
        }
    }
    tomb.filter(|t| live.is_none_or(|l| t.0 > l))
}

impl Sim {
    fn registries(&self) -> impl Iterator<Item = &Registry> + Clone {
        self.slots
            .iter()
            .filter_map(|s| s.node.as_ref().map(|n| n.registry()))
    }

    /// One more write of ip-port client `c` may still take effect.
    pub(crate) fn write_pending(&mut self, c: u32) {
        self.ip[c as usize].pending += 1;
    }

    /// One write of ip-port client `c` took effect or was lost.
    pub(crate) fn write_settled(&mut self, c: u32) {
        let cl = &mut self.ip[c as usize];
        cl.pending = cl.pending.saturating_sub(1);
        self.maybe_settle_ip(c);
    }

    /// An inactive ip-port client whose writes all settled is settled now.
    pub(crate) fn maybe_settle_ip(&mut self, c: u32) {
        let cl = &self.ip[c as usize];
        // A client still deregistering (or about to retry a refused request) writes again.
        let done = matches!(cl.phase, IpPhase::Silent | IpPhase::Gone);
        if cl.active || !done || cl.pending > 0 || cl.settled_at.is_some() {
            return;
        }
        let id = ClientId::ip_port(&cl.ip, cl.port);
        let del = newest_deletion(self.registries(), |_| false, Some(&id));
        let now = self.now;
        let cl = &mut self.ip[c as usize];
        cl.settled_at = Some(now);
        cl.deleted_rev = del.map(|d| d.0);
        let (incarnation, deregistered) = (cl.incarnation, cl.deregistered);
        self.trace.note(now, format_args!("ip{c} settled"));
        if !deregistered {
            let t = &self.cfg.timings;
            let due =
                t.beat_timeout + t.beat_check_interval + core::time::Duration::from_millis(100);
            self.after(due, super::world::Ev::UnhealthyDue(c, incarnation));
        }
    }

    /// Session `s` can change no more (its member saw the close, or died).
    pub(crate) fn settle_session(&mut self, s: u32) {
        if self.sessions[s as usize].settled_at.is_some() {
            return;
        }
        let (owner, conn) = {
            let t = &self.sessions[s as usize];
            (self.slots[t.member].id.clone(), t.conn.0)
        };
        let del = newest_deletion(
            self.registries(),
            |id| matches!(id, ClientId::Conn { owner: o, conn: c, .. } if *o == owner && *c == conn),
            None,
        );
        let now = self.now;
        let t = &mut self.sessions[s as usize];
        t.settled_at = Some(now);
        if let Some((rev, id)) = del {
            t.deleted_rev = Some(rev);
            t.record_id = Some(id);
        }
    }

    /// Node `i` removed `client` (an `Event::ClientRemoved`): a deletion to remember.
    pub(crate) fn observe_removal(&mut self, i: usize, client: &str) {
        let Some(reg) = self.slots[i].node.as_ref().map(|n| n.registry()) else {
            return;
        };
        if let Some(addr) = client.strip_suffix("#true") {
            let Some((ip, port)) = addr.rsplit_once(':') else {
                return;
            };
            let Ok(port) = port.parse::<u16>() else {
                return;
            };
            let Some(&c) = self.ip_index.get(&(ip.into(), port)) else {
                return;
            };
            let id = ClientId::ip_port(ip, port);
            // A member may expire a stale copy (a derived deletion just above it) while a
            // newer registration lives elsewhere: only a deletion newer than every live copy
            // is the client's deletion.
            let rev = reg.tombstone(&id).filter(|&r| {
                self.registries()
                    .all(|g| g.client(&id).is_none_or(|c| c.revision < r))
            });
            let cl = &mut self.ip[c as usize];
            if cl.settled_at.is_some() {
                cl.deleted_rev = cl.deleted_rev.max(rev);
            }
            return;
        }
        // "{epoch}_{conn}_{owner}"
        let mut parts = client.splitn(3, '_');
        let (Some(epoch), Some(conn), Some(owner)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let (Ok(epoch), Ok(conn)) = (epoch.parse::<u64>(), conn.parse::<u64>()) else {
            return;
        };
        let Some(&s) = self.session_of.get(&conn) else {
            return;
        };
        let id = ClientId::Conn {
            owner: distro_core::MemberId::new(owner),
            epoch,
            conn,
        };
        let rev = reg.tombstone(&id);
        let t = &mut self.sessions[s as usize];
        if t.settled_at.is_some() && rev.is_some() {
            t.deleted_rev = t.deleted_rev.max(rev);
            t.record_id = Some(id);
        }
    }
}

impl Sim {
    /// Node `i` refuted a suspicion of `client` (an `Event::SuspicionRefuted`): it heard the
    /// client beat within the beat timeout. For a client that stopped, the expiry it refuted
    /// is then no deletion to hold it to (the client expires again within one more beat
    /// timeout); a refutation without that evidence (the client's last request reached a
    /// member longer ago) is a violation.
    pub(crate) fn observe_refutation(&mut self, i: usize, client: &str) {
        let Some((ip, port)) = client
            .strip_suffix("#true")
            .and_then(|a| a.rsplit_once(':'))
        else {
            return;
        };
        let Ok(port) = port.parse::<u16>() else {
            return;
        };
        let Some(&c) = self.ip_index.get(&(ip.into(), port)) else {
            return;
        };
        let now = self.now;
        let timeout = self.cfg.timings.beat_timeout + self.slack();
        let id = ClientId::ip_port(ip, port);
        let refuted = self
            .node(i)
            .and_then(|n| n.registry().client(&id))
            .map(|r| r.revision);
        let cl = &mut self.ip[c as usize];
        let heard = cl.last_heard;
        if heard.is_none_or(|t| now.since(t) > timeout) {
            let detail = format!("n{i} refuted a suspicion of {client}, last heard at {heard:?}");
            self.violate("refutation without evidence", detail);
            return;
        }
        // The refutation is just above what it refutes, so it only ever supersedes a deletion
        // below it: an expiry (a deregistration is far above, at its writer's clock). The
        // client is alive again everywhere that deletion was.
        if cl
            .deleted_rev
            .is_none_or(|d| refuted.is_some_and(|r| d < r))
        {
            cl.deleted_rev = None;
            cl.gone_on = 0;
        }
    }
}
