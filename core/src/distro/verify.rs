//! Verify: every interval, each member sends every peer the `(client, revision)` pairs of the
//! clients (and deletion tombstones) it is responsible for, in bounded frames. The receiver
//! renews what it holds at that revision and answers the rest; the sender resends those. Where
//! the receiver holds newer data, it sends it back, so the highest revision wins everywhere.

use super::SyncKey;
use crate::io::MemberState;
use crate::model::{ClientId, MemberId, Revision};
use crate::node::Node;
use crate::wire::{encode_frame, PeerMsg};
use crate::Output;

impl Node {
    /// Sends one verify round to every reachable peer.
    pub(crate) fn verify_round(&mut self) {
        if !self.ready || self.members.standalone() {
            return;
        }
        self.hand_back_unverified();
        let mut entries: Vec<(ClientId, Revision)> = Vec::new();
        for c in self.registry.clients.values() {
            if c.owned {
                entries.push((c.record.id.clone(), c.record.revision));
            }
        }
        for (id, t) in &self.registry.tombstones {
            if self.owns(id) {
                entries.push((id.clone(), t.revision));
            }
        }
        if entries.is_empty() {
            return;
        }
        self.verify_round += 1;
        let round = self.verify_round;
        let chunk = self.cfg.limits.verify_chunk_entries.max(1);
        let frames: Vec<_> = entries
            .chunks(chunk)
            .map(|c| {
                encode_frame(&PeerMsg::Verify {
                    round,
                    entries: c.to_vec(),
                })
            })
            .collect();
        for i in 0..self.members.peers.len() {
            if !self.members.peers[i].reachable() {
                continue;
            }
            let to = self.members.peers[i].id.clone();
            for f in &frames {
                self.stats.verify_frames_sent += 1;
                self.emit(Output::Transmit {
                    to: to.clone(),
                    frame: f.clone(),
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
                        c.renewed = now;
                        if !c.owned {
                            // Replicas track liveness through verify (Nacos's ClientBeatUpdateTask).
                            for b in c.beats.iter_mut() {
                                *b = now;
                            }
                        }
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
