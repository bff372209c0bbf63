//! Nacos 2.x gRPC clients on the client port: the connection-client model (a client is its
//! HTTP/2 connection), pushes on the bi-stream, probes, and bad input.

use super::replication::start_cluster;
use super::v1::{wait_for_addrs, CONVERGE};
use crate::cluster::{grpc_message, wait_until, Cluster, GrpcClient, Target};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// gRPC clients on three members: registrations reach every member, a subscriber is pushed
/// each change, queries and service lists answer, and a client's instances go everywhere when
/// its connection closes (the DELETE is synced).
pub fn grpc_clients_register_subscribe_and_leave(t: &Target) {
    let c = start_cluster(t, 3, &[]);
    let mut a = GrpcClient::connect(c.native_addr(0));
    assert!(!a.connection_id.is_empty());
    let (kind, body) = a.register("g2", "10.9.0.1", 80);
    assert_eq!(
        (kind.as_str(), body["resultCode"].as_u64()),
        ("InstanceResponse", Some(200)),
        "{body}"
    );
    for i in 0..3 {
        wait_for_addrs(&c, i, "g2", &["10.9.0.1:80"]);
    }
    let mut sub = GrpcClient::connect(c.native_addr(1));
    let (kind, body) = sub.subscribe("g2");
    assert_eq!(kind, "SubscribeServiceResponse", "{body}");
    assert_eq!(
        body["serviceInfo"]["hosts"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    let mut b = GrpcClient::connect(c.native_addr(2));
    b.register("g2", "10.9.0.2", 81);
    let deadline = Instant::now() + WAIT;
    loop {
        let (kind, body) = sub
            .recv_server_request(deadline.saturating_duration_since(Instant::now()))
            .expect("a push for the second instance");
        if kind == "NotifySubscriberRequest"
            && body["serviceInfo"]["hosts"].as_array().map(Vec::len) == Some(2)
        {
            assert_eq!(body["serviceName"], "g2");
            assert!(body["headers"].is_object() && body["requestId"].is_string());
            break;
        }
    }
    let (kind, body) = b.request(
        "ServiceQueryRequest",
        json!({"namespace": "public", "serviceName": "g2", "groupName": "DEFAULT_GROUP", "cluster": "", "healthyOnly": false, "udpPort": 0}),
    );
    assert_eq!(kind, "QueryServiceResponse");
    assert_eq!(
        body["serviceInfo"]["hosts"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    let (kind, body) = b.request(
        "ServiceListRequest",
        json!({"namespace": "public", "groupName": "DEFAULT_GROUP", "pageNo": 1, "pageSize": 10}),
    );
    assert_eq!(kind, "ServiceListResponse");
    assert!(
        body["serviceNames"]
            .as_array()
            .is_some_and(|n| n.iter().any(|s| s == "g2")),
        "{body}"
    );
    let (kind, body) = a.request(
        "InstanceRequest",
        json!({"namespace": "public", "serviceName": "g2", "groupName": "DEFAULT_GROUP", "type": "deregisterInstance",
               "instance": {"ip": "10.9.0.1", "port": 80}}),
    );
    assert_eq!(
        (kind.as_str(), body["resultCode"].as_u64()),
        ("InstanceResponse", Some(200))
    );
    for i in 0..3 {
        wait_for_addrs(&c, i, "g2", &["10.9.0.2:81"]);
    }
    drop(b);
    for i in 0..3 {
        wait_for_addrs(&c, i, "g2", &[]);
    }
}

/// A gRPC client that stops answering `ClientDetectionRequest`s is closed and its instances
/// removed; one that answers stays.
pub fn grpc_unanswered_probes_close_the_connection(t: &Target) {
    let fast = [
        "--timing",
        "conn_idle=200",
        "--timing",
        "conn_scan_interval=100",
        "--timing",
        "probe_timeout=300",
    ];
    let c = Cluster::start(t, 1, &fast);
    let mut alive = GrpcClient::connect(c.native_addr(0));
    alive.register("g2p", "10.9.1.1", 1);
    let mut hung = GrpcClient::connect_ignoring_probes(c.native_addr(0));
    hung.register("g2p", "10.9.1.2", 2);
    wait_for_addrs(&c, 0, "g2p", &["10.9.1.1:1", "10.9.1.2:2"]);
    wait_until(CONVERGE, "the hung gRPC client to be closed", || {
        if hung.is_closed() {
            Ok(())
        } else {
            Err(format!("{} probes sent to it", hung.probes()))
        }
    });
    assert!(hung.probes() >= 1);
    wait_for_addrs(&c, 0, "g2p", &["10.9.1.1:1"]);
    wait_until(CONVERGE, "probes to the live client", || {
        if alive.probes() >= 3 {
            Ok(())
        } else {
            Err(format!("{} probes", alive.probes()))
        }
    });
    assert!(!alive.is_closed());
}

/// Bad gRPC input gets a typed error or a closed connection, is counted, and hurts no one else.
pub fn grpc_bad_input_is_refused_and_counted(t: &Target) {
    let c = Cluster::start(t, 1, &["--limit", "max_frame_len=65536"]);
    let mut good = GrpcClient::connect(c.native_addr(0));
    good.register("g2b", "10.9.2.1", 1);
    let before = c.metric(0, "runtime_grpc_rejected");
    // an unknown message type: 302
    let (kind, body) = good.request("NoSuchRequest", json!({}));
    assert_eq!(
        (kind.as_str(), body["errorCode"].as_i64()),
        ("ErrorResponse", Some(302)),
        "{body}"
    );
    // JSON that does not fit its type: 400
    let (kind, body) = good.request(
        "InstanceRequest",
        json!({"type": "registerInstance", "instance": {"ip": "1.1.1.1", "port": "x"}}),
    );
    assert_eq!(
        (kind.as_str(), body["errorCode"].as_i64()),
        ("ErrorResponse", Some(400)),
        "{body}"
    );
    // a persistent instance: refused
    let (kind, _) = good.request("InstanceRequest", json!({"serviceName": "p", "type": "registerInstance", "instance": {"ip": "1.1.1.1", "port": 1, "ephemeral": false}}));
    assert_eq!(kind, "ErrorResponse");
    // an oversized message: refused before it is buffered whole
    let big = "x".repeat(100_000);
    let (kind, _) = good.request(
        "InstanceRequest",
        json!({"type": "registerInstance", "pad": big}),
    );
    assert_eq!(kind, "ErrorResponse");
    wait_until(CONVERGE, "the rejections to be counted", || {
        let n = c.metric(0, "runtime_grpc_rejected");
        if n >= before + 4 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    });
    // malformed HTTP/2 after the preface: the connection is closed
    let errors = c.metric(0, "runtime_grpc_protocol_errors");
    let mut raw = TcpStream::connect(c.native_addr(0)).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    raw.write_all(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x07\x00\x00\x00\x00\x00garbage-garbage",
    )
    .unwrap();
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);
    wait_until(CONVERGE, "the protocol error to be counted", || {
        let n = c.metric(0, "runtime_grpc_protocol_errors");
        if n > errors {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    });
    // a bad payload on the bi-stream: an error answer there, the connection stays
    good.send_on_bi(grpc_message("NoSuchRequest", &json!({"requestId": "b1"})));
    // the good client and its registration are still there
    let (kind, _) = good.request("HealthCheckRequest", json!({}));
    assert_eq!(kind, "HealthCheckResponse");
    wait_for_addrs(&c, 0, "g2b", &["10.9.2.1:1"]);
}
