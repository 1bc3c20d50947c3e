//! The PostgreSQL driver's claim operations, and its standing claims.
//!
//! **Standing claims.** SQLite's writer tries its standing claims inside
//! the batch that made jobs claimable, so a submitted job is claimed by
//! the commit that stores it. Here every write is its own transaction, and
//! this daemon's writes do the same: a write that may have made a job
//! claimable (or freed a worker slot) tries this daemon's standing claims
//! in its own transaction before committing ([`Claims::take_in`], from
//! `tx.rs`), and hands the jobs over after the commit. A batch of plain
//! submits is one statement that commits on its own (`batch.rs`): it wakes
//! the claims after its commit instead. Other daemons'
//! commits reach a standing claim through `LISTEN` (`listener.rs`): each
//! claim has a task that tries again when woken by them, by a `poke`
//! when a delayed job falls due, every [`SAFETY_POLL`] as a safety net
//! for other daemons' lost notes, and, while the listener is down, every
//! [`POLL_WITHOUT_LISTENER`]. A try that leaves worker slots free, whoever
//! makes it, publishes when to look again, as SQLite's does: the lane's
//! next due time, or in a few milliseconds when it passed over a due job
//! another transaction held locked (`claims::next_look`). The dispatcher's
//! timer pokes at that moment.
//!
//! **One round trip.** The task's try of the machines lane is the claim's
//! one statement (`claims::claim_machines`: pick, lease, history rows and
//! when to look again), which commits on its own on a connection of the
//! claims' own pool, whose sessions have the planner settings a claim
//! needs; a try inside a write's transaction sets them for that
//! transaction. The webhooks lane's claim counts deliveries per endpoint
//! under a lock, in a transaction of its own.
//!
//! A claim's jobs are counted against its free worker slots, and the slots
//! are taken after the commit: whoever tries a claim (a write, or its
//! task) holds the claim's `trying` lock from the count to the hand-over,
//! so two tries never count the same free slot. A write finds the lock
//! taken and leaves that claim to whoever holds it (it is woken after the
//! commit anyway), so writes never wait on each other here. A write keeps
//! the lock of each claim it tried until it has committed and handed its
//! jobs over, even when it took none: the claim's own task, trying in
//! between, would not see the write, and would replace the time to look
//! again that the write published (a waiting job's next poll) with a later
//! one, or none, so the poll would wait for the safety poll, a second
//! later.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{Notify, OwnedMutexGuard, mpsc};
use tokio::task::JoinHandle;

use crate::job::{Job, JobId, Lane};
use crate::store::postgres::tx::{Effects, Tx};
use crate::store::postgres::{PostgresDriver, claims};
use crate::store::rows::from_ms;
use crate::store::{ClaimedJob, StandingClaim, StoreError};

/// Where a standing claim's jobs go.
pub(in crate::store) type ClaimedJobs = mpsc::UnboundedSender<Result<Vec<ClaimedJob>, StoreError>>;

/// How often a standing claim looks for work on its own while no
/// notification can reach it (the listener is reconnecting).
const POLL_WITHOUT_LISTENER: Duration = Duration::from_secs(1);

/// How often a standing claim looks on its own even while notifications
/// reach it. This daemon's own writes and its claims' published next look
/// (which covers a due job passed over under another transaction's lock,
/// `claims::next_look`) need no poll; another daemon's note can be lost,
/// though: it is sent after that daemon's commit (`notifier.rs`), so a
/// daemon that dies in between, or a send that fails, leaves the job
/// unannounced. The safety net's cost is one short query a second per
/// claim.
const SAFETY_POLL: Duration = Duration::from_secs(1);

/// How long a standing claim waits after a failed try.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// This daemon's standing claims and what wakes them.
#[derive(Default)]
pub(in crate::store) struct Claims {
    /// The running standing claims, by owner (in a fixed order, so that
    /// a write tries them in the same order every time).
    stands: Mutex<BTreeMap<Arc<str>, Stand>>,
    /// Whether the listener is connected: without it, the claims poll.
    listening: AtomicBool,
}

/// What a standing claim shares between its task and the writes that try
/// it.
struct Standing {
    /// What the dispatcher asked for.
    claim: StandingClaim,
    /// Where its jobs go.
    out: ClaimedJobs,
    /// Held from counting free slots to handing the jobs over.
    trying: Arc<tokio::sync::Mutex<()>>,
}

/// One standing claim of this daemon.
struct Stand {
    /// The claim, shared with its task.
    standing: Arc<Standing>,
    /// Tells the task to try again.
    wake: Arc<Notify>,
    /// Tells the task to stop after its current try.
    stop: Arc<Notify>,
    /// The task, awaited by `unpark` so that every job it took is sent.
    task: JoinHandle<()>,
}

/// Jobs a write took for a standing claim, handed over after its commit,
/// while the write still holds the claim's lock ([`Tried::held`]).
pub(in crate::store) struct Taken {
    standing: Arc<Standing>,
    jobs: Vec<Job>,
}

impl Taken {
    /// After the commit: the jobs go out, each with its worker slot.
    pub(in crate::store) fn hand_over(self) {
        self.standing.send(self.jobs);
    }
}

impl Standing {
    /// Sends `jobs` with a slot each; the caller holds `trying` and counted
    /// the slots free under it, and only holders take slots.
    fn send(&self, jobs: Vec<Job>) {
        let claimed: Vec<ClaimedJob> = jobs
            .into_iter()
            .map(|job| ClaimedJob {
                job,
                slot: self
                    .claim
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .expect("a permit counted free under the claim's lock"),
            })
            .collect();
        // A dispatcher gone after the commit leaves its jobs leased to an
        // owner that stops; their leases run out and they are rescued.
        let _ = self.out.send(Ok(claimed));
    }

    /// Claims as many due jobs as there are free slots, in `tx`. A try
    /// that leaves slots free publishes when to look again (the next due
    /// time, or soon when it passed over a locked due job: see
    /// `claims::next_look`), so the dispatcher's timer pokes then; every
    /// try does, whoever makes it, since the dispatcher clears the time
    /// when it pokes.
    ///
    /// Also answers whether the try left slots free (so that it took every
    /// job due for this claim).
    async fn claim_in(&self, tx: &mut Tx) -> Result<(Vec<Job>, bool), StoreError> {
        let free = self.claim.slots.available_permits();
        if free == 0 {
            return Ok((Vec::new(), false));
        }
        let now = self.claim.clock.now();
        let claimed = claims::claim(
            tx,
            &self.claim.owner,
            self.claim.lane,
            free,
            now,
            self.lease(),
        )
        .await?;
        self.published(claimed, free, now, Some(tx)).await
    }

    /// The machines lane's [`Self::claim_in`] as one statement that commits
    /// on its own, on a connection of `pool` (the claims' own, whose
    /// sessions have the planner settings a claim needs).
    async fn claim_alone(&self, pool: &PgPool) -> Result<(Vec<Job>, bool), StoreError> {
        let free = self.claim.slots.available_permits();
        if free == 0 {
            return Ok((Vec::new(), false));
        }
        let now = self.claim.clock.now();
        let claimed =
            claims::claim_machines(pool, &self.claim.owner, free, now, self.lease()).await?;
        self.published(claimed, free, now, None).await
    }

    /// The claim's lease.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.claim.lease).unwrap_or_default()
    }

    /// Publishes when to look again if `claimed` left some of the `free`
    /// slots free (asking `tx` when the claim's statement did not answer
    /// it); answers the jobs and whether slots were left free.
    async fn published(
        &self,
        claimed: claims::Claimed,
        free: usize,
        now: DateTime<Utc>,
        tx: Option<&mut Tx>,
    ) -> Result<(Vec<Job>, bool), StoreError> {
        let claims::Claimed { jobs, look } = claimed;
        let left_free = jobs.len() < free;
        if left_free {
            let next = match (look, tx) {
                (Some(next), _) => next,
                (None, Some(tx)) => claims::next_look(tx, self.claim.lane, now).await?,
                // A claim alone always answers it (`claims::claim_machines`).
                (None, None) => Some(now),
            };
            // Published before the commit: at worst the dispatcher pokes a
            // little early for a job a rolled-back write did not keep.
            self.claim.next_due.send_replace(next);
        }
        Ok((jobs, left_free))
    }
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
                .standing
                .claim
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

    /// Tries every standing claim that no one else is trying, in the
    /// write's transaction `tx`; the jobs go out once it commits
    /// ([`Taken::hand_over`]), and the claims it could not try are woken
    /// then ([`Tried::skipped`]).
    pub(in crate::store) async fn take_in(&self, tx: &mut Tx) -> Result<Tried, StoreError> {
        let standing: Vec<(Arc<Standing>, Arc<Notify>)> = self
            .stands
            .lock()
            .expect("claims poisoned")
            .values()
            .filter(|s| !s.standing.out.is_closed())
            .map(|s| (s.standing.clone(), s.wake.clone()))
            .collect();
        let mut lanes = Vec::new();
        let mut planned = false;
        let mut tried = Tried {
            drained: true,
            ..Tried::default()
        };
        for (standing, wake) in standing {
            let Ok(trying) = standing.trying.clone().try_lock_owned() else {
                tried.skipped.push(wake);
                tried.drained = false;
                continue;
            };
            if !planned {
                claims::plan_claims(tx).await?;
                planned = true;
            }
            let (jobs, left_free) = standing.claim_in(tx).await?;
            tried.drained &= left_free;
            lanes.push(standing.claim.lane);
            tried.held.push(trying);
            if !jobs.is_empty() {
                tried.taken.push(Taken { standing, jobs });
            }
        }
        tried.drained &= [Lane::Machines, Lane::Webhooks]
            .iter()
            .all(|lane| lanes.contains(lane));
        Ok(tried)
    }
}

/// What a write's try of this daemon's standing claims came to.
#[derive(Default)]
pub(in crate::store) struct Tried {
    /// The jobs taken, handed over after the commit.
    pub taken: Vec<Taken>,
    /// The claims someone else was trying (their task): woken after the
    /// commit, since that try may not see what the write wrote. A claim
    /// tried here needs no second try: it saw the write.
    pub skipped: Vec<Arc<Notify>>,
    /// The locks of the claims tried here, held until the write has
    /// committed and handed its jobs over: the slots are taken under them,
    /// and a try by the claim's own task meanwhile would not see the write
    /// (see the module's doc). Released when dropped.
    pub held: Vec<OwnedMutexGuard<()>>,
    /// Whether this daemon took everything the write made due: it has a
    /// claim of each lane, each was tried and left worker slots free.
    /// Other daemons then need no wake-up for it.
    pub drained: bool,
}

impl PostgresDriver {
    pub(in crate::store) async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        let mut tx = self.begin_planned().await?;
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
        let owner = claim.owner.clone();
        let standing = Arc::new(Standing {
            claim,
            out: jobs,
            trying: Arc::default(),
        });
        let task = tokio::spawn(self.clone().stand_loop(
            standing.clone(),
            wake.clone(),
            stop.clone(),
        ));
        let older = self.claims.stands.lock().expect("claims poisoned").insert(
            owner,
            Stand {
                standing: standing.clone(),
                wake: wake.clone(),
                stop,
                task,
            },
        );
        // A newer claim from the same owner replaces the older one.
        if let Some(older) = older {
            older.stop.notify_one();
        }
        // The first try before answering, as SQLite's writer tries a new
        // claim in the batch that registers it: jobs waiting already are
        // on their way, and the claim's task is idle, so the next write
        // tries the claim itself.
        match self.try_stand(&standing).await {
            Ok(false) => {}
            // More than its slots may be due, or the try failed: the task
            // goes on.
            Ok(true) | Err(_) => wake.notify_one(),
        }
        Ok(())
    }

    /// A standing claim's task: tries whenever woken, until stopped or its
    /// dispatcher is gone.
    async fn stand_loop(self, standing: Arc<Standing>, wake: Arc<Notify>, stop: Arc<Notify>) {
        let stopped = stop.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        loop {
            let wait = match self.try_stand(&standing).await {
                Ok(true) => continue,
                Ok(false) if self.claims.listening() => SAFETY_POLL,
                Ok(false) => POLL_WITHOUT_LISTENER,
                Err(e) => {
                    if standing.out.send(Err(e)).is_err() {
                        return;
                    }
                    RETRY_AFTER_ERROR
                }
            };
            if standing.out.is_closed() {
                return;
            }
            tokio::select! {
                biased;
                _ = &mut stopped => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One try of a standing claim by its task: answers whether it filled
    /// every free slot (and should try again at once, for jobs beyond
    /// them).
    async fn try_stand(&self, standing: &Standing) -> Result<bool, StoreError> {
        let _trying = standing.trying.lock().await;
        let free = standing.claim.slots.available_permits();
        if free == 0 {
            return Ok(false);
        }
        let jobs = match standing.claim.lane {
            // One statement that commits on its own: one round trip, not
            // three.
            Lane::Machines => {
                let (jobs, _) = standing.claim_alone(&self.claims_pool).await?;
                if !jobs.is_empty() {
                    // Jobs changed state: the commits watch and the other
                    // daemons hear.
                    self.tell(Effects::default(), Tried::default()).await;
                }
                jobs
            }
            Lane::Webhooks => {
                let mut tx = self.begin_planned().await?;
                let (jobs, _) = standing.claim_in(&mut tx).await?;
                if jobs.is_empty() {
                    self.commit_quietly(tx).await?;
                    return Ok(false);
                }
                self.commit(tx, Effects::default()).await?;
                jobs
            }
        };
        if jobs.is_empty() {
            return Ok(false);
        }
        let took = jobs.len();
        standing.send(jobs);
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
            // Once it ends, every job it took is in its channel; a write
            // trying it meanwhile hands over before releasing `trying`.
            let _ = stand.task.await;
            let _ = stand.standing.trying.lock().await;
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
        self.commit_quietly(tx).await
    }

    /// Takes back jobs whose lease ran out and, at start-up, the jobs of
    /// owners no live daemon answers for (`postgres/claims.rs`).
    pub(in crate::store) async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<(&Arc<str>, Lane)>,
    ) -> Result<Vec<JobId>, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let orphans = orphans_of_others_than.map(|(owner, lane)| (&**owner, lane));
        let ids = claims::rescue(&mut tx, now, orphans, &mut fx).await?;
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
