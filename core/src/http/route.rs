//! Routing: which v1 endpoint a request is, and the typed [`Request`] it asks for.

use super::beat::parse_beat;
use super::parse::{HttpRequest, Method};
use super::values::{check_name, missing, shown, Fields, MAX_PAGE_SIZE};
use crate::{
    ApiError, Instance, Limits, Request, DEFAULT_CLUSTER, DEFAULT_GROUP, DEFAULT_NAMESPACE,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Base path of the naming API.
const NAMING: &str = "/nacos/v1/ns";

/// How the v1 API is served.
#[derive(Clone, Debug, Default)]
pub struct ApiOptions {
    /// Where UDP pushes for a `GET /instance/list?udpPort=P` subscriber go: `false` (the
    /// default) sends them to the TCP peer's IP and port `P`; `true` to the request's `clientIP`
    /// parameter (as Nacos does), falling back to the peer's IP when that is absent or not an IP.
    pub push_to_client_ip: bool,
}

/// The endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Instance,
    InstanceBeat,
    InstanceList,
    Service,
    ServiceList,
    CatalogInstances,
    Metrics,
    DistroClient,
    ClusterNodes,
    Liveness,
    Readiness,
    Prometheus,
}

fn route_of(path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix(NAMING) {
        return Some(match rest {
            "/instance" => Route::Instance,
            "/instance/beat" => Route::InstanceBeat,
            "/instance/list" => Route::InstanceList,
            "/service" => Route::Service,
            "/service/list" => Route::ServiceList,
            "/catalog/instances" => Route::CatalogInstances,
            "/operator/metrics" | "/ops/metrics" => Route::Metrics,
            "/operator/distro/client" | "/ops/distro/client" => Route::DistroClient,
            _ => return None,
        });
    }
    Some(match path {
        "/nacos/v1/core/cluster/nodes" => Route::ClusterNodes,
        "/nacos/v1/console/health/liveness" => Route::Liveness,
        "/nacos/v1/console/health/readiness" => Route::Readiness,
        "/metrics" => Route::Prometheus,
        _ => return None,
    })
}

/// Maps a parsed request to the node's [`Request`], validating every parameter.
///
/// `peer` is the TCP peer address; it is where UDP pushes for a list subscriber go (see
/// [`ApiOptions::push_to_client_ip`]). Errors: 404 for an unknown path, 405 for a known path
/// with another method, 400 for a missing (`Param 'serviceName' is required.`) or invalid
/// parameter, a name over [`Limits::max_name_len`] or with control characters, or metadata over
/// the metadata limits.
pub fn to_request(
    req: &HttpRequest,
    peer: Option<SocketAddr>,
    opts: &ApiOptions,
    limits: &Limits,
) -> Result<Request, ApiError> {
    // Spring, which serves Nacos, also matches a path with one trailing slash.
    let path = match req.path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => req.path.as_str(),
    };
    let route =
        route_of(path).ok_or_else(|| ApiError::not_found(format!("no such API: {path}")))?;
    let p = Fields::new(&req.params, limits);
    use Method::*;
    match (route, req.method) {
        (Route::Instance, Post) => register(&p),
        (Route::Instance, Delete) => Ok(Request::Deregister {
            service: p.service()?,
            ip: Arc::from(p.name("ip")?),
            port: p.port("port")?,
        }),
        (Route::Instance, Put) => update(&p, false),
        (Route::Instance, Patch) => update(&p, true),
        (Route::Instance, Get) => Ok(Request::GetInstance {
            service: p.service()?,
            ip: Arc::from(p.name("ip")?),
            port: p.port("port")?,
            cluster: p.cluster()?.map(Arc::from),
        }),
        (Route::InstanceBeat, Put) => beat(&p),
        (Route::InstanceList, Get) => list(&p, peer, opts),
        (Route::Service, Get) => Ok(Request::GetService {
            service: p.service()?,
        }),
        (Route::Service, Post) => Ok(Request::CreateService {
            service: p.service()?,
            protect_threshold: p.protect_threshold()?,
            metadata: p.metadata()?.unwrap_or_default(),
        }),
        (Route::Service, Put) => Ok(Request::UpdateService {
            service: p.service()?,
            protect_threshold: p.protect_threshold()?,
            metadata: p.metadata()?,
        }),
        (Route::Service, Delete) => Ok(Request::DeleteService {
            service: p.service()?,
        }),
        (Route::ServiceList, Get) => Ok(Request::ListServices {
            namespace: Arc::from(p.opt_name("namespaceId")?.unwrap_or(DEFAULT_NAMESPACE)),
            group: Arc::from(p.opt_name("groupName")?.unwrap_or(DEFAULT_GROUP)),
            page_no: p.page("pageNo", 1, u32::MAX)?,
            page_size: p.page("pageSize", 10, MAX_PAGE_SIZE)?,
        }),
        (Route::CatalogInstances, Get) => Ok(Request::CatalogInstances {
            service: p.service()?,
            cluster: p.opt_name("clusterName")?.map(Arc::from),
            page_no: p.page("pageNo", 1, u32::MAX)?,
            page_size: p.page("pageSize", 100, MAX_PAGE_SIZE)?,
        }),
        (Route::Metrics, Get) => Ok(Request::Metrics {
            only_status: p.bool_or("onlyStatus", true)?,
        }),
        (Route::DistroClient, Get) => Ok(Request::DistroClient {
            ip: Arc::from(p.name("ip")?),
            port: p.port("port")?,
        }),
        (Route::ClusterNodes, Get) => Ok(Request::ClusterNodes {
            keyword: p.opt("keyword").map(str::to_string),
        }),
        (Route::Liveness, Get) => Ok(Request::Liveness),
        (Route::Readiness, Get) => Ok(Request::Readiness),
        (Route::Prometheus, Get) => Ok(Request::Prometheus),
        (_, method) => Err(ApiError {
            status: 405,
            message: format!("method {} is not allowed on {path}", method.as_str()),
        }),
    }
}

/// `POST /instance`.
fn register(p: &Fields) -> Result<Request, ApiError> {
    p.check_ephemeral()?;
    let service = p.service()?;
    let instance = Instance {
        ip: Arc::from(p.name("ip")?),
        port: p.port("port")?,
        // Python sends the literal `None` without a cluster; Nacos keeps it as the name.
        cluster: Arc::from(p.cluster()?.unwrap_or(DEFAULT_CLUSTER)),
        weight: p.opt_weight()?.unwrap_or(1.0),
        healthy: p.bool_or("healthy", true)?,
        enabled: p.enabled()?.unwrap_or(true),
        metadata: p.metadata()?.unwrap_or_default(),
    };
    Ok(Request::Register { service, instance })
}

/// `PUT /instance` (metadata merged) and `PATCH /instance` (metadata replaced).
fn update(p: &Fields, replace_metadata: bool) -> Result<Request, ApiError> {
    p.check_ephemeral()?;
    Ok(Request::Update {
        service: p.service()?,
        ip: Arc::from(p.name("ip")?),
        port: p.port("port")?,
        weight: p.opt_weight()?,
        enabled: p.enabled()?,
        metadata: p.metadata()?,
        replace_metadata,
    })
}

/// `PUT /instance/beat`. A `beat` body names the instance (its ip and port win over the query's)
/// and describes it, so an unknown instance is registered from it (rule R9).
fn beat(p: &Fields) -> Result<Request, ApiError> {
    let body = p.opt("beat").map(|b| parse_beat(b, p.limits)).transpose()?;
    let body_service = body.as_ref().and_then(|b| b.service_name.as_deref());
    let service_name = p
        .opt("serviceName")
        .or(body_service)
        .ok_or_else(|| missing("serviceName"))?;
    let service = p.service_named(service_name)?;
    let ip: Arc<str> = match body.as_ref().and_then(|b| b.ip.as_deref()) {
        Some(ip) => Arc::from(ip),
        None => Arc::from(p.name("ip")?),
    };
    let port = match body.as_ref().and_then(|b| b.port) {
        Some(port) => port,
        None => p.port("port")?,
    };
    let register = match body {
        Some(b) => {
            let cluster = match b.cluster {
                Some(c) => Arc::from(c),
                None => Arc::from(p.cluster()?.unwrap_or(DEFAULT_CLUSTER)),
            };
            Some(Instance {
                ip: ip.clone(),
                port,
                cluster,
                weight: b.weight.unwrap_or(1.0),
                healthy: true,
                enabled: true,
                metadata: b.metadata,
            })
        }
        None => None,
    };
    Ok(Request::Beat {
        service,
        ip,
        port,
        register,
    })
}

/// `GET /instance/list`; `udpPort > 0` subscribes to UDP pushes.
fn list(p: &Fields, peer: Option<SocketAddr>, opts: &ApiOptions) -> Result<Request, ApiError> {
    let service = p.service()?;
    let clusters = p.opt("clusters").unwrap_or_default();
    for cluster in clusters.split(',') {
        check_name("clusters", cluster, p.limits)?;
    }
    let udp_port = match p.opt("udpPort") {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n <= 0 => 0,
            Ok(n) if n <= i64::from(u16::MAX) => n as u16,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Param 'udpPort' must be a port from 0 to 65535, got '{}'.",
                    shown(v)
                )))
            }
        },
    };
    let client_ip = if opts.push_to_client_ip {
        p.opt("clientIP")
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    } else {
        None
    };
    let udp_subscriber = match client_ip.or(peer.map(|a| a.ip())) {
        Some(ip) if udp_port > 0 => Some(SocketAddr::new(ip.to_canonical(), udp_port)),
        _ => None,
    };
    Ok(Request::List {
        service,
        clusters: clusters.to_string(),
        healthy_only: p.bool_or("healthyOnly", false)?,
        udp_subscriber,
    })
}

#[cfg(test)]
mod tests;
