//! Jobs in SQLite: submit, transition, cancel, retry, prune (applied by the
//! writer in its batch), the history rows every write adds, and the reads.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::dependencies;
use super::machines::{SeenMachine, see_machines};
use super::rows::job_columns;
use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::job::{Dependency, Job, JobId, JobState, Lane, NewEvent, NewJob, SpecError};
use crate::store::jobs::Start;
use crate::store::rows::{JobRow, to_ms};
use crate::store::{CancelResult, RetryResult, StoreError, Submitted, Transition, UtilizationRow};

/// The kinds of the webhooks lane ([`Lane::Webhooks`], see
/// `JobKind::lane`), as a literal for `concat!`. Each lane's partial
/// indexes (migration 0008) say `kind IN` or `kind NOT IN` this list, and
/// every query that names them spells its condition the same way, so that
/// `INDEXED BY` finds the index usable.
macro_rules! webhook_kinds {
    () => {
        "('deliver', 'digest')"
    };
}
pub(super) use webhook_kinds;

/// The earliest `run_at` after `?1` of a queued or waiting job of the
/// machines lane.
const NEXT_DUE_MACHINES: &str = concat!(
    "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_next_due \
     WHERE state IN ('queued', 'waiting') AND kind NOT IN ",
    webhook_kinds!(),
    " AND run_at > ?1"
);

/// The same for the webhooks lane.
const NEXT_DUE_WEBHOOKS: &str = concat!(
    "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_next_due_webhooks \
     WHERE state IN ('queued', 'waiting') AND kind IN ",
    webhook_kinds!(),
    " AND run_at > ?1"
);

/// The earliest `run_at` after `?1` of a queued or waiting job of any lane;
/// read by anyone through the readers.
pub(super) const NEXT_DUE: &str = concat!(
    "SELECT MIN(m) FROM (SELECT MIN(run_at) AS m FROM jobs INDEXED BY jobs_next_due \
     WHERE state IN ('queued', 'waiting') AND kind NOT IN ",
    webhook_kinds!(),
    " AND run_at > ?1 UNION ALL SELECT MIN(run_at) AS m FROM jobs INDEXED BY jobs_next_due_webhooks \
     WHERE state IN ('queued', 'waiting') AND kind IN ",
    webhook_kinds!(),
    " AND run_at > ?1)"
);

/// The earliest `run_at` after `?1` of a queued or waiting job of `lane`;
/// read by the writer for that lane's standing claim.
pub(super) fn next_due(lane: Lane) -> &'static str {
    match lane {
        Lane::Machines => NEXT_DUE_MACHINES,
        Lane::Webhooks => NEXT_DUE_WEBHOOKS,
    }
}

/// A write to a job. Each variant carries the arguments of the `Store`
/// method of the same name (documented there) and `reply`, where its answer
/// goes after the commit.
pub(super) enum JobCommand {
    Submit {
        job: Box<EncodedJob>,
        now: DateTime<Utc>,
        reply: Reply<Submitted>,
    },
    Transition {
        transition: Box<EncodedTransition>,
        now: DateTime<Utc>,
        reply: Reply<bool>,
    },
    Cancel {
        id: JobId,
        now: DateTime<Utc>,
        reply: Reply<CancelResult>,
    },
    Retry {
        id: JobId,
        now: DateTime<Utc>,
        reply: Reply<RetryResult>,
    },
    Prune {
        finished_before: DateTime<Utc>,
        reply: Reply<u64>,
    },
    /// Several jobs in one go (`Store::submit_batch`): all or none.
    SubmitBatch {
        jobs: Vec<EncodedJob>,
        now: DateTime<Utc>,
        reply: Reply<Result<Vec<Submitted>, SpecError>>,
    },
}

/// A job to store, with its JSON already made by the caller: the writer's
/// thread is the queue's bottleneck, so it spends its time on SQL only.
pub(super) struct EncodedJob {
    /// The job as submitted.
    job: NewJob,
    /// Its arguments, kept in the [`Job`] the submit answers with.
    args: Value,
    /// The same arguments as the text the `args` column stores.
    args_text: String,
}

impl EncodedJob {
    pub(super) fn new(job: NewJob) -> Self {
        let args = job.operation.args_json();
        let args_text = args.to_string();
        EncodedJob {
            job,
            args,
            args_text,
        }
    }
}

/// A worker's report with its JSON already made by the caller.
pub(super) struct EncodedTransition {
    /// The report, its checkpoint, result and machines taken out.
    t: Transition,
    /// The checkpoint as stored (`None` clears it).
    checkpoint: Option<String>,
    /// The result as stored (`None` keeps the stored one).
    result: Option<String>,
    /// The machines seen on the way, encoded for the machines table.
    seen: Vec<SeenMachine>,
}

impl EncodedTransition {
    pub(super) fn new(mut t: Transition) -> Self {
        EncodedTransition {
            checkpoint: t.checkpoint.take().as_ref().map(json_text),
            result: t.result.take().as_ref().map(json_text),
            seen: std::mem::take(&mut t.seen)
                .into_iter()
                .map(SeenMachine::new)
                .collect(),
            t,
        }
    }
}

/// Applies one job command in the batch's transaction; its answer goes
/// into `fx.pending`. `next_id` is the writer's next job id.
pub(super) fn apply(
    tx: &Tx<'_>,
    command: JobCommand,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        JobCommand::Submit { job, now, reply } => {
            let ids = dependency_ids(std::slice::from_ref(&*job));
            if let Some(refused) = dependencies::missing(tx, &ids)? {
                fx.pending.push(refuse(reply, refused));
                return Ok(());
            }
            let submitted = submit_in(tx, next_id, *job, now, &mut fx.events)?;
            fx.wake |= submitted.created;
            fx.pending.push(pending(reply, submitted));
        }
        JobCommand::SubmitBatch { jobs, now, reply } => {
            let outcome = submit_batch_in(tx, next_id, jobs, None, now, fx)?;
            fx.pending.push(pending(reply, outcome));
        }
        JobCommand::Transition {
            transition,
            now,
            reply,
        } => {
            // The worker gave its slot back before sending this.
            fx.recheck = true;
            let applied = transition_job(tx, *transition, now, fx)?;
            fx.pending.push(pending(reply, applied));
        }
        JobCommand::Cancel { id, now, reply } => {
            let result = cancel(tx, id, now, fx)?;
            fx.wake |= matches!(result, CancelResult::Cancelled(_));
            fx.pending.push(pending(reply, result));
        }
        JobCommand::Retry { id, now, reply } => {
            let result = retry(tx, id, now, fx)?;
            fx.wake |= matches!(result, RetryResult::Queued(_));
            fx.pending.push(pending(reply, result));
        }
        JobCommand::Prune {
            finished_before,
            reply,
        } => {
            let deleted = prune(tx, finished_before)?;
            fx.pending.push(pending(reply, deleted));
        }
    }
    Ok(())
}

/// An answer that refuses the write: sent whether or not the batch
/// commits, since this command wrote nothing.
fn refuse<T: Send + 'static>(reply: Reply<T>, refused: SpecError) -> super::tx::Pending {
    Box::new(move |_| {
        let _ = reply.send(Err(StoreError::Refused(refused)));
    })
}

/// The ids of jobs already in the queue that `jobs` depend on.
fn dependency_ids(jobs: &[EncodedJob]) -> Vec<JobId> {
    let mut ids: Vec<JobId> = jobs
        .iter()
        .flat_map(|j| &j.job.depends_on)
        .filter_map(|d| match d {
            Dependency::Job(id) => Some(*id),
            Dependency::Earlier(_) => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Where a job of a batch goes: the ids of the jobs of its batch stored
/// before it (what its `Earlier` dependencies point at), and the group run
/// and step it belongs to.
#[derive(Default)]
pub(super) struct Placement<'a> {
    pub earlier: &'a [JobId],
    pub group: Option<(i64, u32)>,
}

/// Inserts jobs in order, all or none: a dependency on a job the store
/// does not hold refuses the whole batch before anything is written. Each
/// job is placed in `run` (with its step) when given.
pub(super) fn submit_batch_in(
    tx: &Tx<'_>,
    next_id: &mut JobId,
    jobs: Vec<EncodedJob>,
    run: Option<(i64, Vec<u32>)>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Result<Vec<Submitted>, SpecError>, StoreError> {
    if let Some(refused) = dependencies::missing(tx, &dependency_ids(&jobs))? {
        return Ok(Err(refused));
    }
    let mut ids = Vec::with_capacity(jobs.len());
    let mut out = Vec::with_capacity(jobs.len());
    for (k, job) in jobs.into_iter().enumerate() {
        let placement = Placement {
            earlier: &ids,
            group: run.as_ref().map(|(id, steps)| (*id, steps[k])),
        };
        let submitted = submit_placed(tx, next_id, job, now, &mut fx.events, &placement)?;
        fx.wake |= submitted.created && submitted.job.state == JobState::Queued;
        ids.push(submitted.job.id);
        out.push(submitted);
    }
    Ok(Ok(out))
}

/// Inserts a job (or finds the one its idempotency key made) inside the
/// writer's transaction.
pub(super) fn submit_in(
    tx: &Tx<'_>,
    next_id: &mut JobId,
    job: EncodedJob,
    now: DateTime<Utc>,
    events: &mut Vec<(JobId, i64, NewEvent)>,
) -> Result<Submitted, StoreError> {
    submit_placed(tx, next_id, job, now, events, &Placement::default())
}

/// [`submit_in`] for a job of a batch, placed as `placement` says.
pub(super) fn submit_placed(
    tx: &Tx<'_>,
    next_id: &mut JobId,
    job: EncodedJob,
    now: DateTime<Utc>,
    events: &mut Vec<(JobId, i64, NewEvent)>,
    placement: &Placement<'_>,
) -> Result<Submitted, StoreError> {
    if let Some(key) = &job.job.idempotency_key {
        let existing = tx
            .prepare_cached(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE idempotency_key = ?1"
            ))?
            .query_row([key], JobRow::from_sqlite)
            .optional()?;
        if let Some(row) = existing {
            return Ok(Submitted {
                job: row.try_into()?,
                created: false,
            });
        }
    }
    let EncodedJob {
        job,
        args,
        args_text,
    } = job;
    let deps: Vec<JobId> = job
        .depends_on
        .iter()
        .map(|d| match d {
            Dependency::Job(id) => *id,
            Dependency::Earlier(k) => placement.earlier[*k],
        })
        .collect();
    let start = if deps.is_empty() {
        Start::queued()
    } else {
        dependencies::start(tx, &deps, job.on_dependency_failure)?
    };
    let mut stored = stage_job(next_id, job, args, now, events, &start, deps);
    stored.group_run = placement.group.map(|(run, _)| run);
    stored.group_step = placement.group.map(|(_, step)| step);
    insert_job(tx, &stored, &args_text)?;
    if !start.pending.is_empty() {
        dependencies::link(tx, stored.id, &start.pending)?;
    }
    Ok(Submitted {
        job: stored,
        created: true,
    })
}

/// Gives a new job its id and its "submitted" history row; the row itself
/// is written by `insert_job`.
fn stage_job(
    next_id: &mut JobId,
    job: NewJob,
    args: Value,
    now: DateTime<Utc>,
    events: &mut Vec<(JobId, i64, NewEvent)>,
    start: &Start,
    depends_on: Vec<JobId>,
) -> Job {
    let id = *next_id;
    *next_id += 1;
    let message = start.submitted_message(job.run_at, now);
    events.push((id, to_ms(now), NewEvent::state(None, start.state, message)));
    let with_deps = !depends_on.is_empty();
    Job {
        id,
        kind: job.operation.kind(),
        machine_id: job.machine_id,
        args,
        state: start.state,
        priority: job.priority,
        attempt: 0,
        max_attempts: job.max_attempts,
        run_at: job.run_at,
        wait: job.wait,
        wait_timeout: job.wait_timeout,
        checkpoint: None,
        result: None,
        last_error: start.error.clone(),
        idempotency_key: job.idempotency_key,
        lease_owner: None,
        lease_expires_at: None,
        created_at: now,
        updated_at: now,
        finished_at: start.state.is_final().then_some(now),
        depends_on,
        on_dependency_failure: with_deps.then_some(job.on_dependency_failure),
        group_run: None,
        group_step: None,
    }
}

fn insert_job(tx: &Tx<'_>, job: &Job, args: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO jobs (id, kind, machine_id, args, state, priority, attempt, max_attempts, \
         run_at, wait, wait_timeout_ms, idempotency_key, created_at, updated_at, last_error, \
         finished_at, depends_on, on_dependency_failure, group_run, group_step) \
         VALUES (?1, ?2, ?3, ?4, ?13, ?5, 0, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        job.id,
        job.kind.as_str(),
        job.machine_id,
        args,
        job.priority,
        i64::from(job.max_attempts),
        to_ms(job.run_at),
        job.wait.map(|w| w.as_str()),
        job.wait_timeout.as_millis() as i64,
        job.idempotency_key,
        to_ms(job.created_at),
        to_ms(job.updated_at),
        job.state.as_str(),
        job.last_error,
        job.finished_at.map(to_ms),
        (!job.depends_on.is_empty()).then(|| json_text(&job.depends_on)),
        job.on_dependency_failure.map(|p| p.as_str()),
        job.group_run,
        job.group_step.map(i64::from),
    ])?;
    Ok(())
}

/// Writes a worker's report; a report whose worker no longer holds the job
/// (cancelled or taken back meanwhile) is stale and changes nothing.
fn transition_job(
    tx: &Tx<'_>,
    encoded: EncodedTransition,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<bool, StoreError> {
    let EncodedTransition {
        t,
        checkpoint,
        result,
        seen,
    } = encoded;
    let at = to_ms(now);
    let changed = tx
        .prepare_cached(
            "UPDATE jobs SET state = ?3, run_at = COALESCE(?4, run_at), checkpoint = ?5, \
             result = COALESCE(?6, result), last_error = COALESCE(?7, last_error), \
             lease_owner = CASE WHEN ?8 THEN lease_owner END, \
             lease_expires_at = CASE WHEN ?8 THEN lease_expires_at END, \
             updated_at = ?9, finished_at = ?10 \
             WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
        )?
        .execute(params![
            t.job_id,
            &*t.owner,
            t.to.as_str(),
            t.run_at.map(to_ms),
            checkpoint,
            result,
            t.error,
            // Running records a checkpoint mid-step and keeps the lease.
            t.to == JobState::Running,
            at,
            t.to.is_final().then_some(at),
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    // Its own statement: SQLite rewrites the entries of every index on a
    // column that an UPDATE sets, changed or not, and only a create learns
    // its machine.
    if let Some(machine_id) = &t.machine_id {
        tx.prepare_cached("UPDATE jobs SET machine_id = ?2 WHERE id = ?1")?
            .execute(params![t.job_id, machine_id])?;
    }
    fx.events
        .extend(t.events.into_iter().map(|event| (t.job_id, at, event)));
    see_machines(tx, &seen, &t.gone, t.seen_complete, now)?;
    if let Some(u) = &t.utilization {
        super::reports::save_utilization(
            tx,
            std::slice::from_ref(u),
            UtilizationRow::PAPERSPACE,
            now,
        )?;
    }
    if t.to.is_final() {
        dependencies::settle(tx, t.job_id, t.to, now, fx)?;
    }
    fx.wake |= t.to != JobState::Running;
    Ok(true)
}

/// One job as the writer's transaction sees it.
pub(super) fn fetch_job(tx: &Tx<'_>, id: JobId) -> Result<Option<Job>, StoreError> {
    tx.prepare_cached(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE id = ?1"
    ))?
    .query_row([id], JobRow::from_sqlite)
    .optional()?
    .map(Job::try_from)
    .transpose()
}

fn cancel(
    tx: &Tx<'_>,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<CancelResult, StoreError> {
    let Some(job) = fetch_job(tx, id)? else {
        return Ok(CancelResult::NotFound);
    };
    if job.state.is_final() {
        return Ok(CancelResult::AlreadyFinished(Box::new(job)));
    }
    let at = to_ms(now);
    tx.execute(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = ?1, finished_at = ?1 WHERE id = ?2",
        params![at, id],
    )?;
    if let (JobState::Running, Some(owner)) = (job.state, &job.lease_owner) {
        fx.revoked.push((owner.clone(), id));
    }
    if job.state == JobState::Blocked {
        tx.prepare_cached("DELETE FROM job_dependencies WHERE job_id = ?1")?
            .execute([id])?;
    }
    let note = if job.state == JobState::Running {
        "cancelled by request; a Paperspace call in flight may still complete"
    } else {
        "cancelled by request"
    };
    fx.events.push((
        id,
        at,
        NewEvent::state(Some(job.state), JobState::Cancelled, note),
    ));
    dependencies::settle(tx, id, JobState::Cancelled, now, fx)?;
    let job = fetch_job(tx, id)?.expect("the row was just updated");
    Ok(CancelResult::Cancelled(Box::new(job)))
}

fn retry(
    tx: &Tx<'_>,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<RetryResult, StoreError> {
    let Some(job) = fetch_job(tx, id)? else {
        return Ok(RetryResult::NotFound);
    };
    if job.state != JobState::Failed {
        return Ok(RetryResult::NotFailed(Box::new(job)));
    }
    let at = to_ms(now);
    tx.execute(
        "UPDATE jobs SET state = 'queued', attempt = 0, run_at = ?1, updated_at = ?1, \
         finished_at = NULL WHERE id = ?2",
        params![at, id],
    )?;
    fx.events.push((
        id,
        at,
        NewEvent::state(
            Some(JobState::Failed),
            JobState::Queued,
            "retried by request; attempts start over",
        ),
    ));
    let job = fetch_job(tx, id)?.expect("the row was just updated");
    Ok(RetryResult::Queued(Box::new(job)))
}

/// Deletes finished jobs, and their history first, finished before the cutoff.
fn prune(tx: &Tx<'_>, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
    let cutoff = to_ms(finished_before);
    tx.execute(
        "DELETE FROM job_events WHERE job_id IN \
         (SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1)",
        [cutoff],
    )?;
    let deleted = tx.execute(
        "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1",
        [cutoff],
    )?;
    // A group run goes with its last job: its progress is read from them.
    tx.execute(
        "DELETE FROM group_runs WHERE updated_at < ?1 AND NOT EXISTS \
         (SELECT 1 FROM jobs WHERE group_run = group_runs.id)",
        [cutoff],
    )?;
    // Webhook events go with their last delivery: an event older than the
    // cutoff that no remaining deliver job names is no longer shown or sent.
    tx.execute(
        "DELETE FROM webhook_events WHERE at < ?1 AND id NOT IN \
         (SELECT json_extract(args, '$.event') FROM jobs WHERE kind = 'deliver')",
        [cutoff],
    )?;
    Ok(deleted as u64)
}

/// Inserts the history rows a batch gathered, just before its commit.
pub(super) fn insert_events(
    tx: &Tx<'_>,
    events: &[(JobId, i64, NewEvent)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO job_events (job_id, at, kind, from_state, to_state, message, \
         method, route, status, latency_ms, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (job_id, at, e) in events {
        insert.execute(params![
            job_id,
            at,
            e.kind.as_str(),
            e.from_state.map(JobState::as_str),
            e.to_state.map(JobState::as_str),
            e.message,
            e.method,
            e.route,
            e.status.map(i64::from),
            e.latency_ms.map(|l| l as i64),
            e.error,
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::job::{JobKind, Lane};

    #[test]
    fn the_webhook_kinds_literal_is_the_webhooks_lane() {
        let lane: Vec<String> = JobKind::ALL
            .into_iter()
            .filter(|k| k.lane() == Lane::Webhooks)
            .map(|k| format!("'{}'", k.as_str()))
            .collect();
        assert_eq!(webhook_kinds!(), format!("({})", lane.join(", ")));
    }
}
