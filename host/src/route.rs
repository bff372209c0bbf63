//! Carrying out the node's outputs: replies to the connection that asked, frames to peer
//! links, pushes to native connections or UDP, probes and closes.

use crate::conn::ConnKind;
use crate::host::{Action, Host};
use distro_core::http;
use distro_core::wire::{encode_frame, ServerMsg};
use distro_core::{ConnId, Event, Output, PushTarget, Reply, RequestId, ServiceView};
use std::sync::Arc;

impl Host {
    /// Polls the node until `Output::Timeout`, doing what each output says. Anything that
    /// would feed the node again is queued as work.
    pub(crate) fn drain(&mut self) {
        loop {
            match self.node.poll_output() {
                Output::Timeout(deadline) => {
                    self.core_deadline = deadline;
                    self.push_cache = None;
                    return;
                }
                Output::Transmit { to, frame } => self.link_send(&to, &frame),
                Output::Reply { conn, id, reply } => self.reply(conn, id, reply),
                Output::Push {
                    to: PushTarget::Conn(conn),
                    view,
                } => self.push_native(conn, view),
                Output::Push {
                    to: PushTarget::Udp { addr, ack },
                    view,
                } => {
                    let data = http::render_udp_push(&view, ack, self.clock.epoch_ms());
                    self.actions.push_back(Action::SendTo { addr, data });
                }
                Output::Probe { conn } => match self.conns.get(&conn).map(|c| &c.kind) {
                    Some(ConnKind::Native(_)) => {
                        let frame = encode_frame(&ServerMsg::Probe);
                        self.send(conn, &frame);
                    }
                    Some(ConnKind::Grpc(_)) => self.grpc_probe(conn),
                    _ => {}
                },
                Output::Close { conn } => self.schedule_close(conn, "closed by the node"),
                Output::Event(Event::MembersChanged { members }) => self.reconcile_links(&members),
                Output::Event(event) => log_event(event),
            }
        }
    }

    fn is_native(&self, conn: ConnId) -> bool {
        matches!(
            self.conns.get(&conn).map(|c| &c.kind),
            Some(ConnKind::Native(_))
        )
    }

    fn reply(&mut self, conn: ConnId, id: RequestId, mut reply: Reply) {
        if let Reply::Prometheus(text) = &mut reply {
            // The node's counters, then what the host rejected before the node saw it.
            self.stats.append_prometheus(text);
        }
        match self.conns.get(&conn).map(|c| &c.kind) {
            Some(ConnKind::Http(_)) => self.http_reply(conn, id, &reply),
            Some(ConnKind::Native(_)) => {
                let frame = encode_frame(&ServerMsg::Reply { id, reply });
                self.send(conn, &frame);
            }
            Some(ConnKind::Grpc(_)) => self.grpc_reply(conn, id, &reply),
            // The connection closed while its request was being answered.
            _ => tracing::debug!(conn = conn.0, ?id, "reply to a closed connection dropped"),
        }
    }

    fn push_native(&mut self, conn: ConnId, view: Arc<ServiceView>) {
        if matches!(
            self.conns.get(&conn).map(|c| &c.kind),
            Some(ConnKind::Grpc(_))
        ) {
            self.grpc_push(conn, &view);
            return;
        }
        if !self.is_native(conn) {
            return;
        }
        // One change pushes the same view to every subscriber: encode it once per drain.
        let frame = match &self.push_cache {
            Some((cached, frame)) if Arc::ptr_eq(cached, &view) => frame.clone(),
            _ => {
                let frame = encode_frame(&ServerMsg::Push((*view).clone()));
                self.push_cache = Some((view, frame.clone()));
                frame
            }
        };
        self.send(conn, &frame);
    }
}

/// Logs an event: rejections at warn, state changes at info.
fn log_event(event: Event) {
    match event {
        Event::Rejected { source, reason } => tracing::warn!(?source, %reason, "rejected"),
        Event::MemberStateChanged { member, state } => {
            tracing::info!(%member, state = state.as_str(), "member state changed")
        }
        Event::Ready {
            snapshot_from,
            records,
        } => tracing::info!(?snapshot_from, records, "ready"),
        Event::InstanceUnhealthy { client } => tracing::info!(%client, "instance unhealthy"),
        Event::ClientRemoved { client, reason } => {
            tracing::info!(%client, reason, "client removed")
        }
        Event::ReplicaExpired { client } => tracing::info!(%client, "replica expired"),
        other => tracing::info!(event = ?other, "event"),
    }
}
