//! The load generator against real in-process `distrod` members: every workload over both
//! protocols completes without errors, open loop included, and propagation probes are seen.
//! No timing is asserted (the machine is shared).

use distro_benches::load::engine::{LoadSpec, Workload, WorkloadKind};
use distro_benches::load::propagation::{self, PropagationSpec};
use distro_benches::load::proto::Protocol;
use distro_benches::load::server::free_http_port;
use distro_benches::load::{build_report, run_load};
use distro_host::ServerConfig;
use distro_mio::Server;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

/// Starts a member in a background thread (it lives until the test process exits); returns
/// its HTTP and native addresses.
fn member(http_port: u16, members: &[u16]) -> (SocketAddr, SocketAddr) {
    let mut argv = vec![
        "distrod".to_string(),
        "--http".into(),
        format!("127.0.0.1:{http_port}"),
        "--log-level".into(),
        "error".into(),
        "--timing".into(),
        "push_window=0".into(),
    ];
    if !members.is_empty() {
        argv.push("--members".into());
        argv.push(
            members
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let config = ServerConfig::parse_from(argv).expect("config");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut server = Server::bind(config).expect("bind");
        let addrs = server.local_addrs().expect("addrs");
        tx.send((addrs.http, addrs.native)).expect("send");
        server.run().expect("run");
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("started")
}

fn spec(protocol: Protocol, addr: SocketAddr, kind: WorkloadKind, rate: Option<f64>) -> LoadSpec {
    LoadSpec {
        protocol,
        addr,
        connections: 3,
        pipeline: 4,
        rate,
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        threads: 2,
        workload: Workload::new(kind, &format!("t-{kind:?}-{protocol:?}"), 5, 60),
        first_new: 0,
    }
}

#[test]
fn every_workload_runs_clean_over_every_protocol() {
    let (http, native) = member(free_http_port(), &[]);
    for protocol in [Protocol::Http, Protocol::Native, Protocol::Grpc] {
        let addr = if protocol == Protocol::Http {
            http
        } else {
            native
        };
        for kind in [
            WorkloadKind::Register,
            WorkloadKind::Beat,
            WorkloadKind::List,
            WorkloadKind::Mixed,
        ] {
            // the gRPC load is closed loop only
            let rates: &[Option<f64>] = if protocol == Protocol::Grpc {
                &[None]
            } else {
                &[None, Some(2_000.0)]
            };
            for &rate in rates {
                let s = spec(protocol, addr, kind, rate);
                let r = run_load(&s).expect("load runs");
                let report = build_report(&s, &r, "distrod");
                let what = format!("{protocol:?} {kind:?} {rate:?}: {}", report.table());
                assert_eq!(report.total.errors, 0, "{what}");
                assert_eq!(report.setup_errors, 0, "{what}");
                assert!(report.total.ok > 0, "{what}");
                assert!(report.total.latency.p50_us > 0.0, "{what}");
                if kind == WorkloadKind::Mixed {
                    assert_eq!(report.kinds.len(), 3, "{what}");
                }
                let json = serde_json::to_string(&report).expect("json");
                assert!(json.contains("\"p99_us\""));
            }
        }
    }
}

#[test]
fn propagation_probes_are_seen_by_push_grpc_push_and_poll() {
    let ports: Vec<u16> = (0..2).map(|_| free_http_port()).collect();
    let a = member(ports[0], &ports);
    let b = member(ports[1], &ports);
    std::thread::sleep(Duration::from_millis(1500));
    let spec = PropagationSpec {
        members: vec![a.0, b.0],
        natives: vec![a.1, b.1],
        probes: 5,
        interval: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
        background_rate: 200.0,
        background_connections: 1,
        warmup: Duration::from_millis(200),
        push: true,
        poll: true,
        grpc_push: true,
    };
    let r = propagation::run(&spec).expect("propagation runs");
    assert_eq!(r.register_errors, 0, "{}", r.table());
    assert_eq!(
        r.observed.len(),
        3,
        "push, gRPC push and poll: {}",
        r.table()
    );
    for o in &r.observed {
        assert_eq!(o.missed, 0, "{}", r.table());
        assert_eq!(o.latency.count, 5, "{}", r.table());
    }
    let bg = r.background.expect("background ran");
    assert_eq!(bg.total.errors, 0, "{}", bg.table());
}
