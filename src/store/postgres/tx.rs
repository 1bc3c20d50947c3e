//! A write's transaction and what it did besides its answer: every write
//! operation begins one ([`PostgresDriver::begin`]), lets the concept files
//! write in it and note their [`Effects`], and ends with
//! [`PostgresDriver::commit`], which tells this daemon's signals and,
//! through the notifier, the other daemons after the commit.

use sqlx::Postgres;

use super::PostgresDriver;
use super::listener::Note;
use super::ops::Tried;
use crate::job::JobId;
use crate::store::StoreError;

/// A write's transaction; every write function runs inside one.
pub(in crate::store) type Tx = sqlx::Transaction<'static, Postgres>;

/// What one write did beyond its answer, acted on at its commit.
#[derive(Default)]
pub(in crate::store) struct Effects {
    /// Some job may have become claimable: the standing claims of every
    /// daemon try again.
    pub wake: bool,
    /// This daemon's standing claims try again even if nothing became
    /// claimable (a worker slot came free).
    pub recheck: bool,
    /// Schedules, windows or overrides changed: the scheduler looks again.
    pub schedules_changed: bool,
    /// Nothing was changed (a claim that took nothing): no notification,
    /// no commit signal, and nothing proven about the database.
    pub read_only: bool,
    /// Running jobs cancelled, with the lease owner that holds them: told
    /// to that owner's standing claim (here, or in another daemon through
    /// the notification) before the cancel is answered.
    pub revoked: Vec<(String, JobId)>,
}

impl PostgresDriver {
    /// Begins a write.
    pub(super) async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Begins a write whose statements must walk their indexes, with the
    /// planner settings of a claim (`claims::PLANNED_BEGIN`: no sorting,
    /// no bitmap scans, no JIT) in the same round trip: a claim, and a
    /// batch of reports, whose update finds its jobs by id. Left to
    /// itself, the planner read the batch's running jobs through a bitmap
    /// scan of `jobs_running`, and a bitmap scan never marks the dead
    /// entries it meets (an index scan does): every job of a busy queue
    /// passes through `running`, so the index held every job that ever
    /// ran until a vacuum, and each batch read them all (2 to 5 ms a
    /// batch after 10,000 jobs).
    pub(super) async fn begin_planned(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin_with(super::claims::PLANNED_BEGIN).await?)
    }

    /// Commits a write, then tells this daemon's signals and standing
    /// claims, and the other daemons through a note sent after the commit
    /// (`notifier.rs`). A failed commit is recorded for readiness and
    /// answered as a write error.
    pub(super) async fn commit(&self, mut tx: Tx, mut fx: Effects) -> Result<(), StoreError> {
        // This daemon's standing claims take what the write made claimable,
        // in its transaction, as SQLite's writer does in its batch.
        let tried = if fx.wake || fx.recheck {
            match self.claims.take_in(&mut tx).await {
                Ok(tried) => tried,
                Err(e) => return Err(self.failed(e)),
            }
        } else {
            Tried::default()
        };
        if !tried.taken.is_empty() {
            fx.read_only = false;
        }
        // The commit and what follows it run to the end in a task of their
        // own, even if the caller goes away meanwhile (a client hung up, a
        // request timed out): a commit that went through must still hand
        // its claimed jobs over, or they would sit leased to this daemon
        // until the lease runs out, and still be told to the waiters and
        // the other daemons.
        let this = self.clone();
        let done = tokio::spawn(async move { this.commit_and_tell(tx, fx, tried).await });
        match done.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(e) => Err(self.failed(StoreError::Write(crate::store::Cause::new(e)))),
        }
    }

    /// [`Self::commit`]'s part after the standing claims were tried.
    async fn commit_and_tell(&self, tx: Tx, fx: Effects, tried: Tried) -> Result<(), StoreError> {
        if let Err(e) = tx.commit().await {
            return Err(self.failed(StoreError::Write(crate::store::Cause::new(e))));
        }
        self.tell(fx, tried).await;
        Ok(())
    }

    /// After a write committed: hands over what `tried` took, wakes the
    /// claims it could not try, and tells this daemon's signals and, by a
    /// note, the other daemons.
    pub(super) async fn tell(&self, mut fx: Effects, tried: Tried) {
        // What this daemon took leaves nothing due for the others to wake
        // for; their followers still hear of the commit.
        let wake_others = fx.wake && !tried.drained;
        // Before the answer: once a submit returns, its job is on its way.
        for taken in tried.taken {
            taken.hand_over();
        }
        // The write is committed and its jobs are handed over: the claims
        // it tried may try on their own.
        drop(tried.held);
        for claim in tried.skipped {
            claim.notify_one();
        }
        self.committed(&fx);
        if !fx.read_only {
            let note = Note {
                from: self.me,
                wake: wake_others,
                schedules: fx.schedules_changed,
                revoked: std::mem::take(&mut fx.revoked),
            };
            if note.revoked.is_empty() {
                self.notifier.send(note);
            } else {
                // A cancel is answered once the job's owner is told.
                self.notifier.send_and_wait(note).await;
            }
        }
    }

    /// Records a failed write for readiness and gives its error back.
    pub(super) fn failed(&self, e: StoreError) -> StoreError {
        self.signals.record(Err(e.clone()));
        e
    }

    /// Commits a write that changed nothing another daemon or waiter acts
    /// on (a lease renewed, a claim that took nothing): no notification,
    /// no standing claim tried.
    pub(super) async fn commit_quietly(&self, tx: Tx) -> Result<(), StoreError> {
        let fx = Effects {
            read_only: true,
            ..Effects::default()
        };
        self.commit(tx, fx).await
    }

    /// After a commit, this daemon's side of its effects (its standing
    /// claims were tried in the write's transaction, and the ones that
    /// could not be tried there are woken: `Tried`).
    fn committed(&self, fx: &Effects) {
        if fx.read_only {
            return;
        }
        self.signals.record(Ok(()));
        for (owner, id) in &fx.revoked {
            self.claims.revoke(owner, *id);
        }
        if fx.wake {
            self.signals.wake.notify_one();
        }
        if fx.schedules_changed {
            self.signals.schedules_changed.notify_one();
        }
        self.signals.committed();
    }
}
