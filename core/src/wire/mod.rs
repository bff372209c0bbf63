//! Wire formats of the peer and native-client protocols.
//!
//! Every frame is `u32 length (big endian) | u8 version | postcard payload`, where `length`
//! counts the version byte and the payload. The maximum frame size is checked on the length
//! prefix, before anything is buffered. Enum variants are append-only, so a newer node can add
//! messages without breaking older ones' decoding of the existing ones.

mod client;
mod frame;
mod peer;

pub use client::{ClientMsg, ServerMsg};
pub use frame::{decode_payload, encode_frame, FrameDecoder, FRAME_HEADER_LEN, WIRE_VERSION};
pub use peer::{Hello, PeerMsg, Record, PEER_PROTOCOL_VERSION};
