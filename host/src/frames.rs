//! Framed connections: native clients and incoming peer links.

use crate::conn::ConnKind;
use crate::host::Host;
use distro_core::{ConnId, Input};

impl Host {
    /// Feeds every complete buffered frame of a native or incoming peer connection.
    pub(crate) fn frames_process(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let (decoded, native) = match &mut c.kind {
                ConnKind::Native(d) => (d.next_frame(), true),
                ConnKind::PeerIn(d) => (d.next_frame(), false),
                _ => return,
            };
            let frame = match decoded {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    self.stats.frames_rejected += 1;
                    if native {
                        // Counted; any client can send junk, so it does not flood the log.
                        tracing::debug!(conn = conn.0, peer = %c.peer_addr, error = %e, "invalid client frame; closing");
                    } else {
                        tracing::warn!(conn = conn.0, peer = %c.peer_addr, error = %e, "invalid peer frame; closing");
                    }
                    self.schedule_close(conn, "invalid frame");
                    return;
                }
            };
            if !native && self.conns.get(&conn).is_some_and(|c| c.auth.is_some()) {
                // nothing reaches the node before the link is authenticated
                self.auth_frame(conn, &frame);
                continue;
            }
            let now = self.clock.now();
            let accepted = if native {
                self.feed(Input::ClientFrame {
                    now,
                    conn,
                    frame: &frame,
                })
            } else {
                self.feed(Input::PeerFrame {
                    now,
                    conn,
                    frame: &frame,
                })
            };
            if !accepted {
                // The node counted and reported it; the stream cannot be trusted any more.
                self.stats.frames_rejected += 1;
                self.schedule_close(conn, "rejected by the node");
                return;
            }
        }
    }
}
