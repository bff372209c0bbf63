//! Setting every field of [`Timings`] and [`Limits`] by name, from `--timing NAME=MS`,
//! `--limit NAME=N` and the `[timings]` / `[limits]` tables of the config file.

use crate::ConfigError;
use distro_core::{Limits, Timings};
use serde::{de::DeserializeOwned, Serialize};

// Fields are found through the structs' serde form, so a field added to `Timings` or
// `Limits` in core is settable here without any change.

/// Sets a timing. `name` is a field of [`Timings`], with or without an `_ms` suffix; the value
/// is in milliseconds for durations and a plain number for counts (`member_fail_threshold`).
pub fn set_timing(t: &mut Timings, name: &str, value: u64) -> Result<(), ConfigError> {
    let field = name.strip_suffix("_ms").unwrap_or(name);
    set_field(t, field, value).map_err(|e| e.describe("timing", name, &timing_names()))
}

/// Sets a limit; `name` is a field of [`Limits`].
pub fn set_limit(l: &mut Limits, name: &str, value: u64) -> Result<(), ConfigError> {
    set_field(l, name, value).map_err(|e| e.describe("limit", name, &limit_names()))
}

/// The names `--timing` accepts (durations in milliseconds, counts plain).
pub fn timing_names() -> Vec<String> {
    field_names(&Timings::default())
}

/// The names `--limit` accepts.
pub fn limit_names() -> Vec<String> {
    field_names(&Limits::default())
}

fn field_names<T: Serialize>(v: &T) -> Vec<String> {
    toml::Table::try_from(v)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

enum FieldError {
    Unknown,
    Invalid(String),
}

impl FieldError {
    fn describe(self, what: &str, name: &str, known: &[String]) -> ConfigError {
        match self {
            FieldError::Unknown => ConfigError::new(format!(
                "unknown {what} `{name}`; known: {}",
                known.join(", ")
            )),
            FieldError::Invalid(e) => ConfigError::new(format!("{what} {name}: {e}")),
        }
    }
}

/// Sets the field `name` of `target` (a number, or a `Duration` given in milliseconds) by a
/// round trip through its TOML form.
fn set_field<T: Serialize + DeserializeOwned>(
    target: &mut T,
    name: &str,
    value: u64,
) -> Result<(), FieldError> {
    let mut table =
        toml::Table::try_from(&*target).map_err(|e| FieldError::Invalid(e.to_string()))?;
    let slot = table.get_mut(name).ok_or(FieldError::Unknown)?;
    let int = |n: u64| {
        i64::try_from(n)
            .map(toml::Value::Integer)
            .map_err(|_| FieldError::Invalid(format!("{n} is too large")))
    };
    *slot = match slot {
        toml::Value::Integer(_) => int(value)?,
        toml::Value::Table(d) if d.contains_key("secs") && d.contains_key("nanos") => {
            let mut d = toml::Table::new();
            d.insert("secs".into(), int(value / 1000)?);
            d.insert("nanos".into(), int(value % 1000 * 1_000_000)?);
            toml::Value::Table(d)
        }
        _ => return Err(FieldError::Unknown),
    };
    *target = table
        .try_into()
        .map_err(|e: toml::de::Error| FieldError::Invalid(e.message().to_string()))?;
    Ok(())
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
    use std::time::Duration;

    #[test]
    fn every_core_timing_and_limit_is_settable() {
        let names = timing_names();
        assert!(
            names.len() >= 25 && names.iter().any(|n| n == "beat_timeout"),
            "{names:?}"
        );
        for (i, name) in names.iter().enumerate() {
            let mut t = Timings::default();
            set_timing(&mut t, name, 1000 + i as u64).unwrap();
            let table = toml::Table::try_from(&t).unwrap();
            assert_ne!(
                table,
                toml::Table::try_from(Timings::default()).unwrap(),
                "{name} changed nothing"
            );
        }
        for name in limit_names() {
            let mut l = Limits::default();
            set_limit(&mut l, &name, 3).unwrap();
            assert_eq!(
                toml::Table::try_from(&l).unwrap()[&name].as_integer(),
                Some(3),
                "{name}"
            );
        }
    }

    #[test]
    fn timings_are_set_in_milliseconds_with_or_without_suffix() {
        let mut t = Timings::default();
        set_timing(&mut t, "beat_timeout", 1500).unwrap();
        set_timing(&mut t, "verify_interval_ms", 250).unwrap();
        set_timing(&mut t, "member_fail_threshold", 7).unwrap();
        assert!(set_timing(&mut t, "member_fail_threshold", u64::from(u32::MAX) + 1).is_err());
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
