//! Dependencies in SQLite: the state a new job starts in given what it
//! depends on, its edges, and the settling of dependents when a job
//! finishes — all in the writer's transaction, so the hand-off from a job
//! to its dependent is the commit that finishes the job (whose standing
//! claims then take the dependent at once). See `job/dependency.rs`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::tx::{Effects, Tx};
use crate::job::dependency::{NOT_RUN, no_such_job};
use crate::job::{JobId, JobState, NewEvent, OnDependencyFailure, SpecError};
use crate::store::StoreError;
use crate::store::jobs::Start;
use crate::store::rows::to_ms;

/// Every job id in `ids` that the store does not hold, for a refusal
/// before anything of a batch is written.
pub(super) fn missing(tx: &Tx<'_>, ids: &[JobId]) -> Result<Option<SpecError>, StoreError> {
    let mut stmt = tx.prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")?;
    for id in ids {
        if stmt.query_row([id], |_| Ok(())).optional()?.is_none() {
            // The ids of a whole batch, sorted: the caller knows which
            // request position named it.
            return Ok(Some(no_such_job("depends_on", *id)));
        }
    }
    Ok(None)
}

/// The start of a job that depends on `deps` (ids the store holds).
pub(super) fn start(
    tx: &Tx<'_>,
    deps: &[JobId],
    policy: OnDependencyFailure,
) -> Result<Start, StoreError> {
    let mut pending = Vec::new();
    let mut failed = None;
    let mut stmt = tx.prepare_cached("SELECT state FROM jobs WHERE id = ?1")?;
    for (i, &id) in deps.iter().enumerate() {
        let state: Option<String> = stmt.query_row([id], |r| r.get(0)).optional()?;
        let Some(state) = state else {
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
            error: Some(format!("{NOT_RUN}{}", describe(tx, id)?)),
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
pub(super) fn link(tx: &Tx<'_>, job: JobId, pending: &[JobId]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO job_dependencies (job_id, depends_on) VALUES (?1, ?2)",
    )?;
    for dep in pending {
        insert.execute(params![job, dep])?;
    }
    Ok(())
}

/// "job 12 (start psB) failed: …": a finished job, for its dependents' errors.
fn describe(tx: &Tx<'_>, id: JobId) -> Result<String, StoreError> {
    let row: Option<(String, Option<String>, String, Option<String>)> = tx
        .prepare_cached("SELECT kind, machine_id, state, last_error FROM jobs WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
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
/// dependents.
pub(super) fn settle(
    tx: &Tx<'_>,
    finished: JobId,
    state: JobState,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    let at = to_ms(now);
    let mut work = vec![(finished, state)];
    while let Some((id, state)) = work.pop() {
        // Each dependent with its state and policy, in one read: settling
        // one dependent below changes no other's (a cascade waits in `work`).
        let dependents: Vec<(JobId, String, Option<String>)> = tx
            .prepare_cached(
                "SELECT d.job_id, j.state, j.on_dependency_failure FROM job_dependencies d \
                 JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = ?1",
            )?
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        if dependents.is_empty() {
            continue;
        }
        tx.prepare_cached("DELETE FROM job_dependencies WHERE depends_on = ?1")?
            .execute([id])?;
        let mut cause = None;
        for (dependent, dependent_state, policy) in dependents {
            if dependent_state != JobState::Blocked.as_str() {
                continue;
            }
            let runs_anyway = policy.as_deref() == Some(OnDependencyFailure::Run.as_str());
            if state != JobState::Succeeded && !runs_anyway {
                let cause = match &cause {
                    Some(c) => c,
                    None => cause.insert(describe(tx, id)?),
                };
                let error = format!("{NOT_RUN}{cause}");
                tx.prepare_cached(
                    "UPDATE jobs SET state = 'cancelled', last_error = ?2, updated_at = ?3, \
                     finished_at = ?3 WHERE id = ?1",
                )?
                .execute(params![dependent, error, at])?;
                tx.prepare_cached("DELETE FROM job_dependencies WHERE job_id = ?1")?
                    .execute([dependent])?;
                fx.events.push((
                    dependent,
                    at,
                    NewEvent::state(Some(JobState::Blocked), JobState::Cancelled, error),
                ));
                work.push((dependent, JobState::Cancelled));
                continue;
            }
            let left: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM job_dependencies WHERE job_id = ?1)")?
                .query_row([dependent], |r| r.get(0))?;
            if left {
                continue;
            }
            tx.prepare_cached(
                "UPDATE jobs SET state = 'queued', run_at = MAX(run_at, ?2), updated_at = ?2 \
                 WHERE id = ?1",
            )?
            .execute(params![dependent, at])?;
            let message = if state == JobState::Succeeded {
                format!("job {id}, the last it waited for, succeeded; queued")
            } else {
                format!(
                    "job {id}, the last it waited for, ended {state}; queued all the same (on_dependency_failure = run)"
                )
            };
            fx.events.push((
                dependent,
                at,
                NewEvent::state(Some(JobState::Blocked), JobState::Queued, message),
            ));
            fx.wake = true;
        }
    }
    Ok(())
}
