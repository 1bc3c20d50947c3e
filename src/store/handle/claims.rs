//! The claim operations: claim, stand/park, renew, rescue, release.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Store;
use crate::job::{Job, JobId, Lane};
use crate::store::claims::{ClaimedJob, StandingClaim};
use crate::store::driver::on_driver;
use crate::store::error::StoreError;

impl Store {
    /// Takes up to `limit` due jobs for `owner`, leased until `lease_until`.
    pub async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        on_driver!(self, d => d.claim(owner, limit, now, lease_until).await)
    }

    /// Registers a standing claim for `claim.owner`: from now on, whenever
    /// jobs can run and the owner has free slots, the writer claims them in
    /// the same transaction as the write that made them claimable and sends
    /// them, after the commit, on the returned channel. It replaces an older
    /// standing claim of the same owner and ends with `unpark`.
    pub async fn stand(
        &self,
        claim: StandingClaim,
    ) -> Result<mpsc::UnboundedReceiver<Result<Vec<ClaimedJob>, StoreError>>, StoreError> {
        let (jobs, rx) = mpsc::unbounded_channel();
        on_driver!(self, d => d.stand(claim, jobs).await)?;
        Ok(rx)
    }

    /// Makes the writer try its standing claims again, for a job that fell
    /// due with the passing of time. Never waits: when the writer's queue is
    /// full, a batch (which tries them anyway) is on its way.
    pub fn poke(&self) {
        on_driver!(self, d => d.poke())
    }

    /// Withdraws `owner`'s standing claim; once this returns, every job it
    /// took is already in its channel.
    pub async fn unpark(&self, owner: &Arc<str>) -> Result<(), StoreError> {
        on_driver!(self, d => d.unpark(owner).await)
    }

    /// Extends the leases `owner` holds on `ids`.
    pub async fn renew(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.renew(owner, ids, until).await)
    }

    /// Returns jobs whose lease ran out to the queue (or fails those on their
    /// last attempt), whatever their lane. With `orphans_of_others_than`
    /// (an owner and its lane), also every job of that lane leased by
    /// another owner: right at start-up, when this daemon holds the file
    /// lock, those owners are known to be dead. (Each lane's workers have
    /// their own owner name, so one lane's start-up never takes back the
    /// jobs the other lane has just claimed.)
    pub async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<(&Arc<str>, Lane)>,
    ) -> Result<Vec<JobId>, StoreError> {
        on_driver!(self, d => d.rescue(now, orphans_of_others_than).await)
    }

    /// Puts `owner`'s unfinished jobs back in the queue (graceful shutdown).
    pub async fn release(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        on_driver!(self, d => d.release(owner, ids, now).await)
    }

    /// When the earliest lease of a running job runs out, whoever holds it:
    /// the lease keeper sleeps until then instead of checking on a timer.
    pub async fn next_lease_expiry(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_driver!(self, d => d.next_lease_expiry().await)
    }
}
