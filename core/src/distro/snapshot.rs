//! Snapshot: a starting member pulls every record from the first reachable member (sorted
//! order, the next one on failure, again after a delay when all failed), chunk by chunk. Until
//! it has loaded one (or the gate times out) it is not ready: it sends no verify and expires
//! nothing. Records are applied with the revision rules, so a snapshot never deletes or rolls
//! back anything newer.
//!
//! A member that is itself still loading answers `SnapshotUnavailable` instead of serving what
//! little it has (a starting member would become ready without data, some of which nothing
//! repairs later, like service settings). When every member answers so (or is DOWN), the whole
//! cluster is starting and there is nothing to load: the member is ready at once.

use super::SyncKey;
use crate::io::{Event, Source};
use crate::model::MemberId;
use crate::node::Node;
use crate::registry::{new_map, Map};
use crate::time::{Timer, Timestamp};
use crate::wire::{encode_frame, PeerMsg, Record};
use crate::Output;

#[derive(Debug)]
enum Load {
    /// Not loading; try again at `retry_at` (or when a link comes up).
    Idle { retry_at: Timestamp },
    /// Waiting for chunk `seq` of `session` from `peer`.
    Asking {
        peer: MemberId,
        idx: usize,
        session: u64,
        seq: u32,
        deadline: Timestamp,
        records: u64,
    },
    /// Loaded.
    Done,
}

/// A snapshot this member is serving to a peer.
#[derive(Debug)]
struct Serving {
    session: u64,
    keys: Vec<SyncKey>,
    /// `starts[k]` is where chunk `k` begins in `keys`; the last entry is where the next
    /// chunk begins. Chunks are bounded by count and bytes, so their sizes vary.
    starts: Vec<usize>,
    /// When `keys` was listed.
    listed: Timestamp,
    last_used: Timestamp,
}

/// Loader and server state.
#[derive(Debug)]
pub(crate) struct SnapshotState {
    load: Load,
    gate: Option<Timestamp>,
    next_session: u64,
    serving: Map<MemberId, Serving>,
    /// Members that answered `SnapshotUnavailable` in the current pass over the members.
    refusals: usize,
    /// Ring version whose ownership the node last applied (kept here to keep `Node` small).
    pub seen_ring_version: u64,
}

impl SnapshotState {
    pub fn new(seed: u64) -> Self {
        SnapshotState {
            load: Load::Done,
            gate: None,
            next_session: seed & 0xFFFF_FFFF,
            serving: new_map(seed),
            refusals: 0,
            seen_ring_version: 0,
        }
    }

    pub fn start(&mut self, now: Timestamp, gate: Timestamp) {
        self.load = Load::Idle { retry_at: now };
        self.gate = Some(gate);
    }

    fn deadline(&self) -> Option<Timestamp> {
        let load = match &self.load {
            Load::Idle { retry_at } => Some(*retry_at),
            Load::Asking { deadline, .. } => Some(*deadline),
            Load::Done => None,
        };
        match (load, self.gate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Node {
    fn schedule_snapshot_timer(&mut self) {
        match self.snapshot.deadline() {
            Some(d) => self.timers.set(Timer::Snapshot, d),
            None => self.timers.clear(Timer::Snapshot),
        }
    }

    /// Starts or advances the load; opens the gate when it times out.
    pub(crate) fn snapshot_tick(&mut self) {
        let now = self.now;
        if let Some(gate) = self.snapshot.gate {
            if gate <= now {
                self.snapshot.gate = None;
                self.become_ready(None, 0);
            }
        }
        match self.snapshot.load {
            Load::Idle { retry_at } if retry_at <= now => self.ask_snapshot(0),
            Load::Asking { deadline, idx, .. } if deadline <= now => {
                self.stats.snapshot_failures += 1;
                self.ask_snapshot(idx + 1);
            }
            _ => {}
        }
        self.schedule_snapshot_timer();
    }

    /// Asks the first reachable peer at or after `from_idx` (in sorted order).
    fn ask_snapshot(&mut self, from_idx: usize) {
        let now = self.now;
        if from_idx == 0 {
            self.snapshot.refusals = 0;
        }
        let found =
            (from_idx..self.members.peers.len()).find(|&i| self.members.peers[i].reachable());
        match found {
            Some(idx) => {
                let peer = self.members.peers[idx].id.clone();
                self.snapshot.next_session += 1;
                let session = self.snapshot.next_session;
                let deadline = now.plus(self.cfg.timings.snapshot_timeout);
                self.snapshot.load = Load::Asking {
                    peer: peer.clone(),
                    idx,
                    session,
                    seq: 0,
                    deadline,
                    records: 0,
                };
                self.emit(Output::Transmit {
                    to: peer,
                    frame: encode_frame(&PeerMsg::SnapshotRequest { session, seq: 0 }),
                });
            }
            None if self.members.peers.is_empty()
                || (self.snapshot.refusals > 0 && self.nobody_to_load_from()) =>
            {
                // No member is left (a membership change made this one standalone), or every
                // member is starting too (or DOWN): nobody holds anything to load.
                self.snapshot.load = Load::Done;
                self.snapshot.gate = None;
                self.become_ready(None, 0);
            }
            None => {
                self.snapshot.load = Load::Idle {
                    retry_at: now.plus(self.cfg.timings.snapshot_retry),
                };
            }
        }
        self.schedule_snapshot_timer();
    }

    /// Whether every peer refused in this pass or is DOWN (off the ring: a member that has been
    /// unreachable for a while cannot be loaded from anyway).
    fn nobody_to_load_from(&self) -> bool {
        let down = self
            .members
            .peers
            .iter()
            .filter(|p| p.state == crate::io::MemberState::Down)
            .count();
        self.snapshot.refusals + down >= self.members.peers.len()
    }

    /// The member asked is still loading: ask the next one.
    pub(crate) fn on_snapshot_unavailable(&mut self, from: &MemberId, session: u64) {
        if let Load::Asking {
            peer,
            idx,
            session: s,
            ..
        } = &self.snapshot.load
        {
            if peer == from && *s == session {
                let idx = *idx;
                self.snapshot.refusals += 1;
                self.ask_snapshot(idx + 1);
            }
        }
    }

    /// A link came up: a member waiting for a snapshot source asks at once.
    pub(crate) fn snapshot_link_up(&mut self) {
        if matches!(self.snapshot.load, Load::Idle { .. }) {
            self.ask_snapshot(0);
        }
    }

    /// A link went down: if it was the snapshot source, move on to the next member.
    pub(crate) fn snapshot_link_down(&mut self, peer: &MemberId) {
        if let Load::Asking { peer: p, idx, .. } = &self.snapshot.load {
            if p == peer {
                let idx = *idx;
                self.stats.snapshot_failures += 1;
                self.ask_snapshot(idx + 1);
            }
        }
        self.snapshot.serving.remove(peer);
    }

    pub(crate) fn on_snapshot_chunk(
        &mut self,
        from: &MemberId,
        session: u64,
        seq: u32,
        last: bool,
        records: Vec<Record>,
    ) {
        let Load::Asking {
            peer,
            session: s,
            seq: want,
            records: count,
            ..
        } = &self.snapshot.load
        else {
            return; // late chunk of an abandoned load
        };
        if peer != from || *s != session || *want != seq {
            return;
        }
        let total = *count + records.len() as u64;
        self.stats.snapshot_chunks_loaded += 1;
        for r in records {
            self.apply_record(r, Some(from));
        }
        let now = self.now;
        if last {
            self.snapshot.load = Load::Done;
            self.snapshot.gate = None;
            self.become_ready(Some(from.clone()), total);
        } else if let Load::Asking {
            seq,
            deadline,
            records,
            ..
        } = &mut self.snapshot.load
        {
            *seq += 1;
            *deadline = now.plus(self.cfg.timings.snapshot_timeout);
            *records = total;
            let frame = encode_frame(&PeerMsg::SnapshotRequest { session, seq: *seq });
            self.emit(Output::Transmit {
                to: from.clone(),
                frame,
            });
        }
        self.schedule_snapshot_timer();
    }

    fn become_ready(&mut self, from: Option<MemberId>, records: u64) {
        if self.ready {
            return;
        }
        self.ready = true;
        // Replicas loaded before readiness start their expiry clock now.
        let now = self.now;
        for c in self.registry.clients.values_mut() {
            c.renewed = c.renewed.max(now);
        }
        self.emit(Output::Event(Event::Ready {
            snapshot_from: from,
            records,
        }));
    }

    /// Serves chunk `seq` of a snapshot to `from`.
    pub(crate) fn on_snapshot_request(&mut self, from: &MemberId, session: u64, seq: u32) {
        let now = self.now;
        if seq == 0 && !self.ready {
            self.stats.snapshots_refused += 1;
            self.emit(Output::Transmit {
                to: from.clone(),
                frame: encode_frame(&PeerMsg::SnapshotUnavailable { session }),
            });
            return;
        }
        let fresh = self.cfg.timings.snapshot_timeout;
        if let Some(serving) = self
            .snapshot
            .serving
            .get_mut(from)
            .filter(|s| seq == 0 && now.since(s.listed) < fresh)
        {
            // Chunk 0 again, or a new session right after the last one (a peer that asks
            // over and over): served from the list already made, which is not listed again.
            if serving.session != session {
                serving.session = session;
                serving.starts = vec![0];
            }
        } else if seq == 0 {
            self.stats.snapshots_started += 1;
            let mut keys: Vec<SyncKey> = self
                .registry
                .clients
                .keys()
                .cloned()
                .map(SyncKey::Client)
                .collect();
            keys.extend(
                self.registry
                    .tombstones
                    .keys()
                    .cloned()
                    .map(SyncKey::Client),
            );
            keys.extend(
                self.registry
                    .services
                    .iter()
                    .filter(|(_, e)| e.meta.is_some())
                    .map(|(k, _)| SyncKey::Meta(k.clone())),
            );
            self.snapshot.serving.insert(
                from.clone(),
                Serving {
                    session,
                    keys,
                    starts: vec![0],
                    listed: now,
                    last_used: now,
                },
            );
        }
        let chunk = self.cfg.limits.snapshot_chunk_clients.max(1);
        let budget = self.cfg.limits.max_frame_len / 2;
        let Some(serving) = self
            .snapshot
            .serving
            .get_mut(from)
            .filter(|s| s.session == session && (seq as usize) < s.starts.len())
        else {
            self.reject(
                Source::Peer(Some(from.clone())),
                format!("snapshot chunk {seq} of unknown session {session}"),
            );
            return;
        };
        serving.last_used = now;
        let seq_idx = seq as usize;
        let start = serving.starts[seq_idx];
        let known_end = serving.starts.get(seq_idx + 1).copied();
        let keys: Vec<SyncKey> = match known_end {
            // a chunk asked again (its answer was lost): the same range
            Some(end) => serving.keys[start..end].to_vec(),
            None => serving.keys[start..(start + chunk).min(serving.keys.len())].to_vec(),
        };
        let mut records = Vec::with_capacity(keys.len());
        let mut bytes = 0;
        let mut taken = 0;
        for k in &keys {
            if let Some(rec) = self.record_for(k) {
                let size = postcard::experimental::serialized_size(&rec).unwrap_or(0);
                if known_end.is_none() && !records.is_empty() && bytes + size > budget {
                    break;
                }
                bytes += size;
                records.push(rec);
            }
            taken += 1;
        }
        let serving = self.snapshot.serving.get_mut(from).expect("checked above");
        let end = start + taken;
        if known_end.is_none() {
            serving.starts.push(end);
        }
        let last = end >= serving.keys.len();
        self.stats.snapshot_chunks_served += 1;
        let frame = encode_frame(&PeerMsg::SnapshotChunk {
            session,
            seq,
            last,
            records,
        });
        self.emit(Output::Transmit {
            to: from.clone(),
            frame,
        });
    }

    /// Drops serving sessions a peer abandoned.
    pub(crate) fn snapshot_cleanup(&mut self) {
        let now = self.now;
        let idle = self.cfg.timings.snapshot_timeout * 2;
        self.snapshot
            .serving
            .retain(|_, s| now.since(s.last_used) < idle);
    }
}
