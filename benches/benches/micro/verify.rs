//! Verify: the sender's round (digest of every owned client's revision, one frame per peer)
//! for 1k and 100k clients, and the receiver's check of an in-sync 100k-client round, in
//! digest form and as a full pair list (what differing buckets fall back to).

use criterion::{BenchmarkId, Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::wire::{decode_payload, PeerMsg};
use distro_core::{ClientId, Revision};
use std::hint::black_box;
use std::time::Duration;

pub fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    for clients in [1_000usize, 100_000] {
        let mut m = Member::new(2);
        m.register_owned(clients, 100);
        // one round to check the fixture: each peer gets one client digest (and one digest
        // of the service settings)
        let sent = tick(&mut m.node, Duration::from_secs(1));
        let digests = sent
            .iter()
            .filter(|(_, f)| {
                matches!(
                    decode_payload::<PeerMsg>(&f[4..]),
                    Ok(PeerMsg::VerifyDigest { .. })
                )
            })
            .count();
        assert_eq!(
            digests,
            2,
            "{} frames, {digests} verify digests",
            sent.len()
        );
        g.throughput(Throughput::Elements(clients as u64));
        g.bench_with_input(BenchmarkId::new("send_round", clients), &clients, |b, _| {
            b.iter(|| black_box(tick(&mut m.node, Duration::from_secs(1))))
        });
    }

    // Receiver: member B holds replicas of the 100k clients member A is responsible for,
    // loaded from A's own sync frames; A's verify round is then fed to B.
    let clients = 100_000usize;
    let a_id = SELF_ID;
    let b_id = PEER_IDS[0];
    let mut a = Member::named(a_id, &[b_id], 7);
    let mut b = Member::named(b_id, &[a_id], 8);
    let addrs = owned_addrs(&a.node, clients);
    let svc = service("svc-0");
    for (i, (ip, port)) in addrs.iter().enumerate() {
        let now = a.node.now();
        a.node
            .handle_input(distro_core::Input::Request {
                now,
                conn: CLIENT_CONN,
                id: distro_core::RequestId(i as u64),
                request: distro_core::Request::Register {
                    service: svc.clone(),
                    instance: distro_core::Instance::new(ip, *port),
                },
            })
            .expect("register");
        exchange(&mut a, &mut b);
    }
    assert_eq!(b.node.registry().client_count(), clients);
    let digest = tick(&mut a.node, Duration::from_secs(1))
        .into_iter()
        .map(|(_, f)| f)
        .find(|f| {
            matches!(
                decode_payload::<PeerMsg>(&f[4..]),
                Ok(PeerMsg::VerifyDigest { .. })
            )
        })
        .expect("a digest frame");
    let d = feed_peer_frame(&mut b.node, 0, &digest);
    assert_eq!(d.transmits, 0, "an in-sync digest round is not answered");
    g.throughput(Throughput::Elements(clients as u64));
    g.bench_function(
        BenchmarkId::new("receive_digest_in_sync", clients),
        |bench| bench.iter(|| black_box(feed_peer_frame(&mut b.node, 0, &digest))),
    );
    let entries: Vec<(ClientId, Revision)> = b
        .node
        .registry()
        .clients()
        .map(|c| (c.id.clone(), c.revision))
        .collect();
    let list = verify_frame(1, entries);
    let d = feed_peer_frame(&mut b.node, 0, &list);
    assert_eq!(d.transmits, 0, "an in-sync pair list is not answered");
    g.bench_function(
        BenchmarkId::new("receive_pairs_in_sync", clients),
        |bench| bench.iter(|| black_box(feed_peer_frame(&mut b.node, 0, &list))),
    );
    g.finish();
}

/// Delivers A's frames to B and B's answers (acknowledgements) back to A until both are quiet.
fn exchange(a: &mut Member, b: &mut Member) {
    let mut to_b = drain_transmits(&mut a.node);
    while !to_b.is_empty() {
        let mut to_a = Vec::new();
        for (_, frame) in to_b {
            let now = b.node.now();
            b.node
                .handle_input(distro_core::Input::PeerFrame {
                    now,
                    conn: distro_core::ConnId(PEER_CONN_BASE),
                    frame: &frame[4..],
                })
                .expect("frame accepted");
            to_a.extend(drain_transmits(&mut b.node));
        }
        to_b = Vec::new();
        for (_, frame) in to_a {
            let now = a.node.now();
            a.node
                .handle_input(distro_core::Input::PeerFrame {
                    now,
                    conn: distro_core::ConnId(PEER_CONN_BASE),
                    frame: &frame[4..],
                })
                .expect("frame accepted");
            to_b.extend(drain_transmits(&mut a.node));
        }
    }
}
