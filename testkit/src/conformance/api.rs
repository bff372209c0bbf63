//! The v1 API of one standalone member, as the Nacos SDKs use it.

use super::v1::{self, addrs, hosts, register};
use crate::cluster::Target;
use crate::cluster::{Cluster, HttpConn};

const INSTANCE: &str = "/nacos/v1/ns/instance";

/// Register, list, get, update, beat, deregister on a standalone member, with the answers
/// the Python and JS SDKs depend on (`ok` bodies, ServiceInfo fields, beat JSON, an empty
/// list for an unknown service, `ok` for deleting an absent instance).
pub fn standalone_crud(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let svc = "crud";
    // unknown service: 200 with no hosts (rule R7)
    assert!(hosts(&c, 0, svc).is_empty());

    let meta = "%7B%22version%22%3A%22v1%22%2C%22zone%22%3A%22z+a%22%7D";
    let r = c.http(
        0,
        "POST",
        &format!("{INSTANCE}?serviceName={svc}&ip=10.0.0.5&port=8080&weight=2&metadata={meta}"),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "register");
    register(&c, 0, svc, "10.0.0.6", 8080);

    let list = hosts(&c, 0, svc);
    assert_eq!(list.len(), 2, "{list:?}");
    let a = &list[0];
    assert_eq!((a.ip.as_str(), a.port), ("10.0.0.5", 8080));
    assert!(a.healthy && a.enabled, "{a:?}");
    assert_eq!(a.weight, 2.0);
    assert_eq!(a.metadata["zone"], "z a", "{a:?}");
    assert!(!a.instance_id.is_empty() && a.instance_id != list[1].instance_id);
    assert_eq!(list, hosts(&c, 0, svc), "hosts are stable between polls");

    // detail
    let r = c.http(
        0,
        "GET",
        &format!("{INSTANCE}?serviceName={svc}&ip=10.0.0.5&port=8080"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ip"], "10.0.0.5");

    // update: weight and metadata merged
    let r = c.http(
        0,
        "PUT",
        &format!("{INSTANCE}?serviceName={svc}&ip=10.0.0.6&port=8080&weight=3&metadata=k%3Dv"),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "update");
    let b = hosts(&c, 0, svc)
        .into_iter()
        .find(|h| h.ip == "10.0.0.6")
        .expect("updated host");
    assert_eq!((b.weight, b.metadata["k"].as_str()), (3.0, Some("v")));

    // a beat with a body registers an unknown instance (rule R9)
    v1::beat(&c, 0, svc, "10.0.0.7", 1);
    assert!(addrs(&c, 0, svc).contains("10.0.0.7:1"));

    // the service shows up in the service list
    let r = c.http(0, "GET", "/nacos/v1/ns/service/list?pageNo=1&pageSize=10");
    assert_eq!(r.status, 200);
    assert!(r.json()["doms"].to_string().contains(svc), "{}", r.body);

    for (ip, port) in [("10.0.0.5", 8080), ("10.0.0.6", 8080), ("10.0.0.7", 1)] {
        v1::deregister(&c, 0, svc, ip, port);
    }
    assert!(hosts(&c, 0, svc).is_empty());
    // deleting an absent instance still answers ok (rule R5)
    v1::deregister(&c, 0, svc, "10.0.0.5", 8080);
    let r = c.http(0, "GET", "/nacos/v1/ns/operator/metrics");
    assert_eq!(r.json()["status"], "UP", "{}", r.body);
}

/// HTTP/1.1 keep-alive: pipelined requests are answered one by one in order, an error answer
/// keeps the connection, and `Connection: close` is honoured.
pub fn keep_alive_and_pipelining(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let list = "/nacos/v1/ns/instance/list?serviceName=pipe";
    let mut conn = HttpConn::connect(c.http_addr(0)).expect("connect");
    let pipelined = format!(
        "POST {INSTANCE}?serviceName=pipe&ip=10.0.0.7&port=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\
         GET /no/such/path HTTP/1.1\r\nHost: x\r\n\r\n\
         GET {list} HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    conn.send(pipelined.as_bytes()).expect("send");
    let r = conn.read_response().expect("first response");
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert_eq!(conn.read_response().expect("second response").status, 404);
    let r = conn.read_response().expect("third response");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("10.0.0.7"), "{}", r.body);
    assert_eq!(conn.get(list).expect("a fourth request").status, 200);

    conn.send(format!("GET {list} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("send");
    assert_eq!(conn.read_response().expect("last response").status, 200);
    assert!(
        conn.closed_by_server(std::time::Duration::from_secs(5)),
        "Connection: close must close"
    );
}
