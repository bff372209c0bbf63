//! Liveness: beats of ip-port clients, probes of native connections, and the periodic cleanup
//! of replicas, orphans, tombstones and empty services.

use crate::distro::SyncKey;
use crate::error::Error;
use crate::io::{Event, MemberState, Output, Source};
use crate::model::{
    ClientId, ClientRecord, ConnId, Instance, Publication, Revision, ServiceKey, META_BEAT_TIMEOUT,
    META_DELETE_TIMEOUT,
};
use crate::node::Node;
use crate::time::{Timer, Timestamp};
use crate::wire::{decode_payload, ClientMsg, Record};
use core::time::Duration;

/// A native client connection.
#[derive(Debug)]
pub(crate) struct NativeConn {
    /// The connection's client.
    pub client: ClientId,
    /// Last frame received.
    pub last_active: Timestamp,
    /// When the unanswered probe was sent.
    pub probe_sent: Option<Timestamp>,
    /// Subscriptions made on this connection: (service, cluster filter).
    pub subscriptions: Vec<(ServiceKey, std::sync::Arc<crate::registry::ClusterFilter>)>,
}

enum BeatAction {
    Unhealthy(usize),
    Expired(ServiceKey),
}

impl Node {
    pub(crate) fn on_conn_opened(&mut self, conn: ConnId) {
        let client = ClientId::Conn {
            owner: self.members.self_id.clone(),
            epoch: self.epoch,
            conn: conn.0,
        };
        let nc = NativeConn {
            client,
            last_active: self.now,
            probe_sent: None,
            subscriptions: Vec::new(),
        };
        self.conns.insert(conn, nc);
    }

    pub(crate) fn on_conn_closed(&mut self, conn: ConnId) {
        if self.peer_conns.remove(&conn).is_some() {
            return;
        }
        if let Some(nc) = self.conns.remove(&conn) {
            self.drop_native_conn(conn, nc, "connection closed");
        }
    }

    fn drop_native_conn(&mut self, conn: ConnId, nc: NativeConn, reason: &'static str) {
        for (service, clusters) in &nc.subscriptions {
            self.push.unsubscribe_conn(service, conn, &clusters.raw);
        }
        self.delete_owned_client(&nc.client, reason);
    }

    /// Deletes a client this member is responsible for: tombstone, sync, event.
    pub(crate) fn delete_owned_client(&mut self, id: &ClientId, reason: &'static str) {
        self.delete_owned(id, reason, false);
    }

    /// Deletes a client; `expired` when no beat came for too long: then the deletion is a
    /// suspicion with a derived revision (see [`Revision::derived`] and the crate docs).
    pub(crate) fn delete_owned(&mut self, id: &ClientId, reason: &'static str, expired: bool) {
        let Some(c) = self.registry.clients.get(id) else {
            return;
        };
        let rev = c.record.revision;
        let (rev, expired) = if expired {
            (
                Revision::expiry(rev, self.derived_writer()),
                Some((c.expired.clone(), c.written)),
            )
        } else {
            (Revision::next(rev, self.now, self.writer), None)
        };
        self.registry.delete_client(id, rev, expired, self.now);
        self.mark_sync(SyncKey::Client(id.clone()));
        self.emit(Output::Event(Event::ClientRemoved {
            client: id.to_string(),
            reason,
        }));
    }

    pub(crate) fn on_probe_answered(&mut self, conn: ConnId) -> Result<(), Error> {
        let Some(nc) = self.conns.get_mut(&conn) else {
            return Err(Error::ApiMisuse(
                "probe answer on a connection that was not opened as native",
            ));
        };
        nc.last_active = self.now;
        nc.probe_sent = None;
        Ok(())
    }

    pub(crate) fn on_client_frame(&mut self, conn: ConnId, frame: &[u8]) -> Result<(), Error> {
        let Some(nc) = self.conns.get_mut(&conn) else {
            return Err(Error::ApiMisuse(
                "client frame on a connection that was not opened as native",
            ));
        };
        nc.last_active = self.now;
        nc.probe_sent = None;
        match decode_payload::<ClientMsg>(frame) {
            Ok(ClientMsg::Request { id, request }) => {
                self.on_request(conn, id, request);
                Ok(())
            }
            Ok(ClientMsg::ProbeAck) => Ok(()),
            Err(e) => {
                self.reject(
                    Source::Client(conn),
                    format!("undecodable client frame: {e}"),
                );
                if let Some(nc) = self.conns.remove(&conn) {
                    self.drop_native_conn(conn, nc, "protocol error");
                }
                self.emit(Output::Close { conn });
                Err(e.into())
            }
        }
    }

    /// The client heard from here about `service` (a beat this member forwards): evidence
    /// against a suspicion (see [`Node::refutation`]).
    pub(crate) fn note_heard(&mut self, id: &ClientId, service: &ServiceKey) {
        let now = self.now;
        if let Some(c) = self.registry.clients.get_mut(id) {
            if let Ok(i) = c.find(service) {
                c.beats[i].heard = Some(now);
            }
        }
    }

    /// The beat timeout of a publication: its first instance's `preserved.*` metadata, or
    /// the configured one.
    fn beat_timeout_of(&self, first: &Instance) -> Duration {
        first
            .preserved_millis(META_BEAT_TIMEOUT)
            .map(Duration::from_millis)
            .unwrap_or(self.cfg.timings.beat_timeout)
    }

    /// The answer to a newer record that contradicts what this member heard, if it has one.
    ///
    /// `rec` is newer than the live copy held here. For every publication this member itself
    /// heard within its beat timeout (see [`BeatClock::heard`](crate::registry::BeatClock)):
    ///
    /// * if `rec` shows it unhealthy, whatever kind of record it is, that is wrong: health is
    ///   decided by beats alone (any beat revives an instance), and one came;
    /// * if `rec` is a suspicion that lacks it, and either names it among the publications
    ///   that expired, or derives from a write this member has seen (so this member's copy
    ///   holds everything the suspicion's writer knew), that is wrong too. A publication that
    ///   went by a deregistration is never named so, and a deregistration this member missed
    ///   is a write it has not seen: it stays gone.
    ///
    /// The answer is `rec`'s state with those publications alive and healthy, at the revision
    /// just above `rec`'s, with the services still expired. `None` when nothing is
    /// contradicted: `rec` is applied as it is.
    pub(crate) fn refutation(&self, rec: &Record) -> Option<(ClientRecord, Vec<ServiceKey>)> {
        let (theirs, expired, base): (&[Publication], &[ServiceKey], _) = match rec {
            Record::Client(c) => (&c.publications, &[], None),
            Record::Suspected {
                client,
                expired,
                base,
            } => (&client.publications, expired, Some(*base)),
            Record::Expired { expired, base, .. } => (&[], expired, Some(*base)),
            Record::Deleted { .. } | Record::ServiceMeta(_) => return None,
        };
        let id = rec.client_id()?;
        let held = self.registry.clients.get(id)?;
        if held.record.revision >= rec.revision() {
            return None;
        }
        // Holding every write the suspicion's state includes, whatever else this member holds
        // was never deregistered: the suspicion lacks it only because it expired, or because
        // its writer's copy never had it.
        let knows_base = base.is_some_and(|b| held.record.revision >= b);
        let mut refuted: Option<Vec<Publication>> = None;
        for (p, clock) in held.record.publications.iter().zip(&held.beats) {
            let fresh = clock
                .heard
                .is_some_and(|h| self.now.since(h) <= self.beat_timeout_of(&p.instances[0]));
            let contradicted = match theirs.iter().find(|q| q.service == p.service) {
                Some(q) => q.instances.iter().any(|x| !x.healthy),
                None => base.is_some() && (knows_base || expired.contains(&p.service)),
            };
            if !fresh || !contradicted {
                continue;
            }
            let pubs = refuted.get_or_insert_with(|| {
                let mut v = theirs.to_vec();
                v.sort_by(|a, b| a.service.cmp(&b.service));
                v.dedup_by(|a, b| a.service == b.service);
                v
            });
            let j = match pubs.binary_search_by(|q| q.service.cmp(&p.service)) {
                Ok(j) => j,
                Err(j) => {
                    pubs.insert(j, p.clone());
                    j
                }
            };
            for x in pubs[j].instances.iter_mut() {
                x.healthy = true;
            }
        }
        let publications = refuted?;
        let still: Vec<ServiceKey> = expired
            .iter()
            .filter(|s| publications.binary_search_by(|q| q.service.cmp(s)).is_err())
            .cloned()
            .collect();
        let record = ClientRecord {
            id: id.clone(),
            revision: Revision::derived(rec.revision(), self.derived_writer()),
            publications,
        };
        Some((record, still))
    }

    /// Marks unhealthy, then deletes, instances of owned ip-port clients that stopped beating.
    pub(crate) fn check_beats(&mut self) {
        if !self.ready {
            return;
        }
        let now = self.now;
        let t = &self.cfg.timings;
        let mut actions: Vec<(ClientId, BeatAction)> = Vec::new();
        for c in self.registry.clients.values() {
            if !c.owned || !c.record.id.is_ip_port() {
                continue;
            }
            for (i, p) in c.record.publications.iter().enumerate() {
                let elapsed = now.since(c.beats[i].check);
                let first = &p.instances[0];
                let ms = |key, default: Duration| {
                    first
                        .preserved_millis(key)
                        .map(Duration::from_millis)
                        .unwrap_or(default)
                };
                if elapsed > ms(META_DELETE_TIMEOUT, t.delete_timeout) {
                    actions.push((c.record.id.clone(), BeatAction::Expired(p.service.clone())));
                } else if elapsed > ms(META_BEAT_TIMEOUT, t.beat_timeout)
                    && p.instances.iter().any(|i| i.healthy)
                {
                    actions.push((c.record.id.clone(), BeatAction::Unhealthy(i)));
                }
            }
        }
        // Apply in reverse so publication indexes stay valid within a client.
        for (id, action) in actions.into_iter().rev() {
            match action {
                BeatAction::Unhealthy(i) => {
                    let Some(c) = self.registry.clients.get_mut(&id) else {
                        continue;
                    };
                    let p = &mut c.record.publications[i];
                    for inst in p.instances.iter_mut() {
                        inst.healthy = false;
                    }
                    let service = p.service.clone();
                    self.registry.changed.insert(service);
                    self.stats.instances_unhealthy += 1;
                    self.bump_derived_and_sync(&id);
                    self.emit(Output::Event(Event::InstanceUnhealthy {
                        client: id.to_string(),
                    }));
                }
                BeatAction::Expired(service) => {
                    self.stats.instances_expired += 1;
                    self.remove_publication(&id, &service, "beat timeout", true);
                }
            }
        }
    }

    /// Probes idle native connections; each probe has its own deadline (see
    /// [`Node::expire_probes`]).
    pub(crate) fn scan_connections(&mut self) {
        let now = self.now;
        let idle = self.cfg.timings.conn_idle;
        let mut probe = Vec::new();
        for (conn, nc) in self.conns.iter_mut() {
            if nc.probe_sent.is_none() && now.since(nc.last_active) >= idle {
                nc.probe_sent = Some(now);
                probe.push(*conn);
            }
        }
        probe.sort();
        if !probe.is_empty() {
            let deadline = now.plus(self.cfg.timings.probe_timeout);
            self.timers.set_earliest(Timer::Probe, deadline);
        }
        for conn in probe {
            self.stats.probes_sent += 1;
            self.emit(Output::Probe { conn });
        }
    }

    /// Closes the connections whose probe went unanswered for the probe timeout, and waits
    /// for the next probe deadline.
    pub(crate) fn expire_probes(&mut self) {
        let now = self.now;
        let timeout = self.cfg.timings.probe_timeout;
        let mut dead = Vec::new();
        let mut next = Timestamp::NEVER;
        for (conn, nc) in &self.conns {
            if let Some(sent) = nc.probe_sent {
                let deadline = sent.plus(timeout);
                if deadline <= now {
                    dead.push(*conn);
                } else {
                    next = next.min(deadline);
                }
            }
        }
        match next {
            Timestamp::NEVER => self.timers.clear(Timer::Probe),
            at => self.timers.set(Timer::Probe, at),
        }
        dead.sort();
        for conn in dead {
            let nc = self.conns.remove(&conn).expect("listed above");
            self.stats.connections_expired += 1;
            self.drop_native_conn(conn, nc, "probe not answered");
            self.emit(Output::Close { conn });
        }
    }

    /// Expires replicas and orphans, drops old tombstones, empty services and subscribers.
    pub(crate) fn cleanup(&mut self) {
        let now = self.now;
        let t = self.cfg.timings.clone();
        if self.ready {
            let mut forget = Vec::new();
            let mut delete = Vec::new();
            for c in self.registry.clients.values() {
                match &c.record.id {
                    ClientId::Conn { owner, epoch, conn } if *owner == self.members.self_id => {
                        // Ours, but from a previous run or a connection that is gone.
                        let open = *epoch == self.epoch && self.conns.contains_key(&ConnId(*conn));
                        if !open {
                            delete.push(c.record.id.clone());
                        }
                    }
                    ClientId::Conn { owner, epoch, .. } => {
                        let orphan = match self.members.peer(owner) {
                            None => true,
                            // The owner restarted (its handshake names another boot epoch):
                            // every connection of its previous run is gone with it.
                            Some(p) if p.epoch.is_some_and(|e| e != *epoch) => true,
                            Some(p) => {
                                p.state == MemberState::Down
                                    && p.down_since
                                        .is_some_and(|d| now.since(d) >= t.orphan_conn_expiry)
                            }
                        };
                        if orphan || now.since(c.renewed) > t.replica_expiry {
                            forget.push(c.record.id.clone());
                        }
                    }
                    ClientId::IpPort { .. } => {
                        if !c.owned && now.since(c.renewed) > t.replica_expiry {
                            forget.push(c.record.id.clone());
                        }
                    }
                }
            }
            forget.sort();
            delete.sort();
            for id in forget {
                self.registry.forget_client(&id, now);
                self.stats.replicas_expired += 1;
                self.emit(Output::Event(Event::ReplicaExpired {
                    client: id.to_string(),
                }));
            }
            for id in delete {
                self.delete_owned_client(&id, "connection gone");
            }
        }
        let push = &self.push;
        let (tombs, services) =
            self.registry
                .collect_garbage(now, t.tombstone_ttl, t.empty_service_ttl, |k| {
                    push.has_subscribers(k)
                });
        self.stats.tombstones_dropped += tombs;
        self.stats.services_removed += services;
        self.push.expire_udp(now);
        self.snapshot_cleanup();
        // Keys of what is gone (a client and its tombstone both dropped) wait for nobody.
        let reg = &self.registry;
        self.outboxes.retain_keys(|k| match k {
            SyncKey::Client(id) => reg.known_revision(id).is_some(),
            SyncKey::Meta(s) => reg.service_meta(s).is_some(),
        });
    }
}
