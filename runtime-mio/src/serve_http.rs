//! HTTP/1.1 connections: read, parse one request at a time, hand it to the node, write replies
//! in order.

use crate::conn::{ConnKind, InFlight};
use crate::server::{Server, Work};
use distro_core::http;
use distro_core::{ApiError, ConnId, Input, Reply, RequestId};
use mio::Token;
use std::io::{ErrorKind, Read};

impl Server {
    /// Most bytes buffered from one HTTP connection: one largest request, plus one head of
    /// the pipelined next.
    fn http_inbuf_cap(&self) -> usize {
        self.limits
            .max_http_head
            .saturating_mul(2)
            .saturating_add(self.limits.max_http_body)
    }

    /// Reads until the socket would block (or the buffer is full), then processes requests.
    pub(crate) fn http_read(&mut self, token: Token) {
        let cap = self.http_inbuf_cap();
        let now = self.clock.now();
        {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let ConnKind::Http(h) = &mut conn.kind else {
                return;
            };
            h.read_paused = false;
            loop {
                if h.inbuf.len() >= cap {
                    h.read_paused = true;
                    break;
                }
                let room = (cap - h.inbuf.len()).min(self.scratch.len());
                match conn.stream.read(&mut self.scratch[..room]) {
                    Ok(0) => {
                        h.peer_closed = true;
                        break;
                    }
                    Ok(n) => {
                        if h.inbuf.is_empty() {
                            h.request_started = Some(now);
                        }
                        h.inbuf.extend_from_slice(&self.scratch[..n]);
                        conn.last_activity = now;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.work.push_back(Work::Close(token, "read failed"));
                        return;
                    }
                }
            }
            if h.peer_closed && h.is_idle() && conn.out.is_empty() {
                self.work.push_back(Work::Close(token, "closed by client"));
                return;
            }
        }
        self.http_process(token);
    }

    /// The previous request was answered: go on with the buffered ones, and read again if
    /// reading was paused.
    pub(crate) fn http_resume(&mut self, token: Token) {
        self.http_process(token);
        let paused = match self.conns.get(&token).map(|c| &c.kind) {
            Some(ConnKind::Http(h)) => h.read_paused && h.inflight.is_none(),
            _ => false,
        };
        if paused {
            self.http_read(token);
        }
    }

    /// Parses and starts the next request if none is in flight.
    fn http_process(&mut self, token: Token) {
        let now = self.clock.now();
        let cap = self.http_inbuf_cap();
        loop {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let peer_addr = conn.peer_addr;
            let ConnKind::Http(h) = &mut conn.kind else {
                return;
            };
            if h.inflight.is_some() || h.close_after_flush || h.inbuf.is_empty() {
                break;
            }
            let parsed = match http::parse_request(&h.inbuf, &self.limits) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    if h.inbuf.len() >= cap || h.peer_closed {
                        // parse_request bounds the head and body itself; this is a backstop
                        let why = if h.peer_closed {
                            "incomplete request"
                        } else {
                            "request too large"
                        };
                        let err = ApiError {
                            status: 400,
                            message: why.to_string(),
                        };
                        self.http_reject(token, &err, false);
                    }
                    break;
                }
                Err(err) => {
                    self.http_reject(token, &err, false);
                    break;
                }
            };
            let (req, used) = parsed;
            h.inbuf.drain(..used.min(h.inbuf.len()));
            h.request_started = if h.inbuf.is_empty() { None } else { Some(now) };
            match http::to_request(&req, Some(peer_addr), &self.api, &self.limits) {
                Ok(request) => {
                    self.next_request += 1;
                    let id = RequestId(self.next_request);
                    h.inflight = Some(InFlight {
                        id,
                        keep_alive: req.keep_alive,
                        since: now,
                    });
                    let conn_id = ConnId(token.0 as u64);
                    let accepted = self.feed(Input::Request {
                        now,
                        conn: conn_id,
                        id,
                        request,
                    });
                    if !accepted {
                        // The node refused the input itself; answer, so the connection goes on.
                        let reply = Reply::Error(ApiError::internal("request not accepted"));
                        self.http_reply(token, id, &reply);
                    }
                    // The reply (if it came during the drain) queued a `Resume` for the next one.
                    break;
                }
                Err(err) => {
                    self.http_reject(token, &err, req.keep_alive);
                    if !req.keep_alive {
                        break;
                    }
                }
            }
        }
        self.flush(token);
        self.bound_backlog(token);
    }

    /// Writes an error response; without keep-alive the connection closes after it.
    fn http_reject(&mut self, token: Token, err: &ApiError, keep_alive: bool) {
        self.stats.http_rejected += 1;
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        tracing::debug!(conn = token.0, peer = %conn.peer_addr, status = err.status, message = %err.message, "http request rejected");
        http::render_error(err, keep_alive, conn.out.tail());
        if let ConnKind::Http(h) = &mut conn.kind {
            if !keep_alive {
                h.close_after_flush = true;
                h.inbuf.clear();
            }
        }
    }

    /// The node answered request `id` of HTTP connection `token`.
    pub(crate) fn http_reply(&mut self, token: Token, id: RequestId, reply: &Reply) {
        let epoch_ms = self.clock.epoch_ms();
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let ConnKind::Http(h) = &mut conn.kind else {
            return;
        };
        let Some(inflight) = h.inflight.filter(|f| f.id == id) else {
            tracing::debug!(conn = token.0, ?id, "reply to a request not in flight");
            return;
        };
        h.inflight = None;
        let keep_alive = inflight.keep_alive;
        if !keep_alive {
            h.close_after_flush = true;
        }
        self.render_cache
            .render_reply(reply, keep_alive, epoch_ms, conn.out.tail());
        self.work.push_back(Work::Resume(token));
        self.flush(token);
        self.bound_backlog(token);
    }
}
