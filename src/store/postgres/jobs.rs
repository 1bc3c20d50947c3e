//! Jobs in PostgreSQL: what a write does to jobs inside its transaction
//! (submit, transition, cancel, retry, prune, the history rows), shared by
//! the operations of several concepts (a firing, a publication or a group
//! run submits jobs). The same outcomes as `sqlite/jobs.rs`.
//!
//! **Several writers.** SQLite's writer looked an idempotency key up and
//! then inserted, atomically since it was alone. Here two daemons may submit
//! the same key at once, so the insert itself decides: `ON CONFLICT
//! (idempotency_key) … DO NOTHING` waits for a concurrent insert of the key
//! to commit or roll back, and inserts nothing if it committed; the job it
//! made is then read (a new snapshot under READ COMMITTED sees it) and
//! answered with `created: false`. The key is still looked up first, so a
//! repeated submission, the common case, does not use up an id. A job the
//! write changes after reading it (cancel, retry) is read `FOR UPDATE`, so
//! a concurrent claim, transition or cancel of it waits for this one.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::dependencies;
use super::tx::{Effects, Tx};
use crate::job::{Dependency, Job, JobId, JobState, NewEvent, NewJob, SpecError};
use crate::store::jobs::Start;
use crate::store::rows::{JobRow, to_ms};
use crate::store::{CancelResult, RetryResult, StoreError, Submitted, Transition, UtilizationRow};

/// The kinds of the webhooks lane (`JobKind::lane`), as a literal for
/// `concat!`: every query that tells the lanes apart spells them so, as
/// the partial indexes of migration 0001 do (a unit test in `claims.rs`
/// holds it to `JobKind::lane`).
macro_rules! webhook_kinds {
    () => {
        "('deliver', 'digest')"
    };
}
pub(super) use webhook_kinds;

/// The ids of jobs already in the queue that `jobs` depend on, sorted.
pub(super) fn dependency_ids(jobs: &[NewJob]) -> Vec<JobId> {
    let mut ids: Vec<JobId> = jobs
        .iter()
        .flat_map(|j| &j.depends_on)
        .filter_map(|d| match d {
            Dependency::Job(id) => Some(*id),
            Dependency::Earlier(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Inserts a job (or finds the one its idempotency key made) inside `tx`.
/// As in SQLite, the caller decides the wake-up (`fx.wake`) from the answer.
pub(super) async fn submit_in(
    tx: &mut Tx,
    job: NewJob,
    now: DateTime<Utc>,
    _fx: &mut Effects,
) -> Result<Submitted, StoreError> {
    submit_placed(tx, job, now, &[], None).await
}

/// Inserts jobs in order, all or none: a dependency on a job the store
/// does not hold refuses the whole batch before anything is written. Each
/// job is placed in `run` (group run id, step per job) when given.
pub(super) async fn submit_batch_in(
    tx: &mut Tx,
    jobs: Vec<NewJob>,
    run: Option<(i64, Vec<u32>)>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Result<Vec<Submitted>, SpecError>, StoreError> {
    if let Some(refused) = dependencies::missing(tx, &dependency_ids(&jobs)).await? {
        return Ok(Err(refused));
    }
    let mut ids = Vec::with_capacity(jobs.len());
    let mut out = Vec::with_capacity(jobs.len());
    for (k, job) in jobs.into_iter().enumerate() {
        let group = run.as_ref().map(|(id, steps)| (*id, steps[k]));
        let submitted = submit_placed(tx, job, now, &ids, group).await?;
        fx.wake |= submitted.created && submitted.job.state == JobState::Queued;
        ids.push(submitted.job.id);
        out.push(submitted);
    }
    Ok(Ok(out))
}

/// The job whose idempotency key is `key`, if any.
async fn by_key(tx: &mut Tx, key: &str) -> Result<Option<Job>, StoreError> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Job::try_from).transpose()
}

/// [`submit_in`] for a job of a batch: `earlier` holds the ids of the jobs
/// of its batch stored before it (what its `Earlier` dependencies point
/// at), `group` the group run and step it belongs to.
async fn submit_placed(
    tx: &mut Tx,
    job: NewJob,
    now: DateTime<Utc>,
    earlier: &[JobId],
    group: Option<(i64, u32)>,
) -> Result<Submitted, StoreError> {
    if let Some(key) = &job.idempotency_key
        && let Some(existing) = by_key(tx, key).await?
    {
        return Ok(Submitted {
            job: existing,
            created: false,
        });
    }
    let deps: Vec<JobId> = job
        .depends_on
        .iter()
        .map(|d| match d {
            Dependency::Job(id) => *id,
            Dependency::Earlier(k) => earlier[*k],
        })
        .collect();
    let start = if deps.is_empty() {
        Start::queued()
    } else {
        dependencies::start(tx, &deps, job.on_dependency_failure).await?
    };
    let at = to_ms(now);
    let with_deps = !deps.is_empty();
    let row: Option<JobRow> = sqlx::query_as(
        "INSERT INTO jobs (kind, machine_id, args, state, priority, attempt, max_attempts, \
         run_at, wait, wait_timeout_ms, idempotency_key, created_at, updated_at, last_error, \
         finished_at, depends_on, on_dependency_failure, group_run, group_step) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING *",
    )
    .bind(job.operation.kind().as_str())
    .bind(&job.machine_id)
    .bind(job.operation.args_json().to_string())
    .bind(start.state.as_str())
    .bind(i64::from(job.priority))
    .bind(i64::from(job.max_attempts))
    .bind(to_ms(job.run_at))
    .bind(job.wait.map(|w| w.as_str()))
    .bind(job.wait_timeout.as_millis() as i64)
    .bind(&job.idempotency_key)
    .bind(at)
    .bind(&start.error)
    .bind(start.state.is_final().then_some(at))
    .bind(with_deps.then(|| serde_json::Value::from(deps.clone()).to_string()))
    .bind(with_deps.then_some(job.on_dependency_failure.as_str()))
    .bind(group.map(|(run, _)| run))
    .bind(group.map(|(_, step)| i64::from(step)))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        // Another transaction inserted the key since the look-up above and
        // committed (the insert waited for it): its job is the answer.
        let key = job.idempotency_key.as_deref().unwrap_or_default();
        let existing = by_key(tx, key).await?.ok_or_else(|| {
            invariant(format!(
                "idempotency key `{key}` conflicted, its job is gone"
            ))
        })?;
        return Ok(Submitted {
            job: existing,
            created: false,
        });
    };
    let stored = Job::try_from(row)?;
    let message = start.submitted_message(job.run_at, now);
    insert_event(
        tx,
        stored.id,
        at,
        &NewEvent::state(None, start.state, message),
    )
    .await?;
    if !start.pending.is_empty() {
        dependencies::link(tx, stored.id, &start.pending).await?;
    }
    Ok(Submitted {
        job: stored,
        created: true,
    })
}

/// The job `id` as `tx` sees it.
pub(super) async fn fetch_job(tx: &mut Tx, id: JobId) -> Result<Option<Job>, StoreError> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Job::try_from).transpose()
}

/// The job `id`, locked until `tx` ends: for a write that decides from
/// what it reads.
async fn lock_job(tx: &mut Tx, id: JobId) -> Result<Option<Job>, StoreError> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Job::try_from).transpose()
}

/// Adds one history row.
pub(super) async fn insert_event(
    tx: &mut Tx,
    job_id: JobId,
    at_ms: i64,
    event: &NewEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_events (job_id, at, kind, from_state, to_state, message, \
         method, route, status, latency_ms, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(job_id)
    .bind(at_ms)
    .bind(event.kind.as_str())
    .bind(event.from_state.map(JobState::as_str))
    .bind(event.to_state.map(JobState::as_str))
    .bind(&event.message)
    .bind(&event.method)
    .bind(&event.route)
    .bind(event.status.map(i64::from))
    .bind(event.latency_ms.map(|l| l as i64))
    .bind(&event.error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A history row to add: its job, its time in ms, the event.
pub(super) type EventRow<'a> = (JobId, i64, &'a NewEvent);

/// Adds history rows in the order given, in one statement (`insert_event`
/// is one row).
pub(super) async fn insert_events(tx: &mut Tx, rows: &[EventRow<'_>]) -> Result<(), StoreError> {
    match rows {
        [] => return Ok(()),
        [(job_id, at, event)] => return insert_event(tx, *job_id, *at, event).await,
        _ => {}
    }
    let mut insert = QueryBuilder::new("");
    push_insert_events(&mut insert, rows, "");
    insert.build().execute(&mut **tx).await?;
    Ok(())
}

/// Pushes onto `sql` an `INSERT` of `rows` into the history, in their
/// order, from arrays bound to it; `only` is a condition on their
/// `e.job_id` (empty for none), for a statement that writes the history
/// of the rows another part of it changed.
pub(super) fn push_insert_events(
    sql: &mut QueryBuilder<Postgres>,
    rows: &[EventRow<'_>],
    only: &str,
) {
    let col = |f: &dyn Fn(&EventRow<'_>) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    sql.push(
        "INSERT INTO job_events (job_id, at, kind, from_state, to_state, message, \
         method, route, status, latency_ms, error) \
         SELECT e.job_id, e.at, e.kind, e.from_state, e.to_state, e.message, e.method, \
         e.route, e.status, e.latency_ms, e.error FROM UNNEST(",
    );
    sql.push_bind(rows.iter().map(|r| r.0).collect::<Vec<i64>>());
    sql.push("::BIGINT[], ");
    sql.push_bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>());
    sql.push("::BIGINT[], ");
    for text in [
        col(&|r| Some(r.2.kind.as_str().to_string())),
        col(&|r| r.2.from_state.map(|s| s.as_str().to_string())),
        col(&|r| r.2.to_state.map(|s| s.as_str().to_string())),
        col(&|r| Some(r.2.message.clone())),
        col(&|r| r.2.method.clone()),
        col(&|r| r.2.route.clone()),
    ] {
        sql.push_bind(text);
        sql.push("::TEXT[], ");
    }
    sql.push_bind(
        rows.iter()
            .map(|r| r.2.status.map(i64::from))
            .collect::<Vec<Option<i64>>>(),
    );
    sql.push("::BIGINT[], ");
    sql.push_bind(
        rows.iter()
            .map(|r| r.2.latency_ms.map(|l| l as i64))
            .collect::<Vec<Option<i64>>>(),
    );
    sql.push("::BIGINT[], ");
    sql.push_bind(col(&|r| r.2.error.clone()));
    sql.push(
        "::TEXT[]) WITH ORDINALITY AS e(job_id, at, kind, from_state, to_state, message, \
         method, route, status, latency_ms, error, n) ",
    );
    if !only.is_empty() {
        sql.push("WHERE ");
        sql.push(only);
    }
    sql.push(" ORDER BY e.n");
}

/// Writes a worker's report; a report whose worker no longer holds the job
/// (cancelled or taken back meanwhile) is stale and changes nothing. The
/// `UPDATE`'s condition is the fence: it re-checks the row after waiting
/// for any concurrent writer of it.
pub(super) async fn transition_job(
    tx: &mut Tx,
    mut t: Transition,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<bool, StoreError> {
    let at = to_ms(now);
    let checkpoint = t.checkpoint.take().map(|c| json_text(&c));
    let result = t.result.take().map(|r| r.to_string());
    let changed = sqlx::query(
        "UPDATE jobs SET state = $3, run_at = COALESCE($4, run_at), checkpoint = $5, \
         result = COALESCE($6, result), last_error = COALESCE($7, last_error), \
         lease_owner = CASE WHEN $8 THEN lease_owner END, \
         lease_expires_at = CASE WHEN $8 THEN lease_expires_at END, \
         updated_at = $9, finished_at = $10, machine_id = COALESCE($11, machine_id) \
         WHERE id = $1 AND state = 'running' AND lease_owner = $2",
    )
    .bind(t.job_id)
    .bind(&*t.owner)
    .bind(t.to.as_str())
    .bind(t.run_at.map(to_ms))
    .bind(checkpoint)
    .bind(result)
    .bind(&t.error)
    // Running records a checkpoint mid-step and keeps the lease.
    .bind(t.to == JobState::Running)
    .bind(at)
    .bind(t.to.is_final().then_some(at))
    .bind(&t.machine_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    let events: Vec<_> = t.events.iter().map(|e| (t.job_id, at, e)).collect();
    insert_events(tx, &events).await?;
    // SQLite's `see_machines` writes nothing for a report that saw nothing.
    if !t.seen.is_empty() || !t.gone.is_empty() || t.seen_complete {
        super::machines::see_machines(tx, &t.seen, &t.gone, t.seen_complete, now).await?;
    }
    if let Some(u) = &t.utilization {
        super::reports::save_utilization(
            tx,
            std::slice::from_ref(u),
            UtilizationRow::PAPERSPACE,
            now,
        )
        .await?;
    }
    if t.to.is_final() {
        dependencies::settle(tx, t.job_id, t.to, now, fx).await?;
    }
    fx.wake |= t.to != JobState::Running;
    Ok(true)
}

/// A database that broke what this transaction relies on.
fn invariant(detail: String) -> StoreError {
    StoreError::Db(crate::store::Cause::new(std::io::Error::other(detail)))
}

/// JSON text of a value the store keeps as text.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a value of Machinist's own serializes")
}

/// Cancels a job that is not finished; a running one's lease owner is told
/// through `fx.revoked`.
pub(super) async fn cancel(
    tx: &mut Tx,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<CancelResult, StoreError> {
    let Some(job) = lock_job(tx, id).await? else {
        return Ok(CancelResult::NotFound);
    };
    if job.state.is_final() {
        return Ok(CancelResult::AlreadyFinished(Box::new(job)));
    }
    let at = to_ms(now);
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = $1, finished_at = $1 WHERE id = $2",
    )
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if let (JobState::Running, Some(owner)) = (job.state, &job.lease_owner) {
        fx.revoked.push((owner.clone(), id));
    }
    if job.state == JobState::Blocked {
        sqlx::query("DELETE FROM job_dependencies WHERE job_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    let note = if job.state == JobState::Running {
        "cancelled by request; a Paperspace call in flight may still complete"
    } else {
        "cancelled by request"
    };
    insert_event(
        tx,
        id,
        at,
        &NewEvent::state(Some(job.state), JobState::Cancelled, note),
    )
    .await?;
    dependencies::settle(tx, id, JobState::Cancelled, now, fx).await?;
    let job = fetch_job(tx, id)
        .await?
        .ok_or_else(|| invariant(format!("job {id}, locked and updated, is gone")))?;
    Ok(CancelResult::Cancelled(Box::new(job)))
}

/// Queues a failed job again, its attempts starting over.
pub(super) async fn retry(
    tx: &mut Tx,
    id: JobId,
    now: DateTime<Utc>,
) -> Result<RetryResult, StoreError> {
    let Some(job) = lock_job(tx, id).await? else {
        return Ok(RetryResult::NotFound);
    };
    if job.state != JobState::Failed {
        return Ok(RetryResult::NotFailed(Box::new(job)));
    }
    let at = to_ms(now);
    let row: JobRow = sqlx::query_as(
        "UPDATE jobs SET state = 'queued', attempt = 0, run_at = $1, updated_at = $1, \
         finished_at = NULL WHERE id = $2 RETURNING *",
    )
    .bind(at)
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    insert_event(
        tx,
        id,
        at,
        &NewEvent::state(
            Some(JobState::Failed),
            JobState::Queued,
            "retried by request; attempts start over",
        ),
    )
    .await?;
    Ok(RetryResult::Queued(Box::new(Job::try_from(row)?)))
}

/// Deletes finished jobs, and their history first, finished before the cutoff.
pub(super) async fn prune(tx: &mut Tx, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
    let cutoff = to_ms(finished_before);
    sqlx::query(
        "DELETE FROM job_events WHERE job_id IN \
         (SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut **tx)
    .await?;
    let deleted =
        sqlx::query("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(cutoff)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    // A group run goes with its last job: its progress is read from them.
    sqlx::query(
        "DELETE FROM group_runs WHERE updated_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM jobs WHERE group_run = group_runs.id)",
    )
    .bind(cutoff)
    .execute(&mut **tx)
    .await?;
    // Webhook events go with their last delivery: an event older than the
    // cutoff that no remaining deliver job names is no longer shown or sent.
    // (`NOT EXISTS`, not `NOT IN`: a deliver job without an event would make
    // `NOT IN` false for every row.)
    sqlx::query(
        "DELETE FROM webhook_events WHERE at < $1 AND NOT EXISTS \
         (SELECT 1 FROM jobs WHERE kind = 'deliver' \
          AND (args::jsonb ->> 'event') = webhook_events.id)",
    )
    .bind(cutoff)
    .execute(&mut **tx)
    .await?;
    Ok(deleted)
}
