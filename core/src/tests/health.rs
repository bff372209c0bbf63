//! Beats, probes, and pushes to subscribers.

use super::net::*;
use crate::wire::{ClientMsg, PeerMsg};
use crate::*;
use core::time::Duration;

fn healthy(net: &Net, i: usize, service: &str, port: u16) -> Option<bool> {
    net.hosts(i, service)
        .iter()
        .find(|h| h.port == port)
        .map(|h| h.healthy)
}

#[test]
fn beat_timeline_healthy_then_unhealthy_then_gone_then_delete_synced() {
    let mut net = Net::new(2);
    let port = (1000..2000)
        .find(|&p| net.owner_of("10.3.3.3", p) == 0)
        .unwrap();
    let t0 = net.now;
    net.request(1, register("svc", "10.3.3.3", port)); // forwarded to member 0
    let at = |s: u64| t0.plus(Duration::from_millis(s));
    net.run_until(at(14_900));
    assert_eq!(
        healthy(&net, 0, "svc", port),
        Some(true),
        "healthy at 14.9 s"
    );
    net.run_until(at(15_000));
    assert_eq!(
        healthy(&net, 0, "svc", port),
        Some(true),
        "still healthy at exactly 15 s"
    );
    net.run_until(at(20_010));
    assert_eq!(
        healthy(&net, 0, "svc", port),
        Some(false),
        "unhealthy by 20 s"
    );
    assert_eq!(
        healthy(&net, 1, "svc", port),
        Some(false),
        "the replica learns it by sync"
    );
    let unhealthy_at = net
        .events
        .iter()
        .find(|(i, _, e)| *i == 0 && matches!(e, Event::InstanceUnhealthy { .. }))
        .unwrap()
        .1;
    assert!(
        unhealthy_at > at(15_000) && unhealthy_at <= at(20_000),
        "{unhealthy_at:?}"
    );
    net.run_until(at(29_900));
    assert!(
        healthy(&net, 0, "svc", port).is_some(),
        "present before 30 s"
    );
    net.run_until(at(35_010));
    assert_eq!(healthy(&net, 0, "svc", port), None, "gone by 35 s");
    assert_eq!(
        healthy(&net, 1, "svc", port),
        None,
        "DELETE synced to the replica"
    );
    assert!(net.nodes[1]
        .registry()
        .tombstone(&ClientId::ip_port("10.3.3.3", port))
        .is_some());
    assert_eq!(net.nodes[0].stats().instances_expired, 1);
}

#[test]
fn beats_keep_an_instance_healthy_and_revive_an_unhealthy_one() {
    let mut net = Net::new(1);
    net.request(0, register("svc", "10.3.3.3", 1));
    for _ in 0..10 {
        net.run_for(Duration::from_secs(5));
        assert_eq!(
            net.request(0, beat("svc", "10.3.3.3", 1)),
            Reply::Beat {
                client_beat_interval_ms: 5000,
                code: BEAT_OK
            }
        );
    }
    assert_eq!(healthy(&net, 0, "svc", 1), Some(true));
    net.run_for(Duration::from_secs(21));
    assert_eq!(healthy(&net, 0, "svc", 1), Some(false));
    net.request(0, beat("svc", "10.3.3.3", 1));
    assert_eq!(
        healthy(&net, 0, "svc", 1),
        Some(true),
        "a beat revives it at once"
    );
}

#[test]
fn preserved_metadata_overrides_the_beat_timeouts() {
    let mut net = Net::new(1);
    let mut i = Instance::new("10.3.3.3", 1);
    i.metadata.insert(META_BEAT_TIMEOUT.into(), "3000".into());
    i.metadata.insert(META_DELETE_TIMEOUT.into(), "6000".into());
    i.metadata.insert(META_BEAT_INTERVAL.into(), "1000".into());
    net.request(
        0,
        Request::Register {
            service: svc("svc"),
            instance: i,
        },
    );
    let Reply::Beat {
        client_beat_interval_ms,
        ..
    } = net.request(0, beat("svc", "10.3.3.3", 1))
    else {
        panic!()
    };
    assert_eq!(client_beat_interval_ms, 1000);
    assert_eq!(net.hosts(0, "svc")[0].beat_timeout_ms, 3000);
    net.run_for(Duration::from_secs(11));
    assert_eq!(
        healthy(&net, 0, "svc", 1),
        None,
        "deleted within a check interval of 6 s"
    );
}

#[test]
fn a_beat_with_a_body_registers_an_unknown_instance_and_a_light_beat_answers_20404() {
    let mut net = Net::new(1);
    assert_eq!(
        net.request(0, beat("svc", "10.3.3.3", 1)),
        Reply::Beat {
            client_beat_interval_ms: 5000,
            code: BEAT_NOT_FOUND
        }
    );
    assert!(net.hosts(0, "svc").is_empty());
    let mut i = Instance::new("10.3.3.3", 1);
    i.metadata.insert("from".into(), "beat".into());
    let r = net.request(
        0,
        Request::Beat {
            service: svc("svc"),
            ip: "10.3.3.3".into(),
            port: 1,
            register: Some(i),
        },
    );
    assert_eq!(
        r,
        Reply::Beat {
            client_beat_interval_ms: 5000,
            code: BEAT_OK
        }
    );
    assert_eq!(net.hosts(0, "svc")[0].metadata["from"], "beat");
}

#[test]
fn checks_run_only_on_the_responsible_member() {
    let mut net = Net::new(3);
    let port = (1000..2000)
        .find(|&p| net.owner_of("10.3.3.3", p) == 1)
        .unwrap();
    net.request(1, register("svc", "10.3.3.3", port));
    net.run_for(Duration::from_secs(40));
    assert_eq!(net.nodes[1].stats().instances_expired, 1);
    assert_eq!(
        net.nodes[0].stats().instances_expired + net.nodes[2].stats().instances_expired,
        0
    );
    assert_eq!(
        net.nodes[0].stats().instances_unhealthy + net.nodes[2].stats().instances_unhealthy,
        0
    );
}

#[test]
fn an_idle_connection_is_probed_and_closed_when_the_probe_goes_unanswered() {
    let mut net = Net::new(2);
    net.open_native(0, ConnId(9));
    net.native_request(0, ConnId(9), register("svc", "10.4.4.4", 1));
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.hosts(1, "svc").len(), 1);
    net.run_for(Duration::from_secs(19));
    assert!(net.probes.is_empty(), "not idle for 20 s yet");
    net.run_for(Duration::from_secs(4));
    assert_eq!(net.probes.len(), 1, "probed after 20 s idle");
    // answered: the connection lives on
    net.client_msg(0, ConnId(9), &ClientMsg::ProbeAck).unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(net.closes.is_empty());
    // not answered: closed, instances removed everywhere
    net.run_for(Duration::from_secs(30));
    assert!(net.closes.contains(&(0, ConnId(9))));
    assert_eq!(net.nodes[0].stats().connections_expired, 1);
    assert!(net.hosts(0, "svc").is_empty());
    assert!(net.hosts(1, "svc").is_empty(), "DELETE synced");
}

#[test]
fn a_closed_connection_removes_its_instances_everywhere() {
    let mut net = Net::new(3);
    net.open_native(2, ConnId(9));
    let instances = vec![Instance::new("10.4.4.4", 1), Instance::new("10.4.4.4", 2)];
    net.native_request(
        2,
        ConnId(9),
        Request::BatchRegister {
            service: svc("svc"),
            instances,
        },
    );
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.hosts(0, "svc").len(), 2);
    let now = net.now;
    net.input(
        2,
        Input::ConnectionClosed {
            now,
            conn: ConnId(9),
        },
    )
    .unwrap();
    net.run_for(Duration::from_millis(10));
    for i in 0..3 {
        assert!(net.hosts(i, "svc").is_empty(), "member {i}");
    }
}

#[test]
fn connection_clients_of_a_dead_member_go_away_before_replica_expiry() {
    let mut net = Net::new(3);
    net.open_native(2, ConnId(9));
    net.native_request(2, ConnId(9), register("svc", "10.4.4.4", 1));
    net.run_for(Duration::from_millis(10));
    net.crash(2);
    net.run_for(Duration::from_secs(45));
    assert!(
        net.hosts(0, "svc").is_empty(),
        "orphaned connection client dropped"
    );
    assert!(net.hosts(1, "svc").is_empty());
}

/// Found by the simulator: a member that restarts before the others see it DOWN, and loads a
/// snapshot that lacks its old connection clients, never deletes them; a member still holding
/// them kept them for the whole replica expiry. The new boot epoch in its handshake tells the
/// others those connections are gone.
#[test]
fn connection_clients_of_a_restarted_member_go_away_when_its_new_run_shows_up() {
    let mut net = Net::new(3);
    // member 0 never hears about member 2's clients (so its snapshot lacks them)
    net.filter = Some(Box::new(|from, to, m| {
        !(from == 2 && to == 0 && matches!(m, PeerMsg::Sync { .. } | PeerMsg::Verify { .. }))
    }));
    let now = net.now;
    net.input(
        2,
        Input::ConnectionOpened {
            now,
            conn: ConnId(9),
        },
    )
    .unwrap();
    net.client_msg(
        2,
        ConnId(9),
        &ClientMsg::Request {
            id: RequestId(1),
            request: register("svc", "10.4.4.4", 1),
        },
    )
    .unwrap();
    net.run_for(Duration::from_millis(10));
    assert_eq!(net.hosts(1, "svc").len(), 1);
    assert!(net.hosts(0, "svc").is_empty());
    net.crash(2);
    net.run_for(Duration::from_secs(1));
    net.restart(2, config(3, 2));
    net.run_for(Duration::from_secs(12));
    assert_eq!(net.nodes[1].members()[2].state, "UP", "never seen DOWN");
    for i in 0..3 {
        assert!(
            net.hosts(i, "svc").is_empty(),
            "member {i} dropped the old run's client"
        );
    }
}

#[test]
fn native_subscribers_get_the_first_change_at_once_and_the_rest_merged_per_window() {
    let mut net = Net::new(2);
    net.open_native(1, ConnId(9));
    net.native_request(
        1,
        ConnId(9),
        Request::Subscribe {
            service: svc("svc"),
            clusters: String::new(),
        },
    );
    assert!(
        matches!(net.replies.last(), Some((1, ConnId(9), RequestId(1), Reply::Service(v))) if v.hosts.is_empty())
    );
    let start = net.now;
    for p in 0..5 {
        net.request(0, register("svc", "10.5.5.5", 100 + p));
    }
    net.run_for(Duration::from_millis(200));
    let pushes: Vec<_> = net.pushes.iter().filter(|p| p.0 == 1).collect();
    assert_eq!(
        pushes.len(),
        2,
        "the first change at once, the other four merged into one push"
    );
    assert_eq!(pushes[0].2, PushTarget::Conn(ConnId(9)));
    assert!(
        pushes[0].1.since(start) < Duration::from_millis(5),
        "the first push is not held back"
    );
    assert_eq!(pushes[0].3.hosts.len(), 1);
    assert_eq!(pushes[1].3.hosts.len(), 5);
    let gap = pushes[1].1.since(pushes[0].1);
    assert!(
        gap >= Duration::from_millis(50) && gap < Duration::from_millis(55),
        "merged for the 50 ms window: {gap:?}"
    );
    // unsubscribe stops pushes
    net.native_request(
        1,
        ConnId(9),
        Request::Unsubscribe {
            service: svc("svc"),
            clusters: String::new(),
        },
    );
    net.request(0, register("svc", "10.5.5.5", 200));
    net.run_for(Duration::from_millis(200));
    assert_eq!(net.pushes.iter().filter(|p| p.0 == 1).count(), 2);
}

#[test]
fn udp_subscribers_get_pushes_tracked_by_ack_with_one_retry() {
    let mut net = Net::with(1, |c| {
        c.timings.beat_timeout = Duration::from_secs(3600);
        c.timings.delete_timeout = Duration::from_secs(3600);
    });
    let addr: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let list = Request::List {
        service: svc("svc"),
        clusters: "DEFAULT".into(),
        healthy_only: false,
        udp_subscriber: Some(addr),
    };
    let Reply::Service(v) = net.request(0, list) else {
        panic!()
    };
    assert_eq!(v.cache_millis, 10_000, "push subscribers may cache longer");
    net.request(0, register("svc", "10.5.5.5", 1));
    net.run_for(Duration::from_millis(100));
    let (_, _, to, view) = net.pushes.last().unwrap().clone();
    let PushTarget::Udp { addr: a, ack } = to else {
        panic!()
    };
    assert_eq!(a, addr);
    assert_eq!(
        view.clusters, "DEFAULT",
        "the subscriber's cluster filter is echoed"
    );
    // acked: no retry
    let now = net.now;
    let data = format!(r#"{{"type":"push-ack","lastRefTime":{ack},"data":""}}"#);
    net.input(
        0,
        Input::Datagram {
            now,
            from: addr,
            data: data.as_bytes(),
        },
    )
    .unwrap();
    assert_eq!(net.nodes[0].stats().push_acks, 1);
    // not acked: one retry after 10 s, then given up
    net.request(0, register("svc", "10.5.5.5", 2));
    net.run_for(Duration::from_millis(100));
    let sent = net.pushes.len();
    net.run_for(Duration::from_secs(10));
    assert_eq!(net.pushes.len(), sent + 1, "resent once");
    net.run_for(Duration::from_secs(30));
    assert_eq!(net.pushes.len(), sent + 1, "and only once");
    assert_eq!(net.nodes[0].stats().push_retries, 1);
    assert_eq!(net.nodes[0].stats().push_failures, 1);
}

#[test]
fn udp_subscribers_expire_without_list_calls() {
    let mut net = Net::new(1);
    let addr: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    net.request(
        0,
        Request::List {
            service: svc("svc"),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: Some(addr),
        },
    );
    net.run_for(Duration::from_secs(40));
    net.request(0, register("svc", "10.5.5.5", 1));
    net.run_for(Duration::from_millis(100));
    assert!(net.pushes.is_empty());
    // the filter decides which messages pass; a native peer message type is in scope
    let _ = PeerMsg::Ping { seq: 0 };
}

/// Issue 11, defect 3: a native subscription's cluster filter had no length limit (a 1 MB
/// filter was accepted and kept per subscription). It is bounded like a list's, and a
/// subscription with a filter gets exactly the instances of the clusters it names.
#[test]
fn a_native_subscription_filter_is_bounded_and_filters_its_pushes() {
    let mut net = Net::new(1);
    net.open_native(0, ConnId(9));
    let subscribe = |clusters: String| Request::Subscribe {
        service: svc("svc"),
        clusters,
    };
    net.native_request(0, ConnId(9), subscribe("c".repeat(1 << 20)));
    let Some((_, _, _, Reply::Error(e))) = net.replies.last() else {
        panic!("a 1 MB filter is refused")
    };
    assert_eq!(e.status, 400);
    net.native_request(0, ConnId(9), subscribe(" A ,B".into()));
    assert!(matches!(
        net.replies.last(),
        Some((_, _, _, Reply::Service(_)))
    ));
    for (port, cluster) in [(1, "A"), (2, "B"), (3, "C")] {
        let mut i = Instance::new("10.5.5.5", port);
        i.cluster = cluster.into();
        let register = Request::Register {
            service: svc("svc"),
            instance: i,
        };
        net.request(0, register);
    }
    net.run_for(Duration::from_millis(200));
    let last = net.pushes.last().expect("pushed");
    let mut clusters: Vec<&str> = last.3.hosts.iter().map(|h| &*h.cluster).collect();
    clusters.sort();
    assert_eq!(clusters, vec!["A", "B"]);
}

/// A standalone node with `subscribers` UDP subscribers, spread over 100 services, each with
/// one push in flight (not acknowledged): returns the node and the `(addr, ack)` of every push,
/// in the order they were sent.
fn pending_udp_pushes(subscribers: u32) -> (Node, Vec<(std::net::SocketAddr, u64)>) {
    let mut node = Node::new(Config::standalone("127.0.0.1:8848"), Timestamp::ZERO);
    let drain = |node: &mut Node, pushes: &mut Vec<(std::net::SocketAddr, u64)>| loop {
        match node.poll_output() {
            Output::Push {
                to: PushTarget::Udp { addr, ack },
                ..
            } => pushes.push((addr, ack)),
            Output::Timeout(_) => return,
            _ => {}
        }
    };
    let mut pushes = Vec::new();
    let now = Timestamp::from_millis(1);
    let service = |k: u32| format!("svc-{}", k % 100);
    for k in 0..subscribers {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + k);
        let request = Request::List {
            service: svc(&service(k)),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: Some((ip, 40_000).into()),
        };
        let input = Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(1),
            request,
        };
        node.handle_input(input).unwrap();
        drain(&mut node, &mut pushes);
    }
    for k in 0..100 {
        let input = Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(2),
            request: register(&service(k), "10.5.5.5", 1),
        };
        node.handle_input(input).unwrap();
        drain(&mut node, &mut pushes);
    }
    node.handle_input(Input::Timeout(Timestamp::from_millis(100)))
        .unwrap();
    drain(&mut node, &mut pushes);
    assert_eq!(pushes.len(), subscribers as usize);
    (node, pushes)
}

/// How long acknowledging the last 1,000 pushes sent takes.
fn time_to_ack(node: &mut Node, pushes: &[(std::net::SocketAddr, u64)]) -> Duration {
    let last = &pushes[pushes.len() - 1_000..];
    let data: Vec<String> = last
        .iter()
        .map(|(_, ack)| format!(r#"{{"type":"push-ack","lastRefTime":{ack},"data":""}}"#))
        .collect();
    let now = node.now();
    let start = std::time::Instant::now();
    for ((from, _), data) in last.iter().zip(&data) {
        let input = Input::Datagram {
            now,
            from: *from,
            data: data.as_bytes(),
        };
        node.handle_input(input).unwrap();
        while !matches!(node.poll_output(), Output::Timeout(_)) {}
    }
    let took = start.elapsed();
    assert_eq!(node.stats().push_acks, 1_000);
    took
}

/// Issue 11, defect 6: every UDP ack searched the pending acks linearly and removed from the
/// middle of a queue, so with many pushes in flight (up to `max_subscriptions`) anyone sending
/// datagrams made the node do O(n) work each. Acknowledging 1,000 pushes among 100,000 pending
/// takes about as long as among 1,000 (a linear search makes it about a hundred times longer;
/// the bound is loose for a shared machine).
#[test]
fn a_udp_ack_costs_the_same_however_many_pushes_are_pending() {
    let (mut few, few_pushes) = pending_udp_pushes(1_000);
    let (mut many, many_pushes) = pending_udp_pushes(100_000);
    let small = time_to_ack(&mut few, &few_pushes);
    let large = time_to_ack(&mut many, &many_pushes);
    assert!(
        large < small * 10,
        "1,000 acks: {small:?} among 1,000 pending, {large:?} among 100,000"
    );
}

/// Issue 11, defect 9: a probe's timeout was only checked at the next connection scan, so a
/// dead connection went 26 to 29 s after its last activity instead of waiting only for the
/// probe (as Nacos waits for it within the scan). A probe has its own deadline: the connection
/// closes when its probe timeout ends.
#[test]
fn an_unanswered_probe_closes_its_connection_at_its_own_deadline() {
    let mut net = Net::new(1);
    net.open_native(0, ConnId(9));
    net.native_request(0, ConnId(9), register("svc", "10.4.4.4", 1));
    net.run_for(Duration::from_secs(30));
    let probed = net.probes.first().expect("probed").1;
    let closed = net
        .events
        .iter()
        .find(|(_, _, e)| {
            matches!(
                e,
                Event::ClientRemoved {
                    reason: "probe not answered",
                    ..
                }
            )
        })
        .expect("closed")
        .1;
    assert_eq!(
        closed.since(probed),
        Timings::default().probe_timeout,
        "probed at {probed:?}, closed at {closed:?}"
    );
}
