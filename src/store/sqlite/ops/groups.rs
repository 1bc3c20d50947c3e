//! The SQLite driver's group operations: writes become [`GroupCommand`]s
//! (`sqlite/groups.rs` applies them); the reads run on the pool.

use chrono::{DateTime, Utc};

use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, NewJob};
use crate::store::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
use crate::store::rows::{GroupRow, GroupRunRow, JobRow};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::groups::GroupCommand;

impl SqliteDriver {
    pub(in crate::store) async fn create_group(
        &self,
        spec: GroupSpec,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        self.send(|reply| GroupCommand::CreateGroup { spec, now, reply })
            .await
    }

    pub(in crate::store) async fn update_group(
        &self,
        name: &str,
        patch: GroupPatch,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        let name = name.to_string();
        self.send(|reply| GroupCommand::UpdateGroup {
            name,
            patch,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn delete_group(
        &self,
        name: &str,
    ) -> Result<GroupRemoved, StoreError> {
        let name = name.to_string();
        self.send(|reply| GroupCommand::DeleteGroup { name, reply })
            .await
    }

    pub(in crate::store) async fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let row: Option<GroupRow> = sqlx::query_as("SELECT * FROM machine_groups WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.map(Group::try_from).transpose()
    }

    pub(in crate::store) async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let rows: Vec<GroupRow> = sqlx::query_as("SELECT * FROM machine_groups ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(Group::try_from).collect()
    }

    pub(in crate::store) async fn start_run(
        &self,
        run: NewRun,
        now: DateTime<Utc>,
    ) -> Result<RunStarted, StoreError> {
        let run = Box::new(run);
        self.send(|reply| GroupCommand::StartRun { run, now, reply })
            .await
    }

    pub(in crate::store) async fn resume_run(
        &self,
        id: i64,
        resumes: u32,
        jobs: Vec<(NewJob, u32)>,
        now: DateTime<Utc>,
    ) -> Result<RunResumed, StoreError> {
        self.send(|reply| GroupCommand::ResumeRun {
            id,
            resumes,
            jobs,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn group_run(
        &self,
        id: i64,
    ) -> Result<Option<(GroupRun, Vec<Job>)>, StoreError> {
        let row: Option<GroupRunRow> = sqlx::query_as("SELECT * FROM group_runs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let run = GroupRun::try_from(row)?;
        let jobs: Vec<JobRow> =
            sqlx::query_as("SELECT * FROM jobs WHERE group_run = ? ORDER BY id")
                .bind(id)
                .fetch_all(&self.reader)
                .await?;
        let jobs = jobs
            .into_iter()
            .map(Job::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Some((run, jobs)))
    }

    pub(in crate::store) async fn group_runs(
        &self,
        group: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<GroupRun>, StoreError> {
        let rows: Vec<GroupRunRow> = sqlx::query_as(
            "SELECT * FROM group_runs WHERE id < ? AND (? IS NULL OR group_name = ?) \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(group)
        .bind(group)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(GroupRun::try_from).collect()
    }
}
