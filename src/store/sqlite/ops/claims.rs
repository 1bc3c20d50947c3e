//! The SQLite driver's claims: claim, stand/park, renew, rescue and release
//! become [`ClaimCommand`]s for the writer (`sqlite/claims.rs` applies
//! them); the next lease expiry is read on the pool.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::job::{Job, JobId, Lane};
use crate::store::rows::from_ms;
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::claims::{ClaimCommand, ClaimedJobs};
use crate::store::{StandingClaim, StoreError};

/// The lease operations of the SQLite driver.
impl SqliteDriver {
    pub(in crate::store) async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        self.send(|reply| ClaimCommand::Claim {
            owner: owner.clone(),
            limit,
            now,
            lease_until,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn stand(
        &self,
        claim: StandingClaim,
        jobs: ClaimedJobs,
    ) -> Result<(), StoreError> {
        self.send(|reply| ClaimCommand::Stand { claim, jobs, reply })
            .await
    }

    /// Never waits: when the writer's queue is full, a batch (which tries
    /// the standing claims anyway) is on its way.
    pub(in crate::store) fn poke(&self) {
        let _ = self.writer.try_send(ClaimCommand::Poke.into());
    }

    pub(in crate::store) async fn unpark(&self, owner: &Arc<str>) -> Result<(), StoreError> {
        self.send(|reply| ClaimCommand::Unpark {
            owner: owner.clone(),
            reply,
        })
        .await
    }

    pub(in crate::store) async fn renew(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.send(|reply| ClaimCommand::Renew {
            owner: owner.clone(),
            ids,
            until,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<(&Arc<str>, Lane)>,
    ) -> Result<Vec<JobId>, StoreError> {
        self.send(|reply| ClaimCommand::Rescue {
            now,
            orphans_of_others_than: orphans_of_others_than
                .map(|(owner, lane)| (owner.clone(), lane)),
            reply,
        })
        .await
    }

    pub(in crate::store) async fn release(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.send(|reply| ClaimCommand::Release {
            owner: owner.clone(),
            ids,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn next_lease_expiry(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Served by the partial index `jobs_running`.
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'")
                .fetch_one(&self.reader)
                .await?;
        Ok(next.map(from_ms))
    }
}
