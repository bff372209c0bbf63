use super::*;
use crate::model::{Instance, ServiceMeta};
use smallvec::smallvec;
use std::collections::BTreeMap;

fn reg() -> Registry {
    Registry::new(7, &Limits::default())
}

fn svc(name: &str) -> ServiceKey {
    ServiceKey::parse(None, None, name)
}

fn rev(time: u64) -> Revision {
    Revision { time, writer: 1 }
}

fn record(ip: &str, port: u16, service: &str, revision: Revision) -> ClientRecord {
    ClientRecord {
        id: ClientId::ip_port(ip, port),
        revision,
        publications: vec![Publication {
            service: svc(service),
            instances: smallvec![Instance::new(ip, port)],
        }],
    }
}

const T: Timestamp = Timestamp::ZERO;

#[test]
fn one_instance_per_service_per_client_replaces_the_old_one() {
    let mut r = reg();
    let id = ClientId::ip_port("10.0.0.1", 80);
    let mut a = Instance::new("10.0.0.1", 80);
    r.put_publication(&id, &svc("s"), smallvec![a.clone()], T)
        .unwrap();
    a.cluster = "OTHER".into();
    assert!(r
        .put_publication(&id, &svc("s"), smallvec![a.clone()], T)
        .unwrap());
    let view = r.list(&svc("s"), "", false, &Timings::default(), 3000);
    assert_eq!(view.hosts.len(), 1);
    assert_eq!(&*view.hosts[0].cluster, "OTHER");
    assert_eq!(r.instance_count(), 1);
    assert!(
        !r.put_publication(&id, &svc("s"), smallvec![a], T).unwrap(),
        "identical put changes nothing"
    );
}

#[test]
fn replicas_apply_only_newer_revisions() {
    let mut r = reg();
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(5))), T),
        Applied::Newer
    );
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "b", rev(4))), T),
        Applied::Stale
    );
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(5))), T),
        Applied::Same
    );
    assert!(r
        .list(&svc("b"), "", false, &Timings::default(), 0)
        .hosts
        .is_empty());
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "b", rev(6))), T),
        Applied::Newer
    );
    assert!(
        r.list(&svc("a"), "", false, &Timings::default(), 0)
            .hosts
            .is_empty(),
        "moved out of a"
    );
    assert_eq!(
        r.list(&svc("b"), "", false, &Timings::default(), 0)
            .hosts
            .len(),
        1
    );
    assert_eq!(r.instance_count(), 1);
}

#[test]
fn tombstones_stop_resurrection_by_older_data() {
    let mut r = reg();
    let id = ClientId::ip_port("1.1.1.1", 1);
    r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(5))), T);
    assert_eq!(
        r.apply(
            Record::Deleted {
                id: id.clone(),
                revision: rev(6)
            },
            T
        ),
        Applied::Newer
    );
    assert_eq!(r.client_count(), 0);
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(5))), T),
        Applied::Stale
    );
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(6))), T),
        Applied::Stale
    );
    assert_eq!(r.client_count(), 0);
    // a newer registration after the deletion is accepted
    assert_eq!(
        r.apply(Record::Client(record("1.1.1.1", 1, "a", rev(7))), T),
        Applied::Newer
    );
    assert_eq!(r.tombstone(&id), None);
    // an old deletion does not remove the newer client
    assert_eq!(
        r.apply(
            Record::Deleted {
                id,
                revision: rev(6)
            },
            T
        ),
        Applied::Stale
    );
    assert_eq!(r.client_count(), 1);
}

#[test]
fn protect_threshold_returns_all_hosts_as_healthy() {
    let mut r = reg();
    for port in 1..=4u16 {
        let id = ClientId::ip_port("10.0.0.1", port);
        let mut i = Instance::new("10.0.0.1", port);
        i.healthy = port == 1;
        r.put_publication(&id, &svc("s"), smallvec![i], T).unwrap();
    }
    let t = Timings::default();
    let v = r.list(&svc("s"), "", true, &t, 0);
    assert_eq!(v.hosts.len(), 1, "without a threshold healthyOnly filters");
    let meta = ServiceMeta {
        service: svc("s"),
        revision: rev(1),
        protect_threshold: 0.5,
        metadata: BTreeMap::new(),
        deleted: false,
    };
    r.put_meta(meta, T).unwrap();
    let v = r.list(&svc("s"), "", true, &t, 0);
    assert!(v.reach_protection_threshold);
    assert_eq!(v.hosts.len(), 4);
    assert!(v.hosts.iter().all(|h| h.healthy));
}

#[test]
fn list_filters_clusters_and_disabled_and_sorts() {
    let mut r = reg();
    for (port, cluster, enabled) in [(3u16, "A", true), (1, "B", true), (2, "A", false)] {
        let mut i = Instance::new("10.0.0.1", port);
        i.cluster = cluster.into();
        i.enabled = enabled;
        r.put_publication(
            &ClientId::ip_port("10.0.0.1", port),
            &svc("s"),
            smallvec![i],
            T,
        )
        .unwrap();
    }
    let t = Timings::default();
    let ports = |v: crate::request::ServiceView| v.hosts.iter().map(|h| h.port).collect::<Vec<_>>();
    assert_eq!(ports(r.list(&svc("s"), "", false, &t, 0)), vec![1, 3]);
    assert_eq!(ports(r.list(&svc("s"), "A", false, &t, 0)), vec![3]);
    assert_eq!(ports(r.list(&svc("s"), "B,A", false, &t, 0)), vec![1, 3]);
    assert!(r.list(&svc("nope"), "", false, &t, 0).hosts.is_empty());
}

#[test]
fn limits_refuse_new_clients_and_services() {
    let limits = Limits {
        max_clients: 2,
        max_services: 2,
        max_instances_per_client: 2,
        ..Limits::default()
    };
    let mut r = Registry::new(1, &limits);
    let i = |p| smallvec![Instance::new("1.1.1.1", p)];
    r.put_publication(&ClientId::ip_port("1.1.1.1", 1), &svc("a"), i(1), T)
        .unwrap();
    r.put_publication(&ClientId::ip_port("1.1.1.1", 2), &svc("b"), i(2), T)
        .unwrap();
    assert_eq!(
        r.put_publication(&ClientId::ip_port("1.1.1.1", 3), &svc("a"), i(3), T),
        Err(LimitHit::Clients)
    );
    assert_eq!(
        r.put_publication(&ClientId::ip_port("1.1.1.1", 1), &svc("c"), i(1), T),
        Err(LimitHit::Services)
    );
    let three: Instances = (0..3).map(|p| Instance::new("1.1.1.1", p)).collect();
    assert_eq!(
        r.put_publication(&ClientId::ip_port("1.1.1.1", 1), &svc("a"), three, T),
        Err(LimitHit::InstancesPerClient)
    );
    assert_eq!(r.client_count(), 2);
    assert_eq!(r.instance_count(), 2);
}

#[test]
fn garbage_collection_drops_old_tombstones_and_empty_services() {
    let mut r = reg();
    let id = ClientId::ip_port("1.1.1.1", 1);
    r.put_publication(&id, &svc("a"), smallvec![Instance::new("1.1.1.1", 1)], T)
        .unwrap();
    r.delete_client(&id, rev(9), None, Timestamp::from_millis(1000));
    let d = core::time::Duration::from_secs(60);
    assert_eq!(
        r.collect_garbage(Timestamp::from_millis(30_000), d, d, |_| false),
        (0, 0)
    );
    assert_eq!(
        r.collect_garbage(Timestamp::from_millis(61_000), d, d, |_| false),
        (1, 1)
    );
    assert_eq!(r.service_count(), 0);
}

#[test]
fn empty_publications_from_peers_are_dropped() {
    let mut r = reg();
    let mut rec = record("1.1.1.1", 1, "a", rev(5));
    rec.publications.push(Publication {
        service: svc("b"),
        instances: Instances::new(),
    });
    assert_eq!(r.apply(Record::Client(rec), T), Applied::Newer);
    assert_eq!(
        r.client(&ClientId::ip_port("1.1.1.1", 1))
            .unwrap()
            .publications
            .len(),
        1
    );
    assert!(r
        .services
        .get(&svc("b"))
        .is_none_or(|e| e.publishers.is_empty()));
}

#[test]
fn tombstones_are_capped_under_churn() {
    let limits = Limits {
        max_clients: 10,
        ..Limits::default()
    };
    let mut r = Registry::new(1, &limits);
    for p in 0..25u16 {
        r.delete_client(
            &ClientId::ip_port("1.1.1.1", p),
            rev(p as u64),
            None,
            Timestamp::from_millis(p as u64),
        );
    }
    let d = core::time::Duration::from_secs(300);
    r.collect_garbage(Timestamp::from_millis(30), d, d, |_| false);
    assert_eq!(r.tombstones().count(), 10);
    assert!(
        r.tombstone(&ClientId::ip_port("1.1.1.1", 24)).is_some(),
        "the newest are kept"
    );
    assert!(r.tombstone(&ClientId::ip_port("1.1.1.1", 0)).is_none());
}
