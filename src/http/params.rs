//! Strict parsing of what arrives in URLs: query strings, path ids, cursors
//! and page sizes. Every problem is a 400 naming the parameter.

use std::collections::BTreeMap;

use super::error::ApiError;
use crate::job::JobId;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Parses a query string, refusing parameters outside `allowed`, repeated
/// parameters and empty values.
pub fn query(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut params = BTreeMap::new();
    let Some(raw) = raw else {
        return Ok(params);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("the query string cannot be read: {e}")))?;
    for (key, value) in pairs {
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::bad_field(
                shorten(&key),
                format!(
                    "unknown query parameter `{}`; use {}",
                    shorten(&key),
                    allowed.join(", ")
                ),
            ));
        }
        if value.is_empty() {
            return Err(ApiError::bad_field(
                &key,
                format!("`{key}` must not be empty"),
            ));
        }
        if params.contains_key(&key) {
            return Err(ApiError::bad_field(
                &key,
                format!("`{key}` is given more than once"),
            ));
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// The page size: 1..=500, default 50.
pub fn limit(value: Option<&str>) -> Result<u32, ApiError> {
    let Some(value) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    digits(value)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::bad_field(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// A positive id in canonical decimal form (no sign, no leading zeros).
fn positive_id(value: &str) -> Option<i64> {
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

/// A job id from the URL path.
pub fn job_id(value: &str) -> Result<JobId, ApiError> {
    positive_id(value).ok_or_else(|| {
        ApiError::bad_field(
            "id",
            format!(
                "`{}` is not a job id; job ids are positive whole numbers",
                shorten(value)
            ),
        )
    })
}

/// What a cursor pages through: the prefix keeps a history cursor from being
/// used on the job list and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorKind {
    /// A job id: the list continues with jobs below it.
    Jobs,
    /// An event id: the history continues with events below it.
    History,
}

impl CursorKind {
    fn prefix(self) -> char {
        match self {
            CursorKind::Jobs => 'j',
            CursorKind::History => 'e',
        }
    }
}

/// The opaque cursor for "items with ids below `id`".
pub fn encode_cursor(kind: CursorKind, id: i64) -> String {
    format!("{}{id}", kind.prefix())
}

/// Reads a cursor made by [`encode_cursor`] for the same kind of listing.
pub fn decode_cursor(kind: CursorKind, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    value
        .strip_prefix(kind.prefix())
        .and_then(positive_id)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_field(
                "cursor",
                "not a cursor of this listing; pass the `next_cursor` of the previous page unchanged",
            )
        })
}

/// Input echoed in messages is cut short.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_strict() {
        for kind in [CursorKind::Jobs, CursorKind::History] {
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
