//! Metering in PostgreSQL: the writes of the meter's facts inside a
//! transaction (machine events upserted by id), and the lifecycle events'
//! list that the reads share with the partial index. The states and prices
//! the meter reads are written where machines are seen (`machines.rs`);
//! the single-row writes (cursor, gaps, monthly marks, standing) are one
//! upsert each, in `ops/metering.rs`.
//!
//! **Several writers.** Two daemons may ingest the same events at once.
//! Each event is an `INSERT … ON CONFLICT DO NOTHING` and, when it was
//! known, an `UPDATE` that only matches if something differs: an insert
//! racing another waits for it to commit and then compares with what it
//! wrote, so an event is counted added once and changed only when a
//! change was written, as SQLite's one writer counted them. Events are
//! written in id order, so two overlapping saves wait for each other
//! rather than deadlock.

use chrono::{DateTime, Utc};

use super::tx::Tx;
use crate::machine::MachineEvent;
use crate::store::StoreError;
use crate::store::metering::EventsSaved;
use crate::store::rows::to_ms;

/// The lifecycle events, whose newest before a window says a machine's
/// state at its start, as a literal for `concat!`: spelled as the partial
/// index `machine_events_lifecycle` is, so that the planner can use it.
macro_rules! lifecycle {
    () => {
        "('create', 'start', 'restart', 'stop', 'vm-shutdown-force', 'deactivate', 'vm-upgrade')"
    };
}
pub(super) use lifecycle;

/// Upserts events by id: a new id is added; a known one takes the copy's
/// state, error and times, and counts as changed only if one differed.
pub(super) async fn save_events(
    tx: &mut Tx,
    events: &[MachineEvent],
    now: DateTime<Utc>,
) -> Result<EventsSaved, StoreError> {
    let now = to_ms(now);
    let mut saved = EventsSaved::default();
    let mut keyed = Vec::with_capacity(events.len());
    for e in events {
        match (&e.id, &e.machine_id, e.created_at) {
            (Some(id), Some(machine_id), Some(created_at)) => {
                keyed.push((id, machine_id, created_at, e))
            }
            _ => saved.skipped += 1,
        }
    }
    // Stable: an event listed twice is applied in the order given.
    keyed.sort_by(|a, b| a.0.cmp(b.0));
    for (id, machine_id, created_at, e) in keyed {
        let (started, finished) = (e.started_at.map(to_ms), e.finished_at.map(to_ms));
        let inserted = sqlx::query(
            "INSERT INTO machine_events \
             (id, machine_id, name, state, error, created_at, started_at, finished_at, saved_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(machine_id)
        .bind(&e.name)
        .bind(&e.state)
        .bind(&e.error)
        .bind(to_ms(created_at))
        .bind(started)
        .bind(finished)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            saved.added += 1;
            continue;
        }
        let changed = sqlx::query(
            "UPDATE machine_events SET state = $2, error = $3, started_at = $4, finished_at = $5, \
             updated_at = $6 WHERE id = $1 AND (state IS DISTINCT FROM $2 \
             OR error IS DISTINCT FROM $3 OR started_at IS DISTINCT FROM $4 \
             OR finished_at IS DISTINCT FROM $5)",
        )
        .bind(id)
        .bind(&e.state)
        .bind(&e.error)
        .bind(started)
        .bind(finished)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if changed == 1 {
            saved.changed += 1;
        }
    }
    Ok(saved)
}
