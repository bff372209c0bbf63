//! List: a service's view built by the node (`Request::List`) and rendered as the v1 JSON
//! answer, for 100 and 10,000 instances.

use criterion::{BenchmarkId, Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::http::render_reply;
use distro_core::{Input, Instance, Output, Reply, Request, RequestId};
use std::hint::black_box;

fn list_reply(node: &mut distro_core::Node, request: Request) -> Reply {
    let now = node.now();
    node.handle_input(Input::Request {
        now,
        conn: CLIENT_CONN,
        id: RequestId(0),
        request,
    })
    .expect("list");
    let mut reply = None;
    loop {
        match node.poll_output() {
            Output::Reply { reply: r, .. } => reply = Some(r),
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    reply.expect("a reply")
}

pub fn bench_list(c: &mut Criterion) {
    let mut g = c.benchmark_group("list");
    let mut node = standalone();
    for size in [100u64, 10_000] {
        let svc = service(&format!("list-{size}"));
        for n in 0..size {
            request_in(
                &mut node,
                n,
                Request::Register {
                    service: svc.clone(),
                    instance: Instance::new(&ip_of(n), port_of(n)),
                },
            );
        }
        let request = Request::List {
            service: svc.clone(),
            clusters: String::new(),
            healthy_only: false,
            udp_subscriber: None,
        };
        let reply = list_reply(&mut node, request.clone());
        let Reply::Service(view) = &reply else {
            panic!("{reply:?}")
        };
        assert_eq!(view.hosts.len() as u64, size);
        g.throughput(Throughput::Elements(size));
        g.bench_with_input(BenchmarkId::new("view", size), &size, |b, _| {
            b.iter(|| black_box(list_reply(&mut node, request.clone())))
        });
        let mut out = Vec::new();
        g.bench_with_input(BenchmarkId::new("render", size), &size, |b, _| {
            b.iter(|| {
                out.clear();
                render_reply(&reply, true, 1_700_000_000_000, &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}
