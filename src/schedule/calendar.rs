//! Exclusions: the local dates on which a schedule does not fire, or a window
//! does not open.
//!
//! A schedule lists dates of its own and names calendars that the
//! configuration defines (`holidays-nl`, `company-shutdown`), so one list of
//! holidays serves every schedule. A date is a date **in the schedule's zone**:
//! 2026-12-24 23:30 in New York is Christmas Eve there even though it is
//! already Christmas Day in UTC.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::timing::{TimingError, wall_time};

/// Dates on which a schedule does not fire: listed dates and named calendars from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    /// Local dates (`2026-12-25`) excluded by this schedule alone.
    #[serde(default)]
    pub dates: Vec<NaiveDate>,
    /// Names of calendars from the configuration whose dates are excluded.
    #[serde(default)]
    pub calendars: Vec<String>,
}

/// The named calendars the configuration defines: name to set of dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendars {
    /// Each calendar's dates, sorted for lookup and stable listing.
    by_name: BTreeMap<String, BTreeSet<NaiveDate>>,
}

impl Calendars {
    /// The calendars in `map`; repeated dates are kept once.
    pub fn new(map: BTreeMap<String, Vec<NaiveDate>>) -> Self {
        Calendars {
            by_name: map
                .into_iter()
                .map(|(name, dates)| (name, dates.into_iter().collect()))
                .collect(),
        }
    }

    /// The calendars' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// True if the calendar `name` exists and lists `date`.
    pub fn contains(&self, name: &str, date: NaiveDate) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|dates| dates.contains(&date))
    }

    /// True if a calendar called `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

impl Exclusions {
    /// True if nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.dates.is_empty() && self.calendars.is_empty()
    }

    /// Checks that every named calendar exists (error names the unknown calendar).
    pub fn validate(&self, calendars: &Calendars) -> Result<(), TimingError> {
        match self.calendars.iter().find(|name| !calendars.has(name)) {
            None => Ok(()),
            Some(name) => Err(TimingError::UnknownCalendar {
                name: name.clone(),
                known: calendars.names().map(str::to_string).collect(),
            }),
        }
    }

    /// True if `at`, seen as a local date in `zone`, is excluded.
    pub fn excludes(&self, at: DateTime<Utc>, zone: Tz, calendars: &Calendars) -> bool {
        wall_time(zone, at).is_some_and(|wall| self.excludes_date(wall.date(), calendars))
    }

    /// True if the local date `date` is excluded. A calendar that does not
    /// exist (validation refuses those; the configuration may have changed
    /// since) excludes nothing, so a removed calendar cannot stop schedules.
    pub fn excludes_date(&self, date: NaiveDate, calendars: &Calendars) -> bool {
        self.dates.contains(&date)
            || self
                .calendars
                .iter()
                .any(|name| calendars.contains(name, date))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn calendars() -> Calendars {
        Calendars::new(BTreeMap::from([
            (
                "holidays-nl".to_string(),
                vec![date("2026-12-25"), date("2026-12-26"), date("2026-12-25")],
            ),
            ("shutdown".to_string(), vec![date("2026-12-31")]),
        ]))
    }

    #[test]
    fn dates_and_calendars_exclude() {
        let cals = calendars();
        let ex = Exclusions {
            dates: vec![date("2026-05-05")],
            calendars: vec!["holidays-nl".to_string()],
        };
        assert!(ex.excludes_date(date("2026-05-05"), &cals));
        assert!(ex.excludes_date(date("2026-12-26"), &cals));
        assert!(!ex.excludes_date(date("2026-12-31"), &cals));
        assert!(!ex.excludes_date(date("2026-12-24"), &cals));
        assert_eq!(
            cals.names().collect::<Vec<_>>(),
            ["holidays-nl", "shutdown"]
        );
    }

    #[test]
    fn unknown_calendar_is_named_with_the_known_ones() {
        let ex = Exclusions {
            dates: vec![],
            calendars: vec!["holidays-nl".to_string(), "holidays-xx".to_string()],
        };
        let err = ex.validate(&calendars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown calendar `holidays-xx` (known calendars: holidays-nl, shutdown)"
        );
        let err = ex.validate(&Calendars::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown calendar `holidays-nl` (no calendars are configured)"
        );
        // A calendar removed after validation excludes nothing.
        assert!(!ex.excludes_date(date("2026-12-25"), &Calendars::default()));
    }

    #[test]
    fn serde_defaults_and_refuses_unknown_fields() {
        let ex: Exclusions = serde_json::from_str(r#"{"dates":["2026-12-25"]}"#).unwrap();
        assert_eq!(ex.dates, vec![date("2026-12-25")]);
        assert!(ex.calendars.is_empty());
        let empty: Exclusions = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert!(serde_json::from_str::<Exclusions>(r#"{"date":["2026-12-25"]}"#).is_err());
        assert_eq!(
            serde_json::to_string(&ex).unwrap(),
            r#"{"dates":["2026-12-25"],"calendars":[]}"#
        );
    }
}
