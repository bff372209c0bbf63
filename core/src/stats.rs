//! Counters of everything the node does, for metrics and tests.

use std::fmt::Write as _;

macro_rules! stats {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Monotonic counters. Read with [`Node::stats`](crate::Node::stats).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Stats {
            /// Every counter with its name, in declaration order.
            pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$( (stringify!($name), self.$name) ),*].into_iter()
            }
        }
    };
}

stats! {
    /// Client requests handled (locally or forwarded).
    requests,
    /// Requests answered with an error.
    request_errors,
    /// Beats handled by the responsible member.
    beats,
    /// Writes forwarded to the responsible member.
    forwards,
    /// Forwarded writes answered by this member for another.
    forwards_served,
    /// Forwards that timed out (then handled locally).
    forward_timeouts,
    /// Sync frames sent.
    sync_frames_sent,
    /// Records sent in sync frames.
    sync_records_sent,
    /// Records applied from peers (sync, verify resend, snapshot).
    records_applied,
    /// Records ignored as stale or duplicate.
    records_stale,
    /// Sync batches retried after a timeout or a broken link.
    sync_retries,
    /// Verify frames sent.
    verify_frames_sent,
    /// Clients renewed by verify.
    verify_renewed,
    /// Clients a peer reported missing or different.
    verify_mismatches,
    /// Verify digest buckets that differed between this member and a peer.
    verify_buckets_mismatched,
    /// Snapshots started for peers (each lists every key held).
    snapshots_started,
    /// Snapshot chunks served to peers.
    snapshot_chunks_served,
    /// Snapshot chunks loaded from peers.
    snapshot_chunks_loaded,
    /// Snapshot requests refused because this member was still loading its own.
    snapshots_refused,
    /// Snapshot requests that failed (timeout or broken link).
    snapshot_failures,
    /// Instances turned unhealthy.
    instances_unhealthy,
    /// Instances deleted for lack of beats.
    instances_expired,
    /// Native connections closed for not answering a probe.
    connections_expired,
    /// Probes sent.
    probes_sent,
    /// Replicas expired.
    replicas_expired,
    /// Suspicions (unhealthy flips and expiries derived from missing beats) from another member
    /// refuted because this member heard the client beat.
    suspicions_refuted,
    /// Settings digests from a peer that differed from the settings held here.
    settings_mismatches,
    /// Replicas handed back to a responsible member that stopped verifying them (it lost them).
    replicas_handed_back,
    /// Tombstones dropped after their time.
    tombstones_dropped,
    /// Empty services removed.
    services_removed,
    /// Pushes sent (native and UDP, first sends).
    pushes_sent,
    /// UDP pushes resent for lack of an acknowledgement.
    push_retries,
    /// UDP push acknowledgements matched.
    push_acks,
    /// UDP pushes given up on.
    push_failures,
    /// Frames or datagrams rejected (undecodable, out of protocol, unknown sender).
    rejected_frames,
    /// Writes rejected by a limit (clients, services, instances, subscriptions, names).
    limit_rejections,
    /// Member state changes.
    member_state_changes,
}

impl Stats {
    /// The counters in Prometheus text exposition format, each prefixed `distro_`.
    pub fn to_prometheus(&self, gauges: &[(&str, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        for (name, value) in self.counters() {
            let _ = writeln!(
                out,
                "# TYPE distro_{name}_total counter\ndistro_{name}_total {value}"
            );
        }
        for (name, value) in gauges {
            let _ = writeln!(out, "# TYPE distro_{name} gauge\ndistro_{name} {value}");
        }
        out
    }
}
