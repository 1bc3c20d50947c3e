//! The schedule operations: schedules, windows, overrides, firings,
//! enforcement.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Store;
use crate::schedule::firing::{FireResult, Firing, FiringPlan};
use crate::schedule::spec::Schedule;
use crate::schedule::window::{Override, OverrideMode, Window};
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::groups::NewRun;
use crate::store::schedules::{ScheduleRow, WindowRow, Written};

impl Store {
    pub async fn create_schedule(
        &self,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.create_schedule(row, now).await)
    }

    pub async fn update_schedule(
        &self,
        id: i64,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.update_schedule(id, row, now).await)
    }

    /// Pauses (`None`) or resumes (`Some(next)`) a schedule.
    pub async fn set_schedule_enabled(
        &self,
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.set_schedule_enabled(id, next_fire_at, now).await)
    }

    /// Deletes a schedule (not one a window derived) and its firings.
    pub async fn delete_schedule(&self, id: i64) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.delete_schedule(id).await)
    }

    /// Applies a firing plan if the schedule still expects it.
    pub async fn fire(
        &self,
        plan: FiringPlan,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        on_driver!(self, d => d.fire(plan, None, now).await)
    }

    /// Applies a firing plan of a group-targeted schedule with the group
    /// run it makes, in one transaction: the run and its jobs are stored
    /// only if the firing is, and each of the plan's `InRun` entries records
    /// its machine's job in the run. Under the overlap policy `skip`, a
    /// machine whose previous job of this schedule is unfinished skips the
    /// whole run (a run's stages cannot go on without one of its machines).
    pub async fn fire_run(
        &self,
        plan: FiringPlan,
        run: NewRun,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        on_driver!(self, d => d.fire(plan, Some(run), now).await)
    }

    pub async fn create_window(
        &self,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.create_window(row, now).await)
    }

    pub async fn update_window(
        &self,
        id: i64,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.update_window(id, row, now).await)
    }

    pub async fn delete_window(&self, id: i64) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.delete_window(id).await)
    }

    /// Applies an enforcement pass if the window still expects it; `run`
    /// is the stop run of a group-targeted window, applied as
    /// [`Store::fire_run`] applies one.
    pub async fn enforce(
        &self,
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: FiringPlan,
        run: Option<NewRun>,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        on_driver!(self, d => d.enforce(window_id, expected_next, next_enforce_at, plan, run, now).await)
    }

    pub async fn add_override(
        &self,
        window_id: i64,
        machine_id: String,
        mode: OverrideMode,
        until: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.add_override(window_id, machine_id, mode, until, reason, now).await)
    }

    pub async fn delete_override(
        &self,
        window_id: i64,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        on_driver!(self, d => d.delete_override(window_id, id).await)
    }

    /// Schedules due at `now`, earliest first.
    pub async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        on_driver!(self, d => d.due_schedules(now, limit).await)
    }

    /// The earliest time a schedule fires or a window enforces.
    pub async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_driver!(self, d => d.next_schedule_due().await)
    }

    /// Every schedule (windows' derived ones included when asked), by name.
    pub async fn schedules(&self, include_window_edges: bool) -> Result<Vec<Schedule>, StoreError> {
        on_driver!(self, d => d.schedules(include_window_edges).await)
    }

    /// A schedule by id, or by name when `key` is not a number.
    pub async fn schedule(&self, key: &str) -> Result<Option<Schedule>, StoreError> {
        on_driver!(self, d => d.schedule(key).await)
    }

    /// A window's derived schedules.
    pub async fn window_schedules(&self, window_id: i64) -> Result<Vec<Schedule>, StoreError> {
        on_driver!(self, d => d.window_schedules(window_id).await)
    }

    /// A schedule's most recent firings, newest first.
    pub async fn firings(&self, schedule_id: i64, limit: u32) -> Result<Vec<Firing>, StoreError> {
        on_driver!(self, d => d.firings(schedule_id, limit).await)
    }

    pub async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        on_driver!(self, d => d.windows().await)
    }

    /// A window by id, or by name when `key` is not a number.
    pub async fn window(&self, key: &str) -> Result<Option<Window>, StoreError> {
        on_driver!(self, d => d.window(key).await)
    }

    /// Windows whose enforcement is due.
    pub async fn due_enforcements(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError> {
        on_driver!(self, d => d.due_enforcements(now).await)
    }

    /// A window's overrides, active at `at` only when given.
    pub async fn overrides(
        &self,
        window_id: i64,
        active_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Override>, StoreError> {
        on_driver!(self, d => d.overrides(window_id, active_at).await)
    }

    /// Notified whenever schedules, windows or overrides change.
    pub fn schedules_changed(&self) -> Arc<tokio::sync::Notify> {
        self.signals.schedules_changed.clone()
    }
}
