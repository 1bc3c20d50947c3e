//! Strict parsing of what arrives in URLs: query strings, path ids, cursors
//! and page sizes. Every problem is a 400 naming the parameter.

use std::collections::BTreeMap;

use super::error::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::job::JobId;

/// The default page size.
pub(super) const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub(super) const MAX_LIMIT: u32 = 500;

/// Parses a query string, refusing parameters outside `allowed`, repeated
/// parameters and empty values.
pub(super) fn query(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, Problem> {
    let mut params = BTreeMap::new();
    let Some(raw) = raw else {
        return Ok(params);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| Problem::bad_request(format!("the query string cannot be read: {e}")))?;
    for (key, value) in pairs {
        if !allowed.contains(&key.as_str()) {
            return Err(Problem::bad_field(
                shorten(&key),
                format!(
                    "unknown query parameter `{}`; use {}",
                    shorten(&key),
                    allowed.join(", ")
                ),
            ));
        }
        if value.is_empty() {
            return Err(Problem::bad_field(
                &key,
                format!("`{key}` must not be empty"),
            ));
        }
        if params.contains_key(&key) {
            return Err(Problem::bad_field(
                &key,
                format!("`{key}` is given more than once"),
            ));
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// The page size: 1..=500, default 50.
pub(super) fn limit(value: Option<&str>) -> Result<u32, Problem> {
    let Some(value) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    digits(value)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            Problem::bad_field(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// The `after` of the history: an event id, or 0 for the start; in
/// canonical decimal form.
pub(super) fn event_after(value: &str) -> Result<i64, Problem> {
    if value == "0" {
        return Ok(0);
    }
    positive_id(value).ok_or_else(|| {
        Problem::bad_field(
            "after",
            format!(
                "`{}` is not an event id; `after` is a whole number, 0 for the start (the `next_after` of a page)",
                shorten(value)
            ),
        )
    })
}

/// The `wait` of the history: whole seconds, 0..=[`super::follow::MAX_WAIT_SECONDS`].
pub(super) fn wait_seconds(value: &str) -> Result<std::time::Duration, Problem> {
    let max = super::follow::MAX_WAIT_SECONDS;
    digits(value)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n <= max)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            Problem::bad_field(
                "wait",
                format!("`wait` must be a whole number of seconds from 0 to {max}"),
            )
        })
}

/// A positive id in canonical decimal form (no sign, no leading zeros).
pub(super) fn positive_id(value: &str) -> Option<i64> {
    let d = digits(value)?;
    if d.starts_with('0') {
        return None;
    }
    d.parse::<i64>().ok().filter(|n| *n > 0)
}

fn digits(value: &str) -> Option<&str> {
    (!value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit()))
        .then_some(value)
}

/// The id of a `what` (`job`, `override`, `webhook`, …) from a URL, or a
/// 400 naming `field`.
pub(super) fn id(field: &str, what: &str, value: &str) -> Result<i64, Problem> {
    positive_id(value).ok_or_else(|| {
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        Problem::bad_field(
            field,
            format!(
                "`{}` is not {article} {what} id; {what} ids are positive whole numbers",
                shorten(value)
            ),
        )
    })
}

/// A job id from the URL path.
pub(super) fn job_id(value: &str) -> Result<JobId, Problem> {
    id("id", "job", value)
}

/// What a cursor pages through: the prefix keeps a history cursor from being
/// used on the job list and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CursorKind {
    /// A job id: the list continues with jobs below it.
    Jobs,
    /// An event id: the history continues with events below it.
    History,
    /// A group run id: the list continues with runs below it.
    Runs,
}

impl CursorKind {
    fn prefix(self) -> char {
        match self {
            CursorKind::Jobs => 'j',
            CursorKind::History => 'e',
            CursorKind::Runs => 'r',
        }
    }
}

/// The opaque cursor for "items with ids below `id`".
pub(super) fn encode_cursor(kind: CursorKind, id: i64) -> String {
    format!("{}{id}", kind.prefix())
}

/// Reads a cursor made by [`encode_cursor`] for the same kind of listing.
pub(super) fn decode_cursor(kind: CursorKind, value: Option<&str>) -> Result<Option<i64>, Problem> {
    let Some(value) = value else {
        return Ok(None);
    };
    value
        .strip_prefix(kind.prefix())
        .and_then(positive_id)
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_field(
                "cursor",
                "not a cursor of this listing; pass the `next_cursor` of the previous page unchanged",
            )
        })
}

/// Input echoed in messages is cut short: 40 characters.
pub(super) fn shorten(s: &str) -> String {
    shorten_to(s, 40)
}

/// `s` cut to `max` characters, with `…` where it was cut.
pub(super) fn shorten_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// Reads a JSON object body: `Content-Type: application/json` (415
/// otherwise), within the size limit (413), and every problem with its
/// syntax, types or fields a 400 naming the field's JSON path. `example`
/// is shown when the body is empty or not an object.
pub(super) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max_body_bytes: usize,
    example: &str,
) -> Result<T, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Problem::unsupported_media_type(
            "send the request as JSON with `Content-Type: application/json`",
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large(max_body_bytes)
        } else {
            Problem::bad_request(format!(
                "could not read the request body: {}",
                e.body_text()
            ))
        }
    })?;
    parse_json_object(&body, example)
}

/// Parses a JSON object, refusing empty bodies, arrays and trailing data;
/// errors name the JSON path of the offending field.
pub(super) fn parse_json_object<T: DeserializeOwned>(
    body: &[u8],
    example: &str,
) -> Result<T, Problem> {
    if body.trim_ascii().is_empty() {
        return Err(Problem::bad_request(format!(
            "the request body is empty; send a JSON object such as {example}"
        )));
    }
    // A derived struct also accepts a JSON array (fields by position): refuse it.
    if body.trim_ascii_start().first() != Some(&b'{') {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return Err(Problem::bad_request(format!("invalid JSON: {e}")));
        }
        return Err(Problem::bad_request(format!(
            "the request body must be a JSON object, such as {example}"
        )));
    }
    refuse_duplicate_keys(body)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("invalid JSON: {e}")))?;
    Ok(value)
}

/// Refuses an object that repeats a key, at any depth, naming the key's
/// JSON path. serde keeps the last of repeated keys (or refuses them only in
/// derived structs), so `{"args":{"name":"a","name":"b"}}` would otherwise
/// mean whatever the last one says while a proxy or log reads the first.
fn refuse_duplicate_keys(body: &[u8]) -> Result<(), Problem> {
    use serde::de::DeserializeSeed;
    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let checked = UniqueKeys {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    match (checked, found.into_inner()) {
        (Err(_), Some(path)) => Err(Problem::bad_field(
            &path,
            format!("`{}` is given more than once", shorten(&path)),
        )),
        // Syntax errors are the typed parse's to report, with their path.
        _ => Ok(()),
    }
}

/// A walk over any JSON value that fails at the first repeated key; the
/// path of that key is left in `found`.
struct UniqueKeys<'f> {
    /// The JSON path of the value walked, `""` at the top.
    path: String,
    /// Where the walk leaves the path of the first repeated key.
    found: &'f std::cell::RefCell<Option<String>>,
}

impl UniqueKeys<'_> {
    fn at(&self, path: String) -> Self {
        UniqueKeys {
            path,
            found: self.found,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(self.at(format!("{}[{i}]", self.path)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                *self.found.borrow_mut() = Some(path);
                return Err(serde::de::Error::custom("a repeated key"));
            }
            map.next_value_seed(self.at(path))?;
        }
        Ok(())
    }
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = inner.to_string();
    let at = (path != ".").then_some(path);
    if inner.is_data() {
        // serde names unknown and missing fields in its message, not the path.
        let named = lift_name(&message, "unknown field `")
            .or_else(|| lift_name(&message, "missing field `"));
        // serde_path_to_error already ends the path with an unknown field's
        // name, but stops at the parent of a missing one.
        let field = match (at, named) {
            (Some(at), Some(name)) if at == name || at.ends_with(&format!(".{name}")) => Some(at),
            (Some(at), Some(name)) => Some(format!("{at}.{name}")),
            (None, Some(name)) => Some(name.to_string()),
            (at, None) => at,
        };
        let error = Problem::bad_request(message);
        match field {
            Some(field) => error.with_field(field),
            None => error,
        }
    } else {
        let error = Problem::bad_request(format!("invalid JSON: {message}"));
        match at {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

fn lift_name<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_strict() {
        for kind in [CursorKind::Jobs, CursorKind::History, CursorKind::Runs] {
            let c = encode_cursor(kind, 42);
            assert_eq!(decode_cursor(kind, Some(&c)).unwrap(), Some(42));
        }
        let bad = |s: &str| decode_cursor(CursorKind::Jobs, Some(s)).unwrap_err().field;
        for s in [
            "42",
            "e42",
            "j",
            "j0",
            "j042",
            "j-1",
            "j+1",
            "j 1",
            "j99999999999999999999",
            "J42",
        ] {
            assert_eq!(bad(s).as_deref(), Some("cursor"), "{s}");
        }
        assert_eq!(decode_cursor(CursorKind::Jobs, None).unwrap(), None);
    }

    #[test]
    fn limits_and_ids() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some("500")).unwrap(), 500);
        for s in ["0", "501", "-1", "1.5", "abc", "99999999999999999999"] {
            assert!(limit(Some(s)).is_err(), "{s}");
        }
        assert_eq!(job_id("7").unwrap(), 7);
        for s in ["0", "07", "-7", "x", "9223372036854775808"] {
            assert_eq!(job_id(s).unwrap_err().field.as_deref(), Some("id"), "{s}");
        }
    }

    #[test]
    fn repeated_keys_are_refused_at_every_depth() {
        let field = |body: &str| {
            parse_json_object::<serde_json::Value>(body.as_bytes(), "{}")
                .unwrap_err()
                .field
        };
        assert_eq!(field(r#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(
            field(r#"{"args":{"name":"x","name":"y"}}"#).as_deref(),
            Some("args.name")
        );
        assert_eq!(
            field(r#"{"t":{"ids":[{"k":1},{"k":1,"k":2}]}}"#).as_deref(),
            Some("t.ids[1].k")
        );
        // The same key in sibling objects is not a repeat.
        parse_json_object::<serde_json::Value>(br#"{"a":{"k":1},"b":{"k":1}}"#, "{}").unwrap();
        // Escapes spelling the same key are the same key.
        assert_eq!(field(r#"{"a":1,"\u0061":2}"#).as_deref(), Some("a"));
    }

    #[test]
    fn query_is_strict() {
        let q = |s: &str| query(Some(s), &["state", "limit"]);
        assert_eq!(q("state=queued&limit=5").unwrap().len(), 2);
        assert_eq!(
            q("colour=red").unwrap_err().field.as_deref(),
            Some("colour")
        );
        assert_eq!(
            q("state=a&state=b").unwrap_err().field.as_deref(),
            Some("state")
        );
        assert_eq!(q("state=").unwrap_err().field.as_deref(), Some("state"));
        assert!(query(None, &[]).unwrap().is_empty());
    }
}
