//! Members: their health states and the responsibility ring.

use crate::io::MemberState;
use crate::model::{java_string_hash, MemberId};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What this member knows about one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub id: MemberId,
    pub state: MemberState,
    /// Consecutive failed pings.
    pub fails: u32,
    /// The host's outgoing link is connected and our handshake was sent on it.
    pub link_up: bool,
    /// Sequence number of the ping not yet answered.
    pub ping_outstanding: Option<u64>,
    /// When the peer went DOWN (for orphaned connection clients).
    pub down_since: Option<Timestamp>,
    /// The peer's boot epoch from its handshake.
    pub epoch: Option<u64>,
}

impl Peer {
    fn new(id: MemberId) -> Self {
        // Nacos: members from the configured list start UP.
        Peer {
            id,
            state: MemberState::Up,
            fails: 0,
            link_up: false,
            ping_outstanding: None,
            down_since: None,
            epoch: None,
        }
    }

    /// Whether frames can be sent to this peer now.
    pub fn reachable(&self) -> bool {
        self.link_up && self.state != MemberState::Down
    }
}

/// The member list and the responsibility ring.
///
/// The configured list names processes; a process of `n` shards is `n` members (see
/// [`MemberId::of_shard`]). This process's shard count is configured; another's is learned
/// from the handshakes of its shards, so that every member computes the responsibility hash
/// over the same `processes × shards` ring once the handshakes went round.
#[derive(Debug)]
pub(crate) struct Members {
    pub self_id: MemberId,
    /// Every other member, sorted by id.
    pub peers: Vec<Peer>,
    /// Sorted ids of self and every UP or SUSPICIOUS peer.
    ring: Vec<MemberId>,
    /// Bumped whenever the ring changes.
    pub ring_version: u64,
    /// The configured list (processes, or members named by shard).
    listed: Vec<MemberId>,
    /// Shards of this member's process.
    own_shards: u16,
    /// Shard counts other processes announced, by process.
    announced: BTreeMap<String, u16>,
}

impl Members {
    pub fn new(self_id: MemberId, list: &[MemberId], own_shards: u16) -> Self {
        let mut m = Members {
            self_id,
            peers: Vec::new(),
            ring: Vec::new(),
            ring_version: 0,
            listed: Vec::new(),
            own_shards: own_shards.max(1),
            announced: BTreeMap::new(),
        };
        m.set_list(list);
        m
    }

    /// Whether this member is alone (standalone mode).
    pub fn standalone(&self) -> bool {
        self.peers.is_empty()
    }

    /// Replaces the configured list, keeping the state of members that stay.
    pub fn set_list(&mut self, list: &[MemberId]) {
        self.listed = list.to_vec();
        self.expand();
    }

    /// Records that the process `machine` runs `shards` shards, as one of its handshakes said;
    /// returns whether the member list changed. Only processes of the configured list count,
    /// and this process's own count is not taken from others.
    pub fn learn_shards(&mut self, machine: &str, shards: u16) -> bool {
        let shards = shards.max(1);
        if machine == self.self_id.machine()
            || !self.listed.iter().any(|m| m.machine() == machine)
            || self.announced.get(machine).copied().unwrap_or(1) == shards
        {
            return false;
        }
        self.announced.insert(machine.to_string(), shards);
        let before: Vec<MemberId> = self.peers.iter().map(|p| p.id.clone()).collect();
        self.expand();
        self.peers.iter().map(|p| &p.id).ne(before.iter())
    }

    /// Whether `id` may be a member: it is one, or it is a shard of a configured process.
    pub fn may_be_member(&self, id: &MemberId) -> bool {
        self.peer(id).is_some() || self.listed.iter().any(|m| m.machine() == id.machine())
    }

    /// Whether `id` is another shard of this member's process.
    pub fn is_sibling(&self, id: &MemberId) -> bool {
        *id != self.self_id && id.machine() == self.self_id.machine()
    }

    /// Whether this member's process has other shards.
    pub fn has_siblings(&self) -> bool {
        self.own_shards > 1
    }

    /// Rebuilds `peers` from the configured list and the shard counts.
    fn expand(&mut self) {
        let own = self.self_id.machine().to_string();
        let mut counts: BTreeMap<&str, u16> = BTreeMap::new();
        if !self.listed.is_empty() || self.own_shards > 1 {
            counts.insert(&own, self.own_shards);
        }
        for m in &self.listed {
            let announced = self.announced.get(m.machine()).copied().unwrap_or(1);
            let c = counts.entry(m.machine()).or_insert(announced);
            if m.machine() != own {
                *c = (*c).max(m.shard().saturating_add(1));
            }
        }
        let mut ids: Vec<MemberId> = counts
            .iter()
            .flat_map(|(m, n)| (0..*n).map(move |k| MemberId::of_shard(m, k)))
            .filter(|m| *m != self.self_id)
            .collect();
        ids.sort();
        ids.dedup();
        let mut old = core::mem::take(&mut self.peers);
        for id in ids {
            match old.iter().position(|p| p.id == id) {
                Some(i) => self.peers.push(old.swap_remove(i)),
                None => self.peers.push(Peer::new(id)),
            }
        }
        self.peers.sort_by(|a, b| a.id.cmp(&b.id));
        self.rebuild_ring();
    }

    pub fn peer(&self, id: &MemberId) -> Option<&Peer> {
        self.peers
            .binary_search_by(|p| p.id.cmp(id))
            .ok()
            .map(|i| &self.peers[i])
    }

    pub fn peer_mut(&mut self, id: &MemberId) -> Option<&mut Peer> {
        self.peers
            .binary_search_by(|p| p.id.cmp(id))
            .ok()
            .map(move |i| &mut self.peers[i])
    }

    /// Rebuilds the ring; returns whether it changed.
    pub fn rebuild_ring(&mut self) -> bool {
        let mut ring: Vec<MemberId> = self
            .peers
            .iter()
            .filter(|p| p.state != MemberState::Down)
            .map(|p| p.id.clone())
            .collect();
        ring.push(self.self_id.clone());
        ring.sort();
        if ring != self.ring {
            self.ring = ring;
            self.ring_version += 1;
            true
        } else {
            false
        }
    }

    /// The member responsible for the ip-port client `ip:port`.
    pub fn responsible(&self, ip: &str, port: u16) -> &MemberId {
        let h = distro_hash_ip_port(ip, port);
        &self.ring[(h as usize) % self.ring.len()]
    }

    /// `member`'s place on the ring, if it is on it.
    pub fn ring_index(&self, member: &MemberId) -> Option<usize> {
        self.ring.binary_search(member).ok()
    }

    /// Whether the member at ring place `idx` is responsible for a client with these hashes.
    pub fn is_responsible_at(
        &self,
        idx: Option<usize>,
        member: &MemberId,
        id: &crate::model::ClientId,
        ring_hash: u32,
    ) -> bool {
        match id {
            crate::model::ClientId::IpPort { .. } => {
                idx == Some(ring_hash as usize % self.ring.len())
            }
            crate::model::ClientId::Conn { owner, .. } => owner == member,
        }
    }

    /// Whether `member` is responsible for client `id` in this member's view of the ring.
    pub fn is_responsible(&self, member: &MemberId, id: &crate::model::ClientId) -> bool {
        match id {
            crate::model::ClientId::IpPort { ip, port } => self.responsible(ip, *port) == member,
            crate::model::ClientId::Conn { owner, .. } => owner == member,
        }
    }

    pub fn is_self_responsible(&self, ip: &str, port: u16) -> bool {
        self.ring.len() == 1 || *self.responsible(ip, port) == self.self_id
    }

    /// Records a ping failure; returns the new state if it changed.
    pub fn ping_failed(
        &mut self,
        idx: usize,
        threshold: u32,
        now: Timestamp,
    ) -> Option<MemberState> {
        let p = &mut self.peers[idx];
        p.fails = p.fails.saturating_add(1);
        let new = if p.fails > threshold {
            MemberState::Down
        } else {
            MemberState::Suspicious
        };
        self.set_state(idx, new, now)
    }

    /// Records a ping success; returns the new state if it changed.
    pub fn ping_succeeded(&mut self, idx: usize, now: Timestamp) -> Option<MemberState> {
        self.peers[idx].fails = 0;
        self.set_state(idx, MemberState::Up, now)
    }

    fn set_state(&mut self, idx: usize, state: MemberState, now: Timestamp) -> Option<MemberState> {
        let p = &mut self.peers[idx];
        if p.state == state {
            return None;
        }
        p.state = state;
        p.down_since = (state == MemberState::Down).then_some(now);
        Some(state)
    }
}

/// `distro_hash("ip:port")` without building the string (the beat path allocates nothing).
pub(crate) fn distro_hash_ip_port(ip: &str, port: u16) -> u32 {
    let mut h = java_string_hash(ip);
    h = h.wrapping_mul(31).wrapping_add(b':' as i32);
    let mut digits = [0u8; 5];
    let mut n = port;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in digits[..len].iter().rev() {
        h = h.wrapping_mul(31).wrapping_add(d as i32);
    }
    (h % i32::MAX).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::distro_hash;

    fn ids(list: &[&str]) -> Vec<MemberId> {
        list.iter().map(|s| MemberId::new(s)).collect()
    }

    #[test]
    fn ip_port_hash_matches_the_string_hash() {
        for (ip, port) in [
            ("10.0.0.5", 8080),
            ("127.0.0.1", 18081),
            ("192.168.1.10", 80),
            ("::1", 0),
            ("a", 65535),
        ] {
            assert_eq!(
                distro_hash_ip_port(ip, port),
                distro_hash(&format!("{ip}:{port}"))
            );
        }
    }

    #[test]
    fn responsibility_follows_the_nacos_vectors() {
        // "10.0.0.5:8080" -> index 2 of 3
        let m = Members::new(MemberId::new("a:1"), &ids(&["a:1", "b:1", "c:1"]), 1);
        assert_eq!(m.responsible("10.0.0.5", 8080).as_str(), "c:1");
        assert_eq!(m.responsible("127.0.0.1", 18081).as_str(), "b:1");
        let m = Members::new(
            MemberId::new("a:1"),
            &ids(&["e:1", "d:1", "c:1", "b:1", "a:1"]),
            1,
        );
        assert_eq!(m.responsible("192.168.1.10", 80).as_str(), "e:1");
    }

    #[test]
    fn down_members_leave_the_ring_and_suspicious_ones_stay() {
        let mut m = Members::new(MemberId::new("a:1"), &ids(&["a:1", "b:1", "c:1"]), 1);
        let t = Timestamp::ZERO;
        assert_eq!(m.ping_failed(1, 3, t), Some(MemberState::Suspicious));
        assert!(!m.rebuild_ring());
        assert_eq!(m.responsible("10.0.0.5", 8080).as_str(), "c:1");
        for _ in 0..2 {
            assert_eq!(m.ping_failed(1, 3, t), None);
        }
        assert_eq!(
            m.ping_failed(1, 3, t),
            Some(MemberState::Down),
            "the fourth failure (> 3) is DOWN"
        );
        assert!(m.rebuild_ring());
        // ring is [a, b]: 1528827200 % 2 = 0 -> a
        assert_eq!(m.responsible("10.0.0.5", 8080).as_str(), "a:1");
        assert_eq!(m.ping_succeeded(1, t), Some(MemberState::Up));
        assert!(m.rebuild_ring());
        assert_eq!(m.responsible("10.0.0.5", 8080).as_str(), "c:1");
    }

    #[test]
    fn member_list_changes_keep_known_state() {
        let mut m = Members::new(MemberId::new("a:1"), &ids(&["a:1", "b:1"]), 1);
        m.peers[0].fails = 2;
        m.set_list(&ids(&["c:1", "b:1", "a:1"]));
        assert_eq!(
            m.peers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            vec!["b:1", "c:1"]
        );
        assert_eq!(m.peers[0].fails, 2);
        assert!(!m.standalone());
    }

    fn peer_ids(m: &Members) -> Vec<&str> {
        m.peers.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn shards_are_members_own_from_config_others_announced() {
        // shard 1 of a two-shard process "b:1", with a single-threaded "a:1"
        let mut m = Members::new(MemberId::of_shard("b:1", 1), &ids(&["a:1", "b:1"]), 2);
        assert_eq!(peer_ids(&m), vec!["a:1", "b:1"]);
        assert!(m.is_sibling(&MemberId::new("b:1")) && !m.is_sibling(&MemberId::new("a:1")));
        // "a:1" announces 3 shards: its others join the ring
        assert!(m.may_be_member(&MemberId::new("a:1/2")));
        assert!(!m.may_be_member(&MemberId::new("c:1")));
        assert!(m.learn_shards("a:1", 3));
        assert_eq!(peer_ids(&m), vec!["a:1", "a:1/1", "a:1/2", "b:1"]);
        assert!(!m.learn_shards("a:1", 3), "no change, no rebuild");
        assert!(
            !m.learn_shards("b:1", 5),
            "this process's own count is configured"
        );
        assert!(!m.learn_shards("c:1", 2), "not a configured process");
        // restarted with one shard: the others leave
        assert!(m.learn_shards("a:1", 1));
        assert_eq!(peer_ids(&m), vec!["a:1", "b:1"]);
        // a standalone process of two shards is a two-member cluster
        let m = Members::new(MemberId::new("s:1"), &[], 2);
        assert_eq!(peer_ids(&m), vec!["s:1/1"]);
        assert!(!m.standalone());
    }
}
