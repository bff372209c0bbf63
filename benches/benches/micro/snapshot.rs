//! Snapshot of 100k clients: serving every chunk of it (build and encode), and loading it into
//! a starting member (decode and apply, then ready).

use criterion::{Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::wire::{decode_payload, PeerMsg};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CLIENTS: usize = 100_000;
const LOADER_SEED: u64 = 99;

/// Serves a whole snapshot of `session` to peer 0; returns the chunk frames.
fn serve(m: &mut Member, session: u64) -> Vec<bytes::Bytes> {
    let mut chunks = Vec::new();
    for seq in 0u32.. {
        let frame = distro_core::wire::encode_frame(&PeerMsg::SnapshotRequest { session, seq });
        let now = m.node.now();
        m.node
            .handle_input(distro_core::Input::PeerFrame {
                now,
                conn: distro_core::ConnId(PEER_CONN_BASE),
                frame: &frame[4..],
            })
            .expect("snapshot request");
        let out = drain_transmits(&mut m.node);
        let mut last = false;
        for (_, f) in out {
            if let Ok(PeerMsg::SnapshotChunk { last: l, .. }) = decode_payload::<PeerMsg>(&f[4..]) {
                last = l;
                chunks.push(f);
            }
        }
        if last {
            break;
        }
    }
    chunks
}

pub fn bench_snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(CLIENTS as u64));

    let mut server = Member::new(1);
    server.register_owned(CLIENTS, 100);
    let mut session = 1_000u64;
    g.bench_function("build_100k", |b| {
        b.iter(|| {
            session += 1;
            black_box(serve(&mut server, session).len())
        })
    });

    let (_, _, loader_session) = Member::loading(1, LOADER_SEED);
    let chunks = serve(&mut server, loader_session);
    assert!(chunks.len() > 1);
    g.bench_function("apply_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut node, _, s) = Member::loading(1, LOADER_SEED);
                assert_eq!(s, loader_session);
                let start = Instant::now();
                for f in &chunks {
                    feed_peer_frame(&mut node, 0, f);
                }
                total += start.elapsed();
                assert!(node.is_ready());
                assert_eq!(node.registry().client_count(), CLIENTS);
                drop(node);
            }
            total
        })
    });
    g.finish();
}
