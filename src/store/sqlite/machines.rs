//! Machines in SQLite: sightings (the `machines` table, with the
//! `machine_states` and `machine_starts` they add to), and the reads of
//! what is known of machines: the machines, the switches Machinist made
//! and the signs that a machine ran.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::Value;

use super::SqliteDriver;
use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::machine::{Machine, MachineState};
use crate::store::rows::{from_ms, to_ms};
use crate::store::{Cause, KnownMachine, MachineSwitch, StoreError};

/// Machines seen, with the channel the answer goes back on.
pub(super) struct SeeMachines {
    /// The machines seen, encoded.
    machines: Vec<SeenMachine>,
    /// Machines found to no longer exist.
    gone: Vec<String>,
    /// The list is the whole account: machines not in it are gone.
    complete: bool,
    /// When they were seen.
    now: DateTime<Utc>,
    /// Where the answer goes after the commit.
    reply: Reply<()>,
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

/// The machine operations of the SQLite driver.
/// A machine from its row's `data`, `seen_at` and `gone_at`.
fn known_machine(
    (data, seen, gone): (String, i64, Option<i64>),
) -> Result<KnownMachine, StoreError> {
    let machine: Machine =
        serde_json::from_str(&data).map_err(|e| StoreError::Db(Cause::new(e)))?;
    Ok(KnownMachine {
        machine,
        seen_at: from_ms(seen),
        gone_at: gone.map(from_ms),
    })
}

impl SqliteDriver {
    pub(in crate::store) async fn see_machines(
        &self,
        machines: Vec<Machine>,
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let machines = machines.into_iter().map(SeenMachine::new).collect();
        self.send(|reply| SeeMachines {
            machines,
            gone: Vec::new(),
            complete,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn machines(&self) -> Result<Vec<KnownMachine>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT data, seen_at, gone_at FROM machines ORDER BY name, id")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(known_machine).collect()
    }

    pub(in crate::store) async fn machine(
        &self,
        id: &str,
    ) -> Result<Option<KnownMachine>, StoreError> {
        let row: Option<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT data, seen_at, gone_at FROM machines WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(known_machine).transpose()
    }

    pub(in crate::store) async fn switches(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<MachineSwitch>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT j.machine_id, j.kind, e.at FROM job_events e JOIN jobs j ON j.id = e.job_id \
             WHERE e.kind = 'api_call' AND e.status BETWEEN 200 AND 299 AND j.machine_id IS NOT NULL \
             AND ((j.kind = 'stop' AND e.route LIKE '%/stop') OR (j.kind = 'start' AND e.route LIKE '%/start')) \
             AND e.at <= ? ORDER BY e.at, e.id",
        )
        .bind(to_ms(until))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(machine_id, kind, at)| MachineSwitch {
                machine_id,
                stop: kind == "stop",
                at: from_ms(at),
            })
            .collect())
    }

    pub(in crate::store) async fn signs_of_running(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let running: Vec<&str> = MachineState::KNOWN
            .iter()
            .filter(|s| s.is_running() && **s != MachineState::Stopping)
            .map(MachineState::as_str)
            .collect();
        let seen: Vec<(String, i64)> = sqlx::query_as(
            "SELECT machine_id, at FROM machine_states WHERE at <= ? \
             AND state IN (SELECT value FROM json_each(?))",
        )
        .bind(to_ms(until))
        .bind(serde_json::to_string(&running).unwrap_or_default())
        .fetch_all(&self.reader)
        .await?;
        let starts: Vec<(String, String)> =
            sqlx::query_as("SELECT machine_id, created_at FROM machine_starts")
                .fetch_all(&self.reader)
                .await?;
        Ok(seen
            .into_iter()
            .map(|(machine, at)| (machine, from_ms(at)))
            .chain(starts.into_iter().filter_map(|(machine, at)| {
                // Written from a `DateTime<Utc>`, so it parses back.
                Some((machine, at.parse::<DateTime<Utc>>().ok()?))
            }))
            .filter(|(_, at)| *at <= until)
            .collect())
    }

    pub(in crate::store) async fn busy_machines(
        &self,
        machine_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_as::<_, (String,)>(
            // The condition as `jobs_machine_open` spells it, so that index serves.
            "SELECT DISTINCT machine_id FROM jobs \
             WHERE (state = 'queued' OR state = 'running' OR state = 'waiting') \
             AND machine_id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(machine_ids).unwrap_or_default())
        .fetch_all(&self.reader)
        .await?
        .into_iter()
        .map(|(m,)| m)
        .collect())
    }
}
