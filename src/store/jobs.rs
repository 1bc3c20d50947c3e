//! Jobs: what a submit, cancel or retry did, a worker's report
//! ([`Transition`]) and a listing's filter — the nouns every driver's job
//! operations take and answer (the operations: `handle/jobs.rs`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::job::{Checkpoint, Job, JobId, JobKind, JobState, NewEvent};
use crate::machine::Machine;

/// What a submit did.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The job as stored.
    pub job: Job,
    /// False when the idempotency key matched an existing job, which is returned.
    pub created: bool,
}

/// What a cancel did.
#[derive(Debug, Clone)]
pub enum CancelResult {
    Cancelled(Box<Job>),
    AlreadyFinished(Box<Job>),
    NotFound,
}

/// What a retry did.
#[derive(Debug, Clone)]
pub enum RetryResult {
    Queued(Box<Job>),
    /// Only failed jobs can be retried.
    NotFailed(Box<Job>),
    NotFound,
}

/// A worker's report on a job it holds: the new state and everything that
/// goes with it, written in one transaction — or not at all, when the worker
/// no longer holds the job (it was cancelled or its lease was taken back).
#[derive(Debug, Clone)]
pub struct Transition {
    /// The job reported on.
    pub job_id: JobId,
    /// The lease holder; the write only applies while it still holds the job.
    pub owner: Arc<str>,
    /// The new state; `Running` records a checkpoint mid-step and keeps the lease.
    pub to: JobState,
    /// When the job is next due (retries and polls).
    pub run_at: Option<DateTime<Utc>>,
    /// Replaces the stored checkpoint (`None` clears it).
    pub checkpoint: Option<Checkpoint>,
    /// Sets the job's machine (a create learns it).
    pub machine_id: Option<String>,
    /// Sets the job's result (`None` keeps the stored one).
    pub result: Option<Value>,
    /// Sets `last_error`.
    pub error: Option<String>,
    /// History rows: the state change, API calls, notes.
    pub events: Vec<NewEvent>,
    /// Machines seen on the way, for the machines table.
    pub seen: Vec<Machine>,
    /// `seen` is the whole account: machines missing from it are gone.
    pub seen_complete: bool,
    /// Machines found to no longer exist.
    pub gone: Vec<String>,
    /// What a utilization job pulled, kept per (machine, month).
    pub utilization: Option<crate::machine::Utilization>,
}

/// Filters of a job listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this kind.
    pub kind: Option<JobKind>,
    /// Only jobs of this machine.
    pub machine_id: Option<String>,
    /// Only this job (a search by id); the other filters still apply.
    pub id: Option<JobId>,
    /// Only the job submitted with this idempotency key.
    pub idempotency_key: Option<String>,
    /// Only jobs queued by this schedule's firings (`firings.job_id`).
    pub schedule_id: Option<i64>,
    /// Only jobs created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Only jobs created before this instant.
    pub created_to: Option<DateTime<Utc>>,
}

/// Filters of the history (`GET /v1/history`): every job's events, or
/// those of one machine's jobs, or of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of jobs on this machine.
    pub machine_id: Option<String>,
    /// Only events of this job.
    pub job_id: Option<JobId>,
}

/// How a new job starts, from the states of what it depends on: each
/// driver reads them, and both store what this says.
pub(in crate::store) struct Start {
    /// `queued`, `blocked`, or `cancelled` (a dependency failed already).
    pub state: JobState,
    /// The dependencies still unfinished: one edge each.
    pub pending: Vec<JobId>,
    /// Why a job that starts cancelled was not run.
    pub error: Option<String>,
}

impl Start {
    /// The start of a job that depends on nothing.
    pub fn queued() -> Start {
        Start {
            state: JobState::Queued,
            pending: Vec::new(),
            error: None,
        }
    }

    /// The first history row's line of a job that starts so, due at
    /// `run_at`: what it waits for, why it was cancelled at once, or when
    /// it is due.
    pub fn submitted_message(&self, run_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        match self.state {
            JobState::Blocked => {
                let ids: Vec<String> = self.pending.iter().map(|d| d.to_string()).collect();
                format!(
                    "submitted; waits for job{} {}",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                )
            }
            JobState::Cancelled => format!(
                "submitted, and cancelled at once: {}",
                self.error.as_deref().unwrap_or_default()
            ),
            _ if run_at > now => format!("submitted; due at {}", run_at.to_rfc3339()),
            _ => "submitted".to_string(),
        }
    }
}
