//! A three-member loopback cluster of `distrod` processes: peer links, replication, restart.

mod common;

use common::{free_http_port, Daemon};
use distro_core::{Instance, ServiceKey};
use distro_mio::Client;
use std::time::Duration;

const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";

fn start_member(port: u16, members: &str) -> Daemon {
    Daemon::start(
        port,
        &[
            "--members",
            members,
            "--timing",
            "push_window=10",
            "--timing",
            "verify_interval=500",
        ],
    )
}

#[test]
fn three_members_replicate_and_a_restarted_member_catches_up() {
    let ports = [free_http_port(), free_http_port(), free_http_port()];
    let members = ports.map(|p| format!("127.0.0.1:{p}")).join(",");
    let a = start_member(ports[0], &members);
    let b = start_member(ports[1], &members);
    let mut c = start_member(ports[2], &members);
    let wait = Duration::from_secs(10);

    // v1 writes go to the responsible member, wherever they arrive; every member shows them
    for (i, d) in [&a, &b, &c].iter().enumerate() {
        let (status, body) = d.http(
            "POST",
            &format!("/nacos/v1/ns/instance?serviceName=orders&ip=10.9.0.{i}&port=80"),
        );
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
    // a native client's instance lives on the member holding its connection, and replicates
    let client = Client::connect(&[b.native]).unwrap();
    client
        .register(
            &ServiceKey::parse(None, None, "orders"),
            Instance::new("10.9.1.1", 81),
        )
        .unwrap();
    let all = |body: &str| {
        (0..3).all(|i| body.contains(&format!("10.9.0.{i}"))) && body.contains("10.9.1.1")
    };
    for d in [&a, &b, &c] {
        d.wait_for(LIST, wait, all);
    }

    // a restarted member loads everything again from its peers
    c.signal("KILL");
    c.wait_exit(wait);
    drop(c);
    let c = start_member(ports[2], &members);
    c.wait_for(LIST, wait, all);

    // the native client's instances go away everywhere once it disconnects
    drop(client);
    for d in [&a, &b, &c] {
        d.wait_for(LIST, wait, |body| {
            !body.contains("10.9.1.1") && body.contains("10.9.0.0")
        });
    }
}

#[test]
fn a_member_that_stops_reading_gets_its_link_dropped_not_unbounded_memory() {
    let a_port = free_http_port();
    let silent_port = free_http_port();
    // a "member" that accepts our link and never reads from it
    let silent = std::net::TcpListener::bind(("127.0.0.1", silent_port + 1001)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let members = format!("127.0.0.1:{a_port},127.0.0.1:{silent_port}");
    let a = Daemon::start(
        a_port,
        &[
            "--members",
            &members,
            "--peer-write-buffer",
            "100000",
            "--limit",
            "max_instances_per_client=100000",
        ],
    );
    let client = Client::connect(&[a.native]).unwrap();
    let big = "x".repeat(4000);
    let wait = Duration::from_secs(10);
    let deadline = std::time::Instant::now() + wait;
    let mut n = 0;
    while !a.log.lock().unwrap().contains("over its bound") {
        assert!(
            std::time::Instant::now() < deadline,
            "the link was never dropped; log:\n{}",
            a.log.lock().unwrap()
        );
        let svc = ServiceKey::parse(None, None, &format!("big-{n}"));
        let instances = (0..200)
            .map(|i| {
                let mut inst = Instance::new("10.8.0.1", i);
                for k in ["a", "b", "c"] {
                    inst.metadata.insert(k.to_string(), big.clone());
                }
                inst
            })
            .collect();
        client.batch_register(&svc, instances).unwrap();
        n += 1;
    }
    // the member goes on serving
    assert_eq!(a.http("GET", LIST).0, 200);
    client.ping().unwrap();
}
