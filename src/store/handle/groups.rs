//! The group operations: groups, and runs with their jobs.

use chrono::{DateTime, Utc};

use super::Store;
use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, NewJob};
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};

impl Store {
    /// Stores a checked group ([`GroupSpec::check`]).
    pub async fn create_group(
        &self,
        spec: GroupSpec,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        on_driver!(self, d => d.create_group(spec, now).await)
    }

    /// Changes a group; a rename is refused while schedules or windows
    /// target it by name (answered as [`GroupWritten::NameTaken`]).
    pub async fn update_group(
        &self,
        name: &str,
        patch: GroupPatch,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        on_driver!(self, d => d.update_group(name, patch, now).await)
    }

    /// Removes a group no schedule or window targets. Its runs stay.
    pub async fn delete_group(&self, name: &str) -> Result<GroupRemoved, StoreError> {
        on_driver!(self, d => d.delete_group(name).await)
    }

    pub async fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        on_driver!(self, d => d.group(name).await)
    }

    /// Every group, by name.
    pub async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        on_driver!(self, d => d.groups().await)
    }

    /// Stores a run and its jobs in one transaction.
    pub async fn start_run(
        &self,
        run: NewRun,
        now: DateTime<Utc>,
    ) -> Result<RunStarted, StoreError> {
        on_driver!(self, d => d.start_run(run, now).await)
    }

    /// Adds `jobs` to run `id` if it has had `resumes` resumes and no job
    /// of it is unfinished; otherwise [`RunResumed::Stale`].
    pub async fn resume_run(
        &self,
        id: i64,
        resumes: u32,
        jobs: Vec<(NewJob, u32)>,
        now: DateTime<Utc>,
    ) -> Result<RunResumed, StoreError> {
        on_driver!(self, d => d.resume_run(id, resumes, jobs, now).await)
    }

    /// A run and every job it made, oldest first.
    pub async fn group_run(&self, id: i64) -> Result<Option<(GroupRun, Vec<Job>)>, StoreError> {
        on_driver!(self, d => d.group_run(id).await)
    }

    /// Runs newest first, of one group or all, below the cursor `before`.
    pub async fn group_runs(
        &self,
        group: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<GroupRun>, StoreError> {
        on_driver!(self, d => d.group_runs(group, before, limit).await)
    }
}
