//! The forecast of a plan (a schedule or window not yet saved): how long a
//! machine would run next month and what it would cost.
//!
//! The model: the machine's last 30 days, as metered, repeat; the plan's
//! starts and stops act on top of them. After the plan stops it, the machine
//! stays off until the plan starts it or its pattern shows someone starting
//! it; after the plan starts it, it runs until the plan stops it or its
//! pattern shows it stopped. With less than 30 days known, what is known
//! repeats; a machine with less than a day of metered history is taken to
//! be always on, which is what it costs if nobody stops it. Firing times come
//! from the schedule model, so time zones, DST and exclusion days are those
//! the daemon would apply.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::month::Prices;

/// The span the pattern is taken from and repeats with.
pub const PATTERN_DAYS: i64 = 30;

/// One machine's forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineForecast {
    /// The machine.
    pub machine_id: String,
    /// Seconds it would run under the plan.
    pub planned_seconds: i64,
    /// What that would cost (compute only; storage does not change).
    pub planned_cost: Option<f64>,
    /// Seconds in the horizon: running always on.
    pub always_on_seconds: i64,
    /// What always on would cost.
    pub always_on_cost: Option<f64>,
    /// Seconds it would run if its last 30 days repeated without the plan.
    pub pattern_seconds: i64,
    /// What that would cost.
    pub pattern_cost: Option<f64>,
    /// False when no metered history exists: the pattern is "always on".
    pub pattern_known: bool,
    /// The hourly rate the figures use.
    pub hourly_rate: Option<f64>,
}

/// A start (`true`) or stop (`false`) the plan makes at an instant.
pub type Command = (DateTime<Utc>, bool);

/// Less metered history than this is no pattern: the machine is taken to
/// be always on.
pub const PATTERN_MINIMUM: Duration = Duration::days(1);

/// A machine's metered running over `[from, end)`: the pattern that
/// repeats, with a period of its own length (at most [`PATTERN_DAYS`]).
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// Its running intervals.
    pub spans: &'a [(DateTime<Utc>, DateTime<Utc>)],
    /// Where what is known of the machine begins.
    pub from: DateTime<Utc>,
    /// Where it ends (now).
    pub end: DateTime<Utc>,
}

/// `history` repeated over `[from, to)`.
fn repeat_pattern(
    history: &History<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let spans = history.spans;
    let pattern_end = history.end;
    let period = history.end - history.from;
    let mut out = Vec::new();
    // The copy of the pattern that covers `from` and every later one.
    let mut shift = Duration::zero();
    while pattern_end + shift <= from {
        shift += period;
    }
    shift -= period;
    while pattern_end - period + shift < to {
        for (a, b) in spans {
            let (a, b) = ((*a + shift).max(from), (*b + shift).min(to));
            if b > a {
                out.push((a, b));
            }
        }
        shift += period;
    }
    out.sort();
    // Merge touching copies (a machine on across the pattern's seam).
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in out {
        match merged.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The running spans over `[from, to)` when `commands` act on `pattern`.
/// Commands before `from` set the state at `from`.
pub fn apply_plan(
    pattern: &[(DateTime<Utc>, DateTime<Utc>)],
    commands: &[Command],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    // Every instant anything changes: pattern edges and commands. At one
    // instant the plan acts after the pattern.
    let mut changes: Vec<(DateTime<Utc>, u8, bool)> = Vec::new();
    for (a, b) in pattern {
        changes.push((*a, 0, true));
        changes.push((*b, 0, false));
    }
    for (at, on) in commands {
        changes.push((*at, 1, *on));
    }
    changes.sort_by_key(|(at, order, _)| (*at, *order));
    let in_pattern = |at: DateTime<Utc>| pattern.iter().any(|(a, b)| *a <= at && at < *b);
    let mut on = in_pattern(from);
    let mut out = Vec::new();
    let mut since = from;
    for (at, order, to_on) in changes {
        if at >= to {
            break;
        }
        if at <= from {
            // The last command before the horizon sets where it begins;
            // the pattern's own edges there are only where it was cut.
            if order == 1 {
                on = to_on;
            }
            continue;
        }
        if to_on != on {
            if on {
                out.push((since, at));
            }
            on = to_on;
            since = at;
        }
    }
    if on && to > since {
        out.push((since, to));
    }
    out
}

fn seconds(spans: &[(DateTime<Utc>, DateTime<Utc>)]) -> i64 {
    spans.iter().map(|(a, b)| (*b - *a).num_seconds()).sum()
}

/// Forecasts one machine over `[from, to)`: `history` is its metered
/// running (`None`, or less than [`PATTERN_MINIMUM`] of it, when too
/// little is known), `commands` the plan's starts and stops.
pub fn forecast_machine(
    machine_id: &str,
    history: Option<History<'_>>,
    commands: &[Command],
    prices: &Prices<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> MachineForecast {
    let always = [(from, to)];
    let history = history.filter(|h| h.end - h.from >= PATTERN_MINIMUM);
    let pattern = match &history {
        Some(h) => repeat_pattern(h, from, to),
        None => always.to_vec(),
    };
    let planned = apply_plan(&pattern, commands, from, to);
    let cost = |spans: &[(DateTime<Utc>, DateTime<Utc>)]| {
        spans.iter().try_fold(0.0, |sum, (a, b)| {
            prices.running_cost(*a, *b).map(|c| sum + c)
        })
    };
    MachineForecast {
        machine_id: machine_id.to_string(),
        planned_seconds: seconds(&planned),
        planned_cost: cost(&planned),
        always_on_seconds: seconds(&always),
        always_on_cost: cost(&always),
        pattern_seconds: seconds(&pattern),
        pattern_cost: cost(&pattern),
        pattern_known: history.is_some(),
        hourly_rate: prices.hourly_at(to - Duration::milliseconds(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineRate;
    use crate::meter::month::PriceSource;
    use crate::meter::sighting::RateSighting;
    use crate::meter::units::RateUnits;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn prices(rates: &[RateSighting]) -> Prices<'_> {
        Prices {
            sightings: rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        }
    }

    fn rate() -> Vec<RateSighting> {
        vec![RateSighting {
            machine_id: "ps1".into(),
            at: at("2026-01-01T00:00:00Z"),
            rate: MachineRate {
                usage: 1.0,
                storage: 0.0,
            },
            machine_type: None,
        }]
    }

    #[test]
    fn an_always_on_machine_runs_only_between_the_plans_start_and_stop() {
        let (from, to) = (at("2026-05-01T00:00:00Z"), at("2026-05-03T00:00:00Z"));
        let commands = [
            (at("2026-04-30T18:00:00Z"), false),
            (at("2026-05-01T09:00:00Z"), true),
            (at("2026-05-01T18:00:00Z"), false),
            (at("2026-05-02T09:00:00Z"), true),
            (at("2026-05-02T18:00:00Z"), false),
        ];
        let rates = rate();
        let f = forecast_machine("ps1", None, &commands, &prices(&rates), from, to);
        assert_eq!(f.planned_seconds, 18 * 3600);
        assert_eq!(f.always_on_seconds, 48 * 3600);
        assert_eq!(f.planned_cost, Some(18.0));
        assert!(!f.pattern_known);
    }

    #[test]
    fn after_a_stop_the_pattern_decides_when_someone_starts_it() {
        // Its history: on from 08:00 to 20:00 every day.
        let end = at("2026-05-01T00:00:00Z");
        let history: Vec<_> = (1..=30)
            .map(|d| {
                let day = end - Duration::days(d);
                (day + Duration::hours(8), day + Duration::hours(20))
            })
            .collect();
        // The plan only stops it at 18:00.
        let (from, to) = (end, end + Duration::days(2));
        let commands = [
            (end + Duration::hours(18), false),
            (end + Duration::hours(42), false),
        ];
        let rates = rate();
        let history = History {
            spans: &history,
            from: end - Duration::days(PATTERN_DAYS),
            end,
        };
        let f = forecast_machine("ps1", Some(history), &commands, &prices(&rates), from, to);
        assert_eq!(f.pattern_seconds, 24 * 3600);
        assert_eq!(f.planned_seconds, 20 * 3600);
        assert!(f.pattern_known);
    }

    #[test]
    fn a_short_history_repeats_with_its_own_length_or_not_at_all() {
        let end = at("2026-05-01T00:00:00Z");
        let (from, to) = (end, end + Duration::days(20));
        let rates = rate();
        // Eight hours known: too little, taken as always on.
        let spans = [(end - Duration::hours(8), end - Duration::hours(7))];
        let short = History {
            spans: &spans,
            from: end - Duration::hours(8),
            end,
        };
        let f = forecast_machine("ps1", Some(short), &[], &prices(&rates), from, to);
        assert!(!f.pattern_known);
        assert_eq!(f.pattern_seconds, 20 * 86_400);
        // Ten days known, running on the first of them: once every ten days.
        let spans = [(end - Duration::days(10), end - Duration::days(9))];
        let ten = History {
            spans: &spans,
            from: end - Duration::days(10),
            end,
        };
        let f = forecast_machine("ps1", Some(ten), &[], &prices(&rates), from, to);
        assert!(f.pattern_known);
        assert_eq!(f.pattern_seconds, 2 * 86_400);
    }
}
