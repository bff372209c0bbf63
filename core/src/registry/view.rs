//! Building what consumers see: service views with cluster, enabled and health filters and the
//! protect threshold.

use super::Registry;
use crate::config::Timings;
use crate::model::{
    Instance, ServiceKey, META_BEAT_INTERVAL, META_BEAT_TIMEOUT, META_DELETE_TIMEOUT,
};
use crate::request::{HostView, ServiceView};
use smallvec::SmallVec;

pub(super) fn host_view(service: &ServiceKey, i: &Instance, t: &Timings) -> HostView {
    HostView {
        instance_id: i.instance_id(service),
        ip: i.ip.clone(),
        port: i.port,
        weight: i.weight,
        healthy: i.healthy,
        enabled: i.enabled,
        cluster: i.cluster.clone(),
        metadata: i.metadata.clone(),
        beat_interval_ms: i
            .preserved_millis(META_BEAT_INTERVAL)
            .unwrap_or(t.beat_interval.as_millis() as u64),
        beat_timeout_ms: i
            .preserved_millis(META_BEAT_TIMEOUT)
            .unwrap_or(t.beat_timeout.as_millis() as u64),
        delete_timeout_ms: i
            .preserved_millis(META_DELETE_TIMEOUT)
            .unwrap_or(t.delete_timeout.as_millis() as u64),
    }
}

/// A cluster filter (`clusters=a,b` of a list or a subscription), split once: a subscription
/// keeps it for every push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterFilter {
    /// As given (what views show).
    pub raw: String,
    /// The cluster names, trimmed; none for an empty filter (every cluster).
    names: SmallVec<[Box<str>; 2]>,
}

impl ClusterFilter {
    pub fn parse(raw: &str) -> Self {
        let names = if raw.is_empty() {
            SmallVec::new()
        } else {
            raw.split(',').map(|c| c.trim().into()).collect()
        };
        ClusterFilter {
            raw: raw.to_string(),
            names,
        }
    }

    fn matches(&self, cluster: &str) -> bool {
        self.raw.is_empty() || self.names.iter().any(|c| **c == *cluster)
    }
}

pub(super) fn list(
    reg: &Registry,
    service: &ServiceKey,
    clusters: &ClusterFilter,
    healthy_only: bool,
    timings: &Timings,
    cache_millis: u64,
) -> ServiceView {
    let mut hosts = Vec::new();
    let entry = reg.services.get(service);
    if let Some(entry) = entry {
        for id in &entry.publishers {
            let Some(client) = reg.clients.get(id) else {
                continue;
            };
            let Ok(i) = client.find(service) else {
                continue;
            };
            for inst in &client.record.publications[i].instances {
                if inst.enabled && clusters.matches(&inst.cluster) {
                    hosts.push(host_view(service, inst, timings));
                }
            }
        }
    }
    // Stable order: consumers diff lists between polls.
    hosts.sort_by(|a, b| (&*a.ip, a.port, &*a.cluster).cmp(&(&*b.ip, b.port, &*b.cluster)));
    let threshold = entry
        .and_then(|e| e.meta.as_ref())
        .filter(|m| !m.deleted)
        .map(|m| m.protect_threshold);
    let mut reach = false;
    if let Some(threshold) = threshold {
        if threshold > 0.0 && !hosts.is_empty() {
            let healthy = hosts.iter().filter(|h| h.healthy).count();
            if (healthy as f64) / (hosts.len() as f64) <= threshold as f64 {
                reach = true;
                for h in &mut hosts {
                    h.healthy = true;
                }
            }
        }
    }
    if healthy_only && !reach {
        hosts.retain(|h| h.healthy);
    }
    ServiceView {
        service: service.clone(),
        clusters: clusters.raw.clone(),
        hosts,
        reach_protection_threshold: reach,
        cache_millis,
    }
}
