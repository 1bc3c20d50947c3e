//! The SQLite driver's metering operations: writes become
//! [`MeterCommand`]s for the writer (`sqlite/metering.rs` applies them);
//! the reads run on the pool.

use chrono::{DateTime, Utc};

use crate::machine::{AccountStanding, MachineEvent};
use crate::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};
use crate::store::metering::{CursorRow, EventRow, EventsSaved, GapRow, RateRow, StateRow};
use crate::store::rows::{from_ms, to_ms};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::metering::{MeterCommand, lifecycle};
use crate::store::{Cause, StoreError};

/// The events created in [?1, ?2), and each machine's newest lifecycle
/// event created before ?1, in (created_at, id) order. The machines are
/// found by a skip scan of `machine_events_lifecycle` (one seek per
/// machine, not a read of all history), and each one's newest event by
/// one more seek.
const EVENTS: &str = concat!(
    "WITH RECURSIVE ids(machine_id) AS ( \
       SELECT (SELECT MIN(machine_id) FROM machine_events WHERE name IN ",
    lifecycle!(),
    ") UNION ALL \
       SELECT (SELECT MIN(machine_id) FROM machine_events WHERE name IN ",
    lifecycle!(),
    " AND machine_id > ids.machine_id) \
       FROM ids WHERE ids.machine_id IS NOT NULL) \
     SELECT e.id, e.machine_id, e.name, e.state, e.error, e.created_at, e.started_at, e.finished_at \
     FROM ids JOIN machine_events e ON e.id = ( \
       SELECT id FROM machine_events WHERE machine_id = ids.machine_id AND name IN ",
    lifecycle!(),
    " AND created_at < ?1 ORDER BY created_at DESC, id DESC LIMIT 1) \
     UNION ALL \
     SELECT id, machine_id, name, state, error, created_at, started_at, finished_at \
     FROM machine_events WHERE created_at >= ?1 AND created_at < ?2 \
     ORDER BY created_at, id"
);

/// The state rows with `at` in [?1, ?2), and each machine's last row
/// before ?1, in (machine_id, at) order; rows of one machine at one instant
/// in the order written. The machines come from a skip scan of
/// `machine_states_machine`, as in [`EVENTS`], and both parts are seeks of
/// it per machine (the table has no index on `at` alone: see migration
/// 0007). A machine's first sighting (kept in its `machines` row) joins
/// them when it is in the window, or when no state row precedes the window.
const STATES: &str = "WITH RECURSIVE ids(machine_id) AS ( \
       SELECT (SELECT MIN(machine_id) FROM machine_states) \
       UNION ALL \
       SELECT (SELECT MIN(machine_id) FROM machine_states WHERE machine_id > ids.machine_id) \
       FROM ids WHERE ids.machine_id IS NOT NULL) \
     SELECT s.rowid AS seq, s.machine_id AS machine_id, s.state AS state, s.at AS at, \
       s.previous_seen_at AS previous_seen_at \
     FROM ids JOIN machine_states s ON s.rowid = ( \
       SELECT rowid FROM machine_states WHERE machine_id = ids.machine_id AND at < ?1 \
       ORDER BY at DESC, rowid DESC LIMIT 1) \
     UNION ALL \
     SELECT s.rowid AS seq, s.machine_id AS machine_id, s.state AS state, s.at AS at, \
       s.previous_seen_at AS previous_seen_at \
     FROM ids JOIN machine_states s ON s.machine_id = ids.machine_id AND s.at >= ?1 AND s.at < ?2 \
     UNION ALL \
     SELECT 0 AS seq, m.id AS machine_id, m.first_state AS state, m.first_seen_at AS at, \
       NULL AS previous_seen_at \
     FROM machines m WHERE m.first_seen_at IS NOT NULL AND m.first_seen_at < ?2 \
       AND (m.first_seen_at >= ?1 OR NOT EXISTS ( \
         SELECT 1 FROM machine_states s WHERE s.machine_id = m.id AND s.at < ?1)) \
     ORDER BY machine_id, at, seq";

/// The metering operations of the SQLite driver.
impl SqliteDriver {
    pub(in crate::store) async fn save_machine_events(
        &self,
        events: Vec<MachineEvent>,
        now: DateTime<Utc>,
    ) -> Result<EventsSaved, StoreError> {
        self.send(|reply| MeterCommand::SaveEvents { events, now, reply })
            .await
    }

    pub(in crate::store) async fn machine_events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MachineEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(EVENTS)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(MachineEvent::from).collect())
    }

    pub(in crate::store) async fn machine_event_count(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM machine_events")
            .fetch_one(&self.reader)
            .await?;
        Ok(n.max(0) as u64)
    }

    pub(in crate::store) async fn meter_cursor(&self) -> Result<Option<MeterCursor>, StoreError> {
        let row: Option<CursorRow> = sqlx::query_as(
            "SELECT newest, oldest_open, ingested_at FROM meter_cursor WHERE id = 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(MeterCursor::from))
    }

    pub(in crate::store) async fn save_meter_cursor(
        &self,
        cursor: MeterCursor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.send(|reply| MeterCommand::SaveCursor { cursor, now, reply })
            .await
    }

    pub(in crate::store) async fn record_meter_gap(&self, gap: MeterGap) -> Result<(), StoreError> {
        self.send(|reply| MeterCommand::RecordGap { gap, reply })
            .await
    }

    pub(in crate::store) async fn meter_gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeterGap>, StoreError> {
        let rows: Vec<GapRow> = sqlx::query_as(
            "SELECT from_at, to_at, backfilled, complete FROM meter_gaps \
             WHERE from_at < ?2 AND to_at > ?1 ORDER BY from_at, to_at",
        )
        .bind(to_ms(from))
        .bind(to_ms(to))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(MeterGap::from).collect())
    }

    pub(in crate::store) async fn rate_sightings(
        &self,
        to: DateTime<Utc>,
    ) -> Result<Vec<RateSighting>, StoreError> {
        let rows: Vec<RateRow> = sqlx::query_as(
            "SELECT machine_id, at, usage, storage, machine_type FROM machine_rates \
             WHERE at <= ? ORDER BY machine_id, at",
        )
        .bind(to_ms(to))
        .fetch_all(&self.reader)
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
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(StateSighting::from).collect())
    }

    pub(in crate::store) async fn set_monthly_billed(
        &self,
        machine_id: &str,
        monthly: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let machine_id = machine_id.to_string();
        self.send(|reply| MeterCommand::SetMonthly {
            machine_id,
            monthly,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn monthly_billed(
        &self,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT machine_id, since FROM monthly_billing ORDER BY machine_id")
                .fetch_all(&self.reader)
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
        self.send(|reply| MeterCommand::SaveStanding {
            standing,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn account_standing(
        &self,
    ) -> Result<Option<(AccountStanding, DateTime<Utc>)>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT data, checked_at FROM account_standing WHERE id = 1")
                .fetch_optional(&self.reader)
                .await?;
        row.map(|(data, at)| {
            let standing: AccountStanding =
                serde_json::from_str(&data).map_err(|e| StoreError::Db(Cause::new(e)))?;
            Ok((standing, from_ms(at)))
        })
        .transpose()
    }
}
