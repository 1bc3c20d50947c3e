//! The PostgreSQL driver's claims operations.

use crate::job::{Job, JobId, Lane};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::from_ms;
use crate::store::{StandingClaim, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

impl PostgresDriver {
    pub(in crate::store) async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        unimplemented!("postgres: claim")
    }

    pub(in crate::store) async fn stand(
        &self,
        claim: StandingClaim,
        jobs: ClaimedJobs,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: stand")
    }

    pub(in crate::store) fn poke(&self) {
        unimplemented!("postgres: poke")
    }

    pub(in crate::store) async fn unpark(&self, owner: &Arc<str>) -> Result<(), StoreError> {
        unimplemented!("postgres: unpark")
    }

    pub(in crate::store) async fn renew(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: renew")
    }

    pub(in crate::store) async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<(&Arc<str>, Lane)>,
    ) -> Result<Vec<JobId>, StoreError> {
        unimplemented!("postgres: rescue")
    }

    pub(in crate::store) async fn release(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        unimplemented!("postgres: release")
    }

    pub(in crate::store) async fn next_lease_expiry(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        unimplemented!("postgres: next_lease_expiry")
    }
}

/// Where a standing claim's jobs go.
pub(in crate::store) type ClaimedJobs =
    tokio::sync::mpsc::UnboundedSender<Result<Vec<crate::store::ClaimedJob>, StoreError>>;

/// This daemon's standing claims and what wakes them.
#[derive(Default)]
pub(in crate::store) struct Claims {}

impl Claims {
    pub(in crate::store) fn recheck(&self) {}
    pub(in crate::store) fn revoke(&self, _owner: &str, _id: JobId) {}
    /// Records whether the listener is up; answers whether it was.
    pub(in crate::store) fn set_listening(&self, _up: bool) -> bool {
        true
    }
}
