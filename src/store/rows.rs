//! Rows as the database returns them, and their conversion to Machinist's
//! types: the stored encoding.
//!
//! Times are stored as Unix milliseconds and JSON columns as text; a row that
//! does not convert (a state this version does not know, JSON that does not
//! parse) is a [`StoreError::Corrupt`] naming the job (or a
//! [`StoreError::Db`] naming what), never a panic.
//!
//! The rows derive sqlx's `FromRow`, which is generic over the database:
//! the readers decode them by column name, and a second driver on sqlx with
//! the same column types decodes the same structs. The SQLite writer reads
//! `JobRow` by position instead (`store/sqlite/rows.rs`).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::FromRow;

use serde_json::Value;

use super::{Cause, StoreError};
use crate::job::{EventKind, Job, JobEvent, JobKind, JobState, NewEvent};
use crate::machine::WaitTarget;
use crate::schedule::firing::{Firing, FiringOutcome};
use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, Schedule, WindowEdge};
use crate::schedule::window::{Override, OverrideMode, Window};

/// Milliseconds since the epoch, the stored form of every time.
pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Back from milliseconds; out-of-range values clamp to the epoch.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// A row of `jobs`: one field per column, named and typed as stored (the
/// migrations say what each holds).
#[derive(Debug, FromRow)]
pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub machine_id: Option<String>,
    pub args: String,
    pub state: String,
    pub priority: i64,
    pub attempt: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub wait: Option<String>,
    pub wait_timeout_ms: i64,
    pub checkpoint: Option<String>,
    pub result: Option<String>,
    pub last_error: Option<String>,
    pub idempotency_key: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        let id = r.id;
        let corrupt = |what: &str, detail: String| StoreError::Corrupt {
            job_id: id,
            detail: format!("{what}: {detail}"),
        };
        fn json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Result<Option<T>, String> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                .transpose()
        }
        Ok(Job {
            id,
            kind: r
                .kind
                .parse::<JobKind>()
                .map_err(|e| corrupt("kind", e.message))?,
            machine_id: r.machine_id,
            args: serde_json::from_str(&r.args).map_err(|e| corrupt("args", e.to_string()))?,
            state: r
                .state
                .parse::<JobState>()
                .map_err(|e| corrupt("state", e.to_string()))?,
            priority: r.priority as i32,
            attempt: r.attempt.max(0) as u32,
            max_attempts: r.max_attempts.max(0) as u32,
            run_at: from_ms(r.run_at),
            wait: r
                .wait
                .map(|w| WaitTarget::parse(&w).ok_or_else(|| corrupt("wait", w)))
                .transpose()?,
            wait_timeout: Duration::from_millis(r.wait_timeout_ms.max(0) as u64),
            checkpoint: json(r.checkpoint).map_err(|e| corrupt("checkpoint", e))?,
            result: json(r.result).map_err(|e| corrupt("result", e))?,
            last_error: r.last_error,
            idempotency_key: r.idempotency_key,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at.map(from_ms),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
            finished_at: r.finished_at.map(from_ms),
        })
    }
}

/// A row of `job_events`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct EventRow {
    pub id: i64,
    pub job_id: i64,
    pub at: i64,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub message: String,
    pub method: Option<String>,
    pub route: Option<String>,
    pub status: Option<i64>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
}

impl TryFrom<EventRow> for JobEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            job_id: r.job_id,
            detail,
        };
        let state = |s: Option<String>| {
            s.map(|s| s.parse::<JobState>().map_err(|e| corrupt(e.to_string())))
                .transpose()
        };
        Ok(JobEvent {
            id: r.id,
            job_id: r.job_id,
            at: from_ms(r.at),
            event: NewEvent {
                kind: EventKind::parse(&r.kind)
                    .ok_or_else(|| corrupt(format!("event kind `{}`", r.kind)))?,
                from_state: state(r.from_state.clone())?,
                to_state: state(r.to_state.clone())?,
                message: r.message,
                method: r.method,
                route: r.route,
                status: r.status.map(|s| s as u16),
                latency_ms: r.latency_ms.map(|l| l.max(0) as u64),
                error: r.error,
            },
        })
    }
}

/// A row of `schedules`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct ScheduleDbRow {
    id: i64,
    name: String,
    cron: String,
    timezone: String,
    template: String,
    targets: String,
    enabled: bool,
    jitter_seconds: i64,
    exclusions: String,
    misfire: String,
    catch_up_ms: i64,
    overlap: String,
    window_id: Option<i64>,
    window_edge: Option<String>,
    next_fire_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Db(Cause::from(format!(
        "stored {what} cannot be read: {detail}"
    )))
}

impl TryFrom<ScheduleDbRow> for Schedule {
    type Error = StoreError;

    fn try_from(r: ScheduleDbRow) -> Result<Self, StoreError> {
        let json = |what: &str, text: &str| -> Result<Value, StoreError> {
            serde_json::from_str(text).map_err(|e| corrupt(what, e))
        };
        Ok(Schedule {
            id: r.id,
            name: r.name,
            cron: r.cron,
            timezone: r.timezone,
            template: serde_json::from_value(json("template", &r.template)?)
                .map_err(|e| corrupt("template", e))?,
            targets: serde_json::from_value(json("targets", &r.targets)?)
                .map_err(|e| corrupt("targets", e))?,
            enabled: r.enabled,
            jitter_seconds: r.jitter_seconds.max(0) as u32,
            exclusions: serde_json::from_value(json("exclusions", &r.exclusions)?)
                .map_err(|e| corrupt("exclusions", e))?,
            misfire: match r.misfire.as_str() {
                "skip" => MisfirePolicy::Skip,
                _ => MisfirePolicy::RunOnce,
            },
            catch_up_seconds: (r.catch_up_ms.max(0) / 1000) as u64,
            overlap: match r.overlap.as_str() {
                "queue" => OverlapPolicy::Queue,
                _ => OverlapPolicy::Skip,
            },
            window_id: r.window_id,
            window_edge: r.window_edge.as_deref().map(|e| match e {
                "start" => WindowEdge::Start,
                _ => WindowEdge::Stop,
            }),
            next_fire_at: r.next_fire_at.map(from_ms),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

/// A row of `windows`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct WindowDbRow {
    id: i64,
    name: String,
    spec: String,
    targets: String,
    exclusions: String,
    enforce: bool,
    enforce_interval_ms: i64,
    next_enforce_at: Option<i64>,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WindowDbRow> for Window {
    type Error = StoreError;

    fn try_from(r: WindowDbRow) -> Result<Self, StoreError> {
        Ok(Window {
            id: r.id,
            name: r.name,
            hours: serde_json::from_str(&r.spec).map_err(|e| corrupt("window", e))?,
            targets: serde_json::from_str(&r.targets).map_err(|e| corrupt("targets", e))?,
            exclusions: serde_json::from_str(&r.exclusions)
                .map_err(|e| corrupt("exclusions", e))?,
            enforce: r.enforce,
            enforce_interval_seconds: (r.enforce_interval_ms.max(0) / 1000) as u64,
            next_enforce_at: r.next_enforce_at.map(from_ms),
            enabled: r.enabled,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

/// A row of `firings`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct FiringDbRow {
    schedule_id: i64,
    fire_at: i64,
    target: String,
    outcome: String,
    reason: Option<String>,
    job_id: Option<i64>,
    recorded_at: i64,
}

impl From<FiringDbRow> for Firing {
    fn from(r: FiringDbRow) -> Self {
        Firing {
            schedule_id: r.schedule_id,
            fire_at: from_ms(r.fire_at),
            target: r.target,
            outcome: FiringOutcome::parse(&r.outcome).unwrap_or(FiringOutcome::Skipped),
            reason: r.reason,
            job_id: r.job_id,
            recorded_at: from_ms(r.recorded_at),
        }
    }
}

/// A row of `window_overrides`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct OverrideDbRow {
    id: i64,
    window_id: i64,
    machine_id: String,
    mode: String,
    until: i64,
    reason: Option<String>,
    created_at: i64,
}

impl From<OverrideDbRow> for Override {
    fn from(r: OverrideDbRow) -> Self {
        Override {
            id: r.id,
            window_id: r.window_id,
            machine_id: r.machine_id,
            mode: OverrideMode::parse(&r.mode).unwrap_or(OverrideMode::KeepOn),
            until: from_ms(r.until),
            reason: r.reason,
            created_at: from_ms(r.created_at),
        }
    }
}
