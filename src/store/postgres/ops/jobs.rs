//! The PostgreSQL driver's jobs operations.

use crate::job::{Job, JobEvent, JobId, JobState, NewJob};
use crate::schedule::firing::Firing;
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{EventRow, FiringDbRow, JobRow, from_ms, to_ms};
use crate::store::{
    CancelResult, EventFilter, JobFilter, RetryResult, StoreError, Submitted, Transition,
};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn submit(
        &self,
        job: NewJob,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        unimplemented!("postgres: submit")
    }

    pub(in crate::store) async fn submit_batch(
        &self,
        jobs: Vec<NewJob>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError> {
        unimplemented!("postgres: submit_batch")
    }

    pub(in crate::store) async fn transition(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        unimplemented!("postgres: transition")
    }

    pub(in crate::store) async fn cancel(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<CancelResult, StoreError> {
        unimplemented!("postgres: cancel")
    }

    pub(in crate::store) async fn retry(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<RetryResult, StoreError> {
        unimplemented!("postgres: retry")
    }

    pub(in crate::store) async fn prune(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        unimplemented!("postgres: prune")
    }

    pub(in crate::store) async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        unimplemented!("postgres: job")
    }

    pub(in crate::store) async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        unimplemented!("postgres: jobs")
    }

    pub(in crate::store) async fn job_firing(
        &self,
        job_id: JobId,
    ) -> Result<Option<Firing>, StoreError> {
        unimplemented!("postgres: job_firing")
    }

    pub(in crate::store) async fn events(
        &self,
        job_id: JobId,
    ) -> Result<Vec<JobEvent>, StoreError> {
        unimplemented!("postgres: events")
    }

    pub(in crate::store) async fn history(
        &self,
        filter: &EventFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        unimplemented!("postgres: history")
    }

    pub(in crate::store) async fn history_after(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        unimplemented!("postgres: history_after")
    }

    pub(in crate::store) async fn next_due_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        unimplemented!("postgres: next_due_after")
    }

    pub(in crate::store) async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        unimplemented!("postgres: counts")
    }
}
