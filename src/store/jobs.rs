//! Jobs: what a submit, cancel or retry did, a worker's report
//! ([`Transition`]), and the store's job operations.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::driver::on_driver;
use super::{Store, StoreError};
use crate::job::{Checkpoint, Job, JobEvent, JobId, JobKind, JobState, NewEvent, NewJob};
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
}

impl Store {
    /// Stores a new job (or returns the one its idempotency key already made).
    pub async fn submit(&self, job: NewJob, now: DateTime<Utc>) -> Result<Submitted, StoreError> {
        on_driver!(self, d => d.submit(job, now).await)
    }

    /// Records a worker's report; false when the worker no longer held the job.
    pub async fn transition(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_driver!(self, d => d.transition(transition, now).await)
    }

    pub async fn cancel(&self, id: JobId, now: DateTime<Utc>) -> Result<CancelResult, StoreError> {
        on_driver!(self, d => d.cancel(id, now).await)
    }

    pub async fn retry(&self, id: JobId, now: DateTime<Utc>) -> Result<RetryResult, StoreError> {
        on_driver!(self, d => d.retry(id, now).await)
    }

    /// Deletes finished jobs (and their history) that finished before the cutoff.
    pub async fn prune(&self, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_driver!(self, d => d.prune(finished_before).await)
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        on_driver!(self, d => d.job(id).await)
    }

    /// Jobs newest first, below the cursor `before` (a job id).
    pub async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        on_driver!(self, d => d.jobs(filter, before, limit).await)
    }

    /// A job's history, oldest first.
    pub async fn events(&self, job_id: JobId) -> Result<Vec<JobEvent>, StoreError> {
        on_driver!(self, d => d.events(job_id).await)
    }

    /// Every job's history, newest first, below the cursor `before` (an event id).
    pub async fn history(
        &self,
        machine_id: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        on_driver!(self, d => d.history(machine_id, before, limit).await)
    }

    /// The earliest time after `now` at which a queued or waiting job falls due.
    pub async fn next_due_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_driver!(self, d => d.next_due_after(now).await)
    }

    /// Jobs per state, for status and metrics.
    pub async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        on_driver!(self, d => d.counts().await)
    }
}
