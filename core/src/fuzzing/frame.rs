//! The `frame` target: framing and payload decoding of both wire protocols.

use super::ByteReader;
use crate::wire::{decode_payload, encode_frame, ClientMsg, FrameDecoder, PeerMsg, ServerMsg};
use crate::FrameError;
use bytes::Bytes;
use core::fmt::Debug;
use serde::{de::DeserializeOwned, Serialize};

/// Frame bodies split off a stream, and how the stream ended.
#[derive(Debug, PartialEq)]
struct Split {
    frames: Vec<Bytes>,
    /// `Ok(bytes left buffered)` or the error that made the stream unusable.
    end: Result<usize, FrameError>,
}

/// Feeds `stream` to a fresh decoder in the pieces that `cuts` (sorted offsets) make,
/// taking every frame after each piece.
fn split(stream: &[u8], max_frame_len: usize, cuts: impl Iterator<Item = usize>) -> Split {
    let mut d = FrameDecoder::new(max_frame_len);
    let mut frames = Vec::new();
    let mut at = 0;
    for cut in cuts.chain([stream.len()]) {
        d.extend(&stream[at..cut]);
        at = cut;
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(!f.is_empty() && f.len() <= max_frame_len);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(e) => {
                    return Split {
                        frames,
                        end: Err(e),
                    }
                }
            }
        }
        // Bounded memory: once drained, less than one frame (and its length prefix) is held.
        assert!(
            d.buffered() < 4 + max_frame_len,
            "{} bytes buffered after a drain, limit {max_frame_len}",
            d.buffered()
        );
    }
    Split {
        frames,
        end: Ok(d.buffered()),
    }
}

/// Checks the round-trip oracle on one frame body decoded as a `T`; see [`frame`](super::frame).
fn round_trip<T>(body: &[u8])
where
    T: Serialize + DeserializeOwned + Debug + PartialEq,
{
    let Ok(msg) = decode_payload::<T>(body) else {
        return;
    };
    let frame = encode_frame(&msg);
    let prefix = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    assert_eq!(prefix, frame.len() - 4, "length prefix of {msg:?}");
    let again: T = match decode_payload(&frame[4..]) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded {msg:?} does not decode: {e}"),
    };
    // NaN weights are not equal to themselves, so fall back to the printed form.
    assert!(
        again == msg || format!("{again:?}") == format!("{msg:?}"),
        "decoded {msg:?}, re-encoded and decoded {again:?}"
    );
    let frame2 = encode_frame(&again);
    assert_eq!(frame, frame2, "re-encoding {msg:?} is not a fixed point");
    assert!(
        frame.len() - 4 <= body.len(),
        "re-encoding grew {} bytes to {}",
        body.len(),
        frame.len() - 4
    );
}

/// Round-trips `body` as every message type of both protocols.
fn round_trip_all(body: &[u8]) {
    round_trip::<PeerMsg>(body);
    round_trip::<ClientMsg>(body);
    round_trip::<ServerMsg>(body);
}

/// The `frame` target; see [`frame`](super::frame).
pub fn run(data: &[u8]) {
    let mut r = ByteReader::new(data);
    let max_frame_len = 64usize << (r.u8() % 8);
    let mut cuts = [r.u16(), r.u16(), r.u16()];
    let stream = r.rest();
    let n = stream.len() + 1;
    for c in &mut cuts {
        *c = (usize::from(*c) % n) as u16;
    }
    cuts.sort_unstable();

    let whole = split(stream, max_frame_len, core::iter::empty());
    let pieces = split(stream, max_frame_len, cuts.iter().map(|&c| usize::from(c)));
    assert_eq!(whole, pieces, "cut at {cuts:?}");
    let bytewise = split(stream, max_frame_len, 1..stream.len());
    assert_eq!(whole, bytewise, "fed byte by byte");

    for f in &whole.frames {
        round_trip_all(f);
    }
    // The stream itself as one body, so payloads are reached without a valid length prefix.
    round_trip_all(stream);
}
