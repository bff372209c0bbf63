//! Beat: a light beat of a known instance, handled and drained (the reply included), in a
//! node holding 1,000 clients. The zero-allocation property of this path is checked by
//! `core/tests/beat_allocations.rs`.

use criterion::{Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::{Instance, Node, Request};
use std::hint::black_box;
use std::sync::Arc;

const CLIENTS: usize = 1_000;

fn beats(addrs: &[(Arc<str>, u16)]) -> Vec<Request> {
    let svc = service("orders");
    addrs
        .iter()
        .map(|(ip, port)| Request::Beat {
            service: svc.clone(),
            ip: ip.clone(),
            port: *port,
            register: None,
        })
        .collect()
}

fn register_all(node: &mut Node, addrs: &[(Arc<str>, u16)]) {
    let svc = service("orders");
    for (i, (ip, port)) in addrs.iter().enumerate() {
        request_in(
            node,
            i as u64,
            Request::Register {
                service: svc.clone(),
                instance: Instance::new(ip, *port),
            },
        );
    }
}

fn run(b: &mut criterion::Bencher<'_>, node: &mut Node, requests: &[Request]) {
    let mut i = 0usize;
    b.iter(|| {
        let request = requests[i % requests.len()].clone();
        i += 1;
        black_box(request_in(node, i as u64, request))
    });
}

pub fn bench_beat(c: &mut Criterion) {
    let mut g = c.benchmark_group("beat");
    g.throughput(Throughput::Elements(1));

    let mut node = standalone();
    let addrs: Vec<(Arc<str>, u16)> = (0..CLIENTS as u64)
        .map(|n| (Arc::from(ip_of(n).as_str()), port_of(n)))
        .collect();
    register_all(&mut node, &addrs);
    let requests = beats(&addrs);
    g.bench_function("standalone", |b| run(b, &mut node, &requests));

    // A member of three: every beat computes the responsible member (Java string hash).
    let mut m = Member::new(2);
    let addrs = m.register_owned(CLIENTS, 1);
    let svc = service("svc-0");
    let requests: Vec<Request> = addrs
        .iter()
        .map(|(ip, port)| Request::Beat {
            service: svc.clone(),
            ip: ip.clone(),
            port: *port,
            register: None,
        })
        .collect();
    g.bench_function("cluster3_owned", |b| run(b, &mut m.node, &requests));
    g.finish();
}
