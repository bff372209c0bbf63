//! The conformance scenarios of `distro-testkit` against this runtime's `distrod`.

use std::path::Path;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            distro_testkit::conformance::$name(Path::new(env!("CARGO_BIN_EXE_distrod")));
        }
    )*};
}

scenarios!(
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
    signals_exit_0,
    bind_failure_exits_1,
    bad_command_line_exits_2,
);

/// Every scenario listed in `SCENARIOS` has a test above.
#[test]
fn every_scenario_is_run() {
    let here = include_str!("conformance.rs");
    for (name, _) in distro_testkit::conformance::SCENARIOS {
        assert!(
            here.contains(&format!("    {name},\n")),
            "no test for scenario {name}"
        );
    }
}
