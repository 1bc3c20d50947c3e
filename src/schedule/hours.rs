//! Office-hours windows: "these targets run 09:00–18:00 Mon–Fri in Europe/Amsterdam".
//!
//! A window is a set of days, a start and an end wall time, and a zone. Each
//! listed day has one window, from its start to its end; an end before the
//! start crosses midnight, so `22:00–06:00` on Friday runs from Friday 22:00
//! to Saturday 06:00, and the whole of it belongs to Friday (an excluded
//! Friday keeps it closed; an excluded Saturday does not).
//!
//! The edges are two cron schedules ([`ValidWindow::start_schedule`],
//! [`ValidWindow::stop_schedule`]) evaluated with the daylight-saving rules of
//! [`super::timing`]: an edge whose wall time falls in a spring-forward gap
//! happens when the gap ends, one that falls in a repeated hour happens at its
//! first occurrence. [`ValidWindow::is_open`] resolves the same wall times the
//! same way, so it always agrees with the edges: open from the start edge's
//! instant (inclusive) to the stop edge's (exclusive).
//!
//! Two edges of one window can land on one instant, and then their jobs would
//! race in the queue; [`ValidWindow::idle_edge`] decides instead, so that an
//! edge acts only if it changes whether the window is open:
//! - a window lying wholly inside a gap (02:00–03:00 on a spring-forward
//!   night) opens and closes at the gap's end: it does not open that day, and
//!   neither edge acts ([`IdleEdge::Collapsed`]);
//! - a closing in a gap can meet the next day's opening (03:00–02:30 every
//!   day): the window stays open, so the closing does not act
//!   ([`IdleEdge::Reopened`]) and the opening does.

use std::fmt;
use std::iter::Peekable;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::{Calendars, Exclusions};
use super::timing::{CronSchedule, Firings, TimingError, parse_zone, resolve_local, wall_time};

/// A day of the week, written `"mon"` … `"sun"` (full names are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Day {
    /// Monday to Sunday.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// Monday to Friday, the usual office week.
    pub const WORKWEEK: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

    /// The same day as chrono's [`Weekday`].
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }

    /// The day for chrono's [`Weekday`].
    pub fn from_weekday(weekday: Weekday) -> Day {
        Day::ALL[weekday.num_days_from_monday() as usize]
    }

    /// The cron name, `MON` … `SUN`.
    fn cron_name(self) -> &'static str {
        match self {
            Day::Mon => "MON",
            Day::Tue => "TUE",
            Day::Wed => "WED",
            Day::Thu => "THU",
            Day::Fri => "FRI",
            Day::Sat => "SAT",
            Day::Sun => "SUN",
        }
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cron_name().to_ascii_lowercase())
    }
}

/// An office-hours window as people write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// The days whose window opens (`["mon", "tue", …]`); repeats count once.
    pub days: Vec<Day>,
    /// Local wall time the window opens, `"09:00"` (or `"09:00:30"`).
    #[serde(with = "wall_clock")]
    pub start: NaiveTime,
    /// Local wall time the window closes, `"18:00"`; before `start` means the
    /// next day (`22:00`–`06:00`), `"00:00"` means midnight at the day's end.
    #[serde(with = "wall_clock")]
    pub end: NaiveTime,
    /// IANA zone of the wall times, `Europe/Amsterdam`.
    pub zone: String,
}

/// Which edge of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// The window opens: start the targets.
    Start,
    /// The window closes: stop the targets.
    Stop,
}

impl WindowSpec {
    /// Checks the window: days non-empty, start != end, whole seconds, zone
    /// valid. An end before the start crosses midnight.
    pub fn validate(&self) -> Result<ValidWindow, TimingError> {
        let zone = parse_zone(&self.zone)?;
        let mut days = [false; 7];
        for day in &self.days {
            days[day.weekday().num_days_from_monday() as usize] = true;
        }
        if !days.contains(&true) {
            return Err(TimingError::BadWindow(
                "no days; list at least one, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]"
                    .to_string(),
            ));
        }
        for (what, time) in [("start", self.start), ("end", self.end)] {
            if time.nanosecond() != 0 {
                return Err(TimingError::BadWindow(format!(
                    "{what} {time} has a fraction of a second; use whole seconds, e.g. \"09:00\""
                )));
            }
        }
        if self.start == self.end {
            return Err(TimingError::BadWindow(format!(
                "start and end are both {}; a window needs a length (an end before the start crosses midnight, e.g. 22:00–06:00)",
                wall_clock::format(self.start)
            )));
        }
        let crosses_midnight = self.end < self.start;
        // A window crossing midnight closes on the day after each listed day.
        let mut stop_days = days;
        if crosses_midnight {
            stop_days.rotate_right(1);
        }
        let schedule = |time: NaiveTime, days: &[bool; 7]| {
            CronSchedule::parse(&edge_expression(time, days), &self.zone).map_err(|e| {
                // Unreachable: the expression is built from checked parts.
                TimingError::BadWindow(format!("cannot express its edges in cron: {e}"))
            })
        };
        Ok(ValidWindow {
            spec: self.clone(),
            zone,
            days,
            crosses_midnight,
            start: schedule(self.start, &days)?,
            stop: schedule(self.end, &stop_days)?,
        })
    }
}

/// The cron expression firing at `time` on `days` (Monday first): 5 fields,
/// or 6 when the time has seconds. Runs of three or more days become ranges
/// (`MON-FRI`, `FRI-SUN`), for readable previews.
fn edge_expression(time: NaiveTime, days: &[bool; 7]) -> String {
    let day_field = if days.iter().all(|d| *d) {
        "*".to_string()
    } else {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < 7 {
            if !days[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < 7 && days[j + 1] {
                j += 1;
            }
            if j - i >= 2 {
                parts.push(format!(
                    "{}-{}",
                    Day::ALL[i].cron_name(),
                    Day::ALL[j].cron_name()
                ));
            } else {
                parts.extend((i..=j).map(|k| Day::ALL[k].cron_name().to_string()));
            }
            i = j + 1;
        }
        parts.join(",")
    };
    let (h, m, s) = (time.hour(), time.minute(), time.second());
    if s == 0 {
        format!("{m} {h} * * {day_field}")
    } else {
        format!("{s} {m} {h} * * {day_field}")
    }
}

/// A checked window, with the cron schedules of its edges.
#[derive(Debug, Clone)]
pub struct ValidWindow {
    /// The window as given.
    spec: WindowSpec,
    /// The parsed zone.
    zone: Tz,
    /// Whether each day's window opens, Monday first.
    days: [bool; 7],
    /// The end is before the start: each window closes the next day.
    crosses_midnight: bool,
    /// Fires when a window opens.
    start: CronSchedule,
    /// Fires when a window closes.
    stop: CronSchedule,
}

impl ValidWindow {
    /// The window as given.
    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// The window's zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// True if each window closes on the day after it opens (`22:00–06:00`).
    pub fn crosses_midnight(&self) -> bool {
        self.crosses_midnight
    }

    /// When to start: the start time on each listed day (same DST rules as
    /// [`CronSchedule`]).
    pub fn start_schedule(&self) -> CronSchedule {
        self.start.clone()
    }

    /// When to stop: the end time on each listed day, or on the day after
    /// each listed day if the window crosses midnight (`0 6 * * SAT` for
    /// Friday 22:00–06:00).
    pub fn stop_schedule(&self) -> CronSchedule {
        self.stop.clone()
    }

    /// True if `at` lies inside an open window (start inclusive, end exclusive), honouring exclusions: an excluded day's window is closed.
    ///
    /// A window belongs to the day it opens, so an excluded Friday keeps
    /// Friday 22:00–Saturday 06:00 closed.
    pub fn is_open(
        &self,
        at: DateTime<Utc>,
        exclusions: &Exclusions,
        calendars: &Calendars,
    ) -> bool {
        let Some(today) = wall_time(self.zone, at).map(|wall| wall.date()) else {
            return false;
        };
        // Windows last under a day, so only today's and yesterday's can hold `at`.
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .any(|day| {
                self.interval(day)
                    .is_some_and(|(open, close)| open <= at && at < close)
                    && !exclusions.excludes_date(day, calendars)
            })
    }

    /// The next `n` (start, stop) edges after `after`: every firing of both
    /// edge schedules. Neither exclusions nor [`ValidWindow::idle_edge`] are
    /// applied; see [`ValidWindow::upcoming_edges_excluding`].
    pub fn upcoming_edges(&self, after: DateTime<Utc>, n: usize) -> Vec<(Edge, DateTime<Utc>)> {
        self.edges(after).take(n).collect()
    }

    /// The next `n` edges after `after` that act: those of windows that are
    /// not excluded, less the idle ones ([`ValidWindow::idle_edge`]).
    pub fn upcoming_edges_excluding(
        &self,
        after: DateTime<Utc>,
        n: usize,
        exclusions: &Exclusions,
        calendars: &Calendars,
    ) -> Vec<(Edge, DateTime<Utc>)> {
        self.edges(after)
            .filter(|(edge, at)| {
                self.edge_day(*edge, *at)
                    .is_none_or(|day| !exclusions.excludes_date(day, calendars))
                    && self.idle_edge(*edge, *at, exclusions, calendars).is_none()
            })
            .take(n)
            .collect()
    }

    /// Why the edge at `at` must not act although its day is not excluded,
    /// if it must not: it shares its instant with another edge of this
    /// window, and acting would make the window's machines disagree with
    /// [`ValidWindow::is_open`] (see the module doc). Deciding here, from the
    /// window alone, is what keeps the two edges' jobs from racing.
    pub fn idle_edge(
        &self,
        edge: Edge,
        at: DateTime<Utc>,
        exclusions: &Exclusions,
        calendars: &Calendars,
    ) -> Option<IdleEdge> {
        let day = self.edge_day(edge, at)?;
        let (open, close) = self.interval(day)?;
        if open == close {
            return Some(IdleEdge::Collapsed {
                day,
                start: self.spec.start,
                end: self.spec.end,
                zone: self.zone,
            });
        }
        // A closing is at the end of its own window (exclusive), so if the
        // window is open at that instant, another day's window opened then.
        (edge == Edge::Stop && self.is_open(at, exclusions, calendars))
            .then_some(IdleEdge::Reopened { day })
    }

    /// The local date whose window the edge at `at` opens or closes, or
    /// `None` if no window of this one has that edge at `at`.
    ///
    /// This is the date to check against exclusions when an edge fires: for
    /// a window crossing midnight, the Saturday 06:00 stop belongs to Friday.
    pub fn edge_day(&self, edge: Edge, at: DateTime<Utc>) -> Option<NaiveDate> {
        let today = wall_time(self.zone, at)?.date();
        // The edge's wall date is the window's day or the next; a gap can
        // push the instant a little later, never earlier.
        let candidates = [today.pred_opt()?.pred_opt(), today.pred_opt(), Some(today)];
        candidates.into_iter().flatten().find(|day| {
            self.interval(*day).is_some_and(|(open, close)| match edge {
                Edge::Start => open == at,
                Edge::Stop => close == at,
            })
        })
    }

    /// The instants the window of local date `day` opens and closes, if
    /// `day` is a listed day.
    fn interval(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days[day.weekday().num_days_from_monday() as usize] {
            return None;
        }
        let open = resolve_local(self.zone, day.and_time(self.spec.start))?;
        let close_day = if self.crosses_midnight {
            day.succ_opt()?
        } else {
            day
        };
        let close = resolve_local(self.zone, close_day.and_time(self.spec.end))?;
        Some((open, close))
    }

    /// Both edges' firings after `after`, merged in time order (a start
    /// first if both fall on one instant, as when a window lies in a gap).
    fn edges(&self, after: DateTime<Utc>) -> Edges<'_> {
        Edges {
            starts: self.start.firings(after).peekable(),
            stops: self.stop.firings(after).peekable(),
        }
    }
}

/// Why an edge of a window does nothing at its instant: see
/// [`ValidWindow::idle_edge`]. Its text is the reason recorded for the firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdleEdge {
    /// The window of `day` opens and closes at one instant: a daylight-saving
    /// change removed its wall times, so it does not open that day.
    Collapsed {
        day: NaiveDate,
        start: NaiveTime,
        end: NaiveTime,
        zone: Tz,
    },
    /// The window of `day` closes at the instant another opens: it stays open.
    Reopened { day: NaiveDate },
}

impl fmt::Display for IdleEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleEdge::Collapsed {
                day,
                start,
                end,
                zone,
            } => write!(
                f,
                "window collapsed by a DST change: {}–{} {zone} does not exist on {day}",
                wall_clock::format(*start),
                wall_clock::format(*end),
            ),
            IdleEdge::Reopened { day } => write!(
                f,
                "the window of {day} closes at the instant the next one opens (a DST change); \
                 it stays open"
            ),
        }
    }
}

/// Start and stop firings merged in time order.
struct Edges<'a> {
    /// The start schedule's firings.
    starts: Peekable<Firings<'a>>,
    /// The stop schedule's firings.
    stops: Peekable<Firings<'a>>,
}

impl Iterator for Edges<'_> {
    type Item = (Edge, DateTime<Utc>);

    fn next(&mut self) -> Option<(Edge, DateTime<Utc>)> {
        let start_first = match (self.starts.peek(), self.stops.peek()) {
            (Some(start), Some(stop)) => start <= stop,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if start_first {
            self.starts.next().map(|at| (Edge::Start, at))
        } else {
            self.stops.next().map(|at| (Edge::Stop, at))
        }
    }
}

/// `"09:00"` (or `"09:00:30"`) for window times.
mod wall_clock {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// `HH:MM`, or `HH:MM:SS` when there are seconds.
    pub(super) fn format(time: NaiveTime) -> String {
        if time.second() == 0 {
            time.format("%H:%M").to_string()
        } else {
            time.format("%H:%M:%S").to_string()
        }
    }

    pub(super) fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        if text.starts_with("24:") {
            return Err(D::Error::custom(
                "24:00 is not a time of day; end at \"00:00\" for midnight at the end of the day",
            ));
        }
        NaiveTime::parse_from_str(&text, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M"))
            .map_err(|_| {
                D::Error::custom(format!(
                    "`{text}` is not a time of day; write 24-hour \"HH:MM\", e.g. \"09:00\""
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn spec(days: &[Day], start: &str, end: &str) -> WindowSpec {
        WindowSpec {
            days: days.to_vec(),
            start: time(start),
            end: time(end),
            zone: "Europe/Amsterdam".to_string(),
        }
    }

    #[test]
    fn edge_expressions_are_compact_and_shift_across_midnight() {
        let w = spec(&Day::WORKWEEK, "09:00", "18:00").validate().unwrap();
        assert_eq!(w.start_schedule().expression(), "0 9 * * MON-FRI");
        assert_eq!(w.stop_schedule().expression(), "0 18 * * MON-FRI");
        let w = spec(&[Day::Fri], "22:00", "06:00").validate().unwrap();
        assert_eq!(w.start_schedule().expression(), "0 22 * * FRI");
        assert_eq!(w.stop_schedule().expression(), "0 6 * * SAT");
        let w = spec(&[Day::Sun, Day::Fri, Day::Sat], "22:30", "06:15")
            .validate()
            .unwrap();
        assert_eq!(w.start_schedule().expression(), "30 22 * * FRI-SUN");
        assert_eq!(w.stop_schedule().expression(), "15 6 * * MON,SAT,SUN");
        let w = spec(&Day::ALL, "09:00", "18:00").validate().unwrap();
        assert_eq!(w.start_schedule().expression(), "0 9 * * *");
        let w = spec(&[Day::Mon, Day::Wed, Day::Thu], "09:00", "00:00")
            .validate()
            .unwrap();
        assert_eq!(w.start_schedule().expression(), "0 9 * * MON,WED,THU");
        assert_eq!(w.stop_schedule().expression(), "0 0 * * TUE,THU,FRI");
        let mut with_seconds = spec(&[Day::Mon], "09:00", "18:00");
        with_seconds.start = NaiveTime::from_hms_opt(9, 0, 30).unwrap();
        let w = with_seconds.validate().unwrap();
        assert_eq!(w.start_schedule().expression(), "30 0 9 * * MON");
        assert_eq!(w.start_schedule().zone(), chrono_tz::Europe::Amsterdam);
    }

    #[test]
    fn serde_uses_short_names_and_hh_mm() {
        let json = r#"{"days":["mon","tue","wednesday"],"start":"09:00","end":"18:00:30","zone":"Europe/Amsterdam"}"#;
        let spec: WindowSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.days, vec![Day::Mon, Day::Tue, Day::Wed]);
        assert_eq!(spec.end, NaiveTime::from_hms_opt(18, 0, 30).unwrap());
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"days":["mon","tue","wed"],"start":"09:00","end":"18:00:30","zone":"Europe/Amsterdam"}"#
        );
        let err = serde_json::from_str::<WindowSpec>(
            r#"{"days":["mon"],"start":"09:00","end":"24:00","zone":"UTC"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("end at \"00:00\""), "{err}");
        let err = serde_json::from_str::<WindowSpec>(
            r#"{"days":["mon"],"start":"9am","end":"18:00","zone":"UTC"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`9am` is not a time of day"),
            "{err}"
        );
        assert!(
            serde_json::from_str::<WindowSpec>(
                r#"{"days":["Mon"],"start":"09:00","end":"18:00","zone":"UTC"}"#
            )
            .is_err()
        );
    }
}
