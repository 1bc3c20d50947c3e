//! The PostgreSQL driver's metering operations: each write is one
//! transaction (machine events through `postgres/metering.rs`, the
//! single-row facts as one upsert each, which PostgreSQL makes atomic
//! against another daemon's); the reads run on the pool.
//!
//! Rows of one machine at one instant (a machine seen twice within a
//! millisecond) are ordered by `machine_states.seq`, SQLite's rowid: taken
//! at insert under the sighting's lock of the machine row, it follows the
//! order written.

use chrono::{DateTime, Utc};

use crate::machine::{AccountStanding, MachineEvent};
use crate::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};
use crate::store::metering::{CursorRow, EventRow, EventsSaved, GapRow, RateRow, StateRow};
use crate::store::postgres::metering::{lifecycle, save_events};
use crate::store::postgres::{Effects, PostgresDriver};
use crate::store::rows::{from_ms, to_ms};
use crate::store::{Cause, StoreError};

/// The events created in [$1, $2), and each machine's newest lifecycle
/// event created before $1, in (created_at, id) order. The machines are
/// found by a loose index scan of `machine_events_lifecycle` (one seek per
/// machine, not a read of all history; PostgreSQL has no skip scan of its
/// own), and each one's newest event by one more seek.
const EVENTS: &str = concat!(
    "WITH RECURSIVE ids(machine_id) AS ( \
       SELECT (SELECT MIN(machine_id) FROM machine_events WHERE name IN ",
    lifecycle!(),
    ") UNION ALL \
       SELECT (SELECT MIN(machine_id) FROM machine_events WHERE name IN ",
    lifecycle!(),
    " AND machine_id > ids.machine_id) \
       FROM ids WHERE ids.machine_id IS NOT NULL) \
     SELECT id, machine_id, name, state, error, created_at, started_at, finished_at FROM ( \
     SELECT e.id, e.machine_id, e.name, e.state, e.error, e.created_at, e.started_at, e.finished_at \
     FROM ids CROSS JOIN LATERAL ( \
       SELECT * FROM machine_events WHERE machine_id = ids.machine_id AND name IN ",
    lifecycle!(),
    " AND created_at < $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT 1) e \
     UNION ALL \
     SELECT id, machine_id, name, state, error, created_at, started_at, finished_at \
     FROM machine_events WHERE created_at >= $1 AND created_at < $2) u \
     ORDER BY created_at, id COLLATE \"C\""
);

/// The state rows with `at` in [$1, $2), and each machine's last row
/// before $1, in (machine_id, at) order; rows of one machine at one
/// instant in the order written (a first sighting, then `seq`). The
/// machines come from a loose index scan of `machine_states_machine`, as
/// in [`EVENTS`], and both parts are seeks of it per machine (the table
/// has no index on `at` alone). A machine's first sighting (kept in its
/// `machines` row) joins them when it is in the window, or when no state
/// row precedes the window.
const STATES: &str = "WITH RECURSIVE ids(machine_id) AS ( \
       SELECT (SELECT MIN(machine_id) FROM machine_states) \
       UNION ALL \
       SELECT (SELECT MIN(machine_id) FROM machine_states WHERE machine_id > ids.machine_id) \
       FROM ids WHERE ids.machine_id IS NOT NULL) \
     SELECT machine_id, state, at, previous_seen_at FROM ( \
     SELECT 1 AS later, s.seq AS seq, s.machine_id, s.state, s.at, s.previous_seen_at \
     FROM ids CROSS JOIN LATERAL ( \
       SELECT * FROM machine_states WHERE machine_id = ids.machine_id AND at < $1 \
       ORDER BY at DESC, seq DESC LIMIT 1) s \
     UNION ALL \
     SELECT 1, s.seq, s.machine_id, s.state, s.at, s.previous_seen_at \
     FROM ids JOIN machine_states s ON s.machine_id = ids.machine_id AND s.at >= $1 AND s.at < $2 \
     UNION ALL \
     SELECT 0, NULL::BIGINT, m.id, m.first_state, m.first_seen_at, NULL::BIGINT \
     FROM machines m WHERE m.first_seen_at IS NOT NULL AND m.first_seen_at < $2 \
       AND (m.first_seen_at >= $1 OR NOT EXISTS ( \
         SELECT 1 FROM machine_states s WHERE s.machine_id = m.id AND s.at < $1))) u \
     ORDER BY machine_id COLLATE \"C\", at, later, seq";

/// The metering operations of the PostgreSQL driver.
impl PostgresDriver {
    pub(in crate::store) async fn save_machine_events(
        &self,
        events: Vec<MachineEvent>,
        now: DateTime<Utc>,
    ) -> Result<EventsSaved, StoreError> {
        let mut tx = self.begin().await?;
        let saved = save_events(&mut tx, &events, now).await?;
        self.commit(tx, Effects::default()).await?;
        Ok(saved)
    }

    pub(in crate::store) async fn machine_events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MachineEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(EVENTS)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(MachineEvent::from).collect())
    }

    pub(in crate::store) async fn machine_event_count(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM machine_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    pub(in crate::store) async fn meter_cursor(&self) -> Result<Option<MeterCursor>, StoreError> {
        let row: Option<CursorRow> = sqlx::query_as(
            "SELECT newest, oldest_open, ingested_at FROM meter_cursor WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(MeterCursor::from))
    }

    pub(in crate::store) async fn save_meter_cursor(
        &self,
        cursor: MeterCursor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO meter_cursor (id, newest, oldest_open, ingested_at, saved_at) \
             VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
             newest = excluded.newest, oldest_open = excluded.oldest_open, \
             ingested_at = excluded.ingested_at, saved_at = excluded.saved_at",
        )
        .bind(cursor.newest.map(to_ms))
        .bind(cursor.oldest_open.map(to_ms))
        .bind(cursor.ingested_at.map(to_ms))
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn record_meter_gap(&self, gap: MeterGap) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO meter_gaps (from_at, to_at, backfilled, complete) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (from_at, to_at) DO UPDATE SET \
             backfilled = excluded.backfilled, complete = excluded.complete",
        )
        .bind(to_ms(gap.from))
        .bind(to_ms(gap.to))
        .bind(i64::try_from(gap.backfilled).unwrap_or(i64::MAX))
        .bind(gap.complete)
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn meter_gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeterGap>, StoreError> {
        let rows: Vec<GapRow> = sqlx::query_as(
            "SELECT from_at, to_at, backfilled, complete FROM meter_gaps \
             WHERE from_at < $2 AND to_at > $1 ORDER BY from_at, to_at",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(MeterGap::from).collect())
    }

    pub(in crate::store) async fn rate_sightings(
        &self,
        to: DateTime<Utc>,
    ) -> Result<Vec<RateSighting>, StoreError> {
        let rows: Vec<RateRow> = sqlx::query_as(
            "SELECT machine_id, at, usage, storage, machine_type FROM machine_rates \
             WHERE at <= $1 ORDER BY machine_id COLLATE \"C\", at",
        )
        .bind(to_ms(to))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(RateSighting::from).collect())
    }

    pub(in crate::store) async fn state_sightings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateSighting>, StoreError> {
        let rows: Vec<StateRow> = sqlx::query_as(STATES)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(StateSighting::from).collect())
    }

    pub(in crate::store) async fn set_monthly_billed(
        &self,
        machine_id: &str,
        monthly: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if monthly {
            // A mark already there keeps its `since`.
            sqlx::query(
                "INSERT INTO monthly_billing (machine_id, since) VALUES ($1, $2) \
                 ON CONFLICT (machine_id) DO NOTHING",
            )
            .bind(machine_id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM monthly_billing WHERE machine_id = $1")
                .bind(machine_id)
                .execute(&mut *tx)
                .await?;
        }
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn monthly_billed(
        &self,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT machine_id, since FROM monthly_billing ORDER BY machine_id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(machine, since)| (machine, from_ms(since)))
            .collect())
    }

    pub(in crate::store) async fn save_account_standing(
        &self,
        standing: AccountStanding,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_string(&standing).expect("stored JSON serializes");
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO account_standing (id, data, checked_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, checked_at = excluded.checked_at",
        )
        .bind(data)
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn account_standing(
        &self,
    ) -> Result<Option<(AccountStanding, DateTime<Utc>)>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT data, checked_at FROM account_standing WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(data, at)| {
            let standing: AccountStanding =
                serde_json::from_str(&data).map_err(|e| StoreError::Db(Cause::new(e)))?;
            Ok((standing, from_ms(at)))
        })
        .transpose()
    }
}
