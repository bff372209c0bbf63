//! A counting global allocator shows that a beat allocates nothing in steady state.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; the library itself forbids it

use distro_core::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // Per thread: the test harness runs other tests on other threads at the same time.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn drain(node: &mut Node) -> usize {
    let mut replies = 0;
    loop {
        match node.poll_output() {
            Output::Timeout(_) => return replies,
            Output::Reply { reply, .. } => {
                assert!(
                    matches!(reply, Reply::Ok | Reply::Beat { code: BEAT_OK, .. }),
                    "{reply:?}"
                );
                replies += 1;
            }
            _ => {}
        }
    }
}

fn beats(service: &ServiceKey, ips: &[std::sync::Arc<str>]) -> Vec<Request> {
    ips.iter()
        .map(|ip| Request::Beat {
            service: service.clone(),
            ip: ip.clone(),
            port: 8080,
            register: None,
        })
        .collect()
}

fn run(mut node: Node) {
    let service = ServiceKey::parse(None, None, "orders");
    let ips: Vec<std::sync::Arc<str>> = (0..1000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256).into())
        .collect();
    let mut now = Timestamp::from_millis(1);
    for (n, ip) in ips.iter().enumerate() {
        let request = Request::Register {
            service: service.clone(),
            instance: Instance::new(ip, 8080),
        };
        node.handle_input(Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(n as u64),
            request,
        })
        .unwrap();
        drain(&mut node);
    }
    // warm-up round: queues reach their working capacity
    for request in beats(&service, &ips) {
        node.handle_input(Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(0),
            request,
        })
        .unwrap();
        drain(&mut node);
    }
    now = Timestamp::from_millis(2000);
    let round = beats(&service, &ips);
    let before = allocations();
    let mut replies = 0;
    for request in round {
        node.handle_input(Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(1),
            request,
        })
        .unwrap();
        replies += drain(&mut node);
    }
    let allocations = allocations() - before;
    assert_eq!(replies, 1000);
    assert_eq!(allocations, 0, "{allocations} allocations for 1000 beats");
    assert_eq!(node.stats().beats, 2000);
}

#[test]
fn a_beat_allocates_nothing_in_steady_state() {
    run(Node::new(
        Config::standalone("127.0.0.1:8848"),
        Timestamp::ZERO,
    ));
}

#[test]
fn a_beat_in_cluster_mode_allocates_nothing() {
    // The ring has three members, so every beat computes its responsible member; the peers
    // are not linked, so beats for their clients are served here, like the ones this member owns.
    let cfg = Config::cluster(
        "127.0.0.1:8848",
        &["127.0.0.1:8848", "127.0.0.1:8858", "127.0.0.1:8868"],
    );
    run(Node::new(cfg, Timestamp::ZERO));
}
