//! The registry: clients, the services they publish into, deletion tombstones and replicated
//! service settings. Pure state with the revision rules; the node decides what to change.

mod view;

pub(crate) use view::ClusterFilter;

use crate::config::{Limits, Timings};
use crate::model::{
    ClientId, ClientRecord, Instances, Publication, Revision, ServiceKey, ServiceMeta,
};
use crate::time::Timestamp;
use crate::wire::Record;
use hashbrown::{HashMap, HashSet};
use smallvec::SmallVec;

pub(crate) type Hasher = foldhash::fast::FixedState;
pub(crate) type Map<K, V> = HashMap<K, V, Hasher>;
pub(crate) type Set<K> = HashSet<K, Hasher>;

pub(crate) fn new_map<K, V>(seed: u64) -> Map<K, V> {
    HashMap::with_hasher(Hasher::with_seed(seed))
}

pub(crate) fn new_set<K>(seed: u64) -> Set<K> {
    HashSet::with_hasher(Hasher::with_seed(seed))
}

/// A client as this member holds it.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    /// The replicated state.
    pub record: ClientRecord,
    /// Beat clocks per publication (parallel to `record.publications`).
    pub beats: SmallVec<[BeatClock; 1]>,
    /// Services whose publications expired for lack of beats and were not registered again
    /// since (see [`Record::Suspected`]): a member that heard them refutes their loss.
    pub expired: Vec<ServiceKey>,
    /// Revision of the client's last write this state includes (derived changes keep it).
    pub written: Revision,
    /// Last renewal by a sync, a verify or a snapshot (replicas expire without it).
    pub renewed: Timestamp,
    /// Whether this member is responsible for the client (kept current by the node).
    pub owned: bool,
    /// Hashes of the id, computed once: see [`ClientHashes`].
    pub hashes: ClientHashes,
}

/// What one member knows about the beats of one publication.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BeatClock {
    /// Where this member's beat check counts from: the last beat on the responsible member,
    /// reset to the time of receipt or renewal on replicas and at a takeover.
    pub check: Timestamp,
    /// When this member last heard from the client about this publication itself (a beat it
    /// executed or forwarded, or a write it executed): the evidence that refutes a suspicion.
    /// `None` on a copy that only came from peers.
    pub heard: Option<Timestamp>,
}

impl BeatClock {
    /// A publication the client just wrote or beat for here.
    pub fn heard(now: Timestamp) -> Self {
        BeatClock {
            check: now,
            heard: Some(now),
        }
    }
}

/// Hashes of a client id that hot loops need for every client of every round.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientHashes {
    /// `distro_hash("ip:port")` of an ip-port client (its place on the ring); 0 otherwise.
    pub ring: u32,
    /// The id's hash for verify digests (same on every member).
    pub digest: u64,
}

impl ClientHashes {
    pub fn of(id: &ClientId) -> Self {
        let ring = match id {
            ClientId::IpPort { ip, port } => crate::members::distro_hash_ip_port(ip, *port),
            ClientId::Conn { .. } => 0,
        };
        ClientHashes {
            ring,
            digest: digest_hash(id),
        }
    }
}

/// Seed of the verify digest hashes; every member must use the same.
const DIGEST_SEED: u64 = 0x6469_7374_726f_7631;

/// The hash of a client id that places it in a verify digest bucket.
pub(crate) fn digest_hash(id: &ClientId) -> u64 {
    use core::hash::BuildHasher;
    Hasher::with_seed(DIGEST_SEED).hash_one(id)
}

impl Client {
    fn instance_count(&self) -> usize {
        self.record
            .publications
            .iter()
            .map(|p| p.instances.len())
            .sum()
    }

    /// Index of the publication for `service`.
    pub fn find(&self, service: &ServiceKey) -> Result<usize, usize> {
        let pubs = &self.record.publications;
        if let [only] = pubs.as_slice() {
            // Most clients publish one service: compare the most distinctive part first.
            let s = &only.service;
            if s.name == service.name
                && s.group == service.group
                && s.namespace == service.namespace
            {
                return Ok(0);
            }
        }
        pubs.binary_search_by(|p| p.service.cmp(service))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ServiceEntry {
    pub publishers: Set<ClientId>,
    pub meta: Option<ServiceMeta>,
    /// When the service last became empty (no publishers), for its removal.
    pub empty_since: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    pub revision: Revision,
    pub at: Timestamp,
    /// Deleted for lack of beats (a suspicion: see [`Record::Expired`]): the services that
    /// expired, and the revision of the last write the deleted state included.
    pub expired: Option<(Vec<ServiceKey>, Revision)>,
}

/// Why a write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Clients,
    Services,
    InstancesPerClient,
}

impl LimitHit {
    pub fn message(self) -> &'static str {
        match self {
            LimitHit::Clients => "too many clients on this member (limits.max_clients)",
            LimitHit::Services => "too many services on this member (limits.max_services)",
            LimitHit::InstancesPerClient => {
                "too many instances for one client (limits.max_instances_per_client)"
            }
        }
    }
}

/// The result of applying a replicated record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The record was newer and is now held.
    Newer,
    /// The record was as new as what is held (renewed).
    Same,
    /// The record was older than what is held and was ignored.
    Stale,
    /// A limit refused it.
    Refused,
}

/// Every client, service and tombstone a member holds. Read-only views of it are public.
#[derive(Debug)]
pub struct Registry {
    seed: u64,
    pub(crate) clients: Map<ClientId, Client>,
    pub(crate) services: Map<ServiceKey, ServiceEntry>,
    pub(crate) tombstones: Map<ClientId, Tombstone>,
    /// Services whose instance list changed since the push module last looked.
    pub(crate) changed: Set<ServiceKey>,
    instances: usize,
    generation: u64,
    max_clients: usize,
    max_services: usize,
    max_instances_per_client: usize,
}

impl Registry {
    pub(crate) fn new(seed: u64, limits: &Limits) -> Self {
        Registry {
            seed,
            clients: new_map(seed),
            services: new_map(seed ^ 1),
            tombstones: new_map(seed ^ 2),
            changed: new_set(seed ^ 3),
            instances: 0,
            generation: 0,
            max_clients: limits.max_clients,
            max_services: limits.max_services,
            max_instances_per_client: limits.max_instances_per_client,
        }
    }

    /// A client's replicated state.
    pub fn client(&self, id: &ClientId) -> Option<&ClientRecord> {
        self.clients.get(id).map(|c| &c.record)
    }

    /// Every client held, in no particular order.
    pub fn clients(&self) -> impl Iterator<Item = &ClientRecord> {
        self.clients.values().map(|c| &c.record)
    }

    /// The revision of a deletion tombstone, if one is held.
    pub fn tombstone(&self, id: &ClientId) -> Option<Revision> {
        self.tombstones.get(id).map(|t| t.revision)
    }

    /// Every tombstone held.
    pub fn tombstones(&self) -> impl Iterator<Item = (&ClientId, Revision)> {
        self.tombstones.iter().map(|(k, t)| (k, t.revision))
    }

    /// Every service held (with publishers, settings, or recently emptied).
    pub fn services(&self) -> impl Iterator<Item = &ServiceKey> {
        self.services.keys()
    }

    /// A service's replicated settings (also when deleted: see [`ServiceMeta::deleted`]).
    pub fn service_meta(&self, service: &ServiceKey) -> Option<&ServiceMeta> {
        self.services.get(service).and_then(|s| s.meta.as_ref())
    }

    /// Number of clients held.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Number of services held.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of instances held.
    pub fn instance_count(&self) -> usize {
        self.instances
    }

    /// A counter that every change of what the registry shows (clients, their revisions and
    /// instances, tombstones, service settings) advances: a host can skip re-reading a
    /// registry whose generation did not move.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counts a change (see [`Registry::generation`]).
    pub(crate) fn touch(&mut self) {
        self.generation += 1;
    }

    /// An order-independent fingerprint of every client and its revision, and every live
    /// service setting: two members with equal fingerprints hold the same data.
    pub fn fingerprint(&self) -> u64 {
        use core::hash::{BuildHasher, Hash, Hasher as _};
        let h = Hasher::with_seed(0x5eed);
        let mut acc = 0u64;
        for c in self.clients.values() {
            let mut s = h.build_hasher();
            c.record.id.hash(&mut s);
            c.record.revision.hash(&mut s);
            acc = acc.wrapping_add(s.finish());
        }
        acc.wrapping_add(self.settings_fingerprint())
    }

    /// An order-independent fingerprint of every live service setting and its revision (what
    /// members compare to repair settings, which have no responsible member).
    pub(crate) fn settings_fingerprint(&self) -> u64 {
        use core::hash::{BuildHasher, Hash, Hasher as _};
        let h = Hasher::with_seed(0x5e77);
        let mut acc = 0u64;
        for (k, e) in &self.services {
            if let Some(m) = e.meta.as_ref().filter(|m| !m.deleted) {
                let mut s = h.build_hasher();
                k.hash(&mut s);
                m.revision.hash(&mut s);
                acc = acc.wrapping_add(s.finish());
            }
        }
        acc
    }

    /// The newest revision known for `id`, live or deleted.
    pub(crate) fn known_revision(&self, id: &ClientId) -> Option<Revision> {
        let live = self.clients.get(id).map(|c| c.record.revision);
        let dead = self.tombstones.get(id).map(|t| t.revision);
        live.max(dead)
    }

    /// The current record of `id` for replication: live state, or its tombstone.
    pub(crate) fn record_of(&self, id: &ClientId) -> Option<Record> {
        if let Some(c) = self.clients.get(id) {
            let rec = c.record.clone();
            return Some(if c.expired.is_empty() {
                Record::Client(rec)
            } else {
                Record::Suspected {
                    client: rec,
                    expired: c.expired.clone(),
                    base: c.written,
                }
            });
        }
        self.tombstones.get(id).map(|t| {
            let (id, revision) = (id.clone(), t.revision);
            match &t.expired {
                Some((expired, base)) => Record::Expired {
                    id,
                    revision,
                    expired: expired.clone(),
                    base: *base,
                },
                None => Record::Deleted { id, revision },
            }
        })
    }

    fn service_entry(&mut self, service: &ServiceKey) -> Result<&mut ServiceEntry, LimitHit> {
        if !self.services.contains_key(service) {
            if self.services.len() >= self.max_services {
                return Err(LimitHit::Services);
            }
            let entry = ServiceEntry {
                publishers: new_set(self.seed ^ 4),
                meta: None,
                empty_since: None,
            };
            self.services.insert(service.clone(), entry);
        }
        Ok(self.services.get_mut(service).expect("inserted above"))
    }

    fn index(&mut self, id: &ClientId, service: &ServiceKey) -> Result<(), LimitHit> {
        let entry = self.service_entry(service)?;
        entry.publishers.insert(id.clone());
        entry.empty_since = None;
        Ok(())
    }

    fn unindex(&mut self, id: &ClientId, service: &ServiceKey, now: Timestamp) {
        self.generation += 1;
        if let Some(entry) = self.services.get_mut(service) {
            entry.publishers.remove(id);
            if entry.publishers.is_empty() {
                entry.empty_since = Some(now);
            }
        }
        self.changed.insert(service.clone());
    }

    /// Publishes `instances` into `service` for client `id` (creating the client), replacing
    /// what it published there. Returns whether anything changed. Does not touch revisions.
    pub(crate) fn put_publication(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        instances: Instances,
        now: Timestamp,
    ) -> Result<bool, LimitHit> {
        if !self.clients.contains_key(id) {
            if self.clients.len() >= self.max_clients {
                return Err(LimitHit::Clients);
            }
            let record = ClientRecord {
                id: id.clone(),
                revision: self
                    .tombstones
                    .get(id)
                    .map(|t| t.revision)
                    .unwrap_or_default(),
                publications: Vec::new(),
            };
            self.clients.insert(
                id.clone(),
                Client {
                    hashes: ClientHashes::of(id),
                    record,
                    beats: SmallVec::new(),
                    expired: Vec::new(),
                    written: Revision::default(),
                    renewed: now,
                    owned: true,
                },
            );
        }
        let client = self.clients.get(id).expect("inserted above");
        let pos = client.find(service);
        let old_len = pos
            .ok()
            .map(|i| client.record.publications[i].instances.len())
            .unwrap_or(0);
        if client.instance_count() - old_len + instances.len() > self.max_instances_per_client {
            self.drop_if_empty(id);
            return Err(LimitHit::InstancesPerClient);
        }
        if pos.is_err() {
            if let Err(e) = self.index(id, service) {
                self.drop_if_empty(id);
                return Err(e);
            }
        }
        let client = self.clients.get_mut(id).expect("present");
        let changed = match pos {
            Ok(i) => {
                let p = &mut client.record.publications[i];
                client.beats[i] = BeatClock::heard(now);
                if p.instances == instances {
                    false
                } else {
                    self.instances = self.instances - p.instances.len() + instances.len();
                    p.instances = instances;
                    true
                }
            }
            Err(i) => {
                self.instances += instances.len();
                client.record.publications.insert(
                    i,
                    Publication {
                        service: service.clone(),
                        instances,
                    },
                );
                client.beats.insert(i, BeatClock::heard(now));
                true
            }
        };
        if changed {
            self.changed.insert(service.clone());
        }
        if let Ok(k) = client.expired.binary_search(service) {
            client.expired.remove(k);
        }
        if changed || self.tombstones.contains_key(id) {
            self.generation += 1;
        }
        // A client registered again after its deletion: its revision continues from the
        // tombstone's, which must go (a live client and its tombstone would both be verified).
        self.tombstones.remove(id);
        Ok(changed)
    }

    fn drop_if_empty(&mut self, id: &ClientId) {
        if self
            .clients
            .get(id)
            .is_some_and(|c| c.record.publications.is_empty())
        {
            self.clients.remove(id);
        }
    }

    /// Removes what client `id` publishes in `service` (`expired`: for lack of beats, which
    /// is remembered). Returns whether it published there.
    pub(crate) fn remove_publication(
        &mut self,
        id: &ClientId,
        service: &ServiceKey,
        expired: bool,
        now: Timestamp,
    ) -> bool {
        let Some(client) = self.clients.get_mut(id) else {
            return false;
        };
        let Ok(i) = client.find(service) else {
            return false;
        };
        let p = client.record.publications.remove(i);
        client.beats.remove(i);
        if expired {
            if let Err(k) = client.expired.binary_search(service) {
                client.expired.insert(k, service.clone());
            }
        }
        self.instances -= p.instances.len();
        self.unindex(id, service, now);
        true
    }

    /// Removes a client entirely and leaves a tombstone at `revision` (`expired`: the services
    /// of a client deleted for lack of beats).
    pub(crate) fn delete_client(
        &mut self,
        id: &ClientId,
        revision: Revision,
        expired: Option<(Vec<ServiceKey>, Revision)>,
        now: Timestamp,
    ) {
        self.forget_client(id, now);
        self.generation += 1;
        let t = Tombstone {
            revision,
            at: now,
            expired,
        };
        self.tombstones.insert(id.clone(), t);
    }

    /// Removes a client without a tombstone (a replica that expired). Returns whether it was held.
    pub(crate) fn forget_client(&mut self, id: &ClientId, now: Timestamp) -> bool {
        let Some(client) = self.clients.remove(id) else {
            return false;
        };
        for p in &client.record.publications {
            self.instances -= p.instances.len();
            self.unindex(id, &p.service, now);
        }
        true
    }

    /// Applies a replicated record if it is newer than what is held.
    pub(crate) fn apply(&mut self, record: Record, now: Timestamp) -> Applied {
        match record {
            Record::Client(rec) => self.apply_client(rec, Vec::new(), None, now),
            Record::Suspected {
                client,
                expired,
                base,
            } => self.apply_client(client, expired, Some(base), now),
            Record::Deleted { id, revision } => self.apply_deletion(id, revision, None, now),
            Record::Expired {
                id,
                revision,
                expired,
                base,
            } => self.apply_deletion(id, revision, Some((expired, base)), now),
            Record::ServiceMeta(meta) => self.apply_meta(meta, now),
        }
    }

    fn apply_deletion(
        &mut self,
        id: ClientId,
        revision: Revision,
        expired: Option<(Vec<ServiceKey>, Revision)>,
        now: Timestamp,
    ) -> Applied {
        if self.known_revision(&id).is_some_and(|r| r >= revision) {
            if let Some(t) = self.tombstones.get(&id) {
                if t.revision == revision {
                    return Applied::Same;
                }
            }
            return Applied::Stale;
        }
        self.delete_client(&id, revision, expired, now);
        Applied::Newer
    }

    fn apply_client(
        &mut self,
        mut rec: ClientRecord,
        mut expired: Vec<ServiceKey>,
        base: Option<Revision>,
        now: Timestamp,
    ) -> Applied {
        // Peers are members, but hold their data to the same shape as our own: sorted, one
        // publication per service, none without instances.
        rec.publications.sort_by(|a, b| a.service.cmp(&b.service));
        rec.publications.dedup_by(|a, b| a.service == b.service);
        rec.publications.retain(|p| !p.instances.is_empty());
        expired.sort();
        expired.dedup();
        expired.retain(|s| {
            rec.publications
                .binary_search_by(|p| p.service.cmp(s))
                .is_err()
        });
        if let Some(t) = self.tombstones.get(&rec.id) {
            if t.revision >= rec.revision {
                return Applied::Stale;
            }
        }
        if let Some(c) = self.clients.get_mut(&rec.id) {
            if c.record.revision > rec.revision {
                return Applied::Stale;
            }
            if c.record.revision == rec.revision {
                c.renewed = now;
                return Applied::Same;
            }
        } else if self.clients.len() >= self.max_clients {
            return Applied::Refused;
        }
        let count: usize = rec.publications.iter().map(|p| p.instances.len()).sum();
        if count > self.max_instances_per_client {
            return Applied::Refused;
        }
        // Index new services first so a service limit refuses the whole record cleanly.
        let old: Vec<ServiceKey> = self
            .clients
            .get(&rec.id)
            .map(|c| {
                c.record
                    .publications
                    .iter()
                    .map(|p| p.service.clone())
                    .collect()
            })
            .unwrap_or_default();
        for p in &rec.publications {
            if old.binary_search(&p.service).is_err() && self.index(&rec.id, &p.service).is_err() {
                {
                    for q in &rec.publications {
                        if old.binary_search(&q.service).is_err() {
                            self.unindex(&rec.id, &q.service, now);
                        }
                    }
                    return Applied::Refused;
                }
            }
        }
        self.tombstones.remove(&rec.id);
        let prev = self.clients.remove(&rec.id);
        if let Some(prev) = &prev {
            for p in &prev.record.publications {
                self.instances -= p.instances.len();
                match rec
                    .publications
                    .binary_search_by(|q| q.service.cmp(&p.service))
                {
                    Ok(j) if rec.publications[j].instances == p.instances => {}
                    Ok(_) => {
                        self.changed.insert(p.service.clone());
                    }
                    Err(_) => self.unindex(&rec.id, &p.service, now),
                }
            }
        }
        for p in &rec.publications {
            self.instances += p.instances.len();
            if old.binary_search(&p.service).is_err() {
                self.changed.insert(p.service.clone());
            }
        }
        // What this member heard from the client itself stays evidence whatever peers send.
        let heard = |service: &ServiceKey| {
            let prev = prev.as_ref()?;
            let i = prev.find(service).ok()?;
            prev.beats[i].heard
        };
        let beats = rec
            .publications
            .iter()
            .map(|p| BeatClock {
                check: now,
                heard: heard(&p.service),
            })
            .collect();
        self.generation += 1;
        let written = base.unwrap_or(rec.revision);
        self.clients.insert(
            rec.id.clone(),
            Client {
                hashes: ClientHashes::of(&rec.id),
                record: rec,
                beats,
                expired,
                written,
                renewed: now,
                owned: false,
            },
        );
        Applied::Newer
    }

    fn apply_meta(&mut self, meta: ServiceMeta, now: Timestamp) -> Applied {
        let entry = match self.service_entry(&meta.service) {
            Ok(e) => e,
            Err(_) => return Applied::Refused,
        };
        match &entry.meta {
            Some(cur) if cur.revision > meta.revision => Applied::Stale,
            Some(cur) if cur.revision == meta.revision => Applied::Same,
            _ => {
                if entry.publishers.is_empty() && entry.empty_since.is_none() {
                    entry.empty_since = Some(now);
                }
                let service = meta.service.clone();
                entry.meta = Some(meta);
                self.changed.insert(service);
                self.generation += 1;
                Applied::Newer
            }
        }
    }

    /// Writes service settings as their writer (creating the service entry).
    pub(crate) fn put_meta(&mut self, meta: ServiceMeta, now: Timestamp) -> Result<(), LimitHit> {
        let entry = self.service_entry(&meta.service)?;
        if entry.publishers.is_empty() && entry.empty_since.is_none() {
            entry.empty_since = Some(now);
        }
        let service = meta.service.clone();
        entry.meta = Some(meta);
        self.changed.insert(service);
        self.generation += 1;
        Ok(())
    }

    /// Drops tombstones older than `ttl` and services empty for longer than `ttl_empty` that
    /// have no live settings and are not in `keep`. Returns (tombstones, services) dropped.
    pub(crate) fn collect_garbage(
        &mut self,
        now: Timestamp,
        tombstone_ttl: core::time::Duration,
        empty_ttl: core::time::Duration,
        keep: impl Fn(&ServiceKey) -> bool,
    ) -> (u64, u64) {
        let before = self.tombstones.len();
        self.tombstones
            .retain(|_, t| now.since(t.at) < tombstone_ttl);
        if self.tombstones.len() > self.max_clients {
            // Churn faster than the TTL drains: keep the newest `max_clients` tombstones.
            let mut ages: Vec<Timestamp> = self.tombstones.values().map(|t| t.at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() - self.max_clients];
            self.tombstones.retain(|_, t| t.at >= cutoff);
        }
        let tombs = (before - self.tombstones.len()) as u64;
        let before = self.services.len();
        self.services.retain(|k, e| {
            let idle_empty =
                e.publishers.is_empty() && e.empty_since.is_some_and(|t| now.since(t) >= empty_ttl);
            let meta_dead = e.meta.as_ref().is_none_or(|m| m.deleted);
            !(idle_empty && meta_dead) || keep(k)
        });
        let services = (before - self.services.len()) as u64;
        if tombs + services > 0 {
            self.generation += 1;
        }
        (tombs, services)
    }

    /// The consumer's view of a service.
    pub fn list(
        &self,
        service: &ServiceKey,
        clusters: &str,
        healthy_only: bool,
        timings: &Timings,
        cache_millis: u64,
    ) -> crate::request::ServiceView {
        let filter = ClusterFilter::parse(clusters);
        view::list(self, service, &filter, healthy_only, timings, cache_millis)
    }

    /// [`Registry::list`] with a parsed filter.
    pub(crate) fn list_filtered(
        &self,
        service: &ServiceKey,
        clusters: &ClusterFilter,
        healthy_only: bool,
        timings: &Timings,
        cache_millis: u64,
    ) -> crate::request::ServiceView {
        view::list(self, service, clusters, healthy_only, timings, cache_millis)
    }
}

#[cfg(test)]
mod tests;
