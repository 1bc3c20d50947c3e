//! Schedules, windows, overrides, firings and utilization in SQLite.
//!
//! Writes are [`ScheduleCommand`]s applied by the writer thread in its shared
//! transaction (see `store/writer.rs`); reads use the reader pool.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde_json::Value;
use sqlx::FromRow;
use tokio::sync::oneshot;

use super::rows::{from_ms, to_ms};
use super::{Store, StoreError};
use crate::job::{JobId, NewEvent};
use crate::machine::{MachineState, Utilization};
use crate::schedule::firing::{
    FireResult, Firing, FiringAction, FiringOutcome, FiringPlan, WHOLE_FIRING,
};
use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, Schedule, WindowEdge};
use crate::schedule::window::{Override, OverrideMode, Window};

use super::writer::Tx;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A schedule as it is written: everything but the id and times.
#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub template: Value,
    pub targets: Value,
    pub enabled: bool,
    pub jitter_seconds: u32,
    pub exclusions: Value,
    pub misfire: MisfirePolicy,
    pub catch_up_seconds: u64,
    pub overlap: OverlapPolicy,
    pub window_id: Option<i64>,
    pub window_edge: Option<WindowEdge>,
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// A window as it is written, with its two derived schedules.
#[derive(Debug, Clone)]
pub struct WindowRow {
    pub name: String,
    pub spec: Value,
    pub targets: Value,
    pub exclusions: Value,
    pub enforce: bool,
    pub enforce_interval_seconds: u64,
    pub enabled: bool,
    pub next_enforce_at: Option<DateTime<Utc>>,
    pub start: ScheduleRow,
    pub stop: ScheduleRow,
}

/// The result of a write that names a thing by id or name.
#[derive(Debug, Clone)]
pub enum Written<T> {
    Done(T),
    NotFound,
    /// The unique name is taken by another schedule or window.
    NameTaken,
}

/// A write to the schedule tables.
pub enum ScheduleCommand {
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
    Fire {
        plan: Box<FiringPlan>,
        now: DateTime<Utc>,
        reply: Reply<FireResult>,
    },
    CreateWindow {
        row: Box<WindowRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    UpdateWindow {
        id: i64,
        row: Box<WindowRow>,
        now: DateTime<Utc>,
        reply: Reply<Written<i64>>,
    },
    DeleteWindow {
        id: i64,
        reply: Reply<Written<i64>>,
    },
    /// Enforcement's pass over a window: firings recorded against its stop schedule.
    Enforce {
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: Box<FiringPlan>,
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
    SaveUtilization {
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
}

/// What a command asks of the writer's batch besides its answer.
pub(super) struct Effects {
    /// The scheduler should look again (a schedule changed).
    pub schedules_changed: bool,
    /// Jobs were queued.
    pub jobs_queued: bool,
}

/// The per-batch hooks the writer lends to schedule commands.
pub(super) struct Batch<'a> {
    pub next_id: &'a mut JobId,
    pub events: &'a mut Vec<(JobId, i64, NewEvent)>,
    pub pending: &'a mut Vec<super::writer::Pending>,
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

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

/// `Done(id)` when a write touched a row, `NotFound` otherwise.
fn written(id: i64, changed: usize) -> Written<i64> {
    if changed == 0 {
        Written::NotFound
    } else {
        Written::Done(id)
    }
}

/// Applies one schedule command; its answer goes into `batch.pending`.
pub(super) fn apply(
    tx: &Tx<'_>,
    command: ScheduleCommand,
    batch: &mut Batch<'_>,
) -> Result<Effects, StoreError> {
    use super::writer::pending;
    let mut fx = Effects {
        schedules_changed: false,
        jobs_queued: false,
    };
    match command {
        ScheduleCommand::Create { row, now, reply } => {
            let result = if name_taken(tx, &row.name, None, None)? {
                Written::NameTaken
            } else {
                fx.schedules_changed = true;
                Written::Done(insert_schedule(tx, &row, now)?)
            };
            batch.pending.push(pending(reply, result));
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
            fx.schedules_changed = matches!(result, Written::Done(_));
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::SetEnabled {
            id,
            next_fire_at,
            now,
            reply,
        } => {
            let n = tx.execute(
                "UPDATE schedules SET enabled = ?1, next_fire_at = ?2, updated_at = ?3 WHERE id = ?4",
                params![
                    next_fire_at.is_some(),
                    next_fire_at.map(to_ms),
                    to_ms(now),
                    id
                ],
            )?;
            fx.schedules_changed = n > 0;
            batch.pending.push(pending(reply, written(id, n)));
        }
        ScheduleCommand::Delete { id, reply } => {
            tx.execute("DELETE FROM firings WHERE schedule_id = ?1", [id])?;
            let n = tx.execute(
                "DELETE FROM schedules WHERE id = ?1 AND window_id IS NULL",
                [id],
            )?;
            fx.schedules_changed = n > 0;
            batch.pending.push(pending(reply, written(id, n)));
        }
        ScheduleCommand::Fire { plan, now, reply } => {
            let current: Option<i64> = tx
                .prepare_cached("SELECT next_fire_at FROM schedules WHERE id = ?1")?
                .query_row([plan.schedule_id], |r| r.get(0))
                .optional()?
                .flatten();
            let result = if current != Some(to_ms(plan.expected_next)) {
                FireResult::default()
            } else {
                tx.prepare_cached("UPDATE schedules SET next_fire_at = ?1 WHERE id = ?2")?
                    .execute(params![plan.next_fire_at.map(to_ms), plan.schedule_id])?;
                record_firings(tx, &plan, now, batch)?
            };
            fx.jobs_queued = !result.enqueued.is_empty();
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::Enforce {
            window_id,
            expected_next,
            next_enforce_at,
            plan,
            now,
            reply,
        } => {
            let current: Option<i64> = tx
                .prepare_cached("SELECT next_enforce_at FROM windows WHERE id = ?1")?
                .query_row([window_id], |r| r.get(0))
                .optional()?
                .flatten();
            let result = if current != Some(to_ms(expected_next)) {
                FireResult::default()
            } else {
                tx.prepare_cached("UPDATE windows SET next_enforce_at = ?1 WHERE id = ?2")?
                    .execute(params![next_enforce_at.map(to_ms), window_id])?;
                record_firings(tx, &plan, now, batch)?
            };
            fx.jobs_queued = !result.enqueued.is_empty();
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::CreateWindow { row, now, reply } => {
            let result = if name_taken(tx, &row.name, None, None)? {
                Written::NameTaken
            } else {
                let id: i64 = tx.query_row(
                    "INSERT INTO windows (name, spec, targets, exclusions, enforce, enforce_interval_ms, \
                     next_enforce_at, enabled, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING id",
                    params_from_iter(window_columns(&row, now)),
                    |r| r.get(0),
                )?;
                for edge in [&row.start, &row.stop] {
                    let mut edge = edge.clone();
                    edge.window_id = Some(id);
                    insert_schedule(tx, &edge, now)?;
                }
                fx.schedules_changed = true;
                Written::Done(id)
            };
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::UpdateWindow {
            id,
            row,
            now,
            reply,
        } => {
            let result = if name_taken(tx, &row.name, None, Some(id))? {
                Written::NameTaken
            } else {
                let n = tx.execute(
                    "UPDATE windows SET name = ?1, spec = ?2, targets = ?3, exclusions = ?4, \
                     enforce = ?5, enforce_interval_ms = ?6, next_enforce_at = ?7, enabled = ?8, \
                     updated_at = ?9 WHERE id = ?10",
                    params_from_iter(window_columns(&row, now).into_iter().chain([id.into()])),
                )?;
                if n > 0 {
                    for edge in [&row.start, &row.stop] {
                        let existing: Option<i64> = tx
                            .prepare_cached(
                                "SELECT id FROM schedules WHERE window_id = ?1 AND window_edge = ?2",
                            )?
                            .query_row(
                                params![id, edge.window_edge.map(WindowEdge::as_str)],
                                |r| r.get(0),
                            )
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
                    fx.schedules_changed = true;
                }
                written(id, n)
            };
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::DeleteWindow { id, reply } => {
            tx.execute(
                "DELETE FROM firings WHERE schedule_id IN (SELECT id FROM schedules WHERE window_id = ?1)",
                [id],
            )?;
            tx.execute("DELETE FROM schedules WHERE window_id = ?1", [id])?;
            tx.execute("DELETE FROM window_overrides WHERE window_id = ?1", [id])?;
            let n = tx.execute("DELETE FROM windows WHERE id = ?1", [id])?;
            fx.schedules_changed = n > 0;
            batch.pending.push(pending(reply, written(id, n)));
        }
        ScheduleCommand::AddOverride {
            window_id,
            machine_id,
            mode,
            until,
            reason,
            now,
            reply,
        } => {
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM windows WHERE id = ?1", [window_id], |r| {
                    r.get(0)
                })
                .optional()?;
            let result = match exists {
                None => Written::NotFound,
                Some(_) => {
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
                    fx.schedules_changed = true;
                    Written::Done(id)
                }
            };
            batch.pending.push(pending(reply, result));
        }
        ScheduleCommand::DeleteOverride {
            window_id,
            id,
            reply,
        } => {
            let n = tx.execute(
                "DELETE FROM window_overrides WHERE id = ?1 AND window_id = ?2",
                params![id, window_id],
            )?;
            fx.schedules_changed = n > 0;
            batch.pending.push(pending(reply, written(id, n)));
        }
        ScheduleCommand::SaveUtilization { rows, now, reply } => {
            save_utilization(tx, &rows, now)?;
            batch.pending.push(pending(reply, ()));
        }
    }
    Ok(fx)
}

/// Upserts utilization rows: one per (machine, month), the latest pull wins.
pub(super) fn save_utilization(
    tx: &Tx<'_>,
    rows: &[Utilization],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO utilization (machine_id, month, seconds_used, hourly_rate, storage_seconds, monthly_rate, pulled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (machine_id, month) DO UPDATE SET \
         seconds_used = excluded.seconds_used, hourly_rate = excluded.hourly_rate, \
         storage_seconds = excluded.storage_seconds, monthly_rate = excluded.monthly_rate, \
         pulled_at = excluded.pulled_at",
    )?;
    for u in rows {
        upsert.execute(params![
            u.machine_id,
            u.billing_month.to_string(),
            u.seconds_used as i64,
            u.hourly_rate,
            u.storage_seconds_used as i64,
            u.storage_monthly_rate,
            to_ms(now),
        ])?;
    }
    Ok(())
}

fn record_firings(
    tx: &Tx<'_>,
    plan: &FiringPlan,
    now: DateTime<Utc>,
    batch: &mut Batch<'_>,
) -> Result<FireResult, StoreError> {
    let mut result = FireResult {
        applied: true,
        ..FireResult::default()
    };
    for entry in &plan.entries {
        let mut action = entry.action.clone();
        if let FiringAction::Enqueue { .. } = &action
            && plan.overlap == OverlapPolicy::Skip
            && entry.target != crate::schedule::target::NO_TARGET
            && entry.target != WHOLE_FIRING
        {
            // The job of this target's previous firing, if still unfinished.
            let previous: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT j.id, j.state FROM firings f JOIN jobs j ON j.id = f.job_id \
                     WHERE f.schedule_id = ?1 AND f.target = ?2 AND f.fire_at < ?3 \
                     AND j.state IN ('queued', 'running', 'waiting') ORDER BY f.fire_at DESC LIMIT 1",
                )?
                .query_row(
                    params![plan.schedule_id, entry.target, to_ms(entry.fire_at)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, state)) = previous {
                action = FiringAction::Skip {
                    reason: format!(
                        "overlap: job {id} from the previous firing is still {state} (overlap policy: skip)"
                    ),
                };
            }
        }
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
        };
        let job_id = job.as_ref().map(|_| *batch.next_id);
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
                    StoreError::Db("duplicate firing".into())
                } else {
                    e.into()
                }
            })?;
        if inserted == 0 {
            result.duplicates += 1;
            continue;
        }
        match job {
            Some(job) => {
                let submitted = super::writer::submit_in(
                    tx,
                    batch.next_id,
                    super::writer::EncodedJob::new(*job),
                    now,
                    batch.events,
                )?;
                debug_assert_eq!(Some(submitted.job.id), job_id);
                batch.events.push((
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
            None => result.skipped += 1,
        }
    }
    Ok(result)
}

#[derive(Debug, FromRow)]
struct ScheduleDbRow {
    id: i64,
    name: String,
    cron: String,
    timezone: String,
    template: String,
    targets: String,
    enabled: bool,
    jitter_seconds: i64,
    exclusions: String,
    misfire: String,
    catch_up_ms: i64,
    overlap: String,
    window_id: Option<i64>,
    window_edge: Option<String>,
    next_fire_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Db(format!("stored {what} cannot be read: {detail}").into())
}

impl TryFrom<ScheduleDbRow> for Schedule {
    type Error = StoreError;

    fn try_from(r: ScheduleDbRow) -> Result<Self, StoreError> {
        let json = |what: &str, text: &str| -> Result<Value, StoreError> {
            serde_json::from_str(text).map_err(|e| corrupt(what, e))
        };
        Ok(Schedule {
            id: r.id,
            name: r.name,
            cron: r.cron,
            timezone: r.timezone,
            template: serde_json::from_value(json("template", &r.template)?)
                .map_err(|e| corrupt("template", e))?,
            targets: serde_json::from_value(json("targets", &r.targets)?)
                .map_err(|e| corrupt("targets", e))?,
            enabled: r.enabled,
            jitter_seconds: r.jitter_seconds.max(0) as u32,
            exclusions: serde_json::from_value(json("exclusions", &r.exclusions)?)
                .map_err(|e| corrupt("exclusions", e))?,
            misfire: match r.misfire.as_str() {
                "skip" => MisfirePolicy::Skip,
                _ => MisfirePolicy::RunOnce,
            },
            catch_up_seconds: (r.catch_up_ms.max(0) / 1000) as u64,
            overlap: match r.overlap.as_str() {
                "queue" => OverlapPolicy::Queue,
                _ => OverlapPolicy::Skip,
            },
            window_id: r.window_id,
            window_edge: r.window_edge.as_deref().map(|e| match e {
                "start" => WindowEdge::Start,
                _ => WindowEdge::Stop,
            }),
            next_fire_at: r.next_fire_at.map(from_ms),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

#[derive(Debug, FromRow)]
struct WindowDbRow {
    id: i64,
    name: String,
    spec: String,
    targets: String,
    exclusions: String,
    enforce: bool,
    enforce_interval_ms: i64,
    next_enforce_at: Option<i64>,
    enabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WindowDbRow> for Window {
    type Error = StoreError;

    fn try_from(r: WindowDbRow) -> Result<Self, StoreError> {
        Ok(Window {
            id: r.id,
            name: r.name,
            hours: serde_json::from_str(&r.spec).map_err(|e| corrupt("window", e))?,
            targets: serde_json::from_str(&r.targets).map_err(|e| corrupt("targets", e))?,
            exclusions: serde_json::from_str(&r.exclusions)
                .map_err(|e| corrupt("exclusions", e))?,
            enforce: r.enforce,
            enforce_interval_seconds: (r.enforce_interval_ms.max(0) / 1000) as u64,
            next_enforce_at: r.next_enforce_at.map(from_ms),
            enabled: r.enabled,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

#[derive(Debug, FromRow)]
struct FiringDbRow {
    schedule_id: i64,
    fire_at: i64,
    target: String,
    outcome: String,
    reason: Option<String>,
    job_id: Option<i64>,
    recorded_at: i64,
}

impl From<FiringDbRow> for Firing {
    fn from(r: FiringDbRow) -> Self {
        Firing {
            schedule_id: r.schedule_id,
            fire_at: from_ms(r.fire_at),
            target: r.target,
            outcome: FiringOutcome::parse(&r.outcome).unwrap_or(FiringOutcome::Skipped),
            reason: r.reason,
            job_id: r.job_id,
            recorded_at: from_ms(r.recorded_at),
        }
    }
}

#[derive(Debug, FromRow)]
struct OverrideDbRow {
    id: i64,
    window_id: i64,
    machine_id: String,
    mode: String,
    until: i64,
    reason: Option<String>,
    created_at: i64,
}

/// Utilization as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, FromRow)]
pub struct UtilizationRow {
    pub machine_id: String,
    pub month: String,
    pub seconds_used: i64,
    pub hourly_rate: f64,
    pub storage_seconds: i64,
    pub monthly_rate: f64,
    pub pulled_at: i64,
}

/// A stop Machinist carried out and the start that ended it, for savings.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSwitch {
    pub machine_id: String,
    /// `true` for a stop request Paperspace accepted, `false` for a start.
    pub stop: bool,
    pub at: DateTime<Utc>,
}

impl Store {
    async fn schedule_command<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> ScheduleCommand,
    ) -> Result<T, StoreError> {
        self.send(|reply| super::writer::Command::Schedule(make(reply)))
            .await
    }

    pub async fn create_schedule(
        &self,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::Create {
            row: Box::new(row),
            now,
            reply,
        })
        .await
    }

    pub async fn update_schedule(
        &self,
        id: i64,
        row: ScheduleRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::Update {
            id,
            row: Box::new(row),
            now,
            reply,
        })
        .await
    }

    /// Pauses (`None`) or resumes (`Some(next)`) a schedule.
    pub async fn set_schedule_enabled(
        &self,
        id: i64,
        next_fire_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::SetEnabled {
            id,
            next_fire_at,
            now,
            reply,
        })
        .await
    }

    /// Deletes a schedule (not one a window derived) and its firings.
    pub async fn delete_schedule(&self, id: i64) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::Delete { id, reply })
            .await
    }

    /// Applies a firing plan if the schedule still expects it.
    pub async fn fire(
        &self,
        plan: FiringPlan,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::Fire {
            plan: Box::new(plan),
            now,
            reply,
        })
        .await
    }

    pub async fn create_window(
        &self,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::CreateWindow {
            row: Box::new(row),
            now,
            reply,
        })
        .await
    }

    pub async fn update_window(
        &self,
        id: i64,
        row: WindowRow,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::UpdateWindow {
            id,
            row: Box::new(row),
            now,
            reply,
        })
        .await
    }

    pub async fn delete_window(&self, id: i64) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::DeleteWindow { id, reply })
            .await
    }

    /// Applies an enforcement pass if the window still expects it.
    pub async fn enforce(
        &self,
        window_id: i64,
        expected_next: DateTime<Utc>,
        next_enforce_at: Option<DateTime<Utc>>,
        plan: FiringPlan,
        now: DateTime<Utc>,
    ) -> Result<FireResult, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::Enforce {
            window_id,
            expected_next,
            next_enforce_at,
            plan: Box::new(plan),
            now,
            reply,
        })
        .await
    }

    pub async fn add_override(
        &self,
        window_id: i64,
        machine_id: String,
        mode: OverrideMode,
        until: DateTime<Utc>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::AddOverride {
            window_id,
            machine_id,
            mode,
            until,
            reason,
            now,
            reply,
        })
        .await
    }

    pub async fn delete_override(
        &self,
        window_id: i64,
        id: i64,
    ) -> Result<Written<i64>, StoreError> {
        self.schedule_command(|reply| ScheduleCommand::DeleteOverride {
            window_id,
            id,
            reply,
        })
        .await
    }

    pub async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.schedule_command(|reply| ScheduleCommand::SaveUtilization { rows, now, reply })
            .await
    }

    /// Schedules due at `now`, earliest first.
    pub async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> = sqlx::query_as(
            "SELECT * FROM schedules WHERE next_fire_at IS NOT NULL AND next_fire_at <= ? \
             ORDER BY next_fire_at, id LIMIT ?",
        )
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    /// The earliest time a schedule fires or a window enforces.
    pub async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) = sqlx::query_as(
            // The IS NOT NULL lets SQLite answer from the partial index.
            "SELECT MIN(t) FROM (SELECT MIN(next_fire_at) AS t FROM schedules \
             WHERE next_fire_at IS NOT NULL \
             UNION ALL SELECT MIN(next_enforce_at) FROM windows WHERE next_enforce_at IS NOT NULL)",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(next.map(from_ms))
    }

    /// Every schedule (windows' derived ones included when asked), by name.
    pub async fn schedules(&self, include_window_edges: bool) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> =
            sqlx::query_as("SELECT * FROM schedules WHERE ? OR window_id IS NULL ORDER BY name")
                .bind(include_window_edges)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    /// A schedule by id, or by name when `key` is not a number.
    pub async fn schedule(&self, key: &str) -> Result<Option<Schedule>, StoreError> {
        let row: Option<ScheduleDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM schedules WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM schedules WHERE name = ?")
                    .bind(key)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Schedule::try_from).transpose()
    }

    /// A window's derived schedules.
    pub async fn window_schedules(&self, window_id: i64) -> Result<Vec<Schedule>, StoreError> {
        let rows: Vec<ScheduleDbRow> =
            sqlx::query_as("SELECT * FROM schedules WHERE window_id = ? ORDER BY window_edge DESC")
                .bind(window_id)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(Schedule::try_from).collect()
    }

    /// A schedule's most recent firings, newest first.
    pub async fn firings(&self, schedule_id: i64, limit: u32) -> Result<Vec<Firing>, StoreError> {
        let rows: Vec<FiringDbRow> = sqlx::query_as(
            "SELECT * FROM firings WHERE schedule_id = ? ORDER BY fire_at DESC, target LIMIT ?",
        )
        .bind(schedule_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Firing::from).collect())
    }

    pub async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        let rows: Vec<WindowDbRow> = sqlx::query_as("SELECT * FROM windows ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(Window::try_from).collect()
    }

    /// A window by id, or by name when `key` is not a number.
    pub async fn window(&self, key: &str) -> Result<Option<Window>, StoreError> {
        let row: Option<WindowDbRow> = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query_as("SELECT * FROM windows WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await?
            }
            Err(_) => {
                sqlx::query_as("SELECT * FROM windows WHERE name = ?")
                    .bind(key)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        row.map(Window::try_from).transpose()
    }

    /// Windows whose enforcement is due.
    pub async fn due_enforcements(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError> {
        let rows: Vec<WindowDbRow> = sqlx::query_as(
            "SELECT * FROM windows WHERE next_enforce_at IS NOT NULL AND next_enforce_at <= ? ORDER BY next_enforce_at",
        )
        .bind(to_ms(now))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Window::try_from).collect()
    }

    /// A window's overrides, active at `at` only when given.
    pub async fn overrides(
        &self,
        window_id: i64,
        active_at: Option<DateTime<Utc>>,
    ) -> Result<Vec<Override>, StoreError> {
        let rows: Vec<OverrideDbRow> = sqlx::query_as(
            "SELECT id, window_id, machine_id, mode, until, reason, created_at FROM window_overrides \
             WHERE window_id = ? AND (? IS NULL OR until > ?) ORDER BY id",
        )
        .bind(window_id)
        .bind(active_at.map(to_ms))
        .bind(active_at.map(to_ms))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Override {
                id: r.id,
                window_id: r.window_id,
                machine_id: r.machine_id,
                mode: OverrideMode::parse(&r.mode).unwrap_or(OverrideMode::KeepOn),
                until: from_ms(r.until),
                reason: r.reason,
                created_at: from_ms(r.created_at),
            })
            .collect())
    }

    /// Utilization of a month, by machine.
    pub async fn utilization(&self, month: &str) -> Result<Vec<UtilizationRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM utilization WHERE month = ? ORDER BY machine_id")
                .bind(month)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// The latest known hourly rate of each machine.
    pub async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT machine_id, hourly_rate FROM utilization u WHERE month = \
             (SELECT MAX(month) FROM utilization v WHERE v.machine_id = u.machine_id)",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// Every accepted start and stop request up to `until`, oldest first:
    /// the API calls of start and stop jobs that Paperspace answered with 2xx.
    pub async fn switches(&self, until: DateTime<Utc>) -> Result<Vec<MachineSwitch>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT j.machine_id, j.kind, e.at FROM job_events e JOIN jobs j ON j.id = e.job_id \
             WHERE e.kind = 'api_call' AND e.status BETWEEN 200 AND 299 AND j.machine_id IS NOT NULL \
             AND ((j.kind = 'stop' AND e.route LIKE '%/stop') OR (j.kind = 'start' AND e.route LIKE '%/start')) \
             AND e.at <= ? ORDER BY e.at, e.id",
        )
        .bind(to_ms(until))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(machine_id, kind, at)| MachineSwitch {
                machine_id,
                stop: kind == "stop",
                at: from_ms(at),
            })
            .collect())
    }

    /// Signs that a machine ran, up to `until`, by machine id, unordered:
    /// each time it was first seen in a state in which it runs (the
    /// `machine_states` history; `stopping` does not count, a stop's own
    /// wait sees it), and each start operation Paperspace listed for it
    /// (`machine_starts`), whoever sent it.
    pub async fn signs_of_running(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let running: Vec<&str> = MachineState::KNOWN
            .iter()
            .filter(|s| s.is_running() && **s != MachineState::Stopping)
            .map(MachineState::as_str)
            .collect();
        let seen: Vec<(String, i64)> = sqlx::query_as(
            "SELECT machine_id, at FROM machine_states WHERE at <= ? \
             AND state IN (SELECT value FROM json_each(?))",
        )
        .bind(to_ms(until))
        .bind(serde_json::to_string(&running).unwrap_or_default())
        .fetch_all(&self.reader)
        .await?;
        let starts: Vec<(String, String)> =
            sqlx::query_as("SELECT machine_id, created_at FROM machine_starts")
                .fetch_all(&self.reader)
                .await?;
        Ok(seen
            .into_iter()
            .map(|(machine, at)| (machine, from_ms(at)))
            .chain(starts.into_iter().filter_map(|(machine, at)| {
                // Written from a `DateTime<Utc>`, so it parses back.
                Some((machine, at.parse::<DateTime<Utc>>().ok()?))
            }))
            .filter(|(_, at)| *at <= until)
            .collect())
    }

    /// Unfinished jobs per machine among `machine_ids`.
    pub async fn busy_machines(&self, machine_ids: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_as::<_, (String,)>(
            // The condition as `jobs_machine_open` spells it, so that index serves.
            "SELECT DISTINCT machine_id FROM jobs \
             WHERE (state = 'queued' OR state = 'running' OR state = 'waiting') \
             AND machine_id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(machine_ids).unwrap_or_default())
        .fetch_all(&self.reader)
        .await?
        .into_iter()
        .map(|(m,)| m)
        .collect())
    }

    /// Notified whenever schedules, windows or overrides change.
    pub fn schedules_changed(&self) -> Arc<tokio::sync::Notify> {
        self.schedules_changed.clone()
    }
}
