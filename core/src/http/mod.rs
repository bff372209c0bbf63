//! The Nacos v1 HTTP API as pure functions (request framing, parameter decoding, response
//! rendering, UDP push packets), shared by every runtime.
