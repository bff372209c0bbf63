//! Length-prefixed framing shared by both protocols.

use crate::error::FrameError;
use bytes::{Buf, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

/// The protocol version byte of every frame.
pub const WIRE_VERSION: u8 = 1;
/// Bytes before the payload: 4 of length and 1 of version.
pub const FRAME_HEADER_LEN: usize = 5;

/// Encodes `msg` as one frame, in one allocation: the buffer is sized exactly first, so it
/// never grows and becomes the `Bytes` as it is.
pub fn encode_frame<T: Serialize>(msg: &T) -> Bytes {
    // Serializing our own message types cannot fail.
    let size = postcard::experimental::serialized_size(msg).expect("serializable");
    let mut buf = Vec::with_capacity(FRAME_HEADER_LEN + size);
    buf.resize(FRAME_HEADER_LEN, 0);
    let mut buf = postcard::to_extend(msg, buf).expect("serialize into a Vec");
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf[4] = WIRE_VERSION;
    Bytes::from(buf)
}

/// Decodes the body of one frame (version byte and payload, without the length prefix).
pub fn decode_payload<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (&version, payload) = body.split_first().ok_or(FrameError::Truncated)?;
    if version != WIRE_VERSION {
        return Err(FrameError::UnknownVersion(version));
    }
    let (msg, rest) = postcard::take_from_bytes(payload).map_err(|_| FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed);
    }
    Ok(msg)
}

/// Splits a byte stream into frame bodies; the host feeds it what it reads from a socket.
///
/// The decoder never buffers more than one maximum-size frame: a length prefix above the limit
/// is an error before any of that frame's payload is kept, and a prefix within it reserves
/// nothing: the buffer grows with the bytes that arrive.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_len: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame_len` bytes (after the length prefix).
    pub fn new(max_frame_len: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame_len,
        }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame body (version byte and payload), if one is buffered.
    ///
    /// After an error the stream is unusable: close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max_frame_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        if len == 0 {
            return Err(FrameError::Truncated);
        }
        if self.buf.len() < 4 + len {
            // No reserving ahead: memory follows the bytes that actually arrive (a bare
            // header announcing a maximum-size frame costs nothing).
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_any_split() {
        let a = encode_frame(&(1u32, "hello".to_string()));
        let b = encode_frame(&(2u32, "world".to_string()));
        let stream: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        for split in 0..=stream.len() {
            let mut d = FrameDecoder::new(1024);
            d.extend(&stream[..split]);
            let mut got = Vec::new();
            while let Some(f) = d.next_frame().unwrap() {
                got.push(decode_payload::<(u32, String)>(&f).unwrap());
            }
            d.extend(&stream[split..]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(decode_payload::<(u32, String)>(&f).unwrap());
            }
            assert_eq!(
                got,
                vec![(1, "hello".into()), (2, "world".into())],
                "split at {split}"
            );
        }
    }

    #[test]
    fn oversized_length_is_rejected_before_buffering() {
        let mut d = FrameDecoder::new(16);
        d.extend(&[0, 0, 1, 0]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 256, max: 16 })
        );
    }

    /// Issue 11, defect 8: a 4-byte header announcing a maximum-size frame made the decoder
    /// reserve all of it at once, so a peer could make a node hold 16 MiB per connection with
    /// 4 bytes. Memory grows with the bytes that actually arrive.
    #[test]
    fn a_header_alone_does_not_reserve_the_frame() {
        let mut d = FrameDecoder::new(16 << 20);
        d.extend(&(16u32 << 20).to_be_bytes());
        d.extend(&[WIRE_VERSION]);
        assert_eq!(d.next_frame(), Ok(None));
        assert!(
            d.buf.capacity() < 64 << 10,
            "{} bytes reserved",
            d.buf.capacity()
        );
        // and the frame still comes whole when it arrives
        let mut d = FrameDecoder::new(16 << 20);
        let frame = encode_frame(&vec![7u8; 200_000]);
        for piece in frame.chunks(1000) {
            d.extend(piece);
            if d.buffered() < frame.len() {
                assert_eq!(d.next_frame(), Ok(None));
            }
        }
        let body = d.next_frame().unwrap().expect("complete");
        assert_eq!(decode_payload::<Vec<u8>>(&body).unwrap().len(), 200_000);
    }

    #[test]
    fn wrong_version_and_trailing_bytes_are_errors() {
        assert_eq!(
            decode_payload::<u8>(&[9, 1]),
            Err(FrameError::UnknownVersion(9))
        );
        assert_eq!(
            decode_payload::<u8>(&[WIRE_VERSION, 1, 2]),
            Err(FrameError::Malformed)
        );
        assert_eq!(decode_payload::<u8>(&[]), Err(FrameError::Truncated));
    }
}
