//! Verify: every interval, each member tells every peer which clients (and deletion tombstones)
//! it is responsible for, at which revisions. The receiver renews what it holds at those
//! revisions and answers the rest; the sender resends those. Where the receiver holds newer
//! data, it sends it back, so the highest revision wins everywhere.
//!
//! A round starts in digest form: the pairs are hashed into buckets by client id and only the
//! per-bucket sums travel, so an in-sync round costs O(buckets) on the wire and a few
//! nanoseconds per client in CPU. Buckets that differ are then verified pair by pair.

use super::SyncKey;
use crate::io::{MemberState, Source};
use crate::model::{ClientId, MemberId, Revision};
use crate::node::Node;
use crate::registry::digest_hash;
use crate::wire::{encode_frame, PeerMsg};
use crate::Output;

/// Average pairs per bucket the sender aims for.
const PAIRS_PER_BUCKET: usize = 32;
/// Most buckets in one round.
const MAX_BUCKETS: usize = 1 << 14;

fn bucket_of(id_hash: u64, buckets: usize) -> usize {
    (id_hash % buckets as u64) as usize
}

/// A pair's contribution to its bucket's digest: the id's hash mixed with the revision.
fn pair_hash(id_hash: u64, rev: Revision) -> u64 {
    crate::node::splitmix(id_hash ^ crate::node::splitmix(rev.time ^ ((rev.writer as u64) << 32)))
}

/// Buckets for a round of `pairs`: about [`PAIRS_PER_BUCKET`] each, at most [`MAX_BUCKETS`],
/// and few enough that the digest frame (a varint of at most 10 bytes per bucket) stays within
/// half of `max_frame_len`, the budget of every batched frame.
fn bucket_count(pairs: usize, max_frame_len: usize) -> usize {
    let fit = (max_frame_len / 2 / 10).max(1);
    let fit = if fit.is_power_of_two() {
        fit
    } else {
        fit.next_power_of_two() / 2
    };
    (pairs / PAIRS_PER_BUCKET)
        .next_power_of_two()
        .clamp(1, MAX_BUCKETS.min(fit))
}

impl Node {
    /// Every `(client, id hash, revision)` `member` is responsible for, in this member's view.
    fn pairs_of<'a>(
        &'a self,
        member: &'a MemberId,
    ) -> impl Iterator<Item = (&'a ClientId, u64, Revision)> + 'a {
        let members = &self.members;
        let idx = members.ring_index(member);
        let me = *member == members.self_id;
        let live = self
            .registry
            .clients
            .values()
            .filter(move |c| {
                if me {
                    c.owned
                } else {
                    members.is_responsible_at(idx, member, &c.record.id, c.hashes.ring)
                }
            })
            .map(|c| (&c.record.id, c.hashes.digest, c.record.revision));
        let dead = self
            .registry
            .tombstones
            .iter()
            .filter(move |(id, _)| members.is_responsible(member, id))
            .map(|(id, t)| (id, digest_hash(id), t.revision));
        live.chain(dead)
    }

    fn digests_of(&self, member: &MemberId, buckets: usize) -> (Vec<u64>, usize) {
        let mut digests = vec![0u64; buckets];
        let mut n = 0;
        for (_, h, rev) in self.pairs_of(member) {
            let b = bucket_of(h, buckets);
            digests[b] = digests[b].wrapping_add(pair_hash(h, rev));
            n += 1;
        }
        (digests, n)
    }

    /// Sends one verify round (in digest form) to every reachable peer.
    pub(crate) fn verify_round(&mut self) {
        if !self.ready || self.members.standalone() {
            return;
        }
        self.hand_back_unverified();
        self.send_settings_digest();
        let me = self.members.self_id.clone();
        let buckets = bucket_count(
            self.registry.client_count() + self.registry.tombstones.len(),
            self.cfg.limits.max_frame_len,
        );
        let (digests, owned) = self.digests_of(&me, buckets);
        if owned == 0 {
            return;
        }
        self.verify_round += 1;
        let frame = encode_frame(&PeerMsg::VerifyDigest {
            round: self.verify_round,
            digests,
        });
        for i in 0..self.members.peers.len() {
            if self.members.peers[i].reachable() {
                let to = self.members.peers[i].id.clone();
                self.stats.verify_frames_sent += 1;
                self.emit(Output::Transmit {
                    to,
                    frame: frame.clone(),
                });
            }
        }
    }

    /// Compares a peer's digests with what is held here; renews matching buckets.
    pub(crate) fn on_verify_digest(&mut self, from: &MemberId, round: u64, digests: Vec<u64>) {
        let buckets = digests.len();
        if buckets == 0 || buckets > MAX_BUCKETS {
            self.reject(
                Source::Peer(Some(from.clone())),
                format!("verify digest with {buckets} buckets"),
            );
            return;
        }
        let (local, _) = self.digests_of(from, buckets);
        let matched: Vec<bool> = local.iter().zip(&digests).map(|(a, b)| a == b).collect();
        let now = self.now;
        let members = &self.members;
        let idx = members.ring_index(from);
        let mut renewed = 0;
        for c in self.registry.clients.values_mut() {
            if matched[bucket_of(c.hashes.digest, buckets)]
                && members.is_responsible_at(idx, from, &c.record.id, c.hashes.ring)
            {
                renew(c, now);
                renewed += 1;
            }
        }
        self.stats.verify_renewed += renewed;
        let mismatched: Vec<u32> = (0..buckets)
            .filter(|&b| !matched[b])
            .map(|b| b as u32)
            .collect();
        if !mismatched.is_empty() {
            self.stats.verify_buckets_mismatched += mismatched.len() as u64;
            let reply = PeerMsg::VerifyDigestReply {
                round,
                bucket_count: buckets as u32,
                mismatched,
            };
            self.emit(Output::Transmit {
                to: from.clone(),
                frame: encode_frame(&reply),
            });
        }
    }

    /// Lists, pair by pair, the buckets a peer found different.
    pub(crate) fn on_verify_digest_reply(
        &mut self,
        from: &MemberId,
        round: u64,
        bucket_count: u32,
        mismatched: Vec<u32>,
    ) {
        self.sync_peer_alive(from);
        if !self.ready || round > self.verify_round {
            // An answer to a round this run never sent (a peer that stalled answers a round of
            // our previous run after we restarted): listing pairs now would be a verify
            // before our snapshot is loaded.
            return;
        }
        let buckets = bucket_count as usize;
        if buckets == 0
            || buckets > MAX_BUCKETS
            || mismatched.iter().any(|&b| b as usize >= buckets)
        {
            self.reject(
                Source::Peer(Some(from.clone())),
                "verify digest reply out of range".into(),
            );
            return;
        }
        let mut wanted = vec![false; buckets];
        for b in mismatched {
            wanted[b as usize] = true;
        }
        let me = self.members.self_id.clone();
        let entries: Vec<(ClientId, Revision)> = self
            .pairs_of(&me)
            .filter(|(_, h, _)| wanted[bucket_of(*h, buckets)])
            .map(|(id, _, rev)| (id.clone(), rev))
            .collect();
        // Split by count and by bytes (long ids), like sync batches and snapshot chunks, so no
        // frame passes the receiver's limit.
        let chunk = self.cfg.limits.verify_chunk_entries.max(1);
        let budget = self.cfg.limits.max_frame_len / 2;
        let mut part: Vec<(ClientId, Revision)> = Vec::new();
        let mut bytes = 0;
        let mut entries = entries.into_iter().peekable();
        while let Some(entry) = entries.next() {
            bytes += postcard::experimental::serialized_size(&entry).unwrap_or(0);
            part.push(entry);
            let full = entries.peek().is_none_or(|next| {
                part.len() >= chunk
                    || bytes + postcard::experimental::serialized_size(next).unwrap_or(0) > budget
            });
            if full {
                self.stats.verify_frames_sent += 1;
                let frame = encode_frame(&PeerMsg::Verify {
                    round,
                    entries: core::mem::take(&mut part),
                });
                bytes = 0;
                self.emit(Output::Transmit {
                    to: from.clone(),
                    frame,
                });
            }
        }
    }

    /// Checks a peer's verify list against what is held here.
    pub(crate) fn on_verify(
        &mut self,
        from: &MemberId,
        round: u64,
        entries: Vec<(ClientId, Revision)>,
    ) {
        let now = self.now;
        let mut mismatched = Vec::new();
        for (id, rev) in entries {
            let held = self.registry.known_revision(&id);
            match held {
                Some(h) if h == rev => {
                    if let Some(c) = self.registry.clients.get_mut(&id) {
                        renew(c, now);
                    }
                    self.stats.verify_renewed += 1;
                }
                Some(h) if h > rev => {
                    // We hold newer data than the responsible member: send it back.
                    mismatched.push((id.clone(), Some(h)));
                    self.mark_sync_to(from, SyncKey::Client(id));
                }
                other => mismatched.push((id, other)),
            }
        }
        if !mismatched.is_empty() {
            self.emit(Output::Transmit {
                to: from.clone(),
                frame: encode_frame(&PeerMsg::VerifyReply { round, mismatched }),
            });
        }
    }

    /// Resends to `from` the clients it lacks or holds older.
    pub(crate) fn on_verify_reply(
        &mut self,
        from: &MemberId,
        mismatched: Vec<(ClientId, Option<Revision>)>,
    ) {
        // The peer answers: whatever backoff its sync was in, it is reachable now.
        self.sync_peer_alive(from);
        for (id, theirs) in mismatched {
            self.stats.verify_mismatches += 1;
            let ours = self.registry.known_revision(&id);
            if ours.is_some() && ours > theirs && self.owns(&id) {
                self.mark_sync_to(from, SyncKey::Client(id));
            }
        }
    }
}

impl Node {
    /// Service settings have no responsible member (the last writer wins), so they are not in
    /// the verify pairs; a digest of them goes with every round instead, and members that
    /// differ exchange all their settings. Without it a member that missed a setting (a
    /// restart, a readiness gate that opened without a snapshot) never got it.
    fn settings_digest(&self) -> u64 {
        self.registry.settings_fingerprint()
    }

    fn send_settings_digest(&mut self) {
        let frame = encode_frame(&PeerMsg::SettingsDigest {
            digest: self.settings_digest(),
        });
        for i in 0..self.members.peers.len() {
            if self.members.peers[i].reachable() {
                let to = self.members.peers[i].id.clone();
                self.emit(Output::Transmit {
                    to,
                    frame: frame.clone(),
                });
            }
        }
    }

    /// A peer's settings digest: if it differs, send it every setting held here (deletions
    /// too); it applies them by revision and, if it holds newer ones, its own round sends
    /// them back.
    pub(crate) fn on_settings_digest(&mut self, from: &MemberId, digest: u64) {
        if !self.ready || digest == self.settings_digest() {
            return;
        }
        self.stats.settings_mismatches += 1;
        let mut keys: Vec<_> = self
            .registry
            .services
            .iter()
            .filter(|(_, e)| e.meta.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        for k in keys {
            self.mark_sync_to(from, SyncKey::Meta(k));
        }
    }

    /// Hands replicas that their responsible member has not verified for two verify intervals
    /// back to it. It lost them (a restart, a snapshot from a member that lacked them) and can
    /// neither keep nor expire what it does not know; without this they would linger here
    /// until the replica expiry. The responsible member applies them with the revision rules
    /// (a newer deletion it holds wins and comes back in its next verify).
    fn hand_back_unverified(&mut self) {
        let now = self.now;
        let stale = self.cfg.timings.verify_interval * 2;
        if now.since(self.ring_changed_at) < stale {
            return; // a new owner has not had its verify rounds yet
        }
        let mut back: Vec<(MemberId, ClientId)> = Vec::new();
        for c in self.registry.clients.values() {
            if c.owned || now.since(c.renewed) < stale {
                continue;
            }
            let owner = match &c.record.id {
                ClientId::IpPort { ip, port } => self.members.responsible(ip, *port),
                ClientId::Conn { owner, .. } => owner,
            };
            let up = self
                .members
                .peer(owner)
                .is_some_and(|p| p.reachable() && p.state == MemberState::Up);
            if up {
                back.push((owner.clone(), c.record.id.clone()));
            }
        }
        back.sort();
        for (owner, id) in back {
            self.stats.replicas_handed_back += 1;
            self.mark_sync_to(&owner, SyncKey::Client(id));
        }
    }
}

/// A verified replica: renewed, and (as Nacos's ClientBeatUpdateTask does) its instances count
/// as beating, so a member taking it over later starts from a fresh beat.
fn renew(c: &mut crate::registry::Client, now: crate::Timestamp) {
    c.renewed = now;
    if !c.owned {
        for b in c.beats.iter_mut() {
            b.check = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_counts_grow_with_the_pairs_and_stay_bounded() {
        let big = 16 << 20;
        assert_eq!(bucket_count(0, big), 1);
        assert_eq!(bucket_count(100, big), 4);
        assert_eq!(bucket_count(100_000, big), 4096);
        assert_eq!(bucket_count(usize::MAX / 2, big), MAX_BUCKETS);
    }

    #[test]
    fn a_digest_frame_stays_within_the_frame_budget() {
        let max = 64 << 10;
        let buckets = bucket_count(1_000_000, max);
        assert!(buckets.is_power_of_two());
        let worst = encode_frame(&PeerMsg::VerifyDigest {
            round: u64::MAX,
            digests: vec![u64::MAX; buckets],
        });
        assert!(worst.len() <= max / 2 + 16, "{} bytes", worst.len());
        assert_eq!(bucket_count(1_000_000, 100), 4);
        assert_eq!(bucket_count(1_000_000, 10), 1, "at least one bucket");
    }

    #[test]
    fn pair_hashes_depend_on_the_revision_and_the_writer() {
        let h = digest_hash(&ClientId::ip_port("1.2.3.4", 5));
        let r1 = Revision { time: 1, writer: 1 };
        assert_ne!(
            pair_hash(h, r1),
            pair_hash(h, Revision { time: 2, writer: 1 })
        );
        assert_ne!(
            pair_hash(h, r1),
            pair_hash(h, Revision { time: 1, writer: 2 })
        );
        assert_eq!(h, digest_hash(&ClientId::ip_port("1.2.3.4", 5)), "stable");
    }
}
