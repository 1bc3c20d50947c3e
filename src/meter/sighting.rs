//! What the meter is fed besides Paperspace's events: the states and prices
//! Machinist saw, and where the event ingestion stands.
//!
//! The store keeps these and hands them back; the meter only reads them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::machine::{MachineRate, MachineState};

/// A machine first seen in a state.
///
/// Machinist sees machines when jobs look at them and when the meter lists
/// the account; a row exists only where the seen state changed. The change
/// happened somewhere between `previous_seen_at` and `at`: that span is how
/// far a running interval inferred from polling can be off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSighting {
    /// The machine seen.
    pub machine_id: String,
    /// The state it was seen in.
    pub state: MachineState,
    /// When it was first seen in it.
    pub at: DateTime<Utc>,
    /// When it was last seen in its previous state; `None` at its first
    /// sighting, when nothing earlier is known.
    pub previous_seen_at: Option<DateTime<Utc>>,
}

/// A machine's prices as first seen from `at` on: a new row whenever the
/// prices (or the machine type, after a `vm-upgrade`) differ from the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSighting {
    /// The machine priced.
    pub machine_id: String,
    /// When these prices were first seen.
    pub at: DateTime<Utc>,
    /// v1's `usageRate` and `storageRate`, as sent.
    pub rate: MachineRate,
    /// The machine type they belong to, e.g. `A4000`.
    pub machine_type: Option<String>,
}

/// Where the ingestion of the account's events stands, kept between runs
/// (and across restarts) so each run reads only what is new.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeterCursor {
    /// `dtCreated` of the newest event ingested: the high-water mark. A run
    /// pages back from the newest event until it passes it.
    pub newest: Option<DateTime<Utc>>,
    /// `dtCreated` of the oldest event that was still unfinished (`new`,
    /// `in progress`) when ingested: a run pages back at least to it so its
    /// end (`dtFinished`, `done` or `error`) is picked up.
    pub oldest_open: Option<DateTime<Utc>>,
    /// When the last complete run ended.
    pub ingested_at: Option<DateTime<Utc>>,
}

/// A stretch of time between two ingestion runs longer than the metering
/// interval (the daemon was down, or Paperspace could not be read): the run
/// that ends it pages back over it and records what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterGap {
    /// The previous complete run.
    pub from: DateTime<Utc>,
    /// The run that found the gap.
    pub to: DateTime<Utc>,
    /// Events created within the gap and ingested by that run.
    pub backfilled: u64,
    /// False when the listing ended before reaching the high-water mark:
    /// Paperspace no longer lists some events of the gap, and intervals
    /// across it rest on the states observed on either side.
    pub complete: bool,
}
