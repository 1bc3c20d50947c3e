//! Dependencies in PostgreSQL: the state a new job starts in given what it
//! depends on, its edges, and the settling of dependents when a job
//! finishes — all in the transaction of the write, so the hand-off from a
//! job to its dependent is the commit that finishes the job. The same
//! outcomes as `sqlite/dependencies.rs` (see `job/dependency.rs`).
//!
//! **Several writers.** SQLite's single writer made "read the dependency's
//! state, then add the edge" atomic; here a dependency may finish in another
//! daemon's transaction between the two. Two locks close the gaps:
//!
//! - [`start`] reads its dependencies `FOR SHARE`: a transition finishing
//!   one of them (an `UPDATE` of its row) waits for the submit's commit, and
//!   its [`settle`] then sees the new edge; or the submit waits for the
//!   transition's commit and reads the final state. The rows are locked in
//!   ascending id order, the order [`settle`] takes them in (a dependent is
//!   always younger than what it waits for), so the two do not deadlock.
//! - [`settle`] locks each dependent `FOR UPDATE` before it deletes edges
//!   and counts the ones left: two dependencies of one job finishing at once
//!   in two transactions take turns on the dependent, so the second sees the
//!   first's edges gone and queues it (without the lock, each would see the
//!   other's edge still there and the job would stay blocked for good).

use chrono::{DateTime, Utc};

use super::jobs::insert_event;
use super::tx::{Effects, Tx};
use crate::job::dependency::{NOT_RUN, no_such_job};
use crate::job::{JobId, JobState, NewEvent, OnDependencyFailure, SpecError};
use crate::store::StoreError;
use crate::store::jobs::Start;
use crate::store::rows::to_ms;

/// The first job id in `ids` (sorted) that the store does not hold, as a
/// refusal before anything of a batch is written. The ones it holds are
/// locked `FOR SHARE` here, all at once in id order: [`start`] locks each
/// job's own dependencies again (already held), so a batch whose first job
/// depends on a younger job than its second does not take them out of
/// order (which could deadlock with a [`settle`] going down the chain).
pub(super) async fn missing(tx: &mut Tx, ids: &[JobId]) -> Result<Option<SpecError>, StoreError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let found: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR SHARE")
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
    // The ids of a whole batch, sorted: the caller knows which request
    // position named it.
    Ok(ids
        .iter()
        .find(|id| !found.contains(id))
        .map(|id| no_such_job("depends_on", *id)))
}

/// The start of a job that depends on `deps` (ids the store holds).
pub(super) async fn start(
    tx: &mut Tx,
    deps: &[JobId],
    policy: OnDependencyFailure,
) -> Result<Start, StoreError> {
    // Locked (see the module's doc) in id order, and read again after any
    // wait: a finishing dependency is seen finished, or sees our edge.
    let mut sorted = deps.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let states: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, state FROM jobs WHERE id = ANY($1) ORDER BY id FOR SHARE")
            .bind(&sorted)
            .fetch_all(&mut **tx)
            .await?;
    let mut pending = Vec::new();
    let mut failed = None;
    for (i, &id) in deps.iter().enumerate() {
        let Some((_, state)) = states.iter().find(|(d, _)| *d == id) else {
            return Err(StoreError::Refused(no_such_job(
                format!("depends_on[{i}]"),
                id,
            )));
        };
        match state.parse::<JobState>() {
            Ok(JobState::Succeeded) => {}
            Ok(JobState::Failed | JobState::Cancelled) => {
                failed.get_or_insert(id);
            }
            _ => pending.push(id),
        }
    }
    if let (Some(id), OnDependencyFailure::Cancel) = (failed, policy) {
        return Ok(Start {
            state: JobState::Cancelled,
            pending: Vec::new(),
            error: Some(format!("{NOT_RUN}{}", describe(tx, id).await?)),
        });
    }
    let state = if pending.is_empty() {
        JobState::Queued
    } else {
        JobState::Blocked
    };
    Ok(Start {
        state,
        pending,
        error: None,
    })
}

/// Records that `job` waits for `pending`.
pub(super) async fn link(tx: &mut Tx, job: JobId, pending: &[JobId]) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO job_dependencies (job_id, depends_on) SELECT $1, d FROM UNNEST($2::BIGINT[]) AS d \
         ON CONFLICT DO NOTHING",
    )
    .bind(job)
    .bind(pending)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// "job 12 (start psB) failed: …": a finished job, for its dependents' errors.
async fn describe(tx: &mut Tx, id: JobId) -> Result<String, StoreError> {
    let row: Option<(String, Option<String>, String, Option<String>)> =
        sqlx::query_as("SELECT kind, machine_id, state, last_error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((kind, machine, state, error)) = row else {
        return Ok(format!("job {id} is gone"));
    };
    let what = match machine {
        Some(m) => format!("job {id} ({kind} {m})"),
        None => format!("job {id} ({kind})"),
    };
    // A job cancelled for its own dependency already names the root cause.
    if let Some(root) = error.as_deref().and_then(|e| e.strip_prefix(NOT_RUN)) {
        return Ok(root.to_string());
    }
    Ok(match (state.as_str(), error) {
        ("failed", Some(e)) => format!("{what} failed: {e}"),
        ("failed", None) => format!("{what} failed"),
        ("cancelled", _) => format!("{what} was cancelled"),
        (other, _) => format!("{what} is {other}"),
    })
}

/// Settles the dependents of `finished`, which has just reached the final
/// `state`: a success removes its edges and queues each dependent left
/// with none; a failure or a cancel cancels each dependent that does not
/// run anyway, and so on down. Costs one index seek for a job without
/// dependents. History rows are written as they happen.
pub(super) async fn settle(
    tx: &mut Tx,
    finished: JobId,
    state: JobState,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    let mut work = vec![(finished, state)];
    while let Some((id, state)) = work.pop() {
        // Each dependent with its state and policy, locked (see the
        // module's doc) in id order and read after any wait for the lock.
        let dependents: Vec<(JobId, String, Option<String>)> = sqlx::query_as(
            "SELECT j.id, j.state, j.on_dependency_failure FROM job_dependencies d \
             JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = $1 \
             ORDER BY j.id FOR UPDATE OF j",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        if dependents.is_empty() {
            continue;
        }
        sqlx::query("DELETE FROM job_dependencies WHERE depends_on = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        let mut cause = None;
        for (dependent, dependent_state, policy) in dependents {
            if dependent_state != JobState::Blocked.as_str() {
                continue;
            }
            let runs_anyway = policy.as_deref() == Some(OnDependencyFailure::Run.as_str());
            if state != JobState::Succeeded && !runs_anyway {
                let cause = match &cause {
                    Some(c) => c,
                    None => cause.insert(describe(tx, id).await?),
                };
                let error = format!("{NOT_RUN}{cause}");
                sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', last_error = $2, updated_at = $3, \
                     finished_at = $3 WHERE id = $1",
                )
                .bind(dependent)
                .bind(&error)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                sqlx::query("DELETE FROM job_dependencies WHERE job_id = $1")
                    .bind(dependent)
                    .execute(&mut **tx)
                    .await?;
                insert_event(
                    tx,
                    dependent,
                    at,
                    &NewEvent::state(Some(JobState::Blocked), JobState::Cancelled, error),
                )
                .await?;
                work.push((dependent, JobState::Cancelled));
                continue;
            }
            let left: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM job_dependencies WHERE job_id = $1)",
            )
            .bind(dependent)
            .fetch_one(&mut **tx)
            .await?;
            if left {
                continue;
            }
            sqlx::query(
                "UPDATE jobs SET state = 'queued', run_at = GREATEST(run_at, $2), updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(dependent)
            .bind(at)
            .execute(&mut **tx)
            .await?;
            let message = if state == JobState::Succeeded {
                format!("job {id}, the last it waited for, succeeded; queued")
            } else {
                format!(
                    "job {id}, the last it waited for, ended {state}; queued all the same (on_dependency_failure = run)"
                )
            };
            insert_event(
                tx,
                dependent,
                at,
                &NewEvent::state(Some(JobState::Blocked), JobState::Queued, message),
            )
            .await?;
            fx.wake = true;
        }
    }
    Ok(())
}
