//! The Distro replication protocol: sync of changes, verify rounds, snapshot load and serving,
//! and forwarding of writes to the responsible member.

mod barrier;
mod forward;
mod snapshot;
mod sync;
mod verify;

pub(crate) use barrier::{Answer, Barrier};
pub(crate) use forward::Forwards;
pub(crate) use snapshot::SnapshotState;
pub(crate) use sync::{Outboxes, SyncKey};
