//! The beat-side check: no lost live client, also while the cluster is split.
//!
//! The calm-only checks judge every running member once the cluster has settled, so a client
//! that was lost right after a partition healed, and came back by registering again before the
//! cluster counted as calm, slipped through (issue 11: a client beating to the majority side
//! was deleted everywhere by the expiry the cut-off member made). This check judges the
//! members a live client is actually talking to, during and after faults:
//!
//! * A *live* ip-port client has been registered and beating (each beat answered OK within
//!   the last 8 s) through the same entry member `E` (the member its requests go to) for at
//!   least [`Sim::settle_time`].
//! * Member `j` is *on E's side* once `j` and `E` both run unpaused and ready, their links are
//!   up both ways, and each sees the other not DOWN; `j` is judged once that has held for
//!   [`Sim::settle_time`] (so a member that just rejoined has had its verify rounds). `E` itself
//!   is on its own side.
//! * Not judged either, until the cluster is calm a settle time later (what such a write did
//!   travels as long as faults delay it): a client one of whose writes was executed
//!   where it may roll the client back. Either late, after its sender had given up on it (the
//!   client after its request timeout, a forwarder after the forward timeout; both then try
//!   elsewhere), delayed by a stalled member or a blackholed link, so it takes effect after
//!   newer ones; or by a member that holds nothing of the client (it is still loading its
//!   snapshot, it loaded one from a member that had lost the client, it applied an expiry the
//!   refutation of which is still on its way), which registers it anew with only the
//!   publication at hand (a register, a beat's body), at a new revision that replaces the full
//!   record everywhere. Either way the client may lose publications until its next writes.
//!   The core has no defence against these yet: a request would need a deadline the executing
//!   member can check, and a write would need to name the state it was made on, so that a
//!   member holding more merges rather than replaces.
//! * Every judged member holds the client with all its services, healthy. `E` heard every
//!   beat (it executed or forwarded it), so it refutes a suspicion of the client on receipt and
//!   may lack it for at most the slack. Another member may have applied a suspicion before the
//!   refutation reached it: it may lack the client for the slack plus the time the member that
//!   suspected it takes to see a member that heard it (a ping interval, and a second for its
//!   link to reconnect after a heal). A longer gap is a violation.
//!
//! It is checked after every event that changed a member's registry, at every sample, and
//! when a member's grace ends. It is skipped while the network is not the nominal one, and
//! for a settle time after it is again (loss delays refutations and repairs by whole retry
//! intervals), and while the cut links do not split the members into groups (a link cut one
//! way only, a member that reaches two members which cannot reach each other): members then
//! disagree on who is responsible for a client without being cut off from each other, and a
//! suspicion made by one that cannot reach the members that hear the client gets to them only
//! with a verify round.

use super::clients::IpPhase;
use super::links::LinkState;
use super::world::Sim;
use core::time::Duration;
use distro_core::{ClientId, Timestamp};

impl Sim {
    /// Since when member `j` has been on member `e`'s side (see the module docs), if it is.
    fn on_side_since(&self, j: usize, e: usize) -> Option<Timestamp> {
        let (sj, se) = (&self.slots[j], &self.slots[e]);
        if !self.alive(j) || !self.alive(e) || sj.paused.is_some() || se.paused.is_some() {
            return None;
        }
        let mut since = sj.active_since.max(sj.ready_at?);
        if j == e {
            return Some(since);
        }
        since = since.max(se.active_since).max(se.ready_at?);
        for (a, b) in [(j, e), (e, j)] {
            let link = &self.links[a][b];
            if link.state != LinkState::Up {
                return None;
            }
            since = since.max(link.up_at);
            since = since.max(*self.slots[a].sees.get(b)?.as_ref()?);
        }
        Some(since)
    }

    /// Whether the network has been the configured one everywhere (no lossy or slow period)
    /// for the settle time, so what a lossy period lost had its verify rounds, and the cut
    /// links split the running members into groups (no link cut one way only, no member that
    /// reaches two members which cannot reach each other).
    fn nominal_net(&self) -> bool {
        let alive: Vec<usize> = (0..self.slots.len()).filter(|&i| self.alive(i)).collect();
        let joined = |a: usize, b: usize| !self.links[a][b].cut && !self.links[b][a].cut;
        let one_way = alive.iter().any(|&a| {
            alive
                .iter()
                .any(|&b| self.links[a][b].cut != self.links[b][a].cut)
        });
        let bridged = alive.iter().any(|&a| {
            alive.iter().any(|&b| {
                a != b
                    && joined(a, b)
                    && alive
                        .iter()
                        .any(|&c| c != a && c != b && joined(b, c) && !joined(a, c))
            })
        });
        self.net == self.cfg.net
            && !one_way
            && !bridged
            && self.links.iter().flatten().all(|l| l.params.is_none())
            && self.now.since(self.net_changed_at) >= self.settle_time()
    }

    /// Runs the beat-side check for member `only`, or for every member.
    pub(crate) fn check_sides(&mut self, only: Option<usize>) {
        if !self.violations.is_empty() {
            return;
        }
        let now = self.now;
        let settle = self.settle_time();
        let old = |t: Option<Timestamp>| t.is_some_and(|t| now.since(t) >= settle);
        let calm = self.is_calm();
        for cl in self.ip.iter_mut() {
            // A rolled-back state travels as long as faults delay it: judged again only once
            // the cluster is calm a settle time after the write.
            if calm && old(cl.stale_write_at) {
                cl.stale_write_at = None;
            }
        }
        if !self.nominal_net() {
            // Nothing is judged: no gap is running either.
            for cl in self.ip.iter_mut() {
                cl.missing_since.clear();
            }
            return;
        }
        let strict = self.slack();
        let grace = strict + self.cfg.timings.member_ping_interval + Duration::from_secs(1);
        let slots = self.slots.len();
        let members = match only {
            Some(j) => j..j + 1,
            None => 0..slots,
        };
        let mut found = None;
        let mut recheck = None::<Timestamp>;
        let mut judged = 0;
        for c in 0..self.ip.len() {
            let cl = &self.ip[c];
            let live = cl.active
                && cl.phase == IpPhase::Beating
                && old(cl.registered_at)
                && old(Some(cl.member_since))
                && cl.stale_write_at.is_none()
                && cl
                    .last_beat_ok
                    .is_some_and(|t| now.since(t) < Duration::from_secs(8));
            if !live {
                self.ip[c].missing_since.clear();
                continue;
            }
            let e = cl.member;
            let id = ClientId::IpPort {
                ip: cl.ip.clone(),
                port: cl.port,
            };
            for j in members.clone() {
                let cl = &self.ip[c];
                let side = old(self.on_side_since(j, e));
                let missing = side
                    && !self
                        .node(j)
                        .and_then(|n| n.registry().client(&id))
                        .is_some_and(|rec| {
                            cl.services.iter().all(|s| {
                                rec.publications.iter().any(|p| {
                                    p.service == *s && p.instances.iter().all(|x| x.healthy)
                                })
                            })
                        });
                judged += u64::from(side);
                let cl = &mut self.ip[c];
                if !missing {
                    if let Some(slot) = cl.missing_since.get_mut(j) {
                        *slot = None;
                    }
                    continue;
                }
                if cl.missing_since.len() < slots {
                    cl.missing_since.resize(slots, None);
                }
                let since = *cl.missing_since[j].get_or_insert(now);
                let grace = if j == e { strict } else { grace };
                if now.since(since) > grace {
                    found.get_or_insert_with(|| {
                        format!(
                            "ip client {}:{} (beating through n{e} since {:?}) missing or \
                             unhealthy on n{j}, on n{e}'s side, since {since:?}",
                            cl.ip, cl.port, cl.member_since
                        )
                    });
                } else {
                    let due = since.plus(grace + Duration::from_millis(1));
                    recheck = Some(recheck.map_or(due, |r: Timestamp| r.min(due)));
                }
            }
        }
        self.judged.side_judgements += judged;
        if let Some(detail) = found {
            self.violate("lost live client", detail);
        } else if let Some(at) = recheck {
            self.side_recheck = Some(self.side_recheck.map_or(at, |r| r.min(at)));
        }
    }
}
