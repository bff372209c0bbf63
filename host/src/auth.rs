//! Peer authentication: with a cluster secret set, every peer link opens with a mutual
//! challenge-response before any frame of the node crosses it.
//!
//! On the TCP connection of A's outgoing link to B:
//!
//! 1. A → B `Challenge { from: A, to: B, nonce_a }`
//! 2. B → A `Response { nonce_b, proof_b }`, `proof_b = HMAC(secret, "distro-peer-b" ‖ nonce_a ‖ nonce_b ‖ A ‖ B)`
//! 3. A checks `proof_b` against every accepted secret; → B `Proof { proof_a }`,
//!    `proof_a = HMAC(secret, "distro-peer-a" ‖ nonce_a ‖ nonce_b ‖ A ‖ B)`; only now does A's
//!    node get `PeerUp` (and send its handshake).
//! 4. B checks `proof_a`; only now are the link's frames given to B's node.
//!
//! Both sides prove the secret over fresh nonces of both, so neither can be replayed, and a
//! member without the secret learns nothing (it is never sent a frame). The first secret of
//! the list signs; every secret of the list is accepted, so a secret is rotated by restarting
//! members one at a time three times: with `[old, new]` (all still sign with the old one and
//! now accept the new), then with `[new, old]`, then with `[new]`. Comparisons are constant-time
//! (`hmac`'s `verify_slice`). Failures are counted, logged once per address, and close the
//! connection. Shards of one process trust each other (their links never leave the process).

use crate::conn::ConnKind;
use crate::host::{Host, Work};
use distro_core::wire::{decode_payload, encode_frame, FrameDecoder};
use distro_core::ConnId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Accepted cluster secrets; the first signs. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub Vec<Vec<u8>>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// Whether authentication is on.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// Parses a secrets file: one secret per line, blank lines and `#` comments skipped.
    pub fn parse(text: &str) -> Secrets {
        Secrets(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.as_bytes().to_vec())
                .collect(),
        )
    }

    fn sign(&self, label: &str, t: &Transcript<'_>) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0[0]).expect("any key length");
        t.feed(&mut mac, label);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, label: &str, t: &Transcript<'_>, proof: &[u8]) -> bool {
        self.0.iter().any(|key| {
            let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
            t.feed(&mut mac, label);
            mac.verify_slice(proof).is_ok()
        })
    }
}

/// What both proofs cover.
struct Transcript<'a> {
    nonce_a: &'a [u8; 32],
    nonce_b: &'a [u8; 32],
    from: &'a str,
    to: &'a str,
}

impl Transcript<'_> {
    fn feed(&self, mac: &mut HmacSha256, label: &str) {
        mac.update(label.as_bytes());
        mac.update(self.nonce_a);
        mac.update(self.nonce_b);
        for s in [self.from, self.to] {
            mac.update(&(s.len() as u32).to_be_bytes());
            mac.update(s.as_bytes());
        }
    }
}

/// The messages of the exchange (framed like every peer frame).
#[derive(Serialize, Deserialize)]
enum AuthMsg {
    Challenge {
        from: String,
        to: String,
        nonce: [u8; 32],
    },
    Response {
        nonce: [u8; 32],
        proof: [u8; 32],
    },
    Proof {
        proof: [u8; 32],
    },
}

/// Where a connection is in the exchange (`None` in [`crate::conn::Conn`] once authenticated).
#[derive(Debug)]
pub(crate) enum AuthState {
    /// Our outgoing link sent its challenge and waits for the response.
    Challenged {
        nonce: [u8; 32],
        decoder: FrameDecoder,
    },
    /// An incoming link has not sent its challenge yet.
    Accepted,
    /// An incoming link was answered and owes its proof.
    Answered {
        nonce_a: [u8; 32],
        nonce_b: [u8; 32],
        from: String,
    },
}

fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    // the OS's randomness; without it no link could be trusted
    getrandom::fill(&mut n).expect("the OS provides random bytes");
    n
}

impl Host {
    /// Starts the exchange on a freshly connected outgoing link; `false` when the link needs
    /// none (no secret, or a sibling shard).
    pub(crate) fn auth_link_start(&mut self, conn: ConnId, member: &str) -> bool {
        if !self.config.cluster_secrets.enabled() || self.is_sibling(member) {
            return false;
        }
        let n = nonce();
        let from = self.config.node.self_id.to_string();
        let frame = encode_frame(&AuthMsg::Challenge {
            from,
            to: member.to_string(),
            nonce: n,
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = Some(AuthState::Challenged {
                nonce: n,
                decoder: FrameDecoder::new(4096),
            });
        }
        self.send(conn, &frame);
        true
    }

    fn is_sibling(&self, member: &str) -> bool {
        distro_core::MemberId::new(member).machine() == self.config.node.self_id.machine()
    }

    /// Bytes read on our outgoing link while it waits for the response.
    pub(crate) fn auth_link_received(&mut self, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::PeerOut(i) = c.kind else { return };
        let Some(AuthState::Challenged { nonce, decoder }) = &mut c.auth else {
            return;
        };
        decoder.extend(data);
        let frame = match decoder.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(_) => return self.auth_failed(conn, "undecodable response"),
        };
        let nonce_a = *nonce;
        let member = self.links.member(i).to_string();
        let from = self.config.node.self_id.to_string();
        let Ok(AuthMsg::Response {
            nonce: nonce_b,
            proof,
        }) = decode_payload(&frame)
        else {
            return self.auth_failed(conn, "expected a response to the challenge");
        };
        let t = Transcript {
            nonce_a: &nonce_a,
            nonce_b: &nonce_b,
            from: &from,
            to: &member,
        };
        if !self
            .config
            .cluster_secrets
            .verify("distro-peer-b", &t, &proof)
        {
            return self.auth_failed(conn, "the peer does not know the cluster secret");
        }
        let proof = self.config.cluster_secrets.sign("distro-peer-a", &t);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = None;
        }
        self.send(conn, &encode_frame(&AuthMsg::Proof { proof }));
        self.link_authenticated(i, conn);
    }

    /// A frame of an incoming link that is not authenticated yet.
    pub(crate) fn auth_frame(&mut self, conn: ConnId, frame: &[u8]) {
        let self_id = self.config.node.self_id.to_string();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match (c.auth.take(), decode_payload::<AuthMsg>(frame)) {
            (
                Some(AuthState::Accepted),
                Ok(AuthMsg::Challenge {
                    from,
                    to,
                    nonce: nonce_a,
                }),
            ) => {
                if to != self_id {
                    return self.auth_failed(conn, "challenge for another member");
                }
                let nonce_b = nonce();
                let t = Transcript {
                    nonce_a: &nonce_a,
                    nonce_b: &nonce_b,
                    from: &from,
                    to: &to,
                };
                let proof = self.config.cluster_secrets.sign("distro-peer-b", &t);
                c.auth = Some(AuthState::Answered {
                    nonce_a,
                    nonce_b,
                    from,
                });
                self.send(
                    conn,
                    &encode_frame(&AuthMsg::Response {
                        nonce: nonce_b,
                        proof,
                    }),
                );
            }
            (
                Some(AuthState::Answered {
                    nonce_a,
                    nonce_b,
                    from,
                }),
                Ok(AuthMsg::Proof { proof }),
            ) => {
                let t = Transcript {
                    nonce_a: &nonce_a,
                    nonce_b: &nonce_b,
                    from: &from,
                    to: &self_id,
                };
                if !self
                    .config
                    .cluster_secrets
                    .verify("distro-peer-a", &t, &proof)
                {
                    return self.auth_failed(conn, "the peer does not know the cluster secret");
                }
                tracing::debug!(conn = conn.0, peer = %from, "peer authenticated");
            }
            _ => self.auth_failed(conn, "unexpected frame before authentication"),
        }
    }

    /// Counts, logs once per address, and closes.
    fn auth_failed(&mut self, conn: ConnId, why: &'static str) {
        self.stats.peers_refused += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.auth = None;
            let ip = c.peer_addr.ip();
            if self.refused_peers.insert(ip) {
                tracing::warn!(peer = %c.peer_addr, why, "peer refused: authentication failed");
            }
            if let ConnKind::PeerOut(i) = c.kind {
                self.work
                    .push_back(Work::LinkDown(i, "authentication failed"));
                return;
            }
        }
        self.schedule_close(conn, "authentication failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_under_any_accepted_secret_and_no_other() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let t = Transcript {
            nonce_a: &a,
            nonce_b: &b,
            from: "x:1",
            to: "y:1",
        };
        let old = Secrets::parse("old\n");
        let rotated = Secrets::parse("# new first\nnew\nold\n");
        let proof = old.sign("distro-peer-a", &t);
        assert!(rotated.verify("distro-peer-a", &t, &proof));
        assert!(
            !rotated.verify("distro-peer-b", &t, &proof),
            "labels differ"
        );
        assert!(!Secrets::parse("other").verify("distro-peer-a", &t, &proof));
        let swapped = Transcript {
            nonce_a: &b,
            nonce_b: &a,
            from: "x:1",
            to: "y:1",
        };
        assert!(
            !old.verify("distro-peer-a", &swapped, &proof),
            "nonces are bound"
        );
        assert_eq!(format!("{rotated:?}"), "Secrets(2 redacted)");
    }
}
