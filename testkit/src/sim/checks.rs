//! The checks that look at one thing each: service settings, member views, hung native
//! clients, the unhealthy bound and subscriber views (see the module docs of `sim`).

use super::clients::ConnPhase;
use super::world::{HashMap, Sim};
use distro_core::{ClientId, Revision, Timestamp};

impl Sim {
    /// Service settings converge like clients: when calm, the newest settings of a service
    /// (once they have existed for the slack) are held identically by every running member,
    /// or, if the newest is a deletion, live by none. Returns the newest revisions seen.
    pub(crate) fn check_service_settings(
        &self,
        calm: bool,
        found: &mut Vec<(&'static str, String)>,
    ) -> HashMap<distro_core::ServiceKey, (Revision, Timestamp)> {
        let now = self.now;
        let mut newest: HashMap<&distro_core::ServiceKey, &distro_core::ServiceMeta> =
            HashMap::default();
        for (_, node) in self.running() {
            let reg = node.registry();
            for s in reg.services() {
                if let Some(m) = reg.service_meta(s) {
                    let e = newest.entry(s).or_insert(m);
                    if m.revision > e.revision {
                        *e = m;
                    }
                }
            }
        }
        let mut seen = HashMap::with_capacity_and_hasher(newest.len(), Default::default());
        for (s, m) in &newest {
            let since = match self.meta_seen.get(*s) {
                Some((r, t)) if *r == m.revision => *t,
                _ => now,
            };
            seen.insert((*s).clone(), (m.revision, since));
            if !calm || now.since(since) < self.slack() {
                continue;
            }
            for (i, node) in self.running() {
                let held = node.registry().service_meta(s);
                let ok = if m.deleted {
                    held.is_none_or(|h| h.deleted || h.revision < m.revision)
                        && held.is_none_or(|h| h.deleted)
                } else {
                    held == Some(*m)
                };
                if !ok {
                    found.push((
                        "convergence",
                        format!(
                            "n{i} holds settings of {s:?} at {:?}, newest is {:?} (deleted: {})",
                            held.map(|h| h.revision),
                            m.revision,
                            m.deleted
                        ),
                    ));
                }
            }
        }
        seen
    }

    /// Every running member is ready and sees the others as they are.
    pub(crate) fn check_members(&self, found: &mut Vec<(&'static str, String)>) {
        let gate = self.cfg.timings.snapshot_gate + self.slack();
        for (i, node) in self.running() {
            // A member may wait for its readiness gate when nobody can serve it a snapshot.
            if !node.is_ready() && self.now.since(self.slots[i].booted_at) > gate {
                found.push(("convergence", format!("n{i} is not ready")));
            }
            let views = node.members();
            for v in views.iter().filter(|v| !v.is_self) {
                let Some(j) = self.slot_of(&v.id) else {
                    found.push(("membership", format!("n{i} lists unknown {}", v.id)));
                    continue;
                };
                if !self.slots[j].member {
                    found.push(("membership", format!("n{i} still lists removed n{j}")));
                    continue;
                }
                let want = if self.alive(j) { "UP" } else { "DOWN" };
                if v.state != want {
                    found.push((
                        "membership",
                        format!("n{i} sees n{j} {} but it is {want}", v.state),
                    ));
                }
            }
            let listed = views.len();
            let members = self.slots.iter().filter(|s| s.member).count();
            if listed != members {
                found.push((
                    "membership",
                    format!("n{i} lists {listed} members, the cluster has {members}"),
                ));
            }
        }
    }

    /// A hung native client is closed by its member within the probe bound.
    pub(crate) fn check_hung(&self, found: &mut Vec<(&'static str, String)>) {
        let t = &self.cfg.timings;
        let bound = t.conn_idle + t.conn_scan_interval + t.probe_timeout + self.slack();
        for s in &self.sessions {
            if s.hung_at.is_none() || s.closed.is_some() || !self.alive(s.member) {
                continue;
            }
            let due = s.last_sent.max(self.calm_from).plus(bound);
            if self.now >= due {
                found.push((
                    "expiry bound",
                    format!(
                        "hung native client {:?} on n{} still open (last frame at {:?})",
                        s.conn, s.member, s.last_sent
                    ),
                ));
            }
        }
    }

    /// A stopped ip-port client is unhealthy (or gone) on its responsible member in time.
    pub(crate) fn check_unhealthy(&mut self, c: u32, incarnation: u32) {
        let cl = &self.ip[c as usize];
        if cl.incarnation != incarnation || cl.active || cl.deregistered {
            return;
        }
        let Some(settled) = cl.settled_at else {
            return;
        };
        if !self.is_calm() || self.calm_from > settled {
            return;
        }
        let Some((_, any)) = self.running().next() else {
            return;
        };
        let owner = any.responsible_member(&cl.ip, cl.port).clone();
        let Some(o) = self.slot_of(&owner) else {
            return;
        };
        if self.node(o).is_none() {
            return;
        }
        self.judged.unhealthy_bounds += 1;
        let Some(node) = self.node(o) else {
            return;
        };
        let id = ClientId::ip_port(&cl.ip, cl.port);
        if let Some(rec) = node.registry().client(&id) {
            let healthy = rec
                .publications
                .iter()
                .any(|p| p.instances.iter().any(|i| i.healthy));
            if healthy {
                let detail = format!(
                    "{id} still healthy on its responsible member n{o}, stopped (settled) at {settled:?}"
                );
                self.violate("expiry bound", detail);
            }
        }
    }

    /// Every live subscriber's last view equals its member's current list.
    pub(crate) fn check_subscribers(&mut self) {
        let mut found = Vec::new();
        for (k, cl) in self.conn.iter().enumerate() {
            let Some(s) = cl.session.filter(|_| cl.phase == ConnPhase::Live) else {
                continue;
            };
            let t = &self.sessions[s as usize];
            let Some(node) = self.node(t.member) else {
                continue;
            };
            for (svc, view) in cl.subs.iter().zip(&cl.views) {
                let Some(view) = view else {
                    continue;
                };
                let now = node.registry().list(svc, "", false, &self.cfg.timings, 0);
                if now.hosts != view.hosts {
                    found.push(format!(
                        "subscriber conn{k} on n{} has {} hosts of {svc:?}, the member lists {}",
                        t.member,
                        view.hosts.len(),
                        now.hosts.len()
                    ));
                }
            }
        }
        for (k, cl) in self.ip.iter().enumerate() {
            let Some(w) = cl.watch.as_ref().filter(|_| cl.active) else {
                continue;
            };
            let (Some(view), Some(node)) = (&w.view, self.node(w.member)) else {
                continue;
            };
            let now = node
                .registry()
                .list(&w.service, "", false, &self.cfg.timings, 0);
            if now.hosts != view.hosts {
                found.push(format!(
                    "v1 subscriber ip{k} on n{} has {} hosts of {:?}, the member lists {}",
                    w.member,
                    view.hosts.len(),
                    w.service,
                    now.hosts.len()
                ));
            }
        }
        if let Some(detail) = found.into_iter().next() {
            self.violate("subscriber view", detail);
        }
    }
}
