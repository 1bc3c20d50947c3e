//! Machine groups: named, ordered stages of machines, and the runs that
//! start, stop or restart them stage by stage.
//!
//! - `spec`: a [`Group`] and its [`Stage`]s, and the checked requests that
//!   create or change one.
//! - `run`: what a run does ([`GroupAction`]), the [`Step`]s a group and an
//!   action come to (stages in order for a start, in reverse for a stop,
//!   both for a restart), the jobs they become, and a stored run's
//!   progress ([`RunView`]).
//!
//! Runs are built on job dependencies (`job/dependency.rs`): each job of
//! step n + 1 depends on every job of step n, so the queue itself keeps
//! the order, a crash resumes it, and nothing waits in memory. This module
//! is pure: the store keeps groups and runs, the HTTP routes and the
//! scheduler make runs.

mod run;
mod spec;

pub use run::{
    GroupAction, GroupRun, RunFailure, RunJob, RunRequest, RunState, RunView, Step, StepAction,
    StepView, jobs_for, plan, resume_plan,
};
pub use spec::{Group, GroupPatch, GroupSpec, Stage};

/// A group's id: increasing in creation order.
pub type GroupId = i64;

/// A group run's id.
pub type RunId = i64;
