//! Schedules in SQLite: schedules, windows (each with its two derived
//! schedules), overrides, the firings of both and enforcement's passes,
//! written by the writer in its batch; and their reads.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::jobs::{EncodedJob, submit_in};
use super::tx::{Effects, Reply, Tx, pending};
use crate::group::StepAction;
use crate::job::{JobId, NewEvent};
use crate::schedule::firing::{
    FireResult, FiringAction, FiringEntry, FiringOutcome, FiringPlan, WHOLE_FIRING,
};
use crate::schedule::spec::{OverlapPolicy, WindowEdge};
use crate::schedule::window::OverrideMode;
use crate::store::groups::NewRun;
use crate::store::rows::to_ms;
use crate::store::schedules::{ScheduleRow, WindowRow, Written};
use crate::store::{Cause, StoreError};

/// A write to a schedule (not one a window derived, unless said). Each
/// variant carries the arguments of the `Store` method of its name
/// (documented there) and `reply`, where its answer goes after the commit.
pub(super) enum ScheduleCommand {
    Create {
        row: Box<ScheduleRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    Update {
        id: i64,
        row: Box<ScheduleRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    /// Pause (`next_fire_at` None) or resume (`Some`).
    SetEnabled {
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    Delete {
        id: i64,
        reply: Reply<Written<i64>>,
    },
    /// A firing of any schedule, a window's derived ones included; with
    /// the group run it makes, for a group-targeted schedule.
    Fire {
        plan: Box<FiringPlan>,
        run: Option<Box<NewRun>>,
        now: DateTime<Utc>,
        reply: Reply<FireResult>,
    },
}

/// A write to a window, its derived schedules or its overrides; the
/// variants carry what [`ScheduleCommand`]'s do.
pub(super) enum WindowCommand {
    Create {
        row: Box<WindowRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    Update {
        id: i64,
        row: Box<WindowRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    Delete {
        id: i64,
        reply: Reply<Written<i64>>,
    },
    /// Enforcement's pass over a window: firings recorded against its stop schedule.
    Enforce {
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: Box<FiringPlan>,
        /// The stop run of a group-targeted window.
        run: Option<Box<NewRun>>,
        now: DateTime<Utc>,
        reply: Reply<FireResult>,
    },
    AddOverride {
        window_id: i64,
        machine_id: String,
        mode: OverrideMode,
        until: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    DeleteOverride {
        window_id: i64,
        id: i64,
        reply: Reply<Written<i64>>,
    },
}

/// Applies one schedule command in the batch's transaction; its answer
/// goes into `fx.pending`. `next_id` is the writer's next job id, for the
/// jobs a firing makes.
pub(super) fn apply_schedule(
    tx: &Tx<'_>,
    command: ScheduleCommand,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        ScheduleCommand::Create { row, now, reply } => {
            let result = if name_taken(tx, &row.name, None, None)? {
                Written::NameTaken
            } else {
                Written::Done(insert_schedule(tx, &row, now)?)
            };
            answer(fx, reply, result);
        }
        ScheduleCommand::Update {
            id,
            row,
            now,
            reply,
        } => {
            let result = if name_taken(tx, &row.name, Some(id), None)? {
                Written::NameTaken
            } else {
                written(id, update_schedule(tx, id, &row, now)?)
            };
            answer(fx, reply, result);
        }
        ScheduleCommand::SetEnabled {
            id,
            next_fire_at,
            now,
            reply,
        } => answer(fx, reply, set_enabled(tx, id, next_fire_at, now)?),
        ScheduleCommand::Delete { id, reply } => {
            tx.execute("DELETE FROM firings WHERE schedule_id = ?1", [id])?;
            let n = tx.execute(
                "DELETE FROM schedules WHERE id = ?1 AND window_id IS NULL",
                [id],
            )?;
            answer(fx, reply, written(id, n));
        }
        ScheduleCommand::Fire {
            plan,
            run,
            now,
            reply,
        } => {
            let result = fire(tx, &plan, run.map(|r| *r), now, next_id, fx)?;
            fx.wake |= !result.enqueued.is_empty();
            fx.pending.push(pending(reply, result));
        }
    }
    Ok(())
}

/// Applies one window command in the batch's transaction, as
/// [`apply_schedule`] does.
pub(super) fn apply_window(
    tx: &Tx<'_>,
    command: WindowCommand,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        WindowCommand::Create { row, now, reply } => {
            answer(fx, reply, create_window(tx, &row, now)?);
        }
        WindowCommand::Update {
            id,
            row,
            now,
            reply,
        } => answer(fx, reply, update_window(tx, id, &row, now)?),
        WindowCommand::Delete { id, reply } => answer(fx, reply, delete_window(tx, id)?),
        WindowCommand::Enforce {
            window_id,
            expected_next,
            next_enforce_at,
            plan,
            run,
            now,
            reply,
        } => {
            let result = if advance_enforcement(tx, window_id, expected_next, next_enforce_at)? {
                record_firings(tx, &plan, run.map(|r| *r), now, next_id, fx)?
            } else {
                FireResult::default()
            };
            fx.wake |= !result.enqueued.is_empty();
            fx.pending.push(pending(reply, result));
        }
        WindowCommand::AddOverride {
            window_id,
            machine_id,
            mode,
            until,
            reason,
            now,
            reply,
        } => {
            let added = add_override(tx, window_id, &machine_id, mode, until, reason, now)?;
            answer(fx, reply, added);
        }
        WindowCommand::DeleteOverride {
            window_id,
            id,
            reply,
        } => {
            let n = tx.execute(
                "DELETE FROM window_overrides WHERE id = ?1 AND window_id = ?2",
                params![id, window_id],
            )?;
            answer(fx, reply, written(id, n));
        }
    }
    Ok(())
}

/// Answers a write that names a thing; one that changed something tells
/// the scheduler to look again.
fn answer(fx: &mut Effects, reply: Reply<Written<i64>>, result: Written<i64>) {
    fx.schedules_changed |= matches!(result, Written::Done(_));
    fx.pending.push(pending(reply, result));
}

/// `Done(id)` when a write touched a row, `NotFound` otherwise.
fn written(id: i64, changed: usize) -> Written<i64> {
    if changed == 0 {
        Written::NotFound
    } else {
        Written::Done(id)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Whether another schedule (not a window's) or window has `name`.
fn name_taken(
    tx: &Tx<'_>,
    name: &str,
    except_schedule: Option<i64>,
    except_window: Option<i64>,
) -> Result<bool, StoreError> {
    let schedules: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM schedules WHERE name = ?1 AND id IS NOT ?2 AND window_id IS NULL",
        )?
        .query_row(params![name, except_schedule], |r| r.get(0))?;
    let windows: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM windows WHERE name = ?1 AND id IS NOT ?2")?
        .query_row(params![name, except_window], |r| r.get(0))?;
    Ok(schedules + windows > 0)
}

/// The columns both writes of a schedule set from its row, in the order of
/// the first eleven parameters of `insert_schedule` and `update_schedule`.
fn schedule_columns(row: &ScheduleRow) -> Vec<SqlValue> {
    vec![
        row.name.clone().into(),
        row.cron.clone().into(),
        row.timezone.clone().into(),
        row.template.to_string().into(),
        row.targets.to_string().into(),
        row.enabled.into(),
        i64::from(row.jitter_seconds).into(),
        row.exclusions.to_string().into(),
        row.misfire.as_str().to_string().into(),
        ((row.catch_up_seconds * 1000) as i64).into(),
        row.overlap.as_str().to_string().into(),
    ]
}

/// The columns both writes of a window set, in the order of the first nine
/// parameters of its insert and update (the ninth, `now`, is `updated_at`).
fn window_columns(row: &WindowRow, now: DateTime<Utc>) -> Vec<SqlValue> {
    vec![
        row.name.clone().into(),
        row.spec.to_string().into(),
        row.targets.to_string().into(),
        row.exclusions.to_string().into(),
        row.enforce.into(),
        ((row.enforce_interval_seconds * 1000) as i64).into(),
        row.next_enforce_at.map(to_ms).into(),
        row.enabled.into(),
        to_ms(now).into(),
    ]
}

fn insert_schedule(tx: &Tx<'_>, row: &ScheduleRow, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let mut values = schedule_columns(row);
    values.extend([
        row.window_id.into(),
        row.window_edge.map(|e| e.as_str().to_string()).into(),
        row.next_fire_at.map(to_ms).into(),
        to_ms(now).into(),
    ]);
    Ok(tx
        .prepare_cached(
            "INSERT INTO schedules (name, cron, timezone, template, targets, enabled, jitter_seconds, \
             exclusions, misfire, catch_up_ms, overlap, window_id, window_edge, next_fire_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15) RETURNING id",
        )?
        .query_row(params_from_iter(values), |r| r.get(0))?)
}

fn update_schedule(
    tx: &Tx<'_>,
    id: i64,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut values = schedule_columns(row);
    values.extend([
        row.next_fire_at.map(to_ms).into(),
        to_ms(now).into(),
        id.into(),
    ]);
    Ok(tx
        .prepare_cached(
            "UPDATE schedules SET name = ?1, cron = ?2, timezone = ?3, template = ?4, targets = ?5, \
             enabled = ?6, jitter_seconds = ?7, exclusions = ?8, misfire = ?9, catch_up_ms = ?10, \
             overlap = ?11, next_fire_at = ?12, updated_at = ?13 WHERE id = ?14",
        )?
        .execute(params_from_iter(values))?)
}

fn set_enabled(
    tx: &Tx<'_>,
    id: i64,
    next_fire_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    let n = tx.execute(
        "UPDATE schedules SET enabled = ?1, next_fire_at = ?2, updated_at = ?3 WHERE id = ?4",
        params![
            next_fire_at.is_some(),
            next_fire_at.map(to_ms),
            to_ms(now),
            id
        ],
    )?;
    Ok(written(id, n))
}

/// Records a firing plan if its schedule still expects it (its
/// `next_fire_at` is the plan's `expected_next`); otherwise, someone else
/// fired it first, and nothing happens.
fn fire(
    tx: &Tx<'_>,
    plan: &FiringPlan,
    run: Option<NewRun>,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<FireResult, StoreError> {
    let current: Option<i64> = tx
        .prepare_cached("SELECT next_fire_at FROM schedules WHERE id = ?1")?
        .query_row([plan.schedule_id], |r| r.get(0))
        .optional()?
        .flatten();
    if current != Some(to_ms(plan.expected_next)) {
        return Ok(FireResult::default());
    }
    tx.prepare_cached("UPDATE schedules SET next_fire_at = ?1 WHERE id = ?2")?
        .execute(params![plan.next_fire_at.map(to_ms), plan.schedule_id])?;
    record_firings(tx, plan, run, now, next_id, fx)
}

/// Moves a window's next enforcement on if it still expects this one (its
/// `next_enforce_at` is `expected_next`); whether it did, and so whether
/// the pass's firings are to be recorded.
fn advance_enforcement(
    tx: &Tx<'_>,
    window_id: i64,
    expected_next: DateTime<Utc>,
    next_enforce_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let current: Option<i64> = tx
        .prepare_cached("SELECT next_enforce_at FROM windows WHERE id = ?1")?
        .query_row([window_id], |r| r.get(0))
        .optional()?
        .flatten();
    if current != Some(to_ms(expected_next)) {
        return Ok(false);
    }
    tx.prepare_cached("UPDATE windows SET next_enforce_at = ?1 WHERE id = ?2")?
        .execute(params![next_enforce_at.map(to_ms), window_id])?;
    Ok(true)
}

/// A window and its two derived schedules, unless the name is taken.
fn create_window(
    tx: &Tx<'_>,
    row: &WindowRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    if name_taken(tx, &row.name, None, None)? {
        return Ok(Written::NameTaken);
    }
    let id: i64 = tx.query_row(
        "INSERT INTO windows (name, spec, targets, exclusions, enforce, enforce_interval_ms, \
         next_enforce_at, enabled, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING id",
        params_from_iter(window_columns(row, now)),
        |r| r.get(0),
    )?;
    for edge in [&row.start, &row.stop] {
        let mut edge = edge.clone();
        edge.window_id = Some(id);
        insert_schedule(tx, &edge, now)?;
    }
    Ok(Written::Done(id))
}

/// A window and its derived schedules (made again if missing), unless the
/// name is taken.
fn update_window(
    tx: &Tx<'_>,
    id: i64,
    row: &WindowRow,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    if name_taken(tx, &row.name, None, Some(id))? {
        return Ok(Written::NameTaken);
    }
    let n = tx.execute(
        "UPDATE windows SET name = ?1, spec = ?2, targets = ?3, exclusions = ?4, \
         enforce = ?5, enforce_interval_ms = ?6, next_enforce_at = ?7, enabled = ?8, \
         updated_at = ?9 WHERE id = ?10",
        params_from_iter(window_columns(row, now).into_iter().chain([id.into()])),
    )?;
    if n == 0 {
        return Ok(Written::NotFound);
    }
    for edge in [&row.start, &row.stop] {
        let existing: Option<i64> = tx
            .prepare_cached("SELECT id FROM schedules WHERE window_id = ?1 AND window_edge = ?2")?
            .query_row(params![id, edge.window_edge.map(WindowEdge::as_str)], |r| {
                r.get(0)
            })
            .optional()?;
        let mut edge = edge.clone();
        edge.window_id = Some(id);
        match existing {
            Some(sid) => {
                update_schedule(tx, sid, &edge, now)?;
            }
            None => {
                insert_schedule(tx, &edge, now)?;
            }
        }
    }
    Ok(Written::Done(id))
}

/// A window with its derived schedules, their firings and its overrides.
fn delete_window(tx: &Tx<'_>, id: i64) -> Result<Written<i64>, StoreError> {
    tx.execute(
        "DELETE FROM firings WHERE schedule_id IN (SELECT id FROM schedules WHERE window_id = ?1)",
        [id],
    )?;
    tx.execute("DELETE FROM schedules WHERE window_id = ?1", [id])?;
    tx.execute("DELETE FROM window_overrides WHERE window_id = ?1", [id])?;
    let n = tx.execute("DELETE FROM windows WHERE id = ?1", [id])?;
    Ok(written(id, n))
}

fn add_override(
    tx: &Tx<'_>,
    window_id: i64,
    machine_id: &str,
    mode: OverrideMode,
    until: DateTime<Utc>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Written<i64>, StoreError> {
    let exists: Option<i64> = tx
        .query_row("SELECT id FROM windows WHERE id = ?1", [window_id], |r| {
            r.get(0)
        })
        .optional()?;
    if exists.is_none() {
        return Ok(Written::NotFound);
    }
    let id: i64 = tx.query_row(
        "INSERT INTO window_overrides (window_id, machine_id, mode, until, reason, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            window_id,
            machine_id,
            mode.as_str(),
            to_ms(until),
            reason,
            to_ms(now)
        ],
        |r| r.get(0),
    )?;
    Ok(Written::Done(id))
}

/// Records each entry of a plan as a firing (once: a firing already
/// recorded is a duplicate) and submits the jobs of those that enqueue;
/// `run`, a group run the plan's `InRun` entries belong to, is stored
/// first (or skipped whole, [`start_firing_run`]).
fn record_firings(
    tx: &Tx<'_>,
    plan: &FiringPlan,
    run: Option<NewRun>,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<FireResult, StoreError> {
    let mut result = FireResult {
        applied: true,
        ..FireResult::default()
    };
    let mut run = match run {
        Some(run) => Some(start_firing_run(tx, plan, run, now, next_id, fx)?),
        None => None,
    };
    for entry in &plan.entries {
        let action = overlap_skip(tx, plan, entry)?.unwrap_or_else(|| entry.action.clone());
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
                if !insert_firing(tx, plan, entry, outcome, reason.as_deref(), job_id, now)? {
                    result.duplicates += 1;
                } else if let Some(id) = job_id {
                    result.enqueued.push(id);
                } else {
                    result.skipped += 1;
                }
                continue;
            }
        };
        let job_id = job.as_ref().map(|_| *next_id);
        if !insert_firing(tx, plan, entry, outcome, reason.as_deref(), job_id, now)? {
            result.duplicates += 1;
            continue;
        }
        let Some(job) = job else {
            result.skipped += 1;
            continue;
        };
        let submitted = submit_in(tx, next_id, EncodedJob::new(*job), now, &mut fx.events)?;
        debug_assert_eq!(Some(submitted.job.id), job_id);
        fx.events.push((
            submitted.job.id,
            to_ms(now),
            NewEvent::note(format!(
                "made by schedule {} for its firing at {}{}",
                plan.schedule_id,
                entry.fire_at.to_rfc3339(),
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            )),
        ));
        result.enqueued.push(submitted.job.id);
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
fn start_firing_run(
    tx: &Tx<'_>,
    plan: &FiringPlan,
    run: NewRun,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<FiringRun, StoreError> {
    let members: Vec<&FiringEntry> = plan
        .entries
        .iter()
        .filter(|e| matches!(e.action, FiringAction::InRun { .. }))
        .collect();
    for entry in &members {
        let recorded: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM firings WHERE schedule_id = ?1 AND fire_at = ?2 AND target = ?3)",
            )?
            .query_row(
                params![plan.schedule_id, to_ms(entry.fire_at), entry.target],
                |r| r.get(0),
            )?;
        if recorded {
            return Ok(FiringRun::Skipped(format!(
                "this firing was already recorded for {}; its group run is not made twice",
                entry.target
            )));
        }
    }
    for entry in &members {
        if let Some(FiringAction::Skip { reason }) = overlap_skip(tx, plan, entry)? {
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
    let started = super::groups::start_run_in(tx, next_id, run, now, fx)?;
    let mut machines: HashMap<String, JobId> = HashMap::new();
    let mut others = Vec::new();
    for job in &started.jobs {
        fx.events.push((
            job.id,
            to_ms(now),
            NewEvent::note(format!(
                "made by schedule {} for its firing at {}: step {} of run {} of group {group}",
                schedule_id.unwrap_or(plan.schedule_id),
                members.first().map_or(now, |e| e.fire_at).to_rfc3339(),
                job.group_step.unwrap_or_default(),
                started.run.id,
            )),
        ));
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
fn insert_firing(
    tx: &Tx<'_>,
    plan: &FiringPlan,
    entry: &FiringEntry,
    outcome: FiringOutcome,
    reason: Option<&str>,
    job_id: Option<JobId>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO firings (schedule_id, fire_at, target, outcome, reason, job_id, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            plan.schedule_id,
            to_ms(entry.fire_at),
            entry.target,
            outcome.as_str(),
            reason,
            job_id,
            to_ms(now),
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Db(Cause::from("duplicate firing"))
            } else {
                e.into()
            }
        })?;
    Ok(inserted > 0)
}

/// Under the overlap policy `skip`, an entry that would enqueue while the
/// job of its target's previous firing is unfinished is skipped instead.
fn overlap_skip(
    tx: &Tx<'_>,
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
    let previous: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT j.id, j.state FROM firings f JOIN jobs j ON j.id = f.job_id \
             WHERE f.schedule_id = ?1 AND f.target = ?2 AND f.fire_at < ?3 \
             AND j.state IN ('blocked', 'queued', 'running', 'waiting') ORDER BY f.fire_at DESC LIMIT 1",
        )?
        .query_row(
            params![plan.schedule_id, entry.target, to_ms(entry.fire_at)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(previous.map(|(id, state)| FiringAction::Skip {
        reason: format!(
            "overlap: job {id} from the previous firing is still {state} (overlap policy: skip)"
        ),
    }))
}
