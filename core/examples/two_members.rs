//! Two Distro members in one process, wired by in-memory queues: the smallest complete host.
//!
//! It shows everything a host does: feed inputs with the current time, drain outputs until
//! `Timeout`, carry `Transmit` frames to the other member (as `PeerFrame`s, without the length
//! prefix), answer requests, and sleep until the earliest deadline.
//!
//! Run with `cargo run -p distro-core --example two_members`.

use distro_core::*;
use std::collections::VecDeque;

/// One member and what its host knows about it.
struct Host {
    node: Node,
    deadline: Timestamp,
}

fn main() {
    let ids = ["10.0.0.1:8848", "10.0.0.2:8848"];
    let mut hosts: Vec<Host> = ids
        .iter()
        .map(|id| {
            let mut cfg = Config::cluster(id, &ids);
            cfg.seed = 7;
            Host {
                node: Node::new(cfg, Timestamp::ZERO),
                deadline: Timestamp::ZERO,
            }
        })
        .collect();
    // Frames in flight: (to, from, frame).
    let mut wire: VecDeque<(usize, usize, bytes::Bytes)> = VecDeque::new();
    let mut now = Timestamp::ZERO;

    // Both outgoing links are up: each node sends its handshake first.
    for (i, peer) in [(0, 1), (1, 0)] {
        let member = MemberId::new(ids[peer]);
        hosts[i]
            .node
            .handle_input(Input::PeerUp { now, member })
            .unwrap();
        drain(&mut hosts, i, &mut wire);
    }

    // A v1 client registers at member 0 (the node forwards it if member 1 is responsible).
    let request = Request::Register {
        service: ServiceKey::parse(None, None, "orders"),
        instance: Instance::new("192.168.1.10", 80),
    };
    hosts[0]
        .node
        .handle_input(Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(1),
            request,
        })
        .unwrap();
    drain(&mut hosts, 0, &mut wire);

    // Run 100 ms of virtual time: deliver frames (1 ms each) and fire deadlines.
    let end = Timestamp::from_millis(100);
    while now < end {
        now = now.plus(core::time::Duration::from_millis(1));
        for (to, from, frame) in std::mem::take(&mut wire) {
            // The receiving host names the incoming connection by its sender.
            let conn = ConnId(1000 + from as u64);
            let _ = hosts[to].node.handle_input(Input::PeerFrame {
                now,
                conn,
                frame: &frame[4..],
            });
            drain(&mut hosts, to, &mut wire);
        }
        for i in 0..hosts.len() {
            if hosts[i].deadline <= now {
                hosts[i].node.handle_input(Input::Timeout(now)).unwrap();
                drain(&mut hosts, i, &mut wire);
            }
        }
    }

    let service = ServiceKey::parse(None, None, "orders");
    for (i, h) in hosts.iter().enumerate() {
        let view = h
            .node
            .registry()
            .list(&service, "", false, &Timings::default(), 0);
        let hosts: Vec<String> = view
            .hosts
            .iter()
            .map(|h| format!("{}:{}", h.ip, h.port))
            .collect();
        println!(
            "member {} ({}) lists {:?}; responsible: {}",
            i,
            ids[i],
            hosts,
            h.node.responsible_member("192.168.1.10", 80)
        );
    }
}

/// Drains member `i`: frames go on the wire, replies are printed, the deadline is kept.
fn drain(hosts: &mut [Host], i: usize, wire: &mut VecDeque<(usize, usize, bytes::Bytes)>) {
    loop {
        match hosts[i].node.poll_output() {
            Output::Transmit { to, frame } => {
                let j = if to.as_str() == "10.0.0.1:8848" { 0 } else { 1 };
                wire.push_back((j, i, frame));
            }
            Output::Reply { id, reply, .. } => {
                println!("member {i} answers request {}: {reply:?}", id.0)
            }
            Output::Timeout(deadline) => {
                hosts[i].deadline = deadline;
                return;
            }
            _ => {} // pushes, probes, closes and events need no host action here
        }
    }
}
