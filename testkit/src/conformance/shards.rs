//! Scenarios of a runtime whose process runs several shards (members) behind shared client
//! ports: read your writes across shards, forwarding to the responsible shard, a native
//! client's close on a shard other than the first, and a mixed cluster with a single-member
//! runtime. Which shard a connection landed on is read from its `/metrics`
//! (`distro_member_info`), since the kernel picks it.

use super::replication::start_cluster;
use super::v1::{self, CONVERGE};
use super::Scenario;
use crate::cluster::{wait_until, Cluster, HttpConn, NativeClient, Target};
use distro_core::{Reply, Request};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The scenarios of one sharded target (the mixed cluster takes two targets).
pub const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "read_your_writes_across_shards",
        read_your_writes_across_shards,
    ),
    (
        "write_on_the_wrong_shard_is_forwarded",
        write_on_the_wrong_shard_is_forwarded,
    ),
    (
        "native_close_on_a_later_shard_removes_everywhere",
        native_close_on_a_later_shard_removes_everywhere,
    ),
];

/// The member (shard) answering on this keep-alive connection.
fn shard_of(conn: &mut HttpConn) -> String {
    let r = conn.get("/metrics").expect("GET /metrics");
    member_in(&r.body)
}

fn member_in(metrics: &str) -> String {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("distro_member_info{member=\""))
        .and_then(|l| l.split('"').next())
        .unwrap_or_else(|| panic!("no distro_member_info in {metrics}"))
        .to_string()
}

/// Keep-alive connections to `addr`, one on each of `shards` different shards.
fn one_conn_per_shard(addr: SocketAddr, shards: usize) -> BTreeMap<String, HttpConn> {
    let mut conns = BTreeMap::new();
    for _ in 0..200 {
        let mut c = HttpConn::connect(addr).expect("connect");
        let shard = shard_of(&mut c);
        conns.entry(shard).or_insert(c);
        if conns.len() == shards {
            return conns;
        }
    }
    panic!("connections to {addr} reached only {:?}", conns.keys());
}

fn list_has(conn: &mut HttpConn, service: &str, ip: &str, port: u16) -> bool {
    let r = conn
        .get(&format!("/nacos/v1/ns/instance/list?serviceName={service}"))
        .expect("list");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .contains(&format!("\"ip\":\"{ip}\",\"port\":{port},"))
}

/// A write answered `ok` on one shard is visible on another shard of the same process right
/// after, thousands of times (an SDK registers on one connection and lists on another).
pub fn read_your_writes_across_shards(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let mut conns = one_conn_per_shard(c.http_addr(0), 2).into_values();
    let (mut writer, mut reader) = (conns.next().unwrap(), conns.next().unwrap());
    for i in 0..2000u16 {
        let (svc, ip, port) = (format!("ryw-{}", i % 20), "10.20.0.1", 1000 + i);
        let target = format!("/nacos/v1/ns/instance?serviceName={svc}&ip={ip}&port={port}");
        let r = writer.request("POST", &target).expect("register");
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        assert!(
            list_has(&mut reader, &svc, ip, port),
            "write {i} not visible on the other shard"
        );
        if i % 4 == 0 {
            let r = writer.request("DELETE", &target).expect("deregister");
            assert_eq!(r.status, 200);
            assert!(
                !list_has(&mut reader, &svc, ip, port),
                "deletion {i} not visible on the other shard"
            );
        }
        // and the other way round
        std::mem::swap(&mut writer, &mut reader);
    }
}

/// An ip-port write that lands on a shard not responsible for the client is forwarded to the
/// responsible shard, which serves it and replicates it to the others.
pub fn write_on_the_wrong_shard_is_forwarded(t: &Target) {
    let c = Cluster::start(t, 1, &[]);
    let conns = one_conn_per_shard(c.http_addr(0), 2);
    let mut conns: Vec<(String, HttpConn)> = conns.into_iter().collect();
    let (here, rest) = conns.split_at_mut(1);
    let (this, conn) = &mut here[0];
    let (other, other_conn) = &mut rest[0];
    let (ip, port) = (1..200)
        .map(|k| (format!("10.21.0.{k}"), 80))
        .find(|(ip, port)| {
            let r = conn
                .get(&format!(
                    "/nacos/v1/ns/operator/distro/client?ip={ip}&port={port}"
                ))
                .expect("distro/client");
            r.json()["responsibleServer"].as_str() == Some(other.as_str())
        })
        .expect("some client is the other shard's");
    let metric = |conn: &mut HttpConn, name: &str| -> u64 {
        let r = conn.get("/metrics").expect("metrics");
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(&format!("distro_{name}_total ")))
            .and_then(|v| v.trim().parse().ok())
            .expect("counter")
    };
    let (forwards, served) = (
        metric(conn, "forwards"),
        metric(other_conn, "forwards_served"),
    );
    let r = conn
        .request(
            "POST",
            &format!("/nacos/v1/ns/instance?serviceName=fwd&ip={ip}&port={port}"),
        )
        .expect("register");
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert!(
        metric(conn, "forwards") > forwards,
        "{this} did not forward"
    );
    assert!(
        metric(other_conn, "forwards_served") > served,
        "{other} did not serve the forwarded write"
    );
    assert!(list_has(other_conn, "fwd", &ip, port) && list_has(conn, "fwd", &ip, port));
    let r = other_conn
        .get("/nacos/v1/ns/operator/metrics?onlyStatus=false")
        .expect("operator metrics");
    assert!(
        r.json()["responsibleInstanceCount"].as_u64() >= Some(1),
        "{other} owns it: {}",
        r.body
    );
}

/// Waits until every shard of every process lists (or no longer lists) `ip:port`.
fn wait_on_every_shard(c: &Cluster, service: &str, ip: &str, port: u16, listed: bool) {
    for i in 0..c.len() {
        let shards = c.target_of(i).shards_per_process();
        wait_until(CONVERGE, &format!("process {i}'s shards to agree"), || {
            let conns = one_conn_per_shard(c.http_addr(i), shards);
            let wrong: Vec<String> = conns
                .into_iter()
                .filter_map(|(s, mut conn)| {
                    (list_has(&mut conn, service, ip, port) != listed).then_some(s)
                })
                .collect();
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(format!("{wrong:?} disagree"))
            }
        });
    }
}

/// A native client whose connection is on a shard other than the first: its instances are on
/// every shard of every process, and gone everywhere once the connection closes.
pub fn native_close_on_a_later_shard_removes_everywhere(t: &Target) {
    let c = start_cluster(t, 2, &[]);
    let mut native = (0..200)
        .map(|_| NativeClient::connect(c.native_addr(0)))
        .find_map(|mut n| match n.request(Request::Prometheus) {
            Reply::Prometheus(text) if member_in(&text).contains('/') => Some(n),
            _ => None,
        })
        .expect("a native connection on a later shard");
    native.register("close-later", "10.22.0.1", 7);
    wait_on_every_shard(&c, "close-later", "10.22.0.1", 7, true);
    drop(native);
    wait_on_every_shard(&c, "close-later", "10.22.0.1", 7, false);
}

/// One single-member process (`mio`) and one sharded process (`sharded`) form one cluster:
/// the single-member one counts every shard, every member computes the same responsibility,
/// and writes through either process (v1 and native) reach every member.
pub fn mixed_cluster(mio: &Target, sharded: &Target) {
    let mut args = super::CLUSTER_TIMINGS.to_vec();
    args.extend(["--log-level", "info"]);
    let c = Cluster::start_mixed(&[mio.clone(), sharded.clone()], &args);
    v1::wait_all_up(&c, 0);
    let shards = sharded.shards_per_process();
    // the same responsible member everywhere
    let mut conns = one_conn_per_shard(c.http_addr(1), shards);
    for k in 1..40u16 {
        let q = format!("/nacos/v1/ns/operator/distro/client?ip=10.23.0.{k}&port=80");
        let at_mio = c.http(0, "GET", &q).json()["responsibleServer"].clone();
        for (shard, conn) in conns.iter_mut() {
            let r = conn.get(&q).expect("distro/client");
            assert_eq!(
                r.json()["responsibleServer"],
                at_mio,
                "{shard} disagrees for {k}"
            );
        }
    }
    for (i, ip) in [(0, "10.23.1.1"), (1, "10.23.1.2")] {
        v1::register(&c, i, "mixed", ip, 80);
        wait_on_every_shard(&c, "mixed", ip, 80, true);
    }
    let mut native = NativeClient::connect(c.native_addr(1));
    native.register("mixed", "10.23.2.1", 9);
    wait_on_every_shard(&c, "mixed", "10.23.2.1", 9, true);
    drop(native);
    wait_on_every_shard(&c, "mixed", "10.23.2.1", 9, false);
}
