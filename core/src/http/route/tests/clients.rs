//! The exact request lines the Python (2.0.11) and Node.js (nacos-naming 2.6.3) SDKs send
//! (nacos-v1-clients.md section 5).

use super::*;
// Exact request lines of the Python SDK 2.0.11 (nacos-v1-clients.md section 5).
const PY_REGISTER_A: &str = "POST /nacos/v1/ns/instance?ip=127.0.0.1&port=18081&serviceName=py-check-1&weight=2.0&enable=True&healthy=True&clusterName=DEFAULT&ephemeral=True&groupName=DEFAULT_GROUP&metadata=%7B%22version%22%3A+%22v1%22%2C+%22zone%22%3A+%22z+a%22%2C+%22note%22%3A+%22x%3Dy%2C%26%2B%25%22%7D";
const PY_BEAT_A: &str = "PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40py-check-1&beat=%7B%22serviceName%22%3A+%22DEFAULT_GROUP%40%40py-check-1%22%2C+%22ip%22%3A+%22127.0.0.1%22%2C+%22port%22%3A+18081%2C+%22weight%22%3A+2.0%2C+%22ephemeral%22%3A+true%2C+%22cluster%22%3A+%22DEFAULT%22%2C+%22metadata%22%3A+%7B%22version%22%3A+%22v1%22%2C+%22zone%22%3A+%22z+a%22%2C+%22note%22%3A+%22x%3Dy%2C%26%2B%25%22%7D%7D&groupName=DEFAULT_GROUP";
const PY_BEAT_C: &str = "PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40py-check-1&beat=%7B%22serviceName%22%3A+%22DEFAULT_GROUP%40%40py-check-1%22%2C+%22ip%22%3A+%22127.0.0.1%22%2C+%22port%22%3A+18083%2C+%22weight%22%3A+1.0%2C+%22ephemeral%22%3A+true%7D&groupName=DEFAULT_GROUP";
// Exact request lines of the Node.js nacos-naming 2.6.3.
const JS_REGISTER: &str = "POST /nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40js-check-1&groupName=DEFAULT_GROUP&clusterName=DEFAULT&ip=127.0.0.1&port=19081&weight=2&enable=true&healthy=true&ephemeral=true&metadata=%7B%22version%22%3A%22v1%22%2C%22zone%22%3A%22z%20a%22%2C%22note%22%3A%22x%3Dy%2C%26%2B%25%22%7D";
const JS_BEAT: &str = "PUT /nacos/v1/ns/instance/beat?beat=%7B%22serviceName%22%3A%22DEFAULT_GROUP%40%40js-check-1%22%2C%22ip%22%3A%22127.0.0.1%22%2C%22port%22%3A19081%2C%22cluster%22%3A%22DEFAULT%22%2C%22weight%22%3A2%2C%22metadata%22%3A%7B%22version%22%3A%22v1%22%2C%22zone%22%3A%22z%20a%22%2C%22note%22%3A%22x%3Dy%2C%26%2B%25%22%7D%2C%22scheduled%22%3Atrue%7D&namespaceId=public&serviceName=DEFAULT_GROUP%40%40js-check-1";

#[test]
fn python_register_keeps_weight_cluster_and_awkward_metadata() {
    let Request::Register { service, instance } = ok(PY_REGISTER_A) else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "py-check-1"));
    assert_eq!(
        (&*instance.ip, instance.port, &*instance.cluster),
        ("127.0.0.1", 18081, "DEFAULT")
    );
    assert_eq!(
        (instance.weight, instance.healthy, instance.enabled),
        (2.0, true, true)
    );
    assert_eq!(instance.metadata, awkward());
}

#[test]
fn python_register_without_cluster_keeps_the_literal_none() {
    let line = PY_REGISTER_A.replace("clusterName=DEFAULT", "clusterName=None");
    let Request::Register { instance, .. } = ok(&line) else {
        panic!()
    };
    assert_eq!(&*instance.cluster, "None");
}

#[test]
fn python_beat_with_grouped_name_and_group_is_not_prefixed_twice() {
    let Request::Beat {
        service,
        ip,
        port,
        register,
    } = ok(PY_BEAT_A)
    else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "py-check-1"));
    assert_eq!((&*ip, port), ("127.0.0.1", 18081));
    let inst = register.expect("a beat body registers");
    assert_eq!(
        (&*inst.ip, inst.port, &*inst.cluster, inst.weight),
        ("127.0.0.1", 18081, "DEFAULT", 2.0)
    );
    assert!(inst.healthy && inst.enabled);
    assert_eq!(inst.metadata, awkward());
}

#[test]
fn python_beat_without_cluster_or_metadata_registers_in_default() {
    let Request::Beat { port, register, .. } = ok(PY_BEAT_C) else {
        panic!()
    };
    let inst = register.unwrap();
    assert_eq!((port, &*inst.cluster, inst.weight), (18083, "DEFAULT", 1.0));
    assert!(inst.metadata.is_empty());
    // An empty beat cluster takes the query's clusterName.
    let Request::Beat { register, .. } = ok(&format!("{PY_BEAT_C}&clusterName=C1")) else {
        panic!()
    };
    assert_eq!(&*register.unwrap().cluster, "C1");
}

#[test]
fn python_list_get_modify_and_delete() {
    let list = ok("GET /nacos/v1/ns/instance/list?serviceName=py-check-1&healthyOnly=False&groupName=DEFAULT_GROUP");
    assert_eq!(
        list,
        Request::List {
            service: key("DEFAULT_GROUP", "py-check-1"),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: None
        }
    );
    let get = ok("GET /nacos/v1/ns/instance?serviceName=py-check-1&ip=127.0.0.1&port=18081&cluster=DEFAULT&clusterName=DEFAULT");
    assert_eq!(
        get,
        Request::GetInstance {
            service: key("DEFAULT_GROUP", "py-check-1"),
            ip: Arc::from("127.0.0.1"),
            port: 18081,
            cluster: Some(Arc::from("DEFAULT"))
        }
    );
    let modify = ok("PUT /nacos/v1/ns/instance?ip=127.0.0.1&port=18082&serviceName=py-check-1&ephemeral=True&groupName=DEFAULT_GROUP&clusterName=DEFAULT&weight=3.0&metadata=%7B%22k%22%3A+%22v%22%7D");
    assert_eq!(
        modify,
        Request::Update {
            service: key("DEFAULT_GROUP", "py-check-1"),
            ip: Arc::from("127.0.0.1"),
            port: 18082,
            weight: Some(3.0),
            enabled: None,
            metadata: Some(meta(&[("k", "v")])),
            replace_metadata: false
        }
    );
    let delete = ok("DELETE /nacos/v1/ns/instance?ip=127.0.0.1&port=18083&serviceName=py-check-1&ephemeral=True&groupName=DEFAULT_GROUP");
    assert_eq!(
        delete,
        Request::Deregister {
            service: key("DEFAULT_GROUP", "py-check-1"),
            ip: Arc::from("127.0.0.1"),
            port: 18083
        }
    );
}

#[test]
fn js_register_reads_integer_weight_and_percent_20_metadata() {
    let Request::Register { service, instance } = ok(JS_REGISTER) else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "js-check-1"));
    assert_eq!((instance.port, instance.weight), (19081, 2.0));
    assert_eq!(instance.metadata, awkward());
}

#[test]
fn js_beat_without_group_ip_or_port_params_takes_them_from_the_body() {
    let Request::Beat {
        service,
        ip,
        port,
        register,
    } = ok(JS_BEAT)
    else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "js-check-1"));
    assert_eq!((&*ip, port), ("127.0.0.1", 19081));
    let inst = register.unwrap();
    assert_eq!((inst.weight, &*inst.cluster), (2.0, "DEFAULT"));
    assert_eq!(inst.metadata, awkward());
}

#[test]
fn js_metrics_and_delete() {
    assert_eq!(
        ok("GET /nacos/v1/ns/operator/metrics?namespaceId=public"),
        Request::Metrics { only_status: true }
    );
    let delete = ok("DELETE /nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40js-check-1&clusterName=DEFAULT&ip=127.0.0.1&port=19083&ephemeral=true");
    assert_eq!(
        delete,
        Request::Deregister {
            service: key("DEFAULT_GROUP", "js-check-1"),
            ip: Arc::from("127.0.0.1"),
            port: 19083
        }
    );
}

const JS_LIST: &str = "GET /nacos/v1/ns/instance/list?namespaceId=public&serviceName=DEFAULT_GROUP%40%40js-check-1&clusters=&udpPort=44062&clientIP=192.0.2.2&healthyOnly=false";

#[test]
fn js_list_subscribes_the_tcp_peer_ip_at_udp_port() {
    let Request::List {
        service,
        clusters,
        healthy_only,
        udp_subscriber,
    } = ok(JS_LIST)
    else {
        panic!()
    };
    assert_eq!(service, key("DEFAULT_GROUP", "js-check-1"));
    assert_eq!((clusters.as_str(), healthy_only), ("", false));
    assert_eq!(udp_subscriber, Some("127.0.0.1:44062".parse().unwrap()));
}

#[test]
fn js_list_subscribes_client_ip_when_configured() {
    let opts = ApiOptions {
        push_to_client_ip: true,
    };
    let Ok(Request::List { udp_subscriber, .. }) = route_with(JS_LIST, &opts, &Limits::default())
    else {
        panic!()
    };
    assert_eq!(udp_subscriber, Some("192.0.2.2:44062".parse().unwrap()));
    // An unusable clientIP falls back to the peer.
    let line = JS_LIST.replace("192.0.2.2", "not-an-ip");
    let Ok(Request::List { udp_subscriber, .. }) = route_with(&line, &opts, &Limits::default())
    else {
        panic!()
    };
    assert_eq!(udp_subscriber, Some("127.0.0.1:44062".parse().unwrap()));
}

#[test]
fn js_list_echoes_clusters_and_udp_port_zero_does_not_subscribe() {
    let line = JS_LIST
        .replace("clusters=", "clusters=DEFAULT")
        .replace("udpPort=44062", "udpPort=0");
    let Request::List {
        clusters,
        udp_subscriber,
        ..
    } = ok(&line)
    else {
        panic!()
    };
    assert_eq!((clusters.as_str(), udp_subscriber), ("DEFAULT", None));
    let (status, msg) = err(&JS_LIST.replace("udpPort=44062", "udpPort=70000"));
    assert_eq!(status, 400);
    assert!(msg.contains("udpPort"), "{msg}");
}
