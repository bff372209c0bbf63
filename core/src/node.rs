//! The node: state, input dispatch, the output queue and the timer loop. Behaviour lives in
//! the modules it dispatches to (`ops`, `peer`, `distro`, `health`, `push`).

use crate::config::Config;
use crate::distro::{Barrier, Forwards, Outboxes, SnapshotState};
use crate::error::{ConfigError, Error};
use crate::health::NativeConn;
use crate::io::{Event, Input, MemberState, Output, Source};
use crate::members::Members;
use crate::model::{writer_number, ClientId, ConnId, MemberId};
use crate::push::PushState;
use crate::registry::{new_map, Map, Registry};
use crate::request::MemberView;
use crate::stats::Stats;
use crate::time::{Timer, TimerTable, Timestamp};
use std::collections::VecDeque;

/// A Distro member. See the crate documentation for the run loop and the contract.
#[derive(Debug)]
pub struct Node {
    pub(crate) cfg: Config,
    pub(crate) now: Timestamp,
    /// Boot epoch: distinguishes this run's connection clients from a previous run's.
    pub(crate) epoch: u64,
    /// Tie-breaker of the revisions this member writes.
    pub(crate) writer: u32,
    pub(crate) registry: Registry,
    pub(crate) members: Members,
    pub(crate) timers: TimerTable,
    pub(crate) out: VecDeque<Output>,
    pub(crate) stats: Stats,
    pub(crate) ready: bool,
    /// Incoming peer connections, with the member once its handshake arrived.
    pub(crate) peer_conns: Map<ConnId, Option<MemberId>>,
    /// Native client connections.
    pub(crate) conns: Map<ConnId, NativeConn>,
    pub(crate) outboxes: Outboxes,
    pub(crate) snapshot: SnapshotState,
    pub(crate) forwards: Forwards,
    pub(crate) barrier: Barrier,
    pub(crate) push: PushState,
    pub(crate) views: crate::view_cache::ViewCache,
    pub(crate) ping_seq: u64,
    pub(crate) verify_round: u64,
    /// When the responsibility ring last changed.
    pub(crate) ring_changed_at: Timestamp,
    /// Whether the last poll returned `Timeout` (the next poll starts a new drain).
    drained: bool,
    /// Sync is to be flushed at the next poll.
    flush_due: bool,
    /// A suspicion was refuted during this input: sync now, whatever the sync delay.
    pub(crate) refuted: bool,
}

impl Node {
    /// A new member at time `now`. A member with peers starts not ready and pulls a snapshot;
    /// a standalone member is ready at once.
    ///
    /// # Panics
    ///
    /// If [`Config::validate`] finds a setting the node cannot run with (the message names
    /// it). Hosts that take settings from users call [`Node::try_new`] or `validate` first.
    pub fn new(cfg: Config, now: Timestamp) -> Self {
        match Node::try_new(cfg, now) {
            Ok(node) => node,
            Err(e) => panic!("invalid node configuration: {e}"),
        }
    }

    /// Like [`Node::new`], or the setting a node cannot run with.
    pub fn try_new(cfg: Config, now: Timestamp) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Node::build(cfg, now))
    }

    fn build(cfg: Config, now: Timestamp) -> Self {
        let members = Members::new(cfg.self_id.clone(), &cfg.members, cfg.shards);
        let seed = cfg.seed;
        let epoch = splitmix(seed ^ now.as_nanos()) >> 12;
        let standalone = members.standalone();
        let view_cache_bytes = cfg.limits.max_view_cache_bytes;
        let mut node = Node {
            writer: writer_number(&cfg.self_id),
            registry: Registry::new(seed, &cfg.limits),
            members,
            timers: TimerTable::default(),
            out: VecDeque::with_capacity(64),
            stats: Stats::default(),
            ready: standalone,
            peer_conns: new_map(seed ^ 11),
            conns: new_map(seed ^ 12),
            outboxes: Outboxes::new(seed ^ 13),
            snapshot: SnapshotState::new(seed ^ 14),
            forwards: Forwards::default(),
            barrier: Barrier::default(),
            push: PushState::new(seed ^ 15),
            views: crate::view_cache::ViewCache::new(seed ^ 16, view_cache_bytes),
            ping_seq: 0,
            verify_round: 0,
            ring_changed_at: now,
            drained: false,
            flush_due: false,
            refuted: false,
            now,
            epoch,
            cfg,
        };
        let t = node.cfg.timings.clone();
        node.timers
            .set(Timer::MemberPing, now.plus(t.member_ping_interval));
        node.timers.set(Timer::Verify, now.plus(t.verify_interval));
        node.timers
            .set(Timer::BeatCheck, now.plus(t.beat_check_interval));
        node.timers
            .set(Timer::ConnScan, now.plus(t.conn_scan_interval));
        node.timers
            .set(Timer::Cleanup, now.plus(t.cleanup_interval));
        if !standalone {
            node.snapshot.start(now, now.plus(t.snapshot_gate));
            node.timers.set(Timer::Snapshot, now);
        }
        node
    }

    /// Feeds one input. Drain [`Node::poll_output`] afterwards.
    ///
    /// Errors report input the node rejected (a bad frame, a peer out of protocol, an unknown
    /// connection); they are also counted and emitted as [`Event::Rejected`]. The node stays
    /// usable after any error.
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), Error> {
        self.now = self.now.max(input.now());
        let now = self.now;
        let result = match input {
            Input::Timeout(_) => {
                self.handle_timeout();
                Ok(())
            }
            Input::PeerUp { member, .. } => {
                self.on_peer_up(&member);
                Ok(())
            }
            Input::PeerDown { member, .. } => {
                self.on_peer_down(&member);
                Ok(())
            }
            Input::PeerFrame { conn, frame, .. } => self.on_peer_frame(conn, frame),
            Input::ConnectionOpened { conn, .. } => {
                self.on_conn_opened(conn);
                Ok(())
            }
            Input::ConnectionClosed { conn, .. } => {
                self.on_conn_closed(conn);
                Ok(())
            }
            Input::ClientFrame { conn, frame, .. } => self.on_client_frame(conn, frame),
            Input::Request {
                conn, id, request, ..
            } => {
                self.on_request(conn, id, request);
                Ok(())
            }
            Input::ProbeAnswered { conn, .. } => self.on_probe_answered(conn),
            Input::Datagram { from, data, .. } => self.on_datagram(from, data),
            Input::SetMembers { members, .. } => {
                self.members.set_list(&members);
                self.members_changed();
                Ok(())
            }
        };
        self.after_input(now);
        result
    }

    /// Work that follows every input: sync what changed, schedule pushes.
    fn after_input(&mut self, now: Timestamp) {
        self.collect_push_changes(now);
        if self.cfg.timings.sync_delay.is_zero() || core::mem::take(&mut self.refuted) {
            // Flushed when the host drains: one batch per peer per drain, however many inputs
            // the host fed before draining.
            self.flush_due |= self.outboxes.dirty;
        } else if self.outboxes.has_pending() {
            self.timers
                .set_earliest(Timer::SyncFlush, now.plus(self.cfg.timings.sync_delay));
        }
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if self.flush_due {
            self.flush_due = false;
            self.flush_sync();
        }
        if let Some(o) = self.out.pop_front() {
            self.drained = false;
            return o;
        }
        self.drained = true;
        let mut next = self.timers.next().unwrap_or(Timestamp::NEVER);
        next = next.min(self.outboxes.next_deadline());
        next = next.min(self.forwards.next_deadline());
        next = next.min(self.barrier.next_deadline());
        next = next.min(self.push.next_deadline());
        Output::Timeout(next.max(self.now))
    }

    fn handle_timeout(&mut self) {
        let now = self.now;
        let t = self.cfg.timings.clone();
        if self.timers.is_due(Timer::MemberPing, now) {
            self.timers
                .set(Timer::MemberPing, now.plus(t.member_ping_interval));
            self.ping_members();
        }
        if self.timers.is_due(Timer::Snapshot, now) {
            self.timers.clear(Timer::Snapshot);
            self.snapshot_tick();
        }
        if self.timers.is_due(Timer::Verify, now) {
            self.timers.set(Timer::Verify, now.plus(t.verify_interval));
            self.verify_round();
        }
        if self.timers.is_due(Timer::BeatCheck, now) {
            self.timers
                .set(Timer::BeatCheck, now.plus(t.beat_check_interval));
            self.check_beats();
        }
        if self.timers.is_due(Timer::ConnScan, now) {
            self.timers
                .set(Timer::ConnScan, now.plus(t.conn_scan_interval));
            self.scan_connections();
        }
        if self.timers.is_due(Timer::Probe, now) {
            self.expire_probes();
        }
        if self.timers.is_due(Timer::Cleanup, now) {
            self.timers
                .set(Timer::Cleanup, now.plus(t.cleanup_interval));
            self.cleanup();
        }
        if self.timers.is_due(Timer::SyncFlush, now) {
            self.timers.clear(Timer::SyncFlush);
            self.flush_sync();
        }
        self.outboxes_timeout();
        self.forwards_timeout();
        self.release_parked();
        if self.timers.is_due(Timer::PushFlush, now) {
            self.timers.clear(Timer::PushFlush);
            self.flush_pushes();
        }
        self.push_acks_timeout();
    }

    /// Queues an output.
    pub(crate) fn emit(&mut self, o: Output) {
        self.out.push_back(o);
    }

    /// Counts and reports rejected network input.
    pub(crate) fn reject(&mut self, source: Source, reason: String) {
        self.stats.rejected_frames += 1;
        self.emit(Output::Event(Event::Rejected { source, reason }));
    }

    /// Whether this member is responsible for client `id`.
    pub(crate) fn owns(&self, id: &ClientId) -> bool {
        match id {
            ClientId::IpPort { ip, port } => self.members.is_self_responsible(ip, *port),
            ClientId::Conn { owner, .. } => *owner == self.members.self_id,
        }
    }

    /// Called after anything that may change the ring: hand over beat checks.
    /// The member list changed (configured, or a process announced other shards).
    pub(crate) fn members_changed(&mut self) {
        self.outboxes.retain_members(&self.members);
        self.drop_removed_peer_conns();
        self.members.rebuild_ring();
        self.on_ring_maybe_changed();
        let members = self.members.peers.iter().map(|p| p.id.clone()).collect();
        self.emit(Output::Event(Event::MembersChanged { members }));
    }

    pub(crate) fn on_ring_maybe_changed(&mut self) {
        let version = self.members.ring_version;
        if version == self.snapshot.seen_ring_version {
            return;
        }
        self.snapshot.seen_ring_version = version;
        let now = self.now;
        self.ring_changed_at = now;
        let members = &self.members;
        for c in self.registry.clients.values_mut() {
            if let ClientId::IpPort { ip, port } = &c.record.id {
                let owned = members.is_self_responsible(ip, *port);
                if owned && !c.owned {
                    // Taking over: the new owner gives every instance a full beat timeout.
                    for b in c.beats.iter_mut() {
                        b.check = now;
                    }
                }
                c.owned = owned;
            }
        }
    }

    pub(crate) fn set_member_state(&mut self, member: MemberId, state: MemberState) {
        self.stats.member_state_changes += 1;
        // A peer that is reachable again gets what waited for it.
        self.outboxes.dirty |= state == MemberState::Up;
        self.emit(Output::Event(Event::MemberStateChanged { member, state }));
        if self.members.rebuild_ring() {
            self.on_ring_maybe_changed();
        }
        self.release_parked();
    }

    // ---- read-only views for hosts ----

    /// Everything this member holds.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every member (this one first) with its state as seen from here.
    pub fn members(&self) -> Vec<MemberView> {
        let mut v = vec![MemberView {
            id: self.members.self_id.clone(),
            state: "UP".into(),
            fail_count: 0,
            is_self: true,
        }];
        v.extend(self.members.peers.iter().map(|p| MemberView {
            id: p.id.clone(),
            state: p.state.as_str().into(),
            fail_count: p.fails,
            is_self: false,
        }));
        v
    }

    /// The member responsible for the ip-port client `ip:port`, as seen from here.
    pub fn responsible_member(&self, ip: &str, port: u16) -> &MemberId {
        self.members.responsible(ip, port)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether the startup snapshot is loaded (or its gate timed out). A member that is not
    /// ready serves requests but sends no verify and expires nothing.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// This member's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The latest time this node has seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether the last [`Node::poll_output`] returned `Timeout` and nothing was queued since.
    pub fn is_drained(&self) -> bool {
        self.drained && self.out.is_empty() && !self.flush_due
    }
}

/// SplitMix64: derives well-mixed numbers from the seed.
pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
