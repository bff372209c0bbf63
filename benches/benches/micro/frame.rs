//! Frames: encoding and decoding a native register request, and a peer `Sync` frame of 100
//! client records; splitting a stream of 100 small frames with `FrameDecoder`.

use criterion::{BenchmarkId, Criterion, Throughput};
use distro_benches::fixtures::*;
use distro_core::wire::{decode_payload, encode_frame, ClientMsg, FrameDecoder, PeerMsg, Record};
use distro_core::{Instance, Request, RequestId};
use std::hint::black_box;

pub fn bench_frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    let register = ClientMsg::Request {
        id: RequestId(42),
        request: Request::Register {
            service: service("orders"),
            instance: Instance::new("10.1.2.3", 8080),
        },
    };
    let bytes = encode_frame(&register);
    g.bench_function(BenchmarkId::new("encode", "client_register"), |b| {
        b.iter(|| black_box(encode_frame(black_box(&register))))
    });
    g.bench_function(BenchmarkId::new("decode", "client_register"), |b| {
        b.iter(|| black_box(decode_payload::<ClientMsg>(black_box(&bytes[4..])).expect("ok")))
    });

    let svc = service("orders");
    let sync = PeerMsg::Sync {
        batch: 7,
        records: (0..100)
            .map(|n| Record::Client(client_record(n, &svc, 1_000)))
            .collect(),
    };
    let bytes = encode_frame(&sync);
    g.throughput(Throughput::Elements(100));
    g.bench_function(BenchmarkId::new("encode", "sync_100"), |b| {
        b.iter(|| black_box(encode_frame(black_box(&sync))))
    });
    g.bench_function(BenchmarkId::new("decode", "sync_100"), |b| {
        b.iter(|| black_box(decode_payload::<PeerMsg>(black_box(&bytes[4..])).expect("ok")))
    });

    let stream: Vec<u8> = (0..100)
        .flat_map(|i| encode_frame(&PeerMsg::Ping { seq: i }).to_vec())
        .collect();
    g.bench_function(BenchmarkId::new("split", "100_pings"), |b| {
        b.iter(|| {
            let mut d = FrameDecoder::new(1 << 20);
            d.extend(black_box(&stream));
            let mut n = 0;
            while let Some(f) = d.next_frame().expect("frame") {
                n += f.len();
            }
            black_box(n)
        })
    });
    g.finish();
}
