//! Groups and group runs: what their writes take and answer, shared by
//! every driver (the operations: `handle/groups.rs`).

use crate::group::{Group, GroupAction, GroupRun, Step};
use crate::job::{Job, NewJob};
use crate::machine::WaitTarget;

/// A run to store with its jobs, in one transaction.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The group's name.
    pub group: String,
    /// What the run does.
    pub action: GroupAction,
    /// What its starts wait for.
    pub wait: WaitTarget,
    /// Its steps in order (`group::plan`).
    pub steps: Vec<Step>,
    /// The schedule whose firing makes it; `None` by hand.
    pub schedule_id: Option<i64>,
    /// Its jobs with their step (`group::jobs_for`); their `Earlier`
    /// dependencies are positions in this list.
    pub jobs: Vec<(NewJob, u32)>,
}

/// A stored run and the jobs it made.
#[derive(Debug, Clone)]
pub struct RunStarted {
    pub run: GroupRun,
    pub jobs: Vec<Job>,
}

/// What a write to a group did.
#[derive(Debug, Clone)]
pub enum GroupWritten {
    Done(Group),
    NotFound,
    /// Another group has that name.
    NameTaken,
}

/// What a removal did.
#[derive(Debug, Clone)]
pub enum GroupRemoved {
    Removed,
    NotFound,
    /// Schedules or windows (named) target the group: remove or change
    /// them first.
    InUse(Vec<String>),
}

/// What a resume did.
#[derive(Debug, Clone)]
pub enum RunResumed {
    /// New jobs were queued from the failed step on.
    Resumed(RunStarted),
    NotFound,
    /// The run changed since it was read (another resume, or a job is
    /// unfinished again): read it again.
    Stale,
}
