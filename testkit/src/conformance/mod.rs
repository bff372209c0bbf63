//! Conformance scenarios: what any `distrod` runtime binary must do, checked against real
//! processes over loopback.
//!
//! Each scenario is a function taking the [`Target`] under test (a binary, and how many
//! shards each of its processes runs); it starts its own processes with
//! [`Cluster`](crate::cluster::Cluster), panics (after printing the members' log tails) when
//! the binary misbehaves, and stops everything when it returns. A runtime crate runs them all
//! from an integration test with [`conformance_suite!`](crate::conformance_suite), one test
//! per scenario, or in turn (see [`runner`] for suites that may have to skip):
//!
//! ```no_run
//! use distro_testkit::cluster::Target;
//! use std::path::Path;
//! let target = Target::sharded(Path::new("target/debug/distrod-glommio"), 2);
//! distro_testkit::conformance::three_members_replicate(&target);
//! for (name, scenario) in distro_testkit::conformance::SCENARIOS {
//!     println!("{name}");
//!     scenario(&target);
//! }
//! ```
//!
//! Scenarios that count members count `processes × shards`; [`shards`] has the scenarios
//! only a sharded runtime has.
//!
//! Scenarios wait by polling with deadlines, never with fixed sleeps, and shorten the
//! protocol's timings with `--timing` where they wait for expiry. They assume nothing of the
//! runtime beyond the shared command line (`distro-host`), the `distrod listening ...` ready
//! line, the v1 HTTP API, the native and peer wire formats, and `/metrics`.

mod api;
mod auth;
mod bad_input;
mod clients;
mod failover;
mod fuzz;
mod grpc;
mod partition;
mod process;
mod replication;
pub mod runner;
pub mod shards;
mod v1;

use crate::cluster::Target;

pub use api::{keep_alive_and_pipelining, standalone_crud};
pub use auth::{client_auth_tokens, cluster_secret_rotation, wrong_cluster_secret_never_joins};
pub use bad_input::{
    connection_limit, garbage_on_frame_ports_is_closed_and_counted,
    malformed_http_gets_400_and_close, oversized_head_and_body_are_refused, slow_reader_is_closed,
    stalled_and_idle_connections_are_closed, unknown_paths_and_bad_parameters,
};
pub use clients::{
    native_close_removes_instances_everywhere, native_subscriber_gets_pushes,
    udp_subscriber_receives_and_acks_push, unanswered_probes_close_the_connection,
};
pub use failover::kill9_keeps_live_clients_and_restart_converges;
pub use fuzz::fuzzed_input_never_panics;
pub use grpc::{
    grpc_bad_input_is_refused_and_counted, grpc_clients_register_subscribe_and_leave,
    grpc_unanswered_probes_close_the_connection,
};
pub use partition::partition_heals_without_losing_beating_clients;
pub use process::{bad_command_line_exits_2, bind_failure_exits_1, signals_exit_0};
pub use replication::{beat_expiry, ip_port_write_forwarded, three_members_replicate};

/// Timings every multi-member scenario starts with: quick member health checks, snapshot
/// retries, verify rounds and pushes, so that a cluster forms and converges in a second or two.
pub const CLUSTER_TIMINGS: &[&str] = &[
    "--timing",
    "member_ping_interval=300",
    "--timing",
    "verify_interval=1000",
    "--timing",
    "snapshot_retry=300",
    "--timing",
    "snapshot_timeout=2000",
    "--timing",
    "push_window=10",
];

/// A scenario: runs against the target (a binary, and its shard count), panics when it
/// misbehaves.
pub type Scenario = fn(&Target);

/// Defines [`SCENARIOS`] and the macro [`conformance_suite!`](crate::conformance_suite) from
/// one list, so that a runtime's test suite runs every scenario.
macro_rules! scenarios {
    ($d:tt; $($name:ident),* $(,)?) => {
        /// Every scenario with its name, for a runner that is not a test harness.
        pub const SCENARIOS: &[(&str, Scenario)] = &[$((stringify!($name), $name)),*];

        /// One `#[test]` per conformance scenario against a [`Target`]:
        /// `distro_testkit::conformance_suite!(Target::new(Path::new(env!("CARGO_BIN_EXE_distrod"))));`
        /// in a runtime's integration test runs them all, each its own test.
        #[macro_export]
        macro_rules! conformance_suite {
            ($d target:expr) => {$(
                #[test]
                fn $name() {
                    $crate::conformance::$name(&$d target);
                }
            )*};
        }
    };
}

scenarios!($;
    standalone_crud,
    keep_alive_and_pipelining,
    three_members_replicate,
    ip_port_write_forwarded,
    beat_expiry,
    kill9_keeps_live_clients_and_restart_converges,
    native_close_removes_instances_everywhere,
    unanswered_probes_close_the_connection,
    native_subscriber_gets_pushes,
    udp_subscriber_receives_and_acks_push,
    malformed_http_gets_400_and_close,
    oversized_head_and_body_are_refused,
    unknown_paths_and_bad_parameters,
    stalled_and_idle_connections_are_closed,
    connection_limit,
    slow_reader_is_closed,
    garbage_on_frame_ports_is_closed_and_counted,
    fuzzed_input_never_panics,
    grpc_clients_register_subscribe_and_leave,
    grpc_unanswered_probes_close_the_connection,
    grpc_bad_input_is_refused_and_counted,
    wrong_cluster_secret_never_joins,
    cluster_secret_rotation,
    client_auth_tokens,
    partition_heals_without_losing_beating_clients,
    signals_exit_0,
    bind_failure_exits_1,
    bad_command_line_exits_2,
);
