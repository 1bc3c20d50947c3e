//! Schedules, windows (each with its two derived schedules), overrides,
//! firings and enforcement: the rows written, which every driver takes (the
//! operations: `handle/schedules.rs`).
//!
//! A firing or an enforcement pass is applied only if its schedule or
//! window still expects it (its next time is the plan's `expected_next`),
//! so two passes over the same due time record it once.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, WindowEdge};

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
