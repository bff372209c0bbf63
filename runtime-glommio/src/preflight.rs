//! What glommio needs from the machine, checked before any executor starts: glommio panics
//! in a new thread when it cannot set up io_uring, so `distrod-glommio` checks first and exits
//! with one line naming the cause.

use std::fmt;

/// io_uring memory registered per shard (glommio's `io_memory`): small, so that the default
/// 8 MiB `RLIMIT_MEMLOCK` holds several shards.
pub const IO_MEMORY: usize = 1 << 20;
/// Locked memory a shard needs beyond its `io_memory` (its rings, on kernels that charge them).
const RING_MEMORY: u64 = 256 << 10;

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
    if let Err(e) = io_uring::IoUring::new(4) {
        return Err(Unsupported::IoUring(e.to_string()));
    }
    let needed = u64::from(shards) * (IO_MEMORY as u64 + RING_MEMORY);
    match memlock_limit() {
        Some(limit) if limit < needed => Err(Unsupported::Memlock { needed, limit }),
        _ => Ok(()),
    }
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
    fn messages_name_the_cause() {
        let m = Unsupported::Memlock {
            needed: 3 << 20,
            limit: 64 << 10,
        };
        assert!(m.to_string().contains("3072 KiB") && m.to_string().contains("64 KiB"));
    }
}
