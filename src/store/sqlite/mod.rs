//! The SQLite driver: one file, one writer thread, a pool of readers.
//!
//! Writes are [`Command`]s sent to the writer thread (`batch.rs`), which
//! applies whatever is waiting in one transaction and answers after the
//! commit; each command is defined and applied by the file of what it
//! writes (`jobs.rs`, `claims.rs`, `machines.rs`, `schedules.rs`,
//! `reports.rs`, `metering.rs`, `webhooks.rs`). Reads run on sqlx's pool of read-only connections, which
//! WAL mode lets run beside the writer. Migrations in `migrations/sqlite/`
//! are embedded in the binary and applied when the store opens. The driver
//! locks the database file itself (one daemon per file, by whatever path)
//! and refuses every write once the file at its path is no longer the one
//! it opened (`file.rs`).
//!
//! Dependencies run one way, so the driver's files form a DAG: this file
//! (the handle, [`SqliteDriver`]: open, `send`, the file checks) →
//! `batch.rs` (the loop) → `command.rs` ([`Command`], one variant per
//! family) → the per-concept files → `tx.rs` (what a batch lends a
//! command) and `rows.rs`; among the concept files, `schedules` → `jobs`
//! (a firing submits jobs) → `machines`, `reports` (a report carries
//! sightings and utilization), `claims` → `jobs`, `webhooks` → `jobs` (a
//! publication queues deliveries), and `metering` on its own. The operations the
//! store's handle forwards to are `impl SqliteDriver` blocks in `ops/`,
//! one file per concept, which turn writes into their family's command
//! (`send` takes any command that converts into a [`Command`]) and run
//! reads on the pool; nothing imports `ops/`, and no concept file knows
//! the handle or the loop. Beyond its own files the driver imports only
//! the store's nouns, `error`, `signals`, `rows` and `options`.

mod batch;
mod claims;
mod command;
mod dependencies;
mod file;
mod groups;
mod jobs;
mod machines;
mod metering;
mod ops;
mod reports;
mod rows;
mod schedules;
mod sessions;
mod tx;
mod webhooks;

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{mpsc, oneshot};

use super::facts::Migrations;
use super::signals::Signals;
use super::{Cause, Durability, StoreError, StoreOptions};
use command::Command;
use file::{DbFile, Held};
use tx::Reply;

/// The embedded SQLite migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Room for this many writes to wait for the writer; beyond it, callers wait
/// (admission control: latency stays bounded when submitters outrun the disk).
const WRITE_QUEUE: usize = 4096;

/// The SQLite driver's side of a store handle. Cheap to clone.
#[derive(Clone)]
pub(in crate::store) struct SqliteDriver {
    /// Commands for the writer thread; the thread ends when the last
    /// sender (the last handle) is gone.
    writer: mpsc::Sender<Command>,
    /// Read-only connections.
    reader: SqlitePool,
    /// The locked database file (one daemon per file), watched for removal;
    /// the lock goes with the last handle.
    file: Arc<Held>,
    /// The store's signals, for callers whose batch failed before their
    /// command was answered.
    signals: Arc<Signals>,
    /// The one daemon on the file, as it registered (`ops/daemons.rs`).
    me: Arc<std::sync::Mutex<Option<crate::store::DaemonRecord>>>,
}

/// The settings of every connection to the database, the readers' (sqlx)
/// and the writer's (rusqlite): one list, so the two cannot drift apart.
fn pragmas(opts: &StoreOptions) -> [(&'static str, &'static str); 4] {
    [
        ("journal_mode", "WAL"),
        (
            "synchronous",
            match opts.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        ),
        ("foreign_keys", "ON"),
        // A few MiB of page cache was measured faster than a large one.
        ("cache_size", "-4096"),
    ]
}

fn connect_options(opts: &StoreOptions) -> SqliteConnectOptions {
    pragmas(opts).into_iter().fold(
        SqliteConnectOptions::new()
            .filename(&opts.path)
            .create_if_missing(true)
            .busy_timeout(opts.busy_timeout)
            .disable_statement_logging(),
        |options, (name, value)| options.pragma(name, value),
    )
}

/// The database at `path` could not be opened.
fn open_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// The writer's own connection, with the same settings as the readers'.
fn open_writer(opts: &StoreOptions) -> Result<rusqlite::Connection, StoreError> {
    let open = || -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(&opts.path)?;
        conn.busy_timeout(opts.busy_timeout)?;
        for (name, value) in pragmas(opts) {
            conn.pragma_update(None, name, value)?;
        }
        // Every statement the writer runs, with room to spare.
        conn.set_prepared_statement_cache_capacity(64);
        // Plans that do not depend on bound values: without this, SQLite
        // prepares the claim again whenever its LIMIT (the claim's free
        // slots) changes, which cost more than running it.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        Ok(conn)
    };
    open().map_err(|e| open_error(&opts.path, e))
}

/// Applies pending migrations and returns the versions applied. Refused,
/// like a second daemon, while a daemon has the database: its schema must not
/// change under it.
pub(in crate::store) async fn migrate_sqlite(opts: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    // Released when this returns, after the migration's connection closed.
    let _lock = file::create_locked(&opts.path)?;
    apply_migrations(opts).await
}

/// [`migrate`] on a file that exists.
async fn apply_migrations(opts: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    let mut conn = SqliteConnection::connect_with(&connect_options(opts))
        .await
        .map_err(|e| open_error(&opts.path, e))?;
    let applied = run_migrations(&mut conn).await?;
    conn.close().await?;
    Ok(applied)
}

/// The versions of the migrations applied successfully, from sqlx's own
/// table (which a database never migrated lacks: an error).
const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success = 1";

async fn run_migrations(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let before: Vec<(i64,)> = sqlx::query_as(APPLIED)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    MIGRATOR
        .run(&mut *conn)
        .await
        .map_err(|e| StoreError::Migrate(Cause::new(e)))?;
    Ok(MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !before.iter().any(|(b,)| b == v))
        .collect())
}

impl SqliteDriver {
    /// Opens (creating if needed) the database, applies migrations and
    /// starts the writer, which tells `signals`. Fails if another daemon
    /// holds the file.
    pub(in crate::store) async fn open(
        opts: &StoreOptions,
        signals: &Arc<Signals>,
    ) -> Result<SqliteDriver, StoreError> {
        let lock = file::create_locked(&opts.path)?;
        let applied = apply_migrations(opts).await?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied database migrations");
        }
        // No idle timeout or lifetime: either makes sqlx run a reaper task
        // that wakes the daemon every period even when nothing is due. Four
        // idle connections cost a thread blocked on a channel each.
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect_options(opts).read_only(true))
            .await?;
        let conn = open_writer(opts)?;
        // After the writer's connection: it made the WAL, and keeps it.
        let file = Arc::new(DbFile::watch(&opts.path, lock)?);
        let writer = batch::Writer::new(conn, signals.clone(), file.clone())?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        // Ends when the last handle (and with it the sender) is gone.
        std::thread::Builder::new()
            .name("machinist-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Open {
                path: opts.path.clone(),
                detail: format!("could not start the writer thread: {e}"),
            })?;
        Ok(SqliteDriver {
            writer: tx,
            reader,
            file: Arc::new(Held(file)),
            signals: signals.clone(),
            me: Arc::default(),
        })
    }

    /// Sends a command to the writer and waits for its answer, which comes
    /// after the commit of its batch.
    async fn send<T, C: Into<Command>>(
        &self,
        make: impl FnOnce(Reply<T>) -> C,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        // Before the command goes, so that the wake-up of its batch's
        // failure cannot come first.
        let failed = self.signals.failed.notified();
        self.writer
            .send(make(tx).into())
            .await
            .map_err(|_| StoreError::Closed)?;
        match rx.await {
            Ok(answer) => answer,
            // Unanswered: the file was lost, or the batch failed before it
            // reached this command, or the writer is gone.
            Err(_) => {
                if let Some(lost) = self.file.0.lost() {
                    return Err(lost.clone());
                }
                tokio::select! {
                    _ = failed => {}
                    _ = self.writer.closed() => return Err(StoreError::Closed),
                }
                Err(self
                    .signals
                    .last_write()
                    .and_then(|w| w.error)
                    .unwrap_or_else(|| {
                        StoreError::Write("its batch failed; the daemon's log says why".into())
                    }))
            }
        }
    }

    /// [`MIGRATOR`]'s migrations that the database lacks, for readiness.
    pub(in crate::store) async fn migrations(&self) -> Result<Migrations, StoreError> {
        let applied: Vec<(i64,)> = sqlx::query_as(APPLIED).fetch_all(&self.reader).await?;
        Ok(Migrations {
            known: MIGRATOR.iter().count(),
            missing: MIGRATOR
                .iter()
                .map(|m| m.version)
                .filter(|v| !applied.iter().any(|(a,)| a == v))
                .collect(),
        })
    }

    /// Whether the path still names the file opened (`file.rs`).
    pub(in crate::store) fn check_file(&self) -> Result<(), StoreError> {
        self.file.0.check()
    }

    /// Writes the one row of `write_probe` through the writer.
    pub(in crate::store) async fn probe_write(&self) -> Result<(), StoreError> {
        self.send(|reply| Command::Probe { reply }).await
    }

    /// `PRAGMA max_page_count` on the writer's connection, for tests of a
    /// full disk.
    pub(in crate::store) async fn cap_pages(&self, pages: Option<u32>) -> Result<(), StoreError> {
        self.send(|reply| Command::CapPages { pages, reply }).await
    }
}
