//! Typed parameter values (names, booleans, numbers, metadata) with Nacos-style messages.
//!
//! As Nacos's `WebUtils.optional`/`required` do, an empty parameter counts as absent.

use super::params::Params;
use crate::model::GROUP_SEPARATOR;
use crate::{ApiError, Limits, ServiceKey};
use serde_json::Value;
use std::collections::BTreeMap;

/// Largest instance weight Nacos accepts.
const MAX_WEIGHT: f64 = 10_000.0;
/// Largest page size of the paging endpoints.
pub(crate) const MAX_PAGE_SIZE: u32 = 10_000;

/// The parameters of one request with the limits that bound them.
pub(crate) struct Fields<'a> {
    params: &'a Params,
    pub(crate) limits: &'a Limits,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(params: &'a Params, limits: &'a Limits) -> Self {
        Fields { params, limits }
    }

    /// The value of `name`, unless absent or empty.
    pub(crate) fn opt(&self, name: &str) -> Option<&'a str> {
        self.params.get(name).filter(|v| !v.is_empty())
    }

    /// The value of `name`; 400 `Param 'name' is required.` when absent or empty.
    pub(crate) fn required(&self, name: &str) -> Result<&'a str, ApiError> {
        self.opt(name).ok_or_else(|| missing(name))
    }

    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.opt(name).map(|v| parse_bool(name, v)).transpose()
    }

    pub(crate) fn bool_or(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        Ok(self.opt_bool(name)?.unwrap_or(default))
    }

    /// A required port.
    pub(crate) fn port(&self, name: &str) -> Result<u16, ApiError> {
        parse_port(name, self.required(name)?)
    }

    pub(crate) fn opt_weight(&self) -> Result<Option<f64>, ApiError> {
        self.opt("weight")
            .map(|v| parse_weight("weight", v))
            .transpose()
    }

    /// An optional name (namespace, group, cluster, ip ...), checked against the name rules.
    pub(crate) fn opt_name(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        let v = self.opt(name);
        if let Some(v) = v {
            check_name(name, v, self.limits)?;
        }
        Ok(v)
    }

    /// A required name.
    pub(crate) fn name(&self, name: &str) -> Result<&'a str, ApiError> {
        self.opt_name(name)?.ok_or_else(|| missing(name))
    }

    /// The service of `serviceName` (required), `groupName` and `namespaceId`.
    pub(crate) fn service(&self) -> Result<ServiceKey, ApiError> {
        self.service_named(self.required("serviceName")?)
    }

    /// The service of the given service name with this request's `groupName` and
    /// `namespaceId`, following Nacos's `ServiceNameFilter` (a grouped name keeps its group).
    pub(crate) fn service_named(&self, service_name: &str) -> Result<ServiceKey, ApiError> {
        let namespace = self.opt_name("namespaceId")?;
        let group = self.opt_name("groupName")?;
        if group.is_some_and(|g| g.contains(GROUP_SEPARATOR)) {
            return Err(ApiError::bad_request(format!(
                "Param 'groupName' must not contain '{GROUP_SEPARATOR}'."
            )));
        }
        let key = ServiceKey::parse(namespace, group, service_name);
        if key.name.is_empty() || key.name.contains(GROUP_SEPARATOR) {
            return Err(ApiError::bad_request(format!(
                "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName', got '{}'.",
                shown(service_name)
            )));
        }
        check_name("groupName", &key.group, self.limits)?;
        check_name("serviceName", &key.name, self.limits)?;
        Ok(key)
    }

    /// The cluster of `clusterName`, else of the legacy `cluster`.
    pub(crate) fn cluster(&self) -> Result<Option<&'a str>, ApiError> {
        match self.opt_name("clusterName")? {
            Some(c) => Ok(Some(c)),
            None => self.opt_name("cluster"),
        }
    }

    /// The enabled flag of `enabled`, else of the legacy `enable`.
    pub(crate) fn enabled(&self) -> Result<Option<bool>, ApiError> {
        match self.opt_bool("enabled")? {
            Some(e) => Ok(Some(e)),
            None => self.opt_bool("enable"),
        }
    }

    /// Rejects `ephemeral=false`: only ephemeral instances exist here.
    pub(crate) fn check_ephemeral(&self) -> Result<(), ApiError> {
        check_ephemeral(self.bool_or("ephemeral", true)?)
    }

    pub(crate) fn metadata(&self) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        self.opt("metadata")
            .map(|v| parse_metadata(v, self.limits))
            .transpose()
    }

    /// A page number or size: from 1, at most [`MAX_PAGE_SIZE`] for sizes.
    pub(crate) fn page(&self, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
        let Some(v) = self.opt(name) else {
            return Ok(default);
        };
        match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "Param '{name}' must be an integer from 1 to {max}, got '{}'.",
                shown(v)
            ))),
        }
    }

    /// `protectThreshold`: 0 to 1, 0 when absent.
    pub(crate) fn protect_threshold(&self) -> Result<f32, ApiError> {
        let Some(v) = self.opt("protectThreshold") else {
            return Ok(0.0);
        };
        match v.parse::<f32>() {
            Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
            _ => Err(ApiError::bad_request(format!(
                "Param 'protectThreshold' must be a number from 0 to 1, got '{}'.",
                shown(v)
            ))),
        }
    }
}

/// 400 `Param 'name' is required.`, as Nacos words it.
pub(crate) fn missing(name: &str) -> ApiError {
    ApiError::bad_request(format!("Param '{name}' is required."))
}

/// A value cut short for an error message.
pub(crate) fn shown(v: &str) -> &str {
    const MAX: usize = 64;
    if v.len() <= MAX {
        return v;
    }
    let mut end = MAX;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

/// `true` or `false`, in any case (Python sends `True`, JavaScript `true`).
pub(crate) fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::bad_request(format!(
            "Param '{name}' must be true or false, got '{}'.",
            shown(v)
        )))
    }
}

pub(crate) fn parse_port(name: &str, v: &str) -> Result<u16, ApiError> {
    v.parse::<u16>().map_err(|_| {
        ApiError::bad_request(format!(
            "Param '{name}' must be a port from 0 to 65535, got '{}'.",
            shown(v)
        ))
    })
}

pub(crate) fn parse_weight(name: &str, v: &str) -> Result<f64, ApiError> {
    match v.parse::<f64>() {
        Ok(w) => check_weight(name, w),
        Err(_) => Err(ApiError::bad_request(format!(
            "Param '{name}' must be a number, got '{}'.",
            shown(v)
        ))),
    }
}

/// A weight within Nacos's range 0 to 10000.
pub(crate) fn check_weight(name: &str, w: f64) -> Result<f64, ApiError> {
    if (0.0..=MAX_WEIGHT).contains(&w) {
        Ok(w)
    } else {
        Err(ApiError::bad_request(format!(
            "Param '{name}' is out of range: the weights range from 0 to 10000."
        )))
    }
}

pub(crate) fn check_ephemeral(ephemeral: bool) -> Result<(), ApiError> {
    if ephemeral {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "persistent instances are not supported",
        ))
    }
}

/// A namespace, group, service, cluster name or ip: at most `max_name_len` bytes, no control
/// characters.
pub(crate) fn check_name(name: &str, v: &str, limits: &Limits) -> Result<(), ApiError> {
    if v.len() > limits.max_name_len {
        return Err(ApiError::bad_request(format!(
            "Param '{name}' is longer than {} bytes.",
            limits.max_name_len
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "Param '{name}' contains control characters."
        )));
    }
    Ok(())
}

/// Metadata as Nacos's `parseMetadata` reads it: a JSON object (values that are not strings are
/// stringified), or else `k=v,k2=v2`. Empty means none.
pub(crate) fn parse_metadata(
    v: &str,
    limits: &Limits,
) -> Result<BTreeMap<String, String>, ApiError> {
    if v.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    if let Ok(object) = serde_json::from_str::<BTreeMap<String, Value>>(v) {
        return metadata_from_json(object, limits);
    }
    let mut map = BTreeMap::new();
    for pair in v.split(',').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.contains('=') => {
                map.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(ApiError::bad_request(
                    "Param 'metadata' must be a JSON object or k=v,k2=v2 pairs.",
                ))
            }
        }
    }
    check_metadata(map, limits)
}

/// Metadata from a JSON object's members; non-string values become their JSON text, `null`
/// becomes empty.
pub(crate) fn metadata_from_json(
    object: BTreeMap<String, Value>,
    limits: &Limits,
) -> Result<BTreeMap<String, String>, ApiError> {
    if object.len() > limits.max_metadata_entries {
        return Err(too_many_entries(limits));
    }
    let map = object
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    check_metadata(map, limits)
}

fn check_metadata(
    map: BTreeMap<String, String>,
    limits: &Limits,
) -> Result<BTreeMap<String, String>, ApiError> {
    if map.len() > limits.max_metadata_entries {
        return Err(too_many_entries(limits));
    }
    let max = limits.max_metadata_value_len;
    if map.iter().any(|(k, v)| k.len() > max || v.len() > max) {
        return Err(ApiError::bad_request(format!(
            "Param 'metadata' has a key or value longer than {max} bytes."
        )));
    }
    Ok(map)
}

fn too_many_entries(limits: &Limits) -> ApiError {
    ApiError::bad_request(format!(
        "Param 'metadata' has more than {} entries.",
        limits.max_metadata_entries
    ))
}
