//! The SQLite driver's schedule operations: writes become
//! [`ScheduleCommand`]s and [`WindowCommand`]s for the writer
//! (`sqlite/schedules.rs` applies them); the reads run on the pool.

use chrono::{DateTime, Utc};

use crate::schedule::firing::{FireResult, Firing, FiringPlan};
use crate::schedule::spec::Schedule;
use crate::schedule::window::{Override, OverrideMode, Window};
use crate::store::StoreError;
use crate::store::groups::NewRun;
use crate::store::rows::{FiringDbRow, OverrideDbRow, ScheduleDbRow, WindowDbRow, from_ms, to_ms};
use crate::store::schedules::{ScheduleRow, WindowRow, Written};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::schedules::{ScheduleCommand, WindowCommand};

/// The schedule operations of the SQLite driver.
impl SqliteDriver {
    pub(in crate::store) async fn create_schedule(
        &self,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let row = Box::new(row);
        self.send(|reply| ScheduleCommand::Create { row, now, reply })
            .await
    }

    pub(in crate::store) async fn update_schedule(
        &self,
        id: i64,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let row = Box::new(row);
        self.send(|reply| ScheduleCommand::Update {
            id,
            row,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn set_schedule_enabled(
        &self,
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.send(|reply| ScheduleCommand::SetEnabled {
            id,
            next_fire_at,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn delete_schedule(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        self.send(|reply| ScheduleCommand::Delete { id, reply })
            .await
    }

    pub(in crate::store) async fn fire(
        &self,
        plan: FiringPlan,
        run: Option<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        let plan = Box::new(plan);
        let run = run.map(Box::new);
        self.send(|reply| ScheduleCommand::Fire {
            plan,
            run,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn create_window(
        &self,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let row = Box::new(row);
        self.send(|reply| WindowCommand::Create { row, now, reply })
            .await
    }

    pub(in crate::store) async fn update_window(
        &self,
        id: i64,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        let row = Box::new(row);
        self.send(|reply| WindowCommand::Update {
            id,
            row,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn delete_window(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        self.send(|reply| WindowCommand::Delete { id, reply }).await
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
        let plan = Box::new(plan);
        let run = run.map(Box::new);
        self.send(|reply| WindowCommand::Enforce {
            window_id,
            expected_next,
            next_enforce_at,
            plan,
            run,
            now,
            reply,
        })
        .await
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
        self.send(|reply| WindowCommand::AddOverride {
            window_id,
            machine_id,
            mode,
            until,
            reason,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn delete_override(
        &self,
        window_id: i64,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        self.send(|reply| WindowCommand::DeleteOverride {
            window_id,
            id,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> = sqlx::query_as(
            "SELECT * FROM schedules WHERE next_fire_at IS NOT NULL AND next_fire_at <= ? \
             ORDER BY next_fire_at, id LIMIT ?",
        )
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn next_schedule_due(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) = sqlx::query_as(
            // The IS NOT NULL lets SQLite answer from the partial index.
            "SELECT MIN(t) FROM (SELECT MIN(next_fire_at) AS t FROM schedules \
             WHERE next_fire_at IS NOT NULL \
             UNION ALL SELECT MIN(next_enforce_at) FROM windows WHERE next_enforce_at IS NOT NULL)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(next.map(from_ms))
    }

    pub(in crate::store) async fn schedules(
        &self,
        include_window_edges: bool,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> =
            sqlx::query_as("SELECT * FROM schedules WHERE ? OR window_id IS NULL ORDER BY name")
                .bind(include_window_edges)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn schedule(
        &self,
        key: &str,
    ) -> Result<Option<Schedule>, StoreError> {
        let row: Option<ScheduleDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM schedules WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM schedules WHERE name = ?")
                    .bind(key)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Schedule::try_from).transpose()
    }

    pub(in crate::store) async fn window_schedules(
        &self,
        window_id: i64,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> =
            sqlx::query_as("SELECT * FROM schedules WHERE window_id = ? ORDER BY window_edge DESC")
                .bind(window_id)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    pub(in crate::store) async fn firings(
        &self,
        schedule_id: i64,
        limit: u32,
    ) -> Result<Vec<Firing>, StoreError> {
        let rows: Vec<FiringDbRow> = sqlx::query_as(
            "SELECT * FROM firings WHERE schedule_id = ? ORDER BY fire_at DESC, target LIMIT ?",
        )
        .bind(schedule_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Firing::from).collect())
    }

    pub(in crate::store) async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        let rows: Vec<WindowDbRow> = sqlx::query_as("SELECT * FROM windows ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(Window::try_from).collect()
    }

    pub(in crate::store) async fn window(&self, key: &str) -> Result<Option<Window>, StoreError> {
        let row: Option<WindowDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM windows WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM windows WHERE name = ?")
                    .bind(key)
                    .fetch_optional(&self.reader)
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
            "SELECT * FROM windows WHERE next_enforce_at IS NOT NULL AND next_enforce_at <= ? ORDER BY next_enforce_at",
        )
        .bind(to_ms(now))
        .fetch_all(&self.reader)
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
             WHERE window_id = ? AND (? IS NULL OR until > ?) ORDER BY id",
        )
        .bind(window_id)
        .bind(active_at.map(to_ms))
        .bind(active_at.map(to_ms))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Override::from).collect())
    }
}
