//! Sync apply: a peer's `Sync` frame of 100 changed clients, decoded, applied (each record
//! newer than the one held) and acknowledged.

use criterion::{Criterion, Throughput};
use distro_benches::fixtures::*;
use std::time::{Duration, Instant};

const PER_FRAME: usize = 100;
const CLIENTS: u64 = 10_000;

pub fn bench_sync_apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_apply");
    g.throughput(Throughput::Elements(PER_FRAME as u64));
    let mut m = Member::new(1);
    let mut feed = SyncFeed::new(CLIENTS);
    // first round: every client becomes known
    for f in feed.frames((CLIENTS as usize) / PER_FRAME, PER_FRAME) {
        feed_peer_frame(&mut m.node, 0, &f);
    }
    g.bench_function("100_records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(1_000);
                let frames = feed.frames(n as usize, PER_FRAME);
                let start = Instant::now();
                for f in &frames {
                    let d = feed_peer_frame(&mut m.node, 0, f);
                    debug_assert_eq!(d.transmits, 1, "one ack");
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });
    let applied = m.node.stats().records_applied;
    assert!(applied >= CLIENTS, "{applied} records applied");
    g.finish();
}
