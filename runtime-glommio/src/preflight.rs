//! What glommio needs from the machine, checked before any executor starts: glommio panics
//! in a new thread when it cannot set up io_uring, so `distrod-glommio` checks first and exits
//! with one line naming the cause.

use std::fmt;

/// io_uring memory registered per shard (glommio's `io_memory`): small, so that the default
/// 8 MiB `RLIMIT_MEMLOCK` holds several shards.
pub const IO_MEMORY: usize = 1 << 20;
/// Locked memory a shard needs for its three rings, on kernels that charge them to
/// `RLIMIT_MEMLOCK` (measured: two shards start with 512 KiB and hang in glommio with 256 KiB).
/// The `io_memory` buffers are registered only where the limit allows; glommio skips them
/// otherwise (they serve file I/O, which the registry does not do).
const RING_MEMORY: u64 = 256 << 10;
/// `CAP_IPC_LOCK`: a process holding it is not bound by `RLIMIT_MEMLOCK`.
const CAP_IPC_LOCK: u32 = 14;

/// Why this machine cannot run glommio executors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsupported {
    /// io_uring cannot be set up (old kernel, disabled by sysctl, or blocked by seccomp).
    IoUring(String),
    /// The locked-memory limit is below what the shards need.
    Memlock {
        /// Bytes the shards need.
        needed: u64,
        /// The soft `RLIMIT_MEMLOCK`.
        limit: u64,
    },
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::IoUring(e) => write!(
                f,
                "io_uring is not available ({e}); it needs Linux 5.8 or later, \
                 kernel.io_uring_disabled=0 and no seccomp filter blocking io_uring_setup"
            ),
            Unsupported::Memlock { needed, limit } => write!(
                f,
                "locked memory limit too small: the shards need {} KiB, RLIMIT_MEMLOCK is {} KiB \
                 (raise it with `ulimit -l`, or run fewer --shards)",
                needed >> 10,
                limit >> 10
            ),
        }
    }
}

/// Checks that `shards` executors can start here.
pub fn check(shards: u16) -> Result<(), Unsupported> {
    let needed = u64::from(shards) * RING_MEMORY;
    let limit = if has_capability(CAP_IPC_LOCK) {
        None
    } else {
        memlock_limit()
    };
    if let Some(limit) = limit.filter(|l| *l < needed) {
        return Err(Unsupported::Memlock { needed, limit });
    }
    match io_uring::IoUring::new(4) {
        Ok(_) => Ok(()),
        // a ring that cannot be allocated is the locked-memory limit again
        Err(e) if e.raw_os_error() == Some(12) => Err(Unsupported::Memlock {
            needed,
            limit: limit.unwrap_or(0),
        }),
        Err(e) => Err(Unsupported::IoUring(e.to_string())),
    }
}

/// Whether this process holds capability `cap` (from `/proc/self/status`).
fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_cap_eff(&s))
        .is_some_and(|bits| bits & (1 << cap) != 0)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The soft `RLIMIT_MEMLOCK` in bytes from `/proc/self/limits`; `None` when unlimited or
/// unknown.
fn memlock_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_memlock(&text)
}

fn parse_memlock(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))?;
    let soft = line
        .trim_start_matches("Max locked memory")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memlock_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max locked memory         8388608              8388608              bytes\n";
        assert_eq!(parse_memlock(text), Some(8 << 20));
        let text = "Max locked memory         unlimited            unlimited            bytes\n";
        assert_eq!(parse_memlock(text), None);
    }

    #[test]
    fn capabilities_are_read_from_proc_status() {
        let bits = parse_cap_eff("Name:\tx\nCapEff:\t000001fffeffbfff\n").unwrap();
        assert_eq!(bits & (1 << CAP_IPC_LOCK), 0);
        let bits = parse_cap_eff("CapEff:\t000001fffeffffff\n").unwrap();
        assert_ne!(bits & (1 << CAP_IPC_LOCK), 0);
    }

    #[test]
    fn messages_name_the_cause() {
        let m = Unsupported::Memlock {
            needed: 3 << 20,
            limit: 64 << 10,
        };
        assert!(m.to_string().contains("3072 KiB") && m.to_string().contains("64 KiB"));
    }
}
