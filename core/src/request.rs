//! Client requests and replies: the one request type that both the Nacos v1 HTTP API and the
//! native protocol map onto, and the typed replies the node answers with.

use crate::model::{Instance, MemberId, ServiceKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A request from a client. On a native connection (see
/// [`Input::ConnectionOpened`](crate::Input::ConnectionOpened)) writes apply to that
/// connection's client; elsewhere (v1 HTTP) they apply to the ip-port client of the instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Register (or replace) an instance (v1 `POST /instance`).
    Register {
        /// The service.
        service: ServiceKey,
        /// The instance.
        instance: Instance,
    },
    /// Register several instances of one service at once (native batch register).
    BatchRegister {
        /// The service.
        service: ServiceKey,
        /// The instances; they replace what the client published in this service.
        instances: Vec<Instance>,
    },
    /// Deregister an instance (v1 `DELETE /instance`). Answers `ok` when it is absent.
    Deregister {
        /// The service.
        service: ServiceKey,
        /// Instance IP.
        ip: Arc<str>,
        /// Instance port.
        port: u16,
    },
    /// Change weight, enabled or metadata of a registered instance (v1 `PUT`/`PATCH /instance`).
    Update {
        /// The service.
        service: ServiceKey,
        /// Instance IP.
        ip: Arc<str>,
        /// Instance port.
        port: u16,
        /// New weight, if given.
        weight: Option<f64>,
        /// New enabled flag, if given.
        enabled: Option<bool>,
        /// Metadata, if given.
        metadata: Option<BTreeMap<String, String>>,
        /// Whether `metadata` replaces the old metadata (`PATCH`) or is merged into it (`PUT`).
        replace_metadata: bool,
    },
    /// A beat (v1 `PUT /instance/beat`). With `register` set, an unknown instance is registered
    /// from it; without it (a light beat) an unknown instance answers code 20404.
    Beat {
        /// The service.
        service: ServiceKey,
        /// Instance IP.
        #[serde(deserialize_with = "crate::model::arc_str::deserialize")]
        ip: Arc<str>,
        /// Instance port.
        port: u16,
        /// The instance described by the beat body, if the beat had one.
        register: Option<Instance>,
    },
    /// One instance's detail (v1 `GET /instance`).
    GetInstance {
        /// The service.
        service: ServiceKey,
        /// Instance IP.
        ip: Arc<str>,
        /// Instance port.
        port: u16,
        /// Cluster to look in; any cluster when `None`.
        cluster: Option<Arc<str>>,
    },
    /// List a service's instances (v1 `GET /instance/list`).
    List {
        /// The service.
        service: ServiceKey,
        /// Comma-separated cluster filter, echoed in the reply; empty means all.
        clusters: String,
        /// Only healthy instances.
        healthy_only: bool,
        /// Subscribe this UDP address to pushes of the service (v1 `udpPort`).
        udp_subscriber: Option<SocketAddr>,
    },
    /// Subscribe the native connection to pushes of a service; answers the current view.
    Subscribe {
        /// The service.
        service: ServiceKey,
        /// Comma-separated cluster filter; empty means all.
        clusters: String,
    },
    /// Cancel a native subscription.
    Unsubscribe {
        /// The service.
        service: ServiceKey,
        /// The cluster filter it was made with.
        clusters: String,
    },
    /// Create a service's settings (v1 `POST /service`).
    CreateService {
        /// The service.
        service: ServiceKey,
        /// Protect threshold.
        protect_threshold: f32,
        /// Metadata.
        metadata: BTreeMap<String, String>,
    },
    /// Update a service's settings (v1 `PUT /service`).
    UpdateService {
        /// The service.
        service: ServiceKey,
        /// Protect threshold.
        protect_threshold: f32,
        /// Metadata, if given.
        metadata: Option<BTreeMap<String, String>>,
    },
    /// Delete a service's settings (v1 `DELETE /service`); fails while it has instances.
    DeleteService {
        /// The service.
        service: ServiceKey,
    },
    /// A service's detail (v1 `GET /service`).
    GetService {
        /// The service.
        service: ServiceKey,
    },
    /// Page through service names of a group (v1 `GET /service/list`).
    ListServices {
        /// Namespace.
        namespace: Arc<str>,
        /// Group.
        group: Arc<str>,
        /// Page number, from 1.
        page_no: u32,
        /// Page size.
        page_size: u32,
    },
    /// Page through a service's instances with their full detail (v1 `GET /catalog/instances`).
    CatalogInstances {
        /// The service.
        service: ServiceKey,
        /// Only this cluster, if given.
        cluster: Option<Arc<str>>,
        /// Page number, from 1.
        page_no: u32,
        /// Page size.
        page_size: u32,
    },
    /// Server status and counts (v1 `GET /operator/metrics`).
    Metrics {
        /// Only the status.
        only_status: bool,
    },
    /// Which member is responsible for an ip-port client (v1 `GET /operator/distro/client`).
    DistroClient {
        /// Instance IP.
        ip: Arc<str>,
        /// Instance port.
        port: u16,
    },
    /// The member list (v1 `GET /nacos/v1/core/cluster/nodes`).
    ClusterNodes {
        /// Only members whose address contains this.
        keyword: Option<String>,
    },
    /// Liveness probe.
    Liveness,
    /// Readiness probe: ready once the startup snapshot is loaded.
    Readiness,
    /// Statistics in Prometheus text format.
    Prometheus,
    /// Keep-alive of a native connection; answers [`Reply::Pong`].
    Ping,
}

impl Request {
    /// The ip-port client this request writes to, for requests Nacos routes to the responsible
    /// member (`@CanDistro`): register, deregister, update and beat.
    pub fn ip_port_write_target(&self) -> Option<(&str, u16)> {
        match self {
            Request::Register { instance, .. } => Some((&instance.ip, instance.port)),
            Request::Deregister { ip, port, .. }
            | Request::Update { ip, port, .. }
            | Request::Beat { ip, port, .. } => Some((ip, *port)),
            _ => None,
        }
    }
}

/// An instance as listed to consumers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// `ip#port#cluster#group@@service`.
    pub instance_id: String,
    /// Instance IP.
    pub ip: Arc<str>,
    /// Instance port.
    pub port: u16,
    /// Weight.
    pub weight: f64,
    /// Health (forced true when the protect threshold is reached).
    pub healthy: bool,
    /// Enabled flag.
    pub enabled: bool,
    /// Cluster.
    pub cluster: Arc<str>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Beat interval in milliseconds (from metadata or the default).
    pub beat_interval_ms: u64,
    /// Beat timeout in milliseconds (from metadata or the default).
    pub beat_timeout_ms: u64,
    /// Delete timeout in milliseconds (from metadata or the default).
    pub delete_timeout_ms: u64,
}

/// A service's instances as a consumer sees them (the v1 `ServiceInfo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The service.
    pub service: ServiceKey,
    /// The cluster filter of the request, echoed.
    pub clusters: String,
    /// Matching instances, sorted by ip and port.
    pub hosts: Vec<HostView>,
    /// Whether the protect threshold was reached (all hosts then show healthy).
    pub reach_protection_threshold: bool,
    /// How long a client may cache this, in milliseconds.
    pub cache_millis: u64,
}

/// One instance's detail (v1 `GET /instance`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceDetail {
    /// The service.
    pub service: ServiceKey,
    /// The instance.
    pub host: HostView,
}

/// A service's settings and clusters (v1 `GET /service`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceDetail {
    /// The service.
    pub service: ServiceKey,
    /// Protect threshold.
    pub protect_threshold: f32,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Names of the clusters its instances are in.
    pub clusters: Vec<Arc<str>>,
}

/// A member as the cluster-nodes endpoint shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    /// Address.
    pub id: MemberId,
    /// State name: `UP`, `SUSPICIOUS` or `DOWN`.
    pub state: String,
    /// Consecutive failed pings.
    pub fail_count: u32,
    /// Whether this member is the one answering.
    pub is_self: bool,
}

/// Counts for the metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsView {
    /// `UP` once ready, else `STARTING`.
    pub status: String,
    /// Services held.
    pub service_count: u64,
    /// Instances held.
    pub instance_count: u64,
    /// Subscriptions held.
    pub subscribe_count: u64,
    /// Clients held.
    pub client_count: u64,
    /// Connection clients held.
    pub connection_client_count: u64,
    /// Ip-port clients held.
    pub ip_port_client_count: u64,
    /// Clients this member is responsible for.
    pub responsible_client_count: u64,
    /// Instances of clients this member is responsible for.
    pub responsible_instance_count: u64,
}

/// An error answer; `status` is the HTTP status the v1 API uses for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// HTTP status code (400, 404, 413, 500, 503 ...).
    pub status: u16,
    /// Human-readable message, Nacos style.
    pub message: String,
}

impl ApiError {
    /// A 400 error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }
    /// A 404 error.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }
    /// A 503 error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: 503,
            message: message.into(),
        }
    }
    /// A 500 error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            message: message.into(),
        }
    }
}

/// Beat code: the instance is known.
pub const BEAT_OK: u32 = 10200;
/// Beat code: the instance is unknown and the beat carried no body to register it from.
pub const BEAT_NOT_FOUND: u32 = 20404;

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Success without data (the v1 API answers the text `ok`).
    Ok,
    /// Beat answer.
    Beat {
        /// Interval the client should beat at, in milliseconds.
        client_beat_interval_ms: u64,
        /// [`BEAT_OK`] or [`BEAT_NOT_FOUND`].
        code: u32,
    },
    /// A service's instances (list, subscribe); shared with the node's view cache.
    Service(Arc<ServiceView>),
    /// One instance.
    Instance(Box<InstanceDetail>),
    /// A service's settings.
    ServiceDetail(Box<ServiceDetail>),
    /// A page of service names.
    ServiceNames {
        /// Total number of services in the group.
        count: u64,
        /// Names on this page, without group prefix.
        names: Vec<Arc<str>>,
    },
    /// A page of instances.
    Catalog {
        /// The service.
        service: ServiceKey,
        /// Total number of instances.
        count: u64,
        /// Instances on this page.
        hosts: Vec<HostView>,
    },
    /// Status and counts.
    Metrics {
        /// Only the status was asked for.
        only_status: bool,
        /// The counts.
        metrics: Box<MetricsView>,
    },
    /// The responsible member of an ip-port client.
    Responsible {
        /// Its address.
        server: MemberId,
    },
    /// The member list.
    Members(Vec<MemberView>),
    /// A health probe's answer: status 200 when `ok`, else 503.
    Health {
        /// Whether the probe passes.
        ok: bool,
    },
    /// Prometheus text.
    Prometheus(String),
    /// Answer to [`Request::Ping`].
    Pong,
    /// A failure.
    Error(ApiError),
}
