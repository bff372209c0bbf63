//! Nacos v1 calls the scenarios share, and the waits built on them.

use crate::cluster::{wait_until, Cluster};
use std::collections::BTreeSet;
use std::time::Duration;

/// How long replication, forwarding and removal may take before a scenario fails. Generous:
/// the suite runs in debug builds on 2 busy cores.
pub(crate) const CONVERGE: Duration = Duration::from_secs(15);

/// One host of a list answer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Host {
    pub ip: String,
    pub port: u64,
    pub healthy: bool,
    pub enabled: bool,
    pub weight: f64,
    pub metadata: serde_json::Value,
    pub instance_id: String,
}

impl Host {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// `POST /instance`; asserts `200 ok`.
#[track_caller]
pub(crate) fn register(c: &Cluster, i: usize, service: &str, ip: &str, port: u16) {
    let r = c.http(
        i,
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName={service}&ip={ip}&port={port}"),
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ok"),
        "register {ip}:{port} in {service} at member {i}"
    );
}

/// `DELETE /instance`; asserts `200 ok`.
#[track_caller]
pub(crate) fn deregister(c: &Cluster, i: usize, service: &str, ip: &str, port: u16) {
    let r = c.http(
        i,
        "DELETE",
        &format!("/nacos/v1/ns/instance?serviceName={service}&ip={ip}&port={port}"),
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ok"),
        "deregister {ip}:{port} from {service} at member {i}"
    );
}

/// A beat with a `beat` body (as both SDKs send it, so an unknown instance is registered
/// again); asserts a 200 with `clientBeatInterval`.
#[track_caller]
pub(crate) fn beat(c: &Cluster, i: usize, service: &str, ip: &str, port: u16) {
    let body = format!(
        "%7B%22serviceName%22%3A%22DEFAULT_GROUP%40%40{service}%22%2C%22ip%22%3A%22{ip}%22%2C%22port%22%3A{port}%2C%22cluster%22%3A%22DEFAULT%22%7D"
    );
    let r = c.http(
        i,
        "PUT",
        &format!("/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40{service}&beat={body}"),
    );
    assert_eq!(r.status, 200, "beat {ip}:{port} at member {i}: {}", r.body);
    assert!(
        r.json()["clientBeatInterval"].as_u64().is_some(),
        "beat answer: {}",
        r.body
    );
}

/// `GET /instance/list` of `service` at member `i`: every host.
#[track_caller]
pub(crate) fn hosts(c: &Cluster, i: usize, service: &str) -> Vec<Host> {
    let r = c.http(
        i,
        "GET",
        &format!("/nacos/v1/ns/instance/list?serviceName={service}"),
    );
    assert_eq!(r.status, 200, "list {service} at member {i}: {}", r.body);
    let info = r.json();
    assert_eq!(
        info["name"].as_str(),
        Some(format!("DEFAULT_GROUP@@{service}").as_str()),
        "list name: {}",
        r.body
    );
    info["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("no hosts array: {}", r.body))
        .iter()
        .map(|h| Host {
            ip: h["ip"].as_str().unwrap_or_default().to_string(),
            port: h["port"].as_u64().unwrap_or_default(),
            healthy: h["healthy"].as_bool().unwrap_or_default(),
            enabled: h["enabled"].as_bool().unwrap_or_default(),
            weight: h["weight"].as_f64().unwrap_or(-1.0),
            metadata: h["metadata"].clone(),
            instance_id: h["instanceId"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// The `ip:port` of every host of `service` at member `i`.
#[track_caller]
pub(crate) fn addrs(c: &Cluster, i: usize, service: &str) -> BTreeSet<String> {
    hosts(c, i, service).iter().map(Host::addr).collect()
}

/// Waits until member `i` lists exactly `want` (as `ip:port`) in `service`.
#[track_caller]
pub(crate) fn wait_for_addrs(c: &Cluster, i: usize, service: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    wait_until(
        CONVERGE,
        &format!("member {i} to list {want:?} in {service}"),
        || {
            let got = addrs(c, i, service);
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    );
}

/// Waits until every member is ready (`/nacos/v1/console/health/readiness` answers 200).
#[track_caller]
pub(crate) fn wait_ready(c: &Cluster) {
    for i in 0..c.len() {
        wait_until(CONVERGE, &format!("member {i} to be ready"), || {
            let r = c.http(i, "GET", "/nacos/v1/console/health/readiness");
            if r.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.body))
            }
        });
    }
}

/// Waits until member `i` sees every member UP in `/nacos/v1/core/cluster/nodes`.
#[track_caller]
pub(crate) fn wait_all_up(c: &Cluster, i: usize) {
    wait_until(
        CONVERGE,
        &format!("member {i} to see every member UP"),
        || {
            let r = c.http(i, "GET", "/nacos/v1/core/cluster/nodes");
            let nodes = r.json();
            let states: Vec<String> = nodes["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| m["state"].as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .unwrap_or_default();
            if states.len() == c.members_total() && states.iter().all(|s| s == "UP") {
                Ok(())
            } else {
                Err(r.body)
            }
        },
    );
}

/// The member responsible for ip-port client `ip:port`, asked of member `i`.
#[track_caller]
pub(crate) fn responsible(c: &Cluster, i: usize, ip: &str, port: u16) -> usize {
    let r = c.http(
        i,
        "GET",
        &format!("/nacos/v1/ns/operator/distro/client?ip={ip}&port={port}"),
    );
    assert_eq!(r.status, 200, "distro/client: {}", r.body);
    let server = r.json()["responsibleServer"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    c.index_of(&server)
        .unwrap_or_else(|| panic!("responsible server {server:?} is not a member"))
}
