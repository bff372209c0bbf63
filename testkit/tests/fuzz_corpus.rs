//! Replays every committed corpus file of the `cluster` fuzz target (`fuzz/corpus/cluster/*`)
//! through [`distro_testkit::fuzzing::cluster`], the function the libFuzzer target calls, so a
//! plain `cargo test` covers it without nightly features.
//!
//! The seeds are written by the ignored test `write_seeds`:
//! `DISTRO_WRITE_SEEDS=1 cargo test -p distro-testkit --test fuzz_corpus -- --ignored`.

use distro_testkit::fuzzing;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    distro_testkit::corpus::corpus_dir("cluster")
}

#[test]
fn cluster_corpus() {
    distro_testkit::corpus::replay_corpus(&corpus_dir(), fuzzing::cluster);
}

/// Seeds in the layout of [`fuzzing::config`]: seed (2 bytes), members, duration, knobs,
/// workload (5 bytes), mean fault gap; then faults of (time step: 2 bytes, member, kind, ...).
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let head = |members: u8, knobs: u8| vec![7, 0, members, 30, knobs, 6, 4, 2, 1, 1, 5];
    let with = |mut v: Vec<u8>, faults: &[u8]| {
        v.extend_from_slice(faults);
        v
    };
    vec![
        ("seed-calm", head(1, 0)),
        ("seed-random-faults", head(2, 0x70)),
        (
            "seed-crash-restart",
            // crash member 1 at 5 s, restart it 8 s later
            with(head(1, 0), &[0x88, 0x13, 1, 4, 0x40, 0x1f, 1, 5]),
        ),
        (
            "seed-partition-heal",
            // isolate member 0 at 3 s, heal 9 s later
            with(head(1, 1), &[0xb8, 0x0b, 0, 0, 1, 0x28, 0x23, 0, 2]),
        ),
        (
            "seed-lossy-pause",
            // a lossy, reordering network at 2 s; pause member 2 for 3 s at 4 s
            with(
                head(1, 2),
                &[0xd0, 0x07, 0, 3, 20, 10, 10, 5, 1, 0xd0, 0x07, 2, 6, 29],
            ),
        ),
        (
            "seed-membership",
            // add a member at 4 s, remove member 1 at 10 s
            with(head(0, 0), &[0xa0, 0x0f, 0, 7, 0x70, 0x17, 1, 8]),
        ),
    ]
}

/// Writes the seeds into `fuzz/corpus/cluster/seed-*` (only with `DISTRO_WRITE_SEEDS=1`).
#[test]
#[ignore = "writes files; run by hand after changing the seeds"]
fn write_seeds() {
    if std::env::var_os("DISTRO_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (name, data) in seeds() {
        std::fs::write(dir.join(name), data).expect("a seed file");
    }
}
