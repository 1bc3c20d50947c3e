//! The PostgreSQL driver's job operations: submit, transition, cancel,
//! retry and prune each run in a transaction of their own, written by
//! `postgres/jobs.rs` (which says how they stay right with several daemons
//! writing at once); the job reads run on the pool. The same outcomes as
//! the SQLite driver's `ops/jobs.rs`.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use crate::job::{Job, JobEvent, JobId, JobState, NewJob};
use crate::schedule::firing::Firing;
use crate::store::postgres::batch::Batcher;
use crate::store::postgres::jobs::webhook_kinds;
use crate::store::postgres::jobs::{
    cancel, dependency_ids, prune, retry, submit_batch_in, submit_in, transition_job,
};
use crate::store::postgres::{Effects, PostgresDriver, dependencies};
use crate::store::rows::{EventRow, FiringDbRow, JobRow, from_ms, to_ms};
use crate::store::{
    CancelResult, EventFilter, JobFilter, RetryResult, StoreError, Submitted, Transition,
};

/// The earliest `run_at` after `$1` of a queued or waiting job (of either
/// lane: each lane's partial index `jobs_next_due*` serves its half).
const NEXT_DUE: &str = concat!(
    "SELECT MIN(m) FROM (\
     SELECT MIN(run_at) AS m FROM jobs WHERE state IN ('queued', 'waiting') \
     AND kind NOT IN ",
    webhook_kinds!(),
    " AND run_at > $1 \
     UNION ALL SELECT MIN(run_at) AS m FROM jobs WHERE state IN ('queued', 'waiting') \
     AND kind IN ",
    webhook_kinds!(),
    " AND run_at > $1) AS due"
);

impl PostgresDriver {
    pub(in crate::store) async fn submit(
        &self,
        job: NewJob,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        match &self.writes {
            Some(batcher) if Batcher::takes_submit(&job) => batcher.submit(job, now).await,
            _ => self.submit_alone(job, now).await,
        }
    }

    /// A submit in a transaction of its own.
    pub(in crate::store::postgres) async fn submit_alone(
        &self,
        job: NewJob,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let ids = dependency_ids(std::slice::from_ref(&job));
        if let Some(refused) = dependencies::missing(&mut tx, &ids).await? {
            // Nothing written: the transaction is dropped, rolled back.
            return Err(StoreError::Refused(refused));
        }
        let submitted = submit_in(&mut tx, job, now, &mut fx).await?;
        fx.wake |= submitted.created;
        self.commit(tx, fx).await?;
        Ok(submitted)
    }

    pub(in crate::store) async fn submit_batch(
        &self,
        jobs: Vec<NewJob>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Submitted>, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let submitted = submit_batch_in(&mut tx, jobs, None, now, &mut fx)
            .await?
            .map_err(StoreError::Refused)?;
        self.commit(tx, fx).await?;
        Ok(submitted)
    }

    pub(in crate::store) async fn transition(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match &self.writes {
            Some(batcher) if Batcher::takes_report(&transition) => {
                batcher.report(transition, now).await
            }
            _ => self.transition_alone(transition, now).await,
        }
    }

    /// A worker's report in a transaction of its own.
    pub(in crate::store::postgres) async fn transition_alone(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // The worker gave its slot back before sending this.
        let mut fx = Effects {
            recheck: true,
            ..Effects::default()
        };
        let applied = transition_job(&mut tx, transition, now, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(applied)
    }

    pub(in crate::store) async fn cancel(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<CancelResult, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let result = cancel(&mut tx, id, now, &mut fx).await?;
        fx.wake |= matches!(result, CancelResult::Cancelled(_));
        self.commit(tx, fx).await?;
        Ok(result)
    }

    pub(in crate::store) async fn retry(
        &self,
        id: JobId,
        now: DateTime<Utc>,
    ) -> Result<RetryResult, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let result = retry(&mut tx, id, now).await?;
        fx.wake |= matches!(result, RetryResult::Queued(_));
        self.commit(tx, fx).await?;
        Ok(result)
    }

    pub(in crate::store) async fn prune(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = prune(&mut tx, finished_before).await?;
        self.commit(tx, Effects::default()).await?;
        Ok(deleted)
    }

    pub(in crate::store) async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Job::try_from).transpose()
    }

    pub(in crate::store) async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        // Built from the filters given, each a plain `col = $n` the planner
        // can match to its index; values are always bound. The conditions
        // are SQLite's, term for term (its index hints aside), so that both
        // drivers list the same jobs.
        let mut sql = QueryBuilder::<Postgres>::new(if filter.schedule_id.is_some() {
            // A schedule's jobs: walked down its firings, newest job first.
            "SELECT j.* FROM firings f JOIN jobs j ON j.id = f.job_id WHERE f.job_id < "
        } else {
            "SELECT j.* FROM jobs j WHERE j.id < "
        });
        // The cursor, or below the first job created at or after
        // `created_to` if that is lower.
        match filter.created_to {
            Some(to) => {
                sql.push("LEAST(")
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
        if let Some(id) = filter.id {
            sql.push(" AND j.id = ").push_bind(id);
        }
        if let Some(key) = &filter.idempotency_key {
            sql.push(" AND j.idempotency_key = ").push_bind(key.clone());
        }
        if let Some(state) = filter.state {
            sql.push(" AND j.state = ").push_bind(state.as_str());
        }
        if let Some(machine_id) = &filter.machine_id {
            sql.push(" AND j.machine_id = ")
                .push_bind(machine_id.clone());
        }
        if let Some(kind) = filter.kind {
            sql.push(" AND j.kind = ").push_bind(kind.as_str());
        }
        // A created-at range is read as the range of ids submitted in it
        // (the first job created at or after each end bounds the id), then
        // checked exactly.
        if let Some(from) = filter.created_from {
            sql.push(if filter.schedule_id.is_some() {
                " AND f.job_id >= "
            } else {
                " AND j.id >= "
            });
            sql.push("(SELECT id FROM jobs WHERE created_at >= ")
                .push_bind(to_ms(from))
                .push(" ORDER BY created_at, id LIMIT 1) AND j.created_at >= ")
                .push_bind(to_ms(from));
        }
        if let Some(to) = filter.created_to {
            sql.push(" AND j.created_at < ").push_bind(to_ms(to));
        }
        sql.push(if filter.schedule_id.is_some() {
            " ORDER BY f.job_id DESC LIMIT "
        } else {
            " ORDER BY j.id DESC LIMIT "
        });
        sql.push_bind(i64::from(limit));
        let rows: Vec<JobRow> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// The firing that queued job `job_id`, if a schedule's did.
    pub(in crate::store) async fn job_firing(
        &self,
        job_id: JobId,
    ) -> Result<Option<Firing>, StoreError> {
        let row: Option<FiringDbRow> =
            sqlx::query_as("SELECT * FROM firings WHERE job_id = $1 LIMIT 1")
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Firing::from))
    }

    pub(in crate::store) async fn events(
        &self,
        job_id: JobId,
    ) -> Result<Vec<JobEvent>, StoreError> {
        let rows: Vec<EventRow> =
            sqlx::query_as("SELECT * FROM job_events WHERE job_id = $1 ORDER BY id")
                .bind(job_id)
                .fetch_all(&self.pool)
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
                    " $1 AND ($2::BIGINT IS NULL OR e.job_id = $2) \
                     AND ($3::TEXT IS NULL OR e.job_id IN (SELECT id FROM jobs WHERE machine_id = $3)) \
                     ORDER BY e.id ",
                    $order,
                    " LIMIT $4"
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
            .bind(&filter.machine_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(JobEvent::try_from).collect()
    }

    pub(in crate::store) async fn next_due_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(NEXT_DUE)
            .bind(to_ms(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(next.map(from_ms))
    }

    pub(in crate::store) async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((s.parse().ok()?, n as u64)))
            .collect())
    }
}

/// Which side of an event id a history read takes.
enum Side {
    /// Ids below this one, newest first.
    Below(i64),
    /// Ids above this one, oldest first.
    Above(i64),
}
