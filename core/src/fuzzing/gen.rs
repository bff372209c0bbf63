//! Values made from fuzzer bytes: names, instances, requests, replies and peer messages.
//!
//! Most choices come from small pools, so that different requests hit the same services and
//! clients; the rest are raw strings and numbers, including ones over the limits, with control
//! characters, NaN weights and extreme revisions.

use super::ByteReader;
use crate::wire::{Hello, PeerMsg, Record};
use crate::{
    ApiError, ClientId, ClientRecord, Instance, MemberId, Publication, Reply, Request, Revision,
    ServiceKey, ServiceMeta, META_BEAT_INTERVAL, META_BEAT_TIMEOUT, META_DELETE_TIMEOUT,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

const NAMES: [&str; 6] = ["a", "b", "orders", "DEFAULT_GROUP", "G@@s", ""];
const IPS: [&str; 5] = ["10.0.0.5", "10.0.0.6", "192.168.1.10", "::1", "h"];
const PORTS: [u16; 4] = [8080, 80, 0, 65535];
const META_KEYS: [&str; 5] = [
    META_BEAT_INTERVAL,
    META_BEAT_TIMEOUT,
    META_DELETE_TIMEOUT,
    "version",
    "",
];
const META_VALUES: [&str; 6] = ["0", "1", "500", "3000", "18446744073709551615", "x"];
const WEIGHTS: [f64; 6] = [1.0, 0.0, 10_000.0, -1.0, f64::NAN, f64::INFINITY];

/// A name: from the pool, raw, longer than the limits, or with control characters.
pub(crate) fn name(r: &mut ByteReader) -> String {
    match r.u8() % 8 {
        0..=4 => r.pick(&NAMES).to_string(),
        5 => r.string(12),
        6 => "n".repeat(r.below(64)),
        _ => format!("a\u{0}b\n{}", r.u8()),
    }
}

fn arc(s: String) -> Arc<str> {
    Arc::from(s)
}

pub(crate) fn ip(r: &mut ByteReader) -> Arc<str> {
    if r.one_in(4) {
        arc(name(r))
    } else {
        Arc::from(*r.pick(&IPS))
    }
}

pub(crate) fn port(r: &mut ByteReader) -> u16 {
    if r.one_in(4) {
        r.u16()
    } else {
        *r.pick(&PORTS)
    }
}

pub(crate) fn service(r: &mut ByteReader) -> ServiceKey {
    match r.u8() % 4 {
        0 => ServiceKey::new(&name(r), &name(r), &name(r)),
        1 => ServiceKey::parse(Some(&name(r)), Some(&name(r)), &name(r)),
        _ => {
            let name = NAMES[r.below(NAMES.len())];
            ServiceKey::parse(None, None, name)
        }
    }
}

fn opt_name(r: &mut ByteReader) -> Option<Arc<str>> {
    r.bool().then(|| arc(name(r)))
}

fn metadata(r: &mut ByteReader) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for _ in 0..r.below(6) {
        let key = if r.bool() {
            r.pick(&META_KEYS).to_string()
        } else {
            name(r)
        };
        let value = if r.bool() {
            r.pick(&META_VALUES).to_string()
        } else {
            name(r)
        };
        m.insert(key, value);
    }
    m
}

fn weight(r: &mut ByteReader) -> f64 {
    if r.one_in(8) {
        f64::from_bits(r.u64())
    } else {
        *r.pick(&WEIGHTS)
    }
}

pub(crate) fn instance(r: &mut ByteReader) -> Instance {
    Instance {
        ip: ip(r),
        port: port(r),
        cluster: if r.bool() {
            arc(name(r))
        } else {
            Arc::from("DEFAULT")
        },
        weight: weight(r),
        healthy: r.bool(),
        enabled: r.bool(),
        metadata: if r.bool() {
            metadata(r)
        } else {
            BTreeMap::new()
        },
    }
}

fn page(r: &mut ByteReader) -> u32 {
    match r.u8() % 4 {
        0 => 0,
        1 => u32::MAX,
        _ => r.u8().into(),
    }
}

fn udp_subscriber(r: &mut ByteReader) -> Option<SocketAddr> {
    r.bool()
        .then(|| SocketAddr::from(([192, 0, 2, r.u8() % 4], 9000 + u16::from(r.u8() % 4))))
}

/// A request of any kind.
pub(crate) fn request(r: &mut ByteReader) -> Request {
    match r.u8() % 22 {
        0..=2 => Request::Register {
            service: service(r),
            instance: instance(r),
        },
        3 => Request::BatchRegister {
            service: service(r),
            instances: (0..r.below(5)).map(|_| instance(r)).collect(),
        },
        4 => Request::Deregister {
            service: service(r),
            ip: ip(r),
            port: port(r),
        },
        5 => Request::Update {
            service: service(r),
            ip: ip(r),
            port: port(r),
            weight: r.bool().then(|| weight(r)),
            enabled: r.bool().then(|| r.bool()),
            metadata: r.bool().then(|| metadata(r)),
            replace_metadata: r.bool(),
        },
        6 | 7 => Request::Beat {
            service: service(r),
            ip: ip(r),
            port: port(r),
            register: r.bool().then(|| instance(r)),
        },
        8 => Request::GetInstance {
            service: service(r),
            ip: ip(r),
            port: port(r),
            cluster: opt_name(r),
        },
        9 => Request::List {
            service: service(r),
            clusters: name(r),
            healthy_only: r.bool(),
            udp_subscriber: udp_subscriber(r),
        },
        10 => Request::Subscribe {
            service: service(r),
            clusters: name(r),
        },
        11 => Request::Unsubscribe {
            service: service(r),
            clusters: name(r),
        },
        12 => Request::CreateService {
            service: service(r),
            protect_threshold: f32::from_bits(r.u32()),
            metadata: metadata(r),
        },
        13 => Request::UpdateService {
            service: service(r),
            protect_threshold: if r.bool() { 0.5 } else { f32::NAN },
            metadata: r.bool().then(|| metadata(r)),
        },
        14 => Request::DeleteService {
            service: service(r),
        },
        15 => Request::GetService {
            service: service(r),
        },
        16 => Request::ListServices {
            namespace: arc(name(r)),
            group: arc(name(r)),
            page_no: page(r),
            page_size: page(r),
        },
        17 => Request::CatalogInstances {
            service: service(r),
            cluster: opt_name(r),
            page_no: page(r),
            page_size: page(r),
        },
        18 => Request::Metrics {
            only_status: r.bool(),
        },
        19 => Request::DistroClient {
            ip: ip(r),
            port: port(r),
        },
        20 => Request::ClusterNodes {
            keyword: r.bool().then(|| name(r)),
        },
        _ => r
            .pick(&[
                Request::Liveness,
                Request::Readiness,
                Request::Prometheus,
                Request::Ping,
            ])
            .clone(),
    }
}

fn reply(r: &mut ByteReader) -> Reply {
    match r.u8() % 4 {
        0 => Reply::Ok,
        1 => Reply::Error(ApiError::bad_request(name(r))),
        2 => Reply::Beat {
            client_beat_interval_ms: r.u64(),
            code: r.u32(),
        },
        _ => Reply::Pong,
    }
}

fn member(r: &mut ByteReader, ids: &[MemberId]) -> MemberId {
    if r.one_in(8) {
        MemberId::new(&name(r))
    } else {
        r.pick(ids).clone()
    }
}

fn client_id(r: &mut ByteReader, ids: &[MemberId]) -> ClientId {
    if r.bool() {
        ClientId::IpPort {
            ip: ip(r),
            port: port(r),
        }
    } else {
        ClientId::Conn {
            owner: member(r, ids),
            epoch: r.u8().into(),
            conn: r.u8().into(),
        }
    }
}

/// A revision: small, near the nodes' clocks, or extreme.
fn revision(r: &mut ByteReader) -> Revision {
    let time = match r.u8() % 4 {
        0 => 0,
        1 => u64::MAX,
        2 => r.u64(),
        _ => u64::from(r.u32()),
    };
    Revision {
        time,
        writer: r.u8().into(),
    }
}

fn client_record(r: &mut ByteReader, ids: &[MemberId]) -> ClientRecord {
    ClientRecord {
        id: client_id(r, ids),
        revision: revision(r),
        // Unsorted, repeated or empty publications are what a hostile peer would send.
        publications: (0..r.below(4))
            .map(|_| Publication {
                service: service(r),
                instances: (0..r.below(4)).map(|_| instance(r)).collect(),
            })
            .collect(),
    }
}

fn record(r: &mut ByteReader, ids: &[MemberId]) -> Record {
    match r.u8() % 6 {
        0 | 1 => Record::Client(client_record(r, ids)),
        2 => Record::Deleted {
            id: client_id(r, ids),
            revision: revision(r),
        },
        4 => Record::Suspected {
            client: client_record(r, ids),
            expired: (0..r.below(3)).map(|_| service(r)).collect(),
            base: revision(r),
        },
        5 => Record::Expired {
            id: client_id(r, ids),
            revision: revision(r),
            expired: (0..r.below(3)).map(|_| service(r)).collect(),
            base: revision(r),
        },
        _ => Record::ServiceMeta(ServiceMeta {
            service: service(r),
            revision: revision(r),
            protect_threshold: f32::from_bits(r.u32()),
            metadata: metadata(r),
            deleted: r.bool(),
        }),
    }
}

fn records(r: &mut ByteReader, ids: &[MemberId]) -> Vec<Record> {
    (0..r.below(5)).map(|_| record(r, ids)).collect()
}

/// A well-formed peer message with arbitrary content. `ids` are the cluster's members.
pub(crate) fn peer_msg(r: &mut ByteReader, ids: &[MemberId], cluster: &str) -> PeerMsg {
    let small = |r: &mut ByteReader| u64::from(r.u8() % 8);
    match r.u8() % 16 {
        0 => PeerMsg::Hello(Hello {
            cluster: if r.one_in(4) {
                name(r)
            } else {
                cluster.to_string()
            },
            member: member(r, ids),
            version: if r.one_in(4) {
                r.u16()
            } else {
                crate::peer::PEER_PROTOCOL_VERSION
            },
            epoch: r.u64(),
            shards: if r.one_in(8) {
                u16::from(r.u8() % 4)
            } else {
                1
            },
        }),
        1 => PeerMsg::Ping { seq: small(r) },
        2 => PeerMsg::Pong { seq: small(r) },
        3 | 4 => PeerMsg::Sync {
            batch: small(r),
            records: records(r, ids),
        },
        5 => PeerMsg::SyncAck { batch: small(r) },
        6 => PeerMsg::Verify {
            round: small(r),
            entries: (0..r.below(5))
                .map(|_| (client_id(r, ids), revision(r)))
                .collect(),
        },
        7 => PeerMsg::VerifyReply {
            round: small(r),
            mismatched: (0..r.below(5))
                .map(|_| (client_id(r, ids), r.bool().then(|| revision(r))))
                .collect(),
        },
        8 => PeerMsg::SnapshotRequest {
            session: small(r),
            seq: r.u8().into(),
        },
        9 => PeerMsg::SnapshotChunk {
            session: small(r),
            seq: r.u8().into(),
            last: r.bool(),
            records: records(r, ids),
        },
        10 => PeerMsg::Forward {
            id: small(r),
            request: request(r),
        },
        11 => PeerMsg::VerifyDigest {
            round: small(r),
            digests: (0..r.below(5)).map(|_| r.u64()).collect(),
        },
        12 => PeerMsg::VerifyDigestReply {
            round: small(r),
            bucket_count: if r.bool() { r.u32() } else { r.u8().into() },
            mismatched: (0..r.below(5)).map(|_| r.u8().into()).collect(),
        },
        13 => PeerMsg::SnapshotUnavailable { session: small(r) },
        14 => PeerMsg::SettingsDigest { digest: r.u64() },
        _ => PeerMsg::ForwardReply {
            id: small(r),
            reply: reply(r),
        },
    }
}
