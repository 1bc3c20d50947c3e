//! `?dry_run=true`: the answers of a create or replace that writes nothing.
//!
//! `POST /v1/jobs`, `POST /v1/schedules`, `PUT /v1/schedules/{key}`,
//! `POST /v1/windows`, `PUT /v1/windows/{key}` and `POST
//! /v1/windows/{key}/overrides` take `dry_run=true`: the request goes
//! through every check of the real one (the same 400, 404, 409 and 422
//! answers) and is answered 200 with what it would store, with no row, no
//! history and no wake of the scheduler. `dry_run=false` is the request
//! itself.
//!
//! The object that would be stored is shown as the real answer shows it,
//! except that its `id` is `null` when it would be new: the store assigns
//! ids, and a dry run reserves none. Schedules and windows come with their
//! next firings; a window with enforcement with `would_stop`, the running
//! machines its enforcement would stop now (see
//! [`crate::scheduler::registry::Registry::dry_run_window`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params;
use super::schedules::FireTimeView;
use crate::job::{JobId, NewJob};
use crate::scheduler::registry::WouldStop;

/// `POST /v1/jobs?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDryRun {
    /// Always true: nothing was written.
    pub dry_run: bool,
    /// The job as it would be queued.
    pub job: JobPreview,
}

/// A job as a submission would queue it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPreview {
    /// Always `null`: no id is reserved.
    pub id: Option<JobId>,
    /// The job's kind.
    pub kind: String,
    /// The machine it acts on; `null` for a create and account-level kinds.
    pub machine_id: Option<String>,
    /// The checked arguments, as stored.
    pub args: Value,
    /// `queued`, or `blocked` when it waits for other jobs.
    pub state: String,
    /// Higher runs first.
    pub priority: i32,
    /// Tries allowed.
    pub max_attempts: u32,
    /// When it would first be due.
    pub run_at: chrono::DateTime<chrono::Utc>,
    /// The state it would wait for after the request; `null` for none.
    pub wait: Option<String>,
    /// How long that wait may last.
    pub wait_timeout_seconds: u64,
    /// The caller's key, if any. An existing job with the same key is not
    /// looked up: the real request would answer that job instead.
    pub idempotency_key: Option<String>,
    /// The jobs it would wait for.
    pub depends_on: Vec<JobId>,
    /// `cancel` or `run`, for a job with dependencies; `null` otherwise.
    pub on_dependency_failure: Option<String>,
}

impl JobPreview {
    /// `job` as the queue would show it.
    pub(super) fn of(job: &NewJob) -> Self {
        let depends_on: Vec<JobId> = job
            .depends_on
            .iter()
            .filter_map(|d| match d {
                crate::job::dependency::Dependency::Job(id) => Some(*id),
                crate::job::dependency::Dependency::Earlier(_) => None,
            })
            .collect();
        JobPreview {
            id: None,
            kind: job.operation.kind().as_str().to_string(),
            machine_id: job.machine_id.clone(),
            args: job.operation.args_json(),
            state: if depends_on.is_empty() {
                "queued"
            } else {
                "blocked"
            }
            .to_string(),
            priority: job.priority,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            wait: job.wait.map(|w| w.as_str().to_string()),
            wait_timeout_seconds: job.wait_timeout.as_secs(),
            idempotency_key: job.idempotency_key.clone(),
            on_dependency_failure: (!depends_on.is_empty())
                .then(|| job.on_dependency_failure.as_str().to_string()),
            depends_on,
        }
    }
}

/// `POST /v1/schedules?dry_run=true`, `PUT /v1/schedules/{key}?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDryRun {
    /// Always true: nothing was written.
    pub dry_run: bool,
    /// The schedule as it would be stored, `id` `null` for a create.
    pub schedule: Value,
    /// Its next 5 fire times; empty when it would be paused.
    pub next_fire_times: Vec<FireTimeView>,
}

/// `POST /v1/windows?dry_run=true`, `PUT /v1/windows/{key}?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowDryRun {
    /// Always true: nothing was written.
    pub dry_run: bool,
    /// The window as it would be stored, `id` `null` for a create.
    pub window: Value,
    /// Its next 5 openings and closings; empty when it would be paused.
    pub next_edges: Vec<FireTimeView>,
    /// The running machines its enforcement would stop now (those the
    /// daemon last saw running among its targets, outside its hours and not
    /// kept on by an override, or inside them but kept off); empty without
    /// enforcement.
    pub would_stop: Vec<WouldStop>,
}

/// `POST /v1/windows/{key}/overrides?dry_run=true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideDryRun {
    /// Always true: nothing was written.
    pub dry_run: bool,
    /// The override as it would be stored, `id` `null`, with `active`.
    #[serde(rename = "override")]
    pub rule: Value,
}

/// `value` as a dry run shows it: its `id` `null` when it would be new
/// (`new`), since a dry run reserves no id.
pub(super) fn unsaved<T: Serialize>(value: &T, new: bool) -> Value {
    let mut value = serde_json::to_value(value).expect("stored objects serialize");
    if new && let Some(object) = value.as_object_mut() {
        object.insert("id".into(), Value::Null);
    }
    value
}

/// Whether the query asks for a dry run: `dry_run=true`; `false` or no
/// query is the request itself; any other parameter or value is a 400.
pub(super) fn asked(raw: Option<&str>) -> Result<bool, super::error::Problem> {
    let q = params::query(raw, &["dry_run"])?;
    match q.get("dry_run").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(super::error::Problem::bad_field(
            "dry_run",
            "`dry_run` must be true or false",
        )),
    }
}
