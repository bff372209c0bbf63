//! Carrying out the node's outputs.

use crate::conn::ConnKind;
use crate::server::{Server, Work};
use distro_core::http;
use distro_core::wire::{encode_frame, ServerMsg};
use distro_core::{ConnId, Event, Output, PushTarget, Reply, RequestId, ServiceView};
use mio::Token;
use std::sync::Arc;

fn token_of(conn: ConnId) -> Option<Token> {
    usize::try_from(conn.0).ok().map(Token)
}

impl Server {
    /// Polls the node until `Output::Timeout`, doing what each output says. Anything that
    /// would feed the node again is queued as [`Work`].
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
                    let packet = http::render_udp_push(&view, ack, self.clock.epoch_ms());
                    if let Err(e) = self.udp.send_to(&packet, addr) {
                        // UDP is best effort; the node resends unacknowledged pushes
                        tracing::debug!(%addr, error = %e, "udp push not sent");
                    }
                }
                Output::Probe { conn } => {
                    if let Some(token) = self.native_token(conn) {
                        let frame = encode_frame(&ServerMsg::Probe);
                        self.send(token, &frame);
                    }
                }
                Output::Close { conn } => {
                    if let Some(token) = token_of(conn) {
                        self.work
                            .push_back(Work::Close(token, "closed by the node"));
                    }
                }
                Output::Event(event) => log_event(event),
            }
        }
    }

    fn native_token(&self, conn: ConnId) -> Option<Token> {
        let token = token_of(conn)?;
        match self.conns.get(&token)?.kind {
            ConnKind::Native(_) => Some(token),
            _ => None,
        }
    }

    fn reply(&mut self, conn: ConnId, id: RequestId, mut reply: Reply) {
        let Some(token) = token_of(conn) else { return };
        if let Reply::Prometheus(text) = &mut reply {
            // The node's counters, then what this runtime rejected before the node saw it.
            self.stats.append_prometheus(text);
        }
        match self.conns.get(&token).map(|c| &c.kind) {
            Some(ConnKind::Http(_)) => self.http_reply(token, id, &reply),
            Some(ConnKind::Native(_)) => {
                let frame = encode_frame(&ServerMsg::Reply { id, reply });
                self.send(token, &frame);
            }
            // The connection closed while its request was being answered.
            _ => tracing::debug!(conn = conn.0, ?id, "reply to a closed connection dropped"),
        }
    }

    fn push_native(&mut self, conn: ConnId, view: Arc<ServiceView>) {
        let Some(token) = self.native_token(conn) else {
            return;
        };
        // One change pushes the same view to every subscriber: encode it once per drain.
        let frame = match &self.push_cache {
            Some((cached, frame)) if Arc::ptr_eq(cached, &view) => frame.clone(),
            _ => {
                let frame = encode_frame(&ServerMsg::Push((*view).clone()));
                self.push_cache = Some((view, frame.clone()));
                frame
            }
        };
        self.send(token, &frame);
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
