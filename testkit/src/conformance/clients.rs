//! Connection clients (native protocol) and push subscribers (native and v1 UDP).

use super::replication::start_cluster;
use super::v1::{self, addrs, register, wait_for_addrs, CONVERGE};
use crate::cluster::Target;
use crate::cluster::{wait_until, Cluster, NativeClient, UdpSubscriber};
use distro_core::{Instance, Reply, Request, ServiceKey};
use std::time::{Duration, Instant};

/// A native client's instances live as long as its connection: once it closes, they are gone
/// from every member, while other clients' instances stay.
pub fn native_close_removes_instances_everywhere(t: &Target) {
    let c = start_cluster(t, 3, &[]);
    register(&c, 0, "conn-a", "10.3.0.1", 1);
    let mut native = NativeClient::connect(c.native_addr(1));
    native.register("conn-a", "10.3.1.1", 1);
    let batch = Request::BatchRegister {
        service: ServiceKey::parse(None, None, "conn-b"),
        instances: vec![Instance::new("10.3.1.2", 2), Instance::new("10.3.1.3", 3)],
    };
    assert_eq!(native.request(batch), Reply::Ok);
    for i in 0..3 {
        wait_for_addrs(&c, i, "conn-a", &["10.3.0.1:1", "10.3.1.1:1"]);
        wait_for_addrs(&c, i, "conn-b", &["10.3.1.2:2", "10.3.1.3:3"]);
    }
    drop(native);
    for i in 0..3 {
        wait_for_addrs(&c, i, "conn-a", &["10.3.0.1:1"]);
        wait_for_addrs(&c, i, "conn-b", &[]);
    }
}

/// A native client that answers probes keeps its connection and instances through many probe
/// rounds; one that never answers is closed and its instances are removed.
pub fn unanswered_probes_close_the_connection(t: &Target) {
    let fast_probes = [
        "--timing",
        "conn_idle=200",
        "--timing",
        "conn_scan_interval=100",
        "--timing",
        "probe_timeout=300",
    ];
    let c = Cluster::start(t, 1, &fast_probes);
    let mut alive = NativeClient::connect(c.native_addr(0));
    alive.register("probes", "10.4.0.1", 1);
    let mut hung = NativeClient::connect_ignoring_probes(c.native_addr(0));
    // taken before its last message: the member cannot have heard from it later
    let started = Instant::now();
    hung.register("probes", "10.4.0.2", 2);
    wait_for_addrs(&c, 0, "probes", &["10.4.0.1:1", "10.4.0.2:2"]);

    wait_until(CONVERGE, "the hung client to be closed", || {
        if hung.is_closed() {
            Ok(())
        } else {
            Err(format!("{} probes sent to it", hung.probes()))
        }
    });
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "closed after {:?}, before idle + probe timeout",
        started.elapsed()
    );
    wait_for_addrs(&c, 0, "probes", &["10.4.0.1:1"]);
    wait_until(CONVERGE, "several probes to the live client", || {
        if alive.probes() >= 3 {
            Ok(())
        } else {
            Err(format!("{} probes", alive.probes()))
        }
    });
    assert!(!alive.is_closed(), "a client answering probes was closed");
    assert_eq!(alive.request(Request::Ping), Reply::Pong);
    assert!(addrs(&c, 0, "probes").contains("10.4.0.1:1"));
}

/// A native subscriber gets the current view, then a push for each change.
pub fn native_subscriber_gets_pushes(t: &Target) {
    let c = Cluster::start(t, 1, &["--timing", "push_window=10"]);
    let mut sub = NativeClient::connect(c.native_addr(0));
    assert!(sub.subscribe("pushed").hosts.is_empty());
    register(&c, 0, "pushed", "10.0.0.9", 1);
    let view = wait_for_push(&sub, |v| v.hosts.len() == 1);
    assert_eq!((&*view.hosts[0].ip, view.hosts[0].port), ("10.0.0.9", 1));
    assert_eq!(&*view.service.name, "pushed");
    v1::deregister(&c, 0, "pushed", "10.0.0.9", 1);
    wait_for_push(&sub, |v| v.hosts.is_empty());

    let r = sub.request(Request::Unsubscribe {
        service: ServiceKey::parse(None, None, "pushed"),
        clusters: String::new(),
    });
    assert_eq!(r, Reply::Ok);
    while sub.recv_push(Duration::from_millis(200)).is_some() {}
    register(&c, 0, "pushed", "10.0.0.10", 1);
    assert!(
        sub.recv_push(Duration::from_millis(800)).is_none(),
        "a push after unsubscribing"
    );
}

fn wait_for_push(
    sub: &NativeClient,
    want: impl Fn(&distro_core::ServiceView) -> bool,
) -> distro_core::ServiceView {
    let deadline = Instant::now() + CONVERGE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(view) = sub.recv_push(Duration::from_millis(100)) {
            if want(&view) {
                return view;
            }
            last = Some(view);
        }
    }
    panic!("no matching push; last: {last:?}");
}

/// A v1 UDP subscriber (`udpPort` on a list) receives a `dom` push for a change and acks it;
/// an acked push is not sent again, an unacked one is resent once after the ack timeout.
/// Large views arrive gzipped.
pub fn udp_subscriber_receives_and_acks_push(t: &Target) {
    let timings = [
        "--timing",
        "push_window=10",
        "--timing",
        "push_ack_timeout=500",
    ];
    let c = Cluster::start(t, 1, &timings);
    let acking = UdpSubscriber::bind();
    let silent = UdpSubscriber::bind();
    for (sub, clusters) in [(&acking, ""), (&silent, "DEFAULT")] {
        let r = c.http(
            0,
            "GET",
            &format!(
                "/nacos/v1/ns/instance/list?serviceName=udp&clusters={clusters}&udpPort={}&clientIP=127.0.0.1",
                sub.port()
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    register(&c, 0, "udp", "10.2.0.1", 1);

    let push = acking
        .recv(CONVERGE)
        .expect("a push to the acking subscriber");
    assert_eq!(push.kind, "dom");
    assert_eq!(push.data["name"], "DEFAULT_GROUP@@udp");
    assert_eq!(push.data["clusters"], "", "clusters echo the subscriber's");
    assert_eq!(push.hosts(), vec!["10.2.0.1:1".to_string()]);
    assert!(
        push.last_ref_time < 1 << 53,
        "lastRefTime must survive a JS double"
    );
    acking.ack(&push);

    let first = silent
        .recv(CONVERGE)
        .expect("a push to the silent subscriber");
    assert_eq!(first.data["clusters"], "DEFAULT");
    let again = silent
        .recv(Duration::from_secs(5))
        .expect("an unacked push is resent");
    assert_eq!(
        again.last_ref_time, first.last_ref_time,
        "the resend is the same push"
    );
    silent.ack(&again);
    assert!(
        acking.recv(Duration::from_millis(2000)).is_none(),
        "an acked push was sent again"
    );
    wait_until(CONVERGE, "the acks to be counted", || {
        let acks = c.metric(0, "push_acks");
        if acks >= 2 {
            Ok(())
        } else {
            Err(format!("push_acks {acks}"))
        }
    });

    // a view over 1 KiB is gzipped; both forms must decode
    let big = "x".repeat(1500);
    let r = c.http(
        0,
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=udp&ip=10.2.0.2&port=2&metadata=big%3D{big}"),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let push = acking.recv(CONVERGE).expect("a push of the big view");
    assert_eq!(push.hosts().len(), 2, "{:?}", push.data);
    assert!(push.gzipped, "a view over 1 KiB should be gzipped");
    acking.ack(&push);
}
