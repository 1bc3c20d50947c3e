//! Metering's facts: Paperspace's machine events, the states and prices
//! Machinist saw, where the ingestion stands, monthly billing marks and the
//! account's standing. The nouns beyond `crate::meter`'s and
//! `crate::machine`'s, and the rows every driver decodes them from (the
//! operations: `handle/metering.rs`).
//!
//! These are the cost record: nothing prunes them with jobs.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::rows::from_ms;
use crate::machine::{MachineEvent, MachineRate, MachineState};
use crate::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};

/// What a save of machine events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsSaved {
    /// Events not stored before.
    pub added: u64,
    /// Events stored before whose state, error or times changed.
    pub changed: u64,
    /// Events without an id, a machine or a creation time, not stored.
    pub skipped: u64,
}

/// A `machine_events` row.
#[derive(Debug, FromRow)]
pub(crate) struct EventRow {
    /// Paperspace's event id.
    id: String,
    /// The machine it acted on.
    machine_id: String,
    /// `start`, `stop`, …
    name: String,
    /// `new`, `in progress`, `done`, `error`, `cancelled`.
    state: String,
    /// The failure message.
    error: Option<String>,
    /// `dtCreated`, ms.
    created_at: i64,
    /// `dtStarted`, ms.
    started_at: Option<i64>,
    /// `dtFinished`, ms.
    finished_at: Option<i64>,
}

impl From<EventRow> for MachineEvent {
    fn from(r: EventRow) -> Self {
        MachineEvent {
            id: Some(r.id),
            machine_id: Some(r.machine_id),
            name: r.name,
            state: r.state,
            error: r.error,
            created_at: Some(from_ms(r.created_at)),
            started_at: r.started_at.map(from_ms),
            finished_at: r.finished_at.map(from_ms),
        }
    }
}

/// A `machine_states` row.
#[derive(Debug, FromRow)]
pub(crate) struct StateRow {
    /// The machine seen.
    machine_id: String,
    /// The state as stored.
    state: String,
    /// When first seen in it, ms.
    at: i64,
    /// When last seen in the state before, ms.
    previous_seen_at: Option<i64>,
}

impl From<StateRow> for StateSighting {
    fn from(r: StateRow) -> Self {
        StateSighting {
            machine_id: r.machine_id,
            state: MachineState::parse(&r.state),
            at: from_ms(r.at),
            previous_seen_at: r.previous_seen_at.map(from_ms),
        }
    }
}

/// A `machine_rates` row.
#[derive(Debug, FromRow)]
pub(crate) struct RateRow {
    /// The machine priced.
    machine_id: String,
    /// When these prices were first seen, ms.
    at: i64,
    /// `usageRate`.
    usage: f64,
    /// `storageRate`.
    storage: f64,
    /// The machine type they belong to.
    machine_type: Option<String>,
}

impl From<RateRow> for RateSighting {
    fn from(r: RateRow) -> Self {
        RateSighting {
            machine_id: r.machine_id,
            at: from_ms(r.at),
            rate: MachineRate {
                usage: r.usage,
                storage: r.storage,
            },
            machine_type: r.machine_type,
        }
    }
}

/// The `meter_cursor` row.
#[derive(Debug, FromRow)]
pub(crate) struct CursorRow {
    /// The high-water mark, ms.
    newest: Option<i64>,
    /// The oldest event still open when ingested, ms.
    oldest_open: Option<i64>,
    /// When the last complete run ended, ms.
    ingested_at: Option<i64>,
}

impl From<CursorRow> for MeterCursor {
    fn from(r: CursorRow) -> Self {
        MeterCursor {
            newest: r.newest.map(from_ms),
            oldest_open: r.oldest_open.map(from_ms),
            ingested_at: r.ingested_at.map(from_ms),
        }
    }
}

/// A `meter_gaps` row.
#[derive(Debug, FromRow)]
pub(crate) struct GapRow {
    /// The previous complete run, ms.
    from_at: i64,
    /// The run that found the gap, ms.
    to_at: i64,
    /// Events of the gap ingested.
    backfilled: i64,
    /// Whether the listing reached the high-water mark.
    complete: bool,
}

impl From<GapRow> for MeterGap {
    fn from(r: GapRow) -> Self {
        MeterGap {
            from: from_ms(r.from_at),
            to: from_ms(r.to_at),
            backfilled: r.backfilled.max(0) as u64,
            complete: r.complete,
        }
    }
}
