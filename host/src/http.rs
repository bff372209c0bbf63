//! HTTP/1.1 connections: buffer what is read, parse one request at a time, hand it to the
//! node, write replies in order; keep-alive, pipelining and the close rules.

use crate::conn::{ConnKind, InFlight};
use crate::host::{Action, Host, Work};
use distro_core::http;
use distro_core::{ApiError, ConnId, Input, Reply, RequestId, Timestamp};

impl Host {
    /// Most bytes buffered from one HTTP connection: one largest request, plus one head of
    /// the pipelined next.
    fn http_inbuf_cap(&self) -> usize {
        self.limits
            .max_http_head
            .saturating_mul(2)
            .saturating_add(self.limits.max_http_body)
    }

    /// Buffers bytes read from an HTTP connection, then processes complete requests.
    pub(crate) fn http_received(&mut self, conn: ConnId, data: &[u8], now: Timestamp) {
        let cap = self.http_inbuf_cap();
        let Some(ConnKind::Http(h)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        if h.inbuf.is_empty() {
            h.request_started = Some(now);
        }
        h.inbuf.extend_from_slice(data);
        // The runtime reads at most one buffer past the cap before it asks again.
        h.read_paused = h.inbuf.len() >= cap;
        self.http_process(conn);
    }

    /// The previous request was answered: go on with the buffered ones, and let the runtime
    /// read again if reading was paused.
    pub(crate) fn http_resume(&mut self, conn: ConnId) {
        self.http_process(conn);
        let cap = self.http_inbuf_cap();
        let Some(ConnKind::Http(h)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
            return;
        };
        if h.read_paused && h.inflight.is_none() && h.inbuf.len() < cap {
            h.read_paused = false;
            self.actions.push_back(Action::Read(conn));
        }
    }

    /// Parses and starts the next request if none is in flight.
    pub(crate) fn http_process(&mut self, conn: ConnId) {
        let now = self.clock.now();
        let cap = self.http_inbuf_cap();
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let peer_addr = c.peer_addr;
            let ConnKind::Http(h) = &mut c.kind else {
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
                        self.http_reject(conn, &err, false);
                    }
                    break;
                }
                Err(err) => {
                    self.http_reject(conn, &err, false);
                    break;
                }
            };
            let (req, used) = parsed;
            h.inbuf.drain(..used.min(h.inbuf.len()));
            h.request_started = if h.inbuf.is_empty() { None } else { Some(now) };
            if self.config.users.enabled() && self.http_auth(conn, &req) {
                // answered here: a login, or a request without a valid token
                continue;
            }
            let Some(ConnKind::Http(h)) = self.conns.get_mut(&conn).map(|c| &mut c.kind) else {
                return;
            };
            match http::to_request(&req, Some(peer_addr), &self.api, &self.limits) {
                Ok(request) => {
                    self.next_request += 1;
                    let id = RequestId(self.next_request);
                    h.inflight = Some(InFlight {
                        id,
                        keep_alive: req.keep_alive,
                        since: now,
                    });
                    let accepted = self.feed(Input::Request {
                        now,
                        conn,
                        id,
                        request,
                    });
                    if !accepted {
                        // The node refused the input itself; answer, so the connection goes on.
                        let reply = Reply::Error(ApiError::internal("request not accepted"));
                        self.http_reply(conn, id, &reply);
                    }
                    // The reply (if it came during the drain) queued a `Resume` for the next one.
                    break;
                }
                Err(err) => {
                    self.http_reject(conn, &err, req.keep_alive);
                    if !req.keep_alive {
                        break;
                    }
                }
            }
        }
        self.announce_write(conn);
        self.after_http_progress(conn);
    }

    /// A connection whose client went away is closed once nothing is left to answer or write.
    fn after_http_progress(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            if let ConnKind::Http(h) = &c.kind {
                if h.peer_closed && h.inflight.is_none() && c.out.is_empty() {
                    self.work.push_back(Work::Close(conn, "closed by client"));
                }
            }
        }
    }

    /// Client authentication of one request: answers a login, or refuses a request without a
    /// valid token (403); `false` when the request goes on to the node.
    fn http_auth(&mut self, conn: ConnId, req: &http::HttpRequest) -> bool {
        let now_ms = self.clock.epoch_ms();
        let path = req.path.as_str();
        if path == "/nacos/v1/auth/login" || path == "/nacos/v1/auth/users/login" {
            let user = req.params.get("username").unwrap_or("");
            let password = req.params.get("password").unwrap_or("");
            let (status, body) = match self.config.users.login(user, password, now_ms) {
                Some(token) => (
                    200,
                    format!(
                        r#"{{"accessToken":"{token}","tokenTtl":{},"globalAdmin":false,"username":"{}"}}"#,
                        crate::users::TOKEN_TTL_S,
                        user.replace(['"', '\\'], "")
                    ),
                ),
                None => {
                    self.stats.auth_refused += 1;
                    (
                        403,
                        r#"{"code":403,"message":"unknown user or wrong password","data":null}"#
                            .to_string(),
                    )
                }
            };
            if let Some(c) = self.conns.get_mut(&conn) {
                http::render_json(status, body.as_bytes(), req.keep_alive, c.out.tail());
                if !req.keep_alive {
                    if let ConnKind::Http(h) = &mut c.kind {
                        h.close_after_flush = true;
                    }
                }
            }
            return true;
        }
        if !crate::users::needs_token(path) {
            return false;
        }
        let token = req
            .params
            .get("accessToken")
            .or(req.access_token.as_deref())
            .unwrap_or("");
        if self.config.users.check(token, now_ms) {
            return false;
        }
        self.stats.auth_refused += 1;
        let err = ApiError {
            status: 403,
            message: "authorization failed: no valid accessToken".into(),
        };
        self.http_reject(conn, &err, req.keep_alive);
        true
    }

    /// Writes an error response; without keep-alive the connection closes after it.
    fn http_reject(&mut self, conn: ConnId, err: &ApiError, keep_alive: bool) {
        self.stats.http_rejected += 1;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        tracing::debug!(conn = conn.0, peer = %c.peer_addr, status = err.status, message = %err.message, "http request rejected");
        http::render_error(err, keep_alive, c.out.tail());
        if let ConnKind::Http(h) = &mut c.kind {
            if !keep_alive {
                h.close_after_flush = true;
                h.inbuf.clear();
            }
        }
    }

    /// The node answered request `id` of HTTP connection `conn`.
    pub(crate) fn http_reply(&mut self, conn: ConnId, id: RequestId, reply: &Reply) {
        let epoch_ms = self.clock.epoch_ms();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnKind::Http(h) = &mut c.kind else {
            return;
        };
        let Some(inflight) = h.inflight.filter(|f| f.id == id) else {
            tracing::debug!(conn = conn.0, ?id, "reply to a request not in flight");
            return;
        };
        h.inflight = None;
        let keep_alive = inflight.keep_alive;
        if !keep_alive {
            h.close_after_flush = true;
        }
        self.render_cache
            .render_reply(reply, keep_alive, epoch_ms, c.out.tail());
        self.work.push_back(Work::Resume(conn));
        self.announce_write(conn);
    }
}
