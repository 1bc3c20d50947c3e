//! Rows as SQLite returns them, and their conversion to Machinist's types.
//!
//! Times are stored as Unix milliseconds and JSON columns as text; a row that
//! does not convert (a state this version does not know, JSON that does not
//! parse) is a [`StoreError::Corrupt`] naming the job, never a panic.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::FromRow;

use super::StoreError;
use crate::job::{EventKind, Job, JobEvent, JobKind, JobState, NewEvent};
use crate::machine::WaitTarget;

/// Milliseconds since the epoch, the stored form of every time.
pub fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Back from milliseconds; out-of-range values clamp to the epoch.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The columns [`JobRow::from_sqlite`] reads, in its order, as a literal for
/// `concat!`: the writer selects these and reads them by position, as a
/// lookup by name per column and row was a measurable share of a claim.
macro_rules! job_columns {
    () => {
        "id, kind, machine_id, args, state, priority, attempt, max_attempts, run_at, wait, \
         wait_timeout_ms, checkpoint, result, last_error, idempotency_key, lease_owner, \
         lease_expires_at, created_at, updated_at, finished_at"
    };
}
pub(super) use job_columns;

#[derive(Debug, FromRow)]
pub struct JobRow {
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

impl JobRow {
    /// A row read by the writer's own connection, selected as `job_columns!`.
    pub fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            machine_id: r.get(2)?,
            args: r.get(3)?,
            state: r.get(4)?,
            priority: r.get(5)?,
            attempt: r.get(6)?,
            max_attempts: r.get(7)?,
            run_at: r.get(8)?,
            wait: r.get(9)?,
            wait_timeout_ms: r.get(10)?,
            checkpoint: r.get(11)?,
            result: r.get(12)?,
            last_error: r.get(13)?,
            idempotency_key: r.get(14)?,
            lease_owner: r.get(15)?,
            lease_expires_at: r.get(16)?,
            created_at: r.get(17)?,
            updated_at: r.get(18)?,
            finished_at: r.get(19)?,
        })
    }
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

#[derive(Debug, FromRow)]
pub struct EventRow {
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
