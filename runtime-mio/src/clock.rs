//! The host clock: monotonic [`Timestamp`]s for the node, wall-clock milliseconds for rendering.

use distro_core::Timestamp;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Monotonic time since the process started, as the node's [`Timestamp`] (nanoseconds).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Now, in nanoseconds since the clock's zero.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_nanos(u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX))
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
    }
}
