//! Metering: what each machine ran and cost, worked out from Paperspace's
//! machine events and what Machinist saw, and what Machinist's stops saved.
//!
//! Pure: every function takes the facts and the time as arguments; the store
//! keeps the facts and the daemon's ingestion (`daemon/meter.rs`) gathers
//! them.

pub mod sighting;

pub use sighting::{MeterCursor, MeterGap, RateSighting, StateSighting};
