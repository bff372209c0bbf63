//! Views shared by the rendering tests.

use crate::{HostView, Instance, ServiceKey, ServiceView};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The service of the reference document's examples.
pub(crate) fn svc() -> ServiceKey {
    ServiceKey::parse(None, None, "svc")
}

/// A host of `svc` in cluster `DEFAULT` with default timeouts.
pub(crate) fn host(ip: &str, port: u16, weight: f64, metadata: &[(&str, &str)]) -> HostView {
    let mut instance = Instance::new(ip, port);
    instance.weight = weight;
    HostView {
        instance_id: instance.instance_id(&svc()),
        ip: Arc::from(ip),
        port,
        weight,
        healthy: true,
        enabled: true,
        cluster: Arc::from("DEFAULT"),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        beat_interval_ms: 5000,
        beat_timeout_ms: 15000,
        delete_timeout_ms: 30000,
    }
}

/// A view of `svc` with these hosts, all clusters, cacheMillis 10000.
pub(crate) fn view(hosts: Vec<HostView>) -> ServiceView {
    ServiceView {
        service: svc(),
        clusters: String::new(),
        hosts,
        reach_protection_threshold: false,
        cache_millis: 10000,
    }
}

/// The 3.1 example host: `127.0.0.1:18081`, weight 2, `{"version":"v1"}`.
pub(crate) fn example_host() -> HostView {
    host("127.0.0.1", 18081, 2.0, &[("version", "v1")])
}

/// The 3.1 example's host JSON.
pub(crate) const EXAMPLE_HOST_JSON: &str = r#"{"instanceId":"127.0.0.1#18081#DEFAULT#DEFAULT_GROUP@@svc","ip":"127.0.0.1","port":18081,"weight":2.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@svc","metadata":{"version":"v1"},"instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,"ipDeleteTimeout":30000,"instanceIdGenerator":"simple"}"#;
