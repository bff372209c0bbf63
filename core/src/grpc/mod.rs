//! The Nacos 2.x gRPC message layer as pure functions: a `Payload` (protobuf, with a JSON body)
//! in, a [`Message`] out; a [`Reply`] (or a push, or a probe) in, a `Payload` out.
//!
//! Nacos clients speak two gRPC methods on the client port (`/Request/request`, unary, and
//! `/BiRequestStream/requestBiStream`, bidirectional), both carrying
//! `Payload { Metadata metadata = 2; google.protobuf.Any body = 3 }` where `metadata.type` is
//! the simple class name of the message and `body.value` its JSON. This module knows the
//! messages; HTTP/2 and the gRPC length prefix are the host's.
//!
//! | client sends | becomes | answered with |
//! |---|---|---|
//! | `ServerCheckRequest` | [`Message::ServerCheck`] | [`server_check_response`] (the host's connection id) |
//! | `ConnectionSetupRequest` | [`Message::Setup`] | nothing |
//! | `HealthCheckRequest` | [`Request::Ping`] | `HealthCheckResponse` |
//! | `InstanceRequest` (`registerInstance` / `deregisterInstance`) | [`Request::Register`] / [`Request::Deregister`] | `InstanceResponse` |
//! | `BatchInstanceRequest` | [`Request::BatchRegister`] | `BatchInstanceResponse` |
//! | `SubscribeServiceRequest` | [`Request::Subscribe`] / [`Request::Unsubscribe`] | `SubscribeServiceResponse` |
//! | `ServiceQueryRequest` | [`Request::List`] | `QueryServiceResponse` |
//! | `ServiceListRequest` | [`Request::ListServices`] | `ServiceListResponse` |
//! | `ClientDetectionResponse` | [`Message::ProbeAnswered`] | — |
//! | `NotifySubscriberResponse` | [`Message::Acknowledged`] | — |
//! | anything else | [`Rejected`] | `ErrorResponse` |
//!
//! The server sends `NotifySubscriberRequest` ([`push`]) and `ClientDetectionRequest`
//! ([`probe`]) on the bi-stream. Every response carries `resultCode`, `errorCode`, `message`
//! and `requestId` (the Rust SDK refuses one without them); every server request carries
//! `headers`, `requestId` and `module`.

mod json;
#[cfg(test)]
mod tests;

use crate::request::{Reply, Request, ServiceView};
use crate::{Instance, Limits, ServiceKey};
use prost::Message as _;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Nacos error code: a request type this server has no handler for.
pub const NO_HANDLER: i32 = 302;
/// Nacos error code: a malformed request.
pub const BAD_REQUEST: i32 = 400;
/// Nacos error code: not allowed (authentication).
pub const FORBIDDEN: i32 = 403;
/// Nacos error code: the server failed.
pub const SERVER_ERROR: i32 = 500;

/// `Metadata` of a `Payload`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    /// The message's simple class name, e.g. `InstanceRequest`.
    #[prost(string, tag = "3")]
    pub r#type: String,
    /// The client's IP as it sees itself.
    #[prost(string, tag = "8")]
    pub client_ip: String,
    /// Headers (authentication tokens, app name).
    #[prost(btree_map = "string, string", tag = "7")]
    pub headers: BTreeMap<String, String>,
}

/// The one protobuf message of the Nacos gRPC API.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// What the body is.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Metadata>,
    /// The body: JSON in `value` (`type_url` is ignored: Java and Python leave it empty).
    #[prost(message, optional, tag = "3")]
    pub body: Option<prost_types::Any>,
}

/// How the node's reply to a request is rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `HealthCheckResponse`.
    HealthCheck,
    /// `InstanceResponse` with the request's `type`.
    Instance(&'static str),
    /// `BatchInstanceResponse`.
    BatchInstance,
    /// `SubscribeServiceResponse`.
    Subscribe,
    /// `QueryServiceResponse`.
    Query,
    /// `ServiceListResponse`.
    ServiceList,
}

/// A decoded client message.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A request for the node: feed `request`, render its reply with [`response`].
    Request {
        /// The client's request id, echoed in the answer.
        request_id: String,
        /// The request.
        request: Box<Request>,
        /// How to render the reply.
        answer: Answer,
        /// The message's headers (`accessToken`, ...).
        headers: BTreeMap<String, String>,
    },
    /// `ServerCheckRequest`: the host answers with its connection id.
    ServerCheck {
        /// The client's request id.
        request_id: String,
    },
    /// `ConnectionSetupRequest` on the bi-stream (no answer).
    Setup {
        /// The SDK's version, for logs.
        client_version: String,
    },
    /// `ClientDetectionResponse`: the client answered the node's probe.
    ProbeAnswered,
    /// `NotifySubscriberResponse` (or another response to a server request): nothing to do.
    Acknowledged,
}

/// A message that cannot be served: answer it with [`error_response`] (and count it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The request id, when it could be read.
    pub request_id: String,
    /// Nacos error code ([`NO_HANDLER`], [`BAD_REQUEST`], ...).
    pub code: i32,
    /// Why.
    pub message: String,
}

impl Rejected {
    fn new(request_id: &str, code: i32, message: impl Into<String>) -> Self {
        Rejected {
            request_id: request_id.to_string(),
            code,
            message: message.into(),
        }
    }
}

/// Decodes one gRPC message (without the 5-byte prefix). Bodies are bounded by the caller's
/// frame limit; names and metadata are validated by the node like every other request.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Message, Rejected> {
    if bytes.len() > limits.max_frame_len {
        return Err(Rejected::new("", BAD_REQUEST, "message too large"));
    }
    let payload = Payload::decode(bytes)
        .map_err(|e| Rejected::new("", BAD_REQUEST, format!("bad Payload: {e}")))?;
    let metadata = payload.metadata.unwrap_or_default();
    let body = payload.body.map(|b| b.value).unwrap_or_default();
    json::decode(&metadata.r#type, &body, metadata.headers)
}

/// Renders the node's reply to a request as its response `Payload`.
pub fn response(answer: &Answer, request_id: &str, reply: &Reply, epoch_ms: u64) -> Vec<u8> {
    let (kind, body) = json::response(answer, request_id, reply, epoch_ms);
    encode(kind, body)
}

/// `ServerCheckResponse` with the host's id of this connection.
pub fn server_check_response(request_id: &str, connection_id: &str) -> Vec<u8> {
    encode(
        "ServerCheckResponse",
        json::server_check(request_id, connection_id),
    )
}

/// `ErrorResponse` for a rejected message.
pub fn error_response(rejected: &Rejected) -> Vec<u8> {
    encode("ErrorResponse", json::error(rejected))
}

/// `NotifySubscriberRequest` pushing `view`.
pub fn push(view: &ServiceView, request_id: &str, epoch_ms: u64) -> Vec<u8> {
    encode(
        "NotifySubscriberRequest",
        json::notify(view, request_id, epoch_ms),
    )
}

/// `ClientDetectionRequest`: the node's keep-alive probe.
pub fn probe(request_id: &str) -> Vec<u8> {
    encode("ClientDetectionRequest", json::probe(request_id))
}

fn encode(kind: &str, body: Vec<u8>) -> Vec<u8> {
    let payload = Payload {
        metadata: Some(Metadata {
            r#type: kind.to_string(),
            client_ip: String::new(),
            headers: BTreeMap::new(),
        }),
        body: Some(prost_types::Any {
            type_url: String::new(),
            value: body,
        }),
    };
    payload.encode_to_vec()
}

/// A service from the fields Nacos requests carry (`serviceName` may be grouped).
fn service(namespace: &str, group: &str, name: &str) -> ServiceKey {
    ServiceKey::parse(Some(namespace), Some(group), name)
}

/// An instance from a request's `instance` object.
fn instance(i: json::InstanceJson) -> Instance {
    let mut inst = Instance::new(&i.ip, i.port_u16);
    inst.weight = i.weight.unwrap_or(1.0);
    inst.healthy = i.healthy.unwrap_or(true);
    inst.enabled = i.enabled.unwrap_or(true);
    if let Some(c) = i.cluster_name.filter(|c| !c.is_empty()) {
        inst.cluster = Arc::from(c.as_str());
    }
    inst.metadata = i.metadata.unwrap_or_default().into_iter().collect();
    inst
}
