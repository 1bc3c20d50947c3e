//! What Machinist's stops saved on one machine in one month.
//!
//! Kept off: from each stop Machinist made until the machine next ran, by
//! anyone's start (the metered intervals include starts from the console,
//! the API or another tool, and those Machinist only saw), priced at the
//! rate then in force. Two baselines put it in proportion: always on (what
//! the month would have cost had the machine run whenever it existed), and
//! the machine's own pattern before Machinist first stopped it, when
//! metered history reaches back that far. A machine billed monthly costs
//! the same stopped or running: it saves nothing, and says so.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::month::{MeteredMonth, Prices};

/// A stop begun within this long after Machinist's request is the one it
/// asked for (the event's `dtStarted` trails the request).
const STOP_SLACK: Duration = Duration::seconds(120);

/// How a machine ran before Machinist managed it, from its metered history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorPattern {
    /// The start of the period measured.
    pub from: DateTime<Utc>,
    /// Its end: Machinist's first stop of the machine.
    pub to: DateTime<Utc>,
    /// Seconds it ran in the period.
    pub running_seconds: i64,
    /// Seconds it existed in the period.
    pub present_seconds: i64,
}

impl PriorPattern {
    /// The share of its existence it ran.
    pub fn running_share(&self) -> f64 {
        if self.present_seconds <= 0 {
            0.0
        } else {
            (self.running_seconds as f64 / self.present_seconds as f64).min(1.0)
        }
    }
}

/// The month measured against the machine's earlier pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternBaseline {
    /// The period the pattern was measured over.
    pub pattern: PriorPattern,
    /// Seconds it would have run this month at that share.
    pub expected_running_seconds: i64,
    /// What those would have cost at this month's rate.
    pub expected_cost: Option<f64>,
    /// Expected minus actual compute cost (negative: it ran more).
    pub saved: Option<f64>,
}

/// One machine's savings in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineSavings {
    /// The machine.
    pub machine_id: String,
    /// Marked as billed monthly: stopping it saves nothing.
    pub monthly_billed: bool,
    /// Machinist's stops within the month.
    pub stops: u32,
    /// Seconds within the month the machine stayed off after Machinist's
    /// stops, until anyone's start.
    pub kept_off_seconds: i64,
    /// Those seconds at the rate then in force; `None` without a price,
    /// `0` for a monthly-billed machine.
    pub saved: Option<f64>,
    /// What the month's running would have cost always on.
    pub always_on_cost: Option<f64>,
    /// Always-on cost minus the metered compute cost.
    pub saved_vs_always_on: Option<f64>,
    /// Against its pattern before Machinist, when known.
    pub vs_pattern: Option<PatternBaseline>,
}

/// The savings of one machine's metered month. `stops` are the times
/// Paperspace accepted Machinist's stop requests of this machine (any
/// order; earlier months' too, for a machine kept off across the month's
/// start); `present` is the span of the month it existed up to now.
pub fn machine_savings(
    metered: &MeteredMonth,
    prices: &Prices<'_>,
    stops: &[DateTime<Utc>],
    present: Option<(DateTime<Utc>, DateTime<Utc>)>,
    prior: Option<PriorPattern>,
    monthly_billed: bool,
) -> MachineSavings {
    let (from, to) = present.unwrap_or((metered.month.start(), metered.month.start()));
    let mut stops: Vec<DateTime<Utc>> = stops.iter().copied().filter(|s| *s < to).collect();
    stops.sort();
    let in_month = stops
        .iter()
        .filter(|s| **s >= metered.month.start())
        .count() as u32;

    // The spans off after each stop: from the stop (or the end of the
    // interval it ended) to the next interval's start.
    let intervals = &metered.intervals;
    let mut off: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &stop in &stops {
        // A stop that did not take: the machine ran on well past it.
        if intervals
            .iter()
            .any(|i| i.from <= stop && i.to > stop + STOP_SLACK)
        {
            continue;
        }
        let begin = intervals
            .iter()
            .filter(|i| i.to > stop - STOP_SLACK && i.to <= stop + STOP_SLACK)
            .map(|i| i.to)
            .max()
            .unwrap_or(stop)
            .max(from);
        let end = intervals
            .iter()
            .map(|i| i.from)
            .find(|&f| f >= begin)
            .unwrap_or(to)
            .min(to);
        if end > begin {
            // Stops while already off add nothing: spans merge.
            match off.last_mut() {
                Some(last) if last.1 >= begin => last.1 = last.1.max(end),
                _ => off.push((begin, end)),
            }
        }
    }
    let kept_off_seconds = off.iter().map(|(a, b)| (*b - *a).num_seconds()).sum();
    let saved = if monthly_billed {
        Some(0.0)
    } else {
        off.iter().try_fold(0.0, |sum, (a, b)| {
            prices.running_cost(*a, *b).map(|c| sum + c)
        })
    };
    // A machine that did not exist in the month would have cost nothing.
    let always_on_cost = prices.running_cost(from, to);
    let saved_vs_always_on = if monthly_billed {
        Some(0.0)
    } else {
        always_on_cost.zip(metered.compute_cost).map(|(a, c)| a - c)
    };
    let vs_pattern = prior.map(|pattern| {
        let present_seconds = (to - from).num_seconds().max(0);
        let expected = (pattern.running_share() * present_seconds as f64).round() as i64;
        // Priced at the month's effective hourly rate.
        let hourly = metered.hourly_rate;
        let expected_cost = hourly.map(|h| expected as f64 / 3600.0 * h);
        let saved = if monthly_billed {
            Some(0.0)
        } else {
            expected_cost.zip(metered.compute_cost).map(|(e, c)| e - c)
        };
        PatternBaseline {
            pattern,
            expected_running_seconds: expected,
            expected_cost,
            saved,
        }
    });
    MachineSavings {
        machine_id: metered.machine_id.clone(),
        monthly_billed,
        stops: in_month,
        kept_off_seconds,
        saved,
        always_on_cost,
        saved_vs_always_on,
        vs_pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{BillingMonth, MachineEvent};
    use crate::meter::fixtures::{at, event, rate};
    use crate::meter::interval::MachineFacts;
    use crate::meter::month::{PriceSource, meter_month, present_span};
    use crate::meter::sighting::RateSighting;
    use crate::meter::units::RateUnits;

    fn month_of(events: &[MachineEvent], now: &str) -> (MeteredMonth, Vec<RateSighting>) {
        let april: BillingMonth = "2026-04".parse().unwrap();
        let rates = vec![rate("01T00:00:00", 2.0, 0.0)];
        let facts = MachineFacts {
            machine_id: "ps1",
            events,
            sightings: &[],
            created_at: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            gone_at: None,
        };
        let prices = Prices {
            sightings: &rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        (meter_month(&facts, &prices, april, at(now)), rates)
    }

    #[test]
    fn kept_off_runs_from_machinists_stop_to_anyones_start() {
        // Machinist stops at 18:00 on the 1st; the console starts it at
        // 09:00 on the 2nd; Machinist stops it again at 12:00.
        let events = [
            event("1", "start", "01T00:00:00", "01T00:00:00"),
            event("2", "stop", "01T18:00:01", "01T18:00:30"),
            event("3", "start", "02T09:00:00", "02T09:00:00"),
            event("4", "stop", "02T12:00:01", "02T12:00:30"),
        ];
        let (m, rates) = month_of(&events, "03T00:00:00");
        let prices = Prices {
            sightings: &rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        let april: BillingMonth = "2026-04".parse().unwrap();
        let facts_present = present_span(
            &MachineFacts {
                machine_id: "ps1",
                events: &events,
                sightings: &[],
                created_at: None,
                gone_at: None,
            },
            april,
            at("03T00:00:00"),
        );
        let stops = [at("01T18:00:00"), at("02T12:00:00")];
        let s = machine_savings(&m, &prices, &stops, facts_present, None, false);
        assert_eq!(s.stops, 2);
        // 18:00:01 → 09:00 is 14:59:59; 12:00:01 → midnight is 11:59:59.
        assert_eq!(s.kept_off_seconds, 15 * 3600 - 1 + 12 * 3600 - 1);
        let saved = s.saved.unwrap();
        assert!(
            (saved - (27.0 * 2.0 - 4.0 / 3600.0)).abs() < 1e-6,
            "{saved}"
        );
        // Always on for two days at 2/h = 96; it ran 18 + 3 hours.
        assert!((s.always_on_cost.unwrap() - 96.0).abs() < 1e-9);
        let ran = m.compute_cost.unwrap();
        assert!((s.saved_vs_always_on.unwrap() - (96.0 - ran)).abs() < 1e-9);

        let monthly = machine_savings(&m, &prices, &stops, facts_present, None, true);
        assert_eq!(monthly.saved, Some(0.0));
        assert!(monthly.monthly_billed);
    }

    #[test]
    fn the_earlier_pattern_is_a_baseline() {
        let events = [event("1", "start", "01T00:00:00", "01T00:00:00")];
        let (m, rates) = month_of(&events, "02T00:00:00");
        let prices = Prices {
            sightings: &rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        let prior = PriorPattern {
            from: "2026-03-01T00:00:00Z".parse().unwrap(),
            to: "2026-03-31T00:00:00Z".parse().unwrap(),
            running_seconds: 15 * 86_400,
            present_seconds: 30 * 86_400,
        };
        let present = Some((at("01T00:00:00"), at("02T00:00:00")));
        let s = machine_savings(&m, &prices, &[], present, Some(prior), false);
        let base = s.vs_pattern.unwrap();
        assert_eq!(base.expected_running_seconds, 12 * 3600);
        // It ran all 24 hours where its pattern says 12: it cost 24 more.
        assert!((base.saved.unwrap() + 24.0).abs() < 1e-9);
    }

    #[test]
    fn a_stop_that_did_not_take_saves_nothing() {
        let events = [event("1", "start", "01T00:00:00", "01T00:00:00")];
        let (m, rates) = month_of(&events, "02T00:00:00");
        let prices = Prices {
            sightings: &rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        let present = Some((at("01T00:00:00"), at("02T00:00:00")));
        let s = machine_savings(&m, &prices, &[at("01T12:00:00")], present, None, false);
        assert_eq!(s.kept_off_seconds, 0);
        assert_eq!(s.stops, 1);
    }
}
