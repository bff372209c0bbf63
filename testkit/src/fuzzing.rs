//! The `cluster` fuzz target: fuzzer bytes choose the simulator's cluster, workload, network
//! and fault schedule, and the simulator's invariants must hold.
//!
//! The libFuzzer target in `fuzz/fuzz_targets/cluster.rs` calls [`cluster`], and
//! `testkit/tests/fuzz_corpus.rs` replays every file of `fuzz/corpus/cluster/` through it, so a
//! plain `cargo test` covers the committed corpus.

use crate::sim::{Fault, FaultPlan, NetParams, Sim, SimConfig, Workload};
use core::time::Duration;
use distro_core::fuzzing::ByteReader;

/// Most scripted faults in one run.
const MAX_FAULTS: usize = 24;

/// Runs the simulation that [`config`] reads from `data`; panics with the failure report when
/// an invariant breaks (resurrection, convergence, no lost live client, expiry bounds,
/// subscriber views: see [`sim`](crate::sim)).
pub fn cluster(data: &[u8]) {
    let cfg = config(data);
    if let Err(failure) = Sim::new(cfg.clone()).run() {
        panic!("{failure}\nconfig: {cfg:#?}");
    }
}

/// The simulation `data` describes (with a 10 s snapshot gate). Byte by byte: the seed, the
/// cluster size (2 to 4), the
/// duration (60 to 120 virtual seconds), timings and limits off their defaults, the workload
/// (up to 8 ip-port and 6 native clients in 1 to 3 services, churn), whether random faults
/// join in; then a script of faults (partitions, one-way cuts, heals, lossy or slow networks,
/// crashes, restarts, pauses, members added and removed), each a time step after the previous
/// one. Faults stop at half the run: every link is healed and every member restarted, so the
/// second half judges convergence.
pub fn config(data: &[u8]) -> SimConfig {
    let mut r = ByteReader::new(data);
    let seed = u64::from(r.u16());
    let members = 2 + r.below(3);
    let mut cfg = SimConfig::new(seed, members);
    cfg.duration = Duration::from_secs(60 + r.below(61) as u64);
    let until = cfg.duration / 2;

    let ms = Duration::from_millis;
    // A member that cannot load a snapshot (every peer dead, or it was left alone) is not ready
    // until its gate and expires nothing meanwhile, by design. The simulator allows that for
    // readiness but its expiry bounds (an orphan of a crashed member gone within DOWN detection
    // + `orphan_conn_expiry` + a cleanup interval, about 40 s) assume a ready member, so with
    // the default 60 s gate they flag the designed wait. A 10 s gate keeps the bounds judged.
    cfg.timings.snapshot_gate = Duration::from_secs(10);
    let knobs = r.u8();
    cfg.timings.sync_delay = [ms(0), ms(1), ms(50), ms(1000)][usize::from(knobs & 3)];
    if knobs & 4 != 0 {
        cfg.timings.verify_interval = ms(2000);
    }
    if knobs & 8 != 0 {
        cfg.limits.snapshot_chunk_clients = 1 + r.below(4);
        cfg.limits.sync_batch_clients = 1 + r.below(4);
        cfg.limits.verify_chunk_entries = 1 + r.below(4);
    }
    cfg.workload = Workload {
        ip_clients: r.below(9),
        conn_clients: r.below(7),
        services: 1 + r.below(3),
        churn_per_minute: f64::from(r.u8() % 5) * 0.1,
        beat_body: f64::from(r.u8() % 3) * 0.5,
        ..Workload::default()
    };
    cfg.faults = FaultPlan {
        random: knobs & 0x10 != 0,
        until,
        mean_gap: Duration::from_secs(5 + r.below(16) as u64),
        lossy: knobs & 0x20 != 0,
        membership: knobs & 0x40 != 0,
        harsh: knobs & 0x80 != 0,
        script: Vec::new(),
    };

    let mut slots = members;
    let mut at = Duration::ZERO;
    while !r.is_empty() && cfg.faults.script.len() < MAX_FAULTS {
        at += ms(u64::from(r.u16()) % 10_000);
        if at >= until {
            break;
        }
        let i = r.below(slots);
        let fault = match r.u8() % 9 {
            0 => {
                let mask = r.u8();
                let (a, b): (Vec<usize>, Vec<usize>) =
                    (0..slots).partition(|k| mask & (1 << k) != 0);
                Fault::Partition(a, b)
            }
            1 => Fault::OneWay {
                from: i,
                to: (i + 1 + r.below(slots - 1)) % slots,
            },
            2 => Fault::Heal,
            3 => Fault::Net(net(&mut r)),
            4 => Fault::Crash(i),
            5 => Fault::Restart(i),
            6 => Fault::Pause(i, ms(100 + 100 * u64::from(r.u8()))),
            7 if slots < 6 => {
                slots += 1;
                Fault::AddMember
            }
            _ => Fault::RemoveMember(i),
        };
        cfg.faults.script.push((at, fault));
    }
    // The end of the fault period, for scripts without random faults too.
    cfg.faults.script.push((until, Fault::Heal));
    cfg.faults.script.push((until, Fault::Net(cfg.net.clone())));
    for i in 0..slots {
        cfg.faults.script.push((until, Fault::Restart(i)));
    }
    cfg
}

/// A network: slow, jittery, lossy, duplicating or reordering.
fn net(r: &mut ByteReader) -> NetParams {
    let ms = Duration::from_millis;
    NetParams {
        latency: ms(u64::from(r.u8() % 200)),
        jitter: ms(u64::from(r.u8() % 100)),
        drop: f64::from(r.u8() % 21) / 100.0,
        duplicate: f64::from(r.u8() % 11) / 100.0,
        reorder: r.bool(),
    }
}
