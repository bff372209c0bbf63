//! The gRPC message layer under arbitrary input.

use crate::grpc::{self, Message, Payload};
use crate::request::{ApiError, Reply, ServiceView};
use crate::{Limits, ServiceKey};
use prost::Message as _;
use std::sync::Arc;

/// Message types the structured half of the inputs is sent as.
const TYPES: &[&str] = &[
    "ServerCheckRequest",
    "ConnectionSetupRequest",
    "HealthCheckRequest",
    "InstanceRequest",
    "BatchInstanceRequest",
    "SubscribeServiceRequest",
    "ServiceQueryRequest",
    "ServiceListRequest",
    "PersistentInstanceRequest",
    "ClientDetectionResponse",
    "NotifySubscriberResponse",
    "NoSuchRequest",
];

/// See [`super::grpc`].
pub(super) fn run(data: &[u8]) {
    let limits = Limits {
        max_frame_len: 4096,
        ..Limits::default()
    };
    let decoded = match data.split_first() {
        // raw protobuf
        Some((b, rest)) if b & 1 == 0 => grpc::decode(rest, &limits),
        // a known type with an arbitrary body
        Some((b, rest)) => {
            let kind = TYPES[usize::from(b >> 1) % TYPES.len()];
            let payload = Payload {
                metadata: Some(grpc::Metadata {
                    r#type: kind.into(),
                    ..Default::default()
                }),
                body: Some(prost_types::Any {
                    type_url: String::new(),
                    value: rest.to_vec(),
                }),
            };
            grpc::decode(&payload.encode_to_vec(), &limits)
        }
        None => return,
    };
    match decoded {
        Ok(Message::Request {
            request_id, answer, ..
        }) => {
            let view = Arc::new(ServiceView {
                service: ServiceKey::parse(None, None, "s"),
                clusters: String::new(),
                hosts: Vec::new(),
                reach_protection_threshold: false,
                cache_millis: 1000,
            });
            for reply in [
                Reply::Ok,
                Reply::Pong,
                Reply::Service(view),
                Reply::ServiceNames {
                    count: 0,
                    names: Vec::new(),
                },
                Reply::Error(ApiError::bad_request("x")),
            ] {
                let out = grpc::response(&answer, &request_id, &reply, 0);
                check_answer(&out, &request_id);
            }
        }
        Ok(Message::ServerCheck { request_id }) => {
            check_answer(&grpc::server_check_response(&request_id, "c"), &request_id);
        }
        Ok(_) => {}
        Err(rejected) => {
            let out = grpc::error_response(&rejected);
            let body = check_answer(&out, &rejected.request_id);
            assert_eq!(body["errorCode"].as_i64(), Some(i64::from(rejected.code)));
        }
    }
}

/// An answer is a Payload whose JSON body has every response field and echoes the id.
fn check_answer(bytes: &[u8], request_id: &str) -> serde_json::Value {
    let p = Payload::decode(bytes).expect("our own Payload decodes");
    let body: serde_json::Value =
        serde_json::from_slice(&p.body.expect("a body").value).expect("our own JSON parses");
    for field in ["resultCode", "errorCode", "message", "requestId"] {
        assert!(body.get(field).is_some(), "answer without {field}: {body}");
    }
    assert_eq!(body["requestId"].as_str(), Some(request_id));
    body
}
