//! Revision rules seen through the wire: stale, duplicated and reordered syncs, tombstones,
//! snapshots from lagging members.

use super::net::*;
use crate::wire::{encode_frame, Hello, PeerMsg, Record};
use crate::*;
use smallvec::smallvec;

const PEER: ConnId = ConnId(500);

/// A standalone-looking member 0 of a 2-member config, with member 1's handshake done on PEER.
fn node() -> Node {
    let mut n = Node::new(config(2, 0), Timestamp::ZERO);
    let hello = Hello {
        cluster: "distro".into(),
        member: ids(2)[1].clone(),
        version: crate::peer::PEER_PROTOCOL_VERSION,
        epoch: 1,
        shards: 1,
    };
    feed(&mut n, &PeerMsg::Hello(hello));
    n
}

fn feed(n: &mut Node, msg: &PeerMsg) {
    let frame = encode_frame(msg);
    n.handle_input(Input::PeerFrame {
        now: n.now(),
        conn: PEER,
        frame: &frame[4..],
    })
    .unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
}

fn client(port: u16, service: &str, time: u64) -> Record {
    Record::Client(ClientRecord {
        id: ClientId::ip_port("10.6.6.6", port),
        revision: Revision { time, writer: 9 },
        publications: vec![Publication {
            service: svc(service),
            instances: smallvec![Instance::new("10.6.6.6", port)],
        }],
    })
}

fn sync(batch: u64, records: Vec<Record>) -> PeerMsg {
    PeerMsg::Sync { batch, records }
}

fn services(n: &Node, port: u16) -> Vec<String> {
    n.registry()
        .client(&ClientId::ip_port("10.6.6.6", port))
        .map(|c| {
            c.publications
                .iter()
                .map(|p| p.service.name.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn reordered_sync_never_rolls_back() {
    let mut n = node();
    feed(&mut n, &sync(1, vec![client(1, "new", 20)]));
    feed(&mut n, &sync(2, vec![client(1, "old", 10)]));
    assert_eq!(services(&n, 1), ["new"]);
    assert_eq!(n.stats().records_stale, 1);
}

#[test]
fn duplicated_sync_is_harmless() {
    let mut n = node();
    for batch in 0..3 {
        feed(&mut n, &sync(batch, vec![client(1, "a", 10)]));
    }
    assert_eq!(services(&n, 1), ["a"]);
    assert_eq!(n.stats().records_applied, 1);
    assert_eq!(n.registry().instance_count(), 1);
}

#[test]
fn a_tombstone_stops_resurrection_by_a_late_change() {
    let mut n = node();
    let id = ClientId::ip_port("10.6.6.6", 1);
    feed(&mut n, &sync(1, vec![client(1, "a", 10)]));
    feed(
        &mut n,
        &sync(
            2,
            vec![Record::Deleted {
                id: id.clone(),
                revision: Revision {
                    time: 11,
                    writer: 9,
                },
            }],
        ),
    );
    feed(&mut n, &sync(3, vec![client(1, "a", 10)])); // a retry of the old change arrives late
    assert!(services(&n, 1).is_empty());
    // even a snapshot chunk from a lagging member cannot bring it back
    feed(
        &mut n,
        &PeerMsg::SnapshotChunk {
            session: 0,
            seq: 0,
            last: true,
            records: vec![client(1, "a", 10)],
        },
    );
    assert!(services(&n, 1).is_empty());
    // a genuinely new registration (newer revision) is accepted
    feed(&mut n, &sync(4, vec![client(1, "a", 12)]));
    assert_eq!(services(&n, 1), ["a"]);
}

#[test]
fn a_stale_snapshot_does_not_delete_or_roll_back_newer_data() {
    let mut net = Net::new(2);
    // member 0 holds a newer registration than member 1's snapshot would have
    net.request(0, register("svc", "10.6.6.6", 1));
    let rec = net.nodes[0]
        .registry()
        .client(&ClientId::ip_port("10.6.6.6", 1))
        .unwrap()
        .clone();
    let mut older = rec.clone();
    older.revision.time -= 1;
    older.publications[0].service = svc("other");
    let now = net.now;
    let frame = encode_frame(&PeerMsg::SnapshotChunk {
        session: 1,
        seq: 0,
        last: true,
        records: vec![Record::Client(older)],
    });
    // not a session member 0 asked for: ignored
    net.input(
        0,
        Input::PeerFrame {
            now,
            conn: ConnId(1_000_001),
            frame: &frame[4..],
        },
    )
    .unwrap();
    assert_eq!(net.nodes[0].registry().client(&rec.id).unwrap(), &rec);
}

#[test]
fn verify_from_a_member_holding_older_data_gets_the_newer_data_back() {
    let mut n = node();
    feed(&mut n, &sync(1, vec![client(1, "a", 20)]));
    let verify = PeerMsg::Verify {
        round: 1,
        entries: vec![(
            ClientId::ip_port("10.6.6.6", 1),
            Revision {
                time: 10,
                writer: 9,
            },
        )],
    };
    let frame = encode_frame(&verify);
    n.handle_input(Input::PeerUp {
        now: n.now(),
        member: ids(2)[1].clone(),
    })
    .unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    n.handle_input(Input::PeerFrame {
        now: n.now(),
        conn: PEER,
        frame: &frame[4..],
    })
    .unwrap();
    let mut got_reply = false;
    let mut got_sync = false;
    loop {
        match n.poll_output() {
            Output::Transmit { frame, .. } => {
                match wire::decode_payload::<PeerMsg>(&frame[4..]).unwrap() {
                    PeerMsg::VerifyReply { mismatched, .. } => {
                        got_reply = mismatched[0].1
                            == Some(Revision {
                                time: 20,
                                writer: 9,
                            });
                    }
                    PeerMsg::Sync { records, .. } => {
                        got_sync = records
                            .iter()
                            .any(|r| matches!(r, Record::Client(c) if c.revision.time == 20))
                    }
                    _ => {}
                }
            }
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    assert!(got_reply && got_sync);
}

#[test]
fn re_registering_an_identical_instance_keeps_replicas_consistent() {
    // alibaba/nacos#10693: an identical re-register must not leave replicas at another revision
    let mut net = Net::new(3);
    let port = (1000..2000)
        .find(|&p| net.owner_of("10.6.6.6", p) == 0)
        .unwrap();
    net.request(0, register("svc", "10.6.6.6", port));
    net.run_for(core::time::Duration::from_millis(10));
    net.request(0, register("svc", "10.6.6.6", port));
    net.run_for(core::time::Duration::from_millis(10));
    let id = ClientId::ip_port("10.6.6.6", port);
    let revs: Vec<_> = (0..3)
        .map(|i| net.nodes[i].registry().client(&id).unwrap().revision)
        .collect();
    assert!(revs.iter().all(|r| *r == revs[0]), "{revs:?}");
    net.run_for(core::time::Duration::from_secs(6));
    assert_eq!(net.nodes[0].stats().verify_mismatches, 0);
}

/// Found by the simulator: a peer that stalled answered a verify round of this member's
/// previous run after it restarted; the new run, still loading its snapshot, answered with
/// its pairs: a verify before it was ready (alibaba/nacos#8436).
#[test]
fn a_verify_answer_for_a_round_not_sent_by_this_run_is_ignored() {
    let mut n = node();
    assert!(!n.is_ready());
    let port = (1000..2000)
        .find(|&p| n.responsible_member("10.6.6.6", p) == &ids(2)[0])
        .unwrap();
    feed(&mut n, &sync(1, vec![client(port, "a", 5)]));
    let reply = encode_frame(&PeerMsg::VerifyDigestReply {
        round: 32,
        bucket_count: 1,
        mismatched: vec![0],
    });
    n.handle_input(Input::PeerFrame {
        now: n.now(),
        conn: PEER,
        frame: &reply[4..],
    })
    .unwrap();
    loop {
        match n.poll_output() {
            Output::Timeout(_) => break,
            Output::Transmit { frame, .. } => {
                let msg: PeerMsg = crate::wire::decode_payload(&frame[4..]).unwrap();
                assert!(!matches!(msg, PeerMsg::Verify { .. }), "verified: {msg:?}");
            }
            _ => {}
        }
    }
}
