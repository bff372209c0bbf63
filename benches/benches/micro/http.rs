//! HTTP request parsing: framing (`parse_request`) and mapping to a request (`to_request`) of
//! the v1 calls a client makes most.

use criterion::{BenchmarkId, Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::http::{parse_request, to_request, ApiOptions};
use distro_core::Limits;
use std::hint::black_box;
use std::net::SocketAddr;

pub fn bench_http_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_parse");
    g.throughput(Throughput::Elements(1));
    let limits = Limits::default();
    let api = ApiOptions::default();
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
    let cases = [
        ("register", http_register_bytes(12_345)),
        ("light_beat", http_beat_bytes(12_345)),
        ("beat_with_body", http_full_beat_bytes(12_345)),
        ("list", http_list_bytes("svc-7")),
    ];
    for (name, bytes) in &cases {
        let (req, used) = parse_request(bytes, &limits)
            .expect("parse")
            .expect("complete");
        assert_eq!(used, bytes.len());
        to_request(&req, Some(peer), &api, &limits).expect("maps to a request");
        g.bench_with_input(
            BenchmarkId::new("parse_and_map", name),
            bytes,
            |b, bytes| {
                b.iter(|| {
                    let (req, _) = parse_request(black_box(bytes), &limits)
                        .expect("parse")
                        .expect("complete");
                    black_box(to_request(&req, Some(peer), &api, &limits).expect("map"))
                })
            },
        );
    }
    g.finish();
}
