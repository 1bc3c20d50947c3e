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
