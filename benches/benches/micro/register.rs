//! Register: one new ip-port client per request, standalone and as a cluster member that
//! syncs every change to two peers (their acknowledgements fed back).

use criterion::{Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::{Input, Instance, Request, RequestId, ServiceKey};
use std::time::{Duration, Instant};

/// Most clients registered into one node before the benchmark starts a fresh one.
const BATCH: u64 = 100_000;

pub fn bench_register(c: &mut Criterion) {
    let services: Vec<ServiceKey> = (0..100).map(|s| service(&format!("svc-{s}"))).collect();
    let mut g = c.benchmark_group("register");
    g.throughput(Throughput::Elements(1));
    g.bench_function("standalone", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(BATCH);
                let mut node = standalone();
                let requests: Vec<Request> = (0..n)
                    .map(|i| Request::Register {
                        service: services[(i % 100) as usize].clone(),
                        instance: Instance::new(&ip_of(i), port_of(i)),
                    })
                    .collect();
                let start = Instant::now();
                for (i, request) in requests.into_iter().enumerate() {
                    let d = request_in(&mut node, i as u64, request);
                    debug_assert_eq!(d.replies, 1);
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });
    g.bench_function("cluster3_synced", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = (iters - done).min(BATCH);
                let mut m = Member::new(2);
                let requests: Vec<Request> = owned_addrs(&m.node, n as usize)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (ip, port))| Request::Register {
                        service: services[i % 100].clone(),
                        instance: Instance::new(&ip, port),
                    })
                    .collect();
                let start = Instant::now();
                for (i, request) in requests.into_iter().enumerate() {
                    let now = m.node.now();
                    m.node
                        .handle_input(Input::Request {
                            now,
                            conn: CLIENT_CONN,
                            id: RequestId(i as u64),
                            request,
                        })
                        .expect("register");
                    let d = m.ack_syncs();
                    debug_assert_eq!((d.replies, d.transmits), (1, 2));
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });
    g.finish();
}
