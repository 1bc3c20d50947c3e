//! Group commit for the two writes every job makes: a plain submit and a
//! worker's report.
//!
//! **Why.** On PostgreSQL a write costs a round trip per statement, and on
//! this kind of machine the round trips, not the rows, are the work: the
//! server's time went to starting statements and switching between
//! processes, and a job took about fifteen of them (a submit: begin,
//! insert, its history row, commit; a report: begin, update, two history
//! rows, the machine seen, the dependents, a claim, commit). So the
//! submits and reports that arrive while a batch is being written wait for
//! the next one, and a batch writes all of them with a statement per kind
//! of row: the jobs inserted from arrays with their history rows, the
//! reports applied by one `UPDATE … FROM UNNEST` that also writes their
//! history rows, the machines seen in one sighting; then one commit, whose
//! standing claims are tried once for the whole batch (`tx.rs`). A batch
//! of submits is its one statement, which commits on its own: no `BEGIN`,
//! no `COMMIT`, and this daemon's standing claims are woken after it
//! instead of tried in it. Every caller is answered after the commit, as
//! before.
//!
//! **What goes here.** Only the common shapes: a submit without an
//! idempotency key or dependencies, and a report without a utilization
//! pull or a whole-account listing. The others keep their own transaction
//! (`ops/jobs.rs`), where the rules they need (a key decided across
//! daemons, dependencies locked, machines marked gone) are written once.
//!
//! **Failure.** A statement that fails aborts PostgreSQL's transaction, so
//! one bad write would fail its whole batch: the batch is rolled back and
//! each of its writes is then made alone, and answered with its own
//! outcome. A failed commit is not retried (it may have happened all the
//! same, and a submit made again would store a second job): every write
//! of the batch is answered with its error, as it would be alone. For the
//! statement of submits, an error from the server means nothing was
//! stored (the writes are made alone); a broken connection may hide a
//! commit (each caller hears the error).
//!
//! **Two lanes, one batch at a time in each.** Submits and reports go to
//! two tasks, and each writes one batch at a time: the writes that arrive
//! while its batch is written make the next one. A lane of its own keeps a
//! submit (one statement) from waiting behind a batch of reports (begin,
//! update, machines seen, claims, commit), and one batch at a time per
//! lane makes the batches as large as the load, so each round trip and
//! flush serves more jobs. Measured (benchmark scenario 7, 10,000 jobs, two
//! runs each, jobs/s with one daemon and two; the server's CPU per job):
//! one lane with two batches in flight, as before, 4,100 to 4,220 and
//! 3,040 to 3,130 (213 to 228 µs); two lanes with one batch each, 5,170 to
//! 5,410 and 3,970 to 4,120 (168 to 178 µs); two in flight in either lane
//! or both did worse, down to 3,760 to 4,000 with three in each.
//!
//! Each lane's batch takes a connection of the pool; the rest of the pool
//! serves the other writes and the reads.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::ops::Tried;
use super::tx::{Effects, Tx};
use super::{PostgresDriver, dependencies, jobs, machines};
use crate::job::{Job, JobId, JobState, NewJob};
use crate::store::jobs::Start;
use crate::store::rows::{JobRow, to_ms};
use crate::store::{Cause, StoreError, Submitted, Transition};

/// Most writes in one batch: bounds a transaction's size and the wait of
/// the writes at the back.
const MAX_BATCH: usize = 128;

/// A write waiting for a batch, with where its answer goes.
enum Write {
    Submit {
        job: NewJob,
        now: DateTime<Utc>,
        answer: oneshot::Sender<Result<Submitted, StoreError>>,
    },
    Report {
        transition: Transition,
        now: DateTime<Utc>,
        answer: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// Where the writes go; the tasks stop when the last handle goes.
#[derive(Clone)]
pub(super) struct Batcher {
    /// To the submits' lane.
    submits: mpsc::UnboundedSender<Write>,
    /// To the reports' lane.
    reports: mpsc::UnboundedSender<Write>,
}

/// The running lanes; stops them when dropped.
pub(super) struct Batching([JoinHandle<()>; 2]);

impl Drop for Batching {
    fn drop(&mut self) {
        for lane in &self.0 {
            lane.abort();
        }
    }
}

/// The task is gone: the store is being dropped.
fn gone() -> StoreError {
    StoreError::Write(Cause::new(std::io::Error::other(
        "the store's batch writer has stopped",
    )))
}

impl Batcher {
    /// Starts the lanes, which write through `driver` (a handle without a
    /// batcher of its own, so that the lanes do not keep themselves alive).
    pub(super) fn start(driver: PostgresDriver) -> (Batcher, Batching) {
        let (submits, submits_rx) = mpsc::unbounded_channel();
        let (reports, reports_rx) = mpsc::unbounded_channel();
        (
            Batcher { submits, reports },
            Batching([
                tokio::spawn(write_batches(driver.clone(), submits_rx)),
                tokio::spawn(write_batches(driver, reports_rx)),
            ]),
        )
    }

    /// Whether `job` is a plain submit, written in a batch.
    pub(super) fn takes_submit(job: &NewJob) -> bool {
        job.idempotency_key.is_none() && job.depends_on.is_empty()
    }

    /// Whether `t` is a plain report, written in a batch.
    pub(super) fn takes_report(t: &Transition) -> bool {
        t.utilization.is_none() && !t.seen_complete && t.gone.is_empty()
    }

    pub(super) async fn submit(
        &self,
        job: NewJob,
        now: DateTime<Utc>,
    ) -> Result<Submitted, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.submits
            .send(Write::Submit { job, now, answer })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    pub(super) async fn report(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.reports
            .send(Write::Report {
                transition,
                now,
                answer,
            })
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// A lane: takes every write waiting (up to [`MAX_BATCH`]), lets the tasks
/// it just answered run once, takes the writes they made, writes them all
/// as one batch, and only then takes the next.
///
/// The yield is what makes a batch hold its whole load. Answering a write
/// wakes its caller on this thread, but the caller runs only once this
/// task yields; without the yield the next batch was written at once with
/// the few writes already waiting, and every caller answered by one batch
/// made its next write too late for the next, so the callers split into
/// two halves taking turns. One yield costs an idle daemon nothing it can
/// measure. Measured (benchmark scenario 7, 10,000 jobs, jobs/s with one
/// daemon and two, the server's CPU per job): without it 4,780 to 5,010
/// and 3,690 to 3,790 (300 to 312 µs with two); with one yield 5,030 to
/// 5,430 and 5,050 to 5,290 (214 to 230 µs); more yields, while writes
/// kept coming, did the same.
async fn write_batches(driver: PostgresDriver, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut held: Option<Write> = None;
    loop {
        let first = match held.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => return,
            },
        };
        let mut batch = vec![first];
        // A job reported on twice in one batch would be updated once: its
        // second report waits for the next batch.
        let mut reported: HashSet<JobId> = HashSet::new();
        if let Write::Report { transition, .. } = &batch[0] {
            reported.insert(transition.job_id);
        }
        for yielded in [false, true] {
            if yielded {
                tokio::task::yield_now().await;
            }
            while held.is_none() && batch.len() < MAX_BATCH {
                let Ok(next) = rx.try_recv() else { break };
                if let Write::Report { transition, .. } = &next
                    && !reported.insert(transition.job_id)
                {
                    held = Some(next);
                } else {
                    batch.push(next);
                }
            }
        }
        driver.write_batch(batch).await;
    }
}

/// How a batch failed.
enum Failed {
    /// Before its commit: nothing was written, and each write is made
    /// alone.
    Writing(StoreError),
    /// At its commit (or the claims tried just before it).
    Committing(StoreError),
}

/// What a batch answers each write, in the batch's order.
enum Answer {
    Submitted(Box<Submitted>),
    Reported(bool),
}

impl PostgresDriver {
    /// Writes `batch` in one transaction and answers each write; when the
    /// batch fails, each write is made alone.
    async fn write_batch(&self, batch: Vec<Write>) {
        // A lone submit too: its one statement is cheaper than its own
        // transaction.
        if batch.len() > 1 || matches!(batch[0], Write::Submit { .. }) {
            match self.try_batch(&batch).await {
                Ok(answers) => {
                    for (write, answer) in batch.into_iter().zip(answers) {
                        match (write, answer) {
                            (Write::Submit { answer: to, .. }, Answer::Submitted(s)) => {
                                let _ = to.send(Ok(*s));
                            }
                            (Write::Report { answer: to, .. }, Answer::Reported(r)) => {
                                let _ = to.send(Ok(r));
                            }
                            _ => unreachable!("answers follow the batch's order"),
                        }
                    }
                    return;
                }
                Err(Failed::Writing(e)) => {
                    tracing::debug!(error = %e, writes = batch.len(), "a batch failed; writing its writes one by one");
                }
                Err(Failed::Committing(e)) => {
                    // The commit may have happened all the same (the
                    // connection broke after sending it): writing again
                    // could store a job twice, so each caller hears the
                    // error, as a write of its own would answer it.
                    for write in batch {
                        match write {
                            Write::Submit { answer, .. } => {
                                let _ = answer.send(Err(e.clone()));
                            }
                            Write::Report { answer, .. } => {
                                let _ = answer.send(Err(e.clone()));
                            }
                        }
                    }
                    return;
                }
            }
        }
        for write in batch {
            match write {
                Write::Submit { job, now, answer } => {
                    let _ = answer.send(self.submit_alone(job, now).await);
                }
                Write::Report {
                    transition,
                    now,
                    answer,
                } => {
                    let _ = answer.send(self.transition_alone(transition, now).await);
                }
            }
        }
    }

    /// Writes `batch`, which holds one kind of write (each lane takes one
    /// kind): submits as one statement, reports in one transaction.
    async fn try_batch(&self, batch: &[Write]) -> Result<Vec<Answer>, Failed> {
        const ONE_KIND: &str = "a lane's batch holds one kind of write";
        if let Write::Submit { .. } = batch[0] {
            let submits: Vec<(&NewJob, DateTime<Utc>)> = batch
                .iter()
                .map(|w| match w {
                    Write::Submit { job, now, .. } => (job, *now),
                    Write::Report { .. } => unreachable!("{ONE_KIND}"),
                })
                .collect();
            let fx = Effects {
                wake: true,
                ..Effects::default()
            };
            let submitted = self.submit_on_its_own(&submits, fx).await?;
            return Ok(submitted
                .into_iter()
                .map(|s| Answer::Submitted(Box::new(s)))
                .collect());
        }
        let reports: Vec<(&Transition, DateTime<Utc>)> = batch
            .iter()
            .map(|w| match w {
                Write::Report {
                    transition, now, ..
                } => (transition, *now),
                Write::Submit { .. } => unreachable!("{ONE_KIND}"),
            })
            .collect();
        let mut fx = Effects::default();
        let mut tx = self.begin_planned().await.map_err(Failed::Writing)?;
        let applied = apply_reports(&mut tx, &reports, &mut fx)
            .await
            .map_err(Failed::Writing)?;
        self.commit(tx, fx).await.map_err(Failed::Committing)?;
        Ok(applied.into_iter().map(Answer::Reported).collect())
    }

    /// Submits alone: one statement, which commits on its own, so the
    /// batch costs one round trip instead of four (begin, the statement,
    /// commit, and the claims tried between). This daemon's standing
    /// claims are woken after it, as for a write that could not try them.
    async fn submit_on_its_own(
        &self,
        submits: &[(&NewJob, DateTime<Utc>)],
        fx: Effects,
    ) -> Result<Vec<Submitted>, Failed> {
        let rows = match insert_jobs(&self.pool, submits).await {
            Ok(rows) => rows,
            // Refused, or never sent: nothing was stored.
            Err(
                e
                @ (sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed),
            ) => return Err(Failed::Writing(e.into())),
            // The connection broke: the statement may have committed.
            Err(e) => {
                return Err(Failed::Committing(
                    self.failed(StoreError::Write(Cause::new(e))),
                ));
            }
        };
        // This daemon's standing claims were not tried in the statement.
        self.claims.recheck();
        self.tell(fx, Tried::default()).await;
        submitted(rows, submits.len()).map_err(Failed::Committing)
    }
}

/// Inserts plain jobs (no key, no dependencies: each starts queued) with
/// their first history rows, in one statement that commits on its own;
/// answered with the rows stored ([`submitted`] reads them).
async fn insert_jobs(
    pool: &sqlx::PgPool,
    submits: &[(&NewJob, DateTime<Utc>)],
) -> Result<Vec<JobRow>, sqlx::Error> {
    if submits.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = submits
        .iter()
        .map(|(job, now)| Start::queued().submitted_message(job.run_at, *now))
        .collect();
    let col = |f: &dyn Fn(&NewJob, DateTime<Utc>) -> i64| -> Vec<i64> {
        submits.iter().map(|(j, now)| f(j, *now)).collect()
    };
    // Ids are drawn in the insert's order, so the k-th id is the k-th
    // submit's, and its history row takes the k-th message.
    sqlx::query_as(
        "WITH j AS (INSERT INTO jobs (kind, machine_id, args, state, priority, attempt, \
         max_attempts, run_at, wait, wait_timeout_ms, created_at, updated_at) \
         SELECT kind, machine_id, args, 'queued', priority, 0, max_attempts, run_at, wait, \
         wait_timeout_ms, created_at, created_at \
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[], \
         $6::BIGINT[], $7::TEXT[], $8::BIGINT[], $9::BIGINT[]) WITH ORDINALITY \
         AS s(kind, machine_id, args, priority, max_attempts, run_at, wait, wait_timeout_ms, \
         created_at, n) ORDER BY n RETURNING *), \
         ev AS (INSERT INTO job_events (job_id, at, kind, from_state, to_state, message) \
         SELECT k.id, k.created_at, 'state', NULL, 'queued', m.message \
         FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n FROM j) k \
         JOIN UNNEST($10::TEXT[]) WITH ORDINALITY AS m(message, n) ON m.n = k.n) \
         SELECT * FROM j",
    )
    .bind(
        submits
            .iter()
            .map(|(j, _)| j.operation.kind().as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        submits
            .iter()
            .map(|(j, _)| j.machine_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        submits
            .iter()
            .map(|(j, _)| j.operation.args_json().to_string())
            .collect::<Vec<_>>(),
    )
    .bind(col(&|j, _| i64::from(j.priority)))
    .bind(col(&|j, _| i64::from(j.max_attempts)))
    .bind(col(&|j, _| to_ms(j.run_at)))
    .bind(
        submits
            .iter()
            .map(|(j, _)| j.wait.map(|w| w.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(col(&|j, _| j.wait_timeout.as_millis() as i64))
    .bind(col(&|_, now| to_ms(now)))
    .bind(messages)
    .fetch_all(pool)
    .await
}

/// The answers of the `submits` that [`insert_jobs`] stored as `rows`.
fn submitted(rows: Vec<JobRow>, submits: usize) -> Result<Vec<Submitted>, StoreError> {
    let mut jobs: Vec<Job> = rows
        .into_iter()
        .map(Job::try_from)
        .collect::<Result<_, _>>()?;
    jobs.sort_by_key(|j| j.id);
    if jobs.len() != submits {
        return Err(StoreError::Db(Cause::new(std::io::Error::other(format!(
            "{} jobs inserted for {submits} submits",
            jobs.len(),
        )))));
    }
    Ok(jobs
        .into_iter()
        .map(|job| Submitted { job, created: true })
        .collect())
}

/// Applies plain reports: one update for all, then the history rows, the
/// machines seen and the dependents of the jobs that ended, for the
/// reports whose worker still held the job; answers whether each applied.
async fn apply_reports(
    tx: &mut Tx,
    reports: &[(&Transition, DateTime<Utc>)],
    fx: &mut Effects,
) -> Result<Vec<bool>, StoreError> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    // Each worker gave its slot back before sending its report.
    fx.recheck = true;
    let checkpoints: Vec<Option<String>> = reports
        .iter()
        .map(|(t, _)| {
            t.checkpoint
                .as_ref()
                .map(|c| serde_json::to_string(c).expect("a checkpoint serializes"))
        })
        .collect();
    let results: Vec<Option<String>> = reports
        .iter()
        .map(|(t, _)| t.result.as_ref().map(|r| r.to_string()))
        .collect();
    // One statement: the update, and the history rows of the reports it
    // applied (the ones whose worker still held the job).
    let events: Vec<jobs::EventRow<'_>> = reports
        .iter()
        .flat_map(|(t, now)| t.events.iter().map(move |e| (t.job_id, to_ms(*now), e)))
        .collect();
    let mut sql = QueryBuilder::new(
        "WITH u AS (UPDATE jobs SET state = t.to_state, run_at = COALESCE(t.run_at, jobs.run_at), \
         checkpoint = t.checkpoint, result = COALESCE(t.result, jobs.result), \
         last_error = COALESCE(t.error, jobs.last_error), \
         lease_owner = CASE WHEN t.keep THEN jobs.lease_owner END, \
         lease_expires_at = CASE WHEN t.keep THEN jobs.lease_expires_at END, \
         updated_at = t.at, finished_at = t.finished_at, \
         machine_id = COALESCE(t.machine_id, jobs.machine_id) FROM UNNEST(",
    );
    sql.push_bind(reports.iter().map(|(t, _)| t.job_id).collect::<Vec<_>>());
    sql.push("::BIGINT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.owner.to_string())
            .collect::<Vec<_>>(),
    );
    sql.push("::TEXT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.to.as_str())
            .collect::<Vec<_>>(),
    );
    sql.push("::TEXT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.run_at.map(to_ms))
            .collect::<Vec<_>>(),
    );
    sql.push("::BIGINT[], ");
    sql.push_bind(checkpoints);
    sql.push("::TEXT[], ");
    sql.push_bind(results);
    sql.push("::TEXT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.error.clone())
            .collect::<Vec<_>>(),
    );
    sql.push("::TEXT[], ");
    // Running records a checkpoint mid-step and keeps the lease.
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.to == JobState::Running)
            .collect::<Vec<_>>(),
    );
    sql.push("::BOOLEAN[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(_, now)| to_ms(*now))
            .collect::<Vec<_>>(),
    );
    sql.push("::BIGINT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, now)| t.to.is_final().then_some(to_ms(*now)))
            .collect::<Vec<_>>(),
    );
    sql.push("::BIGINT[], ");
    sql.push_bind(
        reports
            .iter()
            .map(|(t, _)| t.machine_id.clone())
            .collect::<Vec<_>>(),
    );
    sql.push(
        "::TEXT[]) AS t(id, owner, to_state, run_at, checkpoint, result, error, keep, at, \
         finished_at, machine_id) \
         WHERE jobs.id = t.id AND jobs.state = 'running' AND jobs.lease_owner = t.owner \
         RETURNING jobs.id), ev AS (",
    );
    jobs::push_insert_events(&mut sql, &events, "e.job_id IN (SELECT id FROM u)");
    // With each job applied, whether some job waits on it (most have
    // none): its dependents are settled if it ended.
    sql.push(
        ") SELECT u.id, EXISTS (SELECT 1 FROM job_dependencies d WHERE d.depends_on = u.id) \
         FROM u",
    );
    let changed: Vec<(i64, bool)> = sql.build_query_as().fetch_all(&mut **tx).await?;
    let awaited: HashSet<JobId> = changed
        .iter()
        .filter(|(_, awaited)| *awaited)
        .map(|(id, _)| *id)
        .collect();
    let changed: HashSet<JobId> = changed.into_iter().map(|(id, _)| id).collect();
    let applied: Vec<bool> = reports
        .iter()
        .map(|(t, _)| changed.contains(&t.job_id))
        .collect();
    let kept: Vec<(&Transition, DateTime<Utc>)> = reports
        .iter()
        .zip(&applied)
        .filter(|(_, applied)| **applied)
        .map(|(r, _)| *r)
        .collect();
    if kept.is_empty() {
        return Ok(applied);
    }
    // The machines seen, as one sighting in the reports' order, at the
    // latest of their times.
    let seen: Vec<crate::machine::Machine> = kept
        .iter()
        .flat_map(|(t, _)| t.seen.iter().cloned())
        .collect();
    if !seen.is_empty() {
        let at = kept.iter().map(|(_, now)| *now).max().expect("not empty");
        machines::see_machines(tx, &seen, &[], false, at).await?;
    }
    for (t, now) in &kept {
        if t.to.is_final() && awaited.contains(&t.job_id) {
            dependencies::settle(tx, t.job_id, t.to, *now, fx).await?;
        }
    }
    fx.wake |= kept.iter().any(|(t, _)| t.to != JobState::Running);
    Ok(applied)
}
