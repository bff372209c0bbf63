//! A member killed with SIGKILL: the others keep every live client, drop the dead member's
//! connection clients, and the restarted member loads everything back from a snapshot.

use super::replication::start_cluster;
use super::v1::{self, addrs, CONVERGE};
use crate::cluster::Target;
use crate::cluster::{wait_until, Cluster, NativeClient};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub(crate) const SVC: &str = "failover";
/// How long the survivors are watched after the kill: past failure detection, the handover
/// of beat checks, and a full `delete_timeout` after that.
const WATCH: Duration = Duration::from_secs(7);

/// v1 clients that beat at the surviving members (members 0 and 1), round robin.
pub(crate) struct Beaters {
    clients: Vec<(String, u16)>,
    last: Instant,
    turn: usize,
}

impl Beaters {
    /// Two clients of each member's responsibility, so that the kill orphans some.
    pub(crate) fn new(c: &Cluster) -> Self {
        let mut per_member = [0; 3];
        let mut clients = Vec::new();
        for k in 1..=250u16 {
            let (ip, port) = (format!("10.6.0.{k}"), 1000 + k);
            let owner = v1::responsible(c, 0, &ip, port);
            if per_member[owner] < 2 {
                per_member[owner] += 1;
                clients.push((ip, port));
            }
            if per_member == [2; 3] {
                break;
            }
        }
        assert_eq!(
            per_member, [2; 3],
            "responsibility is spread over the members"
        );
        Beaters {
            clients,
            last: Instant::now() - Duration::from_secs(1),
            turn: 0,
        }
    }

    /// Beats every client if 300 ms passed since the last round.
    pub(crate) fn beat(&mut self, c: &Cluster) {
        if self.last.elapsed() < Duration::from_millis(300) {
            return;
        }
        for (ip, port) in &self.clients {
            self.turn += 1;
            v1::beat(c, self.turn % 2, SVC, ip, *port);
        }
        self.last = Instant::now();
    }

    pub(crate) fn addrs(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|(ip, port)| format!("{ip}:{port}"))
            .collect()
    }
}

/// Kills member 2 with SIGKILL while v1 clients beat at members 0 and 1 and native clients
/// are connected to every member. Members 0 and 1 keep listing every live client throughout
/// (the v1 clients member 2 was responsible for included), drop the native client of member 2,
/// and member 2, restarted, becomes ready from a snapshot and lists exactly the live clients.
pub fn kill9_keeps_live_clients_and_restart_converges(t: &Target) {
    let timings = [
        "--timing",
        "beat_timeout=3000",
        "--timing",
        "delete_timeout=6000",
        "--timing",
        "beat_check_interval=300",
        "--timing",
        "forward_timeout=500",
        "--timing",
        "orphan_conn_expiry=1000",
        "--timing",
        "cleanup_interval=300",
    ];
    let mut c = start_cluster(t, 3, &timings);
    let mut beaters = Beaters::new(&c);
    beaters.beat(&c);
    let mut natives: Vec<NativeClient> = (0..3)
        .map(|i| {
            let mut n = NativeClient::connect(c.native_addr(i));
            n.register(SVC, &format!("10.6.1.{i}"), 2000);
            n
        })
        .collect();
    let mut live: Vec<String> = beaters.addrs();
    live.extend((0..3).map(|i| format!("10.6.1.{i}:2000")));
    let live_refs: Vec<&str> = live.iter().map(String::as_str).collect();
    for i in 0..3 {
        wait_until(
            CONVERGE,
            &format!("member {i} to list every client"),
            || {
                beaters.beat(&c);
                check_lists(&c, i, &live_refs)
            },
        );
    }
    c.kill9(2);
    let dead_native = natives.pop().expect("member 2's native client");
    drop(dead_native);
    live.retain(|a| a != "10.6.1.2:2000");
    let survivors: Vec<&str> = live.iter().map(String::as_str).collect();

    // every live client stays listed at members 0 and 1, the whole time
    let killed = Instant::now();
    while killed.elapsed() < WATCH {
        beaters.beat(&c);
        for i in 0..2 {
            let got = addrs(&c, i, SVC);
            let missing: Vec<&&str> = survivors.iter().filter(|a| !got.contains(**a)).collect();
            assert!(
                missing.is_empty(),
                "{:?} after the kill, member {i} lost live clients {missing:?} \
                 (two v1 clients were member 2's responsibility); it lists {got:?}",
                killed.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..2 {
        wait_until(
            CONVERGE,
            &format!("member {i} to drop the dead member's native client"),
            || {
                beaters.beat(&c);
                check_lists(&c, i, &survivors)
            },
        );
    }
    for i in 0..2 {
        let r = c.http(
            i,
            "GET",
            "/nacos/v1/ns/instance/list?serviceName=failover&healthyOnly=true",
        );
        let healthy = r.json()["hosts"].as_array().map_or(0, Vec::len);
        assert_eq!(
            healthy,
            survivors.len(),
            "member {i}: every live client is healthy: {}",
            r.body
        );
    }

    c.restart(2);
    wait_until(CONVERGE, "the restarted member to be ready", || {
        beaters.beat(&c);
        let r = c.http(2, "GET", "/nacos/v1/console/health/readiness");
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.body))
        }
    });
    assert!(
        c.metric(2, "snapshot_chunks_loaded") >= 1,
        "the restarted member became ready without loading a snapshot"
    );
    wait_until(CONVERGE, "the restarted member to converge", || {
        beaters.beat(&c);
        check_lists(&c, 2, &survivors)
    });
    for i in 0..3 {
        v1::wait_all_up(&c, i);
    }
    drop(natives);
    for i in 0..3 {
        c.stop(i);
    }
}

/// `Ok` when member `i` lists exactly `want` in the scenario's service.
fn check_lists(c: &Cluster, i: usize, want: &[&str]) -> Result<(), String> {
    let got = addrs(c, i, SVC);
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("member {i} lists {got:?}"))
    }
}
