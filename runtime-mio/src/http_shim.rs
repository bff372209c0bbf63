//! TEMPORARY stand-in for `distro_core::http` (being written on another branch), with the same
//! signatures, so the runtime compiles until it is merged. Replaced by a re-export then.
#![allow(missing_docs, dead_code)]

use distro_core::{ApiError, Limits, Reply, Request, ServiceView};
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Other,
}

#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub path: String,
    pub params: Params,
    pub keep_alive: bool,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ApiOptions {
    pub push_to_client_ip: bool,
}

pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(HttpRequest, usize)>, ApiError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > limits.max_http_head {
            return Err(ApiError {
                status: 431,
                message: "head too large".into(),
            });
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ApiError::bad_request("utf8"))?;
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let method = match parts.next() {
        Some("GET") => Method::Get,
        Some("POST") => Method::Post,
        Some("DELETE") => Method::Delete,
        _ => return Err(ApiError::bad_request("bad request line")),
    };
    let path = parts
        .next()
        .ok_or_else(|| ApiError::bad_request("no path"))?
        .to_string();
    let keep_alive = !head.to_ascii_lowercase().contains("connection: close");
    Ok(Some((
        HttpRequest {
            method,
            path,
            params: Params::default(),
            keep_alive,
            user_agent: None,
        },
        end + 4,
    )))
}

pub fn to_request(
    req: &HttpRequest,
    _peer: Option<SocketAddr>,
    _o: &ApiOptions,
    _l: &Limits,
) -> Result<Request, ApiError> {
    match req.path.as_str() {
        "/nacos/v1/ns/operator/metrics" => Ok(Request::Metrics { only_status: false }),
        _ => Err(ApiError::not_found("no such path")),
    }
}

pub fn render_reply(reply: &Reply, keep_alive: bool, _epoch_ms: u64, out: &mut Vec<u8>) {
    let body = format!("{reply:?}");
    let conn = if keep_alive { "keep-alive" } else { "close" };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

pub fn render_error(err: &ApiError, keep_alive: bool, out: &mut Vec<u8>) {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let body = &err.message;
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} Error\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n{body}",
            err.status,
            body.len()
        )
        .as_bytes(),
    );
}

pub fn render_udp_push(view: &ServiceView, ack: u64, _epoch_ms: u64) -> Vec<u8> {
    format!(
        "{{\"type\":\"dom\",\"lastRefTime\":{ack},\"data\":\"{:?}\"}}",
        view.service
    )
    .into_bytes()
}
