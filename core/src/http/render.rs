//! HTTP/1.1 responses for the node's replies. Bodies are never compressed (rule R13).

use super::json;
use crate::{ApiError, Reply, ServiceView};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends the full HTTP/1.1 response for `reply` to `out`: status line, `Content-Type`,
/// `Content-Length`, `Connection` (`keep-alive` or `close`) and the body.
///
/// `epoch_ms` is the host's wall clock in milliseconds, used as `lastRefTime` of a service list.
/// [`Reply::Error`] renders as [`render_error`] does; `Health { ok: false }` is a 503.
pub fn render_reply(reply: &Reply, keep_alive: bool, epoch_ms: u64, out: &mut Vec<u8>) {
    let start = out.len();
    let (status, content_type) = match reply {
        Reply::Ok => text(out, "ok"),
        Reply::Beat {
            client_beat_interval_ms,
            code,
        } => {
            json::write_beat(out, *client_beat_interval_ms, *code);
            (200, JSON)
        }
        Reply::Service(view) => {
            out.reserve(256 + 512 * view.hosts.len());
            json::write_service_info(out, view, epoch_ms);
            (200, JSON)
        }
        Reply::Instance(detail) => {
            json::write_instance(out, &detail.service, &detail.host);
            (200, JSON)
        }
        Reply::ServiceDetail(detail) => {
            json::write_service_detail(out, detail);
            (200, JSON)
        }
        Reply::ServiceNames { count, names } => {
            json::write_service_names(out, *count, names);
            (200, JSON)
        }
        Reply::Catalog {
            service,
            count,
            hosts,
        } => {
            json::write_catalog(out, service, hosts, *count);
            (200, JSON)
        }
        Reply::Metrics {
            only_status,
            metrics,
        } => {
            json::write_metrics(out, *only_status, metrics);
            (200, JSON)
        }
        Reply::Responsible { server } => {
            json::write_responsible(out, server.as_str());
            (200, JSON)
        }
        Reply::Members(members) => {
            json::write_members(out, members);
            (200, JSON)
        }
        Reply::Health { ok: true } => text(out, "OK"),
        Reply::Health { ok: false } => {
            out.extend_from_slice(b"not ready");
            (503, TEXT)
        }
        Reply::Prometheus(body) => {
            out.extend_from_slice(body.as_bytes());
            (200, PROMETHEUS)
        }
        Reply::Pong => text(out, "pong"),
        Reply::Error(e) => return render_error(e, keep_alive, out),
    };
    finish(out, start, status, content_type, keep_alive);
}

/// Appends an error response: status `err.status` (500 if that is not a valid status code) with
/// its standard reason phrase, and the message as a `text/plain` body.
pub fn render_error(err: &ApiError, keep_alive: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(err.message.as_bytes());
    let status = if (100..=999).contains(&err.status) {
        err.status
    } else {
        500
    };
    finish(out, start, status, TEXT, keep_alive);
}

/// Appends a response with a JSON `body` and `status` (for answers a host makes itself, such
/// as a login).
pub fn render_json(status: u16, body: &[u8], keep_alive: bool, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(body);
    finish(out, start, status, JSON, keep_alive);
}

fn text(out: &mut Vec<u8>, body: &str) -> (u16, &'static str) {
    out.extend_from_slice(body.as_bytes());
    (200, TEXT)
}

/// Most list bodies a [`RenderCache`] keeps.
const RENDER_CACHE_ENTRIES: usize = 64;

/// Bodies of recently rendered list replies, reused while the node answers with the same view.
///
/// The node hands out one `Arc<ServiceView>` per service variant until the service changes, so
/// a host that renders through this cache formats each view's hosts once, not once per poll.
/// Only `lastRefTime` (the wall clock) differs between two renders of one view.
#[derive(Debug, Default)]
pub struct RenderCache {
    entries: VecDeque<CachedBody>,
}

#[derive(Debug)]
struct CachedBody {
    /// Held so its address cannot be reused by another view while cached.
    view: Arc<ServiceView>,
    /// The body rendered with `lastRefTime` 0.
    body: Vec<u8>,
    /// Index of that `0`.
    at: usize,
}

impl RenderCache {
    /// Renders like [`render_reply`], reusing the body of an earlier render of the same view.
    pub fn render_reply(
        &mut self,
        reply: &Reply,
        keep_alive: bool,
        epoch_ms: u64,
        out: &mut Vec<u8>,
    ) {
        let Reply::Service(view) = reply else {
            return render_reply(reply, keep_alive, epoch_ms, out);
        };
        let idx = match self.entries.iter().position(|e| Arc::ptr_eq(&e.view, view)) {
            Some(i) => i,
            None => {
                let mut body = Vec::with_capacity(256 + 512 * view.hosts.len());
                json::write_service_info(&mut body, view, 0);
                // Hosts come before `lastRefTime`, and any quote inside them is escaped, so the
                // last unescaped occurrence is the top-level field.
                let marker = b"\"lastRefTime\":0,";
                let Some(pos) = body.windows(marker.len()).rposition(|w| w == marker) else {
                    return render_reply(reply, keep_alive, epoch_ms, out);
                };
                if self.entries.len() >= RENDER_CACHE_ENTRIES {
                    self.entries.pop_front();
                }
                let at = pos + marker.len() - 2;
                self.entries.push_back(CachedBody {
                    view: view.clone(),
                    body,
                    at,
                });
                self.entries.len() - 1
            }
        };
        let e = &self.entries[idx];
        let start = out.len();
        out.extend_from_slice(&e.body[..e.at]);
        let _ = write!(out, "{epoch_ms}");
        out.extend_from_slice(&e.body[e.at + 1..]);
        finish(out, start, 200, JSON, keep_alive);
    }
}

/// Puts the head in front of the body written at `out[start..]`. The head is written after the
/// body and rotated into place, so neither is buffered twice.
fn finish(out: &mut Vec<u8>, start: usize, status: u16, content_type: &str, keep_alive: bool) {
    let body_len = out.len() - start;
    let head_start = out.len();
    let connection = if keep_alive { "keep-alive" } else { "close" };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {body_len}\r\nConnection: {connection}\r\n\r\n",
        reason(status)
    );
    let head_len = out.len() - head_start;
    out[start..].rotate_right(head_len);
}

/// The standard reason phrase of a status code.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

#[cfg(test)]
mod tests;
