//! The JSON shapes of the v1 API as borrowing serde views, so rendering copies nothing.
//! Field order is the order Nacos answers in.

use crate::model::GROUP_SEPARATOR;
use crate::{HostView, MemberView, MetricsView, ServiceDetail, ServiceKey, ServiceView};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::collections::BTreeMap;

/// Serializes `value` as compact JSON onto `out`.
pub(crate) fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and every map here has string keys.
    let result = serde_json::to_writer(&mut *out, value);
    debug_assert!(result.is_ok(), "JSON rendering failed: {result:?}");
}

/// A service's grouped name `group@@name`, written without building the string.
#[derive(Clone, Copy)]
pub(crate) struct Grouped<'a>(pub(crate) &'a ServiceKey);

impl Serialize for Grouped<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "{}{GROUP_SEPARATOR}{}",
            self.0.group, self.0.name
        ))
    }
}

/// `{}`.
pub(crate) struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// One host as `/instance/list` and `/catalog/instances` show it (Nacos's `Instance`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HostJson<'a> {
    instance_id: &'a str,
    ip: &'a str,
    port: u16,
    weight: f64,
    healthy: bool,
    enabled: bool,
    ephemeral: bool,
    cluster_name: &'a str,
    service_name: Grouped<'a>,
    metadata: &'a BTreeMap<String, String>,
    instance_heart_beat_interval: u64,
    instance_heart_beat_time_out: u64,
    ip_delete_timeout: u64,
    instance_id_generator: &'static str,
}

impl<'a> HostJson<'a> {
    pub(crate) fn new(h: &'a HostView, service: &'a ServiceKey) -> Self {
        HostJson {
            instance_id: &h.instance_id,
            ip: &h.ip,
            port: h.port,
            weight: h.weight,
            healthy: h.healthy,
            enabled: h.enabled,
            ephemeral: true,
            cluster_name: &h.cluster,
            service_name: Grouped(service),
            metadata: &h.metadata,
            instance_heart_beat_interval: h.beat_interval_ms,
            instance_heart_beat_time_out: h.beat_timeout_ms,
            ip_delete_timeout: h.delete_timeout_ms,
            instance_id_generator: "simple",
        }
    }
}

/// Hosts of one service, each with the service's grouped name.
pub(crate) struct HostsJson<'a> {
    pub(crate) hosts: &'a [HostView],
    pub(crate) service: &'a ServiceKey,
}

impl Serialize for HostsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.hosts.iter().map(|h| HostJson::new(h, self.service)))
    }
}

/// Nacos's `ServiceInfo`: the answer of `/instance/list` and the `data` of a UDP push.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceInfoJson<'a> {
    name: Grouped<'a>,
    group_name: &'a str,
    clusters: &'a str,
    cache_millis: u64,
    hosts: HostsJson<'a>,
    last_ref_time: u64,
    checksum: &'static str,
    #[serde(rename = "allIPs")]
    all_ips: bool,
    reach_protection_threshold: bool,
    valid: bool,
}

/// Writes the `ServiceInfo` of `view` with `lastRefTime = epoch_ms`.
pub(crate) fn write_service_info(out: &mut Vec<u8>, view: &ServiceView, epoch_ms: u64) {
    write_json(
        out,
        &ServiceInfoJson {
            name: Grouped(&view.service),
            group_name: &view.service.group,
            clusters: &view.clusters,
            cache_millis: view.cache_millis,
            hosts: HostsJson {
                hosts: &view.hosts,
                service: &view.service,
            },
            last_ref_time: epoch_ms,
            checksum: "",
            all_ips: false,
            reach_protection_threshold: view.reach_protection_threshold,
            valid: true,
        },
    );
}

/// Writes a catalog page `{"list":[..],"count":N}`.
pub(crate) fn write_catalog(
    out: &mut Vec<u8>,
    service: &ServiceKey,
    hosts: &[HostView],
    count: u64,
) {
    #[derive(Serialize)]
    struct Catalog<'a> {
        list: HostsJson<'a>,
        count: u64,
    }
    write_json(
        out,
        &Catalog {
            list: HostsJson { hosts, service },
            count,
        },
    );
}

/// Writes the beat answer.
pub(crate) fn write_beat(out: &mut Vec<u8>, client_beat_interval_ms: u64, code: u32) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Beat {
        client_beat_interval: u64,
        code: u32,
        light_beat_enabled: bool,
    }
    let beat = Beat {
        client_beat_interval: client_beat_interval_ms,
        code,
        light_beat_enabled: false,
    };
    write_json(out, &beat);
}

/// Writes one instance's detail (`GET /instance`).
pub(crate) fn write_instance(out: &mut Vec<u8>, service: &ServiceKey, h: &HostView) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Detail<'a> {
        service: Grouped<'a>,
        ip: &'a str,
        port: u16,
        cluster_name: &'a str,
        weight: f64,
        healthy: bool,
        instance_id: &'a str,
        metadata: &'a BTreeMap<String, String>,
    }
    write_json(
        out,
        &Detail {
            service: Grouped(service),
            ip: &h.ip,
            port: h.port,
            cluster_name: &h.cluster,
            weight: h.weight,
            healthy: h.healthy,
            instance_id: &h.instance_id,
            metadata: &h.metadata,
        },
    );
}

/// Writes a service's detail (`GET /service`).
pub(crate) fn write_service_detail(out: &mut Vec<u8>, d: &ServiceDetail) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Detail<'a> {
        namespace_id: &'a str,
        group_name: &'a str,
        name: &'a str,
        protect_threshold: f32,
        metadata: &'a BTreeMap<String, String>,
        selector: Selector,
        clusters: Clusters<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Selector {
        r#type: &'static str,
        context_type: &'static str,
    }
    struct Clusters<'a>(&'a [std::sync::Arc<str>]);
    impl Serialize for Clusters<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|name| Cluster {
                name,
                health_checker: HealthChecker { r#type: "TCP" },
                metadata: EmptyObject,
            }))
        }
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Cluster<'a> {
        name: &'a str,
        health_checker: HealthChecker,
        metadata: EmptyObject,
    }
    #[derive(Serialize)]
    struct HealthChecker {
        r#type: &'static str,
    }
    write_json(
        out,
        &Detail {
            namespace_id: &d.service.namespace,
            group_name: &d.service.group,
            name: &d.service.name,
            protect_threshold: d.protect_threshold,
            metadata: &d.metadata,
            selector: Selector {
                r#type: "none",
                context_type: "NONE",
            },
            clusters: Clusters(&d.clusters),
        },
    );
}

/// Writes a page of service names `{"count":N,"doms":[..]}`.
pub(crate) fn write_service_names(out: &mut Vec<u8>, count: u64, names: &[std::sync::Arc<str>]) {
    #[derive(Serialize)]
    struct Names<'a> {
        count: u64,
        doms: &'a [std::sync::Arc<str>],
    }
    write_json(out, &Names { count, doms: names });
}

/// Writes the metrics answer: only `status`, or status and counts.
pub(crate) fn write_metrics(out: &mut Vec<u8>, only_status: bool, m: &MetricsView) {
    #[derive(Serialize)]
    struct Status<'a> {
        status: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Metrics<'a> {
        status: &'a str,
        service_count: u64,
        instance_count: u64,
        subscribe_count: u64,
        client_count: u64,
        connection_based_client_count: u64,
        ephemeral_ip_port_client_count: u64,
        persistent_ip_port_client_count: u64,
        responsible_client_count: u64,
        responsible_instance_count: u64,
    }
    if only_status {
        return write_json(out, &Status { status: &m.status });
    }
    write_json(
        out,
        &Metrics {
            status: &m.status,
            service_count: m.service_count,
            instance_count: m.instance_count,
            subscribe_count: m.subscribe_count,
            client_count: m.client_count,
            connection_based_client_count: m.connection_client_count,
            ephemeral_ip_port_client_count: m.ip_port_client_count,
            persistent_ip_port_client_count: 0,
            responsible_client_count: m.responsible_client_count,
            responsible_instance_count: m.responsible_instance_count,
        },
    );
}

/// Writes `{"responsibleServer":"ip:port"}`.
pub(crate) fn write_responsible(out: &mut Vec<u8>, server: &str) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Responsible<'a> {
        responsible_server: &'a str,
    }
    write_json(
        out,
        &Responsible {
            responsible_server: server,
        },
    );
}

/// Writes the member list as Nacos's `RestResult` of `Member` beans.
pub(crate) fn write_members(out: &mut Vec<u8>, members: &[MemberView]) {
    #[derive(Serialize)]
    struct RestResult<'a> {
        code: u32,
        message: Option<&'static str>,
        data: Members<'a>,
    }
    struct Members<'a>(&'a [MemberView]);
    impl Serialize for Members<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|m| {
                let address = m.id.as_str();
                // a shard (`ip:port/k`) shows its process's address
                let (ip, port) = split_address(m.id.machine());
                Member {
                    ip,
                    port,
                    state: &m.state,
                    address,
                    fail_access_cnt: m.fail_count,
                    extend_info: EmptyObject,
                    abilities: EmptyObject,
                }
            }))
        }
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Member<'a> {
        ip: &'a str,
        port: u16,
        state: &'a str,
        address: &'a str,
        fail_access_cnt: u32,
        extend_info: EmptyObject,
        abilities: EmptyObject,
    }
    write_json(
        out,
        &RestResult {
            code: 200,
            message: None,
            data: Members(members),
        },
    );
}

/// Splits `ip:port` (or `[v6]:port`); a missing or bad port is 0.
fn split_address(address: &str) -> (&str, u16) {
    match address.rsplit_once(':') {
        Some((ip, port)) if !ip.is_empty() => {
            let ip = ip
                .strip_prefix('[')
                .and_then(|i| i.strip_suffix(']'))
                .unwrap_or(ip);
            (ip, port.parse().unwrap_or(0))
        }
        _ => (address, 0),
    }
}
