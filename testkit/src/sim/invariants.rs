//! The invariants, checked at every sample during a run and once more at its end.
//!
//! * **Resurrection** (always): a client that stopped or deregistered, whose writes all
//!   settled and whose deletion is known at revision `R`, is never held live at a revision
//!   above `R`, and never again by a member that held its deletion (until that member
//!   restarts with an empty memory). For a client that stopped beating without
//!   deregistering, only a copy that shows it healthy counts: an unhealthy one is a
//!   suspicion another member derived from a stale copy during a split (its own expiry
//!   removes it within the expiry bound), and a refutation that revives it must rest on a beat
//!   heard within the beat timeout (checked when it happens).
//! * **Convergence** (when calm): every client whose newest revision anywhere is older than
//!   the settle slack is held identically by every running member (or by none, if the newest
//!   is a deletion); every member is ready and sees every running member UP and the others DOWN.
//! * **No lost live client** (when calm): a beating ip-port client (healthy), or a registered
//!   native client on a running member that answers probes, is held by every running member
//!   with every service it registered.
//! * **Expiry bounds** (when calm): a stopped ip-port client is unhealthy on its responsible
//!   member within `beat_timeout + beat_check_interval`, and gone everywhere within
//!   `delete_timeout + beat_check_interval` (counted from when it settled, or from one verify
//!   interval after the cluster became calm); a closed native client is gone at once, an orphan of a crashed
//!   member within DOWN detection + `orphan_conn_expiry` + a cleanup interval; a hung native
//!   client is closed within `conn_idle + conn_scan_interval + probe_timeout`. (A member
//!   that starts while a member is dead sees it UP until its pings fail, so orphans count from
//!   the last start too.)
//! * **Subscribers** (at the end): every live subscriber's last view (native push, or v1 UDP
//!   push or list answer) equals its member's list.
//!
//! "Calm" means no fault is active and the last one ended at least
//! [`Sim::settle_time`] ago (plus DOWN detection after a crash): two verify rounds plus retry
//! delays.

use super::clients::IpPhase;
use super::truth::CloseKind;
use super::world::HashMap;
use super::world::Sim;
use core::time::Duration;
use distro_core::{ClientId, ClientRecord, Revision, Timestamp};

/// A broken invariant.
#[derive(Clone, Debug)]
pub struct Violation {
    /// When it was found.
    pub at: Timestamp,
    /// Which invariant.
    pub kind: &'static str,
    /// What was seen.
    pub detail: String,
}

type Found = (
    Vec<(&'static str, String)>,
    HashMap<ClientId, (Revision, Timestamp)>,
    u64,
    Vec<(Gone, usize)>,
);

/// A settled client whose deletion a member holds.
#[derive(Clone, Copy)]
enum Gone {
    Ip(u32),
    Session(u32),
}

/// Slack for a change to reach every member in a calm cluster (plus the sync delay).
const SLACK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Agg<'a> {
    newest: Option<(Revision, bool)>,
    live: Vec<(usize, &'a ClientRecord)>,
}

impl Agg<'_> {
    fn see(&mut self, rev: Revision, live: bool) {
        if self
            .newest
            .is_none_or(|(r, l)| rev > r || (rev == r && l && !live))
        {
            self.newest = Some((rev, live));
        }
    }
}

fn has_services(rec: &ClientRecord, services: &[distro_core::ServiceKey]) -> bool {
    services
        .iter()
        .all(|s| rec.publications.iter().any(|p| p.service == *s))
}

impl Sim {
    /// Samples every invariant that applies now.
    pub(crate) fn check(&mut self) {
        let calm = self.is_calm();
        let (mut found, seen, deadlines, gone) = self.check_records(calm, None);
        self.newest_seen = seen;
        self.note_gone(gone);
        if calm {
            self.judged.calm_samples += 1;
            self.judged.expiry_deadlines += deadlines;
        }
        let meta_seen = self.check_service_settings(calm, &mut found);
        self.meta_seen = meta_seen;
        if calm {
            self.check_members(&mut found);
            self.check_hung(&mut found);
        }
        found.sort();
        found.truncate(5);
        for (kind, detail) in found {
            self.violate(kind, detail);
        }
        self.check_sides(None);
    }

    /// After an event that changed member `i`'s registry in a calm period: the invariants
    /// about what one member holds (no resurrection, no lost live client, the expiry bounds)
    /// for member `i`. What spans members (convergence, member views) and what only time can
    /// break is judged at the samples.
    pub(crate) fn check_member(&mut self, i: usize) {
        let (mut found, _, _, gone) = self.check_records(true, Some(i));
        self.note_gone(gone);
        found.sort();
        found.truncate(5);
        for (kind, detail) in found {
            self.violate(kind, detail);
        }
    }

    fn note_gone(&mut self, gone: Vec<(Gone, usize)>) {
        for (g, i) in gone {
            match g {
                Gone::Ip(c) => self.ip[c as usize].gone_on |= 1 << i,
                Gone::Session(s) => self.sessions[s as usize].gone_on |= 1 << i,
            }
        }
    }

    /// How long a change takes to reach every member of a calm cluster.
    pub(crate) fn slack(&self) -> Duration {
        SLACK + self.cfg.timings.sync_delay + self.cfg.timings.push_window
    }

    pub(crate) fn running(&self) -> impl Iterator<Item = (usize, &distro_core::Node)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.node.as_ref().map(|n| (i, n)))
    }

    /// When a stopped ip-port client must be gone everywhere: `delete_timeout` plus a beat
    /// check after it settled, or after the cluster calmed down plus one verify interval (a
    /// replica its owner lost is handed back to the owner after two verify intervals without
    /// renewal; the owner's beat clock for it starts then).
    fn ip_deadline(&self, settled: Timestamp) -> Timestamp {
        let t = &self.cfg.timings;
        settled
            .max(self.calm_from.plus(t.verify_interval))
            .plus(t.delete_timeout + t.beat_check_interval + self.slack())
    }

    fn session_deadline(&self, closed: CloseKind, settled: Timestamp) -> Timestamp {
        let t = &self.cfg.timings;
        match closed {
            CloseKind::ByClient | CloseKind::ByMember => {
                settled.max(self.calm_from).plus(self.slack())
            }
            // Every member drops orphans on its own clock: DOWN detection, then the orphan
            // expiry, then its next cleanup; a member that started (or resumed) since counts
            // from then.
            CloseKind::MemberCrashed => settled
                .max(self.last_boot)
                .plus(self.down_detect_time() + t.orphan_conn_expiry + t.cleanup_interval)
                .max(self.calm_from.plus(t.cleanup_interval))
                .plus(self.slack()),
        }
    }

    /// One pass over every record of every running member. Also returns the newest revision
    /// of every client with the time it was first seen (revision times are not write times:
    /// a derived change takes its base's time plus one).
    fn check_records(&self, calm: bool, only: Option<usize>) -> Found {
        let now = self.now;
        let mut found = Vec::new();
        let mut map: HashMap<&ClientId, Agg<'_>> = HashMap::default();
        let mut ip_holders = vec![0u64; self.ip.len()];
        let mut sess_holders: HashMap<u64, u64> = HashMap::default();
        let mut running_mask = 0u64;
        let mut deadlines = 0u64;
        let mut gone = Vec::new();
        for (i, node) in self.running() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            running_mask |= 1 << i;
            let reg = node.registry();
            for rec in reg.clients() {
                if only.is_none() {
                    // (what convergence compares across members)
                    let agg = map.entry(&rec.id).or_default();
                    agg.see(rec.revision, true);
                    agg.live.push((i, rec));
                }
                match &rec.id {
                    ClientId::IpPort { ip, port } => {
                        let Some(&c) = self.ip_index.get(&(ip.clone(), *port)) else {
                            found.push(("unknown client", format!("n{i} holds {}", rec.id)));
                            continue;
                        };
                        let cl = &self.ip[c as usize];
                        let healthy = rec
                            .publications
                            .iter()
                            .all(|p| p.instances.iter().all(|x| x.healthy));
                        if healthy && has_services(rec, &cl.services) {
                            ip_holders[c as usize] |= 1 << i;
                        }
                        if cl.active {
                            continue;
                        }
                        // A client that stopped beating (not deregistered) and shows up again
                        // unhealthy is a suspicion some member derived from a stale copy, which
                        // that member's own expiry removes within the expiry bound; a healthy
                        // copy can only come from a write or a refutation (whose evidence
                        // `observe_refutation` checks), and would be a resurrection.
                        let any_healthy = rec
                            .publications
                            .iter()
                            .any(|p| p.instances.iter().any(|x| x.healthy));
                        if !cl.deregistered && !any_healthy {
                            continue;
                        }
                        if cl.settled_at.is_some() && cl.gone_on & (1 << i) != 0 {
                            found.push((
                                "resurrection",
                                format!(
                                    "n{i} holds {} at {:?} again after it held its deletion",
                                    rec.id, rec.revision
                                ),
                            ));
                        }
                        if let (Some(_), Some(r)) = (cl.settled_at, cl.deleted_rev) {
                            if rec.revision > r {
                                found.push(("resurrection", format!(
                                    "n{i} holds {} at {:?}, deleted at {r:?} and not registered again",
                                    rec.id, rec.revision
                                )));
                            }
                        }
                        if let Some(t) = cl.settled_at.filter(|_| calm) {
                            deadlines += 1;
                            if now >= self.ip_deadline(t) {
                                found.push((
                                    "expiry bound",
                                    format!(
                                        "n{i} still holds {} (rev {:?}), stopped (settled) at {:?}",
                                        rec.id, rec.revision, t
                                    ),
                                ));
                            }
                        }
                    }
                    ClientId::Conn { owner, conn, .. } => {
                        let Some(&s) = self.session_of.get(conn) else {
                            found.push(("unknown client", format!("n{i} holds {}", rec.id)));
                            continue;
                        };
                        let t = &self.sessions[s as usize];
                        if self.slots[t.member].id != *owner {
                            found.push(("unknown client", format!("n{i} holds {}", rec.id)));
                            continue;
                        }
                        if has_services(rec, &self.conn[t.client as usize].services) {
                            *sess_holders.entry(*conn).or_default() |= 1 << i;
                        }
                        if t.settled_at.is_some() && t.gone_on & (1 << i) != 0 {
                            found.push((
                                "resurrection",
                                format!(
                                    "n{i} holds {} at {:?} again after it held its deletion",
                                    rec.id, rec.revision
                                ),
                            ));
                        }
                        if let (Some(_), Some(r)) = (t.settled_at, t.deleted_rev) {
                            if rec.revision > r {
                                found.push((
                                    "resurrection",
                                    format!(
                                        "n{i} holds {} at {:?}, closed and deleted at {r:?}",
                                        rec.id, rec.revision
                                    ),
                                ));
                            }
                        }
                        if let Some((kind, st)) = self.session_end(t) {
                            deadlines += calm as u64;
                            if calm && now >= self.session_deadline(kind, st) {
                                found.push(("expiry bound", format!(
                                    "n{i} still holds {} (rev {:?}), connection gone ({kind:?}) at {st:?}",
                                    rec.id, rec.revision
                                )));
                            }
                        }
                    }
                }
            }
            for (id, rev) in reg.tombstones() {
                if only.is_none() {
                    map.entry(id).or_default().see(rev, false);
                }
                if let Some(g) = self.settled_deletion(id, rev) {
                    if reg.client(id).is_none() {
                        gone.push((g, i));
                    }
                }
            }
        }
        let mut seen = HashMap::with_capacity_and_hasher(map.len(), Default::default());
        for (id, agg) in map.iter().filter(|_| only.is_none()) {
            if let Some((rev, _)) = agg.newest {
                let since = match self.newest_seen.get(*id) {
                    Some((r, t)) if *r == rev => *t,
                    _ => now,
                };
                seen.insert((*id).clone(), (rev, since));
            }
        }
        if !calm {
            return (found, seen, deadlines, gone);
        }
        // Convergence of every client whose newest revision is older than the settle slack.
        let running: Vec<usize> = self.running().map(|(i, _)| i).collect();
        for (id, agg) in map.iter().filter(|_| only.is_none()) {
            let Some((rev, live)) = agg.newest else {
                continue;
            };
            let settled = seen
                .get(*id)
                .is_some_and(|(_, t)| now.since(*t) >= self.slack());
            if !settled || self.orphan(id) {
                continue;
            }
            if live {
                let newest = agg
                    .live
                    .iter()
                    .find(|(_, r)| r.revision == rev)
                    .map(|x| x.1);
                for &i in &running {
                    match agg.live.iter().find(|(j, _)| *j == i) {
                        None => found.push((
                            "convergence",
                            format!("n{i} lacks {id} held elsewhere at {rev:?}"),
                        )),
                        Some((_, r)) if Some(*r) != newest => found.push((
                            "convergence",
                            format!(
                                "n{i} holds {id} at {:?}, newest is {rev:?} (equal content: {})",
                                r.revision,
                                newest.is_some_and(|n| n.publications == r.publications)
                            ),
                        )),
                        _ => {}
                    }
                }
            } else {
                for (i, r) in &agg.live {
                    found.push((
                        "convergence",
                        format!("n{i} holds {id} at {:?}, deleted at {rev:?}", r.revision),
                    ));
                }
            }
        }
        // No lost live client.
        let since = now
            .as_nanos()
            .saturating_sub(self.slack().as_nanos() as u64);
        for (c, cl) in self.ip.iter().enumerate() {
            let live = cl.active
                && cl.phase == IpPhase::Beating
                && cl.registered_at.is_some_and(|t| t.as_nanos() <= since)
                && cl
                    .last_beat_ok
                    .is_some_and(|t| now.since(t) < Duration::from_secs(8));
            let missing = running_mask & !ip_holders[c];
            if live && missing != 0 {
                found.push((
                    "lost live client",
                    format!(
                        "ip client {}:{} (beating, registered at {:?}) missing or unhealthy on {}",
                        cl.ip,
                        cl.port,
                        cl.registered_at,
                        mask_names(missing)
                    ),
                ));
            }
        }
        for t in &self.sessions {
            let cl = &self.conn[t.client as usize];
            let live = t.closed.is_none()
                && t.hung_at.is_none()
                && !cl.services.is_empty()
                && self.alive(t.member)
                && t.registered_at.is_some_and(|r| r.as_nanos() <= since);
            let missing = running_mask & !sess_holders.get(&t.conn.0).copied().unwrap_or(0);
            if live && missing != 0 {
                found.push((
                    "lost live client",
                    format!(
                        "native client {:?} on n{} (registered at {:?}) missing on {}",
                        t.conn,
                        t.member,
                        t.registered_at,
                        mask_names(missing)
                    ),
                ));
            }
        }
        (found, seen, deadlines, gone)
    }

    /// The settled client a tombstone at `rev` is the deletion of (at or after the deletion
    /// known when it settled), if any.
    fn settled_deletion(&self, id: &ClientId, rev: Revision) -> Option<Gone> {
        match id {
            ClientId::IpPort { ip, port } => {
                let &c = self.ip_index.get(&(ip.clone(), *port))?;
                let cl = &self.ip[c as usize];
                let ok = !cl.active
                    && cl.settled_at.is_some()
                    && cl.deleted_rev.is_some_and(|r| rev >= r);
                ok.then_some(Gone::Ip(c))
            }
            ClientId::Conn { conn, .. } => {
                let &s = self.session_of.get(conn)?;
                let t = &self.sessions[s as usize];
                let ok = t.settled_at.is_some() && t.deleted_rev.is_some_and(|r| rev >= r);
                ok.then_some(Gone::Session(s))
            }
        }
    }

    /// Whether `id` is a connection client orphaned by its member's crash: each member drops
    /// those on its own clock (no tombstone), so only the expiry bound judges them.
    fn orphan(&self, id: &ClientId) -> bool {
        let ClientId::Conn { conn, .. } = id else {
            return false;
        };
        self.session_of.get(conn).is_some_and(|&s| {
            matches!(
                self.session_end(&self.sessions[s as usize]),
                Some((CloseKind::MemberCrashed, _))
            )
        })
    }

    /// How a closed session ended and when it settled. A session its member closed, but the
    /// member crashed before everyone heard of it (it may have died before syncing the
    /// deletion), ended as an orphan.
    fn session_end(&self, t: &super::truth::SessionTruth) -> Option<(CloseKind, Timestamp)> {
        let ((at, kind), settled) = (t.closed?, t.settled_at?);
        match self.slots[t.member].last_crash {
            Some(crash) if kind != CloseKind::MemberCrashed && crash >= at => {
                Some((CloseKind::MemberCrashed, crash.max(settled)))
            }
            _ => Some((kind, settled)),
        }
    }
}

fn mask_names(mask: u64) -> String {
    (0..64)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(",")
}
