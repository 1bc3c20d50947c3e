//! Reports of what machines cost and what Machinist's stops saved.
//!
//! Utilization comes from the monthly pulls (utilization jobs, which on v1
//! the meter answers) kept per machine, month and source. Savings: for each stop request Paperspace accepted, the
//! hours until the first sign the machine ran again (or until now), split by
//! month, times the machine's hourly rate as last pulled, else (v1) its
//! latest `usageRate` as Machinist saw it. A machine can be
//! started outside Machinist (console, API), so Machinist's next start is
//! only one sign: so is any state in which it runs seen after the stop, and
//! any start operation Paperspace listed in its events created after the
//! stop, whoever sent it (see [`Store::signs_of_running`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cost::cents;
use crate::machine::BillingMonth;
use crate::meter::RateUnits;
use crate::store::{Store, StoreError};

/// One machine's month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UtilizationLine {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Hours it ran in the month, as Paperspace bills them.
    pub hours_used: f64,
    /// Its price per hour run.
    pub(super) hourly_rate: f64,
    /// Its storage price per month.
    pub(super) storage_monthly_rate: f64,
    /// Hours run times the rate, plus storage prorated over the month.
    pub cost: f64,
    /// When the figures were pulled from Paperspace, or metered.
    pub(super) pulled_at: DateTime<Utc>,
    /// `paperspace` (a utilization pull) or `meter` (Machinist's own metering).
    pub(super) source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UtilizationReport {
    /// The month reported.
    pub(super) month: BillingMonth,
    /// By machine id, then source.
    pub machines: Vec<UtilizationLine>,
    /// The sum of the machines' costs, each machine counted once: by
    /// Paperspace's figures where pulled, else by the meter's.
    pub total_cost: f64,
}

/// What Machinist's stops saved on one machine in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavingsLine {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Stops carried out in the month.
    pub stops: u32,
    /// Hours the machine stayed off after those stops, within the month.
    pub hours_off: f64,
    /// From the utilization pull, else the machine's latest v1 `usageRate`
    /// per hour; `None` while neither is known.
    pub hourly_rate: Option<f64>,
    /// Hours off times the rate; `None` while the rate is unknown.
    pub saved: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavingsReport {
    /// The month reported.
    pub(super) month: BillingMonth,
    /// By machine id.
    pub machines: Vec<SavingsLine>,
    /// The sum of the machines' hours off.
    pub(super) total_hours_off: f64,
    /// The sum over machines whose rate is known.
    pub total_saved: f64,
}

/// The utilization kept for `month`: pulled from Paperspace and metered by
/// Machinist, each row with its source.
pub async fn utilization(
    store: &Store,
    month: BillingMonth,
) -> Result<UtilizationReport, StoreError> {
    let mut rows = store.utilization(&month.to_string()).await?;
    rows.sort_by(|a, b| (&a.machine_id, &a.source).cmp(&(&b.machine_id, &b.source)));
    let month_secs = (month.end() - month.start()).num_seconds() as f64;
    let machines: Vec<UtilizationLine> = rows
        .into_iter()
        .map(|r| {
            let hours = r.seconds_used.max(0) as f64 / 3600.0;
            let cost = hours * r.hourly_rate
                + r.storage_seconds.max(0) as f64 / month_secs * r.monthly_rate;
            UtilizationLine {
                machine_id: r.machine_id,
                hours_used: cents(hours),
                hourly_rate: r.hourly_rate,
                storage_monthly_rate: r.monthly_rate,
                cost: cents(cost),
                pulled_at: crate::store::rows::from_ms(r.pulled_at),
                source: r.source,
            }
        })
        .collect();
    // Each machine once: Paperspace's figures where pulled, else the meter's.
    let pulled: std::collections::HashSet<&str> = machines
        .iter()
        .filter(|m| m.source == crate::store::UtilizationRow::PAPERSPACE)
        .map(|m| m.machine_id.as_str())
        .collect();
    let total_cost = cents(
        machines
            .iter()
            .filter(|m| {
                m.source == crate::store::UtilizationRow::PAPERSPACE
                    || !pulled.contains(m.machine_id.as_str())
            })
            .map(|m| m.cost)
            .sum(),
    );
    Ok(UtilizationReport {
        month,
        machines,
        total_cost,
    })
}

/// What happened to a machine, for savings.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Machinist's stop request was accepted.
    Stop,
    /// Machinist's start request was accepted.
    Start,
    /// It was seen running, or Paperspace listed a start of it.
    Ran,
}

/// What the stops Machinist carried out saved in `month`, up to `now`,
/// priced by the utilization pulls alone.
pub async fn savings(
    store: &Store,
    month: BillingMonth,
    now: DateTime<Utc>,
) -> Result<SavingsReport, StoreError> {
    savings_priced(store, month, now, None).await
}

/// As [`savings`]; with `units`, a machine no utilization pull priced is
/// priced by its latest v1 `usageRate` as Machinist saw it, read in `units`.
pub async fn savings_priced(
    store: &Store,
    month: BillingMonth,
    now: DateTime<Utc>,
    units: Option<RateUnits>,
) -> Result<SavingsReport, StoreError> {
    let (from, to) = (month.start(), month.end().min(now));
    let switches = store.switches(to).await?;
    let mut rates: HashMap<String, f64> = HashMap::new();
    if let Some(units) = units {
        // Oldest first: the latest sighting of each machine stays.
        let mut sightings = store.rate_sightings(now).await?;
        sightings.sort_by_key(|s| s.at);
        for s in sightings {
            rates.insert(s.machine_id, units.hourly(s.rate.usage));
        }
    }
    // A pulled rate wins over a sighted one.
    rates.extend(store.hourly_rates().await?);
    let ran = store.signs_of_running(to).await?;

    // Per machine, the intervals it was off after a stop, in time order.
    let mut off_since: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut lines: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    let close = |machine: &str,
                 stopped: DateTime<Utc>,
                 started: DateTime<Utc>,
                 lines: &mut BTreeMap<String, (u32, f64)>| {
        let (a, b) = (stopped.max(from), started.min(to));
        if b > a {
            let entry = lines.entry(machine.to_string()).or_default();
            entry.1 += (b - a).num_milliseconds() as f64 / 3_600_000.0;
        }
        if stopped >= from && stopped < to {
            lines.entry(machine.to_string()).or_default().0 += 1;
        }
    };
    // Stops, starts and signs in time order; at one instant the switches
    // come first, in their own order (the sort is stable). A sign at the
    // stop's own instant is no sign: it is the stop job's look before it
    // sent the stop.
    let mut timeline: Vec<(DateTime<Utc>, Change, &str)> = switches
        .iter()
        .map(|s| {
            let change = if s.stop { Change::Stop } else { Change::Start };
            (s.at, change, s.machine_id.as_str())
        })
        .chain(ran.iter().map(|(m, at)| (*at, Change::Ran, m.as_str())))
        .collect();
    timeline.sort_by_key(|(at, _, _)| *at);
    for (at, change, machine) in timeline {
        match (change, off_since.get(machine)) {
            // A second stop while already off changes nothing.
            (Change::Stop, _) => {
                off_since.entry(machine).or_insert(at);
            }
            (Change::Start, Some(&stopped)) => {
                off_since.remove(machine);
                close(machine, stopped, at, &mut lines);
            }
            (Change::Ran, Some(&stopped)) if at > stopped => {
                off_since.remove(machine);
                close(machine, stopped, at, &mut lines);
            }
            _ => {}
        }
    }
    for (machine, stopped) in off_since {
        close(machine, stopped, to, &mut lines);
    }

    let machines: Vec<SavingsLine> = lines
        .into_iter()
        .map(|(machine_id, (stops, hours))| {
            let rate = rates.get(&machine_id).copied();
            SavingsLine {
                stops,
                hours_off: cents(hours),
                hourly_rate: rate,
                saved: rate.map(|r| cents(hours * r)),
                machine_id,
            }
        })
        .collect();
    Ok(SavingsReport {
        month,
        total_hours_off: cents(machines.iter().map(|m| m.hours_off).sum()),
        total_saved: cents(machines.iter().filter_map(|m| m.saved).sum()),
        machines,
    })
}
