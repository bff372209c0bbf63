//! Micro-benchmarks of `distro-core` (criterion): `cargo bench -p distro-benches`.
//!
//! One module per area, each exporting `bench_*` functions (the raft-rs layout). Filter with
//! criterion's usual argument, e.g. `cargo bench -p distro-benches -- beat`.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod beat;
mod frame;
mod http;
mod list;
mod register;
mod snapshot;
mod sync;
mod verify;

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

/// Short runs: the machine is small and shared; medians over a few seconds are enough.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = micro;
    config = config();
    targets =
        register::bench_register,
        beat::bench_beat,
        verify::bench_verify,
        sync::bench_sync_apply,
        snapshot::bench_snapshot,
        list::bench_list,
        http::bench_http_parse,
        frame::bench_frame,
}
criterion_main!(micro);
