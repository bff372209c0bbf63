//! Host-supplied time and the node's fixed timer table.
//!
//! The core never reads a clock. Every input carries a [`Timestamp`] taken by the host from a
//! monotonic clock (nanoseconds recommended). A timestamp earlier than one already seen is clamped
//! to the latest one, so time never goes backwards inside a node.

use core::time::Duration;
use serde::{Deserialize, Serialize};

/// A point on the host's monotonic clock, in nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The zero point of the clock.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The far future: a deadline that never fires.
    pub const NEVER: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `nanos` nanoseconds after the zero point.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// A timestamp `millis` milliseconds after the zero point.
    pub const fn from_millis(millis: u64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the zero point.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds since the zero point (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// This timestamp moved `d` later, saturating at [`Timestamp::NEVER`].
    pub fn plus(self, d: Duration) -> Timestamp {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(n))
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The node-wide timers. Each has at most one deadline; see [`TimerTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Timer {
    /// Send member pings and count failures.
    MemberPing = 0,
    /// Send a verify round to every peer.
    Verify,
    /// Check beats of ip-port clients this member is responsible for.
    BeatCheck,
    /// Scan native connections for idleness and probe timeouts.
    ConnScan,
    /// Expire replicas, tombstones, empty services and subscribers.
    Cleanup,
    /// Flush the sync batch (only used when the sync delay is not zero).
    SyncFlush,
    /// Flush merged pushes to subscribers.
    PushFlush,
    /// Snapshot load: chunk timeout, next attempt, or the readiness gate.
    Snapshot,
    /// The earliest deadline of an unanswered probe.
    Probe,
}

const TIMER_COUNT: usize = 9;

/// A fixed table of optional deadlines indexed by [`Timer`]; no heap, no per-key timers.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    slots: [Option<Timestamp>; TIMER_COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: Timer, at: Timestamp) {
        self.slots[t as usize] = Some(at);
    }

    /// Sets the deadline only if it is earlier than the one already set (or none is set).
    pub(crate) fn set_earliest(&mut self, t: Timer, at: Timestamp) {
        let slot = &mut self.slots[t as usize];
        if slot.is_none_or(|cur| at < cur) {
            *slot = Some(at);
        }
    }

    pub(crate) fn clear(&mut self, t: Timer) {
        self.slots[t as usize] = None;
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Timestamp> {
        self.slots[t as usize]
    }

    /// Whether the timer is set and due at `now`.
    pub(crate) fn is_due(&self, t: Timer, now: Timestamp) -> bool {
        self.get(t).is_some_and(|d| d <= now)
    }

    /// The earliest deadline of all timers.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.slots.iter().flatten().copied().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_table_reports_earliest_deadline() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Verify, Timestamp::from_millis(5000));
        t.set(Timer::MemberPing, Timestamp::from_millis(2000));
        assert_eq!(t.next(), Some(Timestamp::from_millis(2000)));
        t.set_earliest(Timer::Verify, Timestamp::from_millis(7000));
        assert_eq!(t.get(Timer::Verify), Some(Timestamp::from_millis(5000)));
        t.clear(Timer::MemberPing);
        assert_eq!(t.next(), Some(Timestamp::from_millis(5000)));
        assert!(t.is_due(Timer::Verify, Timestamp::from_millis(5000)));
        assert!(!t.is_due(Timer::Verify, Timestamp::from_millis(4999)));
    }

    #[test]
    fn timestamp_arithmetic_saturates() {
        assert_eq!(
            Timestamp::NEVER.plus(Duration::from_secs(1)),
            Timestamp::NEVER
        );
        assert_eq!(
            Timestamp::ZERO.since(Timestamp::from_millis(1)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_millis(3).since(Timestamp::from_millis(1)),
            Duration::from_millis(2)
        );
    }
}
