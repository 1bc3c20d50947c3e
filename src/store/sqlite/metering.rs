//! Metering in SQLite: the writes of the meter's facts (machine events,
//! the ingestion cursor and gaps, monthly billing marks, the account's
//! standing), applied by the writer. The states and prices the meter reads
//! are written where machines are recorded as seen (`machines.rs`).

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::machine::{AccountStanding, MachineEvent};
use crate::meter::{MeterCursor, MeterGap};
use crate::store::StoreError;
use crate::store::metering::EventsSaved;
use crate::store::rows::to_ms;

/// The lifecycle events, whose newest before a window says a machine's
/// state at its start, as a literal for `concat!`: spelled as the partial
/// index `machine_events_lifecycle` (migration 0007) is, so that the
/// planner uses it.
macro_rules! lifecycle {
    () => {
        "('create', 'start', 'restart', 'stop', 'vm-shutdown-force', 'deactivate', 'vm-upgrade')"
    };
}
pub(super) use lifecycle;

/// A write of the meter's facts, with the channel its answer goes back on.
pub(super) enum MeterCommand {
    /// Upserts machine events by id.
    SaveEvents {
        events: Vec<MachineEvent>,
        now: DateTime<Utc>,
        reply: Reply<EventsSaved>,
    },
    /// Replaces the ingestion cursor.
    SaveCursor {
        cursor: MeterCursor,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    /// Keeps a gap between ingestion runs (the same gap again replaces it).
    RecordGap { gap: MeterGap, reply: Reply<()> },
    /// Marks a machine as billed monthly (from `now`, unless it already
    /// was), or removes the mark.
    SetMonthly {
        machine_id: String,
        monthly: bool,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    /// Replaces the last check of the account's standing.
    SaveStanding {
        standing: AccountStanding,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
}

/// Applies a metering write in the batch's transaction; its answer goes
/// into `fx.pending`.
pub(super) fn apply(
    tx: &Tx<'_>,
    command: MeterCommand,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        MeterCommand::SaveEvents { events, now, reply } => {
            let saved = save_events(tx, &events, now)?;
            fx.pending.push(pending(reply, saved));
        }
        MeterCommand::SaveCursor { cursor, now, reply } => {
            tx.prepare_cached(
                "INSERT INTO meter_cursor (id, newest, oldest_open, ingested_at, saved_at) \
                 VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET \
                 newest = excluded.newest, oldest_open = excluded.oldest_open, \
                 ingested_at = excluded.ingested_at, saved_at = excluded.saved_at",
            )?
            .execute(params![
                cursor.newest.map(to_ms),
                cursor.oldest_open.map(to_ms),
                cursor.ingested_at.map(to_ms),
                to_ms(now),
            ])?;
            fx.pending.push(pending(reply, ()));
        }
        MeterCommand::RecordGap { gap, reply } => {
            tx.prepare_cached(
                "INSERT INTO meter_gaps (from_at, to_at, backfilled, complete) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (from_at, to_at) DO UPDATE SET \
                 backfilled = excluded.backfilled, complete = excluded.complete",
            )?
            .execute(params![
                to_ms(gap.from),
                to_ms(gap.to),
                i64::try_from(gap.backfilled).unwrap_or(i64::MAX),
                gap.complete,
            ])?;
            fx.pending.push(pending(reply, ()));
        }
        MeterCommand::SetMonthly {
            machine_id,
            monthly,
            now,
            reply,
        } => {
            if monthly {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO monthly_billing (machine_id, since) VALUES (?1, ?2)",
                )?
                .execute(params![machine_id, to_ms(now)])?;
            } else {
                tx.prepare_cached("DELETE FROM monthly_billing WHERE machine_id = ?1")?
                    .execute(params![machine_id])?;
            }
            fx.pending.push(pending(reply, ()));
        }
        MeterCommand::SaveStanding {
            standing,
            now,
            reply,
        } => {
            tx.prepare_cached(
                "INSERT INTO account_standing (id, data, checked_at) VALUES (1, ?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, checked_at = excluded.checked_at",
            )?
            .execute(params![json_text(&standing), to_ms(now)])?;
            fx.pending.push(pending(reply, ()));
        }
    }
    Ok(())
}

/// Upserts events by id: a new id is added; a known one takes the copy's
/// state, error and times, and counts as changed only if one differed.
fn save_events(
    tx: &Tx<'_>,
    events: &[MachineEvent],
    now: DateTime<Utc>,
) -> Result<EventsSaved, StoreError> {
    let now = to_ms(now);
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO machine_events \
         (id, machine_id, name, state, error, created_at, started_at, finished_at, saved_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE machine_events SET state = ?2, error = ?3, started_at = ?4, finished_at = ?5, \
         updated_at = ?6 WHERE id = ?1 AND (state IS NOT ?2 OR error IS NOT ?3 \
         OR started_at IS NOT ?4 OR finished_at IS NOT ?5)",
    )?;
    let mut saved = EventsSaved::default();
    for e in events {
        let (Some(id), Some(machine_id), Some(created_at)) = (&e.id, &e.machine_id, e.created_at)
        else {
            saved.skipped += 1;
            continue;
        };
        let (started, finished) = (e.started_at.map(to_ms), e.finished_at.map(to_ms));
        if insert.execute(params![
            id,
            machine_id,
            e.name,
            e.state,
            e.error,
            to_ms(created_at),
            started,
            finished,
            now,
        ])? == 1
        {
            saved.added += 1;
        } else if update.execute(params![id, e.state, e.error, started, finished, now])? == 1 {
            saved.changed += 1;
        }
    }
    Ok(saved)
}
