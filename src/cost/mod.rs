//! What machines cost and what Machinist saved, from what the store keeps.
//!
//! [`Ledger`] gathers the facts of a month (the machine events the meter
//! ingested, the states and prices Machinist saw, Machinist's stops, the
//! utilization pulled from legacy Paperspace, the machines marked as billed
//! monthly) and hands them to the pure [`crate::meter`], which does the
//! arithmetic. The admin API's reports, the monthly pull and `utilization`
//! jobs on v1 all read through it, so every figure has one derivation.
//!
//! Where each figure comes from, per backend:
//!
//! - **Running time**: v1: intervals from the machine events, cross-checked
//!   with the states Machinist saw (`method` says `events`, `mixed` or
//!   `observed`, with a bound in seconds); legacy: from the states Machinist
//!   saw (`observed`), shown beside the hours Paperspace's `getUtilization`
//!   reported when pulled.
//! - **Prices**: v1: the machines' `usageRate`/`storageRate` as seen, with
//!   their history (a `vm-upgrade` changes them), read in the units of
//!   `cost.usage_rate_unit`/`cost.storage_rate_unit`; legacy: the hourly and
//!   monthly rates the utilization pull returned.
//! - **Storage**: the storage price prorated over the part of the month the
//!   machine existed.

pub mod forecast;
pub mod ledger;
pub mod report;

pub use forecast::{Forecast, ForecastError, ForecastLine, ForecastTotals, Plan, PlanKind};
pub use ledger::{CostError, CostSettings, Ledger, MachineMonth};
/// Money to the cent, as every report shows it; `+ 0.0` turns the `-0.0`
/// of an empty sum into `0.0`.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

pub use report::{CostLine, CostReport, DailyPoint, GroupTotal, PulledFigures, Totals, to_csv};
