//! The SQLite driver's job operations: submit, transition, cancel, retry
//! and prune become [`JobCommand`]s for the writer (`sqlite/jobs.rs`
//! applies them); the job reads run on the pool.

use chrono::{DateTime, Utc};

use crate::job::{Job, JobEvent, JobId, JobState, NewJob};
use crate::schedule::firing::Firing;
use crate::store::rows::{EventRow, FiringDbRow, JobRow, from_ms, to_ms};
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
        // Built from the filters given, so that each is a plain `col = ?`
        // the planner can match to its index (`jobs_state`, `jobs_kind`,
        // `jobs_machine`: each `(col, id)`, read newest first from the
        // cursor down). The `? IS NULL OR col = ?` form of one static
        // statement hides the index from SQLite's planner, which then walks
        // the whole table for a rare state. Values are always bound.
        let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(if filter.schedule_id.is_some() {
            // A schedule's jobs: walked down its firings (index
            // firings_schedule_job), newest job first.
            "SELECT j.* FROM firings f JOIN jobs j ON j.id = f.job_id WHERE f.job_id < "
        } else {
            "SELECT j.* FROM jobs j WHERE j.id < "
        });
        // The one upper bound of the id range: the cursor, or below the
        // first job created at or after `created_to` if that is lower.
        // (Two separate `id <` terms would leave one of them a mere check
        // on every row the other lets through: SQLite bounds a range by
        // one term a side.)
        match filter.created_to {
            Some(to) => {
                sql.push("MIN(")
                    .push_bind(before.unwrap_or(i64::MAX))
                    .push(", COALESCE((SELECT id FROM jobs WHERE created_at >= ")
                    .push_bind(to_ms(to))
                    .push(" ORDER BY created_at, id LIMIT 1), ")
                    .push_bind(i64::MAX)
                    .push("))");
            }
            None => {
                sql.push_bind(before.unwrap_or(i64::MAX));
            }
        }
        if let Some(schedule_id) = filter.schedule_id {
            sql.push(" AND f.schedule_id = ").push_bind(schedule_id);
        }
        // One index drives the read: the most selective filter's. The other
        // equality terms are written `+col = ?`, which SQLite cannot serve
        // from an index, so without statistics it does not pick, say,
        // `jobs_kind` over `jobs_state` for "failed starts" and walk every
        // start to find a few failures.
        let mut indexed = filter.schedule_id.is_some();
        let mut term = |sql: &mut sqlx::QueryBuilder<sqlx::Sqlite>, column: &str| {
            sql.push(if indexed { " AND +j." } else { " AND j." });
            sql.push(column).push(" = ");
            indexed = true;
        };
        if let Some(id) = filter.id {
            term(&mut sql, "id");
            sql.push_bind(id);
        }
        if let Some(key) = &filter.idempotency_key {
            term(&mut sql, "idempotency_key");
            sql.push_bind(key.clone());
        }
        if let Some(state) = filter.state {
            term(&mut sql, "state");
            sql.push_bind(state.as_str());
        }
        if let Some(machine_id) = &filter.machine_id {
            term(&mut sql, "machine_id");
            sql.push_bind(machine_id.clone());
        }
        if let Some(kind) = filter.kind {
            term(&mut sql, "kind");
            sql.push_bind(kind.as_str());
        }
        // A created-at range is read as the range of ids submitted in it:
        // the first job created at or after each end, found on
        // `jobs_created`, bounds the id (the upper end above), on the key
        // the read walks. The exact comparisons follow (with `+`, which
        // keeps the planner off `jobs_created` for them: that index would
        // need every job of the range sorted by id).
        if let Some(from) = filter.created_from {
            sql.push(if filter.schedule_id.is_some() {
                " AND f.job_id >= "
            } else {
                " AND j.id >= "
            });
            sql.push("(SELECT id FROM jobs WHERE created_at >= ")
                .push_bind(to_ms(from))
                .push(" ORDER BY created_at, id LIMIT 1) AND +j.created_at >= ")
                .push_bind(to_ms(from));
        }
        if let Some(to) = filter.created_to {
            sql.push(" AND +j.created_at < ").push_bind(to_ms(to));
        }
        sql.push(if filter.schedule_id.is_some() {
            " ORDER BY f.job_id DESC LIMIT "
        } else {
            " ORDER BY j.id DESC LIMIT "
        });
        sql.push_bind(i64::from(limit));
        let rows: Vec<JobRow> = sql.build_query_as().fetch_all(&self.reader).await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// The firing that queued job `job_id`, if a schedule's did.
    pub(in crate::store) async fn job_firing(
        &self,
        job_id: JobId,
    ) -> Result<Option<Firing>, StoreError> {
        let row: Option<FiringDbRow> =
            sqlx::query_as("SELECT * FROM firings WHERE job_id = ? LIMIT 1")
                .bind(job_id)
                .fetch_optional(&self.reader)
                .await?;
        Ok(row.map(Firing::from))
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
