use super::*;
use crate::http::parse_request;
use crate::ServiceKey;
use std::collections::BTreeMap;

mod clients;

const PEER: &str = "127.0.0.1:40000";

fn http(method_and_target: &str) -> HttpRequest {
    let raw = format!("{method_and_target} HTTP/1.1\r\nHost: x\r\n\r\n");
    parse_request(raw.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap()
        .0
}

fn route_with(line: &str, opts: &ApiOptions, limits: &Limits) -> Result<Request, ApiError> {
    to_request(&http(line), Some(PEER.parse().unwrap()), opts, limits)
}

fn route(line: &str) -> Result<Request, ApiError> {
    route_with(line, &ApiOptions::default(), &Limits::default())
}

fn ok(line: &str) -> Request {
    route(line).unwrap_or_else(|e| panic!("{line}: {e:?}"))
}

/// The error status and message of a request that must fail.
fn err(line: &str) -> (u16, String) {
    let e = route(line).expect_err(line);
    (e.status, e.message)
}

fn key(group: &str, name: &str) -> ServiceKey {
    ServiceKey::new("public", group, name)
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn awkward() -> BTreeMap<String, String> {
    meta(&[("version", "v1"), ("zone", "z a"), ("note", "x=y,&+%")])
}

#[test]
fn light_beat_takes_ip_and_port_from_the_query_and_does_not_register() {
    let beat =
        ok("PUT /nacos/v1/ns/instance/beat?serviceName=svc&ip=10.0.0.5&port=8080&clusterName=C");
    assert_eq!(
        beat,
        Request::Beat {
            service: key("DEFAULT_GROUP", "svc"),
            ip: Arc::from("10.0.0.5"),
            port: 8080,
            register: None
        }
    );
    assert_eq!(
        err("PUT /nacos/v1/ns/instance/beat?serviceName=svc&port=8080"),
        (400, "Param 'ip' is required.".into())
    );
    assert_eq!(
        err("PUT /nacos/v1/ns/instance/beat?serviceName=svc&ip=1.1.1.1"),
        (400, "Param 'port' is required.".into())
    );
}

#[test]
fn beat_body_ip_and_port_override_the_query_and_name_the_service_when_absent() {
    let body = r#"{"ip":"10.0.0.9","port":"9090","serviceName":"G@@svc","weight":"3","metadata":{"n":1,"b":true,"z":null,"o":{"x":[1]}}}"#;
    let line = format!(
        "PUT /nacos/v1/ns/instance/beat?ip=10.0.0.1&port=1&beat={}",
        encode(body)
    );
    let Request::Beat {
        service,
        ip,
        port,
        register,
    } = ok(&line)
    else {
        panic!()
    };
    assert_eq!((service, &*ip, port), (key("G", "svc"), "10.0.0.9", 9090));
    let inst = register.unwrap();
    assert_eq!(inst.weight, 3.0);
    assert_eq!(
        inst.metadata,
        meta(&[("n", "1"), ("b", "true"), ("z", ""), ("o", r#"{"x":[1]}"#)])
    );
}

#[test]
fn bad_beat_bodies_are_400() {
    for body in [
        r#"{"ip":"1.1.1.1","port":1"#,
        "[1]",
        r#"{"ip":5,"port":1}"#,
        r#"{"ip":"a","port":70000}"#,
        r#"{"ip":"a","port":1,"weight":10001}"#,
        r#"{"ip":"a","port":1,"ephemeral":false}"#,
        r#"{"ip":"a","port":1,"metadata":[1]}"#,
    ] {
        let line = format!(
            "PUT /nacos/v1/ns/instance/beat?serviceName=s&beat={}",
            encode(body)
        );
        assert_eq!(route(&line).map_err(|e| e.status), Err(400), "{body}");
    }
    assert_eq!(
        err(&format!(
            "PUT /nacos/v1/ns/instance/beat?beat={}",
            encode(r#"{"ip":"a","port":1}"#)
        )),
        (400, "Param 'serviceName' is required.".into())
    );
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn register_defaults_and_legacy_names() {
    let Request::Register { service, instance } =
        ok("POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80")
    else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "s"));
    assert_eq!(instance, Instance::new("1.2.3.4", 80));
    let line = "POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&cluster=legacy&enable=FALSE&healthy=false&namespaceId=ns1&groupName=G";
    let Request::Register { service, instance } = ok(line) else {
        panic!()
    };
    assert_eq!(service, ServiceKey::new("ns1", "G", "s"));
    assert_eq!(
        (&*instance.cluster, instance.enabled, instance.healthy),
        ("legacy", false, false)
    );
    // `enabled` and `clusterName` win over their legacy forms.
    let line = "POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&cluster=legacy&clusterName=new&enable=false&enabled=True";
    let Request::Register { instance, .. } = ok(line) else {
        panic!()
    };
    assert_eq!((&*instance.cluster, instance.enabled), ("new", true));
}

#[test]
fn register_metadata_forms() {
    let reg = |md: &str| match route(&format!(
        "POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&metadata={md}"
    )) {
        Ok(Request::Register { instance, .. }) => Ok(instance.metadata),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.status),
    };
    assert_eq!(
        reg("a%3D1%2Cb%3Dx+y"),
        Ok(meta(&[("a", "1"), ("b", "x y")]))
    );
    assert_eq!(reg(""), Ok(BTreeMap::new()));
    assert_eq!(reg("%7B%7D"), Ok(BTreeMap::new()));
    assert_eq!(
        reg("%7B%22w%22%3A2.0%2C%22n%22%3A3%7D"),
        Ok(meta(&[("w", "2.0"), ("n", "3")]))
    );
    assert_eq!(reg("%7B%22a%22%3A"), Err(400));
    assert_eq!(reg("novalue"), Err(400));
    assert_eq!(reg("a%3Db%3Dc"), Err(400));
}

#[test]
fn metadata_over_the_limits_is_400() {
    let limits = Limits {
        max_metadata_entries: 2,
        max_metadata_value_len: 5,
        ..Limits::default()
    };
    let reg = |md: &str| {
        let line =
            format!("POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&metadata={md}");
        route_with(&line, &ApiOptions::default(), &limits)
            .map(|_| ())
            .map_err(|e| e.status)
    };
    assert_eq!(reg("a%3D1%2Cb%3D2"), Ok(()));
    assert_eq!(reg("a%3D1%2Cb%3D2%2Cc%3D3"), Err(400));
    assert_eq!(
        reg("%7B%22a%22%3A1%2C%22b%22%3A2%2C%22c%22%3A3%7D"),
        Err(400)
    );
    assert_eq!(reg("a%3D123456"), Err(400));
    assert_eq!(reg("abcdef%3D1"), Err(400));
}

#[test]
fn missing_required_params_are_400_in_nacos_words() {
    let missing = |line: &str, name: &str| {
        assert_eq!(
            err(line),
            (400, format!("Param '{name}' is required.")),
            "{line}"
        )
    };
    missing(
        "POST /nacos/v1/ns/instance?ip=1.2.3.4&port=80",
        "serviceName",
    );
    missing(
        "POST /nacos/v1/ns/instance?serviceName=&ip=1.2.3.4&port=80",
        "serviceName",
    );
    missing("POST /nacos/v1/ns/instance?serviceName=s&port=80", "ip");
    missing(
        "POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4",
        "port",
    );
    missing(
        "DELETE /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4",
        "port",
    );
    missing("GET /nacos/v1/ns/instance/list", "serviceName");
    missing("GET /nacos/v1/ns/operator/distro/client?ip=1.2.3.4", "port");
    missing("GET /nacos/v1/ns/service", "serviceName");
}

#[test]
fn bad_numbers_and_booleans_are_400_naming_the_param() {
    let base = "POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4";
    for (extra, name) in [
        ("port=http", "port"),
        ("port=65536", "port"),
        ("port=-1", "port"),
        ("port=80&weight=heavy", "weight"),
        ("port=80&weight=10000.5", "weight"),
        ("port=80&weight=-1", "weight"),
        ("port=80&weight=NaN", "weight"),
        ("port=80&healthy=yes", "healthy"),
        ("port=80&enable=1", "enable"),
    ] {
        let (status, msg) = err(&format!("{base}&{extra}"));
        assert_eq!(status, 400, "{extra}");
        assert!(msg.contains(&format!("'{name}'")), "{extra}: {msg}");
    }
    let Request::Register { instance, .. } =
        ok(&format!("{base}&port=80&weight=10000&healthy=TRUE"))
    else {
        panic!()
    };
    assert_eq!((instance.weight, instance.healthy), (10000.0, true));
}

#[test]
fn persistent_instances_are_rejected() {
    let (status, msg) =
        err("POST /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&ephemeral=False");
    assert_eq!(
        (status, msg.as_str()),
        (400, "persistent instances are not supported")
    );
    assert_eq!(
        err("PUT /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&ephemeral=false").0,
        400
    );
}

#[test]
fn names_over_the_limit_or_with_control_characters_are_400() {
    let limits = Limits {
        max_name_len: 8,
        ..Limits::default()
    };
    let reg = |q: &str| {
        let line = format!("POST /nacos/v1/ns/instance?{q}");
        route_with(&line, &ApiOptions::default(), &limits)
            .map(|_| ())
            .map_err(|e| e.status)
    };
    assert_eq!(reg("serviceName=G@@12345678&ip=1.2.3.4&port=1"), Ok(()));
    assert_eq!(reg("serviceName=123456789&ip=1.2.3.4&port=1"), Err(400));
    assert_eq!(
        reg("serviceName=s&groupName=123456789&ip=1.2.3.4&port=1"),
        Err(400)
    );
    assert_eq!(
        reg("serviceName=s&namespaceId=123456789&ip=1.2.3.4&port=1"),
        Err(400)
    );
    assert_eq!(
        reg("serviceName=s&ip=1.2.3.4&port=1&clusterName=123456789"),
        Err(400)
    );
    assert_eq!(reg("serviceName=s&ip=123456789&port=1"), Err(400));
    assert_eq!(reg("serviceName=s%0A&ip=1.2.3.4&port=1"), Err(400));
    assert_eq!(reg("serviceName=s&ip=1.2.3.4%00&port=1"), Err(400));
}

#[test]
fn grouped_names_keep_their_group_and_malformed_ones_are_400() {
    let Request::GetService { service } =
        ok("GET /nacos/v1/ns/service?serviceName=G1%40%40svc&groupName=G2")
    else {
        panic!()
    };
    assert_eq!(service, key("G1", "svc"));
    assert_eq!(
        err("GET /nacos/v1/ns/service?serviceName=DEFAULT_GROUP%40%40").0,
        400
    );
    assert_eq!(
        err("GET /nacos/v1/ns/service?serviceName=a%40%40b%40%40c").0,
        400
    );
    assert_eq!(
        err("GET /nacos/v1/ns/service?serviceName=svc&groupName=a%40%40b").0,
        400
    );
}

#[test]
fn update_with_put_merges_and_patch_replaces_and_only_given_fields_are_set() {
    let put = ok("PUT /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80");
    assert_eq!(
        put,
        Request::Update {
            service: key("DEFAULT_GROUP", "s"),
            ip: Arc::from("1.2.3.4"),
            port: 80,
            weight: None,
            enabled: None,
            metadata: None,
            replace_metadata: false
        }
    );
    let Request::Update {
        enabled,
        metadata,
        replace_metadata,
        ..
    } = ok(
        "PATCH /nacos/v1/ns/instance?serviceName=s&ip=1.2.3.4&port=80&enabled=false&metadata=a%3D1",
    )
    else {
        panic!()
    };
    assert_eq!(
        (enabled, metadata, replace_metadata),
        (Some(false), Some(meta(&[("a", "1")])), true)
    );
}

#[test]
fn service_endpoints() {
    assert_eq!(
        ok("GET /nacos/v1/ns/service?serviceName=s"),
        Request::GetService {
            service: key("DEFAULT_GROUP", "s")
        }
    );
    assert_eq!(
        ok("DELETE /nacos/v1/ns/service?serviceName=s"),
        Request::DeleteService {
            service: key("DEFAULT_GROUP", "s")
        }
    );
    assert_eq!(
        ok("POST /nacos/v1/ns/service?serviceName=s&protectThreshold=0.5&metadata=k%3Dv"),
        Request::CreateService {
            service: key("DEFAULT_GROUP", "s"),
            protect_threshold: 0.5,
            metadata: meta(&[("k", "v")])
        }
    );
    assert_eq!(
        ok("POST /nacos/v1/ns/service?serviceName=s"),
        Request::CreateService {
            service: key("DEFAULT_GROUP", "s"),
            protect_threshold: 0.0,
            metadata: BTreeMap::new()
        }
    );
    assert_eq!(
        ok("PUT /nacos/v1/ns/service?serviceName=s&protectThreshold=1"),
        Request::UpdateService {
            service: key("DEFAULT_GROUP", "s"),
            protect_threshold: 1.0,
            metadata: None
        }
    );
    assert_eq!(
        err("PUT /nacos/v1/ns/service?serviceName=s&protectThreshold=1.5").0,
        400
    );
    assert_eq!(
        err("POST /nacos/v1/ns/service?serviceName=s&protectThreshold=-0.1").0,
        400
    );
}

#[test]
fn paging_endpoints_have_defaults_and_bounds() {
    assert_eq!(
        ok("GET /nacos/v1/ns/service/list"),
        Request::ListServices {
            namespace: Arc::from("public"),
            group: Arc::from("DEFAULT_GROUP"),
            page_no: 1,
            page_size: 10
        }
    );
    assert_eq!(
        ok("GET /nacos/v1/ns/service/list?pageNo=3&pageSize=10000&namespaceId=ns&groupName=G"),
        Request::ListServices {
            namespace: Arc::from("ns"),
            group: Arc::from("G"),
            page_no: 3,
            page_size: 10000
        }
    );
    assert_eq!(err("GET /nacos/v1/ns/service/list?pageSize=10001").0, 400);
    assert_eq!(err("GET /nacos/v1/ns/service/list?pageNo=0").0, 400);
    assert_eq!(
        ok("GET /nacos/v1/ns/catalog/instances?serviceName=s"),
        Request::CatalogInstances {
            service: key("DEFAULT_GROUP", "s"),
            cluster: None,
            page_no: 1,
            page_size: 100
        }
    );
    assert_eq!(
        ok("GET /nacos/v1/ns/catalog/instances?serviceName=s&clusterName=C&pageNo=2&pageSize=5"),
        Request::CatalogInstances {
            service: key("DEFAULT_GROUP", "s"),
            cluster: Some(Arc::from("C")),
            page_no: 2,
            page_size: 5
        }
    );
}

#[test]
fn operator_core_console_and_prometheus_endpoints() {
    assert_eq!(
        ok("GET /nacos/v1/ns/operator/metrics?onlyStatus=false"),
        Request::Metrics { only_status: false }
    );
    assert_eq!(
        ok("GET /nacos/v1/ns/ops/metrics"),
        Request::Metrics { only_status: true }
    );
    let client = Request::DistroClient {
        ip: Arc::from("10.0.0.5"),
        port: 8080,
    };
    assert_eq!(
        ok("GET /nacos/v1/ns/operator/distro/client?ip=10.0.0.5&port=8080"),
        client
    );
    assert_eq!(
        ok("GET /nacos/v1/ns/ops/distro/client?ip=10.0.0.5&port=8080"),
        client
    );
    assert_eq!(
        ok("GET /nacos/v1/core/cluster/nodes"),
        Request::ClusterNodes { keyword: None }
    );
    assert_eq!(
        ok("GET /nacos/v1/core/cluster/nodes?keyword=10.0"),
        Request::ClusterNodes {
            keyword: Some("10.0".into())
        }
    );
    assert_eq!(
        ok("GET /nacos/v1/console/health/liveness"),
        Request::Liveness
    );
    assert_eq!(
        ok("GET /nacos/v1/console/health/readiness"),
        Request::Readiness
    );
    assert_eq!(ok("GET /metrics"), Request::Prometheus);
    assert_eq!(
        ok("GET /nacos/v1/ns/service/list/"),
        ok("GET /nacos/v1/ns/service/list"),
        "one trailing slash is fine"
    );
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    assert_eq!(
        err("GET /nacos/v1/ns/nope"),
        (404, "no such API: /nacos/v1/ns/nope".into())
    );
    assert_eq!(err("GET /").0, 404);
    assert_eq!(err("GET /nacos/v1/ns").0, 404);
    assert_eq!(err("GET /nacos/v1/ns/instance/beat?serviceName=s").0, 405);
    assert_eq!(err("POST /nacos/v1/ns/instance/list?serviceName=s").0, 405);
    assert_eq!(err("DELETE /metrics").0, 405);
    assert_eq!(
        err("HEAD /nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=1").0,
        405
    );
}

#[test]
fn java_style_beat_in_a_form_body_is_read() {
    let body = format!(
        "beat={}",
        encode(
            r#"{"ip":"10.0.0.5","port":8080,"cluster":"C","weight":1.0,"scheduled":true,"period":5000,"stopped":false}"#
        )
    );
    let raw = format!(
        "PUT /nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%40%40svc&clusterName=C&ip=10.0.0.5&port=8080 HTTP/1.1\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (req, _) = parse_request(raw.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    let Ok(Request::Beat {
        register: Some(inst),
        ..
    }) = to_request(&req, None, &ApiOptions::default(), &Limits::default())
    else {
        panic!()
    };
    assert_eq!(
        (&*inst.ip, inst.port, &*inst.cluster),
        ("10.0.0.5", 8080, "C")
    );
}
