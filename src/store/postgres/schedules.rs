//! Schedules in PostgreSQL: what the writes of schedules, windows (each
//! with its two derived schedules), overrides, firings and enforcement's
//! passes do inside their transaction. The operations (`ops/schedules.rs`)
//! begin and commit the transaction around them.
//!
//! The outcomes are the SQLite driver's (`sqlite/schedules.rs`), which had
//! one writer; here several daemons write at once, so each read that a
//! write depends on is made safe:
//!
//! - **Names** are unique across schedules (not a window's) and windows,
//!   two tables no single constraint covers: the writes that claim a name
//!   hold a transaction-scoped advisory lock ([`lock_names`]) while they
//!   check and write it.
//! - **A firing or an enforcement pass** moves its schedule's
//!   `next_fire_at` (window's `next_enforce_at`) on with an `UPDATE … WHERE`
//!   the value it was planned from: under READ COMMITTED a concurrent
//!   transaction doing the same waits on the row lock, then sees the moved
//!   value and changes nothing, so only one of two daemons applies the plan.
//!   The row lock is held to the commit, so the firings of one schedule are
//!   recorded one transaction at a time (the overlap check reads a
//!   consistent previous firing).
//! - **Each firing row** is inserted `ON CONFLICT DO NOTHING` on its key
//!   (schedule, fire time, target) *before* its job is submitted: a firing
//!   already recorded (by another pass, or another daemon) submits nothing
//!   and counts as a duplicate, as SQLite answers. Job ids come from the
//!   table's identity, unknown before the submit, so the job's id is set on
//!   the firing row after it.
//! - **Lock order**: a window's row before its derived schedules' rows
//!   (enforcement, a window's update and its delete all go that way; a
//!   firing row's foreign key share-locks its schedule's row), so two of
//!   them wait for each other rather than deadlock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

use super::jobs::{insert_event, submit_in};
use super::tx::{Effects, Tx};
use crate::group::StepAction;
use crate::job::{JobId, NewEvent};
use crate::schedule::firing::{
    FireResult, FiringAction, FiringEntry, FiringOutcome, FiringPlan, WHOLE_FIRING,
};
use crate::schedule::spec::{OverlapPolicy, WindowEdge};
use crate::schedule::window::OverrideMode;
use crate::store::StoreError;
use crate::store::groups::NewRun;
use crate::store::rows::to_ms;
use crate::store::schedules::{ScheduleRow, WindowRow, Written};

/// The advisory lock key of the names of schedules and windows ("machname"):
/// taken by every write that checks a name is free before writing it.
const NAMES_LOCK: i64 = 0x6d61_6368_6e61_6d65;

/// `Done(id)` when a write touched a row, `NotFound` otherwise.
pub(super) fn written(id: i64, changed: u64) -> Written<i64> {
    if changed == 0 {
        Written::NotFound
    } else {
        Written::Done(id)
    }
}

/// Serializes the writes that claim a name until the transaction ends: two
/// daemons creating a schedule and a window of the same name would each
/// find it free otherwise (and two schedules of the same name would fail on
/// the unique index, a 500 where SQLite answers `NameTaken`).
async fn lock_names(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(NAMES_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether another schedule (not a window's) or window has `name`; call
/// under [`lock_names`].
async fn name_taken(
    tx: &mut Tx,
    name: &str,
    except_schedule: Option<i64>,
    except_window: Option<i64>,
) -> Result<bool, StoreError> {
    let (taken,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM schedules WHERE name = $1 AND id IS DISTINCT FROM $2 \
         AND window_id IS NULL) \
         OR EXISTS (SELECT 1 FROM windows WHERE name = $1 AND id IS DISTINCT FROM $3)",
    )
    .bind(name)
    .bind(except_schedule)
    .bind(except_window)
    .fetch_one(&mut **tx)
    .await?;
    Ok(taken)
}

/// Binds the columns both writes of a schedule set from its row, as the
/// parameters `$1`…`$11` of [`insert_schedule`] and [`update_schedule`].
fn bind_schedule<'q>(
    query: Query<'q, sqlx::Postgres, PgArguments>,
    row: &ScheduleRow,
) -> Query<'q, sqlx::Postgres, PgArguments> {
    query
        .bind(row.name.clone())
        .bind(row.cron.clone())
        .bind(row.timezone.clone())
        .bind(row.template.to_string())
        .bind(row.targets.to_string())
        .bind(row.enabled)
        .bind(i64::from(row.jitter_seconds))
        .bind(row.exclusions.to_string())
        .bind(row.misfire.as_str())
        .bind((row.catch_up_seconds * 1000) as i64)
        .bind(row.overlap.as_str())
}

/// Binds the columns both writes of a window set, as the parameters
/// `$1`…`$9` of its insert and update (the ninth, `now`, is `updated_at`).
fn bind_window<'q>(
    query: Query<'q, sqlx::Postgres, PgArguments>,
    row: &WindowRow,
    now: DateTime<Utc>,
) -> Query<'q, sqlx::Postgres, PgArguments> {
    query
        .bind(row.name.clone())
        .bind(row.spec.to_string())
        .bind(row.targets.to_string())
        .bind(row.exclusions.to_string())
        .bind(row.enforce)
        .bind((row.enforce_interval_seconds * 1000) as i64)
        .bind(row.next_enforce_at.map(to_ms))
        .bind(row.enabled)
        .bind(to_ms(now))
}

async fn insert_schedule(
    tx: &mut Tx,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let query = sqlx::query(
        "INSERT INTO schedules (name, cron, timezone, template, targets, enabled, jitter_seconds, \
         exclusions, misfire, catch_up_ms, overlap, window_id, window_edge, next_fire_at, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
    );
    let id: i64 = bind_schedule(query, row)
        .bind(row.window_id)
        .bind(row.window_edge.map(WindowEdge::as_str))
        .bind(row.next_fire_at.map(to_ms))
        .bind(to_ms(now))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
    Ok(id)
}

async fn update_schedule(
    tx: &mut Tx,
    id: i64,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let query = sqlx::query(
        "UPDATE schedules SET name = $1, cron = $2, timezone = $3, template = $4, targets = $5, \
         enabled = $6, jitter_seconds = $7, exclusions = $8, misfire = $9, catch_up_ms = $10, \
         overlap = $11, next_fire_at = $12, updated_at = $13 WHERE id = $14",
    );
    Ok(bind_schedule(query, row)
        .bind(row.next_fire_at.map(to_ms))
        .bind(to_ms(now))
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// A schedule of its own, unless the name is taken.
pub(super) async fn create_schedule(
    tx: &mut Tx,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    lock_names(tx).await?;
    if name_taken(tx, &row.name, None, None).await? {
        return Ok(Written::NameTaken);
    }
    Ok(Written::Done(insert_schedule(tx, row, now).await?))
}

/// A schedule's new row, unless the name is another's.
pub(super) async fn edit_schedule(
    tx: &mut Tx,
    id: i64,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    lock_names(tx).await?;
    if name_taken(tx, &row.name, Some(id), None).await? {
        return Ok(Written::NameTaken);
    }
    Ok(written(id, update_schedule(tx, id, row, now).await?))
}

/// Pauses (`next_fire_at` None) or resumes (`Some`) a schedule.
pub(super) async fn set_enabled(
    tx: &mut Tx,
    id: i64,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    let n = sqlx::query(
        "UPDATE schedules SET enabled = $1, next_fire_at = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(next_fire_at.is_some())
    .bind(next_fire_at.map(to_ms))
    .bind(to_ms(now))
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(written(id, n))
}

/// A schedule (not one a window derived) and its firings.
pub(super) async fn delete_schedule(tx: &mut Tx, id: i64) -> Result<Written<i64>, StoreError> {
    // As SQLite does: the firings go first, by the id alone.
    sqlx::query("DELETE FROM firings WHERE schedule_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let n = sqlx::query("DELETE FROM schedules WHERE id = $1 AND window_id IS NULL")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written(id, n))
}

/// Records a firing plan if its schedule still expects it (its
/// `next_fire_at` is the plan's `expected_next`); otherwise someone else
/// fired it first (or it was edited), and nothing happens.
pub(super) async fn fire(
    tx: &mut Tx,
    plan: &FiringPlan,
    run: Option<NewRun>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<FireResult, StoreError> {
    // Conditional on the value planned from: of two daemons firing the same
    // due time, the second waits on the row lock, then finds the value moved
    // and updates nothing (see the module doc).
    let moved =
        sqlx::query("UPDATE schedules SET next_fire_at = $1 WHERE id = $2 AND next_fire_at = $3")
            .bind(plan.next_fire_at.map(to_ms))
            .bind(plan.schedule_id)
            .bind(to_ms(plan.expected_next))
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if moved == 0 {
        return Ok(FireResult::default());
    }
    record_firings(tx, plan, run, now, fx).await
}

/// Moves a window's next enforcement on if it still expects this pass (its
/// `next_enforce_at` is `expected_next`); whether it did, and so whether
/// the pass's firings are to be recorded ([`record_firings`]).
pub(super) async fn advance_enforcement(
    tx: &mut Tx,
    window_id: i64,
    expected_next: DateTime<Utc>,
    next_enforce_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    // Conditional on the value read, as in `fire`: one daemon's pass only.
    let moved = sqlx::query(
        "UPDATE windows SET next_enforce_at = $1 WHERE id = $2 AND next_enforce_at = $3",
    )
    .bind(next_enforce_at.map(to_ms))
    .bind(window_id)
    .bind(to_ms(expected_next))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(moved > 0)
}

/// A window and its two derived schedules, unless the name is taken.
pub(super) async fn create_window(
    tx: &mut Tx,
    row: &WindowRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    lock_names(tx).await?;
    if name_taken(tx, &row.name, None, None).await? {
        return Ok(Written::NameTaken);
    }
    let query = sqlx::query(
        "INSERT INTO windows (name, spec, targets, exclusions, enforce, enforce_interval_ms, \
         next_enforce_at, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    );
    let id: i64 = bind_window(query, row, now)
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
    for edge in [&row.start, &row.stop] {
        let mut edge = edge.clone();
        edge.window_id = Some(id);
        insert_schedule(tx, &edge, now).await?;
    }
    Ok(Written::Done(id))
}

/// A window and its derived schedules (made again if missing), unless the
/// name is taken.
pub(super) async fn update_window(
    tx: &mut Tx,
    id: i64,
    row: &WindowRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    lock_names(tx).await?;
    if name_taken(tx, &row.name, None, Some(id)).await? {
        return Ok(Written::NameTaken);
    }
    // The update locks the window's row to the commit, so two updates of
    // one window find and write its derived schedules one after the other.
    let query = sqlx::query(
        "UPDATE windows SET name = $1, spec = $2, targets = $3, exclusions = $4, \
         enforce = $5, enforce_interval_ms = $6, next_enforce_at = $7, enabled = $8, \
         updated_at = $9 WHERE id = $10",
    );
    let n = bind_window(query, row, now)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(Written::NotFound);
    }
    for edge in [&row.start, &row.stop] {
        let existing: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM schedules WHERE window_id = $1 AND window_edge = $2")
                .bind(id)
                .bind(edge.window_edge.map(WindowEdge::as_str))
                .fetch_optional(&mut **tx)
                .await?;
        let mut edge = edge.clone();
        edge.window_id = Some(id);
        match existing {
            Some((sid,)) => {
                update_schedule(tx, sid, &edge, now).await?;
            }
            None => {
                insert_schedule(tx, &edge, now).await?;
            }
        }
    }
    Ok(Written::Done(id))
}

/// A window with its derived schedules, their firings and its overrides.
pub(super) async fn delete_window(tx: &mut Tx, id: i64) -> Result<Written<i64>, StoreError> {
    // The window's row first, as an enforcement pass (window, then its stop
    // schedule's row through the firing's foreign key) and an update
    // (window, then its schedules) lock them: deleting the schedules first
    // would deadlock with a pass in between.
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM windows WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    if found.is_none() {
        return Ok(Written::NotFound);
    }
    sqlx::query(
        "DELETE FROM firings WHERE schedule_id IN (SELECT id FROM schedules WHERE window_id = $1)",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM schedules WHERE window_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM window_overrides WHERE window_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let n = sqlx::query("DELETE FROM windows WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written(id, n))
}

/// An override of a window's hours for one machine, if the window exists.
pub(super) async fn add_override(
    tx: &mut Tx,
    window_id: i64,
    machine_id: &str,
    mode: OverrideMode,
    until: DateTime<Utc>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    // FOR KEY SHARE keeps the window from being deleted before the commit,
    // so the insert cannot fail on its foreign key (a 500 where the answer
    // is `NotFound` or `Done`); it does not block the window's updates.
    let exists: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM windows WHERE id = $1 FOR KEY SHARE")
            .bind(window_id)
            .fetch_optional(&mut **tx)
            .await?;
    if exists.is_none() {
        return Ok(Written::NotFound);
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO window_overrides (window_id, machine_id, mode, until, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(window_id)
    .bind(machine_id)
    .bind(mode.as_str())
    .bind(to_ms(until))
    .bind(reason)
    .bind(to_ms(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(Written::Done(id))
}

/// One of a window's overrides.
pub(super) async fn delete_override(
    tx: &mut Tx,
    window_id: i64,
    id: i64,
) -> Result<Written<i64>, StoreError> {
    let n = sqlx::query("DELETE FROM window_overrides WHERE id = $1 AND window_id = $2")
        .bind(id)
        .bind(window_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(written(id, n))
}

/// Records each entry of a plan as a firing (once: a firing already
/// recorded is a duplicate) and submits the jobs of those that enqueue;
/// `run`, a group run the plan's `InRun` entries belong to, is stored
/// first (or skipped whole, [`start_firing_run`]).
pub(super) async fn record_firings(
    tx: &mut Tx,
    plan: &FiringPlan,
    run: Option<NewRun>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<FireResult, StoreError> {
    let mut result = FireResult {
        applied: true,
        ..FireResult::default()
    };
    let mut run = match run {
        Some(run) => Some(start_firing_run(tx, plan, run, now, fx).await?),
        None => None,
    };
    for entry in &plan.entries {
        let action = match overlap_skip(tx, plan, entry).await? {
            Some(skip) => skip,
            None => entry.action.clone(),
        };
        let (outcome, reason, job) = match action {
            FiringAction::Enqueue {
                job,
                caught_up,
                reason,
            } => (
                if caught_up {
                    FiringOutcome::CaughtUp
                } else {
                    FiringOutcome::Enqueued
                },
                reason,
                Some(job),
            ),
            FiringAction::Skip { reason } => (FiringOutcome::Skipped, Some(reason), None),
            FiringAction::InRun { caught_up, reason } => {
                let job_id = match &mut run {
                    Some(FiringRun::Started { machines, .. }) => machines.remove(&entry.target),
                    _ => None,
                };
                let (outcome, reason) = match (job_id, &run) {
                    (Some(_), _) if caught_up => (FiringOutcome::CaughtUp, reason),
                    (Some(_), _) => (FiringOutcome::Enqueued, reason),
                    (None, Some(FiringRun::Skipped(why))) => {
                        (FiringOutcome::Skipped, Some(why.clone()))
                    }
                    (None, _) => (
                        FiringOutcome::Skipped,
                        Some(format!("{} is in no step of the group's run", entry.target)),
                    ),
                };
                let recorded =
                    insert_firing(tx, plan, entry, outcome, reason.as_deref(), job_id, now).await?;
                if !recorded {
                    result.duplicates += 1;
                } else if let Some(id) = job_id {
                    result.enqueued.push(id);
                } else {
                    result.skipped += 1;
                }
                continue;
            }
        };
        // The firing's row first, its job after: a firing already recorded
        // (here or by another daemon) must not submit its job again.
        if !insert_firing(tx, plan, entry, outcome, reason.as_deref(), None, now).await? {
            result.duplicates += 1;
            continue;
        }
        let Some(job) = job else {
            result.skipped += 1;
            continue;
        };
        let submitted = submit_in(tx, *job, now, fx).await?;
        let job_id = submitted.job.id;
        sqlx::query(
            "UPDATE firings SET job_id = $1 WHERE schedule_id = $2 AND fire_at = $3 AND target = $4",
        )
        .bind(job_id)
        .bind(plan.schedule_id)
        .bind(to_ms(entry.fire_at))
        .bind(&entry.target)
        .execute(&mut **tx)
        .await?;
        let note = NewEvent::note(format!(
            "made by schedule {} for its firing at {}{}",
            plan.schedule_id,
            entry.fire_at.to_rfc3339(),
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        ));
        insert_event(tx, job_id, to_ms(now), &note).await?;
        result.enqueued.push(job_id);
    }
    // A run's jobs no entry names (a restart's stops) count as queued too.
    if let Some(FiringRun::Started { others, .. }) = run {
        result.enqueued.extend(others);
    }
    Ok(result)
}

/// What became of a firing's group run.
enum FiringRun {
    /// Stored: each machine's job the firing records (its start job for a
    /// restart), and the run's other jobs.
    Started {
        machines: HashMap<String, JobId>,
        others: Vec<JobId>,
    },
    /// Not stored; why, recorded for each of its machines.
    Skipped(String),
}

/// Stores the group run of a firing, unless the firing was already recorded
/// for one of its machines, or (under the overlap policy `skip`) one of its
/// machines' previous job of this schedule is unfinished: a run is one
/// thing, and its stages cannot go on without one of their machines, so it
/// is skipped whole rather than made with holes.
async fn start_firing_run(
    tx: &mut Tx,
    plan: &FiringPlan,
    run: NewRun,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<FiringRun, StoreError> {
    let members: Vec<&FiringEntry> = plan
        .entries
        .iter()
        .filter(|e| matches!(e.action, FiringAction::InRun { .. }))
        .collect();
    for entry in &members {
        let (recorded,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM firings WHERE schedule_id = $1 AND fire_at = $2 AND target = $3)",
        )
        .bind(plan.schedule_id)
        .bind(to_ms(entry.fire_at))
        .bind(&entry.target)
        .fetch_one(&mut **tx)
        .await?;
        if recorded {
            return Ok(FiringRun::Skipped(format!(
                "this firing was already recorded for {}; its group run is not made twice",
                entry.target
            )));
        }
    }
    for entry in &members {
        if let Some(FiringAction::Skip { reason }) = overlap_skip(tx, plan, entry).await? {
            return Ok(FiringRun::Skipped(format!(
                "{reason}, for {}: the group's run is skipped whole",
                entry.target
            )));
        }
    }
    let (group, schedule_id) = (run.group.clone(), run.schedule_id);
    let starts: Vec<usize> = run
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.action == StepAction::Start)
        .map(|(i, _)| i)
        .collect();
    let started = super::groups::start_run_in(tx, run, now, fx).await?;
    let mut machines: HashMap<String, JobId> = HashMap::new();
    let mut others = Vec::new();
    for job in &started.jobs {
        let note = NewEvent::note(format!(
            "made by schedule {} for its firing at {}: step {} of run {} of group {group}",
            schedule_id.unwrap_or(plan.schedule_id),
            members.first().map_or(now, |e| e.fire_at).to_rfc3339(),
            job.group_step.unwrap_or_default(),
            started.run.id,
        ));
        insert_event(tx, job.id, to_ms(now), &note).await?;
        let Some(machine) = job.machine_id.clone() else {
            continue;
        };
        // A machine has one job in a start or a stop; in a restart, its
        // start is the one the firing records (the end the firing wanted).
        let is_start = job
            .group_step
            .is_some_and(|s| starts.contains(&(s as usize)));
        match machines.get(&machine) {
            Some(&earlier) if is_start => {
                others.push(earlier);
                machines.insert(machine, job.id);
            }
            Some(_) => others.push(job.id),
            None => {
                machines.insert(machine, job.id);
            }
        }
    }
    Ok(FiringRun::Started { machines, others })
}

/// Inserts the row of one firing: its entry, outcome, reason and job; false
/// when that firing (schedule, time, target) was already recorded.
async fn insert_firing(
    tx: &mut Tx,
    plan: &FiringPlan,
    entry: &FiringEntry,
    outcome: FiringOutcome,
    reason: Option<&str>,
    job_id: Option<JobId>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // On the key alone: a firing recorded meanwhile by another daemon's
    // uncommitted transaction makes this one wait for it, then do nothing.
    let inserted = sqlx::query(
        "INSERT INTO firings (schedule_id, fire_at, target, outcome, reason, job_id, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (schedule_id, fire_at, target) DO NOTHING",
    )
    .bind(plan.schedule_id)
    .bind(to_ms(entry.fire_at))
    .bind(&entry.target)
    .bind(outcome.as_str())
    .bind(reason)
    .bind(job_id)
    .bind(to_ms(now))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// Under the overlap policy `skip`, an entry that would enqueue while the
/// job of its target's previous firing is unfinished is skipped instead.
async fn overlap_skip(
    tx: &mut Tx,
    plan: &FiringPlan,
    entry: &FiringEntry,
) -> Result<Option<FiringAction>, StoreError> {
    if !matches!(entry.action, FiringAction::Enqueue { .. })
        || plan.overlap != OverlapPolicy::Skip
        || entry.target == crate::schedule::target::NO_TARGET
        || entry.target == WHOLE_FIRING
    {
        return Ok(None);
    }
    // The job of this target's previous firing, if still unfinished.
    let previous: Option<(i64, String)> = sqlx::query_as(
        "SELECT j.id, j.state FROM firings f JOIN jobs j ON j.id = f.job_id \
         WHERE f.schedule_id = $1 AND f.target = $2 AND f.fire_at < $3 \
         AND j.state IN ('blocked', 'queued', 'running', 'waiting') ORDER BY f.fire_at DESC LIMIT 1",
    )
    .bind(plan.schedule_id)
    .bind(&entry.target)
    .bind(to_ms(entry.fire_at))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(previous.map(|(id, state)| FiringAction::Skip {
        reason: format!(
            "overlap: job {id} from the previous firing is still {state} (overlap policy: skip)"
        ),
    }))
}
