//! Sync: every change of a client this member is responsible for goes to every other member,
//! batched per peer per drain, acknowledged, and retried per peer with backoff, so a dead or
//! slow peer never delays the others. A peer that is DOWN keeps its queue, so that it gets the
//! changes made meanwhile as soon as it is back, but the periodic cleanup drops the keys whose
//! client, tombstone or setting is gone: what waits for a peer is bounded by what this member
//! holds (and what it missed beyond that, verify rounds repair).

use crate::members::Members;
use crate::model::{ClientId, MemberId, ServiceKey};
use crate::node::Node;
use crate::registry::{new_map, new_set, Map, Set};
use crate::time::Timestamp;
use crate::wire::{encode_frame, PeerMsg, Record};
use crate::Output;
use core::time::Duration;
use std::collections::VecDeque;

/// Most unacknowledged sync frames per peer.
const MAX_INFLIGHT: usize = 32;

/// Something that is replicated: a client or a service's settings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SyncKey {
    Client(ClientId),
    Meta(ServiceKey),
}

#[derive(Debug)]
struct Inflight {
    batch: u64,
    keys: Vec<SyncKey>,
    deadline: Timestamp,
}

/// What is waiting to be sent to one peer.
#[derive(Debug)]
pub(crate) struct Outbox {
    pending: Set<SyncKey>,
    inflight: VecDeque<Inflight>,
    /// No sends before this (backoff after a failure).
    retry_at: Timestamp,
    backoff: Duration,
}

/// One outbox per peer.
#[derive(Debug)]
pub(crate) struct Outboxes {
    /// Something was queued or unblocked since the last flush.
    pub dirty: bool,
    seed: u64,
    map: Map<MemberId, Outbox>,
    next_batch: u64,
    /// Counts [`Node::mark_sync`] calls: a request that moved it changed replicated data.
    pub marks: u64,
}

impl Outboxes {
    pub fn new(seed: u64) -> Self {
        Outboxes {
            dirty: false,
            seed,
            map: new_map(seed),
            next_batch: 1,
            marks: 0,
        }
    }

    fn get(&mut self, peer: &MemberId) -> &mut Outbox {
        let seed = self.seed;
        self.map.entry_ref(peer).or_insert_with(|| Outbox {
            pending: new_set(seed),
            inflight: VecDeque::new(),
            retry_at: Timestamp::ZERO,
            backoff: Duration::ZERO,
        })
    }

    pub fn has_pending(&self) -> bool {
        self.map.values().any(|o| !o.pending.is_empty())
    }

    /// Keeps, for every peer, only the keys `keep` accepts (what still exists to be sent).
    pub fn retain_keys(&mut self, keep: impl Fn(&SyncKey) -> bool) {
        for ob in self.map.values_mut() {
            ob.pending.retain(|k| keep(k));
            for f in ob.inflight.iter_mut() {
                f.keys.retain(|k| keep(k));
            }
        }
    }

    /// Drops outboxes of members no longer in the list.
    pub fn retain_members(&mut self, members: &Members) {
        self.map.retain(|id, _| members.peer(id).is_some());
    }

    pub fn next_deadline(&self) -> Timestamp {
        let mut next = Timestamp::NEVER;
        for o in self.map.values() {
            if let Some(f) = o.inflight.front() {
                next = next.min(f.deadline);
            }
            if !o.pending.is_empty() && o.retry_at > Timestamp::ZERO {
                next = next.min(o.retry_at);
            }
        }
        next
    }

    /// The number the next sync batch will get.
    pub fn next_batch(&self) -> u64 {
        self.next_batch
    }

    /// Whether `peer` acknowledged every batch numbered below `barrier` (or is backing off,
    /// so nothing is waited for).
    pub fn acked_below(&self, peer: &MemberId, barrier: u64, now: Timestamp) -> bool {
        self.map
            .get(peer)
            .is_none_or(|o| o.retry_at > now || o.inflight.iter().all(|f| f.batch >= barrier))
    }

    /// Keys waiting for `peer` (pending and in flight), for tests and metrics.
    pub fn backlog(&self, peer: &MemberId) -> usize {
        self.map
            .get(peer)
            .map(|o| o.pending.len() + o.inflight.iter().map(|f| f.keys.len()).sum::<usize>())
            .unwrap_or(0)
    }
}

impl Outbox {
    fn requeue_inflight(&mut self) -> bool {
        let any = !self.inflight.is_empty();
        for f in self.inflight.drain(..) {
            self.pending.extend(f.keys);
        }
        any
    }

    fn back_off(&mut self, now: Timestamp, min: Duration, max: Duration) {
        self.backoff = (self.backoff * 2).clamp(min, max);
        self.retry_at = now.plus(self.backoff);
    }
}

impl Node {
    /// Queues `key` for every peer.
    pub(crate) fn mark_sync(&mut self, key: SyncKey) {
        self.outboxes.dirty = true;
        self.outboxes.marks += 1;
        for i in 0..self.members.peers.len() {
            let id = &self.members.peers[i].id;
            self.outboxes.get(id).pending.insert(key.clone());
        }
    }

    /// Queues `key` for one peer (a verify resend, or newer data a peer lacks).
    pub(crate) fn mark_sync_to(&mut self, peer: &MemberId, key: SyncKey) {
        self.outboxes.dirty = true;
        if self.members.peer(peer).is_some() {
            self.outboxes.get(peer).pending.insert(key);
        }
    }

    pub(crate) fn record_for(&self, key: &SyncKey) -> Option<Record> {
        match key {
            SyncKey::Client(id) => self.registry.record_of(id),
            SyncKey::Meta(s) => self
                .registry
                .service_meta(s)
                .cloned()
                .map(Record::ServiceMeta),
        }
    }

    /// Sends what is pending to every reachable peer that is not backing off.
    pub(crate) fn flush_sync(&mut self) {
        self.outboxes.dirty = false;
        let now = self.now;
        let budget = self.cfg.limits.max_frame_len / 2;
        let max_records = self.cfg.limits.sync_batch_clients.max(1);
        let timeout = self.cfg.timings.sync_timeout;
        for i in 0..self.members.peers.len() {
            if !self.members.peers[i].reachable() {
                continue;
            }
            let peer = self.members.peers[i].id.clone();
            loop {
                let ob = self.outboxes.get(&peer);
                if ob.pending.is_empty() || ob.inflight.len() >= MAX_INFLIGHT || ob.retry_at > now {
                    break;
                }
                let keys: Vec<SyncKey> = ob.pending.iter().take(max_records).cloned().collect();
                let mut records = Vec::with_capacity(keys.len());
                let mut sent_keys = Vec::with_capacity(keys.len());
                let mut bytes = 0usize;
                for key in keys {
                    if let Some(rec) = self.record_for(&key) {
                        let size = postcard::experimental::serialized_size(&rec).unwrap_or(0);
                        if !records.is_empty() && bytes + size > budget {
                            break;
                        }
                        bytes += size;
                        records.push(rec);
                    }
                    sent_keys.push(key);
                }
                let ob = self.outboxes.get(&peer);
                for k in &sent_keys {
                    ob.pending.remove(k);
                }
                if records.is_empty() {
                    continue;
                }
                let batch = self.outboxes.next_batch;
                self.outboxes.next_batch += 1;
                let n = records.len() as u64;
                let frame = encode_frame(&PeerMsg::Sync { batch, records });
                self.outboxes.get(&peer).inflight.push_back(Inflight {
                    batch,
                    keys: sent_keys,
                    deadline: now.plus(timeout),
                });
                self.stats.sync_frames_sent += 1;
                self.stats.sync_records_sent += n;
                self.emit(Output::Transmit {
                    to: peer.clone(),
                    frame,
                });
            }
        }
        self.barrier_flushed();
    }

    /// Retries sync batches whose acknowledgement is overdue; resumes after backoff.
    pub(crate) fn outboxes_timeout(&mut self) {
        let now = self.now;
        let (min, max) = (
            self.cfg.timings.sync_retry_min,
            self.cfg.timings.sync_retry_max,
        );
        let mut resume = false;
        for ob in self.outboxes.map.values_mut() {
            if ob.inflight.front().is_some_and(|f| f.deadline <= now) {
                ob.requeue_inflight();
                ob.back_off(now, min, max);
                self.stats.sync_retries += 1;
            }
            if ob.retry_at > Timestamp::ZERO && ob.retry_at <= now {
                // Backoff over. Clearing it keeps an overdue deadline from being reported again
                // (a peer that is linked but unreachable would otherwise spin the host).
                ob.retry_at = Timestamp::ZERO;
                resume |= !ob.pending.is_empty();
            }
        }
        if resume {
            self.flush_sync();
        }
    }

    pub(crate) fn on_sync_ack(&mut self, from: &MemberId, batch: u64) {
        let ob = self.outboxes.get(from);
        if let Some(pos) = ob.inflight.iter().position(|f| f.batch == batch) {
            ob.inflight.remove(pos);
        }
        self.sync_peer_alive(from);
        self.release_parked();
    }

    /// `peer` answered something: end its backoff.
    pub(crate) fn sync_peer_alive(&mut self, peer: &MemberId) {
        self.outboxes.dirty = true;
        let ob = self.outboxes.get(peer);
        ob.backoff = Duration::ZERO;
        ob.retry_at = Timestamp::ZERO;
    }

    /// The link to `peer` broke: what was in flight goes back to pending.
    pub(crate) fn sync_link_down(&mut self, peer: &MemberId) {
        let ob = self.outboxes.get(peer);
        if ob.requeue_inflight() {
            self.stats.sync_retries += 1;
        }
        ob.retry_at = Timestamp::ZERO;
    }

    /// Applies replicated records from `from` and acknowledges them.
    pub(crate) fn on_sync(&mut self, from: &MemberId, batch: u64, records: Vec<Record>) {
        for rec in records {
            self.apply_record(rec, Some(from));
        }
        self.emit(Output::Transmit {
            to: from.clone(),
            frame: encode_frame(&PeerMsg::SyncAck { batch }),
        });
    }

    /// Applies one replicated record with the revision rules; counts the outcome.
    pub(crate) fn apply_record(&mut self, rec: Record, from: Option<&MemberId>) {
        use crate::registry::Applied;
        let now = self.now;
        let ahead = (now.as_nanos() / 1_000).saturating_add(crate::Revision::MAX_AHEAD);
        if rec.revision().time > ahead {
            self.reject(
                crate::Source::Peer(from.cloned()),
                format!("record revision {:?} beyond any clock", rec.revision()),
            );
            return;
        }
        if let Some((refuted, expired)) = self.refutation(&rec) {
            // A suspicion this member has evidence against: answer it with the client alive,
            // above the suspicion, to everyone (as SWIM refutes a suspicion).
            let id = refuted.id.clone();
            self.stats.suspicions_refuted += 1;
            let answer = if expired.is_empty() {
                Record::Client(refuted)
            } else {
                let base = refuted.revision;
                Record::Suspected {
                    client: refuted,
                    expired,
                    base,
                }
            };
            if self.registry.apply(answer, now) == Applied::Newer {
                let owned = self.owns(&id);
                if let Some(c) = self.registry.clients.get_mut(&id) {
                    c.owned = owned;
                }
                self.emit(crate::Output::Event(crate::Event::SuspicionRefuted {
                    client: id.to_string(),
                }));
                self.mark_sync(SyncKey::Client(id));
                // At once, whatever the sync delay: the others are applying the suspicion now,
                // and a write one of them makes on top of it would outrank the refutation.
                self.refuted = true;
            }
            return;
        }
        let id = rec.client_id().cloned();
        match self.registry.apply(rec, now) {
            Applied::Newer => {
                self.stats.records_applied += 1;
                if let Some(id) = id {
                    let owned = self.owns(&id);
                    if let Some(c) = self.registry.clients.get_mut(&id) {
                        c.owned = owned;
                    }
                    if owned {
                        // Data for a client we are responsible for came from elsewhere (a
                        // previous owner, a split view): make it ours and tell everyone.
                        let _ = from;
                        self.mark_sync(SyncKey::Client(id));
                    }
                }
            }
            Applied::Same => {}
            Applied::Stale => self.stats.records_stale += 1,
            Applied::Refused => self.stats.limit_rejections += 1,
        }
    }
}
