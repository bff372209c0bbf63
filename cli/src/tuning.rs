//! Setting every field of [`Timings`] and [`Limits`] by name, from `--timing NAME=MS`,
//! `--limit NAME=N` and the `[timings]` / `[limits]` tables of the config file.

use crate::ConfigError;
use distro_core::{Limits, Timings};
use std::time::Duration;

macro_rules! named_fields {
    (
        $ty:ident, $names:ident, $setter:ident, $parse:ty, |$v:ident| $conv:expr;
        $($field:ident),* $(,)?
    ) => {
        /// The names accepted for this kind of setting.
        pub const $names: &[&str] = &[$(stringify!($field)),*];

        /// Sets the field called `name`; `false` when there is none.
        fn $setter(target: &mut $ty, name: &str, $v: $parse) -> bool {
            match name {
                $(stringify!($field) => { target.$field = $conv; true })*
                _ => false,
            }
        }
    };
}

named_fields! {
    Timings, TIMING_NAMES, set_duration, u64, |ms| Duration::from_millis(ms);
    beat_interval, beat_timeout, delete_timeout, beat_check_interval, conn_scan_interval,
    conn_idle, probe_timeout, member_ping_interval, sync_delay, sync_timeout, sync_retry_min,
    sync_retry_max, verify_interval, replica_expiry, tombstone_ttl, snapshot_timeout,
    snapshot_retry, snapshot_gate, forward_timeout, push_window, push_ack_timeout,
    udp_subscriber_ttl, empty_service_ttl, cleanup_interval,
}

named_fields! {
    Limits, LIMIT_NAMES, set_limit_field, usize, |n| n;
    max_frame_len, max_name_len, max_metadata_entries, max_metadata_value_len,
    max_instances_per_client, max_clients, max_services, max_subscriptions,
    max_pending_forwards, snapshot_chunk_clients, verify_chunk_entries, sync_batch_clients,
    max_http_head, max_http_body,
}

/// The one timing that is a count, not a duration.
const FAIL_THRESHOLD: &str = "member_fail_threshold";

/// Sets a timing. `name` is a field of [`Timings`], with or without an `_ms` suffix; the value
/// is in milliseconds (a plain count for `member_fail_threshold`).
pub fn set_timing(t: &mut Timings, name: &str, value: u64) -> Result<(), ConfigError> {
    let field = name.strip_suffix("_ms").unwrap_or(name);
    if field == FAIL_THRESHOLD {
        t.member_fail_threshold = u32::try_from(value)
            .map_err(|_| ConfigError::new(format!("timing {name}: {value} is too large")))?;
        return Ok(());
    }
    if set_duration(t, field, value) {
        Ok(())
    } else {
        Err(ConfigError::new(format!(
            "unknown timing `{name}`; known timings (milliseconds): {}, and the count {FAIL_THRESHOLD}",
            TIMING_NAMES.join(", ")
        )))
    }
}

/// Sets a limit; `name` is a field of [`Limits`].
pub fn set_limit(l: &mut Limits, name: &str, value: u64) -> Result<(), ConfigError> {
    let n = usize::try_from(value)
        .map_err(|_| ConfigError::new(format!("limit {name}: {value} is too large")))?;
    if set_limit_field(l, name, n) {
        Ok(())
    } else {
        Err(ConfigError::new(format!(
            "unknown limit `{name}`; known limits: {}",
            LIMIT_NAMES.join(", ")
        )))
    }
}

/// Splits `NAME=VALUE` with an unsigned integer value.
pub fn split_assignment(flag: &str, text: &str) -> Result<(String, u64), ConfigError> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| ConfigError::new(format!("{flag} {text}: expected NAME=VALUE")))?;
    let value = value.trim().replace('_', "");
    let value = value
        .parse::<u64>()
        .map_err(|_| ConfigError::new(format!("{flag} {text}: `{value}` is not a whole number")))?;
    Ok((name.trim().to_string(), value))
}

/// Applies a `[timings]` or `[limits]` table from the config file.
pub fn apply_table(
    table: &toml::Table,
    what: &str,
    mut set: impl FnMut(&str, u64) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let n = value
            .as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| ConfigError::new(format!("[{what}] {name}: expected a whole number")))?;
        set(name, n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field names of a struct, read back through its serde representation.
    fn serde_fields<T: serde::Serialize>(v: &T) -> Vec<String> {
        let table = toml::Table::try_from(v).expect("serializes to a table");
        table.keys().cloned().collect()
    }

    #[test]
    fn every_core_timing_and_limit_has_a_name() {
        let mut timings = serde_fields(&Timings::default());
        timings.retain(|f| f != FAIL_THRESHOLD);
        let mut known: Vec<String> = TIMING_NAMES.iter().map(|s| s.to_string()).collect();
        timings.sort();
        known.sort();
        assert_eq!(
            timings, known,
            "cli/src/tuning.rs must list every field of Timings"
        );
        let mut limits = serde_fields(&Limits::default());
        let mut known: Vec<String> = LIMIT_NAMES.iter().map(|s| s.to_string()).collect();
        limits.sort();
        known.sort();
        assert_eq!(
            limits, known,
            "cli/src/tuning.rs must list every field of Limits"
        );
    }

    #[test]
    fn timings_are_set_in_milliseconds_with_or_without_suffix() {
        let mut t = Timings::default();
        set_timing(&mut t, "beat_timeout", 1500).unwrap();
        set_timing(&mut t, "verify_interval_ms", 250).unwrap();
        set_timing(&mut t, "member_fail_threshold", 7).unwrap();
        assert_eq!(t.beat_timeout, Duration::from_millis(1500));
        assert_eq!(t.verify_interval, Duration::from_millis(250));
        assert_eq!(t.member_fail_threshold, 7);
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let err = set_timing(&mut Timings::default(), "beat_timeuot", 1).unwrap_err();
        assert!(
            err.to_string().contains("unknown timing `beat_timeuot`"),
            "{err}"
        );
        assert!(
            err.to_string().contains("beat_timeout"),
            "lists the known names: {err}"
        );
        let err = set_limit(&mut Limits::default(), "max_klients", 1).unwrap_err();
        assert!(
            err.to_string().contains("unknown limit `max_klients`"),
            "{err}"
        );
    }

    #[test]
    fn assignments_parse() {
        assert_eq!(
            split_assignment("--limit", "max_clients=1_000").unwrap(),
            ("max_clients".into(), 1000)
        );
        assert!(split_assignment("--limit", "max_clients").is_err());
        assert!(split_assignment("--limit", "max_clients=-1").is_err());
        assert!(split_assignment("--timing", "beat_timeout=1.5").is_err());
    }
}
