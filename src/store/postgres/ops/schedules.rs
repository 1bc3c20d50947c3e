//! The PostgreSQL driver's schedules operations.

use crate::schedule::firing::{FireResult, Firing, FiringPlan};
use crate::schedule::spec::Schedule;
use crate::schedule::window::{Override, OverrideMode, Window};
use crate::store::StoreError;
use crate::store::groups::NewRun;
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{FiringDbRow, OverrideDbRow, ScheduleDbRow, WindowDbRow, from_ms, to_ms};
use crate::store::schedules::{ScheduleRow, WindowRow, Written};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn create_schedule(
        &self,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: create_schedule")
    }

    pub(in crate::store) async fn update_schedule(
        &self,
        id: i64,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: update_schedule")
    }

    pub(in crate::store) async fn set_schedule_enabled(
        &self,
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: set_schedule_enabled")
    }

    pub(in crate::store) async fn delete_schedule(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: delete_schedule")
    }

    pub(in crate::store) async fn fire(
        &self,
        plan: FiringPlan,
        run: Option<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        unimplemented!("postgres: fire")
    }

    pub(in crate::store) async fn create_window(
        &self,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: create_window")
    }

    pub(in crate::store) async fn update_window(
        &self,
        id: i64,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: update_window")
    }

    pub(in crate::store) async fn delete_window(
        &self,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: delete_window")
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
        unimplemented!("postgres: enforce")
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
        unimplemented!("postgres: add_override")
    }

    pub(in crate::store) async fn delete_override(
        &self,
        window_id: i64,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        unimplemented!("postgres: delete_override")
    }

    pub(in crate::store) async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        unimplemented!("postgres: due_schedules")
    }

    pub(in crate::store) async fn next_schedule_due(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        unimplemented!("postgres: next_schedule_due")
    }

    pub(in crate::store) async fn schedules(
        &self,
        include_window_edges: bool,
    ) -> Result<Vec<Schedule>, StoreError> {
        unimplemented!("postgres: schedules")
    }

    pub(in crate::store) async fn schedule(
        &self,
        key: &str,
    ) -> Result<Option<Schedule>, StoreError> {
        unimplemented!("postgres: schedule")
    }

    pub(in crate::store) async fn window_schedules(
        &self,
        window_id: i64,
    ) -> Result<Vec<Schedule>, StoreError> {
        unimplemented!("postgres: window_schedules")
    }

    pub(in crate::store) async fn firings(
        &self,
        schedule_id: i64,
        limit: u32,
    ) -> Result<Vec<Firing>, StoreError> {
        unimplemented!("postgres: firings")
    }

    pub(in crate::store) async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        unimplemented!("postgres: windows")
    }

    pub(in crate::store) async fn window(&self, key: &str) -> Result<Option<Window>, StoreError> {
        unimplemented!("postgres: window")
    }

    pub(in crate::store) async fn due_enforcements(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<Window>, StoreError> {
        unimplemented!("postgres: due_enforcements")
    }

    pub(in crate::store) async fn overrides(
        &self,
        window_id: i64,
        active_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Override>, StoreError> {
        unimplemented!("postgres: overrides")
    }
}
