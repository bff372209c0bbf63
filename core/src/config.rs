//! Node configuration: identity, members, timings and limits, all with Nacos defaults.

use crate::error::ConfigError;
use crate::model::MemberId;
use core::time::Duration;
use serde::{Deserialize, Serialize};

/// Configuration of a [`Node`](crate::Node).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// This member's address `ip:port` (its identity on the responsibility ring).
    pub self_id: MemberId,
    /// Every process of the cluster by its HTTP address, this one included or not (it is
    /// added). Empty or only `self_id` means standalone. Each process counts as many members
    /// as it has shards: this process's from [`Config::shards`], the others' as their
    /// handshakes announce (1 until then).
    pub members: Vec<MemberId>,
    /// How many shards (members) this member's process runs, this one included: shard `k` of
    /// the process at HTTP address `M` is the member [`MemberId::of_shard`]`(M, k)`, and the
    /// member list names processes (the shards of each are added, see [`Config::members`]).
    /// 1 for a single-threaded runtime.
    pub shards: u16,
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
            shards: 1,
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

    /// Checks every setting a node cannot run with: see [`Timings::validate`] and
    /// [`Limits::validate`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.timings.validate()?;
        self.limits.validate()
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

impl Timings {
    /// Checks that a node can run with these timings: the intervals of its periodic work and
    /// the delays of its retries are above zero (a zero one would fire again at once, for
    /// ever), and the first sync retry delay is not above the longest.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("timings.beat_check_interval", self.beat_check_interval),
            ("timings.conn_scan_interval", self.conn_scan_interval),
            ("timings.member_ping_interval", self.member_ping_interval),
            ("timings.verify_interval", self.verify_interval),
            ("timings.cleanup_interval", self.cleanup_interval),
            ("timings.sync_timeout", self.sync_timeout),
            ("timings.sync_retry_min", self.sync_retry_min),
            ("timings.snapshot_timeout", self.snapshot_timeout),
            ("timings.snapshot_retry", self.snapshot_retry),
        ];
        for (field, d) in positive {
            if d.is_zero() {
                return Err(ConfigError {
                    field,
                    problem: "must be above zero".into(),
                });
            }
        }
        if self.sync_retry_min > self.sync_retry_max {
            return Err(ConfigError {
                field: "timings.sync_retry_min",
                problem: format!(
                    "{:?} is above timings.sync_retry_max ({:?})",
                    self.sync_retry_min, self.sync_retry_max
                ),
            });
        }
        Ok(())
    }
}

impl Limits {
    /// The smallest `max_frame_len` accepted: batched frames take half of it, and a handshake
    /// or a single record must fit.
    pub const MIN_FRAME_LEN: usize = 1 << 10;

    /// Checks that a node can run with these limits: it holds at least one client, service
    /// and instance per client, and its frames fit a handshake and a record.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("limits.max_clients", self.max_clients),
            ("limits.max_services", self.max_services),
            (
                "limits.max_instances_per_client",
                self.max_instances_per_client,
            ),
        ];
        for (field, n) in at_least_one {
            if n == 0 {
                return Err(ConfigError {
                    field,
                    problem: "must be at least 1".into(),
                });
            }
        }
        if self.max_frame_len < Self::MIN_FRAME_LEN {
            return Err(ConfigError {
                field: "limits.max_frame_len",
                problem: format!(
                    "{} is below the minimum of {} bytes",
                    self.max_frame_len,
                    Self::MIN_FRAME_LEN
                ),
            });
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    /// Issue 11, defect 7: `sync_retry_min > sync_retry_max` panicked in `Duration::clamp` at
    /// the first failed sync, and `max_clients = 0` indexed out of bounds at the first cleanup
    /// with a tombstone. Settings a node cannot run with are a typed error naming the field.
    #[test]
    fn settings_a_node_cannot_run_with_are_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::standalone("127.0.0.1:8848").validate(), Ok(()));
        let field = |tweak: fn(&mut Config)| {
            let mut c = Config::default();
            tweak(&mut c);
            c.validate().map_err(|e| e.field)
        };
        assert_eq!(
            field(|c| {
                c.timings.sync_retry_min = Duration::from_secs(5);
                c.timings.sync_retry_max = Duration::from_secs(1);
            }),
            Err("timings.sync_retry_min")
        );
        assert_eq!(
            field(|c| c.limits.max_clients = 0),
            Err("limits.max_clients")
        );
        assert_eq!(
            field(|c| c.timings.verify_interval = Duration::ZERO),
            Err("timings.verify_interval")
        );
        assert_eq!(
            field(|c| c.limits.max_frame_len = 100),
            Err("limits.max_frame_len")
        );
        let mut c = Config::default();
        c.timings.sync_retry_min = Duration::from_secs(5);
        c.timings.sync_retry_max = Duration::from_secs(1);
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "timings.sync_retry_min: 5s is above timings.sync_retry_max (1s)"
        );
    }
}
