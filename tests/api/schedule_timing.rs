//! The time logic of schedules: cron parsing, firings in IANA zones across
//! daylight-saving transitions, exclusions and office-hours windows.
//!
//! Every instant is fixed; nothing reads a clock or sleeps.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use machinist::schedule::calendar::{Calendars, Exclusions};
use machinist::schedule::hours::{Day, Edge, IdleEdge, ValidWindow, WindowSpec};
use machinist::schedule::timing::{CronSchedule, TimingError};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
    list.iter().map(|s| utc(s)).collect()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn cron(expression: &str, zone: &str) -> CronSchedule {
    CronSchedule::parse(expression, zone)
        .unwrap_or_else(|e| panic!("`{expression}` in {zone}: {e}"))
}

fn zone(name: &str) -> Tz {
    name.parse().unwrap()
}

/// The first instant of a local date (its midnight, or the first instant
/// after it if midnight itself is skipped).
fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    machinist::schedule::timing::resolve_local(tz, day.and_hms_opt(0, 0, 0).unwrap()).unwrap()
}

/// The firings whose instant falls on local date `day`: [day start, next day start).
fn firings_on(schedule: &CronSchedule, day: NaiveDate) -> Vec<DateTime<Utc>> {
    let tz = schedule.zone();
    let from = day_start(tz, day) - Duration::nanoseconds(1);
    let to = day_start(tz, day.succ_opt().unwrap()) - Duration::nanoseconds(1);
    schedule.between(from, to, 10_000)
}

fn wall(at: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

fn bad_expression(expression: &str) -> String {
    match CronSchedule::parse(expression, "UTC") {
        Ok(_) => panic!("`{expression}` was accepted"),
        Err(e @ TimingError::BadExpression { .. }) => e.to_string(),
        Err(e) => panic!("`{expression}`: wrong error {e:?}"),
    }
}

// ---------------------------------------------------------------- parsing

#[test]
fn every_accepted_form_parses_and_means_what_it_says() {
    let after = utc("2026-06-10T10:20:30Z"); // a Wednesday
    let cases: &[(&str, &[&str])] = &[
        // 5 fields.
        (
            "0 9 * * *",
            &["2026-06-11T09:00:00Z", "2026-06-12T09:00:00Z"],
        ),
        (
            "*/20 * * * *",
            &["2026-06-10T10:40:00Z", "2026-06-10T11:00:00Z"],
        ),
        // 6 fields, seconds first.
        (
            "*/15 * * * * *",
            &["2026-06-10T10:20:45Z", "2026-06-10T10:21:00Z"],
        ),
        (
            "30 0 9 * * *",
            &["2026-06-11T09:00:30Z", "2026-06-12T09:00:30Z"],
        ),
        // Macros, in any case.
        ("@hourly", &["2026-06-10T11:00:00Z", "2026-06-10T12:00:00Z"]),
        ("@daily", &["2026-06-11T00:00:00Z", "2026-06-12T00:00:00Z"]),
        (
            "@midnight",
            &["2026-06-11T00:00:00Z", "2026-06-12T00:00:00Z"],
        ),
        ("@DAILY", &["2026-06-11T00:00:00Z", "2026-06-12T00:00:00Z"]),
        ("@weekly", &["2026-06-14T00:00:00Z", "2026-06-21T00:00:00Z"]),
        (
            "@monthly",
            &["2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"],
        ),
        ("@yearly", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
        (
            "@annually",
            &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"],
        ),
        // Names, case-insensitive, in lists and ranges.
        (
            "0 9 * * MON-FRI",
            &["2026-06-11T09:00:00Z", "2026-06-12T09:00:00Z"],
        ),
        (
            "0 9 * * mon-fri",
            &["2026-06-11T09:00:00Z", "2026-06-12T09:00:00Z"],
        ),
        (
            "0 9 * * sat,Sun",
            &["2026-06-13T09:00:00Z", "2026-06-14T09:00:00Z"],
        ),
        (
            "0 9 * * FRI-SUN",
            &["2026-06-12T09:00:00Z", "2026-06-13T09:00:00Z"],
        ),
        (
            "0 0 1 jan,JUL *",
            &["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"],
        ),
        (
            "0 0 1 FEB-APR *",
            &["2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"],
        ),
        // Day of week 0 and 7 are both Sunday.
        (
            "0 9 * * 0",
            &["2026-06-14T09:00:00Z", "2026-06-21T09:00:00Z"],
        ),
        (
            "0 9 * * 7",
            &["2026-06-14T09:00:00Z", "2026-06-21T09:00:00Z"],
        ),
        // Ranges, steps, lists and their mixes.
        (
            "0 8-10 * * *",
            &["2026-06-11T08:00:00Z", "2026-06-11T09:00:00Z"],
        ),
        (
            "0 9-17/4 * * *",
            &["2026-06-10T13:00:00Z", "2026-06-10T17:00:00Z"],
        ),
        (
            "5,35 * * * *",
            &["2026-06-10T10:35:00Z", "2026-06-10T11:05:00Z"],
        ),
        (
            "0 0 1,15 * *",
            &["2026-06-15T00:00:00Z", "2026-07-01T00:00:00Z"],
        ),
        (
            "10-20/5,50 10 * * *",
            &["2026-06-10T10:50:00Z", "2026-06-11T10:10:00Z"],
        ),
        (
            "45/5 10 10 6 *",
            &["2026-06-10T10:45:00Z", "2026-06-10T10:50:00Z"],
        ),
        // Both day fields restricted: either matches (the 15th or a Monday).
        (
            "0 0 15 * MON",
            &["2026-06-15T00:00:00Z", "2026-06-22T00:00:00Z"],
        ),
        // Leap day: rare, but it fires.
        (
            "0 0 29 2 *",
            &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        ),
        // Extra whitespace is fine.
        (
            "  0   9 * *\tMON-FRI ",
            &["2026-06-11T09:00:00Z", "2026-06-12T09:00:00Z"],
        ),
    ];
    for (expression, expected) in cases {
        let schedule = cron(expression, "UTC");
        assert_eq!(
            schedule.upcoming(after, 2),
            utcs(expected),
            "`{expression}`"
        );
    }
    let schedule = cron("  0 9 * * MON-FRI ", "Europe/Amsterdam");
    assert_eq!(schedule.expression(), "0 9 * * MON-FRI");
    assert_eq!(schedule.zone(), chrono_tz::Europe::Amsterdam);
    assert_eq!(schedule.to_string(), "0 9 * * MON-FRI in Europe/Amsterdam");
    assert_eq!(cron("@daily", "Etc/UTC").expression(), "@daily");
}

#[test]
fn rejected_expressions_say_what_is_wrong_and_what_to_write() {
    assert_eq!(
        bad_expression("0 9 * *"),
        "invalid cron expression `0 9 * *`: it has 4 fields; use 5 (`m h dom mon dow`, e.g. `0 9 * * MON-FRI`) or 6 with seconds first (`s m h dom mon dow`, e.g. `30 0 9 * * MON-FRI`)"
    );
    let cases: &[(&str, &str)] = &[
        ("", "it is empty; use 5 (`m h dom mon dow`"),
        ("   ", "it is empty"),
        ("garbage", "it has 1 field; use 5"),
        (
            "0 0 9 * * * 2026",
            "it has 7 fields; a year field is not supported",
        ),
        ("1 2 3 4 5 6 7 8", "it has 8 fields"),
        ("@reboot", "`@reboot` runs at boot, not at a time of day"),
        (
            "@every 5m",
            "unknown macro `@every`; use `@hourly`, `@daily`",
        ),
        ("60 * * * *", "minute 60 is out of range; use 0-59"),
        ("0 24 * * *", "hour 24 is out of range; use 0-23"),
        ("0 0 0 * *", "day-of-month 0 is out of range; use 1-31"),
        ("0 0 32 * *", "day-of-month 32 is out of range"),
        (
            "0 0 * 13 *",
            "month 13 is out of range; use 1-12 or JAN-DEC",
        ),
        (
            "0 0 * * 8",
            "day-of-week 8 is out of range; use 0-7 (0 and 7 are Sunday) or SUN-SAT",
        ),
        ("60 0 9 * * *", "second 60 is out of range"),
        ("99999999999 * * * *", "minute 99999999999 is out of range"),
        (
            "x * * * *",
            "`x` is not valid in the minute field; use 0-59",
        ),
        (
            "0 9 * * MONDAY",
            "`MONDAY` is not valid in the day-of-week field",
        ),
        (
            "0 9 * JAN MON-FRI-SAT",
            "`FRI-SAT` is not valid in the day-of-week field",
        ),
        ("0 9 * * XYZ", "`XYZ` is not valid in the day-of-week field"),
        (
            "0 MON * * *",
            "`MON` is not valid in the hour field; use 0-23",
        ),
        ("0 9 ? * MON", "`?` is Quartz syntax; write `*`"),
        ("0 9 L * *", "`L` (last day) is not supported"),
        ("0 9 * * 5L", "`L` (last day) is not supported"),
        ("0 9 15W * *", "`W` (nearest weekday) is not supported"),
        (
            "0 9 * * MON#2",
            "`#` (nth weekday of the month) is not supported",
        ),
        (
            "*/0 * * * *",
            "step 0 in `*/0` (minute field); steps start at 1",
        ),
        (
            "*/x * * * *",
            "step `x` in `*/x` (minute field) is not a whole number",
        ),
        (
            "0 22-6 * * *",
            "the hour range `22-6` runs backwards; write it in two parts, e.g. `22-23,0-6`",
        ),
        (
            "0 9 * * FRI-MON",
            "the day-of-week range `FRI-MON` runs backwards; write it in two parts, e.g. `FRI-SAT,SUN-MON`",
        ),
        ("0 9 * * SAT-MON", "e.g. `SAT,SUN-MON`"),
        ("0 9 * * 5-1", "e.g. `5-6,0-1`"),
        ("0 0 1 DEC-FEB *", "e.g. `DEC,JAN-FEB`"),
        ("0 0 1 11-1 *", "e.g. `11-12,1`"),
        ("0 23-1 * * *", "e.g. `23,0-1`"),
        (
            "1,,2 * * * *",
            "the minute field `1,,2` has an empty list item",
        ),
        ("-5 * * * *", "a minute value is missing"),
        (
            "0 0 30 2 *",
            "it never fires: no date has day-of-month `30` in month `2`",
        ),
        ("0 0 31 APR,JUN,SEP,NOV *", "it never fires"),
    ];
    for (expression, expected) in cases {
        let message = bad_expression(expression);
        assert!(
            message.contains(expected),
            "`{expression}`: {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn bad_zones_are_named() {
    for name in ["Mars/Olympus", "europe/amsterdam", "", "CEST", "+02:00"] {
        let err = CronSchedule::parse("0 9 * * *", name).unwrap_err();
        assert_eq!(err, TimingError::BadZone(name.to_string()));
        assert_eq!(
            err.to_string(),
            format!(
                "unknown time zone `{name}`: use an IANA name such as `Europe/Amsterdam`, `America/New_York` or `UTC`"
            )
        );
    }
    for name in [
        "UTC",
        "Etc/UTC",
        "Europe/Amsterdam",
        "America/New_York",
        "Australia/Sydney",
    ] {
        assert!(CronSchedule::parse("0 9 * * *", name).is_ok(), "{name}");
    }
}

// ------------------------------------------------------- daylight saving

/// One daylight-saving transition: the instant, and the UTC offsets (hours)
/// just before and after it.
struct Transition {
    zone: &'static str,
    /// The local date of the change.
    day: &'static str,
    at: &'static str,
    before: i32,
    after: i32,
}

const TRANSITIONS: [Transition; 6] = [
    Transition {
        zone: "Europe/Amsterdam",
        day: "2026-03-29",
        at: "2026-03-29T01:00:00Z",
        before: 1,
        after: 2,
    },
    Transition {
        zone: "Europe/Amsterdam",
        day: "2026-10-25",
        at: "2026-10-25T01:00:00Z",
        before: 2,
        after: 1,
    },
    Transition {
        zone: "America/New_York",
        day: "2026-03-08",
        at: "2026-03-08T07:00:00Z",
        before: -5,
        after: -4,
    },
    Transition {
        zone: "America/New_York",
        day: "2026-11-01",
        at: "2026-11-01T06:00:00Z",
        before: -4,
        after: -5,
    },
    // Southern hemisphere: autumn in April, spring in October.
    Transition {
        zone: "Australia/Sydney",
        day: "2026-04-05",
        at: "2026-04-04T16:00:00Z",
        before: 11,
        after: 10,
    },
    Transition {
        zone: "Australia/Sydney",
        day: "2026-10-04",
        at: "2026-10-03T16:00:00Z",
        before: 10,
        after: 11,
    },
];

#[test]
fn transition_dates_agree_with_chrono_tz() {
    for t in &TRANSITIONS {
        let tz = zone(t.zone);
        let at = utc(t.at);
        let offset = |instant: DateTime<Utc>| {
            tz.offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc()
                / 3600
        };
        assert_eq!(
            offset(at - Duration::seconds(1)),
            t.before,
            "{} {}",
            t.zone,
            t.at
        );
        assert_eq!(offset(at), t.after, "{} {}", t.zone, t.at);
        assert_eq!(wall(at, tz).date(), date(t.day), "{} {}", t.zone, t.at);
        // No other change within a week either side.
        assert_eq!(offset(at - Duration::days(7)), t.before);
        assert_eq!(offset(at + Duration::days(7)), t.after);
    }
}

#[test]
fn daily_at_0230_fires_once_on_each_transition_day() {
    // (zone, expression, after, the three firings around the transition day)
    let cases: &[(&str, &str, &str, [&str; 3])] = &[
        // Gap: 02:30 does not exist; fires when the gap ends, 03:00 CEST.
        (
            "Europe/Amsterdam",
            "30 2 * * *",
            "2026-03-27T12:00:00Z",
            [
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
            ],
        ),
        // Overlap: 02:30 happens twice; fires at the first, 02:30 CEST.
        (
            "Europe/Amsterdam",
            "30 2 * * *",
            "2026-10-23T12:00:00Z",
            [
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
            ],
        ),
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-06T12:00:00Z",
            [
                "2026-03-07T07:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
            ],
        ),
        // New York repeats 01:00-02:00, so 02:30 is ordinary on 2026-11-01 …
        (
            "America/New_York",
            "30 2 * * *",
            "2026-10-30T12:00:00Z",
            [
                "2026-10-31T06:30:00Z",
                "2026-11-01T07:30:00Z",
                "2026-11-02T07:30:00Z",
            ],
        ),
        // … and 01:30 is the time that happens twice: first occurrence, EDT.
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-30T12:00:00Z",
            [
                "2026-10-31T05:30:00Z",
                "2026-11-01T05:30:00Z",
                "2026-11-02T06:30:00Z",
            ],
        ),
        // Sydney falls back 03:00 -> 02:00: 02:30 AEDT (+11) first.
        (
            "Australia/Sydney",
            "30 2 * * *",
            "2026-04-03T00:00:00Z",
            [
                "2026-04-03T15:30:00Z",
                "2026-04-04T15:30:00Z",
                "2026-04-05T16:30:00Z",
            ],
        ),
        // Sydney springs forward 02:00 -> 03:00: 03:00 AEDT.
        (
            "Australia/Sydney",
            "30 2 * * *",
            "2026-10-02T00:00:00Z",
            [
                "2026-10-02T16:30:00Z",
                "2026-10-03T16:00:00Z",
                "2026-10-04T15:30:00Z",
            ],
        ),
    ];
    for (zone_name, expression, after, expected) in cases {
        let schedule = cron(expression, zone_name);
        assert_eq!(
            schedule.upcoming(utc(after), 3),
            utcs(expected),
            "`{expression}` in {zone_name} after {after}"
        );
        // Exactly once on each of those local days.
        for at in utcs(expected) {
            let day = wall(at, schedule.zone()).date();
            assert_eq!(firings_on(&schedule, day), vec![at], "{zone_name} {day}");
        }
    }
}

#[test]
fn weekday_nine_oclock_stays_at_nine_local_across_each_change() {
    let cases: &[(&str, &str, [&str; 2])] = &[
        // (zone, after, [Friday before, Monday after])
        (
            "Europe/Amsterdam",
            "2026-03-26T12:00:00Z",
            ["2026-03-27T08:00:00Z", "2026-03-30T07:00:00Z"],
        ),
        (
            "Europe/Amsterdam",
            "2026-10-22T12:00:00Z",
            ["2026-10-23T07:00:00Z", "2026-10-26T08:00:00Z"],
        ),
        (
            "America/New_York",
            "2026-03-05T18:00:00Z",
            ["2026-03-06T14:00:00Z", "2026-03-09T13:00:00Z"],
        ),
        (
            "America/New_York",
            "2026-10-29T18:00:00Z",
            ["2026-10-30T13:00:00Z", "2026-11-02T14:00:00Z"],
        ),
        (
            "Australia/Sydney",
            "2026-04-02T00:00:00Z",
            ["2026-04-02T22:00:00Z", "2026-04-05T23:00:00Z"],
        ),
        (
            "Australia/Sydney",
            "2026-10-01T00:00:00Z",
            ["2026-10-01T23:00:00Z", "2026-10-04T22:00:00Z"],
        ),
    ];
    for (zone_name, after, expected) in cases {
        let schedule = cron("0 9 * * MON-FRI", zone_name);
        let got = schedule.upcoming(utc(after), 2);
        assert_eq!(got, utcs(expected), "{zone_name} after {after}");
        for at in got {
            assert_eq!(
                wall(at, schedule.zone()).time(),
                NaiveTime::from_hms_opt(9, 0, 0).unwrap()
            );
        }
        // The UTC time of day moved by exactly the change.
        let (friday, monday) = (utc(expected[0]), utc(expected[1]));
        assert_eq!(
            (monday - friday - Duration::days(3)).num_minutes().abs(),
            60,
            "{zone_name}"
        );
    }
}

#[test]
fn every_quarter_hour_collapses_a_gap_and_never_repeats_an_hour() {
    // Amsterdam, spring: 01:45 CET, then 02:00-02:45 do not exist and fire
    // once at 03:00 CEST, which is also 03:00's own firing.
    let quarter = cron("*/15 * * * *", "Europe/Amsterdam");
    assert_eq!(
        quarter.between(
            utc("2026-03-29T00:30:00Z"),
            utc("2026-03-29T01:30:00Z"),
            100
        ),
        utcs(&[
            "2026-03-29T00:45:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:15:00Z",
            "2026-03-29T01:30:00Z",
        ])
    );
    // Amsterdam, autumn: 02:00-02:45 CEST fire, the second pass (CET) does
    // not, and 03:00 CET follows 75 minutes after 02:45 CEST.
    assert_eq!(
        quarter.between(
            utc("2026-10-24T23:50:00Z"),
            utc("2026-10-25T02:15:00Z"),
            100
        ),
        utcs(&[
            "2026-10-25T00:00:00Z",
            "2026-10-25T00:15:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T00:45:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T02:15:00Z",
        ])
    );
    // Every transition: 92 firings on a spring-forward day (96 wall times,
    // four of them in the gap, merged into the gap end's own firing), 96 on
    // a fall-back day (each wall time once), 96 on the days around; wall
    // times and instants strictly increasing.
    for t in &TRANSITIONS {
        let schedule = cron("*/15 * * * *", t.zone);
        let tz = schedule.zone();
        let day = date(t.day);
        let spring = t.after > t.before;
        let firings = firings_on(&schedule, day);
        assert_eq!(
            firings.len(),
            if spring { 92 } else { 96 },
            "{} {}",
            t.zone,
            t.day
        );
        // The gap's end fires; the repeated hour's second pass starts silently.
        assert_eq!(firings.contains(&utc(t.at)), spring, "{} {}", t.zone, t.day);
        assert_strictly_increasing(&firings, tz);
        for neighbour in [day.pred_opt().unwrap(), day.succ_opt().unwrap()] {
            assert_eq!(
                firings_on(&schedule, neighbour).len(),
                96,
                "{} {neighbour}",
                t.zone
            );
        }
    }
}

#[test]
fn hourly_counts_around_each_transition() {
    for t in &TRANSITIONS {
        let schedule = cron("0 * * * *", t.zone);
        let tz = schedule.zone();
        let day = date(t.day);
        let spring = t.after > t.before;
        // The transition day: 23 local hours, or 25 with one hour repeated
        // that fires only once: 23 and 24 firings.
        let on_day = firings_on(&schedule, day);
        assert_eq!(
            on_day.len(),
            if spring { 23 } else { 24 },
            "{} {}",
            t.zone,
            t.day
        );
        assert_strictly_increasing(&on_day, tz);
        // The days around are ordinary.
        assert_eq!(firings_on(&schedule, day.pred_opt().unwrap()).len(), 24);
        assert_eq!(firings_on(&schedule, day.succ_opt().unwrap()).len(), 24);
        // 48 real hours around the change: every real hour's top is a local
        // top of hour, except during a repeated hour's second pass.
        let at = utc(t.at);
        let around = schedule.between(at - Duration::hours(24), at + Duration::hours(24), 1000);
        assert_eq!(
            around.len(),
            if spring { 48 } else { 47 },
            "{} {}",
            t.zone,
            t.at
        );
        assert_strictly_increasing(&around, tz);
        // The same count from the local days either side: 24 + (23|24) + 24.
        let three_days = schedule.between(
            day_start(tz, day.pred_opt().unwrap()) - Duration::seconds(1),
            day_start(tz, day.succ_opt().unwrap().succ_opt().unwrap()) - Duration::seconds(1),
            1000,
        );
        assert_eq!(three_days.len(), if spring { 71 } else { 72 });
    }
}

#[test]
fn starting_inside_a_gap_or_a_repeated_hour() {
    let ams = "Europe/Amsterdam";
    // 00:30 UTC = 02:30 CEST, inside the first pass of the repeated hour:
    // the rest of the first pass fires, the second pass does not.
    let quarter = cron("*/15 * * * *", ams);
    assert_eq!(
        quarter.upcoming(utc("2026-10-25T00:30:00Z"), 3),
        utcs(&[
            "2026-10-25T00:45:00Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T02:15:00Z"
        ])
    );
    // 01:30 UTC = 02:30 CET, inside the second pass: nothing until 03:00 CET.
    assert_eq!(
        quarter.next_after(utc("2026-10-25T01:30:00Z")),
        Some(utc("2026-10-25T02:00:00Z"))
    );
    // A daily 02:30 asked from within the second pass has had its firing.
    let daily = cron("30 2 * * *", ams);
    assert_eq!(
        daily.next_after(utc("2026-10-25T01:15:00Z")),
        Some(utc("2026-10-26T01:30:00Z"))
    );
    // Just before the gap's end, the collapsed firing; at it, the next day.
    assert_eq!(
        daily.next_after(utc("2026-03-29T00:59:59Z")),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    assert_eq!(
        daily.next_after(utc("2026-03-29T01:00:00Z")),
        Some(utc("2026-03-30T00:30:00Z"))
    );
    // A per-second schedule over a whole repeated hour stays exact.
    let every_second = cron("* * * * * *", ams);
    let got = every_second.between(utc("2026-10-25T00:59:58Z"), utc("2026-10-25T02:00:01Z"), 10);
    assert_eq!(
        got,
        utcs(&[
            "2026-10-25T00:59:59Z",
            "2026-10-25T02:00:00Z",
            "2026-10-25T02:00:01Z"
        ])
    );
}

fn assert_strictly_increasing(firings: &[DateTime<Utc>], tz: Tz) {
    for pair in firings.windows(2) {
        assert!(pair[0] < pair[1], "instants {} then {}", pair[0], pair[1]);
        assert!(
            wall(pair[0], tz) < wall(pair[1], tz),
            "wall times {} then {}",
            wall(pair[0], tz),
            wall(pair[1], tz)
        );
    }
}

// --------------------------------------------------------------- between

#[test]
fn between_counts_missed_firings() {
    let every_minute = cron("* * * * *", "UTC");
    let down = utc("2026-06-10T08:00:00Z");
    let up = down + Duration::hours(10);
    let missed = every_minute.between(down, up, 10_000);
    assert_eq!(missed.len(), 600);
    // (from, to]: the minute at `from` is not missed, the one at `to` is.
    assert_eq!(missed.first(), Some(&utc("2026-06-10T08:01:00Z")));
    assert_eq!(missed.last(), Some(&up));
    // The limit caps it, keeping the earliest.
    let capped = every_minute.between(down, up, 100);
    assert_eq!(capped.len(), 100);
    assert_eq!(capped[..], missed[..100]);
    assert!(every_minute.between(up, down, 10).is_empty());
    assert!(every_minute.between(down, down, 10).is_empty());
    assert!(every_minute.between(down, up, 0).is_empty());

    // A 10-hour outage across a spring-forward night in Amsterdam still
    // spans 600 real minutes, each the top of a local minute.
    let ams = cron("* * * * *", "Europe/Amsterdam");
    let down = utc("2026-03-28T20:00:00Z");
    assert_eq!(
        ams.between(down, down + Duration::hours(10), 10_000).len(),
        600
    );
    // Across the fall-back night the repeated hour's 60 minutes fire once.
    let down = utc("2026-10-24T20:00:00Z");
    assert_eq!(
        ams.between(down, down + Duration::hours(10), 10_000).len(),
        540
    );

    // `upcoming` and `next_after` agree with `between`.
    let hourly = cron("@hourly", "America/New_York");
    let from = utc("2026-03-07T12:00:00Z");
    let next = hourly.upcoming(from, 30);
    assert_eq!(next[0], hourly.next_after(from).unwrap());
    assert_eq!(hourly.between(from, next[29], 1000), next);
    assert!(hourly.upcoming(from, 0).is_empty());
}

// ------------------------------------------------------------ exclusions

fn calendars() -> Calendars {
    Calendars::new(BTreeMap::from([
        (
            "us-holidays".to_string(),
            vec![date("2026-12-25"), date("2027-01-01")],
        ),
        (
            "nl-holidays".to_string(),
            vec![date("2026-12-25"), date("2026-12-26")],
        ),
    ]))
}

#[test]
fn exclusions_use_the_local_date_in_the_zone() {
    let cals = calendars();
    let ny = zone("America/New_York");
    // 23:30 on Dec 24 in New York is already 04:30 on Dec 25 in UTC.
    let late_christmas_eve = utc("2026-12-25T04:30:00Z");
    let eve = Exclusions {
        dates: vec![date("2026-12-24")],
        calendars: vec![],
    };
    let christmas = Exclusions {
        dates: vec![date("2026-12-25")],
        calendars: vec![],
    };
    assert!(eve.excludes(late_christmas_eve, ny, &cals));
    assert!(!christmas.excludes(late_christmas_eve, ny, &cals));
    assert!(christmas.excludes(late_christmas_eve, zone("UTC"), &cals));
    // 01:00 on Dec 25 in Sydney is still Dec 24 in UTC.
    let sydney_christmas = utc("2026-12-24T14:00:00Z");
    assert!(christmas.excludes(sydney_christmas, zone("Australia/Sydney"), &cals));
    assert!(!christmas.excludes(sydney_christmas, zone("UTC"), &cals));

    // Named calendars.
    let holidays = Exclusions {
        dates: vec![],
        calendars: vec!["us-holidays".to_string()],
    };
    assert!(holidays.validate(&cals).is_ok());
    assert!(holidays.excludes(utc("2026-12-25T15:00:00Z"), ny, &cals));
    assert!(holidays.excludes(utc("2027-01-01T15:00:00Z"), ny, &cals));
    assert!(!holidays.excludes(utc("2026-12-26T15:00:00Z"), ny, &cals));
    assert!(holidays.excludes_date(date("2026-12-25"), &cals));
    assert!(!Exclusions::default().excludes(utc("2026-12-25T15:00:00Z"), ny, &cals));
    assert_eq!(
        cals.names().collect::<Vec<_>>(),
        ["nl-holidays", "us-holidays"]
    );
}

#[test]
fn unknown_calendar_is_refused_by_name() {
    let exclusions = Exclusions {
        dates: vec![date("2026-05-05")],
        calendars: vec!["us-holidays".to_string(), "de-holidays".to_string()],
    };
    let err = exclusions.validate(&calendars()).unwrap_err();
    assert_eq!(
        err,
        TimingError::UnknownCalendar {
            name: "de-holidays".to_string(),
            known: vec!["nl-holidays".to_string(), "us-holidays".to_string()],
        }
    );
    assert_eq!(
        err.to_string(),
        "unknown calendar `de-holidays` (known calendars: nl-holidays, us-holidays)"
    );
}

// --------------------------------------------------------------- windows

fn window(days: &[Day], start: &str, end: &str, zone: &str) -> ValidWindow {
    let time = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    WindowSpec {
        days: days.to_vec(),
        start: time(start),
        end: time(end),
        zone: zone.to_string(),
    }
    .validate()
    .unwrap_or_else(|e| panic!("{days:?} {start}-{end} {zone}: {e}"))
}

fn none() -> (Exclusions, Calendars) {
    (Exclusions::default(), Calendars::default())
}

#[test]
fn office_hours_open_at_start_and_close_at_end() {
    let (ex, cals) = none();
    let w = window(&Day::WORKWEEK, "09:00", "18:00", "Europe/Amsterdam");
    // Monday 2026-06-01, CEST (+2).
    assert!(!w.is_open(utc("2026-06-01T06:59:59Z"), &ex, &cals));
    assert!(w.is_open(utc("2026-06-01T07:00:00Z"), &ex, &cals));
    assert!(w.is_open(utc("2026-06-01T12:00:00Z"), &ex, &cals));
    assert!(w.is_open(utc("2026-06-01T15:59:59Z"), &ex, &cals));
    assert!(!w.is_open(utc("2026-06-01T16:00:00Z"), &ex, &cals));
    assert!(!w.is_open(utc("2026-06-01T23:00:00Z"), &ex, &cals));
    // Saturday and Sunday stay closed.
    assert!(!w.is_open(utc("2026-06-06T10:00:00Z"), &ex, &cals));
    assert!(!w.is_open(utc("2026-06-07T10:00:00Z"), &ex, &cals));
    assert_eq!(w.start_schedule().expression(), "0 9 * * MON-FRI");
    assert_eq!(w.stop_schedule().expression(), "0 18 * * MON-FRI");
    assert!(!w.crosses_midnight());

    // From Friday noon: Friday's stop, Monday's start and stop, Tuesday's start.
    assert_eq!(
        w.upcoming_edges(utc("2026-06-05T10:00:00Z"), 4),
        vec![
            (Edge::Stop, utc("2026-06-05T16:00:00Z")),
            (Edge::Start, utc("2026-06-08T07:00:00Z")),
            (Edge::Stop, utc("2026-06-08T16:00:00Z")),
            (Edge::Start, utc("2026-06-09T07:00:00Z")),
        ]
    );
    // Strictly after: at an edge, the next one.
    assert_eq!(
        w.upcoming_edges(utc("2026-06-08T07:00:00Z"), 1),
        vec![(Edge::Stop, utc("2026-06-08T16:00:00Z"))]
    );
}

#[test]
fn a_window_across_midnight_belongs_to_the_day_it_opens() {
    let (ex, cals) = none();
    let w = window(&[Day::Fri], "22:00", "06:00", "Europe/Amsterdam");
    assert!(w.crosses_midnight());
    assert_eq!(w.start_schedule().expression(), "0 22 * * FRI");
    assert_eq!(w.stop_schedule().expression(), "0 6 * * SAT");
    // Friday 2026-06-05 22:00 CEST to Saturday 06:00 CEST.
    assert!(!w.is_open(utc("2026-06-05T19:59:59Z"), &ex, &cals));
    assert!(w.is_open(utc("2026-06-05T20:00:00Z"), &ex, &cals));
    assert!(w.is_open(utc("2026-06-05T22:00:00Z"), &ex, &cals)); // midnight
    assert!(w.is_open(utc("2026-06-06T03:59:59Z"), &ex, &cals));
    assert!(!w.is_open(utc("2026-06-06T04:00:00Z"), &ex, &cals));
    // Saturday night is not Friday night; Thursday night neither.
    assert!(!w.is_open(utc("2026-06-06T21:00:00Z"), &ex, &cals));
    assert!(!w.is_open(utc("2026-06-04T21:00:00Z"), &ex, &cals));
    // The stop schedule fires on Saturday mornings only.
    let stop = w.stop_schedule();
    assert_eq!(
        stop.upcoming(utc("2026-06-01T00:00:00Z"), 2),
        utcs(&["2026-06-06T04:00:00Z", "2026-06-13T04:00:00Z"])
    );
    assert_eq!(
        w.upcoming_edges(utc("2026-06-01T00:00:00Z"), 3),
        vec![
            (Edge::Start, utc("2026-06-05T20:00:00Z")),
            (Edge::Stop, utc("2026-06-06T04:00:00Z")),
            (Edge::Start, utc("2026-06-12T20:00:00Z")),
        ]
    );
    // The Saturday-morning stop belongs to Friday's window.
    assert_eq!(
        w.edge_day(Edge::Stop, utc("2026-06-06T04:00:00Z")),
        Some(date("2026-06-05"))
    );
    assert_eq!(
        w.edge_day(Edge::Start, utc("2026-06-05T20:00:00Z")),
        Some(date("2026-06-05"))
    );
    assert_eq!(w.edge_day(Edge::Start, utc("2026-06-06T04:00:00Z")), None);
    assert_eq!(w.edge_day(Edge::Stop, utc("2026-06-06T04:00:01Z")), None);

    // Sunday night wraps to Monday morning.
    let sunday = window(&[Day::Sun], "23:00", "01:00", "UTC");
    assert_eq!(sunday.stop_schedule().expression(), "0 1 * * MON");
    assert!(sunday.is_open(utc("2026-06-08T00:30:00Z"), &ex, &cals)); // Monday 00:30
    assert!(!sunday.is_open(utc("2026-06-09T00:30:00Z"), &ex, &cals)); // Tuesday 00:30
    // Ending at midnight: `00:00` is the end of the day.
    let evening = window(&[Day::Mon], "18:00", "00:00", "UTC");
    assert_eq!(evening.stop_schedule().expression(), "0 0 * * TUE");
    assert!(evening.is_open(utc("2026-06-08T23:59:59Z"), &ex, &cals));
    assert!(!evening.is_open(utc("2026-06-09T00:00:00Z"), &ex, &cals));
}

#[test]
fn an_excluded_day_keeps_its_window_closed() {
    let cals = calendars();
    let night = window(&[Day::Fri, Day::Sat], "22:00", "06:00", "Europe/Amsterdam");
    let friday_off = Exclusions {
        dates: vec![date("2026-06-05")],
        calendars: vec![],
    };
    // Friday night, including its Saturday-morning part, is closed …
    assert!(!night.is_open(utc("2026-06-05T21:00:00Z"), &friday_off, &cals));
    assert!(!night.is_open(utc("2026-06-06T02:00:00Z"), &friday_off, &cals));
    // … Saturday night is not.
    assert!(night.is_open(utc("2026-06-06T21:00:00Z"), &friday_off, &cals));
    // Excluding Saturday leaves Friday night open, Saturday night closed.
    let saturday_off = Exclusions {
        dates: vec![date("2026-06-06")],
        calendars: vec![],
    };
    assert!(night.is_open(utc("2026-06-06T02:00:00Z"), &saturday_off, &cals));
    assert!(!night.is_open(utc("2026-06-06T21:00:00Z"), &saturday_off, &cals));
    assert!(!night.is_open(utc("2026-06-07T02:00:00Z"), &saturday_off, &cals));

    // A named calendar closes office hours on Christmas (a Friday), in the zone.
    let office = window(&Day::WORKWEEK, "09:00", "18:00", "America/New_York");
    let holidays = Exclusions {
        dates: vec![],
        calendars: vec!["us-holidays".to_string()],
    };
    assert!(office.is_open(utc("2026-12-24T15:00:00Z"), &holidays, &cals));
    assert!(!office.is_open(utc("2026-12-25T15:00:00Z"), &holidays, &cals));
    assert!(office.is_open(utc("2026-12-25T15:00:00Z"), &Exclusions::default(), &cals));
    // Previews can skip excluded days: Thursday's edges, then Monday's.
    assert_eq!(
        office.upcoming_edges_excluding(utc("2026-12-24T12:00:00Z"), 4, &holidays, &cals),
        vec![
            (Edge::Start, utc("2026-12-24T14:00:00Z")),
            (Edge::Stop, utc("2026-12-24T23:00:00Z")),
            (Edge::Start, utc("2026-12-28T14:00:00Z")),
            (Edge::Stop, utc("2026-12-28T23:00:00Z")),
        ]
    );
    // For a window across midnight the stop is skipped with its opening day.
    assert_eq!(
        night.upcoming_edges_excluding(utc("2026-06-05T12:00:00Z"), 2, &friday_off, &cals),
        vec![
            (Edge::Start, utc("2026-06-06T20:00:00Z")),
            (Edge::Stop, utc("2026-06-07T04:00:00Z")),
        ]
    );
}

#[test]
fn windows_follow_local_time_across_daylight_saving() {
    let (ex, cals) = none();
    let office = window(&Day::WORKWEEK, "09:00", "18:00", "Europe/Amsterdam");
    // Friday 09:00 CET = 08:00 UTC; Monday 09:00 CEST = 07:00 UTC.
    assert!(!office.is_open(utc("2026-03-27T07:59:59Z"), &ex, &cals));
    assert!(office.is_open(utc("2026-03-27T08:00:00Z"), &ex, &cals));
    assert!(!office.is_open(utc("2026-03-30T06:59:59Z"), &ex, &cals));
    assert!(office.is_open(utc("2026-03-30T07:00:00Z"), &ex, &cals));
    assert!(office.is_open(utc("2026-03-30T15:59:59Z"), &ex, &cals));
    assert!(!office.is_open(utc("2026-03-30T16:00:00Z"), &ex, &cals));

    // An opening in the spring-forward gap opens when the gap ends.
    let early = window(&Day::ALL, "02:30", "04:00", "Europe/Amsterdam");
    assert!(!early.is_open(utc("2026-03-29T00:59:59Z"), &ex, &cals));
    assert!(early.is_open(utc("2026-03-29T01:00:00Z"), &ex, &cals));
    assert!(!early.is_open(utc("2026-03-29T02:00:00Z"), &ex, &cals));
    assert_eq!(
        early.upcoming_edges(utc("2026-03-28T12:00:00Z"), 4),
        vec![
            (Edge::Start, utc("2026-03-29T01:00:00Z")),
            (Edge::Stop, utc("2026-03-29T02:00:00Z")),
            (Edge::Start, utc("2026-03-30T00:30:00Z")),
            (Edge::Stop, utc("2026-03-30T02:00:00Z")),
        ]
    );

    // A closing in the repeated hour closes at its first occurrence, and the
    // second pass of that hour stays closed.
    let late = window(&[Day::Sat], "22:00", "02:30", "Europe/Amsterdam");
    assert_eq!(late.stop_schedule().expression(), "30 2 * * SUN");
    assert!(late.is_open(utc("2026-10-24T20:00:00Z"), &ex, &cals)); // 22:00 CEST
    assert!(late.is_open(utc("2026-10-25T00:29:59Z"), &ex, &cals)); // 02:29:59 CEST
    assert!(!late.is_open(utc("2026-10-25T00:30:00Z"), &ex, &cals)); // 02:30 CEST
    assert!(!late.is_open(utc("2026-10-25T01:15:00Z"), &ex, &cals)); // 02:15 CET
    assert_eq!(
        late.upcoming_edges(utc("2026-10-24T00:00:00Z"), 4),
        vec![
            (Edge::Start, utc("2026-10-24T20:00:00Z")),
            (Edge::Stop, utc("2026-10-25T00:30:00Z")),
            (Edge::Start, utc("2026-10-31T21:00:00Z")),
            (Edge::Stop, utc("2026-11-01T01:30:00Z")),
        ]
    );
    assert_eq!(
        late.edge_day(Edge::Stop, utc("2026-10-25T00:30:00Z")),
        Some(date("2026-10-24"))
    );

    // A window wholly inside the gap has both edges at its end and is never
    // open; neither edge acts (see the next test).
    let lost = window(&Day::ALL, "02:00", "02:30", "Europe/Amsterdam");
    assert_eq!(
        lost.upcoming_edges(utc("2026-03-29T00:00:00Z"), 2),
        vec![
            (Edge::Start, utc("2026-03-29T01:00:00Z")),
            (Edge::Stop, utc("2026-03-29T01:00:00Z")),
        ]
    );
    assert!(!lost.is_open(utc("2026-03-29T01:00:00Z"), &ex, &cals));
}

#[test]
fn edges_of_one_window_at_one_instant_are_decided_by_the_window() {
    let (ex, cals) = none();
    // 02:00–03:00 does not exist on 2026-03-29 in Amsterdam: both edges are
    // at 01:00Z, neither acts, and previews leave them out.
    let lost = window(&Day::ALL, "02:00", "03:00", "Europe/Amsterdam");
    let collapsed = IdleEdge::Collapsed {
        day: date("2026-03-29"),
        start: NaiveTime::from_hms_opt(2, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(3, 0, 0).unwrap(),
        zone: zone("Europe/Amsterdam"),
    };
    for edge in [Edge::Start, Edge::Stop] {
        assert_eq!(
            lost.idle_edge(edge, utc("2026-03-29T01:00:00Z"), &ex, &cals),
            Some(collapsed.clone())
        );
    }
    assert_eq!(
        collapsed.to_string(),
        "window collapsed by a DST change: 02:00–03:00 Europe/Amsterdam does not exist on 2026-03-29"
    );
    // The days around it act as usual.
    for (edge, at) in [
        (Edge::Start, "2026-03-28T01:00:00Z"),
        (Edge::Stop, "2026-03-28T02:00:00Z"),
        (Edge::Start, "2026-03-30T00:00:00Z"),
        (Edge::Stop, "2026-03-30T01:00:00Z"),
    ] {
        assert_eq!(lost.idle_edge(edge, utc(at), &ex, &cals), None, "{at}");
    }
    assert_eq!(
        lost.upcoming_edges_excluding(utc("2026-03-28T12:00:00Z"), 2, &ex, &cals),
        vec![
            (Edge::Start, utc("2026-03-30T00:00:00Z")),
            (Edge::Stop, utc("2026-03-30T01:00:00Z")),
        ]
    );
    // An instant that is no edge of the window is no idle edge either.
    assert_eq!(
        lost.idle_edge(Edge::Stop, utc("2026-03-29T01:30:00Z"), &ex, &cals),
        None
    );

    // 03:00–02:30: Saturday's closing (02:30 Sunday, in the gap) meets
    // Sunday's opening at 01:00Z. The window stays open: only the opening acts.
    let long = window(&Day::ALL, "03:00", "02:30", "Europe/Amsterdam");
    let meet = utc("2026-03-29T01:00:00Z");
    assert_eq!(long.idle_edge(Edge::Start, meet, &ex, &cals), None);
    assert_eq!(
        long.idle_edge(Edge::Stop, meet, &ex, &cals),
        Some(IdleEdge::Reopened {
            day: date("2026-03-28")
        })
    );
    assert!(long.is_open(meet, &ex, &cals));
    // With Sunday excluded the window does close then, and the closing acts.
    let sunday_off = Exclusions {
        dates: vec![date("2026-03-29")],
        calendars: vec![],
    };
    assert_eq!(long.idle_edge(Edge::Stop, meet, &sunday_off, &cals), None);
}

/// Replaying a window's edges that act (not idle) gives the same answer as
/// `is_open` at every instant, across every transition, for windows whose
/// edges fall in gaps, repeated hours and across midnight, and meet.
#[test]
fn is_open_agrees_with_the_edges_everywhere() {
    let (ex, cals) = none();
    let shapes = [
        ("09:00", "18:00"),
        ("22:00", "02:30"),
        ("02:30", "03:30"),
        ("01:30", "02:15"),
        ("00:00", "01:00"),
        ("02:15", "01:45"),
        ("02:00", "03:00"),
        ("03:00", "02:30"),
    ];
    for t in &TRANSITIONS {
        for (start, end) in shapes {
            let w = window(&Day::ALL, start, end, t.zone);
            let from = utc(t.at) - Duration::days(2);
            let to = utc(t.at) + Duration::days(2);
            let edges: Vec<_> = w
                .upcoming_edges(from, 100)
                .into_iter()
                .filter(|(edge, at)| w.idle_edge(*edge, *at, &ex, &cals).is_none())
                .collect();
            assert!(edges.last().unwrap().1 > to);
            let mut open = w.is_open(from, &ex, &cals);
            let mut next = edges.iter().peekable();
            let mut at = from + Duration::minutes(5);
            while at <= to {
                while let Some((edge, when)) = next.next_if(|(_, when)| *when <= at) {
                    let _ = when;
                    open = *edge == Edge::Start;
                }
                assert_eq!(
                    w.is_open(at, &ex, &cals),
                    open,
                    "{start}-{end} in {} at {at} (local {})",
                    t.zone,
                    wall(at, w.zone())
                );
                at += Duration::minutes(5);
            }
        }
    }
}

#[test]
fn window_validation_names_the_problem() {
    let time = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
    let spec = |days: Vec<Day>, start: &str, end: &str, zone: &str| WindowSpec {
        days,
        start: time(start),
        end: time(end),
        zone: zone.to_string(),
    };
    let err = spec(vec![], "09:00", "18:00", "UTC")
        .validate()
        .unwrap_err();
    assert!(matches!(err, TimingError::BadWindow(_)));
    assert!(
        err.to_string().contains("no days; list at least one"),
        "{err}"
    );
    let err = spec(vec![Day::Mon], "09:00", "09:00", "UTC")
        .validate()
        .unwrap_err();
    assert!(
        err.to_string().contains("start and end are both 09:00"),
        "{err}"
    );
    let err = spec(vec![Day::Mon], "09:00", "18:00", "Europe/Amsterdum")
        .validate()
        .unwrap_err();
    assert_eq!(err, TimingError::BadZone("Europe/Amsterdum".to_string()));
    let mut fractional = spec(vec![Day::Mon], "09:00", "18:00", "UTC");
    fractional.start = NaiveTime::from_hms_milli_opt(9, 0, 0, 500).unwrap();
    assert!(
        fractional
            .validate()
            .unwrap_err()
            .to_string()
            .contains("fraction of a second")
    );
    // Repeated days count once.
    let w = spec(vec![Day::Mon, Day::Mon, Day::Tue], "09:00", "18:00", "UTC")
        .validate()
        .unwrap();
    assert_eq!(w.start_schedule().expression(), "0 9 * * MON,TUE");
    assert_eq!(w.spec().days, vec![Day::Mon, Day::Mon, Day::Tue]);
}
