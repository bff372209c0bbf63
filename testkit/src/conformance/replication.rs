//! Three-member clusters: replication, forwarding to the responsible member, beat expiry.

use super::v1::{self, addrs, hosts, register, wait_for_addrs, CONVERGE};
use super::CLUSTER_TIMINGS;
use crate::cluster::Target;
use crate::cluster::{wait_until, Cluster, NativeClient};
use std::time::{Duration, Instant};

/// Starts a cluster with [`CLUSTER_TIMINGS`] plus `extra`, and waits until every member is
/// ready and sees the others UP.
pub(crate) fn start_cluster(t: &Target, n: usize, extra: &[&str]) -> Cluster {
    let args: Vec<&str> = CLUSTER_TIMINGS.iter().chain(extra).copied().collect();
    let c = Cluster::start(t, n, &args);
    v1::wait_ready(&c);
    for i in 0..n {
        v1::wait_all_up(&c, i);
    }
    c
}

/// Writes at any member (v1 register, update, deregister, a native registration, service
/// settings) become visible at every member.
pub fn three_members_replicate(t: &Target) {
    let c = start_cluster(t, 3, &[]);
    let svc = "repl";
    for i in 0..3 {
        register(&c, i, svc, &format!("10.9.0.{i}"), 80);
    }
    let mut native = NativeClient::connect(c.native_addr(1));
    native.register(svc, "10.9.1.1", 81);
    let all = ["10.9.0.0:80", "10.9.0.1:80", "10.9.0.2:80", "10.9.1.1:81"];
    for i in 0..3 {
        wait_for_addrs(&c, i, svc, &all);
    }

    let r = c.http(
        1,
        "PUT",
        &format!("/nacos/v1/ns/instance?serviceName={svc}&ip=10.9.0.0&port=80&metadata=k%3Dv"),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "update");
    for i in 0..3 {
        wait_until(CONVERGE, &format!("member {i} to show the update"), || {
            let h = hosts(&c, i, svc);
            match h.iter().find(|h| h.ip == "10.9.0.0") {
                Some(h) if h.metadata["k"] == "v" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        });
    }

    let r = c.http(
        0,
        "POST",
        "/nacos/v1/ns/service?serviceName=settings&protectThreshold=0.5&metadata=team%3Dx",
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "create service");
    for i in 1..3 {
        wait_until(CONVERGE, &format!("member {i} to show the service"), || {
            let r = c.http(i, "GET", "/nacos/v1/ns/service?serviceName=settings");
            if r.status == 200 && r.json()["protectThreshold"].as_f64() == Some(0.5) {
                Ok(())
            } else {
                Err(format!("{} {}", r.status, r.body))
            }
        });
    }

    v1::deregister(&c, 2, svc, "10.9.0.0", 80);
    let rest = ["10.9.0.1:80", "10.9.0.2:80", "10.9.1.1:81"];
    for i in 0..3 {
        wait_for_addrs(&c, i, svc, &rest);
    }
}

/// An ip-port write that arrives at a member not responsible for the client is forwarded to
/// the responsible one (counted on both), answered `ok`, and replicated everywhere; beats and
/// deregistration are forwarded as well.
pub fn ip_port_write_forwarded(t: &Target) {
    let c = start_cluster(t, 3, &[]);
    let svc = "fwd";
    let (ip, port, owner) = (1..200)
        .map(|k| (format!("10.7.0.{k}"), 80))
        .map(|(ip, port)| {
            let owner = v1::responsible(&c, 0, &ip, port);
            (ip, port, owner)
        })
        .find(|(_, _, owner)| *owner != 0)
        .expect("some client is another member's responsibility");
    for i in 1..3 {
        assert_eq!(
            v1::responsible(&c, i, &ip, port),
            owner,
            "members disagree on who is responsible for {ip}:{port}"
        );
    }
    let forwards = c.metric(0, "forwards");
    let served = c.metric(owner, "forwards_served");
    register(&c, 0, svc, &ip, port);
    assert!(
        c.metric(0, "forwards") > forwards,
        "member 0 did not forward"
    );
    assert!(
        c.metric(owner, "forwards_served") > served,
        "member {owner} did not serve the forwarded write"
    );
    let want = format!("{ip}:{port}");
    for i in 0..3 {
        wait_for_addrs(&c, i, svc, &[&want]);
    }
    // (each shard of a process answers for itself: one of them is responsible)
    wait_until(
        CONVERGE,
        "the responsible member to own the instance",
        || {
            let r = c.http(
                owner,
                "GET",
                "/nacos/v1/ns/operator/metrics?onlyStatus=false",
            );
            if r.json()["responsibleInstanceCount"].as_u64() >= Some(1) {
                Ok(())
            } else {
                Err(r.body)
            }
        },
    );

    let forwards = c.metric(0, "forwards");
    v1::beat(&c, 0, svc, &ip, port);
    assert!(
        c.metric(0, "forwards") > forwards,
        "the beat was not forwarded"
    );

    let other = (0..3)
        .find(|i| *i != 0 && *i != owner)
        .expect("a third member");
    v1::deregister(&c, other, svc, &ip, port);
    for i in 0..3 {
        wait_for_addrs(&c, i, svc, &[]);
    }
}

/// With shortened timings, an ip-port instance without beats turns unhealthy after
/// `beat_timeout` and is deleted after `delete_timeout` on every member, while a beating one
/// stays healthy.
pub fn beat_expiry(t: &Target) {
    let timings = [
        "--timing",
        "beat_timeout=1500",
        "--timing",
        "delete_timeout=3000",
        "--timing",
        "beat_check_interval=250",
    ];
    let c = start_cluster(t, 2, &timings);
    let svc = "expiry";
    v1::beat(&c, 0, svc, "10.5.0.1", 1);
    // taken before the beat: the member cannot have seen it earlier
    let last_beat = Instant::now();
    v1::beat(&c, 1, svc, "10.5.0.2", 2);
    let mut beaten = Instant::now();
    let mut beat_live = |c: &Cluster| {
        if beaten.elapsed() > Duration::from_millis(250) {
            v1::beat(c, 0, svc, "10.5.0.1", 1);
            beaten = Instant::now();
        }
    };
    for i in 0..2 {
        wait_for_addrs(&c, i, svc, &["10.5.0.1:1", "10.5.0.2:2"]);
    }

    let mut seen_unhealthy = false;
    let deleted_after = wait_until(
        CONVERGE + Duration::from_secs(5),
        "the silent instance to be deleted everywhere",
        || {
            beat_live(&c);
            let mut gone = true;
            for i in 0..2 {
                let list = hosts(&c, i, svc);
                let live = list.iter().find(|h| h.ip == "10.5.0.1");
                assert!(
                    live.is_some_and(|h| h.healthy),
                    "the beating instance must stay healthy at member {i}: {list:?}"
                );
                if let Some(silent) = list.iter().find(|h| h.ip == "10.5.0.2") {
                    gone = false;
                    if !silent.healthy {
                        seen_unhealthy = true;
                        assert!(
                            last_beat.elapsed() >= Duration::from_millis(1450),
                            "unhealthy after {:?}, before beat_timeout",
                            last_beat.elapsed()
                        );
                    }
                }
            }
            if gone {
                Ok(last_beat.elapsed())
            } else {
                Err("still listed".to_string())
            }
        },
    );
    assert!(
        deleted_after >= Duration::from_millis(2950),
        "deleted after {deleted_after:?}, before delete_timeout"
    );
    assert!(
        seen_unhealthy,
        "the instance was never shown unhealthy before its deletion"
    );
    // a later beat with a body brings it back (what SDKs rely on after an expiry)
    v1::beat(&c, 1, svc, "10.5.0.2", 2);
    for i in 0..2 {
        wait_until(CONVERGE, "the instance to come back", || {
            beat_live(&c);
            let got = addrs(&c, i, svc);
            if got.contains("10.5.0.2:2") {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        });
    }
}
