//! The PostgreSQL driver's groups operations.

use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, NewJob};
use crate::store::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{GroupRow, GroupRunRow, JobRow};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn create_group(
        &self,
        spec: GroupSpec,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        unimplemented!("postgres: create_group")
    }

    pub(in crate::store) async fn update_group(
        &self,
        name: &str,
        patch: GroupPatch,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        unimplemented!("postgres: update_group")
    }

    pub(in crate::store) async fn delete_group(
        &self,
        name: &str,
    ) -> Result<GroupRemoved, StoreError> {
        unimplemented!("postgres: delete_group")
    }

    pub(in crate::store) async fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        unimplemented!("postgres: group")
    }

    pub(in crate::store) async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        unimplemented!("postgres: groups")
    }

    pub(in crate::store) async fn start_run(
        &self,
        run: NewRun,
        now: DateTime<Utc>,
    ) -> Result<RunStarted, StoreError> {
        unimplemented!("postgres: start_run")
    }

    pub(in crate::store) async fn resume_run(
        &self,
        id: i64,
        resumes: u32,
        jobs: Vec<(NewJob, u32)>,
        now: DateTime<Utc>,
    ) -> Result<RunResumed, StoreError> {
        unimplemented!("postgres: resume_run")
    }

    pub(in crate::store) async fn group_run(
        &self,
        id: i64,
    ) -> Result<Option<(GroupRun, Vec<Job>)>, StoreError> {
        unimplemented!("postgres: group_run")
    }

    pub(in crate::store) async fn group_runs(
        &self,
        group: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<GroupRun>, StoreError> {
        unimplemented!("postgres: group_runs")
    }
}
