//! The PostgreSQL driver's machine operations: a sighting is one
//! transaction around `postgres/machines.rs` (which locks the rows it
//! compares); the machine reads run on the pool.

use chrono::{DateTime, Utc};

use crate::machine::{Machine, MachineState};
use crate::store::postgres::{Effects, PostgresDriver, machines};
use crate::store::rows::{from_ms, to_ms};
use crate::store::{Cause, StoreError};
use crate::store::{KnownMachine, MachineSwitch};

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

/// The machine operations of the PostgreSQL driver.
impl PostgresDriver {
    pub(in crate::store) async fn see_machines(
        &self,
        machines: Vec<Machine>,
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        machines::see_machines(&mut tx, &machines, &[], complete, now).await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn machines(&self) -> Result<Vec<KnownMachine>, StoreError> {
        // `COLLATE "C"`: names in byte order, as SQLite's BINARY collation
        // sorts them, whatever the database's locale.
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT data, seen_at, gone_at FROM machines ORDER BY name COLLATE \"C\", id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(known_machine).collect()
    }

    pub(in crate::store) async fn machine(
        &self,
        id: &str,
    ) -> Result<Option<KnownMachine>, StoreError> {
        let row: Option<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT data, seen_at, gone_at FROM machines WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
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
             AND e.at <= $1 ORDER BY e.at, e.id",
        )
        .bind(to_ms(until))
        .fetch_all(&self.pool)
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
        let running: Vec<String> = MachineState::KNOWN
            .iter()
            .filter(|s| s.is_running() && **s != MachineState::Stopping)
            .map(|s| s.as_str().to_string())
            .collect();
        let seen: Vec<(String, i64)> = sqlx::query_as(
            "SELECT machine_id, at FROM machine_states WHERE at <= $1 AND state = ANY($2)",
        )
        .bind(to_ms(until))
        .bind(&running)
        .fetch_all(&self.pool)
        .await?;
        let starts: Vec<(String, String)> =
            sqlx::query_as("SELECT machine_id, created_at FROM machine_starts")
                .fetch_all(&self.pool)
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
             WHERE (state = 'queued' OR state = 'running' OR state = 'waiting' OR state = 'blocked') \
             AND machine_id = ANY($1)",
        )
        .bind(machine_ids)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(m,)| m)
        .collect())
    }
}
