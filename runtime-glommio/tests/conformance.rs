//! Every conformance scenario of `distro-testkit` against `distrod-glommio` with one shard
//! and with two, then the shard scenarios. On a machine without io_uring (or with too little
//! locked memory) every case is reported skipped, with the reason, in the summary line.

use distro_testkit::cluster::Target;
use distro_testkit::conformance::runner::{run_suite, Case};
use distro_testkit::conformance::SCENARIOS;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let bin = Path::new(env!("CARGO_BIN_EXE_distrod-glommio"));
    let mut cases = Vec::new();
    for shards in [1, 2] {
        for (name, scenario) in SCENARIOS {
            let target = Target::sharded(bin, shards);
            cases.push(Case::new(format!("shards={shards}/{name}"), move || {
                scenario(&target)
            }));
        }
    }
    let skip = distro_glommio::preflight::check(2)
        .err()
        .map(|e| e.to_string());
    let threads = std::env::var("CONFORMANCE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    run_suite("conformance (distrod-glommio)", cases, skip, threads)
}
