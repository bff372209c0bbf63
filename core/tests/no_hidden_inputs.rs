//! The core's contract says it does no I/O, reads no clock and no global randomness, runs no
//! threads, and seeds every hash from the configuration. This scans its sources for what would
//! break that: files, sockets, processes, threads and unwinding, std's OS-seeded hash maps,
//! clocks, thread or OS randomness (issue 11, defect 8: `ClientState` used std's `HashMap`, and
//! `fuzzing::replay_corpus` read files and caught panics). The core's own tests (`src/tests/`,
//! `tests.rs` files) may time themselves.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "std::process",
    "std::thread",
    "catch_unwind",
    "RandomState",
    "Instant::now",
    "SystemTime",
    "thread_rng",
    "getrandom",
];

/// What a line uses that the contract rules out.
fn forbidden(code: &str) -> Vec<&'static str> {
    let mut found: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|f| code.contains(f))
        .collect();
    let std_hash =
        code.contains("std::collections") && (code.contains("HashMap") || code.contains("HashSet"));
    if std_hash {
        found.push("std's OS-seeded HashMap or HashSet");
    }
    found
}

fn scan(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests" || name == "tests.rs" {
            continue;
        }
        if path.is_dir() {
            scan(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for f in forbidden(code) {
                    found.push(format!("{}:{}: {f}", path.display(), n + 1));
                }
            }
        }
    }
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    assert!(!forbidden("use std::collections::{BTreeMap, HashMap};").is_empty());
    assert!(forbidden("use hashbrown::{HashMap, HashSet};").is_empty());
    assert!(!forbidden("let t = std::time::Instant::now();").is_empty());
    assert!(!forbidden("let data = std::fs::read(file)?;").is_empty());
}

#[test]
fn the_core_does_no_io_and_reads_no_clock_nor_os_seeded_hash_or_randomness() {
    let mut found = Vec::new();
    scan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
