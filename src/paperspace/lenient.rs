//! Reading and writing single fields of Paperspace's JSON, for both wire
//! modules.
//!
//! Paperspace is loose with types (the legacy API sends `ram` as a string of
//! bytes, rates as `"0.40"` or `0`, dates that may be null), so reading is
//! lenient: a field of an unexpected shape becomes `None` instead of failing
//! the whole answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A number, or a string holding one.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(number(&Value::deserialize(d)?).filter(|n| n.is_finite()))
}

pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(number(&Value::deserialize(d)?)
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.round() as u64))
}

pub(crate) fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(de_u64(d)?.and_then(|n| u32::try_from(n).ok()))
}

/// A non-empty string, or a number written as one.
pub(crate) fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A JSON boolean (the v1 API sends nothing else).
pub(crate) fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        _ => None,
    })
}

/// A JSON boolean, or `"true"`/`"false"` as the legacy API sometimes sends.
pub(crate) fn de_bool_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    })
}

/// An RFC 3339 time.
pub(crate) fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    })
}

/// Sets `key` in a request body only when there is a value.
pub(crate) fn put(body: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        body.insert(key.to_string(), v.into());
    }
}
