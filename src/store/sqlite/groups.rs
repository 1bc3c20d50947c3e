//! Groups and group runs in SQLite: the group rows, and runs stored with
//! their jobs in one transaction (the jobs go through `jobs.rs`, so they
//! get their dependencies and history like any submitted job).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::jobs::{EncodedJob, submit_batch_in};
use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, JobId};
use crate::store::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
use crate::store::rows::{GroupRow, GroupRunRow, to_ms};

/// A write to groups or runs; each variant carries the arguments of the
/// `Store` method of the same name.
pub(super) enum GroupCommand {
    CreateGroup {
        spec: GroupSpec,
        now: DateTime<Utc>,
        reply: Reply<GroupWritten>,
    },
    UpdateGroup {
        name: String,
        patch: GroupPatch,
        now: DateTime<Utc>,
        reply: Reply<GroupWritten>,
    },
    DeleteGroup {
        name: String,
        reply: Reply<GroupRemoved>,
    },
    StartRun {
        run: Box<NewRun>,
        now: DateTime<Utc>,
        reply: Reply<RunStarted>,
    },
    ResumeRun {
        id: i64,
        resumes: u32,
        jobs: Vec<(crate::job::NewJob, u32)>,
        now: DateTime<Utc>,
        reply: Reply<RunResumed>,
    },
}

pub(super) fn apply(
    tx: &Tx<'_>,
    command: GroupCommand,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        GroupCommand::CreateGroup { spec, now, reply } => {
            let written = create(tx, spec, now)?;
            fx.pending.push(pending(reply, written));
        }
        GroupCommand::UpdateGroup {
            name,
            patch,
            now,
            reply,
        } => {
            let written = update(tx, &name, patch, now)?;
            fx.schedules_changed |= matches!(written, GroupWritten::Done(_));
            fx.pending.push(pending(reply, written));
        }
        GroupCommand::DeleteGroup { name, reply } => {
            let removed = delete(tx, &name)?;
            fx.pending.push(pending(reply, removed));
        }
        GroupCommand::StartRun { run, now, reply } => {
            let started = start_run_in(tx, next_id, *run, now, fx)?;
            fx.pending.push(pending(reply, started));
        }
        GroupCommand::ResumeRun {
            id,
            resumes,
            jobs,
            now,
            reply,
        } => {
            let resumed = resume(tx, next_id, id, resumes, jobs, now, fx)?;
            fx.pending.push(pending(reply, resumed));
        }
    }
    Ok(())
}

fn group_by_name(tx: &Tx<'_>, name: &str) -> Result<Option<Group>, StoreError> {
    tx.prepare_cached(
        "SELECT id, name, stages, created_at, updated_at FROM machine_groups WHERE name = ?1",
    )?
    .query_row([name], |r| {
        Ok(GroupRow {
            id: r.get(0)?,
            name: r.get(1)?,
            stages: r.get(2)?,
            created_at: r.get(3)?,
            updated_at: r.get(4)?,
        })
    })
    .optional()?
    .map(Group::try_from)
    .transpose()
}

fn name_taken(tx: &Tx<'_>, name: &str, except: Option<i64>) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM machine_groups WHERE name = ?1 AND id IS NOT ?2)",
        )?
        .query_row(params![name, except], |r| r.get(0))?)
}

fn create(tx: &Tx<'_>, spec: GroupSpec, now: DateTime<Utc>) -> Result<GroupWritten, StoreError> {
    if name_taken(tx, &spec.name, None)? {
        return Ok(GroupWritten::NameTaken);
    }
    tx.prepare_cached(
        "INSERT INTO machine_groups (name, stages, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![spec.name, json_text(&spec.stages), to_ms(now)])?;
    let group = group_by_name(tx, &spec.name)?.expect("just inserted");
    Ok(GroupWritten::Done(group))
}

fn update(
    tx: &Tx<'_>,
    name: &str,
    patch: GroupPatch,
    now: DateTime<Utc>,
) -> Result<GroupWritten, StoreError> {
    let Some(group) = group_by_name(tx, name)? else {
        return Ok(GroupWritten::NotFound);
    };
    let new_name = patch.name.unwrap_or_else(|| group.name.clone());
    if new_name != group.name {
        if name_taken(tx, &new_name, Some(group.id))? {
            return Ok(GroupWritten::NameTaken);
        }
        if !users(tx, &group.name)?.is_empty() {
            // Schedules name groups by name: renaming one under them would
            // leave them pointing at nothing.
            return Ok(GroupWritten::NameTaken);
        }
    }
    let stages = patch.stages.unwrap_or(group.stages);
    tx.prepare_cached(
        "UPDATE machine_groups SET name = ?2, stages = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![group.id, new_name, json_text(&stages), to_ms(now)])?;
    let group = group_by_name(tx, &new_name)?.expect("just updated");
    Ok(GroupWritten::Done(group))
}

/// Schedules and windows that target the group `name`.
fn users(tx: &Tx<'_>, name: &str) -> Result<Vec<String>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT name FROM schedules WHERE window_id IS NULL AND json_extract(targets, '$.group') = ?1 \
             UNION ALL SELECT name FROM windows WHERE json_extract(targets, '$.group') = ?1 ORDER BY 1",
        )?
        .query_map([name], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

fn delete(tx: &Tx<'_>, name: &str) -> Result<GroupRemoved, StoreError> {
    if group_by_name(tx, name)?.is_none() {
        return Ok(GroupRemoved::NotFound);
    }
    let users = users(tx, name)?;
    if !users.is_empty() {
        return Ok(GroupRemoved::InUse(users));
    }
    tx.prepare_cached("DELETE FROM machine_groups WHERE name = ?1")?
        .execute([name])?;
    Ok(GroupRemoved::Removed)
}

/// Stores a run and its jobs; for the scheduler's firings too.
pub(super) fn start_run_in(
    tx: &Tx<'_>,
    next_id: &mut JobId,
    run: NewRun,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<RunStarted, StoreError> {
    let at = to_ms(now);
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO group_runs (group_name, action, wait, steps, schedule_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        )?
        .query_row(
            params![
                run.group,
                run.action.as_str(),
                run.wait.as_str(),
                json_text(&run.steps),
                run.schedule_id,
                at
            ],
            |r| r.get(0),
        )?;
    let (jobs, steps): (Vec<EncodedJob>, Vec<u32>) = run
        .jobs
        .into_iter()
        .map(|(job, step)| (EncodedJob::new(job), step))
        .unzip();
    let jobs = match submit_batch_in(tx, next_id, jobs, Some((id, steps)), now, fx)? {
        Ok(submitted) => submitted.into_iter().map(|s| s.job).collect(),
        // A run's jobs depend only on each other.
        Err(refused) => return Err(StoreError::Refused(refused)),
    };
    let stored = fetch_run(tx, id)?.expect("just inserted");
    Ok(RunStarted { run: stored, jobs })
}

fn resume(
    tx: &Tx<'_>,
    next_id: &mut JobId,
    id: i64,
    resumes: u32,
    jobs: Vec<(crate::job::NewJob, u32)>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<RunResumed, StoreError> {
    let Some(run) = fetch_run(tx, id)? else {
        return Ok(RunResumed::NotFound);
    };
    let unfinished: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE group_run = ?1 \
             AND state IN ('blocked', 'queued', 'running', 'waiting'))",
        )?
        .query_row([id], |r| r.get(0))?;
    if run.resumes != resumes || unfinished {
        return Ok(RunResumed::Stale);
    }
    tx.prepare_cached(
        "UPDATE group_runs SET resumes = resumes + 1, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, to_ms(now)])?;
    let (encoded, steps): (Vec<EncodedJob>, Vec<u32>) = jobs
        .into_iter()
        .map(|(job, step)| (EncodedJob::new(job), step))
        .unzip();
    let jobs = match submit_batch_in(tx, next_id, encoded, Some((id, steps)), now, fx)? {
        Ok(submitted) => submitted.into_iter().map(|s| s.job).collect::<Vec<Job>>(),
        Err(refused) => return Err(StoreError::Refused(refused)),
    };
    let run = fetch_run(tx, id)?.expect("just updated");
    Ok(RunResumed::Resumed(RunStarted { run, jobs }))
}

fn fetch_run(tx: &Tx<'_>, id: i64) -> Result<Option<GroupRun>, StoreError> {
    tx.prepare_cached(
        "SELECT id, group_name, action, wait, steps, schedule_id, resumes, created_at, updated_at \
         FROM group_runs WHERE id = ?1",
    )?
    .query_row([id], |r| {
        Ok(GroupRunRow {
            id: r.get(0)?,
            group_name: r.get(1)?,
            action: r.get(2)?,
            wait: r.get(3)?,
            steps: r.get(4)?,
            schedule_id: r.get(5)?,
            resumes: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
        })
    })
    .optional()?
    .map(GroupRun::try_from)
    .transpose()
}
