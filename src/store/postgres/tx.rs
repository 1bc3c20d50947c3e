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
    async fn commit_and_tell(
        &self,
        tx: Tx,
        mut fx: Effects,
        tried: Tried,
    ) -> Result<(), StoreError> {
        if let Err(e) = tx.commit().await {
            return Err(self.failed(StoreError::Write(crate::store::Cause::new(e))));
        }
        // What this daemon took leaves nothing due for the others to wake
        // for; their followers still hear of the commit.
        let wake_others = fx.wake && !tried.drained;
        // Before the answer: once a submit returns, its job is on its way.
        for taken in tried.taken {
            taken.hand_over();
        }
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
        Ok(())
    }

    /// Records a failed write for readiness and gives its error back.
    fn failed(&self, e: StoreError) -> StoreError {
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
