//! Errors, split by whose fault they are.

use core::fmt;

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the configured maximum.
    TooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The frame is shorter than its header.
    Truncated,
    /// The version byte is not one this node speaks.
    UnknownVersion(u8),
    /// The payload is not a valid message.
    Malformed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            FrameError::Truncated => f.write_str("truncated frame"),
            FrameError::UnknownVersion(v) => write!(f, "unknown frame version {v}"),
            FrameError::Malformed => f.write_str("malformed frame payload"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A setting of [`Config`](crate::Config) that a node cannot run with, found by
/// [`Config::validate`](crate::Config::validate) (and [`Node::try_new`](crate::Node::try_new)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting, as `timings.<field>` or `limits.<field>`.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// An error returned by [`Node::handle_input`](crate::Node::handle_input).
///
/// Errors caused by the network (a bad frame, a peer breaking the protocol) are also reported
/// as [`Event::Rejected`](crate::Event::Rejected) and counted in [`Stats`](crate::Stats); the node
/// stays healthy and keeps serving everyone else.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A peer or native client sent a frame that does not decode.
    InvalidFrame(FrameError),
    /// A peer broke the protocol (no handshake, wrong cluster, unknown member ...).
    PeerMisbehaved(String),
    /// The host used the API wrongly (e.g. an input for a connection it never opened).
    ApiMisuse(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidFrame(e) => write!(f, "invalid frame: {e}"),
            Error::PeerMisbehaved(m) => write!(f, "peer misbehaved: {m}"),
            Error::ApiMisuse(m) => write!(f, "api misuse: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::InvalidFrame(e)
    }
}
