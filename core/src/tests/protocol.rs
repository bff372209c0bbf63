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

fn beat_here(n: &mut Node, port: u16, service: &str) {
    let request = Request::Beat {
        service: svc(service),
        ip: "10.6.6.6".into(),
        port,
        register: None,
    };
    ask(n, request);
}

fn advance(n: &mut Node, d: core::time::Duration) {
    let now = n.now().plus(d);
    n.handle_input(Input::Timeout(now)).unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
}

fn suspected_unhealthy(port: u16, service: &str, time: u64) -> Record {
    let Record::Client(mut c) = client(port, service, time) else {
        unreachable!()
    };
    c.publications[0].instances[0].healthy = false;
    Record::Client(c)
}

fn healthy_here(n: &Node, port: u16) -> Option<bool> {
    n.registry()
        .client(&ClientId::ip_port("10.6.6.6", port))
        .map(|c| c.publications[0].instances[0].healthy)
}

/// Issue 11, defect 1, the rule itself: a suspicion (an unhealthy flip or an expiry made for
/// lack of beats) is refuted by a member that heard the client beat within its beat timeout,
/// with the client alive just above the suspicion's revision; without that evidence, or
/// against a client's own deregistration, nothing is refuted.
#[test]
fn a_suspicion_is_refuted_only_by_a_member_that_heard_the_client() {
    let mut n = node();
    // port 1: only replicated here; port 2 and 3: beating here (the peer's link is down, so
    // the beats are served here)
    feed(
        &mut n,
        &sync(
            1,
            vec![
                client(1, "s", 100),
                client(2, "s", 100),
                client(3, "s", 100),
            ],
        ),
    );
    beat_here(&mut n, 2, "s");
    beat_here(&mut n, 3, "s");
    advance(&mut n, core::time::Duration::from_secs(10));
    feed(
        &mut n,
        &sync(
            2,
            vec![
                suspected_unhealthy(1, "s", 101),
                Record::Expired {
                    id: ClientId::ip_port("10.6.6.6", 2),
                    revision: Revision {
                        time: 101,
                        writer: 9,
                    },
                    expired: vec![svc("s")],
                    base: Revision {
                        time: 100,
                        writer: 9,
                    },
                },
                Record::Deleted {
                    id: ClientId::ip_port("10.6.6.6", 3),
                    revision: Revision {
                        time: 101,
                        writer: 9,
                    },
                },
            ],
        ),
    );
    assert_eq!(healthy_here(&n, 1), Some(false), "no evidence: applied");
    assert_eq!(healthy_here(&n, 2), Some(true), "heard 10 s ago: refuted");
    let rev = n
        .registry()
        .client(&ClientId::ip_port("10.6.6.6", 2))
        .unwrap()
        .revision;
    assert_eq!(rev.time, 102, "just above the suspicion");
    assert_eq!(
        healthy_here(&n, 3),
        None,
        "a deregistration is never refuted"
    );
    assert_eq!(n.stats().suspicions_refuted, 1);
    // evidence older than the beat timeout refutes nothing
    advance(&mut n, core::time::Duration::from_secs(6));
    feed(&mut n, &sync(3, vec![suspected_unhealthy(2, "s", 200)]));
    assert_eq!(healthy_here(&n, 2), Some(false), "heard 16 s ago: applied");
    assert_eq!(n.stats().suspicions_refuted, 1);
}

/// Health is decided by beats alone, so a member that heard an instance beat refutes its
/// unhealthy state whatever record carries it (a client write made on top of a suspicion
/// too); a publication it heard is restored only where the record names it as expired, never
/// where it went by a deregistration.
#[test]
fn evidence_refutes_any_unhealthy_state_but_only_expired_removals() {
    let mut n = node();
    let two = |port: u16, time: u64| {
        let Record::Client(mut c) = client(port, "s", time) else {
            unreachable!()
        };
        let Record::Client(t) = client(port, "t", time) else {
            unreachable!()
        };
        c.publications.extend(t.publications);
        c
    };
    feed(
        &mut n,
        &sync(1, vec![client(4, "s", 100), Record::Client(two(5, 100))]),
    );
    beat_here(&mut n, 4, "s");
    beat_here(&mut n, 5, "s");
    beat_here(&mut n, 5, "t");
    let Record::Client(written) = suspected_unhealthy(4, "s", 5_000) else {
        unreachable!()
    };
    // port 5: "t" was deregistered, then "s" expired (and with it the client)
    feed(
        &mut n,
        &sync(
            2,
            vec![
                // a clock-revision write still showing the instance unhealthy
                Record::Client(written),
                Record::Expired {
                    id: ClientId::ip_port("10.6.6.6", 5),
                    revision: Revision {
                        time: 5_000,
                        writer: 9,
                    },
                    expired: vec![svc("s")],
                    base: Revision {
                        time: 4_000,
                        writer: 9,
                    },
                },
            ],
        ),
    );
    assert_eq!(
        healthy_here(&n, 4),
        Some(true),
        "the write's health refuted"
    );
    let rev = n
        .registry()
        .client(&ClientId::ip_port("10.6.6.6", 4))
        .unwrap()
        .revision;
    assert_eq!(rev.time, 5_001, "just above the write");
    assert_eq!(
        services(&n, 5),
        vec!["s".to_string()],
        "the expired publication is back, the deregistered one stays gone"
    );
    assert_eq!(n.stats().suspicions_refuted, 2);
    // an expiry from a member whose copy (at a write this member has seen) never had "t"
    feed(&mut n, &sync(3, vec![Record::Client(two(6, 100))]));
    beat_here(&mut n, 6, "s");
    beat_here(&mut n, 6, "t");
    let stale = Record::Expired {
        id: ClientId::ip_port("10.6.6.6", 6),
        revision: Revision {
            time: 50,
            writer: 9,
        },
        expired: vec![svc("s")],
        base: Revision {
            time: 40,
            writer: 9,
        },
    };
    feed(&mut n, &sync(4, vec![stale]));
    let both = vec!["s".to_string(), "t".to_string()];
    assert_eq!(
        services(&n, 6),
        both,
        "older than held: stale, nothing changes"
    );
    let stale = Record::Expired {
        id: ClientId::ip_port("10.6.6.6", 6),
        revision: Revision {
            time: 1_000_100,
            writer: 9,
        },
        expired: vec![svc("s")],
        base: Revision {
            time: 100,
            writer: 9,
        },
    };
    feed(&mut n, &sync(5, vec![stale]));
    assert_eq!(
        services(&n, 6),
        both,
        "\"t\" restored though the expiry does not list it"
    );
    assert_eq!(n.stats().suspicions_refuted, 3);
}

/// Issue 11, defect 8: a peer repeating `SnapshotRequest { seq: 0 }` made this member list
/// every key it holds each time. Chunk 0 asked again, or a new session of the same peer within
/// a snapshot timeout (a loader asks one member once per attempt), is served from the list
/// already made.
#[test]
fn repeated_snapshot_requests_do_not_list_every_key_each_time() {
    let mut n = node();
    n.handle_input(Input::Timeout(Timestamp::from_millis(61_000)))
        .unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    assert!(n.is_ready(), "the gate opened");
    feed(
        &mut n,
        &sync(1, (0..50).map(|p| client(p, "s", 5)).collect()),
    );
    for _ in 0..1_000 {
        feed(&mut n, &PeerMsg::SnapshotRequest { session: 7, seq: 0 });
    }
    assert_eq!(n.stats().snapshots_started, 1, "one list for one session");
    assert_eq!(
        n.stats().snapshot_chunks_served,
        1_000,
        "chunk 0, each time"
    );
    for session in 8..100 {
        feed(&mut n, &PeerMsg::SnapshotRequest { session, seq: 0 });
    }
    assert_eq!(
        n.stats().snapshots_started,
        1,
        "new sessions too soon: the same list"
    );
    assert_eq!(n.stats().snapshot_chunks_served, 1_092, "and answered");
    let later = n.now().plus(Timings::default().snapshot_timeout);
    n.handle_input(Input::Timeout(later)).unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    feed(
        &mut n,
        &PeerMsg::SnapshotRequest {
            session: 100,
            seq: 0,
        },
    );
    assert_eq!(n.stats().snapshots_started, 2);
}

/// Issue 11, defect 8: a peer-supplied revision at `u64::MAX` froze the client: every later
/// write saturated at the same revision and never replicated again. A record whose revision
/// lies further in the future than any clock can be is refused.
#[test]
fn a_revision_beyond_any_clock_is_refused() {
    let mut n = node();
    let frozen = |port| Record::Deleted {
        id: ClientId::ip_port("10.6.6.6", port),
        revision: Revision {
            time: u64::MAX,
            writer: 9,
        },
    };
    feed(&mut n, &sync(1, vec![client(1, "s", u64::MAX), frozen(2)]));
    assert!(services(&n, 1).is_empty(), "not applied");
    assert!(n
        .registry()
        .tombstone(&ClientId::ip_port("10.6.6.6", 2))
        .is_none());
    assert!(n.stats().rejected_frames >= 2);
    // the client can still be written, and its revisions advance
    assert_eq!(ask(&mut n, register("s", "10.6.6.6", 1)), Some(Reply::Ok));
    let rev = n
        .registry()
        .client(&ClientId::ip_port("10.6.6.6", 1))
        .unwrap()
        .revision;
    assert!(rev.time < u64::MAX / 2);
}
