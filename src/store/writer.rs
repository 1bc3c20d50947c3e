//! The one task that writes to SQLite.
//!
//! SQLite has one writer at a time and a durable commit costs an fsync, so
//! every write goes through this task: it takes whatever commands are waiting
//! (submits, claims, transitions, cancels, …), applies them in order in ONE
//! transaction, commits, and only then answers each caller. A caller's answer
//! therefore always means "this is on disk" (group commit), and the cost of
//! the fsync is shared by everyone who asked during it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, QueryBuilder, Sqlite};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::rows::{JobRow, from_ms, to_ms};
use super::{CancelResult, RetryResult, StoreError, Submitted, Transition};
use crate::clock::SharedClock;
use crate::job::{Job, JobId, JobState, NewEvent, NewJob};
use crate::paperspace::Machine;

/// Most commands applied in one transaction; bounds a transaction's size
/// and how long a caller at the back of the line waits.
const MAX_BATCH: usize = 512;

/// Most rows in one multi-row INSERT (SQLite binds at most 32766 parameters).
const EVENT_CHUNK: usize = 400;

/// Most reports in one UPDATE (11 parameters each).
const REPORT_CHUNK: usize = 500;

/// Most machines in one multi-row upsert (6 parameters each).
const MACHINE_CHUNK: usize = 1000;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write, with the channel its answer goes back on.
pub enum Command {
    Submit {
        job: Box<NewJob>,
        now: DateTime<Utc>,
        reply: Reply<Submitted>,
    },
    Claim {
        owner: Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        reply: Reply<Vec<Job>>,
    },
    /// Registers a claim that stays in the writer and takes jobs whenever
    /// they can run, sending them on `jobs`.
    Stand {
        claim: StandingClaim,
        jobs: mpsc::UnboundedSender<Result<Vec<ClaimedJob>, StoreError>>,
        reply: Reply<()>,
    },
    /// Look again at the standing claims (a delayed job fell due, or a test
    /// moved the clock).
    Poke,
    /// Withdraws `owner`'s standing claim; once answered, it sends nothing more.
    Unpark { owner: Arc<str>, reply: Reply<()> },
    Transition {
        transition: Box<Transition>,
        now: DateTime<Utc>,
        reply: Reply<bool>,
    },
    Renew {
        owner: Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
        reply: Reply<()>,
    },
    Rescue {
        now: DateTime<Utc>,
        /// Also take back jobs leased by anyone but this owner (start-up of
        /// the only daemon on the file).
        orphans_of_others_than: Option<Arc<str>>,
        reply: Reply<Vec<JobId>>,
    },
    Release {
        owner: Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
        reply: Reply<usize>,
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
    SeeMachines {
        machines: Vec<Machine>,
        gone: Vec<String>,
        /// The list is the whole account: machines not in it are gone.
        complete: bool,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    Prune {
        finished_before: DateTime<Utc>,
        reply: Reply<u64>,
    },
    /// Schedules, windows, overrides, firings, utilization.
    Schedule(super::schedules::ScheduleCommand),
}

/// A dispatcher's standing request for work. It stays in the writer, which
/// tries it at the end of every batch that may have made a job claimable, in
/// that batch's transaction: a submitted job is claimed by the same commit
/// that stores it, and a slot freed by a finished step is refilled by the
/// next commit, so neither waits for a round trip through the dispatcher.
pub struct StandingClaim {
    /// The lease owner the jobs are claimed for.
    pub owner: Arc<str>,
    /// The dispatcher's worker slots. The writer claims as many jobs as there
    /// are permits available and takes one permit per job, handed over with
    /// the job; a step gives it back when it ends.
    pub slots: Arc<Semaphore>,
    /// The writer has no time of its own; "due" is judged by this clock at
    /// the moment of the claim.
    pub clock: SharedClock,
    /// How long the claimed jobs are leased for.
    pub lease: std::time::Duration,
    /// When a try takes nothing, the writer publishes here the earliest
    /// time after now at which a job falls due (or None), read in the same
    /// transaction, so the dispatcher's timer never rests on a stale read.
    pub next_due: Arc<watch::Sender<Option<DateTime<Utc>>>>,
}

/// A job taken by a standing claim, with the worker slot it runs in.
pub struct ClaimedJob {
    pub job: Job,
    /// Held while the job's step runs.
    pub slot: OwnedSemaphorePermit,
}

/// A standing claim with the channel its jobs go out on.
struct Parked {
    claim: StandingClaim,
    jobs: mpsc::UnboundedSender<Result<Vec<ClaimedJob>, StoreError>>,
}

/// An answer computed inside the transaction, sent once the commit is known.
pub(super) type Pending = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

pub(super) fn pending<T: Send + 'static>(reply: Reply<T>, value: T) -> Pending {
    Box::new(move |committed| {
        let _ = reply.send(committed.map(|()| value));
    })
}

/// State the writer carries between batches.
pub struct Writer {
    /// The only connection that writes.
    conn: SqliteConnection,
    /// Told after any commit that may have made a job due.
    wake: Arc<Notify>,
    /// Told after any commit that changed schedules, windows or overrides.
    schedules_changed: Arc<Notify>,
    /// The next job id; assigned here so that one batch can insert many jobs
    /// without reading ids back.
    next_id: JobId,
    /// Standing claims not yet answered, at most one per owner.
    parked: Vec<Parked>,
}

/// What one batch did, beyond the answers.
struct BatchEffects {
    /// Some job may have become claimable.
    wake: bool,
    /// Try the standing claims even if nothing became claimable (a new
    /// claim arrived, the clock moved on, or a worker slot came free).
    recheck: bool,
    /// The scheduler should look again.
    schedules_changed: bool,
    /// Answers to send after the commit.
    pending: Vec<Pending>,
    /// History rows to insert before the commit.
    events: Vec<(JobId, i64, NewEvent)>,
}

impl Writer {
    pub async fn new(
        mut conn: SqliteConnection,
        wake: Arc<Notify>,
        schedules_changed: Arc<Notify>,
    ) -> Result<Self, StoreError> {
        // Never reuse an id, even one whose job was pruned.
        let (max_id,): (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM jobs \
             UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'jobs')",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(Writer {
            conn,
            wake,
            schedules_changed,
            next_id: max_id.unwrap_or(0) + 1,
            parked: Vec::new(),
        })
    }

    /// Applies commands until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let first_id = self.next_id;
            let mut effects = BatchEffects {
                wake: false,
                recheck: false,
                schedules_changed: false,
                pending: Vec::with_capacity(batch.len()),
                events: Vec::new(),
            };
            let outcome = self.apply(batch.drain(..), &mut effects).await;
            let outcome = match outcome {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.next_id = first_id;
                    tracing::error!(error = %e, "a database write failed; the batch was rolled back");
                    Err(StoreError::Write(e.to_string().into()))
                }
            };
            let ok = outcome.is_ok();
            for answer in effects.pending {
                answer(outcome.clone());
            }
            if ok && effects.wake {
                self.wake.notify_one();
            }
            if ok && effects.schedules_changed {
                self.schedules_changed.notify_one();
            }
        }
    }

    async fn apply(
        &mut self,
        commands: impl Iterator<Item = Command>,
        fx: &mut BatchEffects,
    ) -> Result<(), StoreError> {
        let mut tx = self.conn.begin().await?;
        // New jobs without an idempotency key, written together before the
        // next command that might read them.
        let mut staged: Vec<Job> = Vec::new();
        // Workers' reports, written together for the same reason; each
        // worker has at most one report in flight, so they commute.
        let mut reports: Vec<Report> = Vec::new();
        for command in commands {
            if !staged.is_empty()
                && !matches!(&command, Command::Submit { job, .. } if job.idempotency_key.is_none())
            {
                insert_jobs(&mut tx, &staged).await?;
                staged.clear();
            }
            if !reports.is_empty() && !matches!(&command, Command::Transition { .. }) {
                transition_jobs(&mut tx, std::mem::take(&mut reports), fx).await?;
            }
            match command {
                Command::Submit { job, now, reply } if job.idempotency_key.is_none() => {
                    let stored = stage_job(&mut self.next_id, *job, now, &mut fx.events);
                    fx.wake = true;
                    fx.pending.push(pending(
                        reply,
                        Submitted {
                            job: stored.clone(),
                            created: true,
                        },
                    ));
                    staged.push(stored);
                }
                Command::Submit { job, now, reply } => {
                    let submitted =
                        submit_in(&mut tx, &mut self.next_id, *job, now, &mut fx.events).await?;
                    fx.wake |= submitted.created;
                    fx.pending.push(pending(reply, submitted));
                }
                Command::Claim {
                    owner,
                    limit,
                    now,
                    lease_until,
                    reply,
                } => {
                    let jobs = claim(&mut tx, &owner, limit, now, lease_until, fx).await?;
                    fx.pending.push(pending(reply, jobs));
                }
                Command::Stand { claim, jobs, reply } => {
                    // A newer claim from the same owner replaces the older one.
                    self.parked.retain(|p| p.claim.owner != claim.owner);
                    self.parked.push(Parked { claim, jobs });
                    fx.recheck = true;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Poke => fx.recheck = true,
                Command::Unpark { owner, reply } => {
                    self.parked.retain(|p| p.claim.owner != owner);
                    fx.pending.push(pending(reply, ()));
                }
                Command::Transition {
                    transition,
                    now,
                    reply,
                } => {
                    // The worker gave its slot back before sending this.
                    fx.recheck = true;
                    reports.push(Report {
                        transition: *transition,
                        now,
                        reply,
                    });
                }
                Command::Renew {
                    owner,
                    ids,
                    until,
                    reply,
                } => {
                    sqlx::query(
                        "UPDATE jobs SET lease_expires_at = ? WHERE state = 'running' \
                         AND lease_owner = ? AND id IN (SELECT value FROM json_each(?))",
                    )
                    .bind(to_ms(until))
                    .bind(&*owner)
                    .bind(Value::from(ids).to_string())
                    .execute(&mut *tx)
                    .await?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Rescue {
                    now,
                    orphans_of_others_than,
                    reply,
                } => {
                    let ids = rescue(&mut tx, now, orphans_of_others_than.as_deref(), fx).await?;
                    fx.wake |= !ids.is_empty();
                    fx.pending.push(pending(reply, ids));
                }
                Command::Release {
                    owner,
                    ids,
                    now,
                    reply,
                } => {
                    let released = release(&mut tx, &owner, &ids, now, fx).await?;
                    fx.pending.push(pending(reply, released));
                }
                Command::Cancel { id, now, reply } => {
                    let result = cancel(&mut tx, id, now, fx).await?;
                    fx.wake |= matches!(result, CancelResult::Cancelled(_));
                    fx.pending.push(pending(reply, result));
                }
                Command::Retry { id, now, reply } => {
                    let result = retry(&mut tx, id, now, fx).await?;
                    fx.wake |= matches!(result, RetryResult::Queued(_));
                    fx.pending.push(pending(reply, result));
                }
                Command::SeeMachines {
                    machines,
                    gone,
                    complete,
                    now,
                    reply,
                } => {
                    see_machines(&mut tx, &machines, &gone, complete, now).await?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Schedule(command) => {
                    let mut batch = super::schedules::Batch {
                        next_id: &mut self.next_id,
                        events: &mut fx.events,
                        pending: &mut fx.pending,
                    };
                    let done = super::schedules::apply(&mut tx, command, &mut batch).await?;
                    fx.wake |= done.jobs_queued;
                    fx.schedules_changed |= done.schedules_changed;
                }
                Command::Prune {
                    finished_before,
                    reply,
                } => {
                    let cutoff = to_ms(finished_before);
                    sqlx::query(
                        "DELETE FROM job_events WHERE job_id IN \
                         (SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?)",
                    )
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                    let deleted = sqlx::query(
                        "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
                    )
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    fx.pending.push(pending(reply, deleted));
                }
            }
        }
        insert_jobs(&mut tx, &staged).await?;
        if !reports.is_empty() {
            transition_jobs(&mut tx, reports, fx).await?;
        }
        if fx.wake || fx.recheck {
            try_parked(&mut tx, &mut self.parked, fx).await?;
        }
        insert_events(&mut tx, &fx.events).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Tries every standing claim that has free slots; the jobs a claim takes
/// go out, with their slots, once the commit is known.
async fn try_parked(
    tx: &mut Tx<'_>,
    all: &mut Vec<Parked>,
    fx: &mut BatchEffects,
) -> Result<(), StoreError> {
    // Its dispatcher is gone; claiming for it would strand jobs.
    all.retain(|p| !p.jobs.is_closed());
    for parked in all.iter() {
        let free = parked.claim.slots.available_permits();
        if free == 0 {
            continue;
        }
        let now = parked.claim.clock.now();
        let lease_until = now + chrono::Duration::from_std(parked.claim.lease).unwrap_or_default();
        let jobs = claim(tx, &parked.claim.owner, free, now, lease_until, fx).await?;
        if jobs.is_empty() {
            let (next,): (Option<i64>,) = sqlx::query_as(super::NEXT_DUE)
                .bind(to_ms(now))
                .fetch_one(&mut **tx)
                .await?;
            // Published before the commit: at worst the dispatcher wakes a
            // little early for a job a failed batch did not keep.
            parked.claim.next_due.send_replace(next.map(from_ms));
            continue;
        }
        // Only the writer takes permits, so the ones just counted are there.
        let claimed: Vec<ClaimedJob> = jobs
            .into_iter()
            .map(|job| ClaimedJob {
                job,
                slot: parked
                    .claim
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .expect("a permit counted free a moment ago"),
            })
            .collect();
        let out = parked.jobs.clone();
        fx.pending.push(Box::new(move |committed| {
            // On a rollback the slots go back with the dropped jobs.
            let _ = out.send(committed.map(|()| claimed));
        }));
    }
    Ok(())
}

type Tx<'c> = sqlx::Transaction<'c, Sqlite>;

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored JSON serializes")
}

/// Inserts a job (or finds the one its idempotency key made) inside the
/// writer's transaction.
pub(super) async fn submit_in(
    tx: &mut Tx<'_>,
    next_id: &mut JobId,
    job: NewJob,
    now: DateTime<Utc>,
    events: &mut Vec<(JobId, i64, NewEvent)>,
) -> Result<Submitted, StoreError> {
    if let Some(key) = &job.idempotency_key {
        let existing: Option<JobRow> =
            sqlx::query_as("SELECT * FROM jobs WHERE idempotency_key = ?")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(row) = existing {
            return Ok(Submitted {
                job: row.try_into()?,
                created: false,
            });
        }
    }
    let stored = stage_job(next_id, job, now, events);
    insert_jobs(tx, std::slice::from_ref(&stored)).await?;
    Ok(Submitted {
        job: stored,
        created: true,
    })
}

/// Gives a new job its id and its "submitted" history row; the row itself
/// is written by `insert_jobs`.
fn stage_job(
    next_id: &mut JobId,
    job: NewJob,
    now: DateTime<Utc>,
    events: &mut Vec<(JobId, i64, NewEvent)>,
) -> Job {
    let id = *next_id;
    *next_id += 1;
    let message = if job.run_at > now {
        format!("submitted; due at {}", job.run_at.to_rfc3339())
    } else {
        "submitted".to_string()
    };
    events.push((
        id,
        to_ms(now),
        NewEvent::state(None, JobState::Queued, message),
    ));
    Job {
        id,
        kind: job.operation.kind(),
        machine_id: job.machine_id,
        args: job.operation.args_json(),
        state: JobState::Queued,
        priority: job.priority,
        attempt: 0,
        max_attempts: job.max_attempts,
        run_at: job.run_at,
        wait: job.wait,
        wait_timeout: job.wait_timeout,
        checkpoint: None,
        result: None,
        last_error: None,
        idempotency_key: job.idempotency_key,
        lease_owner: None,
        lease_expires_at: None,
        created_at: now,
        updated_at: now,
        finished_at: None,
    }
}

/// Most jobs in one multi-row INSERT (12 parameters each).
const JOB_CHUNK: usize = 500;

/// Writes new jobs, many to a statement: one statement per job cost more
/// than the rest of a submit.
async fn insert_jobs(tx: &mut Tx<'_>, jobs: &[Job]) -> Result<(), StoreError> {
    for chunk in jobs.chunks(JOB_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO jobs (id, kind, machine_id, args, state, priority, attempt, max_attempts, \
             run_at, wait, wait_timeout_ms, idempotency_key, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, job| {
            row.push_bind(job.id)
                .push_bind(job.kind.as_str())
                .push_bind(job.machine_id.clone())
                .push_bind(job.args.to_string())
                .push_bind("queued")
                .push_bind(job.priority)
                .push_bind(0_i64)
                .push_bind(job.max_attempts as i64)
                .push_bind(to_ms(job.run_at))
                .push_bind(job.wait.map(|w| w.as_str()))
                .push_bind(job.wait_timeout.as_millis() as i64)
                .push_bind(job.idempotency_key.clone())
                .push_bind(to_ms(job.created_at))
                .push_bind(to_ms(job.updated_at));
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn claim(
    tx: &mut Tx<'_>,
    owner: &str,
    limit: usize,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    fx: &mut BatchEffects,
) -> Result<Vec<Job>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Due, and first in its machine's line: no earlier unfinished job for the
    // same machine, so one machine never has two jobs at once and its jobs
    // run in submission order.
    let picked: Vec<(i64, String)> = sqlx::query_as(
        // INDEXED BY: walk the due index in claim order and stop at the
        // limit; left to itself the planner read every queued row and sorted
        // them, which grew linearly with the backlog.
        "SELECT j.id, j.state FROM jobs j INDEXED BY jobs_due \
         WHERE j.state IN ('queued', 'waiting') AND j.run_at <= ?1 \
         AND (j.machine_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
             WHERE p.machine_id = j.machine_id AND p.id < j.id \
             AND p.state IN ('queued', 'running', 'waiting'))) \
         ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?2",
    )
    .bind(to_ms(now))
    .bind(limit as i64)
    .fetch_all(&mut **tx)
    .await?;
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = picked.iter().map(|(id, _)| *id).collect();
    let rows: Vec<JobRow> = sqlx::query_as(
        "UPDATE jobs SET state = 'running', attempt = attempt + (state = 'queued'), \
         lease_owner = ?, lease_expires_at = ?, updated_at = ? \
         WHERE id IN (SELECT value FROM json_each(?)) RETURNING *",
    )
    .bind(owner)
    .bind(to_ms(lease_until))
    .bind(to_ms(now))
    .bind(Value::from(ids).to_string())
    .fetch_all(&mut **tx)
    .await?;
    let mut jobs = rows
        .into_iter()
        .map(Job::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    for (id, state) in &picked {
        // A poll of a wait is recorded by its API call, not as a state change.
        if state == "waiting" {
            continue;
        }
        let Some(job) = jobs.iter().find(|j| j.id == *id) else {
            continue;
        };
        fx.events.push((
            job.id,
            to_ms(now),
            NewEvent::state(
                Some(JobState::Queued),
                JobState::Running,
                format!("attempt {} of {}", job.attempt, job.max_attempts),
            ),
        ));
    }
    Ok(jobs)
}

/// A worker's report waiting to be written with the others of its batch.
struct Report {
    transition: Transition,
    now: DateTime<Utc>,
    reply: Reply<bool>,
}

/// Writes workers' reports with one UPDATE for all of them; a report whose
/// worker no longer holds the job (cancelled or taken back meanwhile) is
/// stale and changes nothing.
async fn transition_jobs(
    tx: &mut Tx<'_>,
    reports: Vec<Report>,
    fx: &mut BatchEffects,
) -> Result<(), StoreError> {
    let mut applied: Vec<(i64,)> = Vec::with_capacity(reports.len());
    // Bound values rather than a JSON array: parsing JSON for every field
    // of every row cost more than the update itself.
    for chunk in reports.chunks(REPORT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "UPDATE jobs SET state = t.column3, run_at = COALESCE(t.column4, jobs.run_at), \
             checkpoint = t.column5, machine_id = COALESCE(t.column6, jobs.machine_id), \
             result = COALESCE(t.column7, jobs.result), \
             last_error = COALESCE(t.column8, jobs.last_error), \
             lease_owner = CASE WHEN t.column9 THEN jobs.lease_owner END, \
             lease_expires_at = CASE WHEN t.column9 THEN jobs.lease_expires_at END, \
             updated_at = t.column10, finished_at = t.column11 FROM (",
        );
        // column1 id, column2 owner, column3 state, column4 run_at,
        // column5 checkpoint, column6 machine_id, column7 result, column8
        // error, column9 keep the lease, column10 now, column11 finished_at.
        q.push_values(chunk, |mut row, r| {
            let t = &r.transition;
            row.push_bind(t.job_id)
                .push_bind(t.owner.to_string())
                .push_bind(t.to.as_str())
                .push_bind(t.run_at.map(to_ms))
                .push_bind(t.checkpoint.as_ref().map(json_text))
                .push_bind(t.machine_id.clone())
                .push_bind(t.result.as_ref().map(Value::to_string))
                .push_bind(t.error.clone())
                .push_bind(t.to == JobState::Running)
                .push_bind(to_ms(r.now))
                .push_bind(t.to.is_final().then(|| to_ms(r.now)));
        });
        q.push(
            ") AS t WHERE jobs.id = t.column1 AND jobs.state = 'running' \
             AND jobs.lease_owner = t.column2 RETURNING jobs.id",
        );
        applied.extend(q.build_query_as::<(i64,)>().fetch_all(&mut **tx).await?);
    }
    let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(id,)| id).collect();
    let mut seen: Vec<Machine> = Vec::new();
    let mut seen_at = None;
    for report in reports {
        let Report {
            transition: t,
            now,
            reply,
        } = report;
        if !applied.contains(&t.job_id) {
            fx.pending.push(pending(reply, false));
            continue;
        }
        let at = to_ms(now);
        fx.events
            .extend(t.events.into_iter().map(|event| (t.job_id, at, event)));
        if t.seen_complete || !t.gone.is_empty() {
            // A whole-account listing or a disappearance: applied on its own,
            // after the plain sightings before it.
            let before = std::mem::take(&mut seen);
            see_machines(tx, &before, &[], false, seen_at.unwrap_or(now)).await?;
            see_machines(tx, &t.seen, &t.gone, t.seen_complete, now).await?;
        } else {
            seen.extend(t.seen);
            seen_at = Some(now);
        }
        if let Some(u) = &t.utilization {
            super::schedules::save_utilization(tx, std::slice::from_ref(u), now).await?;
        }
        fx.wake |= t.to != JobState::Running;
        fx.pending.push(pending(reply, true));
    }
    if let Some(now) = seen_at {
        see_machines(tx, &seen, &[], false, now).await?;
    }
    Ok(())
}

async fn rescue(
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    others_than: Option<&str>,
    fx: &mut BatchEffects,
) -> Result<Vec<JobId>, StoreError> {
    let rows: Vec<(i64, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, attempt, max_attempts, lease_owner FROM jobs WHERE state = 'running' \
         AND (lease_expires_at < ? OR (? IS NOT NULL AND lease_owner IS NOT ?))",
    )
    .bind(to_ms(now))
    .bind(others_than)
    .bind(others_than)
    .fetch_all(&mut **tx)
    .await?;
    let at = to_ms(now);
    let mut ids = Vec::with_capacity(rows.len());
    for (id, attempt, max_attempts, owner) in rows {
        let owner = owner.unwrap_or_else(|| "?".into());
        if attempt >= max_attempts {
            let error =
                format!("the worker ({owner}) stopped during the last of {max_attempts} attempts");
            sqlx::query(
                "UPDATE jobs SET state = 'failed', last_error = ?, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ?, finished_at = ? WHERE id = ?",
            )
            .bind(&error)
            .bind(at)
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            fx.events.push((
                id,
                at,
                NewEvent::state(Some(JobState::Running), JobState::Failed, error),
            ));
        } else {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', run_at = ?, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ? WHERE id = ?",
            )
            .bind(at)
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            fx.events.push((
                id,
                at,
                NewEvent::state(
                    Some(JobState::Running),
                    JobState::Queued,
                    format!("the worker ({owner}) went away; back in the queue, resuming from its checkpoint"),
                ),
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

async fn release(
    tx: &mut Tx<'_>,
    owner: &str,
    ids: &[JobId],
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
) -> Result<usize, StoreError> {
    let at = to_ms(now);
    // The interrupted attempt does not count against the job.
    let released: Vec<(i64,)> = sqlx::query_as(
        "UPDATE jobs SET state = 'queued', run_at = ?, attempt = MAX(attempt - 1, 0), \
         lease_owner = NULL, lease_expires_at = NULL, updated_at = ? \
         WHERE state = 'running' AND lease_owner = ? AND id IN (SELECT value FROM json_each(?)) \
         RETURNING id",
    )
    .bind(at)
    .bind(at)
    .bind(owner)
    .bind(Value::from(ids.to_vec()).to_string())
    .fetch_all(&mut **tx)
    .await?;
    for (id,) in &released {
        fx.events.push((
            *id,
            at,
            NewEvent::state(
                Some(JobState::Running),
                JobState::Queued,
                "released at shutdown; resumes from its checkpoint",
            ),
        ));
    }
    Ok(released.len())
}

async fn fetch_job(tx: &mut Tx<'_>, id: JobId) -> Result<Option<Job>, StoreError> {
    let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Job::try_from).transpose()
}

async fn cancel(
    tx: &mut Tx<'_>,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
) -> Result<CancelResult, StoreError> {
    let Some(job) = fetch_job(tx, id).await? else {
        return Ok(CancelResult::NotFound);
    };
    if job.state.is_final() {
        return Ok(CancelResult::AlreadyFinished(Box::new(job)));
    }
    let at = to_ms(now);
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = ?, finished_at = ? WHERE id = ?",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
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
    let job = fetch_job(tx, id).await?.expect("the row was just updated");
    Ok(CancelResult::Cancelled(Box::new(job)))
}

async fn retry(
    tx: &mut Tx<'_>,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
) -> Result<RetryResult, StoreError> {
    let Some(job) = fetch_job(tx, id).await? else {
        return Ok(RetryResult::NotFound);
    };
    if job.state != JobState::Failed {
        return Ok(RetryResult::NotFailed(Box::new(job)));
    }
    let at = to_ms(now);
    sqlx::query(
        "UPDATE jobs SET state = 'queued', attempt = 0, run_at = ?, updated_at = ?, \
         finished_at = NULL WHERE id = ?",
    )
    .bind(at)
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    fx.events.push((
        id,
        at,
        NewEvent::state(
            Some(JobState::Failed),
            JobState::Queued,
            "retried by request; attempts start over",
        ),
    ));
    let job = fetch_job(tx, id).await?.expect("the row was just updated");
    Ok(RetryResult::Queued(Box::new(job)))
}

async fn see_machines(
    tx: &mut Tx<'_>,
    machines: &[Machine],
    gone: &[String],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    for chunk in machines.chunks(MACHINE_CHUNK) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO machines (id, name, state, data, seen_at, gone_at) ");
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.id.clone())
                .push_bind(m.name.clone())
                .push_bind(m.state.as_str())
                .push_bind(json_text(m))
                .push_bind(at)
                .push_bind(None::<i64>);
        });
        // Later rows for the same machine win, as they would one by one.
        q.push(
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
             data = excluded.data, seen_at = excluded.seen_at, gone_at = NULL",
        );
        q.build().execute(&mut **tx).await?;
    }
    let mark_gone = |sql: &'static str, ids: String| sqlx::query(sql).bind(at).bind(at).bind(ids);
    if !gone.is_empty() {
        mark_gone(
            "UPDATE machines SET gone_at = ?, seen_at = ? WHERE gone_at IS NULL \
             AND id IN (SELECT value FROM json_each(?))",
            Value::from(gone.to_vec()).to_string(),
        )
        .execute(&mut **tx)
        .await?;
    }
    if complete {
        let present: Vec<&str> = machines.iter().map(|m| m.id.as_str()).collect();
        mark_gone(
            "UPDATE machines SET gone_at = ?, seen_at = ? WHERE gone_at IS NULL \
             AND id NOT IN (SELECT value FROM json_each(?))",
            json_text(&present),
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_events(
    tx: &mut Tx<'_>,
    events: &[(JobId, i64, NewEvent)],
) -> Result<(), StoreError> {
    for chunk in events.chunks(EVENT_CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO job_events (job_id, at, kind, from_state, to_state, message, \
             method, route, status, latency_ms, error) ",
        );
        q.push_values(chunk, |mut row, (job_id, at, e)| {
            row.push_bind(*job_id)
                .push_bind(*at)
                .push_bind(e.kind.as_str())
                .push_bind(e.from_state.map(JobState::as_str))
                .push_bind(e.to_state.map(JobState::as_str))
                .push_bind(e.message.clone())
                .push_bind(e.method.clone())
                .push_bind(e.route.clone())
                .push_bind(e.status.map(i64::from))
                .push_bind(e.latency_ms.map(|l| l as i64))
                .push_bind(e.error.clone());
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}
