//! Schedules, windows (each with its two derived schedules), overrides,
//! firings and enforcement: the rows written, and the store's operations.
//!
//! A firing or an enforcement pass is applied only if its schedule or
//! window still expects it (its next time is the plan's `expected_next`),
//! so two passes over the same due time record it once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::driver::on_driver;
use super::{Store, StoreError};
use crate::schedule::firing::{FireResult, Firing, FiringPlan};
use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, Schedule, WindowEdge};
use crate::schedule::window::{Override, OverrideMode, Window};

/// A schedule as it is written: everything but the id and times.
#[derive(Debug, Clone)]
pub struct ScheduleRow {
    /// Unique among schedules (not a window's) and windows.
    pub name: String,
    /// When it fires: a crontab expression.
    pub cron: String,
    /// The IANA zone `cron` is read in.
    pub timezone: String,
    /// The job each firing submits per target (a `JobTemplate`, as JSON).
    pub template: Value,
    /// The machines it fires for (`Targets`, as JSON).
    pub targets: Value,
    /// False while paused.
    pub enabled: bool,
    /// Spreads a fleet's jobs over this many seconds after the firing.
    pub jitter_seconds: u32,
    /// Dates on which it does not fire (`Exclusions`, as JSON).
    pub exclusions: Value,
    /// What a late firing (a missed one) does: run once, or skip.
    pub misfire: MisfirePolicy,
    /// How late a missed firing may still run.
    pub catch_up_seconds: u64,
    /// Whether a target whose previous job is unfinished gets another.
    pub overlap: OverlapPolicy,
    /// The window that derived it, if any.
    pub window_id: Option<i64>,
    /// Which edge of that window it is.
    pub window_edge: Option<WindowEdge>,
    /// When it fires next; `None` while paused.
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// A window as it is written, with its two derived schedules.
#[derive(Debug, Clone)]
pub struct WindowRow {
    /// Unique among schedules (not a window's) and windows.
    pub name: String,
    /// Its days, opening and closing times and zone (`WindowSpec`, as JSON).
    pub spec: Value,
    /// The machines it starts and stops (`Targets`, as JSON).
    pub targets: Value,
    /// Dates on which it does not apply (`Exclusions`, as JSON).
    pub exclusions: Value,
    /// Whether targets found running while it is closed are stopped.
    pub enforce: bool,
    /// How often enforcement looks while the window is closed.
    pub enforce_interval_seconds: u64,
    /// False while paused.
    pub enabled: bool,
    /// When enforcement next looks; `None` when it does not.
    pub next_enforce_at: Option<DateTime<Utc>>,
    /// The schedule that starts its machines.
    pub start: ScheduleRow,
    /// The schedule that stops them.
    pub stop: ScheduleRow,
}

/// The result of a write that names a thing by id or name.
#[derive(Debug, Clone)]
pub enum Written<T> {
    Done(T),
    NotFound,
    /// The unique name is taken by another schedule or window.
    NameTaken,
}

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
        on_driver!(self, d => d.fire(plan, now).await)
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

    /// Applies an enforcement pass if the window still expects it.
    pub async fn enforce(
        &self,
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: FiringPlan,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        on_driver!(self, d => d.enforce(window_id, expected_next, next_enforce_at, plan, now).await)
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
