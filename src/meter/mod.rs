//! Metering: what each machine ran and cost, worked out from Paperspace's
//! machine events and what Machinist saw, and what Machinist's stops saved.
//!
//! Pure: every function takes the facts and the time as arguments; the store
//! keeps the facts and the daemon's ingestion (`daemon/meter.rs`) gathers
//! them.

pub mod forecast;
pub mod interval;
pub mod month;
pub mod savings;
pub mod sighting;
pub mod units;

pub use forecast::{
    Command, History, MachineForecast, PATTERN_DAYS, PATTERN_MINIMUM, apply_plan, forecast_machine,
};
pub use interval::{Evidence, Interval, MachineFacts, is_billed, running_intervals};
pub use month::{MeteredMonth, Method, PriceSource, Prices, meter_month, present_span};
pub use savings::{MachineSavings, PatternBaseline, PriorPattern, machine_savings};
pub use sighting::{MeterCursor, MeterGap, RateSighting, StateSighting};
pub use units::{BadUnit, RateUnits, StorageUnit, UsageUnit};

/// Facts the month and savings tests build their cases from: one machine,
/// `ps1`, in April 2026.
#[cfg(test)]
mod fixtures {
    use chrono::{DateTime, Utc};

    use crate::machine::{MachineEvent, MachineRate};
    use crate::meter::RateSighting;

    /// `"02T08:00:00"` → 2026-04-02 08:00 UTC.
    pub(super) fn at(s: &str) -> DateTime<Utc> {
        format!("2026-04-{s}Z").parse().unwrap()
    }

    /// A `done` event of `ps1` that began at `start` and ended at `finish`.
    pub(super) fn event(id: &str, name: &str, start: &str, finish: &str) -> MachineEvent {
        MachineEvent {
            id: Some(id.into()),
            machine_id: Some("ps1".into()),
            name: name.into(),
            state: "done".into(),
            error: None,
            created_at: Some(at(start)),
            started_at: Some(at(start)),
            finished_at: Some(at(finish)),
        }
    }

    /// `ps1`'s prices as first seen at `when`.
    pub(super) fn rate(when: &str, usage: f64, storage: f64) -> RateSighting {
        RateSighting {
            machine_id: "ps1".into(),
            at: at(when),
            rate: MachineRate { usage, storage },
            machine_type: None,
        }
    }
}
