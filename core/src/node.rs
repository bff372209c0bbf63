//! Placeholder.
use crate::*;
/// A Distro member.
pub struct Node {}
impl Node {
    /// New node.
    pub fn new(_c: Config, _now: Timestamp) -> Self { Node {} }
    /// Handle.
    pub fn handle_input(&mut self, _i: Input<'_>) -> Result<(), Error> { Ok(()) }
    /// Poll.
    pub fn poll_output(&mut self) -> Output { Output::Timeout(Timestamp::NEVER) }
}
