//! Machines in SQLite: sightings (the `machines` table, with the
//! `machine_states`, `machine_starts` and `machine_rates` they add to), and the reads of
//! what is known of machines: the machines, the switches Machinist made
//! and the signs that a machine ran.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::Value;

use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::machine::{Machine, MachineRate};
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
    /// v1's prices and the machine type they belong to, for
    /// `machine_rates`; `None` on legacy, whose machines carry none.
    rate: Option<(MachineRate, Option<String>)>,
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
            rate: m.rate.map(|r| (r, m.machine_type.clone())),
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

/// The rows of machines seen at `at`: the machine, a state change, its
/// starts, a change of its prices.
fn upsert_seen(tx: &Tx<'_>, machines: &[SeenMachine], at: i64) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO machines (id, name, state, data, seen_at, gone_at, first_seen_at, first_state) \
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?5, ?3) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
         data = excluded.data, seen_at = excluded.seen_at, gone_at = NULL",
    )?;
    // A row in `machine_states` whenever a known machine's state changed
    // (see the migrations that made the table), with when it was last seen
    // before: the one lookup of its row, which must run before the upsert
    // it compares with. A first sighting is the machine row's own
    // `first_seen_at`/`first_state`, written by the insert.
    let mut state = tx.prepare_cached(
        "INSERT INTO machine_states (machine_id, state, at, previous_seen_at) \
         SELECT ?1, ?2, ?3, m.seen_at FROM machines m WHERE m.id = ?1 AND m.state <> ?2",
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
    // Legacy machines carry no prices: no statement for them either. A v1
    // machine's prices cost one seek of its latest `machine_rates` row.
    if machines.iter().any(|m| m.rate.is_some()) {
        let mut rate = tx.prepare_cached(
            "INSERT INTO machine_rates (machine_id, at, usage, storage, machine_type) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM \
             (SELECT usage, storage, machine_type FROM machine_rates WHERE machine_id = ?1 \
              ORDER BY at DESC LIMIT 1) l \
             WHERE l.usage = ?3 AND l.storage = ?4 AND l.machine_type IS ?5) \
             ON CONFLICT (machine_id, at) DO UPDATE SET usage = excluded.usage, \
             storage = excluded.storage, machine_type = excluded.machine_type",
        )?;
        for m in machines {
            if let Some((r, machine_type)) = &m.rate {
                rate.execute(params![m.id, at, r.usage, r.storage, machine_type])?;
            }
        }
    }
    Ok(())
}
