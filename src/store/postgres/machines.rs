//! Machines in PostgreSQL: sightings (the `machines` table, with the
//! `machine_states`, `machine_starts` and `machine_rates` rows they add),
//! written inside a transaction and shared by the operations that report
//! machines (a refresh, a job's step).
//!
//! **Several writers.** SQLite's one writer made a sighting's
//! compare-then-write atomic: a state row is added exactly when the stored
//! state differs, with the `seen_at` it replaces. Here two daemons may see
//! the same machine at once, so a sighting first locks every existing row
//! it will touch (`FOR UPDATE`, in id order) and reads their state under
//! the lock; a machine not yet known is inserted with `ON CONFLICT DO
//! NOTHING`, and if another transaction inserted it first, its row is
//! locked and compared like any other. Machines are written in id order
//! too, so two sightings of overlapping lists wait for each other instead
//! of deadlocking.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::tx::Tx;
use crate::machine::{Machine, MachineRate};
use crate::store::StoreError;
use crate::store::rows::to_ms;

/// A machine as its rows store it (SQLite's `SeenMachine`).
struct SeenMachine<'a> {
    /// Its Paperspace id, the row's key.
    id: &'a str,
    /// Its name, for listing machines by name.
    name: &'a str,
    /// Its state as stored, compared with the stored one for `machine_states`.
    state: &'a str,
    /// The whole machine as JSON, the `data` column.
    data: String,
    /// The times of the start operations the machine lists (not failed or
    /// cancelled), as its JSON spells them, for `machine_starts`.
    starts: Vec<String>,
    /// v1's prices and the machine type they belong to, for
    /// `machine_rates`; `None` on legacy, whose machines carry none.
    rate: Option<(MachineRate, Option<&'a str>)>,
}

impl<'a> SeenMachine<'a> {
    fn new(m: &'a Machine) -> Self {
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
            id: &m.id,
            name: &m.name,
            state: m.state.as_str(),
            data: serde_json::to_string(m).expect("stored JSON serializes"),
            starts,
            rate: m.rate.map(|r| (r, m.machine_type.as_deref())),
        }
    }
}

/// Records `machines` as seen at `now` and `gone` as gone; with `complete`,
/// every known machine not in `machines` is gone too (as SQLite's
/// `see_machines`).
pub(super) async fn see_machines(
    tx: &mut Tx,
    machines: &[Machine],
    gone: &[String],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    // Stable: a machine listed twice is applied in the order given, as in
    // SQLite, the second sighting comparing with the first.
    let mut seen: Vec<SeenMachine> = machines.iter().map(SeenMachine::new).collect();
    seen.sort_by(|a, b| a.id.cmp(b.id));
    let present: Vec<String> = seen.iter().map(|m| m.id.to_string()).collect();
    if seen.is_empty() && gone.is_empty() && !complete {
        return Ok(());
    }
    // Every existing row this sighting writes, locked in id order before
    // any is written, with the state and `seen_at` the comparisons need.
    let touched: Vec<String> = present.iter().chain(gone).cloned().collect();
    // Two statements, not one with `OR ($2 AND …)`: a prepared plan for
    // that cannot use the primary key, and every sighting read the whole
    // table.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(if complete {
        "SELECT id, state, seen_at FROM machines \
         WHERE id = ANY($1) OR gone_at IS NULL ORDER BY id FOR UPDATE"
    } else {
        "SELECT id, state, seen_at FROM machines WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    })
    .bind(&touched)
    .fetch_all(&mut **tx)
    .await?;
    let mut stored: HashMap<String, (String, i64)> = rows
        .into_iter()
        .map(|(id, state, seen_at)| (id, (state, seen_at)))
        .collect();
    let done = insert_new(tx, &seen, &mut stored, at).await?;
    for m in seen.iter().filter(|m| !done.contains(m.id)) {
        see_one(tx, m, &mut stored, at).await?;
    }
    if !gone.is_empty() {
        sqlx::query(
            "UPDATE machines SET gone_at = $1, seen_at = $1 \
             WHERE gone_at IS NULL AND id = ANY($2)",
        )
        .bind(at)
        .bind(gone)
        .execute(&mut **tx)
        .await?;
    }
    if complete {
        sqlx::query(
            "UPDATE machines SET gone_at = $1, seen_at = $1 \
             WHERE gone_at IS NULL AND NOT (id = ANY($2))",
        )
        .bind(at)
        .bind(&present)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Inserts in one statement the machines of this sighting that are new
/// and plain (listed once, with no starts or prices to record: a first
/// sighting is then only its row), in id order as [`see_one`] would; the
/// ones another transaction inserted first are left to [`see_one`], which
/// compares with that row. Answers the ids written.
async fn insert_new<'a>(
    tx: &mut Tx,
    seen: &[SeenMachine<'a>],
    stored: &mut HashMap<String, (String, i64)>,
    at: i64,
) -> Result<std::collections::HashSet<&'a str>, StoreError> {
    let mut listed: HashMap<&str, usize> = HashMap::new();
    for m in seen {
        *listed.entry(m.id).or_default() += 1;
    }
    let new: Vec<&SeenMachine> = seen
        .iter()
        .filter(|m| {
            !stored.contains_key(m.id)
                && listed[m.id] == 1
                && m.starts.is_empty()
                && m.rate.is_none()
        })
        .collect();
    if new.len() < 2 {
        // One row is what `see_one` writes anyway.
        return Ok(Default::default());
    }
    let inserted: Vec<(String,)> = sqlx::query_as(
        "INSERT INTO machines (id, name, state, data, seen_at, gone_at, first_seen_at, first_state) \
         SELECT id, name, state, data, $5, NULL, $5, state \
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS m(id, name, state, data) \
         ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(new.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(new.iter().map(|m| m.name).collect::<Vec<_>>())
    .bind(new.iter().map(|m| m.state).collect::<Vec<_>>())
    .bind(new.iter().map(|m| m.data.as_str()).collect::<Vec<_>>())
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    let by_id: HashMap<&str, &SeenMachine<'a>> = new.iter().map(|m| (m.id, *m)).collect();
    let mut done = std::collections::HashSet::new();
    for (id,) in inserted {
        if let Some(m) = by_id.get(id.as_str()) {
            stored.insert(id, (m.state.to_string(), at));
            done.insert(m.id);
        }
    }
    Ok(done)
}

/// The rows of one machine seen at `at`: the machine, a state change, its
/// starts, a change of its prices. `stored` holds the locked rows' state
/// and `seen_at`, and is kept up to date for a machine listed again.
async fn see_one(
    tx: &mut Tx,
    m: &SeenMachine<'_>,
    stored: &mut HashMap<String, (String, i64)>,
    at: i64,
) -> Result<(), StoreError> {
    let mut before = stored.get(m.id).cloned();
    if before.is_none() {
        // A first sighting is the row's own `first_seen_at`/`first_state`.
        let inserted = sqlx::query(
            "INSERT INTO machines (id, name, state, data, seen_at, gone_at, first_seen_at, first_state) \
             VALUES ($1, $2, $3, $4, $5, NULL, $5, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(m.id)
        .bind(m.name)
        .bind(m.state)
        .bind(&m.data)
        .bind(at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Another transaction inserted it since the lock was taken
            // (the insert waited for its commit): compare with its row.
            before = sqlx::query_as::<_, (String, i64)>(
                "SELECT state, seen_at FROM machines WHERE id = $1 FOR UPDATE",
            )
            .bind(m.id)
            .fetch_optional(&mut **tx)
            .await?;
        }
    }
    if let Some((state, seen_at)) = before {
        // A row in `machine_states` whenever a known machine's state
        // changed, with when it was last seen before.
        if state != m.state {
            sqlx::query(
                "INSERT INTO machine_states (machine_id, state, at, previous_seen_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(m.id)
            .bind(m.state)
            .bind(at)
            .bind(seen_at)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(
            "UPDATE machines SET name = $2, state = $3, data = $4, seen_at = $5, gone_at = NULL \
             WHERE id = $1",
        )
        .bind(m.id)
        .bind(m.name)
        .bind(m.state)
        .bind(&m.data)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    stored.insert(m.id.to_string(), (m.state.to_string(), at));
    for start in &m.starts {
        sqlx::query(
            "INSERT INTO machine_starts (machine_id, created_at) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(m.id)
        .bind(start)
        .execute(&mut **tx)
        .await?;
    }
    // A v1 machine's prices, kept when they differ from its latest row
    // (which the machine row's lock keeps other sightings from adding to
    // meanwhile).
    if let Some((rate, machine_type)) = &m.rate {
        sqlx::query(
            "INSERT INTO machine_rates (machine_id, at, usage, storage, machine_type) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM \
             (SELECT usage, storage, machine_type FROM machine_rates WHERE machine_id = $1 \
              ORDER BY at DESC LIMIT 1) l \
             WHERE l.usage = $3 AND l.storage = $4 AND l.machine_type IS NOT DISTINCT FROM $5) \
             ON CONFLICT (machine_id, at) DO UPDATE SET usage = excluded.usage, \
             storage = excluded.storage, machine_type = excluded.machine_type",
        )
        .bind(m.id)
        .bind(at)
        .bind(rate.usage)
        .bind(rate.storage)
        .bind(*machine_type)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
