//! The one thread that writes to SQLite.
//!
//! SQLite has one writer at a time and a durable commit costs an fsync, so
//! every write goes through this thread: it takes whatever commands are
//! waiting (submits, claims, transitions, cancels, …), applies them in order
//! in ONE transaction, commits, and only then answers each caller. A caller's
//! answer therefore always means "this is on disk" (group commit), and the
//! cost of the fsync is shared by everyone who asked during it.
//!
//! The writer owns a plain rusqlite connection on a thread of its own, so a
//! batch runs its statements back to back on one thread. Through sqlx every
//! statement and every returned row was a hand-off between the async task
//! and sqlx's connection thread, and those hand-offs, not SQLite, were most
//! of a batch's time. Readers keep using sqlx's pool.
//!
//! A commit is answered as done only once the database file is known to be
//! still the one at the store's path (`store/file.rs`); how the last write
//! went is kept for readiness.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::file::DbFile;
use super::rows::{JobRow, from_ms, job_columns, to_ms};
use super::{CancelResult, RetryResult, StoreError, Submitted, Transition};
use crate::clock::SharedClock;
use crate::job::{Job, JobId, JobState, NewEvent, NewJob};
use crate::machine::Machine;

/// Most commands applied in one transaction; bounds a transaction's size
/// and how long a caller at the back of the line waits.
const MAX_BATCH: usize = 512;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write, with the channel its answer goes back on.
pub enum Command {
    Submit {
        job: Box<EncodedJob>,
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
        transition: Box<EncodedTransition>,
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
        machines: Vec<SeenMachine>,
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
    /// A write for readiness's sake (the one row of `write_probe`).
    Probe { reply: Reply<()> },
    /// Tests of a full disk: `PRAGMA max_page_count`, `None` lifting it.
    CapPages {
        pages: Option<u32>,
        reply: Reply<()>,
    },
}

/// A job to store, with its JSON already made by the caller: the writer's
/// thread is the queue's bottleneck, so it spends its time on SQL only.
pub struct EncodedJob {
    job: NewJob,
    args: Value,
    args_text: String,
}

impl EncodedJob {
    pub fn new(job: NewJob) -> Self {
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
pub struct EncodedTransition {
    t: Transition,
    checkpoint: Option<String>,
    result: Option<String>,
    seen: Vec<SeenMachine>,
}

impl EncodedTransition {
    pub fn new(mut t: Transition) -> Self {
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

/// A machine for the machines table, its JSON made by the caller.
pub struct SeenMachine {
    id: String,
    name: String,
    state: String,
    data: String,
    /// The times of the start operations the machine lists (not failed or
    /// cancelled), as its JSON spells them, for `machine_starts`: picked out
    /// here, by the caller, so the writer's thread parses no JSON.
    starts: Vec<String>,
}

impl SeenMachine {
    pub fn new(m: Machine) -> Self {
        let starts = m
            .events
            .iter()
            .filter(|e| e.name == "start" && !matches!(e.state.as_str(), "error" | "cancelled"))
            .filter_map(|e| match serde_json::to_value(e.created_at?) {
                Ok(Value::String(at)) => Some(at),
                _ => None,
            })
            .collect();
        SeenMachine {
            data: json_text(&m),
            state: m.state.as_str().to_string(),
            id: m.id,
            name: m.name,
            starts,
        }
    }
}

/// A dispatcher's standing request for work. It stays in the writer, which
/// tries it at the end of every batch that may have made a job claimable, in
/// that batch's transaction: a submitted job is claimed by the same commit
/// that stores it, and a slot freed by a finished step is refilled by the
/// next commit, so neither waits for a round trip through the dispatcher.
pub struct StandingClaim {
    /// The lease owner the jobs are claimed for.
    pub owner: Arc<str>,
    /// How many jobs the dispatcher may hold at once: running in a worker,
    /// or claimed ahead and next in line for one. The writer claims as many
    /// jobs as there are permits available and takes one permit per job,
    /// handed over with the job; the job's task gives it back when its step
    /// ends.
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
    /// Jobs of this owner cancelled since they were claimed, added once the
    /// cancel is committed: a job claimed ahead checks here before its step
    /// starts, so a cancelled job never makes its call.
    pub revoked: Arc<std::sync::Mutex<HashSet<JobId>>>,
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

/// How the writer's last write went: the last batch that changed something
/// or failed (a batch that only looked, such as a claim that found nothing,
/// proves nothing about the disk).
#[derive(Debug, Clone)]
pub struct LastWrite {
    pub at: Instant,
    /// `None` when it was committed to the file at the store's path;
    /// otherwise what every caller in the batch was told.
    pub error: Option<StoreError>,
}

/// How writes go, shared by the writer and the store's handles.
pub struct WriteStatus {
    /// The last write, for readiness.
    pub last: Mutex<Option<LastWrite>>,
    /// Told after a failed batch is recorded in `last`. A batch that fails
    /// drops the replies of the command it failed on and of those after it
    /// (they were never answered); their callers wait here to learn why.
    pub failed: Notify,
    /// Counts the batches committed that changed something, so that a
    /// watcher (a test waiting for a job to finish, a follower of the
    /// history) wakes when there may be something new to read instead of
    /// polling; it reads what changed from the database itself.
    pub commits: watch::Sender<u64>,
}

impl Default for WriteStatus {
    fn default() -> Self {
        WriteStatus {
            last: Mutex::default(),
            failed: Notify::new(),
            commits: watch::Sender::new(0),
        }
    }
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
    /// The only connection that writes; used on the writer's thread only.
    conn: Connection,
    /// Told after any commit that may have made a job due.
    wake: Arc<Notify>,
    /// Told after any commit that changed schedules, windows or overrides.
    schedules_changed: Arc<Notify>,
    /// The next job id; assigned here so that one batch can insert many jobs
    /// without reading ids back.
    next_id: JobId,
    /// Standing claims not yet answered, at most one per owner.
    parked: Vec<Parked>,
    /// The file committed to, checked after each commit. Declared after
    /// `conn` so that its lock is released after the connection closes.
    file: Arc<DbFile>,
    /// Shared with the store's handles.
    status: Arc<WriteStatus>,
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
    /// Running jobs cancelled, with the lease owner that holds them.
    revoked: Vec<(String, JobId)>,
}

impl Writer {
    pub fn new(
        conn: Connection,
        wake: Arc<Notify>,
        schedules_changed: Arc<Notify>,
        file: Arc<DbFile>,
        status: Arc<WriteStatus>,
    ) -> Result<Self, StoreError> {
        // Never reuse an id, even one whose job was pruned.
        let max_id: Option<i64> = conn.query_row(
            "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM jobs \
             UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'jobs')",
            [],
            |r| r.get(0),
        )?;
        Ok(Writer {
            conn,
            wake,
            schedules_changed,
            next_id: max_id.unwrap_or(0) + 1,
            parked: Vec::new(),
            file,
            status,
        })
    }

    /// Applies commands until every sender is gone. Blocks: run it on a
    /// thread of its own.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            // Once the file is lost nothing more is applied: the callers,
            // their replies dropped, learn why from the status.
            if let Some(lost) = self.file.lost() {
                batch.clear();
                self.record(Err(lost.clone()));
                continue;
            }
            let first_id = self.next_id;
            let mut effects = BatchEffects {
                wake: false,
                recheck: false,
                schedules_changed: false,
                pending: Vec::with_capacity(batch.len()),
                events: Vec::new(),
                revoked: Vec::new(),
            };
            let changes = self.conn.total_changes();
            let outcome = match self.apply(batch.drain(..), &mut effects) {
                Ok(()) => Ok(()),
                // Logged once, when found; nothing is applied after it.
                Err(e @ StoreError::Lost { .. }) => {
                    self.next_id = first_id;
                    Err(e)
                }
                Err(e) => {
                    self.next_id = first_id;
                    tracing::error!(error = %e, "a database write failed; the batch was rolled back");
                    Err(StoreError::Write(e.to_string().into()))
                }
            };
            let ok = outcome.is_ok();
            let wrote = self.conn.total_changes() != changes;
            if !ok || wrote {
                self.record(outcome.clone());
            }
            // Before the answers: once a cancel is answered, the claim knows.
            if ok {
                for (owner, id) in effects.revoked {
                    for parked in self.parked.iter().filter(|p| *p.claim.owner == *owner) {
                        parked
                            .claim
                            .revoked
                            .lock()
                            .expect("revoked set poisoned")
                            .insert(id);
                    }
                }
            }
            for answer in effects.pending {
                answer(outcome.clone());
            }
            if ok && effects.wake {
                self.wake.notify_one();
            }
            if ok && effects.schedules_changed {
                self.schedules_changed.notify_one();
            }
            if ok && wrote {
                self.status.commits.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Keeps how a batch that wrote (or failed) went; a failure also wakes
    /// the callers whose replies it dropped.
    fn record(&self, outcome: Result<(), StoreError>) {
        let failed = outcome.is_err();
        *self.status.last.lock().expect("write status poisoned") = Some(LastWrite {
            at: Instant::now(),
            error: outcome.err(),
        });
        if failed {
            self.status.failed.notify_waiters();
        }
    }

    fn apply(
        &mut self,
        commands: impl Iterator<Item = Command>,
        fx: &mut BatchEffects,
    ) -> Result<(), StoreError> {
        // IMMEDIATE: this is the only writer, so take the write lock at once
        // rather than upgrading a read transaction halfway through.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for command in commands {
            match command {
                Command::Submit { job, now, reply } => {
                    let submitted = submit_in(&tx, &mut self.next_id, *job, now, &mut fx.events)?;
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
                    let jobs = claim(&tx, &owner, limit, now, lease_until, fx)?;
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
                    let applied = transition_job(&tx, *transition, now, fx)?;
                    fx.pending.push(pending(reply, applied));
                }
                Command::Renew {
                    owner,
                    ids,
                    until,
                    reply,
                } => {
                    tx.prepare_cached(
                        "UPDATE jobs SET lease_expires_at = ?1 WHERE state = 'running' \
                         AND lease_owner = ?2 AND id IN (SELECT value FROM json_each(?3))",
                    )?
                    .execute(params![
                        to_ms(until),
                        &*owner,
                        Value::from(ids).to_string()
                    ])?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Rescue {
                    now,
                    orphans_of_others_than,
                    reply,
                } => {
                    let ids = rescue(&tx, now, orphans_of_others_than.as_deref(), fx)?;
                    fx.wake |= !ids.is_empty();
                    fx.pending.push(pending(reply, ids));
                }
                Command::Release {
                    owner,
                    ids,
                    now,
                    reply,
                } => {
                    let released = release(&tx, &owner, &ids, now, fx)?;
                    fx.pending.push(pending(reply, released));
                }
                Command::Cancel { id, now, reply } => {
                    let result = cancel(&tx, id, now, fx)?;
                    fx.wake |= matches!(result, CancelResult::Cancelled(_));
                    fx.pending.push(pending(reply, result));
                }
                Command::Retry { id, now, reply } => {
                    let result = retry(&tx, id, now, fx)?;
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
                    see_machines(&tx, &machines, &gone, complete, now)?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Schedule(command) => {
                    let mut batch = super::schedules::Batch {
                        next_id: &mut self.next_id,
                        events: &mut fx.events,
                        pending: &mut fx.pending,
                    };
                    let done = super::schedules::apply(&tx, command, &mut batch)?;
                    fx.wake |= done.jobs_queued;
                    fx.schedules_changed |= done.schedules_changed;
                }
                Command::Probe { reply } => {
                    tx.prepare_cached("UPDATE write_probe SET probes = probes + 1")?
                        .execute([])?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::CapPages { pages, reply } => {
                    // SQLite's own limit is its default when lifted.
                    let pages = pages.unwrap_or(0xFFFF_FFFE);
                    tx.pragma_update(None, "max_page_count", pages)?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::Prune {
                    finished_before,
                    reply,
                } => {
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
                    fx.pending.push(pending(reply, deleted as u64));
                }
            }
        }
        if fx.wake || fx.recheck {
            try_parked(&tx, &mut self.parked, fx)?;
        }
        insert_events(&tx, &fx.events)?;
        // A lost file takes no more commits: no restart would find them.
        if let Some(lost) = self.file.lost() {
            return Err(lost.clone());
        }
        tx.commit()?;
        // After the commit and before any answer, so that "done" means "in
        // the file that a restart opens" (the window left: `store/file.rs`).
        self.file.check()
    }
}

/// Tries every standing claim that has free slots; the jobs a claim takes
/// go out, with their slots, once the commit is known.
fn try_parked(tx: &Tx<'_>, all: &mut Vec<Parked>, fx: &mut BatchEffects) -> Result<(), StoreError> {
    // Its dispatcher is gone; claiming for it would strand jobs.
    all.retain(|p| !p.jobs.is_closed());
    for parked in all.iter() {
        let free = parked.claim.slots.available_permits();
        if free == 0 {
            continue;
        }
        let now = parked.claim.clock.now();
        let lease_until = now + chrono::Duration::from_std(parked.claim.lease).unwrap_or_default();
        let jobs = claim(tx, &parked.claim.owner, free, now, lease_until, fx)?;
        if jobs.is_empty() {
            let next: Option<i64> = tx
                .prepare_cached(super::NEXT_DUE)?
                .query_row([to_ms(now)], |r| r.get(0))?;
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

/// The writer's transaction; every write function runs inside one.
pub(super) type Tx<'c> = rusqlite::Transaction<'c>;

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored JSON serializes")
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
    let stored = stage_job(next_id, job, args, now, events);
    insert_job(tx, &stored, &args_text)?;
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
        args,
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

fn insert_job(tx: &Tx<'_>, job: &Job, args: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO jobs (id, kind, machine_id, args, state, priority, attempt, max_attempts, \
         run_at, wait, wait_timeout_ms, idempotency_key, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, 0, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
    ])?;
    Ok(())
}

fn claim(
    tx: &Tx<'_>,
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
    // run in submission order. "Unfinished" is spelled as the partial index
    // `jobs_machine_open` spells it, so that the index serves.
    let picked: Vec<JobRow> = tx
        .prepare_cached(concat!(
            // INDEXED BY: walk the due index in claim order and stop at the
            // limit; left to itself the planner read every queued row and
            // sorted them, which grew linearly with the backlog.
            "SELECT ",
            job_columns!(),
            " FROM jobs j INDEXED BY jobs_due \
             WHERE j.state IN ('queued', 'waiting') AND j.run_at <= ?1 \
             AND (j.machine_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
                 WHERE p.machine_id = j.machine_id AND p.id < j.id \
                 AND (p.state = 'queued' OR p.state = 'running' OR p.state = 'waiting'))) \
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?2"
        ))?
        .query_map(params![to_ms(now), limit as i64], JobRow::from_sqlite)?
        .collect::<Result<_, _>>()?;
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // The rows just read, changed here as the UPDATE changes them: no
    // RETURNING, which SQLite buffers in a temporary table per statement.
    let mut take = tx.prepare_cached(
        "UPDATE jobs SET state = 'running', attempt = ?2, lease_owner = ?3, \
         lease_expires_at = ?4, updated_at = ?5 WHERE id = ?1",
    )?;
    let mut jobs = Vec::with_capacity(picked.len());
    for row in picked {
        let mut job = Job::try_from(row)?;
        // A resumed wait goes on with the attempt it is in.
        let fresh = job.state == JobState::Queued;
        if fresh {
            job.attempt += 1;
        }
        job.state = JobState::Running;
        job.lease_owner = Some(owner.to_string());
        job.lease_expires_at = Some(from_ms(to_ms(lease_until)));
        job.updated_at = from_ms(to_ms(now));
        take.execute(params![
            job.id,
            i64::from(job.attempt),
            owner,
            to_ms(lease_until),
            to_ms(now)
        ])?;
        // A poll of a wait is recorded by its API call, not as a state change.
        if fresh {
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
        jobs.push(job);
    }
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    Ok(jobs)
}

/// Writes a worker's report; a report whose worker no longer holds the job
/// (cancelled or taken back meanwhile) is stale and changes nothing.
fn transition_job(
    tx: &Tx<'_>,
    encoded: EncodedTransition,
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
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
        super::schedules::save_utilization(tx, std::slice::from_ref(u), now)?;
    }
    fx.wake |= t.to != JobState::Running;
    Ok(true)
}

fn rescue(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    others_than: Option<&str>,
    fx: &mut BatchEffects,
) -> Result<Vec<JobId>, StoreError> {
    let rows: Vec<(i64, i64, i64, Option<String>)> = tx
        .prepare_cached(
            "SELECT id, attempt, max_attempts, lease_owner FROM jobs WHERE state = 'running' \
             AND (lease_expires_at < ?1 OR (?2 IS NOT NULL AND lease_owner IS NOT ?2))",
        )?
        .query_map(params![to_ms(now), others_than], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let at = to_ms(now);
    let mut ids = Vec::with_capacity(rows.len());
    for (id, attempt, max_attempts, owner) in rows {
        let owner = owner.unwrap_or_else(|| "?".into());
        if attempt >= max_attempts {
            let error =
                format!("the worker ({owner}) stopped during the last of {max_attempts} attempts");
            tx.prepare_cached(
                "UPDATE jobs SET state = 'failed', last_error = ?1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ?2, finished_at = ?2 WHERE id = ?3",
            )?
            .execute(params![error, at, id])?;
            fx.events.push((
                id,
                at,
                NewEvent::state(Some(JobState::Running), JobState::Failed, error),
            ));
        } else {
            tx.prepare_cached(
                "UPDATE jobs SET state = 'queued', run_at = ?1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ?1 WHERE id = ?2",
            )?
            .execute(params![at, id])?;
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

fn release(
    tx: &Tx<'_>,
    owner: &str,
    ids: &[JobId],
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
) -> Result<usize, StoreError> {
    let at = to_ms(now);
    // The interrupted attempt does not count against the job.
    let released: Vec<i64> = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'queued', run_at = ?1, attempt = MAX(attempt - 1, 0), \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1 \
             WHERE state = 'running' AND lease_owner = ?2 \
             AND id IN (SELECT value FROM json_each(?3)) RETURNING id",
        )?
        .query_map(
            params![at, owner, Value::from(ids.to_vec()).to_string()],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    for id in &released {
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

fn fetch_job(tx: &Tx<'_>, id: JobId) -> Result<Option<Job>, StoreError> {
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
    fx: &mut BatchEffects,
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
    let job = fetch_job(tx, id)?.expect("the row was just updated");
    Ok(CancelResult::Cancelled(Box::new(job)))
}

fn retry(
    tx: &Tx<'_>,
    id: JobId,
    now: DateTime<Utc>,
    fx: &mut BatchEffects,
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

fn see_machines(
    tx: &Tx<'_>,
    machines: &[SeenMachine],
    gone: &[String],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    if !machines.is_empty() {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO machines (id, name, state, data, seen_at, gone_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, \
             data = excluded.data, seen_at = excluded.seen_at, gone_at = NULL",
        )?;
        // A row in `machine_states` when a known machine's state changed
        // (see the migration that made the table); it must run before the
        // upsert it compares with.
        let mut state = tx.prepare_cached(
            "INSERT INTO machine_states (machine_id, state, at) SELECT ?1, ?2, ?3 \
             WHERE EXISTS (SELECT 1 FROM machines WHERE id = ?1 AND state <> ?2)",
        )?;
        for m in machines {
            state.execute(params![m.id, m.state, at])?;
            upsert.execute(params![m.id, m.name, m.state, m.data, at])?;
        }
        // Most answers list no start: no statement to look up for them.
        if machines.iter().any(|m| !m.starts.is_empty()) {
            let mut start = tx.prepare_cached(
                "INSERT OR IGNORE INTO machine_starts (machine_id, created_at) VALUES (?1, ?2)",
            )?;
            for m in machines {
                for at in &m.starts {
                    start.execute(params![m.id, at])?;
                }
            }
        }
    }
    if !gone.is_empty() {
        tx.prepare_cached(
            "UPDATE machines SET gone_at = ?1, seen_at = ?1 WHERE gone_at IS NULL \
             AND id IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![at, json_text(&gone)])?;
    }
    if complete {
        let present: Vec<&str> = machines.iter().map(|m| m.id.as_str()).collect();
        tx.prepare_cached(
            "UPDATE machines SET gone_at = ?1, seen_at = ?1 WHERE gone_at IS NULL \
             AND id NOT IN (SELECT value FROM json_each(?2))",
        )?
        .execute(params![at, json_text(&present)])?;
    }
    Ok(())
}

fn insert_events(tx: &Tx<'_>, events: &[(JobId, i64, NewEvent)]) -> Result<(), StoreError> {
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
