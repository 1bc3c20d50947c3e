//! The job operations: submit, transition, cancel, retry, prune, and the
//! job reads.

use chrono::{DateTime, Utc};

use super::Store;
use crate::job::{Job, JobEvent, JobId, JobState, NewJob};
use crate::schedule::firing::Firing;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::jobs::{
    CancelResult, EventFilter, JobFilter, RetryResult, Submitted, Transition,
};

impl Store {
    /// Stores a new job (or returns the one its idempotency key already made).
    pub async fn submit(&self, job: NewJob, now: DateTime<Utc>) -> Result<Submitted, StoreError> {
        on_driver!(self, d => d.submit(job, now).await)
    }

    /// Stores several jobs in one transaction, all or none, in the order
    /// given; a job's `Earlier` dependencies are positions in `jobs`. A
    /// dependency on a job the store does not hold is
    /// [`StoreError::Refused`], and nothing is written.
    pub async fn submit_batch(
        &self,
        jobs: Vec<NewJob>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError> {
        on_driver!(self, d => d.submit_batch(jobs, now).await)
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

    /// The firing that queued a job, when a schedule's did.
    pub async fn job_firing(&self, job_id: JobId) -> Result<Option<Firing>, StoreError> {
        on_driver!(self, d => d.job_firing(job_id).await)
    }

    /// A job's history, oldest first.
    pub async fn events(&self, job_id: JobId) -> Result<Vec<JobEvent>, StoreError> {
        on_driver!(self, d => d.events(job_id).await)
    }

    /// Every job's history (or the filter's part of it), newest first,
    /// below the cursor `before` (an event id).
    pub async fn history(
        &self,
        filter: &EventFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        on_driver!(self, d => d.history(filter, before, limit).await)
    }

    /// The events (of the filter) with ids above `after`, oldest first, at
    /// most `limit`: what a follower of the history has not seen yet. Ids
    /// only grow, so reading on from the last id returned neither skips nor
    /// repeats an event.
    pub async fn history_after(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        on_driver!(self, d => d.history_after(filter, after, limit).await)
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
