//! The blocking native client `distro_mio::Client` against real `distrod` processes: probes,
//! batch registration, unsubscribe, and redoing its work on another member after a break.
//! What the server must do for any client is in the conformance scenarios.

use distro_core::{Instance, ServiceKey};
use distro_mio::Client;
use distro_testkit::cluster::{wait_until, Cluster};
use std::path::Path;
use std::time::{Duration, Instant};

const LIST: &str = "/nacos/v1/ns/instance/list?serviceName=orders";
const WAIT: Duration = Duration::from_secs(15);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_distrod"))
}

fn orders() -> ServiceKey {
    ServiceKey::parse(None, None, "orders")
}

/// Polls the v1 list of member 0 until `pred` holds for its body.
fn wait_for_list(c: &Cluster, pred: impl Fn(&str) -> bool) {
    wait_until(WAIT, "the list to change", || {
        let r = c.http(0, "GET", LIST);
        if pred(&r.body) {
            Ok(())
        } else {
            Err(r.body)
        }
    });
}

#[test]
fn client_reconnects_to_the_next_server_and_redoes_its_registrations() {
    let mut a = Cluster::start(bin(), 1, &[]);
    let b = Cluster::start(bin(), 1, &["--timing", "push_window=10"]);
    let client = Client::connect(&[a.native_addr(0), b.native_addr(0)]).unwrap();
    client
        .register(&orders(), Instance::new("10.2.2.2", 7000))
        .unwrap();
    client.subscribe(&orders(), "").unwrap();
    assert_eq!(client.connected_to(), Some(a.native_addr(0)));
    a.kill9(0);
    wait_for_list(&b, |body| body.contains("10.2.2.2"));
    assert_eq!(client.connected_to(), Some(b.native_addr(0)));
    assert_eq!(client.connections(), 2);
    client.ping().unwrap();
    // the subscription was redone too: pushes come from the new server
    let r = b.http(
        0,
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.2.2.3&port=1",
    );
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + WAIT;
    let mut seen_other = false;
    while !seen_other && Instant::now() < deadline {
        if let Some(view) = client.recv_push(Duration::from_millis(200)) {
            seen_other = view.hosts.iter().any(|h| &*h.ip == "10.2.2.3");
        }
    }
    assert!(seen_other, "a push from the server the client moved to");
}

#[test]
fn client_answers_probes_and_stays_registered() {
    let fast_probes = [
        "--timing",
        "conn_idle=100",
        "--timing",
        "conn_scan_interval=50",
        "--timing",
        "probe_timeout=200",
    ];
    let c = Cluster::start(bin(), 1, &fast_probes);
    let client = Client::connect(&[c.native_addr(0)]).unwrap();
    client
        .register(&orders(), Instance::new("10.4.4.4", 1))
        .unwrap();
    // many probe rounds pass without a request from the client; the member counts them
    wait_until(WAIT, "several probes", || {
        let probes = c.metric(0, "probes_sent");
        if probes >= 5 {
            Ok(())
        } else {
            Err(format!("{probes} probes"))
        }
    });
    let r = c.http(0, "GET", LIST);
    assert!(r.body.contains("10.4.4.4"), "{}", r.body);
    assert_eq!(client.connections(), 1, "never disconnected");
    assert_eq!(c.metric(0, "connections_expired"), 0);
}

#[test]
fn client_batch_register_deregister_unsubscribe() {
    let c = Cluster::start(bin(), 1, &["--timing", "push_window=10"]);
    let client = Client::connect(&[c.native_addr(0)]).unwrap();
    let svc = orders();
    assert!(client.subscribe(&svc, "").unwrap().hosts.is_empty());
    client
        .batch_register(
            &svc,
            vec![Instance::new("10.6.0.1", 1), Instance::new("10.6.0.2", 2)],
        )
        .unwrap();
    assert_eq!(client.list(&svc, "", false).unwrap().hosts.len(), 2);
    let pushed = client
        .recv_push(Duration::from_secs(5))
        .expect("a push after the batch");
    assert_eq!(pushed.hosts.len(), 2);
    // a connection client's deregister withdraws its whole publication in the service
    client.deregister(&svc, "10.6.0.1", 1).unwrap();
    assert!(client.list(&svc, "", false).unwrap().hosts.is_empty());
    client.unsubscribe(&svc, "").unwrap();
    while client.recv_push(Duration::from_millis(200)).is_some() {}
    c.http(
        0,
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.6.0.3&port=3",
    );
    assert!(
        client.recv_push(Duration::from_millis(500)).is_none(),
        "no push after unsubscribe"
    );
    // an error reply is a typed error, and the client goes on
    let bad = ServiceKey::parse(None, None, "");
    assert!(client.register(&bad, Instance::new("10.6.0.9", 9)).is_err());
    client.ping().unwrap();
    // dropping the client closes its connection, and its instances go
    client.register(&svc, Instance::new("10.6.0.4", 4)).unwrap();
    wait_for_list(&c, |body| body.contains("10.6.0.4"));
    drop(client);
    wait_for_list(&c, |body| !body.contains("10.6.0.4"));
}
