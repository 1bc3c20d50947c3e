//! The store's handle, [`Store`]: what every component holds, and the one
//! layer that knows the drivers. It opens the driver (`open`) and forwards
//! each operation to it through `on_driver!` (`store/driver.rs`), one file
//! per concept (`jobs.rs`, `claims.rs`, `machines.rs`, `schedules.rs`,
//! `reports.rs`, `metering.rs`, `facts.rs`), taking and answering the nouns of
//! `store/{jobs,claims,…}.rs`.
//!
//! Nothing below the handle imports it: the drivers see only the nouns,
//! `error`, `signals`, `rows` and `options`, so the store's modules form a
//! DAG (nouns ← drivers ← `driver.rs` ← handle).

mod claims;
mod daemons;
mod facts;
mod groups;
mod jobs;
mod machines;
mod metering;
mod reports;
mod schedules;
mod sessions;
mod webhooks;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::store::driver::{Driver, on_driver};
use crate::store::error::StoreError;
use crate::store::options::StoreOptions;
use crate::store::postgres::{PostgresDriver, migrate_postgres};
use crate::store::signals::{LastWrite, Signals};
use crate::store::sqlite::{SqliteDriver, migrate_sqlite};

/// The handle every component uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The database: every operation is forwarded to it.
    driver: Driver,
    /// What the driver tells after its commits; shared with it.
    signals: Arc<Signals>,
    /// The database file (empty on PostgreSQL), for messages.
    path: Arc<Path>,
    /// What the store is, for messages: the file, or the URL without its
    /// password.
    describe: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("at", &self.describe).finish()
    }
}

impl Store {
    /// Opens the database and applies migrations: the SQLite file at
    /// `opts.path` (created if needed; fails if another daemon holds it), or
    /// the PostgreSQL database at `opts.url`, which other daemons may share.
    pub async fn open(opts: &StoreOptions) -> Result<Store, StoreError> {
        let signals = Arc::new(Signals::default());
        let driver = match &opts.url {
            Some(url) => Driver::Postgres(PostgresDriver::open(opts, url, &signals).await?),
            None => Driver::Sqlite(SqliteDriver::open(opts, &signals).await?),
        };
        Ok(Store {
            driver,
            signals,
            path: opts.path.clone().into(),
            describe: opts.describe().into(),
        })
    }

    /// The database file (empty on PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the store is, for messages: the file's path, or the URL with its
    /// password masked.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Whether the database is PostgreSQL, which several daemons may share.
    pub fn is_shared(&self) -> bool {
        matches!(self.driver, Driver::Postgres(_))
    }

    /// Whether `path` still names the file this store opened (the database
    /// and its WAL, stat'ed when the directory watch reports a change; see
    /// `store/sqlite/file.rs`); once it does not, every write is refused with
    /// [`StoreError::Lost`].
    pub(crate) fn check_file(&self) -> Result<(), StoreError> {
        on_driver!(self, d => d.check_file())
    }

    /// How the writer's last write went (a batch that changed something, or
    /// failed); `None` before the first.
    pub(crate) fn last_write(&self) -> Option<LastWrite> {
        self.signals.last_write()
    }

    /// Writes one row through the writer, like any write: readiness's proof
    /// that the database still takes writes when nothing else wrote lately.
    pub(crate) async fn probe_write(&self) -> Result<(), StoreError> {
        on_driver!(self, d => d.probe_write().await)
    }

    /// For tests of a full disk: caps the database at `pages` pages
    /// (`PRAGMA max_page_count` on the writer's connection; SQLite keeps at
    /// least the pages in use), or lifts the cap with `None`. A write that
    /// needs a new page then fails with SQLite's "database or disk is full",
    /// as on a full disk.
    #[doc(hidden)]
    pub async fn cap_pages_for_test(&self, pages: Option<u32>) -> Result<(), StoreError> {
        on_driver!(self, d => d.cap_pages(pages).await)
    }

    /// Changes after every committed write that changed a row: wait on it
    /// (`changed()`) to read again when something may be new, without
    /// polling. Says only that something changed, not what.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.signals.commits.subscribe()
    }

    /// Notified when a job may have become claimable.
    pub fn wake(&self) -> Arc<Notify> {
        self.signals.wake.clone()
    }
}

/// Applies pending migrations and returns the versions applied: to the
/// SQLite file (refused while a daemon holds it) or the PostgreSQL database
/// (under sqlx's advisory lock).
pub async fn migrate(opts: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    match &opts.url {
        Some(url) => migrate_postgres(url).await,
        None => migrate_sqlite(opts).await,
    }
}
