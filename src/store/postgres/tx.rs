//! A write's transaction and what it did besides its answer: every write
//! operation begins one ([`PostgresDriver::begin`]), lets the concept files
//! write in it and note their [`Effects`], and ends with
//! [`PostgresDriver::commit`], which notifies the other daemons in the same
//! commit and this one's signals after it.

use sqlx::Postgres;

use super::PostgresDriver;
use super::listener::{CHANNEL, Note};
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

    /// Commits a write: notifies the other daemons in the transaction
    /// (PostgreSQL delivers a `NOTIFY` at commit, or never), then tells
    /// this daemon's signals and standing claims. A failed commit is
    /// recorded for readiness and answered as a write error.
    pub(super) async fn commit(&self, mut tx: Tx, mut fx: Effects) -> Result<(), StoreError> {
        // This daemon's standing claims take what the write made claimable,
        // in its transaction, as SQLite's writer does in its batch.
        let taken = if fx.wake || fx.recheck {
            match self.claims.take_in(&mut tx).await {
                Ok(taken) => taken,
                Err(e) => {
                    self.signals.record(Err(e.clone()));
                    return Err(e);
                }
            }
        } else {
            Vec::new()
        };
        if !taken.is_empty() {
            fx.read_only = false;
        }
        if !fx.read_only {
            let note = Note {
                from: self.me,
                wake: fx.wake,
                schedules: fx.schedules_changed,
                revoked: fx.revoked.clone(),
            };
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(note.encode())
                .execute(&mut *tx)
                .await;
            if let Err(e) = sent {
                let e = StoreError::Write(crate::store::Cause::new(e));
                self.signals.record(Err(e.clone()));
                return Err(e);
            }
        }
        if let Err(e) = tx.commit().await {
            let e = StoreError::Write(crate::store::Cause::new(e));
            self.signals.record(Err(e.clone()));
            return Err(e);
        }
        // Before the answer: once a submit returns, its job is on its way.
        for taken in taken {
            taken.hand_over();
        }
        self.committed(&fx);
        Ok(())
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

    /// After a commit, this daemon's side of its effects.
    fn committed(&self, fx: &Effects) {
        if fx.read_only {
            if fx.recheck {
                self.claims.recheck();
            }
            return;
        }
        self.signals.record(Ok(()));
        for (owner, id) in &fx.revoked {
            self.claims.revoke(owner, *id);
        }
        if fx.wake || fx.recheck {
            self.claims.recheck();
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
