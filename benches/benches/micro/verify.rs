//! Verify: the sender's round (collect and encode every owned client's revision, one frame
//! per peer) for 1k and 100k clients, and the receiver's check of a 100k-entry frame.

use criterion::{BenchmarkId, Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::{ClientId, Revision};
use std::hint::black_box;
use std::time::Duration;

pub fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    for clients in [1_000usize, 100_000] {
        let mut m = Member::new(2);
        m.register_owned(clients, 100);
        // one round to check the fixture: each peer gets the list in frames of at most
        // `verify_chunk_entries` entries
        let per_frame = m.node.config().limits.verify_chunk_entries;
        let sent = tick(&mut m.node, Duration::from_secs(1));
        assert_eq!(
            sent.len(),
            2 * clients.div_ceil(per_frame),
            "{} frames",
            sent.len()
        );
        g.throughput(Throughput::Elements(clients as u64));
        g.bench_with_input(BenchmarkId::new("send_round", clients), &clients, |b, _| {
            b.iter(|| black_box(tick(&mut m.node, Duration::from_secs(1))))
        });
    }

    // Receiver: holds 100k replicas of clients peer 0 is responsible for, all in sync.
    let clients = 100_000u64;
    let mut m = Member::new(1);
    let mut feed = SyncFeed::new(clients);
    for f in feed.frames((clients / 1000) as usize, 1000) {
        feed_peer_frame(&mut m.node, 0, &f);
    }
    assert_eq!(m.node.registry().client_count() as u64, clients);
    let entries: Vec<(ClientId, Revision)> = m
        .node
        .registry()
        .clients()
        .map(|c| (c.id.clone(), c.revision))
        .collect();
    let frame = verify_frame(1, entries);
    let d = feed_peer_frame(&mut m.node, 0, &frame);
    assert_eq!(d.transmits, 0, "an in-sync verify is not answered");
    g.throughput(Throughput::Elements(clients));
    g.bench_function(BenchmarkId::new("receive_in_sync", clients), |b| {
        b.iter(|| black_box(feed_peer_frame(&mut m.node, 0, &frame)))
    });
    g.finish();
}
