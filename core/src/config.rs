//! Node configuration: identity, members, timings and limits, all with Nacos defaults.

use crate::model::MemberId;
use core::time::Duration;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Node`](crate::Node).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// This member's address `ip:port` (its identity on the responsibility ring).
    pub self_id: MemberId,
    /// Every member of the cluster, this one included or not (it is added). Empty or only
    /// `self_id` means standalone.
    pub members: Vec<MemberId>,
    /// Cluster name checked in the peer handshake.
    pub cluster_name: String,
    /// Seed of every hash and every random choice of the node.
    pub seed: u64,
    /// Timings.
    pub timings: Timings,
    /// Limits on what clients and peers can make the node hold.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            self_id: MemberId::new("127.0.0.1:8848"),
            members: Vec::new(),
            cluster_name: "distro".to_string(),
            seed: 0,
            timings: Timings::default(),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// A standalone member with default timings.
    pub fn standalone(self_id: &str) -> Self {
        Config {
            self_id: MemberId::new(self_id),
            ..Config::default()
        }
    }

    /// A member of a static cluster.
    pub fn cluster(self_id: &str, members: &[&str]) -> Self {
        Config {
            self_id: MemberId::new(self_id),
            members: members.iter().map(|m| MemberId::new(m)).collect(),
            ..Config::default()
        }
    }
}

/// Every timing of the node. Defaults are Nacos's, except the sync delay and push window
/// (see DESIGN 3.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// Interval the client is told to beat at (`clientBeatInterval`).
    pub beat_interval: Duration,
    /// An ip-port instance without a beat for longer turns unhealthy.
    pub beat_timeout: Duration,
    /// An ip-port instance without a beat for longer is deleted.
    pub delete_timeout: Duration,
    /// How often the responsible member checks beats.
    pub beat_check_interval: Duration,
    /// How often native connections are scanned for idleness.
    pub conn_scan_interval: Duration,
    /// A native connection idle for this long is probed.
    pub conn_idle: Duration,
    /// A probe not answered within this is a dead connection.
    pub probe_timeout: Duration,
    /// Member ping interval.
    pub member_ping_interval: Duration,
    /// A member whose consecutive ping failures exceed this count is DOWN.
    pub member_fail_threshold: u32,
    /// Delay before a change is synced; zero syncs at the end of the input that caused it.
    pub sync_delay: Duration,
    /// A sync batch not acknowledged within this is retried.
    pub sync_timeout: Duration,
    /// First retry delay of a failed sync; doubles per failure up to `sync_retry_max`.
    pub sync_retry_min: Duration,
    /// Longest retry delay of a failed sync.
    pub sync_retry_max: Duration,
    /// Verify round interval.
    pub verify_interval: Duration,
    /// A replica not renewed (by sync or verify) for this long expires.
    pub replica_expiry: Duration,
    /// How long deletion tombstones are kept.
    pub tombstone_ttl: Duration,
    /// A snapshot chunk not answered within this moves on to the next member (Nacos waits
    /// 30 s for a whole snapshot; chunks are small, so a shorter wait finds a dead source sooner).
    pub snapshot_timeout: Duration,
    /// After every member failed, the snapshot load restarts after this delay.
    pub snapshot_retry: Duration,
    /// The node becomes ready after this long even without a snapshot.
    pub snapshot_gate: Duration,
    /// A forwarded write not answered within this fails.
    pub forward_timeout: Duration,
    /// Changes to a service are merged for this long: a change to a service not pushed within
    /// the window is pushed at once, later ones wait until the window since that push ends.
    pub push_window: Duration,
    /// A UDP push not acknowledged within this is sent once more.
    pub push_ack_timeout: Duration,
    /// A UDP subscriber not refreshed by a list call for this long is dropped.
    pub udp_subscriber_ttl: Duration,
    /// An empty service is removed after this long.
    pub empty_service_ttl: Duration,
    /// How often replicas, tombstones, empty services and subscribers are cleaned.
    pub cleanup_interval: Duration,
    /// Connection clients of a member that has been DOWN this long are dropped (their
    /// connections are gone with it; the clients reconnect elsewhere).
    pub orphan_conn_expiry: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        Timings {
            beat_interval: s(5),
            beat_timeout: s(15),
            delete_timeout: s(30),
            beat_check_interval: s(5),
            conn_scan_interval: s(3),
            conn_idle: s(20),
            probe_timeout: s(5),
            member_ping_interval: s(2),
            member_fail_threshold: 3,
            sync_delay: Duration::ZERO,
            sync_timeout: s(3),
            sync_retry_min: ms(100),
            sync_retry_max: s(3),
            verify_interval: s(5),
            replica_expiry: s(180),
            tombstone_ttl: s(300),
            snapshot_timeout: s(5),
            snapshot_retry: s(5),
            snapshot_gate: s(60),
            forward_timeout: s(2),
            push_window: ms(50),
            push_ack_timeout: s(10),
            udp_subscriber_ttl: s(30),
            empty_service_ttl: s(60),
            cleanup_interval: s(5),
            orphan_conn_expiry: s(25),
        }
    }
}

/// Bounds on everything the network can make a node hold. Exceeding one is a clear error.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest frame accepted from a peer or a native client, in bytes.
    pub max_frame_len: usize,
    /// Longest namespace, group, service, cluster name or ip.
    pub max_name_len: usize,
    /// Most metadata entries of one instance or service.
    pub max_metadata_entries: usize,
    /// Longest metadata key or value.
    pub max_metadata_value_len: usize,
    /// Largest instance: ip, cluster and metadata keys and values together, in bytes.
    pub max_instance_bytes: usize,
    /// Most instances one client may publish (services times batch size).
    pub max_instances_per_client: usize,
    /// Most clients (own and replicated) one member holds.
    pub max_clients: usize,
    /// Most services one member holds.
    pub max_services: usize,
    /// Most subscriptions (native and UDP) one member holds.
    pub max_subscriptions: usize,
    /// Most forwarded writes waiting for an answer.
    pub max_pending_forwards: usize,
    /// Most clients sent in one snapshot chunk.
    pub snapshot_chunk_clients: usize,
    /// Most entries in one verify frame.
    pub verify_chunk_entries: usize,
    /// Most clients in one sync frame.
    pub sync_batch_clients: usize,
    /// Largest HTTP request head (request line and headers), in bytes.
    pub max_http_head: usize,
    /// Largest HTTP request body, in bytes.
    pub max_http_body: usize,
    /// Longest cluster filter of a list or a subscription (comma-separated cluster names).
    pub max_filter_len: usize,
    /// Most bytes of service views kept between changes to answer repeated lists at once.
    pub max_view_cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: 16 << 20,
            max_name_len: 512,
            max_metadata_entries: 64,
            max_metadata_value_len: 4096,
            max_instance_bytes: 16 << 10,
            max_instances_per_client: 512,
            max_clients: 1_000_000,
            max_services: 200_000,
            max_subscriptions: 200_000,
            max_pending_forwards: 65_536,
            snapshot_chunk_clients: 2_000,
            verify_chunk_entries: 50_000,
            sync_batch_clients: 2_000,
            max_http_head: 16 << 10,
            max_http_body: 1 << 20,
            max_filter_len: 4 << 10,
            max_view_cache_bytes: 64 << 20,
        }
    }
}
