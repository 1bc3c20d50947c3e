//! Claims: jobs taken under a lease, on request or by a standing claim
//! that the driver tries whenever a commit may have made jobs claimable;
//! and the lease's upkeep (renew, rescue, release). The nouns every
//! driver's claims take and answer (the operations: `handle/claims.rs`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::clock::SharedClock;
use crate::job::{Job, JobId, Lane};

/// A dispatcher's standing request for work. It stays in the writer, which
/// tries it at the end of every batch that may have made a job claimable, in
/// that batch's transaction: a submitted job is claimed by the same commit
/// that stores it, and a slot freed by a finished step is refilled by the
/// next commit, so neither waits for a round trip through the dispatcher.
pub struct StandingClaim {
    /// The lease owner the jobs are claimed for.
    pub owner: Arc<str>,
    /// Only jobs of this lane's kinds are claimed (see [`Lane`]): each lane
    /// has its own dispatcher, workers and claim.
    pub lane: Lane,
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
