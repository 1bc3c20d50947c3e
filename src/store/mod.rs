//! Persistence: jobs, their history, machines as last seen, schedules and
//! windows, utilization — behind one handle, [`Store`], over a database
//! driver (today SQLite, `store/sqlite/`).
//!
//! **The handle.** Every component holds a [`Store`] (cheap to clone). Its
//! operations are grouped by what they hold, one file each: `jobs.rs`
//! (submit, transition, cancel, retry, prune, and the job reads),
//! `claims.rs` (claim, stand/park, renew, rescue, release), `machines.rs`
//! (sightings, known machines, start/stop switches, signs of running),
//! `schedules.rs` (schedules, windows, overrides, firings, enforcement),
//! `reports.rs` (utilization). Each file holds the types its operations
//! take and answer and the `impl Store` block that forwards them to the
//! driver; `rows.rs` is the stored encoding, `error.rs` the one error type
//! (which keeps the error it came from, see there),
//! `signals.rs` the wake-ups and write status every driver keeps.
//!
//! **Every write is durable when answered.** A driver answers a write only
//! once it is committed (the SQLite driver group-commits whatever is
//! waiting, on a writer thread of its own: `store/sqlite/batch.rs`), so a
//! caller's `Ok` means "on disk". A write whose worker no longer holds the
//! job changes nothing and says so (`transition` answers `false`).
//!
//! **The seam for a second driver** is the enum `driver::Driver`, which
//! `Store` forwards every operation to through a `match` (`driver.rs` says
//! why an enum and not a trait object: the hot path pays nothing for it).
//! A new driver (PostgreSQL, in the next issue) is a type with the
//! operations the `impl Store` blocks forward, by the same names and
//! signatures, with the same outcomes, so that one conformance suite
//! passes against both. Beyond the SQL, it must provide:
//! - *Notifications*, through the `signals::Signals` it is given at
//!   open: `wake` after a commit that may have made a job claimable,
//!   `schedules_changed` after one that changed schedules, windows or
//!   overrides, `committed()` (the [`Store::commits`] watch) after every
//!   commit that changed a row, and standing claims (`stand`, `unpark`,
//!   `poke`) that take jobs as soon as a commit makes them claimable
//!   (SQLite: in the same transaction; PostgreSQL: on LISTEN/NOTIFY, with
//!   `FOR UPDATE SKIP LOCKED` claims). A driver with other writers than
//!   this process must tell these for their commits too.
//! - *Readiness*: `record()` every write that changed something or failed
//!   (read back by `Store::last_write`), and `probe_write`, a real write.
//! - *The lock on the database*: one daemon per database, refused with
//!   [`StoreError::Locked`] at open (SQLite: flock on the file), and
//!   `check_file`, which refuses writes with [`StoreError::Lost`] once the
//!   database is no longer the one opened (SQLite: `store/sqlite/file.rs`).
//!   And the fence on leases: every write a lease holder makes (transition,
//!   renew, release) applies only while it still holds the lease
//!   (`lease_owner = ?`).
//!
//! One leak of the seam is left: `http/` (readiness, metrics, a machine by
//! id) still runs a few SQLite queries of its own on `Store::reader`;
//! they move behind the driver with the PostgreSQL one.
//!
//! **Two SQLite libraries, on purpose.** The readers use sqlx and the
//! writer uses rusqlite; both link the one bundled `libsqlite3-sys`, so the
//! binary has one SQLite. The writer is one dedicated thread doing
//! synchronous group commits: rusqlite runs each statement on the calling
//! thread, while sqlx's SQLite connection is a worker thread that every
//! statement is sent to, and every row sent back from, over a channel —
//! those hand-offs were most of a batch's time when the writer used sqlx.
//! sqlx, in turn, gives the async read pool (rusqlite has no async API:
//! readers on it would need a thread pool of our own), the embedded
//! migrator ([`MIGRATOR`], whose `_sqlx_migrations` table readiness
//! reads), and the PostgreSQL driver to come; its `FromRow` rows
//! (`rows.rs`) are generic over the database, so both drivers' readers
//! decode the same structs. One library would cost either the writer's
//! throughput (sqlx) or async reads, migrations and PostgreSQL (rusqlite).

mod claims;
mod driver;
mod error;
mod jobs;
mod machines;
mod options;
mod reports;
pub mod rows;
pub mod schedules;
mod signals;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::SqlitePool;
use tokio::sync::Notify;

pub use claims::{ClaimedJob, StandingClaim};
use driver::{Driver, on_driver};
pub use error::{Cause, StoreError};
pub use jobs::{CancelResult, JobFilter, RetryResult, Submitted, Transition};
pub use machines::{KnownMachine, MachineSwitch};
pub use options::{Durability, StoreOptions};
pub use reports::UtilizationRow;
pub(crate) use signals::LastWrite;
use signals::Signals;
use sqlite::SqliteDriver;
pub use sqlite::{MIGRATOR, migrate};

/// The handle every component uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The database: every operation is forwarded to it.
    driver: Driver,
    /// The SQLite driver's read-only pool, for the queries `http/` still
    /// runs itself (module doc).
    pub(crate) reader: SqlitePool,
    /// What the driver tells after its commits; shared with it.
    signals: Arc<Signals>,
    /// The database file, for messages.
    path: Arc<Path>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts
    /// the writer. Fails if another daemon holds the file.
    pub async fn open(opts: &StoreOptions) -> Result<Store, StoreError> {
        let signals = Arc::new(Signals::default());
        let sqlite = SqliteDriver::open(opts, &signals).await?;
        Ok(Store {
            reader: sqlite.reader().clone(),
            driver: Driver::Sqlite(sqlite),
            signals,
            path: opts.path.clone().into(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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
