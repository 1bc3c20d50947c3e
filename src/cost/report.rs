//! The month's cost report: per machine, totals by region and machine type,
//! and a daily series for charts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::cents;
use super::ledger::{CostError, Ledger, MachineInfo, MachineMonth};
use crate::machine::BillingMonth;
use crate::meter::{MeterGap, Method, PatternBaseline, PriceSource};

fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0 + 0.0
}

/// What the legacy utilization pull reported for a machine's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulledFigures {
    /// Hours Paperspace billed.
    pub hours: f64,
    /// Its cost: hours times its rate plus storage prorated.
    pub total: f64,
    /// When it was pulled.
    pub pulled_at: DateTime<Utc>,
    /// Metered hours minus pulled hours.
    pub hours_difference: f64,
}

/// One machine's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Its name as last seen (empty when known only from its events).
    pub name: String,
    /// e.g. `A4000`.
    pub machine_type: Option<String>,
    /// e.g. `East Coast (NY2)`.
    pub region: Option<String>,
    /// Hours billed for running.
    pub hours: f64,
    /// How far `hours` may be off, from ends inferred by polling.
    pub hours_bound: f64,
    /// `events`, `mixed`, `observed` or `idle`.
    pub method: Method,
    /// The hourly price last in force.
    pub hourly_rate: Option<f64>,
    /// Where prices came from.
    pub price_source: PriceSource,
    /// Running cost.
    pub compute: Option<f64>,
    /// Storage prorated by the time the machine existed.
    pub storage: Option<f64>,
    /// Compute plus storage.
    pub total: Option<f64>,
    /// Marked as billed monthly: it saves nothing when stopped.
    pub monthly_billed: bool,
    /// Machinist's stops in the month.
    pub stops: u32,
    /// Hours it stayed off after them until anyone started it.
    pub kept_off_hours: f64,
    /// Those hours at the rate then: what Machinist's stops saved.
    pub saved: Option<f64>,
    /// What running whenever it existed would have cost.
    pub always_on_cost: Option<f64>,
    /// Always-on cost minus compute.
    pub saved_vs_always_on: Option<f64>,
    /// Against its own pattern before Machinist first stopped it.
    pub vs_pattern: Option<PatternBaseline>,
    /// Legacy: what the utilization pull reported, beside the meter.
    pub pulled: Option<PulledFigures>,
}

/// Sums over a set of machines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Hours run.
    pub hours: f64,
    /// Running cost of the machines whose price is known.
    pub compute: f64,
    /// Storage cost likewise.
    pub storage: f64,
    /// Compute plus storage.
    pub total: f64,
    /// What Machinist's stops saved.
    pub saved: f64,
    /// Machines with no known price, left out of the money sums.
    pub unpriced: u32,
}

impl Totals {
    fn add(&mut self, line: &CostLine) {
        self.hours += line.hours;
        match (line.compute, line.storage) {
            (Some(c), Some(s)) => {
                self.compute += c;
                self.storage += s;
                self.total += c + s;
            }
            _ => self.unpriced += 1,
        }
        self.saved += line.saved.unwrap_or(0.0);
    }

    fn rounded(mut self) -> Self {
        self.hours = cents(self.hours);
        self.compute = cents(self.compute);
        self.storage = cents(self.storage);
        self.total = cents(self.total);
        self.saved = cents(self.saved);
        self
    }
}

/// The totals of one region or machine type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupTotal {
    /// The region or machine type (`unknown` when not seen).
    pub key: String,
    /// Machines in it.
    pub machines: u32,
    /// Their sums.
    pub totals: Totals,
}

/// One UTC day of the month, for charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPoint {
    /// The day.
    pub date: NaiveDate,
    /// Hours run by every machine that day.
    pub hours: f64,
    /// Their running cost that day.
    pub compute: f64,
}

/// `GET /v1/reports/cost`: a month's cost, per machine and in sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// The month, `YYYY-MM` (UTC, as Paperspace invoices).
    pub month: BillingMonth,
    /// Which Paperspace API the figures come from: `v1` or `legacy`.
    pub backend: String,
    /// The figures run up to here: the month's end, or now.
    pub until: DateTime<Utc>,
    /// False while the month is still running.
    pub complete: bool,
    /// How the figures were derived, in words.
    pub derivation: Vec<String>,
    /// By machine id.
    pub machines: Vec<CostLine>,
    /// Sums over every machine.
    pub totals: Totals,
    /// Sums by region.
    pub by_region: Vec<GroupTotal>,
    /// Sums by machine type.
    pub by_machine_type: Vec<GroupTotal>,
    /// Running per UTC day.
    pub daily: Vec<DailyPoint>,
    /// Stretches the meter could not read on time and back-filled.
    pub gaps: Vec<MeterGap>,
}

fn line(id: &str, info: &MachineInfo, m: &MachineMonth) -> CostLine {
    let machine = info.known.as_ref().map(|k| &k.machine);
    let metered = &m.metered;
    let savings = &m.savings;
    let pulled = info.pulled.as_ref().map(|p| {
        let month_secs = (metered.month.end() - metered.month.start()).num_seconds() as f64;
        let pulled_hours = p.seconds_used.max(0) as f64 / 3600.0;
        PulledFigures {
            hours: cents(pulled_hours),
            total: cents(
                pulled_hours * p.hourly_rate
                    + p.storage_seconds.max(0) as f64 / month_secs * p.monthly_rate,
            ),
            pulled_at: crate::store::rows::from_ms(p.pulled_at),
            hours_difference: cents(metered.running_seconds as f64 / 3600.0 - pulled_hours),
        }
    });
    CostLine {
        machine_id: id.to_string(),
        name: machine.map(|m| m.name.clone()).unwrap_or_default(),
        machine_type: machine.and_then(|m| m.machine_type.clone()),
        region: machine.and_then(|m| m.region.clone()),
        hours: hours(metered.running_seconds),
        hours_bound: hours(metered.uncertainty_seconds),
        method: metered.method,
        hourly_rate: metered.hourly_rate,
        price_source: metered.price_source,
        compute: metered.compute_cost.map(cents),
        storage: metered.storage_cost.map(cents),
        total: metered.total.map(cents),
        monthly_billed: savings.monthly_billed,
        stops: savings.stops,
        kept_off_hours: hours(savings.kept_off_seconds),
        saved: savings.saved.map(cents),
        always_on_cost: savings.always_on_cost.map(cents),
        // Against always on, Paperspace's own hours where they were pulled:
        // the meter on legacy knows only what it watched.
        saved_vs_always_on: match (&info.pulled, savings.always_on_cost) {
            (Some(p), Some(always)) if !savings.monthly_billed => Some(cents(
                always - p.seconds_used.max(0) as f64 / 3600.0 * p.hourly_rate,
            )),
            _ => savings.saved_vs_always_on.map(cents),
        },
        vs_pattern: savings.vs_pattern.clone().map(|mut b| {
            b.expected_cost = b.expected_cost.map(cents);
            b.saved = b.saved.map(cents);
            b
        }),
        pulled,
    }
}

fn groups(lines: &[CostLine], key: impl Fn(&CostLine) -> Option<&String>) -> Vec<GroupTotal> {
    let mut by: BTreeMap<String, (u32, Totals)> = BTreeMap::new();
    for l in lines {
        let k = key(l).cloned().unwrap_or_else(|| "unknown".to_string());
        let entry = by.entry(k).or_default();
        entry.0 += 1;
        entry.1.add(l);
    }
    by.into_iter()
        .map(|(key, (machines, totals))| GroupTotal {
            key,
            machines,
            totals: totals.rounded(),
        })
        .collect()
}

impl Ledger {
    /// The cost report of `month` up to `now`.
    pub async fn cost_report(
        &self,
        month: BillingMonth,
        now: DateTime<Utc>,
    ) -> Result<CostReport, CostError> {
        let months = self.month(month, now, None).await?;
        let until = month.end().min(now).max(month.start());
        let source = self.price_source();
        let mut daily: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        let mut day = month.start();
        while day < until {
            daily.insert(day.date_naive(), (0.0, 0.0));
            day += Duration::days(1);
        }
        let mut lines = Vec::new();
        for (id, (info, m)) in &months {
            let prices = info.prices(self.settings().units, source);
            for i in &m.metered.intervals {
                // Cut at each UTC midnight.
                let mut a = i.from;
                while a < i.to {
                    let midnight = (a.date_naive() + Duration::days(1))
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc();
                    let b = midnight.min(i.to);
                    let entry = daily.entry(a.date_naive()).or_default();
                    entry.0 += (b - a).num_milliseconds() as f64 / 3_600_000.0;
                    entry.1 += prices.running_cost(a, b).unwrap_or(0.0);
                    a = b;
                }
            }
            lines.push(line(id, info, m));
        }
        let mut totals = Totals::default();
        for l in &lines {
            totals.add(l);
        }
        let gaps = self.store().meter_gaps(month.start(), until).await?;
        Ok(CostReport {
            month,
            backend: self.settings().backend.as_str().to_string(),
            until,
            complete: now >= month.end(),
            derivation: self.derivation(),
            by_region: groups(&lines, |l| l.region.as_ref()),
            by_machine_type: groups(&lines, |l| l.machine_type.as_ref()),
            totals: totals.rounded(),
            daily: daily
                .into_iter()
                .map(|(date, (h, c))| DailyPoint {
                    date,
                    hours: cents(h),
                    compute: cents(c),
                })
                .collect(),
            machines: lines,
            gaps,
        })
    }

    /// Where the figures come from on this backend, in words.
    pub fn derivation(&self) -> Vec<String> {
        let units = self.settings().units;
        match self.settings().backend {
            crate::paperspace::Backend::V1 => vec![
                "running time: intervals from Paperspace's machine events (a start or restart done \
                 opens one, a stop, forced shutdown or deactivate begun closes it), cross-checked \
                 with the states Machinist saw; method `observed` or `mixed` marks ends inferred \
                 from polling, with their bound in hours_bound"
                    .to_string(),
                format!(
                    "prices: the machines' usageRate per {} and storageRate per {} as Machinist \
                     saw them (cost.usage_rate_unit, cost.storage_rate_unit), with their history",
                    units.usage, units.storage
                ),
                "storage: storageRate prorated over the time the machine existed in the month"
                    .to_string(),
                "saved: hours off after Machinist's stops until anyone started the machine, at \
                 the rate then; machines billed monthly save nothing"
                    .to_string(),
            ],
            crate::paperspace::Backend::Legacy => vec![
                "running time: from the states Machinist saw (the legacy API lists no account \
                 events), shown beside the hours getUtilization reported (pulled)"
                    .to_string(),
                "prices: the hourlyRate and monthlyRate the utilization pull returned".to_string(),
                "storage: monthlyRate prorated over the time the machine existed in the month"
                    .to_string(),
                "saved: hours off after Machinist's stops until anyone started the machine, at \
                 the rate then; machines billed monthly save nothing"
                    .to_string(),
            ],
        }
    }
}

/// The report as CSV: one row per machine, then a total row.
pub fn to_csv(report: &CostReport) -> String {
    fn money(x: Option<f64>) -> String {
        x.map(|v| format!("{v:.2}")).unwrap_or_default()
    }
    /// Quotes a field when it holds a comma, quote or line break, and
    /// defuses a leading `=`, `+`, `-` or `@` so a spreadsheet does not run
    /// a machine's name as a formula.
    fn field(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from(
        "month,machine_id,name,machine_type,region,hours,hours_bound,method,hourly_rate,compute,storage,total,monthly_billed,stops,kept_off_hours,saved,saved_vs_always_on\n",
    );
    for l in &report.machines {
        out.push_str(&format!(
            "{},{},{},{},{},{:.2},{:.2},{},{},{},{},{},{},{},{:.2},{},{}\n",
            report.month,
            field(&l.machine_id),
            field(&l.name),
            field(l.machine_type.as_deref().unwrap_or("")),
            field(l.region.as_deref().unwrap_or("")),
            l.hours,
            l.hours_bound,
            l.method.as_str(),
            l.hourly_rate.map(|r| format!("{r}")).unwrap_or_default(),
            money(l.compute),
            money(l.storage),
            money(l.total),
            l.monthly_billed,
            l.stops,
            l.kept_off_hours,
            money(l.saved),
            money(l.saved_vs_always_on),
        ));
    }
    let t = &report.totals;
    out.push_str(&format!(
        "{},total,,,,{:.2},,,,{:.2},{:.2},{:.2},,,,{:.2},\n",
        report.month, t.hours, t.compute, t.storage, t.total, t.saved
    ));
    out
}
