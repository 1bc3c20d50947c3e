//! One machine's month, metered: seconds billed, compute and storage cost,
//! and how each figure was derived.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::interval::{Interval, MachineFacts, running_intervals};
use super::sighting::RateSighting;
use super::units::RateUnits;
use crate::machine::BillingMonth;

/// How a month's running time was derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every interval's ends are Paperspace events (or the month's edges).
    Events,
    /// Some ends are events, some inferred from the states Machinist saw.
    Mixed,
    /// Every end was inferred from the states Machinist saw (legacy, or
    /// events not listed).
    Observed,
    /// The machine did not run in the month.
    Idle,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Events => "events",
            Method::Mixed => "mixed",
            Method::Observed => "observed",
            Method::Idle => "idle",
        }
    }
}

/// Where a month's prices came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// v1's `usageRate`/`storageRate` on the machine, as Machinist saw them.
    MachineRates,
    /// The legacy utilization pull's `hourlyRate`/`monthlyRate`.
    UtilizationPull,
    /// No price is known: cost figures are absent.
    Unknown,
}

/// One machine's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeteredMonth {
    /// The machine.
    pub machine_id: String,
    /// The month (UTC, as Paperspace invoices).
    pub month: BillingMonth,
    /// Seconds billed for running within the month (up to now).
    pub running_seconds: i64,
    /// How far `running_seconds` may be off: the bounds of inferred ends.
    pub uncertainty_seconds: i64,
    /// Running priced at the rate in force during each interval; `None`
    /// when no price is known.
    pub compute_cost: Option<f64>,
    /// Seconds the machine existed in the month (its disk was billed).
    pub present_seconds: i64,
    /// Storage prorated by the time present; `None` without a price.
    pub storage_cost: Option<f64>,
    /// Compute plus storage.
    pub total: Option<f64>,
    /// The hourly price last in force in the month.
    pub hourly_rate: Option<f64>,
    /// How `running_seconds` was derived.
    pub method: Method,
    /// Where the prices came from.
    pub price_source: PriceSource,
    /// The intervals counted.
    pub intervals: Vec<Interval>,
}

impl MeteredMonth {
    /// A month with nothing known of the machine: it did not run.
    pub fn idle(machine_id: &str, month: BillingMonth) -> Self {
        MeteredMonth {
            machine_id: machine_id.to_string(),
            month,
            running_seconds: 0,
            uncertainty_seconds: 0,
            compute_cost: None,
            present_seconds: 0,
            storage_cost: None,
            total: None,
            hourly_rate: None,
            method: Method::Idle,
            price_source: PriceSource::Unknown,
            intervals: Vec::new(),
        }
    }
}

/// The prices of one machine, oldest first, read with the operator's units.
#[derive(Debug, Clone, Copy)]
pub struct Prices<'a> {
    /// The sightings of its prices, oldest first.
    pub sightings: &'a [RateSighting],
    /// How to read them.
    pub units: RateUnits,
    /// Where they came from.
    pub source: PriceSource,
}

impl Prices<'_> {
    /// The sighting in force at `at`: the last seen at or before it, or the
    /// first one when `at` is earlier (a price seen later is taken to have
    /// held before: rates change only by an upgrade, which is seen).
    fn at(&self, at: DateTime<Utc>) -> Option<&RateSighting> {
        let i = self.sightings.partition_point(|r| r.at <= at);
        self.sightings.get(i.saturating_sub(1))
    }

    /// The hourly price in force at `at`.
    pub fn hourly_at(&self, at: DateTime<Utc>) -> Option<f64> {
        self.at(at).map(|r| self.units.hourly(r.rate.usage))
    }

    /// `[from, to)` cut where the price changes, each piece with its sighting.
    fn pieces(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>, &RateSighting)> {
        let mut out = Vec::new();
        let mut start = from;
        while start < to {
            let Some(current) = self.at(start) else {
                break;
            };
            let next = self
                .sightings
                .iter()
                .map(|r| r.at)
                .find(|&t| t > start)
                .unwrap_or(to)
                .min(to);
            out.push((start, next, current));
            start = next;
        }
        out
    }

    /// Running over `[from, to)` priced piece by piece.
    pub fn running_cost(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        if self.sightings.is_empty() {
            return None;
        }
        Some(
            self.pieces(from, to)
                .into_iter()
                .map(|(a, b, r)| secs(a, b) / 3600.0 * self.units.hourly(r.rate.usage))
                .sum(),
        )
    }

    /// The disk kept over `[from, to)` within `month`, priced piece by piece.
    pub fn storage_cost(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        month: BillingMonth,
    ) -> Option<f64> {
        if self.sightings.is_empty() {
            return None;
        }
        Some(
            self.pieces(from, to)
                .into_iter()
                .map(|(a, b, r)| secs(a, b) * self.units.storage_per_second(r.rate.storage, month))
                .sum(),
        )
    }
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds().max(0) as f64 / 1000.0
}

/// The span of `month` up to `now` during which the machine existed.
pub fn present_span(
    facts: &MachineFacts<'_>,
    month: BillingMonth,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let from = facts
        .created_at
        .map_or(month.start(), |c| c.max(month.start()));
    let to = facts
        .gone_at
        .map_or(month.end(), |g| g.min(month.end()))
        .min(now);
    (to > from).then_some((from, to))
}

/// Meters `facts` over `month` up to `now`, priced with `prices`.
pub fn meter_month(
    facts: &MachineFacts<'_>,
    prices: &Prices<'_>,
    month: BillingMonth,
    now: DateTime<Utc>,
) -> MeteredMonth {
    let end = month.end().min(now);
    let intervals = if end > month.start() {
        running_intervals(facts, month.start(), end)
    } else {
        Vec::new()
    };
    let running_seconds = intervals.iter().map(Interval::seconds).sum();
    let uncertainty_seconds = intervals.iter().map(|i| i.uncertainty_seconds).sum();
    let inferred = intervals.iter().filter(|i| i.is_inferred()).count();
    let method = match (intervals.len(), inferred) {
        (0, _) => Method::Idle,
        (_, 0) => Method::Events,
        (n, k) if n == k => Method::Observed,
        _ => Method::Mixed,
    };
    let compute_cost = intervals.iter().try_fold(0.0, |sum, i| {
        prices.running_cost(i.from, i.to).map(|c| sum + c)
    });
    let present = present_span(facts, month, now);
    let present_seconds = present.map_or(0, |(a, b)| (b - a).num_seconds());
    let storage_cost = match present {
        Some((a, b)) => prices.storage_cost(a, b, month),
        None => (!prices.sightings.is_empty()).then_some(0.0),
    };
    let total = compute_cost.zip(storage_cost).map(|(c, s)| c + s);
    let hourly_rate = prices.hourly_at(end - chrono::Duration::milliseconds(1));
    let price_source = if prices.sightings.is_empty() {
        PriceSource::Unknown
    } else {
        prices.source
    };
    MeteredMonth {
        machine_id: facts.machine_id.to_string(),
        month,
        running_seconds,
        uncertainty_seconds,
        compute_cost,
        present_seconds,
        storage_cost,
        total,
        hourly_rate,
        method,
        price_source,
        intervals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::fixtures::{at, event, rate};

    #[test]
    fn a_rate_change_prices_each_interval_at_its_own_rate() {
        let april: BillingMonth = "2026-04".parse().unwrap();
        // Ten hours at 0.50, then an upgrade, then ten hours at 1.00.
        let events = [
            event("1", "start", "02T08:00:00", "02T08:00:00"),
            event("2", "stop", "02T18:00:00", "02T18:00:10"),
            event("3", "vm-upgrade", "03T00:00:00", "03T00:05:00"),
            event("4", "start", "04T08:00:00", "04T08:00:00"),
            event("5", "stop", "04T18:00:00", "04T18:00:10"),
        ];
        let facts = MachineFacts {
            machine_id: "ps1",
            events: &events,
            sightings: &[],
            created_at: Some("2026-03-01T00:00:00Z".parse().unwrap()),
            gone_at: None,
        };
        let rates = [
            rate("01T00:00:00", 0.5, 30.0),
            rate("03T00:05:00", 1.0, 30.0),
        ];
        let prices = Prices {
            sightings: &rates,
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        let m = meter_month(&facts, &prices, april, at("30T00:00:00"));
        assert_eq!(m.running_seconds, 20 * 3600);
        assert!((m.compute_cost.unwrap() - 15.0).abs() < 1e-9);
        // 29 of April's 30 days present so far: 29/30 of the monthly price.
        assert!((m.storage_cost.unwrap() - 29.0).abs() < 1e-9, "{m:?}");
        assert_eq!(m.method, Method::Events);
        assert_eq!(m.hourly_rate, Some(1.0));
    }

    #[test]
    fn without_a_price_the_costs_are_absent_not_zero() {
        let april: BillingMonth = "2026-04".parse().unwrap();
        let events = [event("1", "start", "02T08:00:00", "02T08:00:00")];
        let facts = MachineFacts {
            machine_id: "ps1",
            events: &events,
            sightings: &[],
            created_at: None,
            gone_at: None,
        };
        let prices = Prices {
            sightings: &[],
            units: RateUnits::default(),
            source: PriceSource::MachineRates,
        };
        let m = meter_month(&facts, &prices, april, at("03T08:00:00"));
        assert_eq!(m.running_seconds, 24 * 3600);
        assert_eq!((m.compute_cost, m.total), (None, None));
        assert_eq!(m.price_source, PriceSource::Unknown);
    }
}
