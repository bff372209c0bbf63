//! The host clock: monotonic [`Timestamp`]s for the node, wall-clock milliseconds for rendering.

use distro_core::Timestamp;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The node's [`Timestamp`] (nanoseconds): monotonic within the process, anchored at the wall
/// clock when the process started.
///
/// The anchor matters: the node derives client revisions from its timestamps, so they must keep
/// growing across a restart of the process. A clock starting at zero in every process would let a
/// restarted member write revisions below its own earlier ones, which its peers (and its own
/// snapshot) would then treat as stale.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    origin_ns: u64,
}

impl Clock {
    /// A clock reading the wall time now, then advancing monotonically.
    pub fn new() -> Self {
        let origin_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock {
            start: Instant::now(),
            origin_ns,
        }
    }

    /// Now, in nanoseconds: the wall time at start plus the monotonic time since.
    pub fn now(&self) -> Timestamp {
        let elapsed = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Timestamp::from_nanos(self.origin_ns.saturating_add(elapsed))
    }

    /// How long from now until `deadline` (zero if it passed, `None` if it never comes).
    pub fn until(&self, deadline: Timestamp) -> Option<Duration> {
        if deadline == Timestamp::NEVER {
            return None;
        }
        Some(deadline.since(self.now()))
    }

    /// Wall-clock milliseconds since the Unix epoch (for `lastRefTime` and `Date`).
    pub fn epoch_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_deadlines_saturate() {
        let c = Clock::new();
        let a = c.now();
        std::thread::sleep(Duration::from_millis(2));
        let b = c.now();
        assert!(b.since(a) >= Duration::from_millis(2));
        assert_eq!(c.until(Timestamp::NEVER), None);
        assert_eq!(c.until(a), Some(Duration::ZERO));
        assert!(c.epoch_ms() > 1_600_000_000_000);
        // anchored at the wall clock: a later process starts later
        assert!(a.as_millis() >= 1_600_000_000_000);
        assert!(Clock::new().now() > b);
    }
}
