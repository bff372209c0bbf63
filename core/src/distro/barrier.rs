//! Read your writes across the shards of one process.
//!
//! A process of several shards is several members, and one client's connections land on any of
//! them: a Nacos SDK often registers on one connection and lists on another right after. So a
//! write that changed data is answered only once every reachable sibling shard (a member of the
//! same process, [`MemberId::machine`](crate::MemberId::machine)) has acknowledged the sync
//! batches that carry it. Siblings talk over in-process channels, so this costs one round trip
//! of microseconds. A sibling that is unreachable or backing off is not waited for
//! (availability first), and no answer waits longer than `sync_timeout`. A member without
//! siblings answers at once, as before.
//!
//! Answers are released in the order they were parked, so replies on one connection keep
//! their order.

use crate::model::{ConnId, MemberId, RequestId};
use crate::node::Node;
use crate::request::Reply;
use crate::time::Timestamp;
use crate::wire::{encode_frame, PeerMsg};
use crate::Output;
use std::collections::VecDeque;

/// An answer to a write.
#[derive(Debug)]
pub(crate) enum Answer {
    /// To a client's request.
    Client {
        conn: ConnId,
        id: RequestId,
        reply: Reply,
    },
    /// To a write another member forwarded here.
    Forward { to: MemberId, id: u64, reply: Reply },
}

#[derive(Debug)]
struct Parked {
    answer: Answer,
    /// Batches numbered below this carry the write (set at the flush after the write).
    barrier: Option<u64>,
    deadline: Timestamp,
}

/// Answers waiting for the siblings' acknowledgements.
#[derive(Debug, Default)]
pub(crate) struct Barrier {
    parked: VecDeque<Parked>,
}

impl Barrier {
    pub fn next_deadline(&self) -> Timestamp {
        self.parked.front().map_or(Timestamp::NEVER, |p| p.deadline)
    }
}

impl Node {
    /// Answers a write that was executed here; `marks_before` is the sync mark count before it
    /// ran, so a write that changed nothing is answered at once.
    pub(crate) fn answer_write(&mut self, answer: Answer, marks_before: u64) {
        let changed = self.outboxes.marks != marks_before;
        let barrier = if changed && self.members.has_siblings() {
            None
        } else if !self.barrier.parked.is_empty() {
            // behind parked answers: keep their order
            Some(0)
        } else {
            self.deliver(answer);
            return;
        };
        let deadline = self.now.plus(self.cfg.timings.sync_timeout);
        self.barrier.parked.push_back(Parked {
            answer,
            barrier,
            deadline,
        });
        self.release_parked();
    }

    /// Called after every sync flush: the writes parked so far are in batches sent now.
    pub(crate) fn barrier_flushed(&mut self) {
        let next = self.outboxes.next_batch();
        for p in self
            .barrier
            .parked
            .iter_mut()
            .filter(|p| p.barrier.is_none())
        {
            p.barrier = Some(next);
        }
        self.release_parked();
    }

    /// Delivers the parked answers whose siblings caught up or whose time ran out, in order.
    pub(crate) fn release_parked(&mut self) {
        while let Some(front) = self.barrier.parked.front() {
            let due = front.deadline <= self.now;
            let ready = match front.barrier {
                Some(b) => self.siblings_caught_up(b),
                None => false,
            };
            if !(due || ready) {
                return;
            }
            let p = self.barrier.parked.pop_front().expect("front");
            self.deliver(p.answer);
        }
    }

    /// Whether no reachable sibling has an unacknowledged batch numbered below `barrier`.
    fn siblings_caught_up(&self, barrier: u64) -> bool {
        if !self.members.has_siblings() {
            return true;
        }
        self.members
            .peers
            .iter()
            .filter(|p| p.reachable() && self.members.is_sibling(&p.id))
            .all(|p| self.outboxes.acked_below(&p.id, barrier, self.now))
    }

    fn deliver(&mut self, answer: Answer) {
        match answer {
            Answer::Client { conn, id, reply } => self.reply(conn, id, reply),
            Answer::Forward { to, id, reply } => self.emit(Output::Transmit {
                to,
                frame: encode_frame(&PeerMsg::ForwardReply { id, reply }),
            }),
        }
    }
}
