//! Peer links: the handshake, member pings, and dispatch of peer messages.

use crate::error::Error;
use crate::io::{MemberState, Output, Source};
use crate::model::{ConnId, MemberId};
use crate::node::Node;
use crate::wire::{decode_payload, encode_frame, Hello, PeerMsg};

pub(crate) use crate::wire::PEER_PROTOCOL_VERSION;

impl Node {
    pub(crate) fn on_peer_up(&mut self, member: &MemberId) {
        let hello = Hello {
            cluster: self.cfg.cluster_name.clone(),
            member: self.members.self_id.clone(),
            version: PEER_PROTOCOL_VERSION,
            epoch: self.epoch,
            shards: self.cfg.shards.max(1),
        };
        let Some(peer) = self.members.peer_mut(member) else {
            return;
        };
        peer.link_up = true;
        self.emit(Output::Transmit {
            to: member.clone(),
            frame: encode_frame(&PeerMsg::Hello(hello)),
        });
        self.snapshot_link_up();
        self.flush_sync();
    }

    pub(crate) fn on_peer_down(&mut self, member: &MemberId) {
        let Some(peer) = self.members.peer_mut(member) else {
            return;
        };
        peer.link_up = false;
        peer.ping_outstanding = None;
        self.sync_link_down(member);
        self.forwards_link_down(member);
        self.snapshot_link_down(member);
        // an unreachable sibling is not waited for
        self.release_parked();
    }

    /// Every ping interval: count unanswered pings as failures and ping again.
    pub(crate) fn ping_members(&mut self) {
        let now = self.now;
        let threshold = self.cfg.timings.member_fail_threshold;
        for i in 0..self.members.peers.len() {
            let p = &self.members.peers[i];
            if p.ping_outstanding.is_some() || !p.link_up {
                if let Some(state) = self.members.ping_failed(i, threshold, now) {
                    let id = self.members.peers[i].id.clone();
                    self.set_member_state(id, state);
                }
            }
            let p = &mut self.members.peers[i];
            if p.link_up {
                self.ping_seq += 1;
                p.ping_outstanding = Some(self.ping_seq);
                let frame = encode_frame(&PeerMsg::Ping { seq: self.ping_seq });
                let to = p.id.clone();
                self.emit(Output::Transmit { to, frame });
            }
        }
    }

    pub(crate) fn on_peer_frame(&mut self, conn: ConnId, frame: &[u8]) -> Result<(), Error> {
        let known = self.peer_conns.get(&conn).cloned();
        let msg: PeerMsg = match decode_payload(frame) {
            Ok(m) => m,
            Err(e) => {
                self.reject(
                    Source::Peer(known.flatten()),
                    format!("undecodable peer frame: {e}"),
                );
                self.emit(Output::Close { conn });
                self.peer_conns.remove(&conn);
                return Err(e.into());
            }
        };
        let from = match (known.flatten(), msg) {
            (None, PeerMsg::Hello(h)) => return self.on_hello(conn, h),
            (None, _) => {
                return self.peer_violation(
                    conn,
                    None,
                    "peer sent data before its handshake".into(),
                );
            }
            (Some(from), PeerMsg::Hello(h)) => {
                if h.member != from {
                    return self.peer_violation(
                        conn,
                        Some(from),
                        "second handshake names another member".into(),
                    );
                }
                // A repeated handshake (the link was re-established) may carry a new epoch.
                if let Some(peer) = self.members.peer_mut(&from) {
                    peer.epoch = Some(h.epoch);
                }
                self.learn_shards(&from, h.shards);
                return Ok(());
            }
            (Some(from), _) if self.members.peer(&from).is_none() => {
                return self.peer_violation(
                    conn,
                    Some(from.clone()),
                    format!("{from} is no longer a member"),
                );
            }
            (Some(from), msg) => (from, msg),
        };
        let (from, msg) = from;
        match msg {
            PeerMsg::Hello(_) => unreachable!("handled above"),
            PeerMsg::Ping { seq } => {
                self.emit(Output::Transmit {
                    to: from,
                    frame: encode_frame(&PeerMsg::Pong { seq }),
                });
            }
            PeerMsg::Pong { seq } => {
                if let Ok(i) = self.members.peers.binary_search_by(|p| p.id.cmp(&from)) {
                    if self.members.peers[i].ping_outstanding == Some(seq) {
                        self.members.peers[i].ping_outstanding = None;
                        if let Some(state) = self.members.ping_succeeded(i, self.now) {
                            self.set_member_state(from, state);
                        }
                    }
                }
            }
            PeerMsg::Sync { batch, records } => self.on_sync(&from, batch, records),
            PeerMsg::SyncAck { batch } => self.on_sync_ack(&from, batch),
            PeerMsg::Verify { round, entries } => self.on_verify(&from, round, entries),
            PeerMsg::VerifyReply { mismatched, .. } => self.on_verify_reply(&from, mismatched),
            PeerMsg::SnapshotRequest { session, seq } => {
                self.on_snapshot_request(&from, session, seq)
            }
            PeerMsg::SnapshotChunk {
                session,
                seq,
                last,
                records,
            } => self.on_snapshot_chunk(&from, session, seq, last, records),
            PeerMsg::VerifyDigest { round, digests } => {
                self.on_verify_digest(&from, round, digests)
            }
            PeerMsg::VerifyDigestReply {
                round,
                bucket_count,
                mismatched,
            } => self.on_verify_digest_reply(&from, round, bucket_count, mismatched),
            PeerMsg::SnapshotUnavailable { session } => {
                self.on_snapshot_unavailable(&from, session)
            }
            PeerMsg::SettingsDigest { digest } => self.on_settings_digest(&from, digest),
            PeerMsg::Forward { id, request } => self.on_forward(&from, id, request),
            PeerMsg::ForwardReply { id, reply } => self.on_forward_reply(&from, id, reply),
        }
        Ok(())
    }

    fn on_hello(&mut self, conn: ConnId, h: Hello) -> Result<(), Error> {
        if h.cluster != self.cfg.cluster_name {
            let reason = format!(
                "handshake for cluster {:?}, this is {:?}",
                h.cluster, self.cfg.cluster_name
            );
            return self.peer_violation(conn, Some(h.member), reason);
        }
        if h.version != PEER_PROTOCOL_VERSION {
            let reason = format!(
                "peer protocol version {} unsupported (speaks {})",
                h.version, PEER_PROTOCOL_VERSION
            );
            return self.peer_violation(conn, Some(h.member), reason);
        }
        if !self.members.may_be_member(&h.member) {
            let reason = format!("handshake from {}, not a member", h.member);
            return self.peer_violation(conn, Some(h.member), reason);
        }
        self.learn_shards(&h.member, h.shards);
        let Some(peer) = self.members.peer_mut(&h.member) else {
            let reason = format!(
                "handshake from {}, not a shard of its process ({} shards)",
                h.member, h.shards
            );
            return self.peer_violation(conn, Some(h.member), reason);
        };
        peer.epoch = Some(h.epoch);
        self.peer_conns.insert(conn, Some(h.member));
        Ok(())
    }

    /// A handshake said how many shards `member`'s process runs: a change of the member list
    /// is applied as a configured one would be, and announced to the host.
    fn learn_shards(&mut self, member: &MemberId, shards: u16) {
        if self.members.learn_shards(member.machine(), shards) {
            self.members_changed();
        }
    }

    fn peer_violation(
        &mut self,
        conn: ConnId,
        member: Option<MemberId>,
        reason: String,
    ) -> Result<(), Error> {
        self.reject(Source::Peer(member), reason.clone());
        self.emit(Output::Close { conn });
        self.peer_conns.remove(&conn);
        Err(Error::PeerMisbehaved(reason))
    }

    /// Closes incoming connections of members no longer in the list.
    pub(crate) fn drop_removed_peer_conns(&mut self) {
        let mut gone: Vec<ConnId> = self
            .peer_conns
            .iter()
            .filter(|(_, m)| m.as_ref().is_some_and(|m| self.members.peer(m).is_none()))
            .map(|(c, _)| *c)
            .collect();
        gone.sort();
        for conn in gone {
            self.peer_conns.remove(&conn);
            self.emit(Output::Close { conn });
        }
    }

    /// Whether a member is UP and linked, so a write can be forwarded to it.
    pub(crate) fn forwardable(&self, member: &MemberId) -> bool {
        self.members
            .peer(member)
            .is_some_and(|p| p.link_up && p.state == MemberState::Up)
    }
}
