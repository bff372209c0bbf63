//! Fuzz targets, kept in the library so that `cargo fuzz` and a plain `cargo test` run the very
//! same code.
//!
//! Each function takes arbitrary bytes and panics only when it finds a bug. The `fuzz/` crate
//! calls them from three-line libFuzzer targets (`RUSTC_BOOTSTRAP=1 cargo fuzz run frame`,
//! see `fuzz/README.md`), and `testkit/tests/core_fuzz_corpus.rs` replays every committed seed
//! and regression input through them, so CI covers the corpora without nightly features (file
//! reading and catching panics belong to that test harness, not to this I/O-free crate).
//!
//! | target | input | oracle |
//! | --- | --- | --- |
//! | [`frame`] | a byte stream | framing is independent of how the stream is cut; every decodable body re-encodes to a fixed point |
//! | [`http`] | bytes on a v1 HTTP connection | no panic; bounded buffering; every accepted request answered once, with a well-formed response |
//! | [`grpc`] | a gRPC message body (raw protobuf, or a known type with arbitrary JSON) | no panic; every answer (to a decoded request, or the error for a rejected one) is a `Payload` whose JSON has `resultCode`, `errorCode`, `message` and the request's id |
//! | [`node`] | a script of inputs to three nodes | every drain ends in `Timeout`; held state within [`Limits`]; every request answered exactly once; determinism |
//!
//! Inputs are read with [`ByteReader`], which never fails: a short input just makes zeros. The
//! fourth target, `cluster`, drives the deterministic simulator and lives beside it in
//! `distro_testkit::fuzzing`.

mod frame;
mod gen;
mod grpc;
mod http;
mod node;
mod reader;

pub use reader::ByteReader;

/// Decodes `data` as a Nacos gRPC message and renders the answers to it.
///
/// Input: byte 0 chooses raw protobuf (even) or, when odd, a known message type (`byte 0 >> 1`)
/// whose JSON body is the rest. Oracles: no panic, whatever the bytes; every answer to a
/// decoded request (for each kind of reply) and every `ErrorResponse` to a rejected message
/// decodes as a `Payload` with every response field and the request's id.
pub fn grpc(data: &[u8]) {
    grpc::run(data)
}

use crate::{Limits, Node, Output};

/// Decodes `data` as a stream of frames and every frame body as a [`PeerMsg`], [`ClientMsg`]
/// and [`ServerMsg`].
///
/// Input: byte 0 picks the maximum frame length (64 bytes to 8 KiB), bytes 1–6 three cut points;
/// the rest is the stream.
///
/// Oracles:
/// * **Cuts do not matter.** The stream fed whole, in the four pieces the cut points make, and
///   byte by byte gives the same frames and ends the same way (the same error, or the same
///   number of bytes left buffered). After every drain fewer than `4 + max_frame_len` bytes
///   are buffered.
/// * **Round trip to a fixed point.** postcard is not canonical: a varint with redundant
///   continuation bytes (`0x80 0x00` for 0) decodes, and a map decodes from keys in any order
///   or repeated (the last wins). So the oracle is not "re-encodes to the input" but: when a
///   body `b` decodes to `v`, then `b' = encode(v)` has a correct length prefix, decodes to a
///   value equal to `v` (compared by `PartialEq`, or by `Debug` text when it holds a NaN), and
///   re-encoding that value gives `b'` byte for byte; and `b'` is never longer than `b`. For a
///   body the node itself encoded, `b' = b`.
///
/// The whole stream is also decoded as one body, so payloads are reached without a valid
/// length prefix.
///
/// [`PeerMsg`]: crate::wire::PeerMsg
/// [`ClientMsg`]: crate::wire::ClientMsg
/// [`ServerMsg`]: crate::wire::ServerMsg
pub fn frame(data: &[u8]) {
    frame::run(data)
}

/// Runs `data` through the v1 HTTP path as a runtime does: [`parse_request`] until it wants
/// more bytes or fails, [`to_request`] on each request, the [`Request`] into a standalone
/// node, and [`render_reply`] (or [`render_error`]) on the answer.
///
/// Input: byte 0 picks the head and body limits and the [`ApiOptions`]; the rest is what the
/// connection received (possibly several pipelined requests).
///
/// Oracles: no panic; `parse_request` never asks for more bytes while holding more than
/// `max_http_head + max_http_body`; a parsed request parses the same from exactly its own bytes
/// and not from any shorter prefix; decoded paths and parameters are no longer than the bytes
/// they came from; framing errors are 400, 413 or 431 and mapping errors 400, 404 or 405;
/// every accepted request gets exactly one reply with its connection and id; every response
/// (and UDP push packet) is well formed, with the right `Content-Length` and `Connection`.
///
/// [`parse_request`]: crate::http::parse_request
/// [`to_request`]: crate::http::to_request
/// [`render_reply`]: crate::http::render_reply
/// [`render_error`]: crate::http::render_error
/// [`ApiOptions`]: crate::http::ApiOptions
/// [`Request`]: crate::Request
pub fn http(data: &[u8]) {
    http::run(data)
}

/// Drives three nodes of one cluster with a script read from `data`: client requests of every
/// kind with arbitrary names and numbers, native connections opened, used, probed and closed,
/// client frames (valid or garbage), peer frames delivered, reordered, duplicated, dropped or
/// corrupted, forged peer messages and strangers' handshakes, UDP datagrams, links cut and
/// restored, membership changes, crashes with restarts, and time passing (milliseconds to
/// minutes). Limits are small, so they are reached.
///
/// Oracles, after every input: the drain ends in `Timeout` within a bounded number of outputs,
/// at a deadline not before the node's clock; inputs that cannot be wrong (timeouts, requests,
/// link and connection events, membership) are never an error; replies answer a request that
/// is waiting for one, once; pushes and probes go to open native connections; clients,
/// services, instances and subscriptions stay within [`Limits`], and the service index matches
/// what clients publish. At the end the network is quiesced and the clock moved past every
/// forward timeout: every request has its reply. When the first byte has its high bit set, the
/// script runs twice and must give the same outputs (seeded determinism).
pub fn node(data: &[u8]) {
    node::run(data)
}

/// Small limits, so that fuzzing reaches them.
pub(crate) fn small_limits() -> Limits {
    Limits {
        max_frame_len: 16 << 10,
        max_name_len: 24,
        max_metadata_entries: 3,
        max_metadata_value_len: 24,
        max_instance_bytes: 160,
        max_instances_per_client: 3,
        max_clients: 6,
        max_services: 5,
        max_subscriptions: 4,
        max_pending_forwards: 3,
        snapshot_chunk_clients: 2,
        verify_chunk_entries: 3,
        sync_batch_clients: 2,
        max_http_head: 1 << 10,
        max_http_body: 1 << 10,
        max_filter_len: 64,
        max_view_cache_bytes: 4 << 10,
    }
}

/// Most outputs one drain may produce before it counts as a livelock.
const MAX_DRAIN: usize = 100_000;

/// Polls `node` until `Output::Timeout`, checking that it comes, and not in the past; returns
/// the outputs before it.
pub(crate) fn drain(node: &mut Node) -> Vec<Output> {
    let mut outputs = Vec::new();
    loop {
        match node.poll_output() {
            Output::Timeout(deadline) => {
                assert!(deadline >= node.now(), "deadline {deadline:?} in the past");
                assert!(node.is_drained());
                return outputs;
            }
            o => {
                assert!(outputs.len() < MAX_DRAIN, "drain did not end: {o:?}");
                outputs.push(o);
            }
        }
    }
}
