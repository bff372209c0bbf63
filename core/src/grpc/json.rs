//! The JSON bodies of the gRPC messages: requests parsed leniently (unknown fields ignored, a
//! `null` read as absent), responses rendered with every field clients require.

use super::{instance, service, Answer, Message, Rejected, BAD_REQUEST, NO_HANDLER, SERVER_ERROR};
use crate::http::json::{write_json, EmptyObject, HostsJson};
use crate::request::{Reply, Request, ServiceView};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads a `null` as the type's default.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Fields every naming request has.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Common {
    #[serde(deserialize_with = "nullable")]
    request_id: String,
    #[serde(deserialize_with = "nullable")]
    namespace: String,
    #[serde(deserialize_with = "nullable")]
    service_name: String,
    #[serde(deserialize_with = "nullable")]
    group_name: String,
}

/// An `Instance` as a client sends it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct InstanceJson {
    #[serde(deserialize_with = "nullable")]
    pub ip: String,
    #[serde(deserialize_with = "nullable")]
    port: i64,
    #[serde(skip)]
    pub port_u16: u16,
    pub weight: Option<f64>,
    pub healthy: Option<bool>,
    pub enabled: Option<bool>,
    ephemeral: Option<bool>,
    pub cluster_name: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceReq {
    #[serde(flatten)]
    common: Common,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    kind: String,
    #[serde(default)]
    instance: Option<InstanceJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchReq {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "nullable")]
    instances: Vec<InstanceJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeReq {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "nullable")]
    subscribe: bool,
    #[serde(default, deserialize_with = "nullable")]
    clusters: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryReq {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "nullable")]
    cluster: String,
    #[serde(default, deserialize_with = "nullable")]
    healthy_only: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListReq {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "nullable")]
    page_no: i64,
    #[serde(default, deserialize_with = "nullable")]
    page_size: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SetupReq {
    #[serde(deserialize_with = "nullable")]
    client_version: String,
}

fn parse<'a, T: Deserialize<'a>>(kind: &str, body: &'a [u8]) -> Result<T, Rejected> {
    serde_json::from_slice(body).map_err(|e| {
        // the request id, when the body is JSON at all
        let id = serde_json::from_slice::<Common>(body)
            .map(|c| c.request_id)
            .unwrap_or_default();
        Rejected::new(&id, BAD_REQUEST, format!("{kind}: {e}"))
    })
}

fn checked(mut i: InstanceJson, id: &str) -> Result<InstanceJson, Rejected> {
    if i.ephemeral == Some(false) {
        return Err(Rejected::new(
            id,
            BAD_REQUEST,
            "persistent instances are not supported: this registry holds ephemeral instances only",
        ));
    }
    i.port_u16 = u16::try_from(i.port)
        .map_err(|_| Rejected::new(id, BAD_REQUEST, format!("port {} out of range", i.port)))?;
    if i.ip.is_empty() {
        return Err(Rejected::new(id, BAD_REQUEST, "instance ip is empty"));
    }
    Ok(i)
}

fn page(v: i64, default: u32) -> u32 {
    if v <= 0 {
        default
    } else {
        u32::try_from(v).unwrap_or(u32::MAX)
    }
}

/// A client message from its type name and JSON body.
pub(super) fn decode(
    kind: &str,
    body: &[u8],
    headers: BTreeMap<String, String>,
) -> Result<Message, Rejected> {
    let request = |request_id: String, request, answer| Message::Request {
        request_id,
        request: Box::new(request),
        answer,
        headers: headers.clone(),
    };
    Ok(match kind {
        "ServerCheckRequest" => Message::ServerCheck {
            request_id: parse::<Common>(kind, body)?.request_id,
        },
        "ConnectionSetupRequest" => Message::Setup {
            client_version: parse::<SetupReq>(kind, body)?.client_version,
        },
        "HealthCheckRequest" => request(
            parse::<Common>(kind, body)?.request_id,
            Request::Ping,
            Answer::HealthCheck,
        ),
        "ClientDetectionResponse" => Message::ProbeAnswered,
        "NotifySubscriberResponse" => Message::Acknowledged,
        "InstanceRequest" => {
            let r: InstanceReq = parse(kind, body)?;
            let c = r.common;
            let id = c.request_id;
            let svc = service(&c.namespace, &c.group_name, &c.service_name);
            let i = checked(r.instance.unwrap_or_default(), &id)?;
            match r.kind.as_str() {
                "registerInstance" => request(
                    id,
                    Request::Register {
                        service: svc,
                        instance: instance(i),
                    },
                    Answer::Instance("registerInstance"),
                ),
                "deregisterInstance" => request(
                    id,
                    Request::Deregister {
                        service: svc,
                        ip: Arc::from(i.ip.as_str()),
                        port: i.port_u16,
                    },
                    Answer::Instance("deregisterInstance"),
                ),
                other => {
                    return Err(Rejected::new(
                        &id,
                        BAD_REQUEST,
                        format!("unknown InstanceRequest type {other:?}"),
                    ))
                }
            }
        }
        "BatchInstanceRequest" => {
            let r: BatchReq = parse(kind, body)?;
            let c = r.common;
            let id = c.request_id;
            let mut instances = Vec::with_capacity(r.instances.len());
            for i in r.instances {
                instances.push(instance(checked(i, &id)?));
            }
            request(
                id,
                Request::BatchRegister {
                    service: service(&c.namespace, &c.group_name, &c.service_name),
                    instances,
                },
                Answer::BatchInstance,
            )
        }
        "SubscribeServiceRequest" => {
            let r: SubscribeReq = parse(kind, body)?;
            let c = r.common;
            let svc = service(&c.namespace, &c.group_name, &c.service_name);
            let req = if r.subscribe {
                Request::Subscribe {
                    service: svc,
                    clusters: r.clusters,
                }
            } else {
                Request::Unsubscribe {
                    service: svc,
                    clusters: r.clusters,
                }
            };
            request(c.request_id, req, Answer::Subscribe)
        }
        "ServiceQueryRequest" => {
            let r: QueryReq = parse(kind, body)?;
            let c = r.common;
            request(
                c.request_id,
                Request::List {
                    service: service(&c.namespace, &c.group_name, &c.service_name),
                    clusters: r.cluster,
                    healthy_only: r.healthy_only,
                    udp_subscriber: None,
                },
                Answer::Query,
            )
        }
        "ServiceListRequest" => {
            let r: ListReq = parse(kind, body)?;
            let c = r.common;
            let svc = service(&c.namespace, &c.group_name, "x");
            request(
                c.request_id,
                Request::ListServices {
                    namespace: svc.namespace,
                    group: svc.group,
                    page_no: page(r.page_no, 1),
                    page_size: page(r.page_size, 10),
                },
                Answer::ServiceList,
            )
        }
        "PersistentInstanceRequest" => {
            let id = parse::<Common>(kind, body)?.request_id;
            return Err(Rejected::new(
                &id,
                BAD_REQUEST,
                "persistent instances are not supported: this registry holds ephemeral instances only",
            ));
        }
        other => {
            let id = serde_json::from_slice::<Common>(body)
                .map(|c| c.request_id)
                .unwrap_or_default();
            return Err(Rejected::new(
                &id,
                NO_HANDLER,
                format!("no handler for {other:?}"),
            ));
        }
    })
}

/// The fields of every response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Base<'a> {
    result_code: u16,
    error_code: i32,
    /// Always a string (Python's SDK refuses a `null`).
    message: &'a str,
    request_id: &'a str,
    success: bool,
}

fn ok(request_id: &str) -> Base<'_> {
    Base {
        result_code: 200,
        error_code: 0,
        message: "",
        request_id,
        success: true,
    }
}

/// `ServiceInfo` as Nacos 2.x clients read it: `name` without the group, every field present.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceInfo<'a> {
    name: &'a str,
    group_name: &'a str,
    clusters: &'a str,
    cache_millis: u64,
    hosts: HostsJson<'a>,
    last_ref_time: u64,
    checksum: &'static str,
    all_ips: bool,
    #[serde(rename = "allIPs")]
    all_ips_java: bool,
    reach_protection_threshold: bool,
    valid: bool,
}

fn service_info(view: &ServiceView, epoch_ms: u64) -> ServiceInfo<'_> {
    ServiceInfo {
        name: &view.service.name,
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
        all_ips_java: false,
        reach_protection_threshold: view.reach_protection_threshold,
        valid: true,
    }
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_json(&mut out, v);
    out
}

/// The response type name and body for `reply`.
pub(super) fn response(
    answer: &Answer,
    request_id: &str,
    reply: &Reply,
    epoch_ms: u64,
) -> (&'static str, Vec<u8>) {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WithType<'a> {
        #[serde(flatten)]
        base: Base<'a>,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct WithService<'a> {
        #[serde(flatten)]
        base: Base<'a>,
        service_info: ServiceInfo<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Names<'a> {
        #[serde(flatten)]
        base: Base<'a>,
        count: u64,
        service_names: &'a [Arc<str>],
    }
    match (answer, reply) {
        (_, Reply::Error(e)) => (
            "ErrorResponse",
            error(&Rejected::new(
                request_id,
                match e.status {
                    400 | 403 | 503 => i32::from(e.status),
                    404 | 413 => BAD_REQUEST,
                    _ => SERVER_ERROR,
                },
                e.message.clone(),
            )),
        ),
        (Answer::HealthCheck, _) => ("HealthCheckResponse", to_vec(&ok(request_id))),
        (Answer::Instance(kind), _) => (
            "InstanceResponse",
            to_vec(&WithType {
                base: ok(request_id),
                kind,
            }),
        ),
        (Answer::BatchInstance, _) => (
            "BatchInstanceResponse",
            to_vec(&WithType {
                base: ok(request_id),
                kind: "batchRegisterInstance",
            }),
        ),
        (Answer::Subscribe | Answer::Query, Reply::Service(view)) => (
            if *answer == Answer::Subscribe {
                "SubscribeServiceResponse"
            } else {
                "QueryServiceResponse"
            },
            to_vec(&WithService {
                base: ok(request_id),
                service_info: service_info(view, epoch_ms),
            }),
        ),
        (Answer::Subscribe, _) => (
            // an unsubscribe answers without a view
            "SubscribeServiceResponse",
            to_vec(&ok(request_id)),
        ),
        (Answer::ServiceList, Reply::ServiceNames { count, names }) => (
            "ServiceListResponse",
            to_vec(&Names {
                base: ok(request_id),
                count: *count,
                service_names: names,
            }),
        ),
        (_, other) => (
            "ErrorResponse",
            error(&Rejected::new(
                request_id,
                SERVER_ERROR,
                format!("unexpected reply {}", reply_name(other)),
            )),
        ),
    }
}

fn reply_name(r: &Reply) -> &'static str {
    match r {
        Reply::Ok => "ok",
        Reply::Service(_) => "service",
        Reply::ServiceNames { .. } => "service names",
        Reply::Pong => "pong",
        _ => "other",
    }
}

pub(super) fn error(r: &Rejected) -> Vec<u8> {
    to_vec(&Base {
        result_code: 500,
        error_code: r.code,
        message: &r.message,
        request_id: &r.request_id,
        success: false,
    })
}

pub(super) fn server_check(request_id: &str, connection_id: &str) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Check<'a> {
        #[serde(flatten)]
        base: Base<'a>,
        connection_id: &'a str,
        support_ability_negotiation: bool,
    }
    to_vec(&Check {
        base: ok(request_id),
        connection_id,
        support_ability_negotiation: false,
    })
}

/// The fields of every server request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerRequest<'a> {
    headers: EmptyObject,
    request_id: &'a str,
    module: &'static str,
}

pub(super) fn notify(view: &ServiceView, request_id: &str, epoch_ms: u64) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Notify<'a> {
        #[serde(flatten)]
        base: ServerRequest<'a>,
        namespace: &'a str,
        service_name: &'a str,
        group_name: &'a str,
        service_info: ServiceInfo<'a>,
    }
    to_vec(&Notify {
        base: ServerRequest {
            headers: EmptyObject,
            request_id,
            module: "naming",
        },
        namespace: &view.service.namespace,
        service_name: &view.service.name,
        group_name: &view.service.group,
        service_info: service_info(view, epoch_ms),
    })
}

pub(super) fn probe(request_id: &str) -> Vec<u8> {
    to_vec(&ServerRequest {
        headers: EmptyObject,
        request_id,
        module: "internal",
    })
}
