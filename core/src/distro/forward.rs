//! Forwarding: a write for an ip-port client that reaches a member other than the responsible
//! one goes to the responsible member over the peer link, and its reply comes back the same way.
//! If the responsible member cannot be reached, or does not answer in time, the write is served
//! here (availability first; revisions settle who wins).

use super::Answer;
use crate::model::{ConnId, MemberId, RequestId};
use crate::node::Node;
use crate::request::{ApiError, Reply, Request};
use crate::time::Timestamp;
use crate::wire::{encode_frame, PeerMsg};
use crate::Output;
use std::collections::BTreeMap;

#[derive(Debug)]
struct Pending {
    /// When the request reached this member.
    received: Timestamp,
    conn: ConnId,
    req: RequestId,
    request: Request,
    to: MemberId,
    deadline: Timestamp,
}

/// Forwarded writes waiting for their reply, by forward id (ids grow with time, so the first
/// entry has the earliest deadline).
#[derive(Debug, Default)]
pub(crate) struct Forwards {
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
}

impl Forwards {
    pub fn next_deadline(&self) -> Timestamp {
        self.pending
            .first_key_value()
            .map(|(_, p)| p.deadline)
            .unwrap_or(Timestamp::NEVER)
    }
}

impl Node {
    /// Sends `request` to `to`; its reply will be relayed to `conn`.
    pub(crate) fn forward(&mut self, to: MemberId, conn: ConnId, req: RequestId, request: Request) {
        if self.forwards.pending.len() >= self.cfg.limits.max_pending_forwards {
            self.stats.limit_rejections += 1;
            let reply = Reply::Error(ApiError::unavailable(
                "too many forwarded requests in flight",
            ));
            self.reply(conn, req, reply);
            return;
        }
        self.forwards.next_id += 1;
        let id = self.forwards.next_id;
        let frame = encode_frame(&PeerMsg::Forward {
            id,
            request: request.clone(),
        });
        let deadline = self.now.plus(self.cfg.timings.forward_timeout);
        self.forwards.pending.insert(
            id,
            Pending {
                received: self.now,
                conn,
                req,
                request,
                to: to.clone(),
                deadline,
            },
        );
        self.stats.forwards += 1;
        self.emit(Output::Transmit { to, frame });
    }

    /// Serves a write another member forwarded here; never forwards it again.
    pub(crate) fn on_forward(&mut self, from: &MemberId, id: u64, request: Request) {
        self.stats.forwards_served += 1;
        let marks = self.outboxes.marks;
        let reply = self.execute(None, request, self.now);
        let to = from.clone();
        self.answer_write(Answer::Forward { to, id, reply }, marks);
    }

    pub(crate) fn on_forward_reply(&mut self, from: &MemberId, id: u64, reply: Reply) {
        match self.forwards.pending.get(&id) {
            Some(p) if p.to == *from => {
                let p = self.forwards.pending.remove(&id).expect("present");
                self.reply(p.conn, p.req, reply);
            }
            _ => {} // late (already served locally) or not ours: ignore
        }
    }

    /// Serves locally every forward that timed out.
    pub(crate) fn forwards_timeout(&mut self) {
        let now = self.now;
        while let Some(entry) = self.forwards.pending.first_entry() {
            if entry.get().deadline > now {
                break;
            }
            let p = entry.remove();
            self.stats.forward_timeouts += 1;
            self.serve_locally(p);
        }
    }

    /// The link to `peer` broke: serve its pending forwards here.
    pub(crate) fn forwards_link_down(&mut self, peer: &MemberId) {
        let ids: Vec<u64> = self
            .forwards
            .pending
            .iter()
            .filter(|(_, p)| p.to == *peer)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let p = self.forwards.pending.remove(&id).expect("present");
            self.serve_locally(p);
        }
    }

    fn serve_locally(&mut self, p: Pending) {
        let marks = self.outboxes.marks;
        let reply = self.execute(None, p.request, p.received);
        let (conn, id) = (p.conn, p.req);
        self.answer_write(Answer::Client { conn, id, reply }, marks);
    }
}
