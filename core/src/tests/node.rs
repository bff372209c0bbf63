//! The API contract: drain, timeouts, clamped time, determinism, bad input.

use super::net::*;
use crate::wire::{ClientMsg, PeerMsg};
use crate::*;
use core::time::Duration;

#[test]
fn standalone_register_list_deregister() {
    let mut net = Net::new(1);
    assert!(net.nodes[0].is_ready(), "standalone is ready at once");
    assert_eq!(
        net.request(0, register("orders", "10.0.0.5", 8080)),
        Reply::Ok
    );
    let Reply::Service(view) = net.request(
        0,
        Request::List {
            service: svc("orders"),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: None,
        },
    ) else {
        panic!()
    };
    assert_eq!(view.hosts.len(), 1);
    assert_eq!(
        view.hosts[0].instance_id,
        "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@orders"
    );
    assert_eq!(view.cache_millis, 3000);
    let dereg = Request::Deregister {
        service: svc("orders"),
        ip: "10.0.0.5".into(),
        port: 8080,
    };
    assert_eq!(net.request(0, dereg.clone()), Reply::Ok);
    assert_eq!(
        net.request(0, dereg),
        Reply::Ok,
        "deregistering an absent instance is ok"
    );
    assert!(net.hosts(0, "orders").is_empty());
    assert!(net.nodes[0]
        .registry()
        .tombstone(&ClientId::ip_port("10.0.0.5", 8080))
        .is_some());
}

#[test]
fn drain_ends_in_timeout_and_extra_timeouts_are_noops() {
    let mut node = Node::new(Config::standalone("127.0.0.1:8848"), Timestamp::ZERO);
    let Output::Timeout(d) = node.poll_output() else {
        panic!("fresh node has nothing to say")
    };
    assert!(node.is_drained());
    // An early timeout and a repeated one change nothing.
    for _ in 0..3 {
        node.handle_input(Input::Timeout(Timestamp::from_millis(1)))
            .unwrap();
        assert!(matches!(node.poll_output(), Output::Timeout(d2) if d2 == d));
    }
    assert_eq!(node.stats(), &Stats::default());
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut node = Node::new(
        Config::standalone("127.0.0.1:8848"),
        Timestamp::from_millis(10_000),
    );
    node.handle_input(Input::Timeout(Timestamp::from_millis(5)))
        .unwrap();
    assert_eq!(node.now(), Timestamp::from_millis(10_000));
    let Output::Timeout(d) = node.poll_output() else {
        panic!()
    };
    assert!(d >= Timestamp::from_millis(10_000));
}

fn scenario(seed: u64) -> (Vec<String>, u64) {
    let mut net = Net::with(3, |c| c.seed = seed);
    for p in 0..20u16 {
        net.request(p as usize % 3, register("svc", "10.1.1.1", 9000 + p));
    }
    net.partition(0, 2, true);
    net.run_for(Duration::from_secs(12));
    net.partition(0, 2, false);
    net.run_for(Duration::from_secs(40));
    let fp = net.nodes[1].registry().fingerprint();
    (net.trace, fp)
}

#[test]
fn same_seed_and_inputs_give_byte_identical_outputs() {
    let (a, fa) = scenario(7);
    let (b, fb) = scenario(7);
    assert!(a.len() > 100);
    assert_eq!(a, b);
    assert_eq!(fa, fb);
}

#[test]
fn garbage_peer_frames_are_rejected_counted_and_close_the_link() {
    let mut net = Net::new(2);
    let now = net.now;
    let conn = ConnId(77);
    let err = net
        .input(
            0,
            Input::PeerFrame {
                now,
                conn,
                frame: &[1, 0xff, 0xff, 0xff],
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidFrame(_)));
    assert_eq!(net.nodes[0].stats().rejected_frames, 1);
    assert!(net.closes.contains(&(0, conn)));
    assert!(net
        .events
        .iter()
        .any(|(_, _, e)| matches!(e, Event::Rejected { .. })));
    // data before the handshake
    let frame = wire::encode_frame(&PeerMsg::Ping { seq: 1 });
    assert!(matches!(
        net.input(
            0,
            Input::PeerFrame {
                now,
                conn: ConnId(78),
                frame: &frame[4..]
            }
        ),
        Err(Error::PeerMisbehaved(_))
    ));
    // a handshake for another cluster
    let hello = wire::Hello {
        cluster: "other".into(),
        member: net.ids[1].clone(),
        version: crate::peer::PEER_PROTOCOL_VERSION,
        epoch: 1,
        shards: 1,
    };
    let frame = wire::encode_frame(&PeerMsg::Hello(hello));
    assert!(matches!(
        net.input(
            0,
            Input::PeerFrame {
                now,
                conn: ConnId(79),
                frame: &frame[4..]
            }
        ),
        Err(Error::PeerMisbehaved(_))
    ));
    // a handshake from a stranger
    let hello = wire::Hello {
        cluster: "distro".into(),
        member: MemberId::new("6.6.6.6:1"),
        version: crate::peer::PEER_PROTOCOL_VERSION,
        epoch: 1,
        shards: 1,
    };
    let frame = wire::encode_frame(&PeerMsg::Hello(hello));
    assert!(matches!(
        net.input(
            0,
            Input::PeerFrame {
                now,
                conn: ConnId(80),
                frame: &frame[4..]
            }
        ),
        Err(Error::PeerMisbehaved(_))
    ));
    assert_eq!(net.nodes[0].stats().rejected_frames, 4);
    // the node still works
    assert_eq!(net.request(0, register("svc", "10.0.0.9", 1)), Reply::Ok);
}

#[test]
fn garbage_client_frames_close_only_that_connection() {
    let mut net = Net::new(1);
    net.open_native(0, ConnId(5));
    net.open_native(0, ConnId(6));
    let now = net.now;
    let reg = ClientMsg::Request {
        id: RequestId(1),
        request: register("svc", "10.0.0.1", 1),
    };
    net.client_msg(0, ConnId(6), &reg).unwrap();
    assert!(net.client_msg(0, ConnId(5), &ClientMsg::ProbeAck).is_ok());
    let err = net.input(
        0,
        Input::ClientFrame {
            now,
            conn: ConnId(5),
            frame: &[1, 200, 200],
        },
    );
    assert!(err.is_err());
    assert!(net.closes.contains(&(0, ConnId(5))));
    assert_eq!(
        net.hosts(0, "svc").len(),
        1,
        "other clients keep their data"
    );
    assert!(matches!(
        net.input(
            0,
            Input::ClientFrame {
                now,
                conn: ConnId(99),
                frame: &[1]
            }
        ),
        Err(Error::ApiMisuse(_))
    ));
}

#[test]
fn invalid_requests_get_typed_errors() {
    let mut net = Net::with(1, |c| c.limits.max_name_len = 16);
    let long = "x".repeat(17);
    let r = net.request(0, register(&long, "10.0.0.1", 1));
    assert!(
        matches!(r, Reply::Error(ApiError { status: 400, .. })),
        "{r:?}"
    );
    let mut i = Instance::new("10.0.0.1", 1);
    i.weight = 10001.0;
    assert!(matches!(
        net.request(
            0,
            Request::Register {
                service: svc("s"),
                instance: i
            }
        ),
        Reply::Error(ApiError { status: 400, .. })
    ));
    let r = net.request(
        0,
        Request::BatchRegister {
            service: svc("s"),
            instances: vec![],
        },
    );
    assert!(
        matches!(r, Reply::Error(ApiError { status: 400, .. })),
        "batch register needs a native connection"
    );
    let r = net.request(
        0,
        Request::GetService {
            service: svc("nope"),
        },
    );
    assert!(matches!(r, Reply::Error(ApiError { status: 404, .. })));
    assert!(net.nodes[0].stats().request_errors >= 4);
}

#[test]
fn client_limit_is_a_clear_error_and_keeps_existing_clients() {
    let mut net = Net::with(1, |c| c.limits.max_clients = 3);
    for p in 1..=3 {
        assert_eq!(net.request(0, register("s", "10.0.0.1", p)), Reply::Ok);
    }
    let Reply::Error(e) = net.request(0, register("s", "10.0.0.1", 4)) else {
        panic!()
    };
    assert_eq!(e.status, 503);
    assert!(e.message.contains("max_clients"));
    assert_eq!(net.hosts(0, "s").len(), 3);
    assert_eq!(net.nodes[0].stats().limit_rejections, 1);
}

#[test]
fn udp_garbage_is_rejected_and_counted() {
    let mut net = Net::new(1);
    let now = net.now;
    let from = "127.0.0.1:5000".parse().unwrap();
    assert!(net
        .input(
            0,
            Input::Datagram {
                now,
                from,
                data: b"\x00\x01junk"
            }
        )
        .is_err());
    assert_eq!(net.nodes[0].stats().rejected_frames, 1);
}

#[test]
fn service_settings_and_paged_service_list() {
    let mut net = Net::new(1);
    for name in ["b", "a", "c"] {
        net.request(
            0,
            register(
                name,
                "10.0.0.1",
                1 + name.len() as u16 + name.as_bytes()[0] as u16,
            ),
        );
    }
    let create = Request::CreateService {
        service: svc("d"),
        protect_threshold: 0.5,
        metadata: [("k".to_string(), "v".to_string())].into(),
    };
    assert_eq!(net.request(0, create.clone()), Reply::Ok);
    assert!(
        matches!(
            net.request(0, create),
            Reply::Error(ApiError { status: 400, .. })
        ),
        "exists already"
    );
    let list = |net: &mut Net, page_no, page_size| {
        net.request(
            0,
            Request::ListServices {
                namespace: "public".into(),
                group: "DEFAULT_GROUP".into(),
                page_no,
                page_size,
            },
        )
    };
    let Reply::ServiceNames { count, names } = list(&mut net, 1, 3) else {
        panic!()
    };
    assert_eq!(count, 4);
    assert_eq!(
        names.iter().map(|n| &**n).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let Reply::ServiceNames { names, .. } = list(&mut net, 2, 3) else {
        panic!()
    };
    assert_eq!(names.iter().map(|n| &**n).collect::<Vec<_>>(), ["d"]);
    let Reply::ServiceDetail(d) = net.request(0, Request::GetService { service: svc("d") }) else {
        panic!()
    };
    assert_eq!(d.protect_threshold, 0.5);
    assert!(
        matches!(
            net.request(0, Request::DeleteService { service: svc("a") }),
            Reply::Error(_)
        ),
        "has instances"
    );
    assert_eq!(
        net.request(0, Request::DeleteService { service: svc("d") }),
        Reply::Ok
    );
    assert!(matches!(
        net.request(0, Request::GetService { service: svc("d") }),
        Reply::Error(ApiError { status: 404, .. })
    ));
}

#[test]
fn empty_services_are_removed_after_their_ttl() {
    let mut net = Net::new(1);
    net.request(0, register("gone", "10.0.0.1", 1));
    net.request(
        0,
        Request::Deregister {
            service: svc("gone"),
            ip: "10.0.0.1".into(),
            port: 1,
        },
    );
    assert_eq!(net.nodes[0].registry().service_count(), 1);
    net.run_for(Duration::from_secs(55));
    assert_eq!(net.nodes[0].registry().service_count(), 1, "kept for 60 s");
    net.run_for(Duration::from_secs(11));
    assert_eq!(net.nodes[0].registry().service_count(), 0);
}

#[test]
fn an_overdue_backoff_for_a_linked_but_down_peer_never_spins_the_host() {
    let mut net = Net::new(2);
    // member 1 stops answering pings and acks but its link stays up: member 0 sees it DOWN
    net.filter = Some(Box::new(|from, _, _| from != 1));
    net.request(0, register("svc", "10.0.0.1", 1));
    net.run_for(Duration::from_secs(60)); // would trip the harness's livelock guard if it spun
    assert_eq!(net.nodes[0].members()[1].state, "DOWN");
    let Output::Timeout(d) = net.nodes[0].poll_output() else {
        panic!()
    };
    assert!(d > net.now, "no deadline in the past");
}

#[test]
fn probe_answers_can_come_as_an_input() {
    let mut net = Net::new(1);
    net.open_native(0, ConnId(3));
    net.run_for(Duration::from_secs(23));
    assert_eq!(net.probes.len(), 1);
    let now = net.now;
    net.input(
        0,
        Input::ProbeAnswered {
            now,
            conn: ConnId(3),
        },
    )
    .unwrap();
    net.run_for(Duration::from_secs(10));
    assert!(net.closes.is_empty());
    assert!(matches!(
        net.input(
            0,
            Input::ProbeAnswered {
                now,
                conn: ConnId(4)
            }
        ),
        Err(Error::ApiMisuse(_))
    ));
}

fn list(node: &mut Node, name: &str, clusters: &str) -> Reply {
    let request = Request::List {
        service: ServiceKey::parse(None, None, name),
        clusters: clusters.into(),
        healthy_only: false,
        udp_subscriber: None,
    };
    ask(node, request).expect("a reply")
}

/// Issue 11, defect 2: list views were cached for services that do not exist (anyone can
/// list any name), the cache was bounded by entry count only, and a long cluster filter was
/// accepted and kept. Only views of existing services are cached, within a byte budget, and
/// a filter longer than the limit is refused.
#[test]
fn list_views_are_cached_only_for_existing_services_within_a_byte_budget() {
    let mut cfg = Config::standalone("127.0.0.1:8848");
    cfg.limits.max_view_cache_bytes = 64 << 10;
    let mut node = Node::new(cfg, Timestamp::ZERO);
    for k in 0..2_000 {
        let Reply::Service(v) = list(&mut node, &format!("nobody-{k}"), "") else {
            panic!("not a list reply")
        };
        assert!(v.hosts.is_empty());
    }
    assert_eq!(
        node.views.len(),
        0,
        "views of unknown services are not kept"
    );
    let long = "c".repeat(node.config().limits.max_filter_len + 1);
    let Reply::Error(e) = list(&mut node, "orders", &long) else {
        panic!("a filter over the limit is refused")
    };
    assert_eq!(e.status, 400);
    // existing services: cached, within the byte budget whatever the filters
    let mut instance = Instance::new("10.0.0.1", 80);
    instance.metadata.insert("blob".into(), "x".repeat(2000));
    for k in 0..100 {
        let request = Request::Register {
            service: ServiceKey::parse(None, None, &format!("svc-{k}")),
            instance: instance.clone(),
        };
        assert_eq!(ask(&mut node, request), Some(Reply::Ok));
    }
    for k in 0..100 {
        for f in 0..8 {
            list(&mut node, &format!("svc-{k}"), &format!("DEFAULT,f{f}"));
        }
    }
    assert!(node.views.len() > 0, "existing services are cached");
    assert!(
        node.views.bytes() <= 64 << 10,
        "{} bytes cached",
        node.views.bytes()
    );
}

/// Issue 11, defect 7, at the node: an invalid setting is refused when the node is built (a
/// typed error from `try_new`, a panic naming the field from `new`), not at the first sync
/// retry or cleanup that trips over it.
#[test]
fn a_node_is_not_built_from_settings_it_cannot_run_with() {
    let mut cfg = Config::cluster("10.0.0.1:8848", &["10.0.0.1:8848", "10.0.0.2:8848"]);
    cfg.timings.sync_retry_min = core::time::Duration::from_secs(5);
    cfg.timings.sync_retry_max = core::time::Duration::from_secs(1);
    let err = Node::try_new(cfg.clone(), Timestamp::ZERO).unwrap_err();
    assert_eq!(err.field, "timings.sync_retry_min");
    let panic = std::panic::catch_unwind(|| Node::new(cfg, Timestamp::ZERO)).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("timings.sync_retry_min"), "{message}");
}
