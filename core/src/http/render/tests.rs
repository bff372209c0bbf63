use super::*;
use crate::http::fixtures::{example_host, host, svc, view, EXAMPLE_HOST_JSON};
use crate::{
    InstanceDetail, MemberId, MemberView, MetricsView, ServiceDetail, BEAT_NOT_FOUND, BEAT_OK,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Renders `reply`, checks the framing and returns (status line, Content-Type, body).
fn render(reply: &Reply) -> (String, String, String) {
    let mut out = Vec::new();
    render_reply(reply, true, 1_700_000_000_000, &mut out);
    split(&out, "keep-alive")
}

fn split(out: &[u8], connection: &str) -> (String, String, String) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{head}");
    assert_eq!(lines[2], format!("Content-Length: {}", body.len()));
    assert_eq!(lines[3], format!("Connection: {connection}"));
    let content_type = lines[1]
        .strip_prefix("Content-Type: ")
        .expect("content type");
    (
        lines[0].to_string(),
        content_type.to_string(),
        body.to_string(),
    )
}

#[test]
fn list_matches_the_nacos_2x_shape_byte_for_byte() {
    let (status, ctype, body) = render(&Reply::Service(Arc::new(view(vec![example_host()]))));
    assert_eq!(
        (status.as_str(), ctype.as_str()),
        ("HTTP/1.1 200 OK", "application/json")
    );
    let expected = format!(
        r#"{{"name":"DEFAULT_GROUP@@svc","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,"hosts":[{EXAMPLE_HOST_JSON}],"lastRefTime":1700000000000,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true}}"#
    );
    assert_eq!(body, expected);
    // The reference document's example, field order aside, is the same object.
    let reference = r#"{"name":"DEFAULT_GROUP@@svc","groupName":"DEFAULT_GROUP","clusters":"",
 "cacheMillis":10000,"lastRefTime":1700000000000,"checksum":"","allIPs":false,
 "reachProtectionThreshold":false,"valid":true,
 "hosts":[{"instanceId":"127.0.0.1#18081#DEFAULT#DEFAULT_GROUP@@svc","ip":"127.0.0.1","port":18081,
   "weight":2.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",
   "serviceName":"DEFAULT_GROUP@@svc","metadata":{"version":"v1"},
   "instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,"ipDeleteTimeout":30000,
   "instanceIdGenerator":"simple"}]}"#;
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(parse(&body), parse(reference));
}

#[test]
fn list_of_an_unknown_service_has_empty_hosts_and_echoes_clusters() {
    let mut v = view(vec![]);
    v.clusters = "DEFAULT,C2".into();
    v.reach_protection_threshold = true;
    let (status, _, body) = render(&Reply::Service(Arc::new(v)));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        body.contains(r#""clusters":"DEFAULT,C2","cacheMillis":10000,"hosts":[],"#),
        "{body}"
    );
    assert!(
        body.contains(r#""reachProtectionThreshold":true"#),
        "{body}"
    );
}

#[test]
fn weights_render_as_floats_python_reads_as_float() {
    let hosts = vec![
        host("10.0.0.1", 1, 1.0, &[]),
        host("10.0.0.2", 2, 0.5, &[]),
        host("10.0.0.3", 3, 10000.0, &[]),
    ];
    let (_, _, body) = render(&Reply::Service(Arc::new(view(hosts))));
    assert!(body.contains(r#""weight":1.0,"#), "{body}");
    assert!(body.contains(r#""weight":0.5,"#), "{body}");
    assert!(body.contains(r#""weight":10000.0,"#), "{body}");
}

#[test]
fn hosts_are_byte_identical_between_renders_at_different_times() {
    let v = view(vec![
        example_host(),
        host("10.0.0.9", 9, 3.0, &[("k", "v")]),
    ]);
    let hosts_of = |epoch: u64| {
        let mut out = Vec::new();
        render_reply(&Reply::Service(Arc::new(v.clone())), true, epoch, &mut out);
        let body = String::from_utf8(out).unwrap();
        let start = body.find(r#""hosts":"#).unwrap();
        let end = body.find(r#","lastRefTime""#).unwrap();
        (body[start..end].to_string(), body)
    };
    let (a, body_a) = hosts_of(1);
    let (b, body_b) = hosts_of(2_000_000_000_000);
    assert_eq!(a, b);
    assert_ne!(body_a, body_b, "lastRefTime is the clock");
}

#[test]
fn awkward_metadata_is_escaped_and_survives_a_round_trip() {
    let tricky = [
        ("note", "x=y,&+%"),
        ("quote", "say \"hi\"\\"),
        ("ctl", "a\u{1}\n"),
        ("uni", "zürich 東京 😀"),
    ];
    let (_, _, body) = render(&Reply::Service(Arc::new(view(vec![host(
        "10.0.0.1", 1, 1.0, &tricky,
    )]))));
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let md = &parsed["hosts"][0]["metadata"];
    for (k, v) in tricky {
        assert_eq!(md[k], *v, "{k}");
    }
}

#[test]
fn appends_after_bytes_already_in_the_buffer() {
    let mut out = b"previous response".to_vec();
    render_reply(&Reply::Ok, false, 0, &mut out);
    assert!(out.starts_with(b"previous response"));
    let (status, ctype, body) = split(&out[b"previous response".len()..], "close");
    assert_eq!(
        (status.as_str(), ctype.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "text/plain; charset=utf-8", "ok")
    );
}

#[test]
fn ok_is_the_exact_text_ok() {
    let mut out = Vec::new();
    render_reply(&Reply::Ok, true, 0, &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
    );
}

#[test]
fn beat_golden() {
    let (_, ctype, body) = render(&Reply::Beat {
        client_beat_interval_ms: 5000,
        code: BEAT_OK,
    });
    assert_eq!(ctype, "application/json");
    assert_eq!(
        body,
        r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":false}"#
    );
    let (_, _, body) = render(&Reply::Beat {
        client_beat_interval_ms: 1000,
        code: BEAT_NOT_FOUND,
    });
    assert_eq!(
        body,
        r#"{"clientBeatInterval":1000,"code":20404,"lightBeatEnabled":false}"#
    );
}

#[test]
fn instance_detail_golden() {
    let detail = InstanceDetail {
        service: svc(),
        host: example_host(),
    };
    let (_, _, body) = render(&Reply::Instance(Box::new(detail)));
    assert_eq!(
        body,
        r#"{"service":"DEFAULT_GROUP@@svc","ip":"127.0.0.1","port":18081,"clusterName":"DEFAULT","weight":2.0,"healthy":true,"instanceId":"127.0.0.1#18081#DEFAULT#DEFAULT_GROUP@@svc","metadata":{"version":"v1"}}"#
    );
}

#[test]
fn service_detail_golden() {
    let detail = ServiceDetail {
        service: svc(),
        protect_threshold: 0.5,
        metadata: [("k".to_string(), "v".to_string())].into(),
        clusters: vec![Arc::from("DEFAULT"), Arc::from("C2")],
    };
    let (_, _, body) = render(&Reply::ServiceDetail(Box::new(detail)));
    assert_eq!(
        body,
        r#"{"namespaceId":"public","groupName":"DEFAULT_GROUP","name":"svc","protectThreshold":0.5,"metadata":{"k":"v"},"selector":{"type":"none","contextType":"NONE"},"clusters":[{"name":"DEFAULT","healthChecker":{"type":"TCP"},"metadata":{}},{"name":"C2","healthChecker":{"type":"TCP"},"metadata":{}}]}"#
    );
}

#[test]
fn service_names_golden() {
    let (_, _, body) = render(&Reply::ServiceNames {
        count: 12,
        names: vec![Arc::from("a"), Arc::from("b")],
    });
    assert_eq!(body, r#"{"count":12,"doms":["a","b"]}"#);
}

#[test]
fn catalog_hosts_are_list_hosts() {
    let (_, _, body) = render(&Reply::Catalog {
        service: crate::ServiceKey::parse(None, None, "svc"),
        count: 7,
        hosts: vec![example_host()],
    });
    assert_eq!(
        body,
        format!(r#"{{"list":[{EXAMPLE_HOST_JSON}],"count":7}}"#)
    );
}

fn metrics() -> MetricsView {
    MetricsView {
        status: "UP".into(),
        service_count: 1,
        instance_count: 2,
        subscribe_count: 3,
        client_count: 4,
        connection_client_count: 5,
        ip_port_client_count: 6,
        responsible_client_count: 7,
        responsible_instance_count: 8,
    }
}

#[test]
fn metrics_golden() {
    let (_, _, body) = render(&Reply::Metrics {
        only_status: true,
        metrics: Box::new(metrics()),
    });
    assert_eq!(body, r#"{"status":"UP"}"#);
    let (_, _, body) = render(&Reply::Metrics {
        only_status: false,
        metrics: Box::new(metrics()),
    });
    assert_eq!(
        body,
        r#"{"status":"UP","serviceCount":1,"instanceCount":2,"subscribeCount":3,"clientCount":4,"connectionBasedClientCount":5,"ephemeralIpPortClientCount":6,"persistentIpPortClientCount":0,"responsibleClientCount":7,"responsibleInstanceCount":8}"#
    );
}

#[test]
fn responsible_and_members_golden() {
    let (_, _, body) = render(&Reply::Responsible {
        server: MemberId::new("10.0.0.2:8848"),
    });
    assert_eq!(body, r#"{"responsibleServer":"10.0.0.2:8848"}"#);
    let members = vec![
        MemberView {
            id: MemberId::new("10.0.0.1:8848"),
            state: "UP".into(),
            fail_count: 0,
            is_self: true,
        },
        MemberView {
            id: MemberId::new("[::1]:8849"),
            state: "DOWN".into(),
            fail_count: 4,
            is_self: false,
        },
    ];
    let (_, _, body) = render(&Reply::Members(members));
    assert_eq!(
        body,
        r#"{"code":200,"message":null,"data":[{"ip":"10.0.0.1","port":8848,"state":"UP","address":"10.0.0.1:8848","failAccessCnt":0,"extendInfo":{},"abilities":{}},{"ip":"::1","port":8849,"state":"DOWN","address":"[::1]:8849","failAccessCnt":4,"extendInfo":{},"abilities":{}}]}"#
    );
}

#[test]
fn health_prometheus_and_pong() {
    assert_eq!(
        render(&Reply::Health { ok: true }),
        ("HTTP/1.1 200 OK".into(), TEXT.into(), "OK".into())
    );
    assert_eq!(
        render(&Reply::Health { ok: false }),
        (
            "HTTP/1.1 503 Service Unavailable".into(),
            TEXT.into(),
            "not ready".into()
        )
    );
    let (status, ctype, body) = render(&Reply::Prometheus("distro_up 1\n".into()));
    assert_eq!(
        (status.as_str(), ctype.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", PROMETHEUS, "distro_up 1\n")
    );
    assert_eq!(render(&Reply::Pong).2, "pong");
}

#[test]
fn errors_carry_their_status_reason_and_message() {
    let (status, ctype, body) = render(&Reply::Error(ApiError::not_found("no such API: /x")));
    assert_eq!(
        (status.as_str(), ctype.as_str(), body.as_str()),
        ("HTTP/1.1 404 Not Found", TEXT, "no such API: /x")
    );
    for (code, line) in [
        (400, "HTTP/1.1 400 Bad Request"),
        (405, "HTTP/1.1 405 Method Not Allowed"),
        (413, "HTTP/1.1 413 Payload Too Large"),
        (431, "HTTP/1.1 431 Request Header Fields Too Large"),
        (500, "HTTP/1.1 500 Internal Server Error"),
        (503, "HTTP/1.1 503 Service Unavailable"),
        (418, "HTTP/1.1 418 Client Error"),
        (0, "HTTP/1.1 500 Internal Server Error"),
    ] {
        let mut out = Vec::new();
        render_error(
            &ApiError {
                status: code,
                message: "m".into(),
            },
            false,
            &mut out,
        );
        let (status, _, body) = split(&out, "close");
        assert_eq!((status.as_str(), body.as_str()), (line, "m"));
    }
}

#[test]
fn empty_metadata_renders_as_an_object() {
    let mut h = example_host();
    h.metadata = BTreeMap::new();
    let (_, _, body) = render(&Reply::Instance(Box::new(InstanceDetail {
        service: svc(),
        host: h,
    })));
    assert!(body.ends_with(r#""metadata":{}}"#), "{body}");
}

#[test]
fn the_render_cache_gives_the_same_bytes_with_the_current_clock() {
    let view = std::sync::Arc::new(crate::ServiceView {
        service: crate::ServiceKey::parse(None, None, "svc"),
        clusters: String::new(),
        hosts: vec![example_host(), example_host()],
        reach_protection_threshold: false,
        cache_millis: 3000,
    });
    let reply = Reply::Service(view.clone());
    let mut cache = super::RenderCache::default();
    for (epoch, keep_alive) in [
        (1_700_000_000_000u64, true),
        (1_700_000_000_123, false),
        (5, true),
    ] {
        let mut fresh = Vec::new();
        render_reply(&reply, keep_alive, epoch, &mut fresh);
        let mut cached = b"earlier bytes".to_vec();
        cache.render_reply(&reply, keep_alive, epoch, &mut cached);
        assert_eq!(&cached[13..], &fresh[..], "epoch {epoch}");
    }
    // another view (even with equal content) is rendered on its own
    let other = Reply::Service(std::sync::Arc::new((*view).clone()));
    let mut out = Vec::new();
    cache.render_reply(&other, true, 9, &mut out);
    let mut fresh = Vec::new();
    render_reply(&other, true, 9, &mut fresh);
    assert_eq!(out, fresh);
}
