//! Cron expressions evaluated in an IANA time zone, with exact daylight-saving rules.
//!
//! A [`CronSchedule`] is a validated cron expression plus the zone whose wall
//! clock it reads. "09:00 Monday to Friday in Europe/Amsterdam" means 09:00 on
//! the Amsterdam wall clock all year, so the UTC instant moves by an hour when
//! the clocks change.
//!
//! # Syntax
//!
//! - 5 fields, `m h dom mon dow` (`0 9 * * MON-FRI`), or 6 with seconds first,
//!   `s m h dom mon dow` (`30 0 9 * * MON-FRI`).
//! - Each field is `*` or a comma list of `n`, `a-b`, `*/step`, `a-b/step` and
//!   `a/step` (from `a` to the field's maximum).
//! - Months take `JAN`–`DEC`, days of the week `SUN`–`SAT`, in any case. Day of
//!   week 0 and 7 are both Sunday; `SUN` at the end of a range is 7, so
//!   `FRI-SUN` works.
//! - Macros: `@hourly`, `@daily` (`@midnight`), `@weekly` (Sunday 00:00),
//!   `@monthly`, `@yearly` (`@annually`).
//! - Day of month and day of week combine as in Vixie cron: when both are
//!   restricted, a day matching *either* fires (`0 0 1,15 * MON` fires on the
//!   1st, the 15th and every Monday); when either field starts with `*` (`*`,
//!   `*/2`), a day must match both.
//! - Refused, with a message saying why and what to write instead: `@reboot`
//!   (a schedule needs times), a year field, Quartz extensions (`?`, `L`, `W`,
//!   `#`), out-of-range values, backwards ranges (`FRI-MON`), step 0, and
//!   expressions that can never fire (`0 0 30 FEB *`).
//!
//! # Daylight saving
//!
//! The expression is matched against **local wall-clock time** in the zone,
//! and each matching wall time becomes an instant as follows:
//!
//! - A wall time that happens once is that instant.
//! - A wall time that **does not exist** (the clocks spring forward over it)
//!   fires **once, at the first instant after the gap**, which is the
//!   transition itself: `30 2 * * *` in Europe/Amsterdam on 2026-03-29 fires at
//!   03:00 CEST (01:00 UTC). Several wall times in one gap (`*/15` at 02:00,
//!   02:15, 02:30, 02:45) collapse into that one firing, which also absorbs a
//!   regular firing at the gap's end (03:00).
//! - A wall time that **happens twice** (the clocks fall back over it) fires
//!   **once, at its first occurrence**, the earlier instant: `30 2 * * *` in
//!   Europe/Amsterdam on 2026-10-25 fires at 02:30 CEST (00:30 UTC), not again
//!   at 02:30 CET. The repeated hour's second pass never fires.
//! - Firings are strictly increasing instants, never duplicated.
//!
//! So a daily job fires exactly once every local day, an hourly job fires 23
//! times on a spring-forward day and 24 times (not 25) on a fall-back day.
//! [`resolve_local`] applies the same rule to one wall time; windows use it
//! so that "is the window open" agrees with the firings of its edges.
//!
//! # How
//!
//! `croner` finds matching wall times in a naive frame (it is handed UTC as if
//! it were the local clock, so it never sees a transition); each wall time is
//! then resolved in the real zone with the rules above, and any instant not
//! after the previous one (a gap's other wall times, the second pass of a
//! repeated hour) is skipped. The expression is parsed and checked here first,
//! for precise messages and POSIX semantics, and handed to `croner` as plain
//! numeric lists.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Why a schedule, window or exclusion list was refused. Each message says
/// what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The cron expression cannot be used; `reason` says why.
    #[error("invalid cron expression `{expression}`: {reason}")]
    BadExpression {
        /// The expression as given.
        expression: String,
        /// What is wrong, with an example of what works.
        reason: String,
    },
    /// Not an IANA time zone name; holds the name as given.
    #[error(
        "unknown time zone `{0}`: use an IANA name such as `Europe/Amsterdam`, `America/New_York` or `UTC`"
    )]
    BadZone(String),
    /// An exclusion names a calendar the configuration does not define.
    #[error("unknown calendar `{name}` ({})", known_calendars(.known))]
    UnknownCalendar {
        /// The name as given.
        name: String,
        /// The calendars that do exist, to suggest one.
        known: Vec<String>,
    },
    /// An office-hours window that cannot be used; holds the reason.
    #[error("invalid window: {0}")]
    BadWindow(String),
}

/// "known calendars: a, b" for [`TimingError::UnknownCalendar`].
fn known_calendars(known: &[String]) -> String {
    if known.is_empty() {
        "no calendars are configured".to_string()
    } else {
        format!("known calendars: {}", known.join(", "))
    }
}

/// Parses an IANA zone name (`Europe/Amsterdam`, `UTC`).
pub fn parse_zone(zone: &str) -> Result<Tz, TimingError> {
    Tz::from_str(zone).map_err(|_| TimingError::BadZone(zone.to_string()))
}

/// The wall-clock time of `at` in `zone`; `None` at the very ends of chrono's
/// range, where `DateTime::naive_local` would panic.
pub(crate) fn wall_time(zone: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc()
        .checked_add_signed(chrono::Duration::seconds(i64::from(
            offset.local_minus_utc(),
        )))
}

/// The instant that the wall time `local` in `zone` stands for under the
/// module's daylight-saving rules: itself if it happens once, its first
/// occurrence if it happens twice, the end of the gap if it never happens.
/// `None` only outside chrono's representable range.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => gap_end(zone, local),
    }
}

/// The first instant whose wall time in `zone` is past `local`, a wall time
/// inside a spring-forward gap: that is the transition instant.
///
/// Wall time only grows with the instant around a gap, so a binary search
/// over the instants within a day and a bit of `local` finds it. Offsets lie
/// within ±16 h, so the bounds below are before and after the gap.
fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const SPAN: i64 = 27 * 3600;
    let wall = |secs: i64| DateTime::from_timestamp(secs, 0).and_then(|at| wall_time(zone, at));
    let naive_secs = local.and_utc().timestamp();
    // Invariant: wall(lo) <= local < wall(hi).
    let mut lo = naive_secs - SPAN;
    let mut hi = naive_secs + SPAN;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid)? > local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// A validated cron expression with its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The expression as given (trimmed), for storage and display.
    expression: String,
    /// The expression as numeric lists, matched against naive wall time.
    cron: Cron,
    /// The zone whose wall clock the expression reads.
    zone: Tz,
}

impl CronSchedule {
    /// Parses `expression` (see the module doc for the syntax) in the IANA
    /// zone `zone`.
    pub fn parse(expression: &str, zone: &str) -> Result<Self, TimingError> {
        let expression = expression.trim();
        let zone = parse_zone(zone)?;
        let bad = |reason: String| TimingError::BadExpression {
            expression: expression.to_string(),
            reason,
        };
        let fields = Fields::parse(expression).map_err(bad)?;
        fields.check_fires().map_err(bad)?;
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .dom_and_dow(fields.dom_and_dow)
            .build()
            .parse(&fields.numeric())
            // Unreachable for what `Fields` accepts; kept as an error, not a panic.
            .map_err(|e| bad(format!("the cron engine refused it: {e}")))?;
        Ok(CronSchedule {
            expression: expression.to_string(),
            cron,
            zone,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone whose wall clock the expression reads.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first firing strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.firings(after).next()
    }

    /// The next `n` firings strictly after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        self.firings(after).take(n).collect()
    }

    /// Every firing in (from, to], at most `limit` (for counting missed
    /// firings after downtime). Getting `limit` back means there may be more.
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        if to <= from {
            return Vec::new();
        }
        self.firings(from)
            .take_while(|at| *at <= to)
            .take(limit)
            .collect()
    }

    /// The firings strictly after `after`, in order, without end (until the
    /// cron engine's horizon, the year 5000).
    pub(crate) fn firings(&self, after: DateTime<Utc>) -> Firings<'_> {
        // Whole seconds: cron has no finer unit, and a fractional cursor would
        // leak its fraction into every match. Flooring keeps "strictly after"
        // exact because candidates are compared with `after` itself.
        let wall = wall_time(self.zone, after).and_then(|wall| wall.with_nanosecond(0));
        Firings {
            schedule: self,
            cursor: wall,
            floor: after,
        }
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.expression, self.zone)
    }
}

/// Iterator over the firings of a [`CronSchedule`].
pub(crate) struct Firings<'a> {
    /// The schedule being iterated.
    schedule: &'a CronSchedule,
    /// The last wall time looked at; the next match is strictly after it.
    /// `None` once there is nothing more to find.
    cursor: Option<NaiveDateTime>,
    /// The last instant returned (or the start); the next is strictly after it.
    floor: DateTime<Utc>,
}

impl Iterator for Firings<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let zone = self.schedule.zone;
        // Terminates: the cursor strictly advances on every pass, and the
        // passes that return nothing are bounded by the length of one
        // repeated hour (a start inside its second pass) or are jumped over
        // (the wall times of a gap).
        loop {
            let probe = Utc.from_utc_datetime(&self.cursor?);
            let Ok(found) = self.schedule.cron.find_next_occurrence(&probe, false) else {
                // Past croner's horizon (the year 5000) or nothing left.
                self.cursor = None;
                return None;
            };
            let wall = found.naive_utc();
            self.cursor = Some(wall);
            let at = match zone.from_local_datetime(&wall) {
                LocalResult::Single(at) => at.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                LocalResult::None => {
                    let end = gap_end(zone, wall)?;
                    // Every other wall time in this gap resolves to `end` too:
                    // resume at the wall time where the gap ends instead of
                    // walking through them (a per-second schedule has 3600).
                    let resume = wall_time(zone, end)? - chrono::Duration::seconds(1);
                    self.cursor = Some(wall.max(resume));
                    end
                }
            };
            if at > self.floor {
                self.floor = at;
                return Some(at);
            }
        }
    }
}

/// The six fields of an expression, as bit sets of the values they match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    /// Seconds 0-59 (`0` for 5-field expressions).
    seconds: u64,
    /// Minutes 0-59.
    minutes: u64,
    /// Hours 0-23.
    hours: u64,
    /// Days of the month 1-31.
    days_of_month: u64,
    /// Months 1-12.
    months: u64,
    /// Days of the week 0-6, Sunday 0 (7 is folded into 0).
    days_of_week: u64,
    /// A day must match both day fields (Vixie: either starts with `*`);
    /// otherwise either is enough.
    dom_and_dow: bool,
    /// The day-of-month field as written, for messages.
    dom_text: String,
    /// The month field as written, for messages.
    month_text: String,
}

/// One of the six fields, for parsing and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

/// Month names, `JAN` = 1.
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Day names, `SUN` = 0.
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// What to write instead of a wrong number of fields.
const FIELD_HINT: &str = "use 5 (`m h dom mon dow`, e.g. `0 9 * * MON-FRI`) or 6 with seconds first (`s m h dom mon dow`, e.g. `30 0 9 * * MON-FRI`)";

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value the field takes (day of week 7 is Sunday).
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// The allowed values, for messages.
    fn allowed(self) -> &'static str {
        match self {
            Field::Second | Field::Minute => "0-59",
            Field::Hour => "0-23",
            Field::DayOfMonth => "1-31",
            Field::Month => "1-12 or JAN-DEC",
            Field::DayOfWeek => "0-7 (0 and 7 are Sunday) or SUN-SAT",
        }
    }

    /// The value of a name (`MON`, `jan`) in this field, if it has names.
    fn named(self, token: &str, range_end: bool) -> Option<u32> {
        let upper = token.to_ascii_uppercase();
        let position = |names: &[&str]| names.iter().position(|n| *n == upper);
        match self {
            Field::Month => position(&MONTHS).map(|i| i as u32 + 1),
            // `FRI-SUN` means Friday to Sunday, so Sunday closes a range as 7.
            Field::DayOfWeek => {
                position(&WEEKDAYS).map(|i| if i == 0 && range_end { 7 } else { i as u32 })
            }
            _ => None,
        }
    }

    /// A value token's meaning, or why it has none.
    fn value(self, token: &str, range_end: bool) -> Result<u32, String> {
        let (min, max) = self.bounds();
        let name = self.name();
        if token.is_empty() {
            return Err(format!("a {name} value is missing"));
        }
        if token.bytes().all(|b| b.is_ascii_digit()) {
            return match token.parse::<u32>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(format!(
                    "{name} {token} is out of range; use {}",
                    self.allowed()
                )),
            };
        }
        if let Some(v) = self.named(token, range_end) {
            return Ok(v);
        }
        let unsupported = if token == "?" {
            Some("`?` is Quartz syntax; write `*`")
        } else if token.contains('#') {
            Some("`#` (nth weekday of the month) is not supported")
        } else if token.eq_ignore_ascii_case("L") || token.to_ascii_uppercase().ends_with('L') {
            Some("`L` (last day) is not supported")
        } else if token.to_ascii_uppercase().ends_with('W') {
            Some("`W` (nearest weekday) is not supported")
        } else {
            None
        };
        Err(match unsupported {
            Some(why) => format!("`{token}` in the {name} field: {why}"),
            None => format!(
                "`{token}` is not valid in the {name} field; use {}",
                self.allowed()
            ),
        })
    }

    /// How to write the first and last value of the field in a hint, in
    /// names if the user wrote names, and the last value's number.
    fn edge_tokens(self, names: bool) -> (&'static str, &'static str, u32) {
        match (self, names) {
            (Field::Second | Field::Minute, _) => ("0", "59", 59),
            (Field::Hour, _) => ("0", "23", 23),
            (Field::DayOfMonth, _) => ("1", "31", 31),
            (Field::Month, true) => ("JAN", "DEC", 12),
            (Field::Month, false) => ("1", "12", 12),
            // Saturday, not 7: `SAT-MON` splits into `SAT,SUN-MON`.
            (Field::DayOfWeek, true) => ("SUN", "SAT", 6),
            (Field::DayOfWeek, false) => ("0", "6", 6),
        }
    }

    /// Why a backwards range (`22-6`, `FRI-MON`) is refused, with the two
    /// ranges that mean what was probably meant.
    fn backwards(self, a: &str, b: &str, from: u32, to: u32) -> String {
        let names = a.bytes().all(|c| c.is_ascii_alphabetic());
        let (first, last, last_value) = self.edge_tokens(names);
        let head = if from >= last_value {
            a.to_string()
        } else {
            format!("{a}-{last}")
        };
        let tail = if to <= self.bounds().0 {
            b.to_string()
        } else {
            format!("{first}-{b}")
        };
        format!(
            "the {} range `{a}-{b}` runs backwards; write it in two parts, e.g. `{head},{tail}`",
            self.name()
        )
    }

    /// Parses one field (`*`, `1-5`, `*/15`, `MON,WED`) into a bit set.
    fn parse(self, text: &str) -> Result<u64, String> {
        let (min, max) = self.bounds();
        let name = self.name();
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(format!("the {name} field `{text}` has an empty list item"));
            }
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => match step.parse::<u32>() {
                    Ok(0) => {
                        return Err(format!(
                            "step 0 in `{item}` ({name} field); steps start at 1, e.g. `*/15`"
                        ));
                    }
                    Ok(step) => (base, Some(step)),
                    Err(_) => {
                        return Err(format!(
                            "step `{step}` in `{item}` ({name} field) is not a whole number, e.g. `*/15`"
                        ));
                    }
                },
                None => (item, None),
            };
            let (from, to) = if base == "*" {
                (min, max)
            } else if let Some((a, b)) = base.split_once('-') {
                let from = self.value(a, false)?;
                let mut to = self.value(b, true)?;
                if self == Field::DayOfWeek && from == 0 && to == 7 && b.len() == 3 {
                    // `SUN-SUN` is Sunday, not the whole week.
                    to = 0;
                }
                if from > to {
                    return Err(self.backwards(a, b, from, to));
                }
                (from, to)
            } else {
                let from = self.value(base, false)?;
                // `a/step` runs from `a` to the field's end, as in croner and cronie.
                (from, if step.is_some() { max } else { from })
            };
            for v in (from..=to).step_by(step.unwrap_or(1) as usize) {
                bits |= 1 << v;
            }
        }
        if self == Field::DayOfWeek && bits & (1 << 7) != 0 {
            bits = (bits & !(1 << 7)) | 1;
        }
        Ok(bits)
    }
}

impl Fields {
    /// Parses a whole expression: a macro, 5 fields or 6 fields.
    fn parse(expression: &str) -> Result<Fields, String> {
        if expression.is_empty() {
            return Err(format!("it is empty; {FIELD_HINT}"));
        }
        let expanded;
        let text = if expression.starts_with('@') {
            expanded = expand_macro(expression)?;
            expanded.as_str()
        } else {
            expression
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            7 => {
                return Err(format!(
                    "it has 7 fields; a year field is not supported: {FIELD_HINT}"
                ));
            }
            1 => return Err(format!("it has 1 field; {FIELD_HINT}")),
            n => return Err(format!("it has {n} fields; {FIELD_HINT}")),
        };
        let (dom_text, dow_text) = (rest[2], rest[4]);
        Ok(Fields {
            seconds: Field::Second.parse(seconds)?,
            minutes: Field::Minute.parse(rest[0])?,
            hours: Field::Hour.parse(rest[1])?,
            days_of_month: Field::DayOfMonth.parse(dom_text)?,
            months: Field::Month.parse(rest[3])?,
            days_of_week: Field::DayOfWeek.parse(dow_text)?,
            // Vixie cron's rule: a field starting with `*` is "unrestricted"
            // and the day must match both; two restricted fields match either.
            dom_and_dow: dom_text.starts_with('*') || dow_text.starts_with('*'),
            dom_text: dom_text.to_string(),
            month_text: rest[3].to_string(),
        })
    }

    /// True if `date` is a day the expression fires on.
    fn matches_day(&self, date: NaiveDate) -> bool {
        let in_month = self.months & (1 << date.month()) != 0;
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        in_month
            && if self.dom_and_dow {
                dom && dow
            } else {
                dom || dow
            }
    }

    /// Refuses an expression no date can satisfy (`0 0 30 2 *`), which would
    /// otherwise be accepted and silently never fire.
    ///
    /// Within 1901–2099 the calendar repeats every 28 years and any 28
    /// consecutive years hold all 14 kinds of year (7 first weekdays, leap or
    /// not), so a day pattern that never matches in 2001–2028 never matches.
    fn check_fires(&self) -> Result<(), String> {
        let first = NaiveDate::from_ymd_opt(2001, 1, 1).expect("valid date");
        let last = NaiveDate::from_ymd_opt(2028, 12, 31).expect("valid date");
        let fires = first
            .iter_days()
            .take_while(|d| *d <= last)
            .any(|d| self.matches_day(d));
        if fires {
            Ok(())
        } else {
            Err(format!(
                "it never fires: no date has day-of-month `{}` in month `{}`",
                self.dom_text, self.month_text
            ))
        }
    }

    /// The expression as six numeric lists, for croner.
    ///
    /// Lists, never `*`, in the day fields: croner only treats a literal `*`
    /// as unrestricted, and the Vixie rule is passed to it as `dom_and_dow`.
    fn numeric(&self) -> String {
        let list = |bits: u64, (min, max): (u32, u32)| {
            (min..=max)
                .filter(|v| bits & (1 << v) != 0)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "{} {} {} {} {} {}",
            list(self.seconds, Field::Second.bounds()),
            list(self.minutes, Field::Minute.bounds()),
            list(self.hours, Field::Hour.bounds()),
            list(self.days_of_month, Field::DayOfMonth.bounds()),
            list(self.months, Field::Month.bounds()),
            list(self.days_of_week, (0, 6)),
        )
    }
}

/// The fields a macro stands for, or why it is refused.
fn expand_macro(expression: &str) -> Result<String, String> {
    let fields = match expression.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Err(
                "`@reboot` runs at boot, not at a time of day, and a schedule needs times; write e.g. `@daily` or `0 9 * * MON-FRI`"
                    .to_string(),
            );
        }
        _ => {
            return Err(format!(
                "unknown macro `{}`; use `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`), or fields such as `0 9 * * MON-FRI`",
                expression.split_whitespace().next().unwrap_or(expression)
            ));
        }
    };
    Ok(fields.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn fields_expand_names_steps_and_sunday_seven() {
        let f = Fields::parse("*/20 9-17/4 1,15 jan-MAR mon-FRI").unwrap();
        assert_eq!(f.seconds, 1);
        assert_eq!(f.minutes, 1 | 1 << 20 | 1 << 40);
        assert_eq!(f.hours, 1 << 9 | 1 << 13 | 1 << 17);
        assert_eq!(f.days_of_month, 1 << 1 | 1 << 15);
        assert_eq!(f.months, 0b1110);
        assert_eq!(f.days_of_week, 0b11_1110);
        assert!(!f.dom_and_dow);
        assert_eq!(Fields::parse("0 0 * * 7").unwrap().days_of_week, 1);
        assert_eq!(
            Fields::parse("0 0 * * FRI-SUN").unwrap().days_of_week,
            1 | 1 << 5 | 1 << 6
        );
        assert_eq!(
            Fields::parse("0 0 * * 5-7").unwrap().days_of_week,
            1 | 1 << 5 | 1 << 6
        );
        assert_eq!(
            Fields::parse("50/5 * * * *").unwrap().minutes,
            1 << 50 | 1 << 55
        );
        assert_eq!(Fields::parse("0 0 * * SUN-SUN").unwrap().days_of_week, 1);
        assert_eq!(Fields::parse("0 0 * * sun-sat").unwrap().days_of_week, 0x7f);
        assert_eq!(Fields::parse("0 0 * * 0-7").unwrap().days_of_week, 0x7f);
    }

    #[test]
    fn numeric_form_never_uses_star_in_day_fields() {
        let f = Fields::parse("0 9 * * MON-FRI").unwrap();
        assert_eq!(
            f.numeric(),
            "0 0 9 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31 1,2,3,4,5,6,7,8,9,10,11,12 1,2,3,4,5"
        );
        assert!(f.dom_and_dow);
    }

    #[test]
    fn day_fields_combine_like_vixie_cron() {
        let date = |d: u32| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
        // Both restricted: either. 2026-06-01 is a Monday, 06-15 a Monday, 06-08 a Monday.
        let either = Fields::parse("0 0 1,20 * MON").unwrap();
        assert!(either.matches_day(date(1)));
        assert!(either.matches_day(date(8)));
        assert!(either.matches_day(date(20)));
        assert!(!either.matches_day(date(9)));
        // A star-led field: both.
        let both = Fields::parse("0 0 */2 * MON").unwrap();
        assert!(both.matches_day(date(1)));
        assert!(!both.matches_day(date(8)));
        assert!(both.matches_day(date(15)));
        assert!(!both.matches_day(date(3)));
        // The same through croner.
        let s = CronSchedule::parse("0 0 */2 * MON", "UTC").unwrap();
        assert_eq!(
            s.upcoming(utc("2026-05-31T00:00:00Z"), 3),
            vec![
                utc("2026-06-01T00:00:00Z"),
                utc("2026-06-15T00:00:00Z"),
                utc("2026-06-29T00:00:00Z")
            ]
        );
        let s = CronSchedule::parse("0 0 1,20 * MON", "UTC").unwrap();
        assert_eq!(
            s.upcoming(utc("2026-06-01T00:00:00Z"), 3),
            vec![
                utc("2026-06-08T00:00:00Z"),
                utc("2026-06-15T00:00:00Z"),
                utc("2026-06-20T00:00:00Z")
            ]
        );
    }

    #[test]
    fn never_firing_days_are_refused_but_leap_day_is_not() {
        assert!(Fields::parse("0 0 30 2 *").unwrap().check_fires().is_err());
        assert!(
            Fields::parse("0 0 31 APR,JUN,SEP,NOV *")
                .unwrap()
                .check_fires()
                .is_err()
        );
        assert!(Fields::parse("0 0 29 2 *").unwrap().check_fires().is_ok());
        // Feb 29 that is a Monday, only with the AND rule: 2016, 2044.
        assert!(Fields::parse("0 0 29 2 */1").unwrap().check_fires().is_ok());
        // Both restricted: the Mondays of February fire anyway.
        assert!(Fields::parse("0 0 30 2 MON").unwrap().check_fires().is_ok());
    }

    #[test]
    fn gap_end_is_the_transition_instant() {
        let ams = chrono_tz::Europe::Amsterdam;
        for local in [
            "2026-03-29 02:00:00",
            "2026-03-29 02:30:00",
            "2026-03-29 02:59:59",
        ] {
            assert_eq!(gap_end(ams, wall(local)), Some(utc("2026-03-29T01:00:00Z")));
        }
        // Lord Howe springs forward by half an hour (02:00 -> 02:30).
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            resolve_local(lord_howe, wall("2026-10-04 02:15:00")),
            Some(utc("2026-10-03T15:30:00Z"))
        );
    }

    #[test]
    fn resolve_local_takes_the_first_of_a_repeated_time() {
        let ams = chrono_tz::Europe::Amsterdam;
        assert_eq!(
            resolve_local(ams, wall("2026-10-25 02:30:00")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            resolve_local(ams, wall("2026-10-25 03:00:00")),
            Some(utc("2026-10-25T02:00:00Z"))
        );
    }

    #[test]
    fn per_second_schedule_crosses_a_gap_and_a_repeated_hour_quickly() {
        let every_second = CronSchedule::parse("* * * * * *", "Europe/Amsterdam").unwrap();
        // Just before the gap: 01:59:59 CET, then the gap collapses to 03:00:00 CEST.
        assert_eq!(
            every_second.upcoming(utc("2026-03-29T00:59:58Z"), 3),
            vec![
                utc("2026-03-29T00:59:59Z"),
                utc("2026-03-29T01:00:00Z"),
                utc("2026-03-29T01:00:01Z")
            ]
        );
        // Starting inside the second pass of the repeated hour (02:00:00 CET):
        // every wall time up to 03:00 was already had, in the first pass.
        assert_eq!(
            every_second.next_after(utc("2026-10-25T01:00:00Z")),
            Some(utc("2026-10-25T02:00:00Z"))
        );
    }

    #[test]
    fn fractional_after_is_still_strict() {
        let s = CronSchedule::parse("0 * * * *", "UTC").unwrap();
        let after = utc("2026-01-01T09:00:00.5Z");
        assert_eq!(s.next_after(after), Some(utc("2026-01-01T10:00:00Z")));
        let just_before = utc("2026-01-01T08:59:59.999Z");
        assert_eq!(s.next_after(just_before), Some(utc("2026-01-01T09:00:00Z")));
    }

    #[test]
    fn far_future_ends_without_panicking() {
        let s = CronSchedule::parse("0 0 1 1 *", "UTC").unwrap();
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        let ams = CronSchedule::parse("0 0 1 1 *", "Europe/Amsterdam").unwrap();
        assert_eq!(ams.next_after(DateTime::<Utc>::MAX_UTC), None);
        let ny = CronSchedule::parse("0 0 1 1 *", "America/New_York").unwrap();
        let _ = ny.next_after(DateTime::<Utc>::MIN_UTC);
        assert!(s.next_after(utc("4998-06-01T00:00:00Z")).is_some());
    }
}
