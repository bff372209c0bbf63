use super::*;
use crate::request::{ApiError, HostView};
use prost::Message as _;
use serde_json::Value;

fn payload(kind: &str, body: &str) -> Vec<u8> {
    Payload {
        metadata: Some(Metadata {
            r#type: kind.into(),
            client_ip: "10.0.0.9".into(),
            headers: [("accessToken".to_string(), "t".to_string())].into(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: body.as_bytes().to_vec(),
        }),
    }
    .encode_to_vec()
}

/// The type name and JSON body of an encoded payload.
fn open(bytes: &[u8]) -> (String, Value) {
    let p = Payload::decode(bytes).unwrap();
    let body = serde_json::from_slice(&p.body.unwrap().value).unwrap();
    (p.metadata.unwrap().r#type, body)
}

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn a_java_register_becomes_a_register_request() {
    let body = r#"{"headers":{"app":"x"},"requestId":"7","namespace":"public","serviceName":"orders","groupName":"DEFAULT_GROUP","module":"naming","type":"registerInstance","instance":{"instanceId":null,"ip":"10.1.2.3","port":8080,"weight":2.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"c1","serviceName":null,"metadata":{"k":"v"},"instanceHeartBeatInterval":5000},"unknownField":1}"#;
    let m = decode(&payload("InstanceRequest", body), &limits()).unwrap();
    let Message::Request {
        request_id,
        request,
        answer,
        headers,
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!(request_id, "7");
    assert_eq!(answer, Answer::Instance("registerInstance"));
    assert_eq!(headers["accessToken"], "t");
    let Request::Register { service, instance } = *request else {
        panic!()
    };
    assert_eq!(
        (&*service.name, &*service.group),
        ("orders", "DEFAULT_GROUP")
    );
    assert_eq!(
        (&*instance.ip, instance.port, &*instance.cluster),
        ("10.1.2.3", 8080, "c1")
    );
    assert_eq!(
        (instance.weight, instance.metadata["k"].as_str()),
        (2.0, "v")
    );
}

#[test]
fn requests_map_onto_the_cores_requests() {
    let cases = [
        ("HealthCheckRequest", r#"{"requestId":"1"}"#, "Ping"),
        (
            "SubscribeServiceRequest",
            r#"{"requestId":"2","serviceName":"s","groupName":"g","subscribe":true,"clusters":""}"#,
            "Subscribe",
        ),
        (
            "SubscribeServiceRequest",
            r#"{"requestId":"3","serviceName":"s","subscribe":false,"clusters":null}"#,
            "Unsubscribe",
        ),
        (
            "ServiceQueryRequest",
            r#"{"requestId":"4","serviceName":"g@@s","cluster":"","healthyOnly":true,"udpPort":0}"#,
            "List",
        ),
        (
            "ServiceListRequest",
            r#"{"requestId":"5","namespace":"","groupName":"g","pageNo":2,"pageSize":20}"#,
            "ListServices",
        ),
        (
            "BatchInstanceRequest",
            r#"{"requestId":"6","serviceName":"s","type":"batchRegisterInstance","instances":[{"ip":"1.1.1.1","port":1},{"ip":"1.1.1.2","port":2}]}"#,
            "BatchRegister",
        ),
        (
            "InstanceRequest",
            r#"{"requestId":"8","serviceName":"s","type":"deregisterInstance","instance":{"ip":"1.1.1.1","port":1}}"#,
            "Deregister",
        ),
    ];
    for (kind, body, want) in cases {
        match decode(&payload(kind, body), &limits()) {
            Ok(Message::Request { request, .. }) => {
                assert!(
                    format!("{request:?}").starts_with(want),
                    "{kind}: {request:?}"
                )
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
    assert_eq!(
        decode(
            &payload("ServerCheckRequest", r#"{"requestId":"9"}"#),
            &limits()
        ),
        Ok(Message::ServerCheck {
            request_id: "9".into()
        })
    );
    assert_eq!(
        decode(&payload("ClientDetectionResponse", "{}"), &limits()),
        Ok(Message::ProbeAnswered)
    );
}

#[test]
fn bad_messages_are_typed_rejections() {
    let cases = [
        (
            payload("NoSuchRequest", r#"{"requestId":"1"}"#),
            NO_HANDLER,
            "1",
        ),
        (payload("InstanceRequest", "{not json"), BAD_REQUEST, ""),
        (
            payload(
                "InstanceRequest",
                r#"{"requestId":"2","type":"registerInstance","instance":{"ip":"1.1.1.1","port":70000}}"#,
            ),
            BAD_REQUEST,
            "2",
        ),
        (
            payload(
                "InstanceRequest",
                r#"{"requestId":"3","type":"registerInstance","instance":{"ip":"1.1.1.1","port":1,"ephemeral":false}}"#,
            ),
            BAD_REQUEST,
            "3",
        ),
        (
            payload("PersistentInstanceRequest", r#"{"requestId":"4"}"#),
            BAD_REQUEST,
            "4",
        ),
        (
            payload(
                "InstanceRequest",
                r#"{"requestId":"5","type":"weird","instance":{"ip":"1.1.1.1","port":1}}"#,
            ),
            BAD_REQUEST,
            "5",
        ),
        (vec![0xff, 0xff, 0xff], BAD_REQUEST, ""),
    ];
    for (bytes, code, id) in cases {
        let r = decode(&bytes, &limits()).unwrap_err();
        assert_eq!((r.code, r.request_id.as_str()), (code, id), "{r:?}");
        let (kind, body) = open(&error_response(&r));
        assert_eq!(kind, "ErrorResponse");
        assert_eq!(body["resultCode"], 500);
        assert_eq!(body["errorCode"], code);
    }
    let mut tight = limits();
    tight.max_frame_len = 10;
    assert!(decode(&payload("HealthCheckRequest", "{}"), &tight).is_err());
}

fn view() -> ServiceView {
    ServiceView {
        service: ServiceKey::parse(Some("public"), Some("g"), "s"),
        clusters: String::new(),
        hosts: vec![HostView {
            instance_id: "1.1.1.1#80#DEFAULT#g@@s".into(),
            ip: "1.1.1.1".into(),
            port: 80,
            weight: 1.0,
            healthy: true,
            enabled: true,
            cluster: "DEFAULT".into(),
            metadata: Default::default(),
            beat_interval_ms: 5000,
            beat_timeout_ms: 15000,
            delete_timeout_ms: 30000,
        }],
        reach_protection_threshold: false,
        cache_millis: 10_000,
    }
}

#[test]
fn responses_carry_every_field_clients_require() {
    let v = std::sync::Arc::new(view());
    let cases = [
        (
            Answer::Instance("registerInstance"),
            Reply::Ok,
            "InstanceResponse",
        ),
        (Answer::HealthCheck, Reply::Pong, "HealthCheckResponse"),
        (Answer::BatchInstance, Reply::Ok, "BatchInstanceResponse"),
        (
            Answer::Query,
            Reply::Service(v.clone()),
            "QueryServiceResponse",
        ),
        (
            Answer::Subscribe,
            Reply::Service(v.clone()),
            "SubscribeServiceResponse",
        ),
        (
            Answer::ServiceList,
            Reply::ServiceNames {
                count: 3,
                names: vec!["a".into()],
            },
            "ServiceListResponse",
        ),
        (
            Answer::Instance("registerInstance"),
            Reply::Error(ApiError::bad_request("no")),
            "ErrorResponse",
        ),
    ];
    for (answer, reply, want) in cases {
        let (kind, body) = open(&response(&answer, "42", &reply, 7));
        assert_eq!(kind, want);
        for field in ["resultCode", "errorCode", "message", "requestId"] {
            assert!(body.get(field).is_some(), "{want} lacks {field}: {body}");
        }
        assert_eq!(body["requestId"], "42");
        if let Some(info) = body.get("serviceInfo") {
            for field in [
                "name",
                "groupName",
                "clusters",
                "cacheMillis",
                "hosts",
                "lastRefTime",
                "checksum",
                "allIps",
                "reachProtectionThreshold",
            ] {
                assert!(
                    info.get(field).is_some(),
                    "serviceInfo lacks {field}: {info}"
                );
            }
            assert_eq!(
                (info["name"].as_str(), info["groupName"].as_str()),
                (Some("s"), Some("g"))
            );
            let host = &info["hosts"][0];
            for field in [
                "ip",
                "port",
                "weight",
                "healthy",
                "enabled",
                "ephemeral",
                "clusterName",
                "serviceName",
                "metadata",
                "instanceId",
            ] {
                assert!(host.get(field).is_some(), "host lacks {field}: {host}");
            }
        }
    }
    let (_, body) = open(&response(
        &Answer::ServiceList,
        "1",
        &Reply::ServiceNames {
            count: 3,
            names: vec!["a".into()],
        },
        0,
    ));
    assert_eq!(
        (body["count"].as_u64(), body["serviceNames"][0].as_str()),
        (Some(3), Some("a"))
    );
}

#[test]
fn server_requests_carry_headers_request_id_and_module() {
    let (kind, body) = open(&push(&view(), "p1", 99));
    assert_eq!(kind, "NotifySubscriberRequest");
    assert_eq!(
        (body["requestId"].as_str(), body["module"].as_str()),
        (Some("p1"), Some("naming"))
    );
    assert!(body["headers"].is_object());
    assert_eq!(body["serviceName"], "s");
    assert_eq!(body["serviceInfo"]["lastRefTime"], 99);
    let (kind, body) = open(&probe("p2"));
    assert_eq!(kind, "ClientDetectionRequest");
    assert_eq!(
        (body["requestId"].as_str(), body["module"].as_str()),
        (Some("p2"), Some("internal"))
    );
    assert!(body["headers"].is_object());
    let (kind, body) = open(&server_check_response("r", "conn-7"));
    assert_eq!(kind, "ServerCheckResponse");
    assert_eq!(body["connectionId"], "conn-7");
    assert_eq!(body["supportAbilityNegotiation"], false);
}
