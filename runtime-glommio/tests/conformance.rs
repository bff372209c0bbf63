//! Every conformance scenario of `distro-testkit` against `distrod-glommio` with one shard
//! and with two, then the shard scenarios (and a mixed cluster with `distrod`). On a machine
//! without io_uring (or with too little locked memory) every case is reported skipped, with
//! the reason, in the summary line.

use distro_testkit::cluster::Target;
use distro_testkit::conformance::runner::{run_suite, Case};
use distro_testkit::conformance::{shards, SCENARIOS};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let bin = Path::new(env!("CARGO_BIN_EXE_distrod-glommio"));
    let mut cases = Vec::new();
    for n in [1, 2] {
        for (name, scenario) in SCENARIOS {
            let target = Target::sharded(bin, n);
            cases.push(Case::new(format!("shards={n}/{name}"), move || {
                scenario(&target)
            }));
        }
    }
    let two = Target::sharded(bin, 2);
    for (name, scenario) in shards::SCENARIOS {
        let t = two.clone();
        cases.push(Case::new(format!("shards=2/{name}"), move || scenario(&t)));
    }
    let t = two.clone();
    cases.push(Case::new(
        "mixed/distrod+distrod-glommio-2-shards",
        move || shards::mixed_cluster(&Target::new(&distrod(bin)), &t),
    ));
    let skip = distro_glommio::preflight::check(2)
        .err()
        .map(|e| e.to_string());
    let threads = std::env::var("CONFORMANCE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    run_suite("conformance (distrod-glommio)", cases, skip, threads)
}

/// `distrod` (mio) from the same target directory, built first if this test ran alone.
fn distrod(glommio: &Path) -> PathBuf {
    let path = glommio.with_file_name("distrod");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", "distro-mio", "--bin", "distrod"]);
        if glommio.parent().and_then(Path::file_name) == Some("release".as_ref()) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of distrod failed");
    }
    path
}
