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
use crate::group::{Group, GroupAction, GroupRun};
use crate::job::{EventKind, Job, JobEvent, JobKind, JobState, NewEvent, OnDependencyFailure};
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
    /// Job id, assigned in submission order.
    pub id: i64,
    /// Job kind as text, e.g. `start`.
    pub kind: String,
    /// Paperspace id of the machine acted on; NULL for account-level kinds and a create not yet named.
    pub machine_id: Option<String>,
    /// Validated arguments as JSON text.
    pub args: String,
    /// Job state as text, e.g. `queued`, `waiting`.
    pub state: String,
    /// Priority; higher runs first.
    pub priority: i64,
    /// Tries so far.
    pub attempt: i64,
    /// Tries allowed.
    pub max_attempts: i64,
    /// When the job is next due, in milliseconds since the epoch.
    pub run_at: i64,
    /// Wait target as text (`ready`, `off`, …); NULL for no wait.
    pub wait: Option<String>,
    /// Longest the wait may last, in milliseconds.
    pub wait_timeout_ms: i64,
    /// Checkpoint as JSON text; NULL for jobs without one.
    pub checkpoint: Option<String>,
    /// The operation's result as JSON text; NULL until it succeeds.
    pub result: Option<String>,
    /// Most recent error text.
    pub last_error: Option<String>,
    /// The caller's idempotency key, unique when set.
    pub idempotency_key: Option<String>,
    /// Name of the process holding the lease; NULL when unheld.
    pub lease_owner: Option<String>,
    /// When the lease lapses, in milliseconds since the epoch.
    pub lease_expires_at: Option<i64>,
    /// Submission time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Last change, in milliseconds since the epoch.
    pub updated_at: i64,
    /// When the job reached a final state, in milliseconds since the epoch; NULL until then.
    pub finished_at: Option<i64>,
    /// The jobs it waits for, as a JSON array of ids; NULL for none.
    pub depends_on: Option<String>,
    /// `cancel` or `run`; NULL for a job without dependencies.
    pub on_dependency_failure: Option<String>,
    /// The group run that made the job, if any.
    pub group_run: Option<i64>,
    /// Its step in that run, from 0.
    pub group_step: Option<i64>,
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
            depends_on: json(r.depends_on)
                .map_err(|e| corrupt("depends_on", e))?
                .unwrap_or_default(),
            on_dependency_failure: r
                .on_dependency_failure
                .map(|p| {
                    OnDependencyFailure::parse(&p)
                        .map_err(|e| corrupt("on_dependency_failure", e.message))
                })
                .transpose()?,
            group_run: r.group_run,
            group_step: r.group_step.map(|s| s.max(0) as u32),
        })
    }
}

/// A row of `job_events`, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct EventRow {
    /// Event id, increasing in write order.
    pub id: i64,
    /// The job the event belongs to.
    pub job_id: i64,
    /// When it was written, in milliseconds since the epoch.
    pub at: i64,
    /// Event kind as text: `state`, `api_call` or `note`.
    pub kind: String,
    /// State left, for state events.
    pub from_state: Option<String>,
    /// State entered, for state events.
    pub to_state: Option<String>,
    /// Person-readable line.
    pub message: String,
    /// HTTP method, for API calls.
    pub method: Option<String>,
    /// Route template, for API calls.
    pub route: Option<String>,
    /// HTTP status, for API calls; NULL when no answer came.
    pub status: Option<i64>,
    /// Call duration in milliseconds, for API calls.
    pub latency_ms: Option<i64>,
    /// Error text of a failed API call.
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
    /// Schedule id.
    id: i64,
    /// Unique schedule name.
    name: String,
    /// Cron expression as submitted.
    cron: String,
    /// IANA zone the cron is read in.
    timezone: String,
    /// Job template as JSON text.
    template: String,
    /// Targets as JSON text.
    targets: String,
    /// Whether the schedule fires.
    enabled: bool,
    /// Spread of a firing's jobs, in seconds.
    jitter_seconds: i64,
    /// Exclusions as JSON text.
    exclusions: String,
    /// Misfire policy as text: `skip` or `run_once`.
    misfire: String,
    /// Catch-up window, in milliseconds.
    catch_up_ms: i64,
    /// Overlap policy as text: `skip` or `queue`.
    overlap: String,
    /// The window that derived this schedule; NULL for a schedule of its own.
    window_id: Option<i64>,
    /// Which edge of that window: `start` or `stop`.
    window_edge: Option<String>,
    /// Next fire time, in milliseconds since the epoch; NULL while paused.
    next_fire_at: Option<i64>,
    /// Creation time, in milliseconds since the epoch.
    created_at: i64,
    /// Last change, in milliseconds since the epoch.
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
    /// Window id.
    id: i64,
    /// Unique window name.
    name: String,
    /// The window's hours (days, times, zone) as JSON text.
    spec: String,
    /// Targets as JSON text.
    targets: String,
    /// Exclusions as JSON text.
    exclusions: String,
    /// Whether running targets are stopped while the window is closed.
    enforce: bool,
    /// Time between enforcement passes, in milliseconds.
    enforce_interval_ms: i64,
    /// Next enforcement pass, in milliseconds since the epoch; NULL without enforcement or while paused.
    next_enforce_at: Option<i64>,
    /// Whether the window fires and enforces.
    enabled: bool,
    /// Creation time, in milliseconds since the epoch.
    created_at: i64,
    /// Last change, in milliseconds since the epoch.
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
    /// The schedule that fired.
    schedule_id: i64,
    /// When it was due, in milliseconds since the epoch.
    fire_at: i64,
    /// Machine id, `-` for kinds without one, `*` for a whole firing.
    target: String,
    /// Outcome as text: `enqueued`, `caught_up` or `skipped`.
    outcome: String,
    /// Why it was skipped, or a note on an enqueue; NULL for an ordinary one.
    reason: Option<String>,
    /// The job queued, when one was.
    job_id: Option<i64>,
    /// When the firing was handled, in milliseconds since the epoch.
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
    /// Override id.
    id: i64,
    /// The window it bends.
    window_id: i64,
    /// The machine it applies to.
    machine_id: String,
    /// Mode as text: `keep_on` or `keep_off`.
    mode: String,
    /// Expiry, in milliseconds since the epoch.
    until: i64,
    /// Why, as given; NULL when none was.
    reason: Option<String>,
    /// Creation time, in milliseconds since the epoch.
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

/// A row of `machine_groups`.
#[derive(Debug, FromRow)]
pub(crate) struct GroupRow {
    /// Store-assigned id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The stages as JSON text.
    pub stages: String,
    /// Creation time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Last change, in milliseconds since the epoch.
    pub updated_at: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;

    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: r.id,
            stages: serde_json::from_str(&r.stages)
                .map_err(|e| corrupt(&format!("stages of group {}", r.name), e))?,
            name: r.name,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

/// A row of `group_runs`.
#[derive(Debug, FromRow)]
pub(crate) struct GroupRunRow {
    /// Store-assigned id.
    pub id: i64,
    /// The group's name when the run was made.
    pub group_name: String,
    /// `start`, `stop` or `restart`.
    pub action: String,
    /// What the starts wait for.
    pub wait: String,
    /// The steps as JSON text.
    pub steps: String,
    /// The schedule whose firing made it; NULL by hand.
    pub schedule_id: Option<i64>,
    /// Resumes so far.
    pub resumes: i64,
    /// Creation time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Last resume (or creation), in milliseconds since the epoch.
    pub updated_at: i64,
}

impl TryFrom<GroupRunRow> for GroupRun {
    type Error = StoreError;

    fn try_from(r: GroupRunRow) -> Result<Self, StoreError> {
        let what = format!("group run {}", r.id);
        Ok(GroupRun {
            id: r.id,
            group: r.group_name,
            action: GroupAction::parse("action", &r.action).map_err(|e| corrupt(&what, e))?,
            wait: WaitTarget::parse(&r.wait).ok_or_else(|| corrupt(&what, &r.wait))?,
            steps: serde_json::from_str(&r.steps).map_err(|e| corrupt(&what, e))?,
            schedule_id: r.schedule_id,
            resumes: r.resumes.max(0) as u32,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}
