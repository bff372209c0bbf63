//! A real partition between processes: one member of three cut off the network (its peer
//! links blackholed by the testkit's proxies) while v1 clients keep beating at the other two,
//! long enough for the cut-off member to expire them; after the heal no live client is missing
//! anywhere (issue 11, defect 1: the cut-off member's deletions used to outrank the live
//! copies, and every member lost the clients until they registered again).

use super::failover::{Beaters, SVC};
use super::v1::{addrs, wait_ready, CONVERGE};
use crate::cluster::{wait_until, Cluster, Target};
use std::time::{Duration, Instant};

/// How long member 2 is cut off: past DOWN detection, the takeover of beat checks and a whole
/// `delete_timeout`, so that it deletes the clients it cannot hear.
const OUTAGE: Duration = Duration::from_secs(6);
/// How long every member is watched after the heal has converged.
const WATCH: Duration = Duration::from_secs(5);

/// See the module docs.
pub fn partition_heals_without_losing_beating_clients(t: &Target) {
    let mut args = super::CLUSTER_TIMINGS.to_vec();
    args.extend([
        "--timing",
        "beat_timeout=1500",
        "--timing",
        "delete_timeout=3000",
        "--timing",
        "beat_check_interval=200",
    ]);
    let c = Cluster::start_partitionable(t, 3, &args);
    // a member expires nothing before it is ready
    wait_ready(&c);
    let mut beaters = Beaters::new(&c);
    let live = beaters.addrs();
    let all_listed = |c: &Cluster, i: usize| {
        let got = addrs(c, i, SVC);
        let missing: Vec<&String> = live.iter().filter(|a| !got.contains(*a)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("member {i} misses {missing:?}"))
        }
    };
    for i in 0..3 {
        wait_until(CONVERGE, "every client listed everywhere", || {
            beaters.beat(&c);
            all_listed(&c, i)
        });
    }
    c.partition(2, true);
    let cut = Instant::now();
    let mut expired_on_minority = false;
    while cut.elapsed() < OUTAGE {
        beaters.beat(&c);
        expired_on_minority |= all_listed(&c, 2).is_err();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        expired_on_minority,
        "member 2 never expired a client while cut off: the outage did not test the heal"
    );
    c.partition(2, false);
    let healed = Instant::now();
    for i in 0..3 {
        wait_until(
            CONVERGE,
            "every client listed everywhere after the heal",
            || {
                beaters.beat(&c);
                all_listed(&c, i)
            },
        );
    }
    let converged = healed.elapsed();
    let watch = Instant::now();
    while watch.elapsed() < WATCH {
        beaters.beat(&c);
        for i in 0..3 {
            if let Err(e) = all_listed(&c, i) {
                panic!(
                    "{:?} after the heal (converged after {converged:?}): {e}",
                    healed.elapsed()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
