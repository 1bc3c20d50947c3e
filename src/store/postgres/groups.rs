//! Groups and group runs in PostgreSQL: what their writes do inside a
//! transaction — the group rows, and runs stored with their jobs in one
//! transaction (the jobs go through `jobs.rs`, so they get their
//! dependencies and history like any submitted job). `start_run_in` is
//! also what a schedule's firing calls to make its run.
//!
//! The outcomes are SQLite's (`sqlite/groups.rs`); with other daemons
//! writing at once:
//!
//! - A group's name is unique. A create inserts `ON CONFLICT (name) DO
//!   NOTHING`; a rename that meets a name taken since its check fails on
//!   the unique index, answered `NameTaken` (the operation then rolls
//!   back: nothing was written).
//! - An update or a delete locks the group's row `FOR UPDATE` before it
//!   reads what it decides on, so two changes of one group take turns.
//! - A resume locks the run's row `FOR UPDATE` before comparing its
//!   `resumes` with the count the caller read: of two resumes naming the
//!   same count, the second waits for the first's commit, then reads the
//!   count it left and is `Stale`, so only one adds jobs. The `UPDATE …
//!   WHERE resumes = $n` that follows says the same again in the
//!   statement itself.

use chrono::{DateTime, Utc};

use super::jobs::submit_batch_in;
use super::tx::{Effects, Tx};
use super::webhooks::{is_unique_violation, json_text};
use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, NewJob};
use crate::store::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
use crate::store::rows::{GroupRow, GroupRunRow, to_ms};

/// The columns of a `machine_groups` row, as [`GroupRow`] has them, as a
/// literal for `concat!`.
macro_rules! group_columns {
    () => {
        "id, name, stages, created_at, updated_at"
    };
}

/// The columns of a `group_runs` row, as [`GroupRunRow`] has them.
macro_rules! run_columns {
    () => {
        "id, group_name, action, wait, steps, schedule_id, resumes, created_at, updated_at"
    };
}

/// The group `name`, locked `FOR UPDATE` until the commit.
async fn lock_group(tx: &mut Tx, name: &str) -> Result<Option<Group>, StoreError> {
    let row: Option<GroupRow> = sqlx::query_as(concat!(
        "SELECT ",
        group_columns!(),
        " FROM machine_groups WHERE name = $1 FOR UPDATE"
    ))
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Group::try_from).transpose()
}

/// Whether a group other than `except` has `name`.
async fn name_taken(tx: &mut Tx, name: &str, except: Option<i64>) -> Result<bool, StoreError> {
    let (taken,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM machine_groups \
         WHERE name = $1 AND id IS DISTINCT FROM $2)",
    )
    .bind(name)
    .bind(except)
    .fetch_one(&mut **tx)
    .await?;
    Ok(taken)
}

/// Stores a new group unless its name is taken (by the unique index, so
/// also by another daemon an instant ago).
pub(super) async fn create(
    tx: &mut Tx,
    spec: &GroupSpec,
    now: DateTime<Utc>,
) -> Result<GroupWritten, StoreError> {
    let row: Option<GroupRow> = sqlx::query_as(concat!(
        "INSERT INTO machine_groups (name, stages, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING RETURNING ",
        group_columns!()
    ))
    .bind(&spec.name)
    .bind(json_text(&spec.stages))
    .bind(to_ms(now))
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(GroupWritten::Done(Group::try_from(row)?)),
        None => Ok(GroupWritten::NameTaken),
    }
}

/// Changes a group; a rename is refused while schedules or windows target
/// it by name. `NameTaken` may leave `tx` unusable: the caller rolls back.
pub(super) async fn update(
    tx: &mut Tx,
    name: &str,
    patch: GroupPatch,
    now: DateTime<Utc>,
) -> Result<GroupWritten, StoreError> {
    let Some(group) = lock_group(tx, name).await? else {
        return Ok(GroupWritten::NotFound);
    };
    let new_name = patch.name.unwrap_or_else(|| group.name.clone());
    if new_name != group.name {
        if name_taken(tx, &new_name, Some(group.id)).await? {
            return Ok(GroupWritten::NameTaken);
        }
        if !users(tx, &group.name).await?.is_empty() {
            // Schedules name groups by name: renaming one under them would
            // leave them pointing at nothing.
            return Ok(GroupWritten::NameTaken);
        }
    }
    let stages = patch.stages.unwrap_or(group.stages);
    let updated = sqlx::query_as::<_, GroupRow>(concat!(
        "UPDATE machine_groups SET name = $2, stages = $3, updated_at = $4 WHERE id = $1 \
         RETURNING ",
        group_columns!()
    ))
    .bind(group.id)
    .bind(&new_name)
    .bind(json_text(&stages))
    .bind(to_ms(now))
    .fetch_one(&mut **tx)
    .await;
    match updated {
        Ok(row) => Ok(GroupWritten::Done(Group::try_from(row)?)),
        // Taken by a transaction that committed after the check above.
        Err(e) if is_unique_violation(&e) => Ok(GroupWritten::NameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Schedules and windows that target the group `name`, by name.
async fn users(tx: &mut Tx, name: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM schedules \
         WHERE window_id IS NULL AND (targets::jsonb ->> 'group') = $1 \
         UNION ALL SELECT name FROM windows WHERE (targets::jsonb ->> 'group') = $1 \
         ORDER BY 1",
    )
    .bind(name)
    .fetch_all(&mut **tx)
    .await?;
    Ok(names.into_iter().map(|(n,)| n).collect())
}

/// Removes a group no schedule or window targets.
pub(super) async fn delete(tx: &mut Tx, name: &str) -> Result<GroupRemoved, StoreError> {
    if lock_group(tx, name).await?.is_none() {
        return Ok(GroupRemoved::NotFound);
    }
    let users = users(tx, name).await?;
    if !users.is_empty() {
        return Ok(GroupRemoved::InUse(users));
    }
    sqlx::query("DELETE FROM machine_groups WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(GroupRemoved::Removed)
}

/// Stores a run and its jobs; for the scheduler's firings too.
pub(super) async fn start_run_in(
    tx: &mut Tx,
    run: NewRun,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<RunStarted, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO group_runs (group_name, action, wait, steps, schedule_id, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(&run.group)
    .bind(run.action.as_str())
    .bind(run.wait.as_str())
    .bind(json_text(&run.steps))
    .bind(run.schedule_id)
    .bind(to_ms(now))
    .fetch_one(&mut **tx)
    .await?;
    let (jobs, steps): (Vec<NewJob>, Vec<u32>) = run.jobs.into_iter().unzip();
    let jobs = match submit_batch_in(tx, jobs, Some((id, steps)), now, fx).await? {
        Ok(submitted) => submitted.into_iter().map(|s| s.job).collect(),
        // A run's jobs depend only on each other.
        Err(refused) => return Err(StoreError::Refused(refused)),
    };
    let stored = fetch_run(tx, id, false)
        .await?
        .ok_or_else(|| StoreError::Db(format!("group run {id} went as it was made").into()))?;
    Ok(RunStarted { run: stored, jobs })
}

/// Adds `jobs` to run `id` if it has had `resumes` resumes and no job of it
/// is unfinished; otherwise `Stale`.
pub(super) async fn resume(
    tx: &mut Tx,
    id: i64,
    resumes: u32,
    jobs: Vec<(NewJob, u32)>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<RunResumed, StoreError> {
    // Locked first: a second resume of the same count waits here, then
    // reads the count the first left.
    let Some(run) = fetch_run(tx, id, true).await? else {
        return Ok(RunResumed::NotFound);
    };
    let (unfinished,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE group_run = $1 \
         AND state IN ('blocked', 'queued', 'running', 'waiting'))",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if run.resumes != resumes || unfinished {
        return Ok(RunResumed::Stale);
    }
    let counted = sqlx::query(
        "UPDATE group_runs SET resumes = resumes + 1, updated_at = $2 \
         WHERE id = $1 AND resumes = $3",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(i64::from(resumes))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if counted == 0 {
        return Ok(RunResumed::Stale);
    }
    let (jobs, steps): (Vec<NewJob>, Vec<u32>) = jobs.into_iter().unzip();
    let jobs = match submit_batch_in(tx, jobs, Some((id, steps)), now, fx).await? {
        Ok(submitted) => submitted.into_iter().map(|s| s.job).collect::<Vec<Job>>(),
        Err(refused) => return Err(StoreError::Refused(refused)),
    };
    let run = fetch_run(tx, id, false)
        .await?
        .ok_or_else(|| StoreError::Db(format!("group run {id} went while locked").into()))?;
    Ok(RunResumed::Resumed(RunStarted { run, jobs }))
}

/// A run as `tx` sees it; locked `FOR UPDATE` until the commit when `lock`.
async fn fetch_run(tx: &mut Tx, id: i64, lock: bool) -> Result<Option<GroupRun>, StoreError> {
    const RUN: &str = concat!("SELECT ", run_columns!(), " FROM group_runs WHERE id = $1");
    const LOCKED: &str = concat!(
        "SELECT ",
        run_columns!(),
        " FROM group_runs WHERE id = $1 FOR UPDATE"
    );
    let row: Option<GroupRunRow> = sqlx::query_as(if lock { LOCKED } else { RUN })
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(GroupRun::try_from).transpose()
}
