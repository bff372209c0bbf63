//! Framed connections: native clients and incoming peer links.

use crate::conn::ConnKind;
use crate::server::{Server, Work};
use distro_core::{ConnId, Input};
use mio::Token;
use std::io::{ErrorKind, Read};

/// Reads from one connection per turn of the loop before the others get theirs.
const READ_BUDGET: usize = 16;

impl Server {
    /// Reads until the socket would block (or the read budget is used), handing each complete frame to the node.
    pub(crate) fn frames_read(&mut self, token: Token) {
        for _ in 0..READ_BUDGET {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let n = match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.work.push_back(Work::Close(token, "closed by remote"));
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.work.push_back(Work::Close(token, "read failed"));
                    return;
                }
            };
            conn.last_activity = self.clock.now();
            match &mut conn.kind {
                ConnKind::Native(d) | ConnKind::PeerIn(d) => d.extend(&self.scratch[..n]),
                ConnKind::Http(_) => return,
            }
            if !self.frames_process(token) {
                return;
            }
        }
        // A fast sender must not starve the others: go on after the next poll.
        self.pending_reads.push(token);
    }

    /// Feeds every complete buffered frame; `false` once the connection is being closed.
    fn frames_process(&mut self, token: Token) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return false;
            };
            let (decoded, native) = match &mut conn.kind {
                ConnKind::Native(d) => (d.next_frame(), true),
                ConnKind::PeerIn(d) => (d.next_frame(), false),
                ConnKind::Http(_) => return false,
            };
            let frame = match decoded {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    self.stats.frames_rejected += 1;
                    if native {
                        // Counted; any client can send junk, so it does not flood the log.
                        tracing::debug!(conn = token.0, peer = %conn.peer_addr, error = %e, "invalid client frame; closing");
                    } else {
                        tracing::warn!(conn = token.0, peer = %conn.peer_addr, error = %e, "invalid peer frame; closing");
                    }
                    self.work.push_back(Work::Close(token, "invalid frame"));
                    return false;
                }
            };
            let now = self.clock.now();
            let conn = ConnId(token.0 as u64);
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
                self.work
                    .push_back(Work::Close(token, "rejected by the node"));
                return false;
            }
        }
    }
}
