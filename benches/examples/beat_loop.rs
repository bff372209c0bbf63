//! A beat-only loop for profilers (`perf record`, `valgrind --tool=callgrind`): registers
//! 1,000 instances in a standalone node, then handles `BEATS` (default 5,000,000) light beats
//! round robin, and prints the time per beat. The requests are built before the timed loop.
use distro_benches::fixtures::*;
use distro_core::{Instance, Request};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let beats: usize = std::env::var("BEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let mut node = standalone();
    let svc = service("orders");
    let addrs: Vec<(Arc<str>, u16)> = (0..1000u64)
        .map(|n| (Arc::from(ip_of(n).as_str()), port_of(n)))
        .collect();
    for (i, (ip, port)) in addrs.iter().enumerate() {
        let request = Request::Register {
            service: svc.clone(),
            instance: Instance::new(ip, *port),
        };
        request_in(&mut node, i as u64, request);
    }
    let mut requests: Vec<Request> = (0..beats)
        .map(|i| {
            let (ip, port) = &addrs[i % addrs.len()];
            Request::Beat {
                service: svc.clone(),
                ip: ip.clone(),
                port: *port,
                register: None,
            }
        })
        .collect();
    let start = Instant::now();
    for (i, request) in requests.drain(..).enumerate() {
        request_in(&mut node, i as u64, request);
    }
    let elapsed = start.elapsed();
    println!(
        "{beats} beats in {elapsed:?}: {:.1} ns/beat, {:.2} M beats/s",
        elapsed.as_nanos() as f64 / beats as f64,
        beats as f64 / elapsed.as_secs_f64() / 1e6
    );
}
