//! Machines in SQLite: sightings (the `machines` table, with the
//! `machine_states` and `machine_starts` they add to), and the reads of
//! what is known of machines: the machines, the switches Machinist made
//! and the signs that a machine ran.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::Value;

use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::machine::Machine;
use crate::store::StoreError;
use crate::store::rows::to_ms;

/// Machines seen, with the channel the answer goes back on.
pub(super) struct SeeMachines {
    /// The machines seen, encoded.
    pub(super) machines: Vec<SeenMachine>,
    /// Machines found to no longer exist.
    pub(super) gone: Vec<String>,
    /// The list is the whole account: machines not in it are gone.
    pub(super) complete: bool,
    /// When they were seen.
    pub(super) now: DateTime<Utc>,
    /// Where the answer goes after the commit.
    pub(super) reply: Reply<()>,
}

/// A machine for the machines table, its JSON made by the caller.
pub(super) struct SeenMachine {
    /// Its Paperspace id, the row's key.
    id: String,
    /// Its name, for listing machines by name.
    name: String,
    /// Its state as stored, compared with the stored one for `machine_states`.
    state: String,
    /// The whole machine as JSON, the `data` column.
    data: String,
    /// The times of the start operations the machine lists (not failed or
    /// cancelled), as its JSON spells them, for `machine_starts`: picked out
    /// here, by the caller, so the writer's thread parses no JSON.
    starts: Vec<String>,
}

impl SeenMachine {
    pub(super) fn new(m: Machine) -> Self {
        let starts = m
            .events
            .iter()
            .filter(|e| e.name == "start" && !matches!(e.state.as_str(), "error" | "cancelled"))
            .filter_map(|e| match serde_json::to_value(e.created_at?) {
                Ok(Value::String(at)) => Some(at),
                _ => None,
            })
            .collect();
        SeenMachine {
            data: json_text(&m),
            state: m.state.as_str().to_string(),
            id: m.id,
            name: m.name,
            starts,
        }
    }
}

/// Applies a sighting in the batch's transaction; its answer goes into
/// `fx.pending`.
pub(super) fn apply(tx: &Tx<'_>, seen: SeeMachines, fx: &mut Effects) -> Result<(), StoreError> {
    let SeeMachines {
        machines,
        gone,
        complete,
        now,
        reply,
    } = seen;
    see_machines(tx, &machines, &gone, complete, now)?;
    fx.pending.push(pending(reply, ()));
    Ok(())
}

/// Records `machines` as seen at `now` and `gone` as gone; with `complete`,
/// every known machine not in `machines` is gone too.
pub(super) fn see_machines(
    tx: &Tx<'_>,
    machines: &[SeenMachine],
    gone: &[String],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    if !machines.is_empty() {
        upsert_seen(tx, machines, at)?;
    }
    if !gone.is_empty() {
        tx.prepare_cached(
            "UPDATE machines SET gone_at = ?1, seen_at = ?1 WHERE gone_at IS NULL \
             AND id IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![at, json_text(&gone)])?;
    }
    if complete {
        let present: Vec<&str> = machines.iter().map(|m| m.id.as_str()).collect();
        tx.prepare_cached(
            "UPDATE machines SET gone_at = ?1, seen_at = ?1 WHERE gone_at IS NULL \
             AND id NOT IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![at, json_text(&present)])?;
    }
    Ok(())
}

/// The rows of machines seen at `at`: the machine, a state change, its starts.
fn upsert_seen(tx: &Tx<'_>, machines: &[SeenMachine], at: i64) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO machines (id, name, state, data, seen_at, gone_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, NULL) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
         data = excluded.data, seen_at = excluded.seen_at, gone_at = NULL",
    )?;
    // A row in `machine_states` when a known machine's state changed
    // (see the migration that made the table); it must run before the
    // upsert it compares with.
    let mut state = tx.prepare_cached(
        "INSERT INTO machine_states (machine_id, state, at) SELECT ?1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM machines WHERE id = ?1 AND state <> ?2)",
    )?;
    for m in machines {
        state.execute(params![m.id, m.state, at])?;
        upsert.execute(params![m.id, m.name, m.state, m.data, at])?;
    }
    // Most answers list no start: no statement to look up for them.
    if machines.iter().any(|m| !m.starts.is_empty()) {
        let mut start = tx.prepare_cached(
            "INSERT OR IGNORE INTO machine_starts (machine_id, created_at) VALUES (?1, ?2)",
        )?;
        for m in machines {
            for at in &m.starts {
                start.execute(params![m.id, at])?;
            }
        }
    }
    Ok(())
}
