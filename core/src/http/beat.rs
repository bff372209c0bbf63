//! The `beat` parameter of `PUT /instance/beat`: Nacos's `RsInfo` JSON, e.g.
//! `{"serviceName":"DEFAULT_GROUP@@svc","ip":"10.0.0.5","port":8080,"cluster":"DEFAULT",
//! "weight":2,"metadata":{..},"scheduled":true}`. Unknown fields are ignored.

use super::values::{
    check_ephemeral, check_name, check_weight, metadata_from_json, parse_bool, parse_metadata,
    parse_port, parse_weight,
};
use crate::{ApiError, Limits};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a beat body says about its instance. Empty strings count as absent.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct BeatBody {
    pub(crate) service_name: Option<String>,
    pub(crate) ip: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) cluster: Option<String>,
    pub(crate) weight: Option<f64>,
    pub(crate) metadata: BTreeMap<String, String>,
}

/// Parses and checks a beat body; `ephemeral: false` is rejected like on register.
pub(crate) fn parse_beat(json: &str, limits: &Limits) -> Result<BeatBody, ApiError> {
    let mut object: Map<String, Value> = serde_json::from_str(json)
        .map_err(|_| ApiError::bad_request("Param 'beat' must be a JSON object."))?;
    let ip = string(&mut object, "ip")?;
    if let Some(ip) = &ip {
        check_name("ip", ip, limits)?;
    }
    let cluster = string(&mut object, "cluster")?;
    if let Some(cluster) = &cluster {
        check_name("cluster", cluster, limits)?;
    }
    let port = match object.remove("port") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(p) => Some(p),
            None => return Err(bad_field("port", "a port from 0 to 65535")),
        },
        Some(Value::String(s)) => Some(parse_port("beat.port", &s)?),
        Some(_) => return Err(bad_field("port", "a port from 0 to 65535")),
    };
    let weight = match object.remove("weight") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(w) => Some(check_weight("beat.weight", w)?),
            None => return Err(bad_field("weight", "a number")),
        },
        Some(Value::String(s)) => Some(parse_weight("beat.weight", &s)?),
        Some(_) => return Err(bad_field("weight", "a number")),
    };
    let metadata = match object.remove("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => metadata_from_json(m.into_iter().collect(), limits)?,
        Some(Value::String(s)) => parse_metadata(&s, limits)?,
        Some(_) => return Err(bad_field("metadata", "an object")),
    };
    match object.remove("ephemeral") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(e)) => check_ephemeral(e)?,
        Some(Value::String(s)) => check_ephemeral(parse_bool("beat.ephemeral", &s)?)?,
        Some(_) => return Err(bad_field("ephemeral", "true or false")),
    }
    Ok(BeatBody {
        service_name: string(&mut object, "serviceName")?,
        ip,
        port,
        cluster,
        weight,
        metadata,
    })
}

/// A string member; `null`, absent and empty are all `None`.
fn string(object: &mut Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s).filter(|s| !s.is_empty())),
        Some(_) => Err(bad_field(field, "a string")),
    }
}

fn bad_field(field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Param 'beat' is invalid: '{field}' must be {what}."
    ))
}
