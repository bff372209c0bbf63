//! The Nacos v1 HTTP API as pure functions (request framing, parameter decoding, response
//! rendering, UDP push packets), shared by every runtime.
//!
//! A runtime reads bytes from a connection and calls [`parse_request`] until it returns a
//! request (or an error, which it answers with [`render_error`] before closing). It maps the
//! request with [`to_request`], hands the [`Request`](crate::Request) to the node, and writes the
//! node's [`Reply`](crate::Reply) with [`render_reply`]. UDP subscribers get the packets of
//! [`render_udp_push`]. Nothing here does I/O or reads a clock.
//!
//! ```
//! use distro_core::http::{parse_request, render_reply, to_request, ApiOptions};
//! use distro_core::{Limits, Reply, Request};
//!
//! let limits = Limits::default();
//! let bytes = b"POST /nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.5&port=8080 HTTP/1.1\r\n\r\n";
//! let (req, used) = parse_request(bytes, &limits).unwrap().unwrap();
//! assert_eq!(used, bytes.len());
//! let request = to_request(&req, None, &ApiOptions::default(), &limits).unwrap();
//! assert!(matches!(request, Request::Register { .. }));
//! let mut out = Vec::new();
//! render_reply(&Reply::Ok, req.keep_alive, 0, &mut out);
//! assert!(out.ends_with(b"\r\n\r\nok"));
//! ```

mod beat;
#[cfg(test)]
mod fixtures;
pub(crate) mod json;
mod params;
mod parse;
mod push;
mod render;
mod route;
mod values;

pub use params::Params;
pub use parse::{parse_request, HttpRequest, Method};
pub use push::render_udp_push;
pub use render::{render_error, render_json, render_reply, RenderCache};
pub use route::{to_request, ApiOptions};
