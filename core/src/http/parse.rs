//! HTTP/1.x request framing: one request (head plus `Content-Length` body) at a time.

use super::params::{percent_decode, Params};
use crate::{ApiError, Limits};

/// Most header lines a request may have; more is answered 431.
const MAX_HEADERS: usize = 64;

/// An HTTP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `PATCH`.
    Patch,
    /// `HEAD`.
    Head,
    /// Any other method (`OPTIONS`, `TRACE`, extensions ...).
    Other,
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            _ => Method::Other,
        }
    }

    /// The method's name as sent on the wire (`OTHER` for [`Method::Other`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Head => "HEAD",
            Method::Other => "OTHER",
        }
    }
}

/// A parsed HTTP request, reduced to what the v1 API needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The percent-decoded path, without query string or fragment.
    pub path: String,
    /// Query string parameters, then form-body parameters (only for a body of type
    /// `application/x-www-form-urlencoded`), decoded (`+` is a space, `%XX` a byte).
    pub params: Params,
    /// Whether the connection stays open after the answer: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The `accessToken` header, if any (Nacos clients may send the token there instead of
    /// as a parameter).
    pub access_token: Option<String>,
}

/// Parses one request from the start of `buf`.
///
/// * `Ok(None)`: the request is not complete yet; call again with more bytes.
/// * `Ok(Some((req, consumed)))`: one complete request (head plus `Content-Length` body) that
///   used the first `consumed` bytes of `buf`; a pipelined next request starts after them.
/// * `Err(e)`: answer it with [`render_error`](super::render_error)`(&e, false, ..)` and close
///   the connection: 400 for a malformed request, an invalid `Content-Length` or any
///   `Transfer-Encoding` (chunked bodies are not supported); 431 for a head over
///   [`Limits::max_http_head`] (decided as soon as that many bytes arrived without the end of the
///   head) or with too many header lines; 413 for a `Content-Length` over
///   [`Limits::max_http_body`] (decided before the body arrives).
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(HttpRequest, usize)>, ApiError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_http_head => {
            return Err(head_too_large(limits))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ApiError {
                status: 431,
                message: format!("more than {MAX_HEADERS} header lines"),
            })
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "malformed HTTP request: {e}"
            )))
        }
    };
    if head_len > limits.max_http_head {
        return Err(head_too_large(limits));
    }
    let http11 = req.version == Some(1);
    let mut keep_alive = http11;
    let mut content_length: Option<u64> = None;
    let mut form_body = false;
    let mut user_agent = None;
    let mut access_token = None;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(h.value, limits)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(ApiError::bad_request("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let chunked = h
                .value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            return Err(ApiError::bad_request(if chunked {
                "chunked request bodies are not supported"
            } else {
                "transfer encodings are not supported"
            }));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(|t| t.trim_ascii()) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("accesstoken") {
            access_token = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = h
                .value
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            form_body = media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded");
        }
    }
    // `Content-Length` is at most `max_http_body` here, so it fits a usize.
    let body_len = content_length.unwrap_or(0) as usize;
    let consumed = head_len + body_len;
    if buf.len() < consumed {
        return Ok(None);
    }
    // A complete parse always has a method and a path.
    let method = Method::from_token(req.method.unwrap_or_default());
    let (path, query) = split_target(req.path.unwrap_or_default());
    let mut params = Params::default();
    params.extend_urlencoded(query.as_bytes())?;
    if form_body {
        params.extend_urlencoded(&buf[head_len..consumed])?;
    }
    let req = HttpRequest {
        method,
        path: percent_decode(path.as_bytes(), false)?,
        params,
        keep_alive,
        user_agent,
        access_token,
    };
    Ok(Some((req, consumed)))
}

fn head_too_large(limits: &Limits) -> ApiError {
    ApiError {
        status: 431,
        message: format!("request head is larger than {} bytes", limits.max_http_head),
    }
}

/// A `Content-Length` value: digits only; 413 when over the body limit.
fn parse_content_length(value: &[u8], limits: &Limits) -> Result<u64, ApiError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ApiError::bad_request("invalid Content-Length"));
    }
    // Digits only, so a failed parse can only be an overflow: certainly too large.
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    if n > limits.max_http_body as u64 {
        return Err(ApiError {
            status: 413,
            message: format!("request body is larger than {} bytes", limits.max_http_body),
        });
    }
    Ok(n)
}

/// Splits a request target into path and query, dropping any fragment and the scheme and
/// authority of an absolute-form target (`http://host:port/path`).
fn split_target(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or_default();
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => return ("/", &rest[i + 1..]),
            Some(i) => &rest[i..],
            None => "/",
        },
        None => target,
    };
    target.split_once('?').unwrap_or((target, ""))
}

#[cfg(test)]
mod tests;
