//! The PostgreSQL driver's group operations: each write is one transaction
//! that `postgres/groups.rs` writes in (where its concurrency with other
//! daemons is handled); the reads run on the pool.
//!
//! A group write answered `NameTaken` is rolled back instead of committed:
//! the unique index may have refused its statement, which leaves the
//! transaction unusable, and a refused write changes nothing anyway.

use chrono::{DateTime, Utc};

use crate::group::{Group, GroupPatch, GroupRun, GroupSpec};
use crate::job::{Job, NewJob};
use crate::store::StoreError;
use crate::store::groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
use crate::store::postgres::groups as write;
use crate::store::postgres::{Effects, PostgresDriver};
use crate::store::rows::{GroupRow, GroupRunRow, JobRow};

impl PostgresDriver {
    pub(in crate::store) async fn create_group(
        &self,
        spec: GroupSpec,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        let mut tx = self.begin().await?;
        let written = write::create(&mut tx, &spec, now).await?;
        if matches!(written, GroupWritten::Done(_)) {
            self.commit(tx, Effects::default()).await?;
        }
        Ok(written)
    }

    pub(in crate::store) async fn update_group(
        &self,
        name: &str,
        patch: GroupPatch,
        now: DateTime<Utc>,
    ) -> Result<GroupWritten, StoreError> {
        let mut tx = self.begin().await?;
        let written = write::update(&mut tx, name, patch, now).await?;
        match written {
            // The scheduler plans group targets from the group's stages.
            GroupWritten::Done(_) => {
                let fx = Effects {
                    schedules_changed: true,
                    ..Effects::default()
                };
                self.commit(tx, fx).await?;
            }
            // Nothing written (and `tx` perhaps unusable): rolled back.
            GroupWritten::NotFound | GroupWritten::NameTaken => {}
        }
        Ok(written)
    }

    pub(in crate::store) async fn delete_group(
        &self,
        name: &str,
    ) -> Result<GroupRemoved, StoreError> {
        let mut tx = self.begin().await?;
        let removed = write::delete(&mut tx, name).await?;
        self.commit(tx, Effects::default()).await?;
        Ok(removed)
    }

    pub(in crate::store) async fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let row: Option<GroupRow> = sqlx::query_as("SELECT * FROM machine_groups WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Group::try_from).transpose()
    }

    pub(in crate::store) async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let rows: Vec<GroupRow> = sqlx::query_as("SELECT * FROM machine_groups ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Group::try_from).collect()
    }

    pub(in crate::store) async fn start_run(
        &self,
        run: NewRun,
        now: DateTime<Utc>,
    ) -> Result<RunStarted, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let started = write::start_run_in(&mut tx, run, now, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(started)
    }

    pub(in crate::store) async fn resume_run(
        &self,
        id: i64,
        resumes: u32,
        jobs: Vec<(NewJob, u32)>,
        now: DateTime<Utc>,
    ) -> Result<RunResumed, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let resumed = write::resume(&mut tx, id, resumes, jobs, now, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(resumed)
    }

    pub(in crate::store) async fn group_run(
        &self,
        id: i64,
    ) -> Result<Option<(GroupRun, Vec<Job>)>, StoreError> {
        // One snapshot: the run and its jobs as of one moment.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let row: Option<GroupRunRow> = sqlx::query_as("SELECT * FROM group_runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let run = GroupRun::try_from(row)?;
        let jobs: Vec<JobRow> =
            sqlx::query_as("SELECT * FROM jobs WHERE group_run = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
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
            "SELECT * FROM group_runs WHERE id < $1 AND ($2::TEXT IS NULL OR group_name = $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(group)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(GroupRun::try_from).collect()
    }
}
