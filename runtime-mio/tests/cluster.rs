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
