//! The SQLite driver's job operations: submit, transition, cancel, retry
//! and prune become [`JobCommand`]s for the writer (`sqlite/jobs.rs`
//! applies them); the job reads run on the pool.

use chrono::{DateTime, Utc};

use crate::job::{Job, JobEvent, JobId, JobKind, JobState, NewJob};
use crate::store::rows::{EventRow, JobRow, from_ms, to_ms};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::jobs::{EncodedJob, EncodedTransition, JobCommand, NEXT_DUE};
use crate::store::{
    CancelResult, EventFilter, JobFilter, RetryResult, StoreError, Submitted, Transition,
};

/// Which side of an event id a history read takes.
enum Side {
    /// Ids below this one, newest first.
    Below(i64),
    /// Ids above this one, oldest first.
    Above(i64),
}

/// The job operations of the SQLite driver: writes go to the writer as
/// [`JobCommand`]s, reads to the reader pool.
impl SqliteDriver {
    pub(in crate::store) async fn submit(
        &self,
        job: NewJob,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        // Encoded here, on the caller's thread, not on the writer's.
        let job = Box::new(EncodedJob::new(job));
        self.send(|reply| JobCommand::Submit { job, now, reply })
            .await
    }

    pub(in crate::store) async fn submit_batch(
        &self,
        jobs: Vec<NewJob>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError> {
        let jobs = jobs.into_iter().map(EncodedJob::new).collect();
        self.send(|reply| JobCommand::SubmitBatch { jobs, now, reply })
            .await?
            .map_err(StoreError::Refused)
    }

    pub(in crate::store) async fn transition(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let transition = Box::new(EncodedTransition::new(transition));
        self.send(|reply| JobCommand::Transition {
            transition,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn cancel(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<CancelResult, StoreError> {
        self.send(|reply| JobCommand::Cancel { id, now, reply })
            .await
    }

    pub(in crate::store) async fn retry(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<RetryResult, StoreError> {
        self.send(|reply| JobCommand::Retry { id, now, reply })
            .await
    }

    pub(in crate::store) async fn prune(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.send(|reply| JobCommand::Prune {
            finished_before,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(Job::try_from).transpose()
    }

    pub(in crate::store) async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT * FROM jobs WHERE id < ? AND (? IS NULL OR state = ?) \
             AND (? IS NULL OR kind = ?) AND (? IS NULL OR machine_id = ?) \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.map(JobKind::as_str))
        .bind(filter.kind.map(JobKind::as_str))
        .bind(&filter.machine_id)
        .bind(&filter.machine_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    pub(in crate::store) async fn events(
        &self,
        job_id: JobId,
    ) -> Result<Vec<JobEvent>, StoreError> {
        let rows: Vec<EventRow> =
            sqlx::query_as("SELECT * FROM job_events WHERE job_id = ? ORDER BY id")
                .bind(job_id)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(JobEvent::try_from).collect()
    }

    pub(in crate::store) async fn history(
        &self,
        filter: &EventFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        self.events_beside(filter, Side::Below(before.unwrap_or(i64::MAX)), limit)
            .await
    }

    pub(in crate::store) async fn history_after(
        &self,
        filter: &EventFilter,
        after: i64,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        // A range of the primary key, oldest first: a follower's poll reads
        // only the rows it has not seen.
        self.events_beside(filter, Side::Above(after), limit).await
    }

    /// The events matching `filter` on one side of an event id: below it
    /// newest first (a page of the history), above it oldest first (a
    /// follower reading on).
    async fn events_beside(
        &self,
        filter: &EventFilter,
        side: Side,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        // One statement in its two directions, each static SQL.
        macro_rules! events_sql {
            ($cmp:literal, $order:literal) => {
                concat!(
                    "SELECT e.* FROM job_events e WHERE e.id ",
                    $cmp,
                    " ? AND (? IS NULL OR e.job_id = ?) \
                     AND (? IS NULL OR e.job_id IN (SELECT id FROM jobs WHERE machine_id = ?)) \
                     ORDER BY e.id ",
                    $order,
                    " LIMIT ?"
                )
            };
        }
        let (sql, id) = match side {
            Side::Below(id) => (events_sql!("<", "DESC"), id),
            Side::Above(id) => (events_sql!(">", "ASC"), id),
        };
        let rows: Vec<EventRow> = sqlx::query_as(sql)
            .bind(id)
            .bind(filter.job_id)
            .bind(filter.job_id)
            .bind(&filter.machine_id)
            .bind(&filter.machine_id)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(JobEvent::try_from).collect()
    }

    pub(in crate::store) async fn next_due_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) = sqlx::query_as(NEXT_DUE)
            .bind(to_ms(now))
            .fetch_one(&self.reader)
            .await?;
        Ok(next.map(from_ms))
    }

    pub(in crate::store) async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((s.parse().ok()?, n as u64)))
            .collect())
    }
}
