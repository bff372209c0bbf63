//! Processes of several shards: shard identities announced in the handshake, one ring over
//! `processes × shards` members, and read-your-writes across the shards of one process.

use super::net::*;
use crate::*;
use core::time::Duration;

const P1: &str = "10.0.0.1:8848";
const P2: &str = "10.0.0.2:8848";

/// Process P1 with `shards` shards and a single-threaded process P2; every member is
/// configured with the process list only.
fn sharded(shards: u16) -> Net {
    let members = vec![MemberId::new(P1), MemberId::new(P2)];
    let mut configs: Vec<Config> = (0..shards)
        .map(|k| Config {
            self_id: MemberId::of_shard(P1, k),
            members: members.clone(),
            shards,
            seed: 7 + u64::from(k),
            ..Config::default()
        })
        .collect();
    configs.push(Config {
        self_id: MemberId::new(P2),
        members,
        seed: 99,
        ..Config::default()
    });
    Net::of(configs)
}

#[test]
fn a_single_threaded_member_learns_the_shards_of_another_process() {
    let mut net = sharded(3);
    net.run_for(Duration::from_millis(500));
    let p2 = net.ids.len() - 1;
    let seen: Vec<String> = net.nodes[p2]
        .members()
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    assert_eq!(seen, vec![P2, P1, "10.0.0.1:8848/1", "10.0.0.1:8848/2"]);
    assert!(net.events.iter().any(|(i, _, e)| *i == p2
        && matches!(e, Event::MembersChanged { members } if members.len() == 3)));
    // every member computes responsibility over the same four members
    let mut owners = std::collections::BTreeSet::new();
    for port in 0..200 {
        let first = net.nodes[0].responsible_member("10.9.0.1", port).clone();
        for n in &net.nodes {
            assert_eq!(
                *n.responsible_member("10.9.0.1", port),
                first,
                "port {port}"
            );
        }
        owners.insert(first);
    }
    assert_eq!(owners.len(), 4, "responsibility spreads over every shard");
}

#[test]
fn a_handshake_from_a_shard_the_process_did_not_announce_is_refused() {
    let mut n = Node::new(Config::cluster(P2, &[P1, P2]), Timestamp::ZERO);
    let hello = wire::Hello {
        cluster: "distro".into(),
        member: MemberId::of_shard(P1, 2),
        version: wire::PEER_PROTOCOL_VERSION,
        epoch: 1,
        shards: 2,
    };
    let frame = wire::encode_frame(&wire::PeerMsg::Hello(hello));
    let r = n.handle_input(Input::PeerFrame {
        now: Timestamp::ZERO,
        conn: ConnId(5),
        frame: &frame[4..],
    });
    assert!(matches!(r, Err(Error::PeerMisbehaved(_))), "{r:?}");
    // shard 1 of 2 is a member, once announced
    assert_eq!(n.members().len(), 3);
}

/// Registers ip:port at member `at` and returns whether member `other` listed it at the moment
/// the reply came.
fn visible_at_reply(net: &mut Net, at: usize, other: usize, port: u16) -> bool {
    let now = net.now;
    net.input(
        at,
        Input::Request {
            now,
            conn: ConnId(1),
            id: RequestId(u64::from(port)),
            request: register("orders", "10.7.0.1", port),
        },
    )
    .unwrap();
    for _ in 0..5_000 {
        if let Some(pos) = net
            .replies
            .iter()
            .position(|r| r.2 == RequestId(u64::from(port)))
        {
            let (_, _, _, reply) = net.replies.remove(pos);
            assert_eq!(reply, Reply::Ok);
            return net.hosts(other, "orders").iter().any(|h| h.port == port);
        }
        let step = net.now.plus(Duration::from_micros(100));
        net.run_until(step);
    }
    panic!("no reply");
}

#[test]
fn a_write_is_answered_once_every_sibling_shard_holds_it() {
    let mut net = sharded(2);
    net.run_for(Duration::from_millis(500));
    for port in 1..=40 {
        // written at shard 0 (served there or forwarded to its owner), read at shard 1
        assert!(visible_at_reply(&mut net, 0, 1, port), "port {port}");
        assert!(
            visible_at_reply(&mut net, 1, 0, 1000 + port),
            "port {}",
            1000 + port
        );
    }
}

#[test]
fn members_of_other_processes_are_not_waited_for() {
    // a three-process cluster of single-threaded members: a reply never waits for a sync,
    // so the other members do not hold the write yet when it is answered
    let mut net = Net::new(3);
    net.run_for(Duration::from_millis(500));
    let mut served_here = 0;
    for port in 1..=40 {
        if net.owner_of("10.7.0.1", port) == 0 {
            served_here += 1;
            assert!(!visible_at_reply(&mut net, 0, 1, port), "port {port}");
        }
    }
    assert!(served_here > 0);
}

#[test]
fn an_unreachable_sibling_does_not_hold_answers() {
    let mut net = sharded(2);
    net.run_for(Duration::from_millis(500));
    net.partition(0, 1, true);
    for port in 1..=10 {
        if net.owner_of_at(0, "10.7.0.1", port) == 0 {
            assert!(!visible_at_reply(&mut net, 0, 1, port));
        }
    }
}
