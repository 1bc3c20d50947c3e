//! Claims: jobs taken under a lease, on request or by a standing claim
//! that the driver tries whenever a commit may have made jobs claimable;
//! and the lease's upkeep (renew, rescue, release).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use super::driver::on_driver;
use super::{Store, StoreError};
use crate::clock::SharedClock;
use crate::job::{Job, JobId};

/// A dispatcher's standing request for work. It stays in the writer, which
/// tries it at the end of every batch that may have made a job claimable, in
/// that batch's transaction: a submitted job is claimed by the same commit
/// that stores it, and a slot freed by a finished step is refilled by the
/// next commit, so neither waits for a round trip through the dispatcher.
pub struct StandingClaim {
    /// The lease owner the jobs are claimed for.
    pub owner: Arc<str>,
    /// How many jobs the dispatcher may hold at once: running in a worker,
    /// or claimed ahead and next in line for one. The writer claims as many
    /// jobs as there are permits available and takes one permit per job,
    /// handed over with the job; the job's task gives it back when its step
    /// ends.
    pub slots: Arc<Semaphore>,
    /// The writer has no time of its own; "due" is judged by this clock at
    /// the moment of the claim.
    pub clock: SharedClock,
    /// How long the claimed jobs are leased for.
    pub lease: std::time::Duration,
    /// When a try takes nothing, the writer publishes here the earliest
    /// time after now at which a job falls due (or None), read in the same
    /// transaction, so the dispatcher's timer never rests on a stale read.
    pub next_due: Arc<watch::Sender<Option<DateTime<Utc>>>>,
    /// Jobs of this owner cancelled since they were claimed, added once the
    /// cancel is committed: a job claimed ahead checks here before its step
    /// starts, so a cancelled job never makes its call.
    pub revoked: Arc<std::sync::Mutex<HashSet<JobId>>>,
}

/// A job taken by a standing claim, with the worker slot it runs in.
pub struct ClaimedJob {
    /// The job, leased to the claim's owner.
    pub job: Job,
    /// Held while the job's step runs.
    pub slot: OwnedSemaphorePermit,
}

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
    /// last attempt). With `orphans_of_others_than`, also every job leased by
    /// another owner: right at start-up, when this daemon holds the file lock,
    /// those owners are known to be dead.
    pub async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<&Arc<str>>,
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
