//! The PostgreSQL driver's schedule operations: each write is one
//! transaction around the in-transaction functions of `schedules.rs`
//! (which say how two daemons writing at once are kept apart), committed
//! with its effects before it is answered; the reads run on the pool.
//!
//! Names and firing targets sort with the "C" collation, byte order as
//! SQLite's, whatever the database's own collation is.

use crate::schedule::firing::{FireResult, Firing, FiringPlan};
use crate::schedule::spec::Schedule;
use crate::schedule::window::{Override, OverrideMode, Window};
use crate::store::StoreError;
use crate::store::groups::NewRun;
use crate::store::postgres::schedules as write;
use crate::store::postgres::{Effects, PostgresDriver, Tx};
use crate::store::rows::{FiringDbRow, OverrideDbRow, ScheduleDbRow, WindowDbRow, from_ms, to_ms};
use crate::store::schedules::{ScheduleRow, WindowRow, Written};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    /// Commits a write that names a thing; one that changed something tells
    /// the schedulers (every daemon's) to look again.
    async fn commit_written(
        &self,
        tx: Tx,
        result: Written<i64>,
    ) -> Result<Written<i64>, StoreError> {
        let fx = Effects {
            schedules_changed: matches!(result, Written::Done(_)),
            ..Effects::default()
        };
        self.commit(tx, fx).await?;
        Ok(result)
    }

    /// Commits a firing or an enforcement pass; jobs queued wake the claims.
    async fn commit_fired(
        &self,
        tx: Tx,
        mut fx: Effects,
        result: FireResult,
    ) -> Result<FireResult, StoreError> {
        fx.wake |= !result.enqueued.is_empty();
        self.commit(tx, fx).await?;
        Ok(result)
    }

    pub(in crate::store) async fn create_schedule(
        &self,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::create_schedule(&mut tx, &row, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn update_schedule(
        &self,
        id: i64,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::edit_schedule(&mut tx, id, &row, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn set_schedule_enabled(
        &self,
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::set_enabled(&mut tx, id, next_fire_at, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn delete_schedule(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::delete_schedule(&mut tx, id).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn fire(
        &self,
        plan: FiringPlan,
        run: Option<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let result = write::fire(&mut tx, &plan, run, now, &mut fx).await?;
        self.commit_fired(tx, fx, result).await
    }

    pub(in crate::store) async fn create_window(
        &self,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::create_window(&mut tx, &row, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn update_window(
        &self,
        id: i64,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::update_window(&mut tx, id, &row, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn delete_window(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::delete_window(&mut tx, id).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn enforce(
        &self,
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: FiringPlan,
        run: Option<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let result =
            if write::advance_enforcement(&mut tx, window_id, expected_next, next_enforce_at)
                .await?
            {
                write::record_firings(&mut tx, &plan, run, now, &mut fx).await?
            } else {
                FireResult::default()
            };
        self.commit_fired(tx, fx, result).await
    }

    pub(in crate::store) async fn add_override(
        &self,
        window_id: i64,
        machine_id: String,
        mode: OverrideMode,
        until: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result =
            write::add_override(&mut tx, window_id, &machine_id, mode, until, reason, now).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn delete_override(
        &self,
        window_id: i64,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        let mut tx = self.begin().await?;
        let result = write::delete_override(&mut tx, window_id, id).await?;
        self.commit_written(tx, result).await
    }

    pub(in crate::store) async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> = sqlx::query_as(
            "SELECT * FROM schedules WHERE next_fire_at IS NOT NULL AND next_fire_at <= $1 \
             ORDER BY next_fire_at, id LIMIT $2",
        )
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn next_schedule_due(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(t) FROM (SELECT MIN(next_fire_at) AS t FROM schedules \
             WHERE next_fire_at IS NOT NULL \
             UNION ALL SELECT MIN(next_enforce_at) FROM windows WHERE next_enforce_at IS NOT NULL) due",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(from_ms))
    }

    pub(in crate::store) async fn schedules(
        &self,
        include_window_edges: bool,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> = sqlx::query_as(
            "SELECT * FROM schedules WHERE $1 OR window_id IS NULL ORDER BY name COLLATE \"C\"",
        )
        .bind(include_window_edges)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn schedule(
        &self,
        key: &str,
    ) -> Result<Option<Schedule>, StoreError> {
        let row: Option<ScheduleDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM schedules WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM schedules WHERE name = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.map(Schedule::try_from).transpose()
    }

    pub(in crate::store) async fn window_schedules(
        &self,
        window_id: i64,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> = sqlx::query_as(
            "SELECT * FROM schedules WHERE window_id = $1 ORDER BY window_edge COLLATE \"C\" DESC",
        )
        .bind(window_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn firings(
        &self,
        schedule_id: i64,
        limit: u32,
    ) -> Result<Vec<Firing>, StoreError> {
        let rows: Vec<FiringDbRow> = sqlx::query_as(
            "SELECT * FROM firings WHERE schedule_id = $1 \
             ORDER BY fire_at DESC, target COLLATE \"C\" LIMIT $2",
        )
        .bind(schedule_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Firing::from).collect())
    }

    pub(in crate::store) async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        let rows: Vec<WindowDbRow> =
            sqlx::query_as("SELECT * FROM windows ORDER BY name COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(Window::try_from).collect()
    }

    pub(in crate::store) async fn window(&self, key: &str) -> Result<Option<Window>, StoreError> {
        let row: Option<WindowDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM windows WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM windows WHERE name = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.map(Window::try_from).transpose()
    }

    pub(in crate::store) async fn due_enforcements(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Window>, StoreError> {
        let rows: Vec<WindowDbRow> = sqlx::query_as(
            "SELECT * FROM windows WHERE next_enforce_at IS NOT NULL AND next_enforce_at <= $1 \
             ORDER BY next_enforce_at",
        )
        .bind(to_ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Window::try_from).collect()
    }

    pub(in crate::store) async fn overrides(
        &self,
        window_id: i64,
        active_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Override>, StoreError> {
        let rows: Vec<OverrideDbRow> = sqlx::query_as(
            "SELECT id, window_id, machine_id, mode, until, reason, created_at FROM window_overrides \
             WHERE window_id = $1 AND ($2::BIGINT IS NULL OR until > $2) ORDER BY id",
        )
        .bind(window_id)
        .bind(active_at.map(to_ms))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Override::from).collect())
    }
}
