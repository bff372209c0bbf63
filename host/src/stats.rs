//! Counters of what the host itself rejected or dropped before the node saw it.

/// Counters of what the host rejected or dropped (the node counts the rest). Served on
/// `/metrics` after the node's own counters, each prefixed `distro_runtime_`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Connections accepted and closed at once because `max_connections` was reached.
    pub connections_rejected: u64,
    /// HTTP requests that did not parse or map to a request.
    pub http_rejected: u64,
    /// HTTP connections closed for a stalled request or idleness.
    pub http_timeouts: u64,
    /// Native or peer connections closed for an invalid frame.
    pub frames_rejected: u64,
    /// Client connections closed because their write buffer passed its bound.
    pub slow_readers_closed: u64,
    /// Peer links dropped because their write buffer passed its bound.
    pub peer_links_overflowed: u64,
    /// Peer connections refused for failed authentication.
    pub peers_refused: u64,
    /// Client requests and logins refused by client authentication (403).
    pub auth_refused: u64,
    /// gRPC messages answered with an `ErrorResponse` (undecodable, unknown type, bad JSON).
    pub grpc_rejected: u64,
    /// gRPC connections closed for an HTTP/2 protocol error.
    pub grpc_protocol_errors: u64,
}

impl RuntimeStats {
    /// Appends these counters in Prometheus text format, each prefixed `distro_runtime_`.
    pub fn append_prometheus(&self, out: &mut String) {
        use std::fmt::Write as _;
        let counters = [
            ("connections_rejected", self.connections_rejected),
            ("http_rejected", self.http_rejected),
            ("http_timeouts", self.http_timeouts),
            ("frames_rejected", self.frames_rejected),
            ("slow_readers_closed", self.slow_readers_closed),
            ("peer_links_overflowed", self.peer_links_overflowed),
            ("peers_refused", self.peers_refused),
            ("auth_refused", self.auth_refused),
            ("grpc_rejected", self.grpc_rejected),
            ("grpc_protocol_errors", self.grpc_protocol_errors),
        ];
        for (name, value) in counters {
            let _ = writeln!(
                out,
                "# TYPE distro_runtime_{name}_total counter\ndistro_runtime_{name}_total {value}"
            );
        }
    }
}
