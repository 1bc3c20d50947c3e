//! The one thread that writes to SQLite, and its group commit.
//!
//! SQLite has one writer at a time and a durable commit costs an fsync, so
//! every write goes through this thread: it takes whatever commands are
//! waiting (submits, claims, transitions, cancels, …), applies them in order
//! in ONE transaction, commits, and only then answers each caller. A caller's
//! answer therefore always means "this is on disk" (group commit), and the
//! cost of the fsync is shared by everyone who asked during it.
//!
//! The writer owns a plain rusqlite connection on a thread of its own, so a
//! batch runs its statements back to back on one thread. Through sqlx every
//! statement and every returned row was a hand-off between the async task
//! and sqlx's connection thread, and those hand-offs, not SQLite, were most
//! of a batch's time. Readers keep using sqlx's pool.
//!
//! This file is only the loop: each command is applied by the file of what
//! it writes (`jobs.rs`, `claims.rs`, `machines.rs`, `schedules.rs`,
//! `reports.rs`, `metering.rs`, `webhooks.rs`), which fills the batch's [`Effects`] (`tx.rs`); none of
//! them knows this loop.
//!
//! A commit is answered as done only once the database file is known to be
//! still the one at the store's path (`file.rs`); how the last write went is
//! kept in the store's [`Signals`] for readiness.

use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::mpsc;

use super::claims::{self, Parked};
use super::command::Command;
use super::file::DbFile;
use super::tx::{Effects, pending};
use super::{groups, jobs, machines, metering, reports, schedules, sessions, webhooks};
use crate::job::JobId;
use crate::store::signals::Signals;
use crate::store::{Cause, StoreError};

/// Most commands applied in one transaction; bounds a transaction's size
/// and how long a caller at the back of the line waits.
const MAX_BATCH: usize = 512;

/// State the writer carries between batches.
pub(super) struct Writer {
    /// The only connection that writes; used on the writer's thread only.
    conn: Connection,
    /// Told after the commits: wake-ups, the commit count, the last write.
    signals: Arc<Signals>,
    /// The next job id; assigned here so that one batch can insert many jobs
    /// without reading ids back.
    next_id: JobId,
    /// Standing claims, at most one per owner, tried after every batch that
    /// may have made a job claimable.
    parked: Vec<Parked>,
    /// The file committed to, checked after each commit. Declared after
    /// `conn` so that its lock is released after the connection closes.
    file: Arc<DbFile>,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        signals: Arc<Signals>,
        file: Arc<DbFile>,
    ) -> Result<Self, StoreError> {
        // Never reuse an id, even one whose job was pruned.
        let max_id: Option<i64> = conn.query_row(
            "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM jobs \
             UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'jobs')",
            [],
            |r| r.get(0),
        )?;
        Ok(Writer {
            conn,
            signals,
            next_id: max_id.unwrap_or(0) + 1,
            parked: Vec::new(),
            file,
        })
    }

    /// Applies commands until every sender is gone. Blocks: run it on a
    /// thread of its own.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
            // Once the file is lost nothing more is applied: the callers,
            // their replies dropped, learn why from the signals.
            if let Some(lost) = self.file.lost() {
                batch.clear();
                self.signals.record(Err(lost.clone()));
                continue;
            }
            let mut fx = Effects::with_capacity(batch.len());
            let changes = self.conn.total_changes();
            let outcome = self.commit(batch.drain(..), &mut fx);
            let wrote = self.conn.total_changes() != changes;
            self.finish(outcome, wrote, fx);
        }
    }

    /// Applies a batch in one transaction and commits it; a batch that
    /// fails is rolled back whole and gives back the job ids it took.
    fn commit(
        &mut self,
        commands: impl Iterator<Item = Command>,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        let first_id = self.next_id;
        self.apply(commands, fx).map_err(|e| {
            self.next_id = first_id;
            match e {
                // Logged once, when found; nothing is applied after it.
                e @ StoreError::Lost { .. } => e,
                e => {
                    tracing::error!(error = %e, "a database write failed; the batch was rolled back");
                    StoreError::Write(Cause::new(e))
                }
            }
        })
    }

    fn apply(
        &mut self,
        commands: impl Iterator<Item = Command>,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        // IMMEDIATE: this is the only writer, so take the write lock at once
        // rather than upgrading a read transaction halfway through.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for command in commands {
            match command {
                Command::Job(c) => jobs::apply(&tx, c, &mut self.next_id, fx)?,
                Command::Claim(c) => claims::apply(&tx, c, &mut self.parked, fx)?,
                Command::SeeMachines(c) => machines::apply(&tx, c, fx)?,
                Command::Schedule(c) => schedules::apply_schedule(&tx, c, &mut self.next_id, fx)?,
                Command::Window(c) => schedules::apply_window(&tx, c, &mut self.next_id, fx)?,
                Command::SaveUtilization(c) => reports::apply(&tx, c, fx)?,
                Command::Meter(c) => metering::apply(&tx, c, fx)?,
                Command::Webhook(c) => webhooks::apply(&tx, c, &mut self.next_id, fx)?,
                Command::Group(c) => groups::apply(&tx, c, &mut self.next_id, fx)?,
                Command::SignOut(c) => sessions::apply(&tx, c, fx)?,
                Command::Probe { reply } => {
                    tx.prepare_cached("UPDATE write_probe SET probes = probes + 1")?
                        .execute([])?;
                    fx.pending.push(pending(reply, ()));
                }
                Command::CapPages { pages, reply } => {
                    // SQLite's own limit is its default when lifted.
                    let pages = pages.unwrap_or(0xFFFF_FFFE);
                    tx.pragma_update(None, "max_page_count", pages)?;
                    fx.pending.push(pending(reply, ()));
                }
            }
        }
        if fx.wake || fx.recheck {
            claims::try_parked(&tx, &mut self.parked, fx)?;
        }
        jobs::insert_events(&tx, &fx.events)?;
        // A lost file takes no more commits: no restart would find them.
        if let Some(lost) = self.file.lost() {
            return Err(lost.clone());
        }
        tx.commit()?;
        // After the commit and before any answer, so that "done" means "in
        // the file that a restart opens" (the window left: `file.rs`).
        self.file.check()
    }

    /// After a batch: keeps how it went, tells the standing claims what was
    /// cancelled, answers every caller, then wakes whoever waits on what
    /// the batch changed.
    fn finish(&mut self, outcome: Result<(), StoreError>, wrote: bool, fx: Effects) {
        let ok = outcome.is_ok();
        // A batch that only looked (a claim that found nothing) proves
        // nothing about the disk.
        if !ok || wrote {
            self.signals.record(outcome.clone());
        }
        // Before the answers: once a cancel is answered, the claim knows.
        if ok {
            for (owner, id) in &fx.revoked {
                Parked::revoke(&self.parked, owner, *id);
            }
        }
        for answer in fx.pending {
            answer(outcome.clone());
        }
        if !ok {
            return;
        }
        if fx.wake {
            self.signals.wake.notify_one();
        }
        if fx.schedules_changed {
            self.signals.schedules_changed.notify_one();
        }
        if wrote {
            self.signals.committed();
        }
    }
}
