//! Scenarios from real Nacos incidents, each run in the deterministic simulator with every
//! invariant checked during the run and at its end. Each scenario has a default seed;
//! `SIM_SEED=<n>` replays another one, `SIM_SEEDS=<count>` runs many.

use core::time::Duration;
use distro_core::ClientId;
use distro_testkit::sim::{
    run_seeds_with, seeds_from_env, Failure, NetParams, Report, Sim, SimConfig, Workload,
};

const FILE: &str = "sim_scenarios";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A cluster with clients that never churn on their own (the scenario drives what happens).
fn cluster(seed: u64, members: usize, ip: usize, conn: usize) -> SimConfig {
    let mut cfg = SimConfig::new(seed, members);
    cfg.workload = Workload {
        ip_clients: ip,
        conn_clients: conn,
        services: 6,
        churn_per_minute: 0.0,
        start_within: secs(10),
        ..Workload::default()
    };
    cfg
}

fn scenario(
    test: &str,
    seed: u64,
    make: impl Fn(u64) -> SimConfig,
    drive: impl Fn(Sim) -> Result<Report, Failure>,
) {
    run_seeds_with(FILE, test, &seeds_from_env(seed, 1), make, drive);
}

/// Every ip-port client is registered and beating.
fn all_ip_clients_live(sim: &Sim) -> bool {
    (0..sim.ip_client_count()).all(|k| sim.ip_client_live(k))
}

/// alibaba/nacos#15857: every member restarts at once while clients register again (their
/// beats answer 20404) and new ones arrive. A snapshot loaded from a peer must never delete or
/// roll back a registration made meanwhile.
#[test]
fn full_cluster_restart_racing_a_registration_storm() {
    scenario(
        "full_cluster_restart_racing_a_registration_storm",
        15857,
        |seed| cluster(seed, 3, 200, 30),
        |mut sim| {
            sim.run_for(secs(40));
            for i in 0..3 {
                sim.crash(i);
            }
            sim.run_for(secs(2));
            sim.restart(0);
            sim.spawn_ip_clients(200, Duration::ZERO, secs(2));
            sim.run_for(secs(1));
            sim.restart(1);
            sim.run_for(Duration::from_millis(1500));
            sim.restart(2);
            sim.run_for(secs(120));
            let live = all_ip_clients_live(&sim);
            sim.expect(live, "every ip-port client is registered and beating again");
            sim.finish()
        },
    );
}

/// alibaba/nacos#8436: a restarted member's verify timer fires many times while its snapshot
/// is still loading (slow links towards it). It must not verify (nor expire anything) before
/// the load completes; the simulator fails any verify frame or expiry from a member that is not
/// ready.
#[test]
fn verify_starting_before_snapshot_load_completes() {
    scenario(
        "verify_starting_before_snapshot_load_completes",
        8436,
        |seed| {
            let mut cfg = cluster(seed, 3, 300, 20);
            cfg.limits.snapshot_chunk_clients = 10;
            cfg
        },
        |mut sim| {
            sim.run_for(secs(30));
            sim.crash(2);
            sim.run_for(secs(1));
            let slow = NetParams {
                latency: Duration::from_millis(400),
                ..NetParams::default()
            };
            sim.set_link_net(0, 2, Some(slow.clone()));
            sim.set_link_net(1, 2, Some(slow));
            sim.restart(2);
            let restarted = sim.now();
            while !sim.node(2).is_some_and(|n| n.is_ready()) && sim.violations().is_empty() {
                sim.run_for(Duration::from_millis(100));
            }
            let took = sim.now().as_nanos() - restarted.as_nanos();
            let verify = Duration::from_secs(5).as_nanos() as u64;
            sim.expect(took > 2 * verify, "the load outlasts two verify intervals");
            let chunks = sim.node(2).map_or(0, |n| n.stats().snapshot_chunks_loaded);
            sim.expect(chunks >= 30, "the snapshot came in its chunks");
            sim.set_link_net(0, 2, None);
            sim.set_link_net(1, 2, None);
            sim.run_for(secs(90));
            sim.finish()
        },
    );
}

/// alibaba/nacos#7697: a snapshot that takes longer than a beat timeout (15 s) to load. The
/// load must complete (chunk by chunk, each within its own timeout) and no instance may
/// expire or go missing because of it.
#[test]
fn snapshot_larger_than_a_beat_timeout_to_load() {
    scenario(
        "snapshot_larger_than_a_beat_timeout_to_load",
        7697,
        |seed| {
            let mut cfg = cluster(seed, 3, 600, 20);
            cfg.limits.snapshot_chunk_clients = 20;
            cfg
        },
        |mut sim| {
            sim.run_for(secs(30));
            sim.crash(1);
            sim.run_for(secs(1));
            let slow = NetParams {
                latency: Duration::from_millis(700),
                ..NetParams::default()
            };
            sim.set_link_net(0, 1, Some(slow.clone()));
            sim.set_link_net(2, 1, Some(slow));
            sim.restart(1);
            let restarted = sim.now();
            while !sim.node(1).is_some_and(|n| n.is_ready()) && sim.violations().is_empty() {
                sim.run_for(Duration::from_millis(100));
            }
            let took = Duration::from_nanos(sim.now().as_nanos() - restarted.as_nanos());
            sim.expect(took > secs(15), "the load takes longer than a beat timeout");
            sim.expect(
                took < secs(60),
                "the load completes before the readiness gate",
            );
            let chunks = sim.node(1).map_or(0, |n| n.stats().snapshot_chunks_loaded);
            sim.expect(chunks >= 30, "the snapshot came in its chunks");
            sim.set_link_net(0, 1, None);
            sim.set_link_net(2, 1, None);
            sim.run_for(secs(90));
            let live = all_ip_clients_live(&sim);
            sim.expect(live, "every ip-port client stayed registered");
            sim.finish()
        },
    );
}

/// alibaba/nacos#8099: one member hangs (its links stay up, it answers nothing) while the
/// others keep syncing. Changes must still reach every other member at once.
#[test]
fn one_dead_peer_while_syncing_to_the_others() {
    scenario(
        "one_dead_peer_while_syncing_to_the_others",
        8099,
        |seed| cluster(seed, 5, 100, 20),
        |mut sim| {
            sim.run_for(secs(30));
            sim.pause(4, secs(60));
            sim.run_for(secs(5));
            let first = sim.spawn_ip_clients(50, Duration::ZERO, secs(5));
            sim.run_for(secs(10));
            for k in first..first + 50 {
                if !sim.ip_client_live(k) {
                    continue; // its first request went to the hung member and is being retried
                }
                let (ip, port) = sim.ip_client_addr(k);
                let id = ClientId::ip_port(ip, port);
                let everywhere = (0..4).all(|i| {
                    sim.node(i)
                        .is_some_and(|n| n.registry().client(&id).is_some())
                });
                sim.expect(
                    everywhere,
                    "a new client reached every running member at once",
                );
            }
            sim.run_for(secs(120));
            sim.finish()
        },
    );
}

/// alibaba/nacos#11460: a member stops for good while its connection clients reconnect to the
/// others and register again. The new registrations stay; the stopped member's copies go away
/// within the orphan bound.
#[test]
fn member_stopped_while_its_connection_clients_reconnect_elsewhere() {
    scenario(
        "member_stopped_while_its_connection_clients_reconnect_elsewhere",
        11460,
        |seed| cluster(seed, 3, 30, 60),
        |mut sim| {
            sim.run_for(secs(40));
            sim.crash(1);
            sim.run_for(secs(120));
            let moved = (0..sim.conn_client_count())
                .filter_map(|k| sim.conn_client_member(k))
                .all(|m| m != 1);
            sim.expect(moved, "every connection client lives on a running member");
            sim.finish()
        },
    );
}

/// alibaba/nacos#10693: clients register identical instances again, and deregister and
/// register the same instance again, while one member is cut off. Revisions must still let
/// every member converge on the same data once it is back.
#[test]
fn re_registering_an_identical_instance() {
    scenario(
        "re_registering_an_identical_instance",
        10693,
        |seed| cluster(seed, 3, 40, 0),
        |mut sim| {
            sim.run_for(secs(30));
            sim.partition(&[2], &[0, 1]);
            sim.run_for(secs(12));
            for k in 0..40 {
                if k % 2 == 0 {
                    sim.reregister_ip_client(k);
                } else {
                    sim.deregister_ip_client(k, Some(secs(2)));
                }
            }
            sim.run_for(secs(10));
            for k in (0..40).step_by(4) {
                sim.reregister_ip_client(k);
            }
            sim.run_for(secs(5));
            sim.heal();
            sim.run_for(secs(90));
            let live = all_ip_clients_live(&sim);
            sim.expect(live, "every ip-port client is registered again");
            sim.finish()
        },
    );
}

/// A partition splits the ring: each side takes over the other side's clients (clients beat
/// to members on both sides), then the partition heals and responsibility moves back.
#[test]
fn partition_that_splits_responsibility_then_heals() {
    scenario(
        "partition_that_splits_responsibility_then_heals",
        4242,
        |seed| {
            let mut cfg = cluster(seed, 5, 150, 30);
            cfg.workload.churn_per_minute = 0.2;
            cfg
        },
        |mut sim| {
            sim.run_for(secs(40));
            sim.partition(&[0, 1], &[2, 3, 4]);
            sim.run_for(secs(60));
            sim.heal();
            sim.run_for(secs(120));
            sim.finish()
        },
    );
}

/// Issue 11: one member of three is cut off for 45 s while every client keeps beating (most
/// of them to the two members of the majority side, some to the cut-off one). Each side expires
/// the clients whose beats it does not hear; when the partition heals, those expiries must lose
/// to the side that heard the beats. The beat-side check judges the members each client talks
/// to at every event, through the partition and the heal; the cluster converges afterwards.
#[test]
fn partition_during_steady_beats_then_heal() {
    scenario(
        "partition_during_steady_beats_then_heal",
        11,
        |seed| cluster(seed, 3, 300, 30),
        |mut sim| {
            sim.run_for(secs(30));
            sim.partition(&[2], &[0, 1]);
            sim.run_for(secs(45));
            let expired = sim.node(2).map_or(0, |n| n.stats().instances_expired);
            sim.expect(expired > 0, "the cut-off member expired what it took over");
            sim.heal();
            sim.run_for(secs(90));
            let refuted: u64 = (0..3)
                .filter_map(|i| sim.node(i))
                .map(|n| n.stats().suspicions_refuted)
                .sum();
            sim.expect(
                refuted > 0,
                "members that heard the beats refuted the expiries",
            );
            let live = all_ip_clients_live(&sim);
            sim.expect(live, "every ip-port client is still registered and beating");
            sim.finish()
        },
    );
}

/// No faults, heavy client churn: every stop, deregistration, hang and disconnect is judged by
/// the expiry and unhealthy bounds in calm conditions.
#[test]
fn steady_churn_without_faults() {
    scenario(
        "steady_churn_without_faults",
        1,
        |seed| {
            let mut cfg = cluster(seed, 4, 200, 60);
            cfg.workload.churn_per_minute = 2.0;
            cfg
        },
        |mut sim| {
            sim.run_for(secs(300));
            let judged = sim.judged();
            sim.expect(
                judged.unhealthy_bounds > 20,
                "the unhealthy bound was judged",
            );
            sim.expect(
                judged.expiry_deadlines > 100,
                "expiry deadlines were judged",
            );
            sim.finish()
        },
    );
}

/// Membership changes under load: a member joins (it pulls a snapshot and takes over its share
/// of the ring), then another leaves (its clients move to the others).
#[test]
fn membership_change_under_load() {
    scenario(
        "membership_change_under_load",
        77,
        |seed| {
            let mut cfg = cluster(seed, 3, 150, 40);
            cfg.workload.churn_per_minute = 0.3;
            cfg
        },
        |mut sim| {
            sim.run_for(secs(30));
            let joined = sim.add_member();
            sim.run_for(secs(40));
            let ready = sim.node(joined).is_some_and(|n| n.is_ready());
            sim.expect(ready, "the new member loaded its snapshot");
            sim.remove_member(0);
            sim.run_for(secs(120));
            sim.finish()
        },
    );
}
