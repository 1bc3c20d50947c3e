//! The PostgreSQL driver's claim operations, and its standing claims.
//!
//! **Standing claims.** SQLite's writer tries its standing claims inside
//! the batch that made jobs claimable. Here any daemon's commit may do
//! that, so each standing claim is a task of this daemon ([`Claims`]) that
//! claims (`FOR UPDATE SKIP LOCKED`, `postgres/claims.rs`) as many jobs as
//! its dispatcher has free slots whenever it is woken: by this daemon's
//! commits that may have made a job claimable or freed a slot
//! (`tx.rs`), by other daemons' through `LISTEN` (`listener.rs`), by a
//! `poke` when a delayed job falls due, and, while the listener is down,
//! by a poll every [`POLL_WITHOUT_LISTENER`]. When a try takes nothing it
//! publishes the lane's next due time, as SQLite's does, so the
//! dispatcher's timer pokes at the right moment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::job::{Job, JobId, Lane};
use crate::store::postgres::tx::Effects;
use crate::store::postgres::{PostgresDriver, claims};
use crate::store::rows::{from_ms, to_ms};
use crate::store::{ClaimedJob, StandingClaim, StoreError};

/// Where a standing claim's jobs go.
pub(in crate::store) type ClaimedJobs = mpsc::UnboundedSender<Result<Vec<ClaimedJob>, StoreError>>;

/// How often a standing claim looks for work on its own while no
/// notification can reach it (the listener is reconnecting).
const POLL_WITHOUT_LISTENER: Duration = Duration::from_secs(1);

/// How long a standing claim waits after a failed try.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// This daemon's standing claims and what wakes them.
#[derive(Default)]
pub(in crate::store) struct Claims {
    /// The running standing claims, by owner.
    stands: Mutex<HashMap<Arc<str>, Stand>>,
    /// Whether the listener is connected: without it, the claims poll.
    listening: AtomicBool,
}

/// One standing claim's task and its wake-up.
struct Stand {
    /// Tells the task to try again.
    wake: Arc<Notify>,
    /// Tells the task to stop after its current try.
    stop: Arc<Notify>,
    /// The cancelled jobs of this owner (the dispatcher's set).
    revoked: Arc<Mutex<std::collections::HashSet<JobId>>>,
    /// The task, awaited by `unpark` so that every job it took is sent.
    task: JoinHandle<()>,
}

impl Claims {
    /// Every standing claim tries again.
    pub(in crate::store) fn recheck(&self) {
        for stand in self.stands.lock().expect("claims poisoned").values() {
            stand.wake.notify_one();
        }
    }

    /// `owner`'s claim learns that `id` was cancelled.
    pub(in crate::store) fn revoke(&self, owner: &str, id: JobId) {
        if let Some(stand) = self.stands.lock().expect("claims poisoned").get(owner) {
            stand
                .revoked
                .lock()
                .expect("revoked set poisoned")
                .insert(id);
        }
    }

    /// Records whether the listener is up; answers whether it was.
    pub(in crate::store) fn set_listening(&self, up: bool) -> bool {
        let was = self.listening.swap(up, Ordering::SeqCst);
        if !up {
            // Polling starts now.
            self.recheck();
        }
        was
    }

    fn listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }
}

impl PostgresDriver {
    pub(in crate::store) async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        let mut tx = self.begin().await?;
        let jobs = claims::claim_any(&mut tx, owner, limit, now, lease_until).await?;
        let fx = Effects {
            read_only: jobs.is_empty(),
            ..Effects::default()
        };
        self.commit(tx, fx).await?;
        Ok(jobs)
    }

    pub(in crate::store) async fn stand(
        &self,
        claim: StandingClaim,
        jobs: ClaimedJobs,
    ) -> Result<(), StoreError> {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let revoked = claim.revoked.clone();
        let owner = claim.owner.clone();
        // Tries at once: jobs may be waiting already.
        wake.notify_one();
        let task = tokio::spawn(
            self.clone()
                .stand_loop(claim, jobs, wake.clone(), stop.clone()),
        );
        let older = self.claims.stands.lock().expect("claims poisoned").insert(
            owner,
            Stand {
                wake,
                stop,
                revoked,
                task,
            },
        );
        // A newer claim from the same owner replaces the older one.
        if let Some(older) = older {
            older.stop.notify_one();
        }
        Ok(())
    }

    /// A standing claim's task: tries whenever woken, until stopped or its
    /// dispatcher is gone.
    async fn stand_loop(
        self,
        claim: StandingClaim,
        jobs: ClaimedJobs,
        wake: Arc<Notify>,
        stop: Arc<Notify>,
    ) {
        let stopped = stop.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        loop {
            let wait = match self.try_stand(&claim, &jobs).await {
                Ok(true) => continue,
                Ok(false) if self.claims.listening() => None,
                Ok(false) => Some(POLL_WITHOUT_LISTENER),
                Err(e) => {
                    if jobs.send(Err(e)).is_err() {
                        return;
                    }
                    Some(RETRY_AFTER_ERROR)
                }
            };
            if jobs.is_closed() {
                return;
            }
            tokio::select! {
                biased;
                _ = &mut stopped => return,
                _ = wake.notified() => {}
                _ = sleep_for(wait) => {}
            }
        }
    }

    /// One try of a standing claim: answers whether it took every slot it
    /// could (and so should try again at once, for jobs beyond them).
    async fn try_stand(
        &self,
        claim: &StandingClaim,
        out: &ClaimedJobs,
    ) -> Result<bool, StoreError> {
        let free = claim.slots.available_permits();
        if free == 0 {
            return Ok(false);
        }
        let now = claim.clock.now();
        let lease_until = now + chrono::Duration::from_std(claim.lease).unwrap_or_default();
        let mut tx = self.begin().await?;
        let jobs = claims::claim(&mut tx, &claim.owner, claim.lane, free, now, lease_until).await?;
        if jobs.is_empty() {
            let (next,): (Option<i64>,) =
                sqlx::query_as(sqlx::AssertSqlSafe(claims::next_due_sql(claim.lane)))
                    .bind(to_ms(now))
                    .fetch_one(&mut *tx)
                    .await?;
            self.commit(
                tx,
                Effects {
                    read_only: true,
                    ..Effects::default()
                },
            )
            .await?;
            claim.next_due.send_replace(next.map(from_ms));
            return Ok(false);
        }
        self.commit(tx, Effects::default()).await?;
        // Only this task takes permits, so the ones just counted are there.
        let took = jobs.len();
        let claimed: Vec<ClaimedJob> = jobs
            .into_iter()
            .map(|job| ClaimedJob {
                job,
                slot: claim
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .expect("a permit counted free a moment ago"),
            })
            .collect();
        // A dispatcher gone after the commit leaves its jobs leased to an
        // owner that stops; the lease keeper of the next one rescues them.
        let _ = out.send(Ok(claimed));
        Ok(took == free)
    }

    pub(in crate::store) fn poke(&self) {
        self.claims.recheck();
    }

    pub(in crate::store) async fn unpark(&self, owner: &Arc<str>) -> Result<(), StoreError> {
        let stand = self
            .claims
            .stands
            .lock()
            .expect("claims poisoned")
            .remove(owner);
        if let Some(stand) = stand {
            stand.stop.notify_one();
            // Once it ends, every job it took is in its channel.
            let _ = stand.task.await;
        }
        Ok(())
    }

    pub(in crate::store) async fn renew(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        claims::renew(&mut tx, owner, &ids, until).await?;
        // A renewal changes nothing anyone waits on.
        let fx = Effects {
            read_only: true,
            ..Effects::default()
        };
        self.commit(tx, fx).await
    }

    /// Takes back jobs whose lease ran out. `orphans_of_others_than` is
    /// ignored: on a shared database, jobs leased by another owner belong
    /// to another live daemon (`postgres/claims.rs`).
    pub(in crate::store) async fn rescue(
        &self,
        now: DateTime<Utc>,
        _orphans_of_others_than: Option<(&Arc<str>, Lane)>,
    ) -> Result<Vec<JobId>, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let ids = claims::rescue(&mut tx, now, &mut fx).await?;
        fx.wake |= !ids.is_empty();
        fx.read_only = ids.is_empty();
        self.commit(tx, fx).await?;
        Ok(ids)
    }

    pub(in crate::store) async fn release(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        let released = claims::release(&mut tx, owner, &ids, now).await?;
        let fx = Effects {
            // Released jobs are claimable by every other daemon.
            wake: released > 0,
            read_only: released == 0,
            ..Effects::default()
        };
        self.commit(tx, fx).await?;
        Ok(released)
    }

    pub(in crate::store) async fn next_lease_expiry(
        &self,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'")
                .fetch_one(&self.pool)
                .await?;
        Ok(next.map(from_ms))
    }
}

/// Sleeps for `wait`, or forever.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
