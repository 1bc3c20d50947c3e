//! Firings: what a schedule did at each of its times, for each target.
//!
//! The scheduler works out a [`FiringPlan`] from what it reads; the store
//! applies it in one transaction, and only if the schedule still expects that
//! firing. The key (schedule, fire time, target) makes each firing happen
//! once, across restarts and even with two schedulers on one database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spec::OverlapPolicy;
use crate::job::{JobId, NewJob};

/// What became of one (fire time, target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FiringOutcome {
    /// A job was queued on time.
    Enqueued,
    /// A job was queued late, for a firing missed while the daemon was down.
    CaughtUp,
    /// No job; the reason says why.
    Skipped,
}

impl FiringOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FiringOutcome::Enqueued => "enqueued",
            FiringOutcome::CaughtUp => "caught_up",
            FiringOutcome::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enqueued" => Some(FiringOutcome::Enqueued),
            "caught_up" => Some(FiringOutcome::CaughtUp),
            "skipped" => Some(FiringOutcome::Skipped),
            _ => None,
        }
    }
}

/// A recorded firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    /// The schedule that fired.
    pub schedule_id: i64,
    /// The time the schedule was due (not when it was handled).
    pub fire_at: DateTime<Utc>,
    /// A machine id, `-` for kinds without one, `*` for a whole missed firing.
    pub target: String,
    /// Whether a job was queued on time, queued late, or not at all.
    pub outcome: FiringOutcome,
    /// Why it was skipped, or a note on an enqueue (how late, what enforcement found); `None` for an ordinary one.
    pub reason: Option<String>,
    /// The job queued for this target; `None` when skipped.
    pub job_id: Option<JobId>,
    /// When the firing was handled.
    pub recorded_at: DateTime<Utc>,
}

/// The target recorded for a firing skipped as a whole (missed, excluded).
pub const WHOLE_FIRING: &str = "*";

/// What to do for one (fire time, target).
#[derive(Debug, Clone)]
pub enum FiringAction {
    Enqueue {
        /// The job to submit for this target.
        job: Box<NewJob>,
        /// Late: the firing was missed and is being caught up.
        caught_up: bool,
        /// A note for the firing record, e.g. how late a caught-up firing is.
        reason: Option<String>,
    },
    Skip {
        /// Why no job is queued, recorded with the firing.
        reason: String,
    },
    /// The target is a machine of a group run the firing makes (stored
    /// with the plan, beside it: see `Store::fire_run`); the firing records
    /// that machine's job in the run, its start job for a restart.
    InRun {
        /// Late: the firing was missed and is being caught up.
        caught_up: bool,
        /// A note for the firing record, as for `Enqueue`.
        reason: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct FiringEntry {
    /// The time the schedule was due, as recorded in the firing.
    pub fire_at: DateTime<Utc>,
    /// A machine id, `-` for kinds without one, `*` for a whole missed firing.
    pub target: String,
    /// Whether to queue a job or record a skip.
    pub action: FiringAction,
}

/// Everything one firing of one schedule writes.
#[derive(Debug, Clone)]
pub struct FiringPlan {
    /// The schedule the plan fires.
    pub schedule_id: i64,
    /// The `next_fire_at` the plan was made from; the store applies the plan
    /// only if the schedule still has it (nobody fired or edited it meanwhile).
    pub expected_next: DateTime<Utc>,
    /// Where the schedule goes next.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The schedule's overlap policy, applied by the store when it writes the entries.
    pub overlap: OverlapPolicy,
    /// One entry per (fire time, target) to record.
    pub entries: Vec<FiringEntry>,
}

/// What applying a plan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FireResult {
    /// False when the schedule had moved on: another scheduler fired it, or it was edited.
    pub applied: bool,
    /// Ids of the jobs queued, in entry order (an `InRun` entry's job in
    /// its run), then a run's jobs no entry records (a restart's stops).
    pub enqueued: Vec<JobId>,
    /// How many entries were recorded as skipped (including overlap skips).
    pub skipped: usize,
    /// Entries whose (schedule, fire time, target) was already recorded.
    pub duplicates: usize,
}
