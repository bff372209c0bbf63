//! Random seeds of the deterministic simulator, the determinism check, and the speed report.
//!
//! `SIM_SEED=<n>` replays one seed, `SIM_SEEDS=<count>` runs many (from `SIM_SEED_BASE`).

use core::time::Duration;
use distro_testkit::sim::{run_seeds, seeds_from_env, FaultPlan, Sim, SimConfig, Workload};

/// The default batch is small so CI stays fast in debug builds; `SIM_SEEDS` scales it.
#[test]
fn random_seeds() {
    let seeds = seeds_from_env(1, 20);
    run_seeds("sim", "random_seeds", &seeds, SimConfig::random);
}

/// Harsher random runs for bug hunting (not in the default run):
/// `SIM_SEEDS=100 cargo test -p distro-testkit --test sim -- --ignored harsh_seeds --nocapture`.
#[test]
#[ignore]
fn harsh_seeds() {
    let seeds = seeds_from_env(1, 20);
    run_seeds("sim", "harsh_seeds", &seeds, SimConfig::harsh);
}

#[test]
fn same_seed_same_trace() {
    let run = || {
        Sim::new(SimConfig::random(424242))
            .run()
            .expect("clean run")
    };
    let (a, b) = (run(), run());
    assert_eq!(a.trace_hash, b.trace_hash);
    assert!(a.trace_records > 10_000, "the run did something");
    let other = Sim::new(SimConfig::random(424243))
        .run()
        .expect("clean run");
    assert_ne!(
        a.trace_hash, other.trace_hash,
        "another seed, another trace"
    );
}

/// 5 members, 1,000 clients, 10 virtual minutes; prints the virtual:real ratio
/// (`cargo test -p distro-testkit --test sim -- speed --nocapture`).
#[test]
fn speed_5_members_1000_clients_10_minutes() {
    let mut cfg = SimConfig::new(99, 5);
    cfg.duration = Duration::from_secs(600);
    cfg.check_interval = Duration::from_secs(5);
    cfg.workload = Workload {
        ip_clients: 800,
        conn_clients: 200,
        services: 20,
        churn_per_minute: 0.05,
        ..Workload::default()
    };
    cfg.faults = FaultPlan::default();
    let r = Sim::new(cfg).run().expect("clean run");
    println!("{r}");
    println!(
        "speed: {:.0} s virtual in {:.2} s real: {:.1}x real time",
        r.virtual_time.as_secs_f64(),
        r.real_time.as_secs_f64(),
        r.speedup()
    );
}
