//! Messages of the native client protocol (port 9848).

use crate::model::RequestId;
use crate::request::{Reply, Request, ServiceView};
use serde::{Deserialize, Serialize};

/// A message from a native client to a member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// A request, answered by [`ServerMsg::Reply`] with the same id.
    Request {
        /// Chosen by the client.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// Answer to [`ServerMsg::Probe`].
    ProbeAck,
}

/// A message from a member to a native client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The answer to a request.
    Reply {
        /// The request's id.
        id: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// A subscribed service changed; the full current view.
    Push(ServiceView),
    /// Keep-alive probe: answer with [`ClientMsg::ProbeAck`].
    Probe,
}
