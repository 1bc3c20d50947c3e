//! Durations as people write them: `"250ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"30d"`.
//!
//! Parsing is `humantime`'s. This module (used as `#[serde(with = …)]`) adds
//! an error that says what was wrong and what to write instead, and prints a
//! duration in the shortest whole unit (`"30d"`, `"90m"`), as the example
//! file writes them.

use std::fmt;
use std::time::Duration;

use serde::{Deserializer, Serializer, de};

/// Writes `d` in its largest whole unit (`30d`, `5m`, `90m`, `250ms`); a
/// duration with no whole unit falls back to `humantime`'s form (`1s 500ms`).
pub(super) fn human(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    if d.subsec_nanos() == 0 {
        let secs = d.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs.is_multiple_of(size) {
                return format!("{}{unit}", secs / size);
            }
        }
    }
    if d.as_secs() == 0 && d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ms", d.subsec_millis());
    }
    humantime::format_duration(d).to_string()
}

pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&human(*d))
}

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_str(Visitor)
}

const EXAMPLES: &str = "\"30s\", \"5m\" or \"1h30m\"";

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration such as {EXAMPLES}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        humantime::parse_duration(v.trim()).map_err(|e| {
            E::custom(format!(
                "`{v}` is not a duration ({e}); write e.g. {EXAMPLES}"
            ))
        })
    }
}

/// What a command-line flag that takes seconds says of a value it cannot read.
fn not_seconds(v: &str) -> String {
    format!("`{v}` is not a duration: use 30s, 15m, 1h or a number of seconds")
}

/// A command-line duration in whole seconds: `30s`, `15m`, `1h`, `2h30m`
/// (the forms the configuration file takes, parsed the same way) or a bare
/// number of seconds, as these flags took before. A clap `value_parser`.
pub(crate) fn seconds_arg(v: &str) -> Result<u64, String> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| not_seconds(v));
    }
    let d = humantime::parse_duration(v).map_err(|_| not_seconds(v))?;
    if d.subsec_nanos() != 0 {
        // The API takes whole seconds; rounding silently would change what
        // was asked for.
        return Err(format!("`{v}` is not a whole number of seconds"));
    }
    Ok(d.as_secs())
}

/// [`seconds_arg`] for a flag whose API field is 32-bit (`--jitter`).
pub(crate) fn seconds_arg_u32(v: &str) -> Result<u32, String> {
    let secs = seconds_arg(v)?;
    u32::try_from(secs).map_err(|_| format!("`{}` is too long", v.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_arg_takes_units_and_bare_seconds() {
        assert_eq!(seconds_arg("90"), Ok(90));
        assert_eq!(seconds_arg("30s"), Ok(30));
        assert_eq!(seconds_arg("15m"), Ok(900));
        assert_eq!(seconds_arg("1h"), Ok(3_600));
        assert_eq!(seconds_arg("2h30m"), Ok(9_000));
        assert_eq!(seconds_arg(" 1d "), Ok(86_400));
        assert_eq!(seconds_arg_u32("5m"), Ok(300));
    }

    #[test]
    fn seconds_arg_says_what_to_write() {
        for bad in ["1x", "", "-5", "h"] {
            let e = seconds_arg(bad).unwrap_err();
            assert!(
                e.contains("is not a duration: use 30s, 15m, 1h or a number of seconds"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            seconds_arg("1500ms").unwrap_err(),
            "`1500ms` is not a whole number of seconds"
        );
        assert!(seconds_arg_u32("200000d").is_err());
    }

    #[test]
    fn human_uses_the_largest_whole_unit() {
        let s = Duration::from_secs;
        assert_eq!(human(Duration::ZERO), "0s");
        assert_eq!(human(s(30 * 86_400)), "30d");
        assert_eq!(human(s(5_400)), "90m");
        assert_eq!(human(s(7_200)), "2h");
        assert_eq!(human(s(300)), "5m");
        assert_eq!(human(s(61)), "61s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1_500)), "1s 500ms");
    }

    #[test]
    fn human_output_parses_back() {
        for ms in [0, 1, 250, 1_000, 1_500, 61_000, 5_400_000, 2_592_000_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(
                humantime::parse_duration(&human(d)).unwrap(),
                d,
                "{}",
                human(d)
            );
        }
    }
}

/// A list of durations, for `#[serde(with = "duration::list")]`.
pub(super) mod list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(in crate::config) fn serialize<S: Serializer>(
        ds: &[Duration],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ds.len()))?;
        for d in ds {
            seq.serialize_element(&super::human(*d))?;
        }
        seq.end()
    }

    pub(in crate::config) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct One(#[serde(with = "super")] Duration);
        Ok(Vec::<One>::deserialize(d)?
            .into_iter()
            .map(|o| o.0)
            .collect())
    }
}
