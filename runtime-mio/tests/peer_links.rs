//! Peer links of this runtime: bounded write buffers towards a member that stops reading.

use distro_core::{Instance, ServiceKey};
use distro_mio::Client;
use distro_testkit::cluster::{free_http_port, Cluster};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn a_member_that_stops_reading_gets_its_link_dropped_not_unbounded_memory() {
    let silent_port = free_http_port();
    // a "member" that accepts our link and never reads from it
    let silent = std::net::TcpListener::bind(("127.0.0.1", silent_port + 1001)).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let args = [
        "--peer-write-buffer",
        "100000",
        "--limit",
        "max_instances_per_client=100000",
    ];
    let others = [format!("127.0.0.1:{silent_port}")];
    let c = Cluster::start_among(Path::new(env!("CARGO_BIN_EXE_distrod")), 1, &others, &args);
    let client = Client::connect(&[c.native_addr(0)]).unwrap();
    let big = "x".repeat(4000);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while !c.log(0).contains("over its bound") {
        assert!(Instant::now() < deadline, "the link was never dropped");
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
    let r = c.http(0, "GET", "/nacos/v1/ns/instance/list?serviceName=orders");
    assert_eq!(r.status, 200);
    client.ping().unwrap();
}
