//! A counting global allocator shows what a beat allocates in steady state:
//!
//! * a beat a member serves itself (it is responsible for the client, or the responsible
//!   member is unreachable and it serves the beat for its replica): nothing;
//! * a beat forwarded to the responsible member (issue 11, defect 10): one allocation at the
//!   member that forwards it (the frame), five at the responsible one (the four strings the
//!   frame carries, and the reply frame). The strings are owned because the node keeps no
//!   borrow of its input; each costs one allocation (see `model::arc_str`).
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
    // are not linked, so beats for their clients are served here for the replicas held, like
    // the ones this member owns.
    let cfg = Config::cluster(
        "127.0.0.1:8848",
        &["127.0.0.1:8848", "127.0.0.1:8858", "127.0.0.1:8868"],
    );
    run(Node::new(cfg, Timestamp::ZERO));
}

/// Two linked members, frames delivered by hand: `a` takes the client's beats, `b` is
/// responsible for the clients.
struct Pair {
    a: Node,
    b: Node,
    now: Timestamp,
}

const A: &str = "10.0.0.1:8848";
const B: &str = "10.0.0.2:8848";

impl Pair {
    fn new() -> Self {
        let members = [A, B];
        let mut p = Pair {
            a: Node::new(Config::cluster(A, &members), Timestamp::ZERO),
            b: Node::new(Config::cluster(B, &members), Timestamp::ZERO),
            now: Timestamp::from_millis(1),
        };
        let now = p.now;
        p.a.handle_input(Input::PeerUp {
            now,
            member: MemberId::new(B),
        })
        .unwrap();
        p.b.handle_input(Input::PeerUp {
            now,
            member: MemberId::new(A),
        })
        .unwrap();
        p.settle();
        p
    }

    /// Delivers every frame until both are drained; returns the replies `a` gave.
    fn settle(&mut self) -> usize {
        let mut replies = 0;
        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
        loop {
            replies += drain_into(&mut self.a, &mut to_b);
            drain_into(&mut self.b, &mut to_a);
            if to_a.is_empty() && to_b.is_empty() {
                return replies;
            }
            deliver(&mut self.b, ConnId(1), &to_b, self.now);
            deliver(&mut self.a, ConnId(2), &to_a, self.now);
        }
    }
}

/// Drains `node` into `frames` (what it sends its only peer, kept in a buffer of the caller's,
/// which allocates nothing once it has grown); returns the replies it gave.
fn drain_into(node: &mut Node, frames: &mut Vec<bytes::Bytes>) -> usize {
    frames.clear();
    let mut replies = 0;
    loop {
        match node.poll_output() {
            Output::Timeout(_) => return replies,
            Output::Transmit { frame, .. } => frames.push(frame),
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

fn deliver(node: &mut Node, conn: ConnId, frames: &[bytes::Bytes], now: Timestamp) {
    for f in frames {
        node.handle_input(Input::PeerFrame {
            now,
            conn,
            frame: &f[4..],
        })
        .unwrap();
    }
}

#[test]
fn a_forwarded_beat_allocates_only_its_frames_and_what_it_decodes() {
    let mut p = Pair::new();
    let service = ServiceKey::parse(None, None, "orders");
    // clients `b` is responsible for: index 1 of the sorted ring [A, B]
    let ips: Vec<std::sync::Arc<str>> = (0..5000)
        .map(|i| format!("10.1.{}.{}", i / 256, i % 256))
        .filter(|ip| distro_hash(&format!("{ip}:8080")) % 2 == 1)
        .take(500)
        .map(Into::into)
        .collect();
    for ip in &ips {
        let request = Request::Register {
            service: service.clone(),
            instance: Instance::new(ip, 8080),
        };
        let now = p.now;
        let input = Input::Request {
            now,
            conn: ConnId(9),
            id: RequestId(1),
            request,
        };
        p.a.handle_input(input).unwrap();
        assert_eq!(p.settle(), 1);
    }
    let (mut to_a, mut to_b) = (Vec::with_capacity(8), Vec::with_capacity(8));
    let mut round = |p: &mut Pair| {
        let (mut at_a, mut at_b) = (0, 0);
        for request in beats(&service, &ips) {
            let now = p.now;
            let input = Input::Request {
                now,
                conn: ConnId(9),
                id: RequestId(2),
                request,
            };
            let before = allocations();
            p.a.handle_input(input).unwrap();
            drain_into(&mut p.a, &mut to_b);
            at_a += allocations() - before;
            let before = allocations();
            deliver(&mut p.b, ConnId(1), &to_b, now);
            drain_into(&mut p.b, &mut to_a);
            at_b += allocations() - before;
            let before = allocations();
            deliver(&mut p.a, ConnId(2), &to_a, now);
            assert_eq!(drain_into(&mut p.a, &mut to_b), 1, "answered");
            at_a += allocations() - before;
        }
        (at_a, at_b)
    };
    round(&mut p); // warm-up
    let (at_a, at_b) = round(&mut p);
    // The forwarding member: the `Forward` frame, one buffer sized exactly; the reply comes
    // back in a frame that decodes without allocating.
    assert_eq!(
        at_a, 500,
        "{at_a} allocations at the forwarding member for 500 beats"
    );
    // The responsible member: the four strings the frame carries, decoded into owned
    // `Arc<str>`s (namespace, group and name of the service, the ip), and the `ForwardReply`
    // frame. The beat itself (finding the client, its clock) allocates nothing.
    assert_eq!(
        at_b,
        5 * 500,
        "{at_b} allocations at the responsible member for 500 beats"
    );
    assert_eq!(
        p.b.stats().beats,
        2 * 500,
        "the responsible member served them"
    );
}
