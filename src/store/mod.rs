//! Persistence: jobs, their history, and the last known state of machines,
//! in SQLite.
//!
//! Writes go through one writer thread (`store/writer.rs`) that group-commits
//! whatever is waiting, so every acknowledged write is on disk. Reads use a
//! small pool of their own connections, which WAL mode lets run beside the
//! writer. Migrations in `migrations/sqlite/` are embedded in the binary and
//! applied when the store opens. The store locks the database file itself
//! (one daemon per file, by whatever path) and refuses every write once the
//! file at its path is no longer the one it opened (`store/file.rs`).

mod file;
pub mod rows;
pub mod schedules;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::job::{Checkpoint, Job, JobEvent, JobId, JobKind, JobState, NewEvent, NewJob};
use crate::machine::Machine;
use file::{DbFile, Held};
use rows::{EventRow, JobRow, from_ms, to_ms};
pub(crate) use writer::LastWrite;
use writer::WriteStatus;
pub use writer::{ClaimedJob, StandingClaim};
use writer::{Command, EncodedJob, EncodedTransition, SeenMachine, Writer};

/// The embedded SQLite migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How durable a commit is (SQLite `PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync on every commit: nothing acknowledged is lost on power failure.
    #[default]
    Full,
    /// fsync at checkpoints: survives a crash of the process, may lose the
    /// last commits on power failure; much faster.
    Normal,
}

/// Where and how to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    pub durability: Durability,
    /// How long a reader waits for a lock before failing.
    pub busy_timeout: Duration,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreOptions {
            path: path.into(),
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A failed store operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the database {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    /// The lock is on the file, so this is whatever path the other daemon
    /// opened it by (a symlink, a hard link, a bind mount).
    #[error(
        "another machinist daemon{} is using the database {path} (by this path or another one to the same file); stop it, or give this one its own `store.path`",
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        path: PathBuf,
        /// The process holding the lock, when the system tells.
        holder: Option<u32>,
    },
    #[error("could not apply the database migrations: {0}")]
    Migrate(Arc<str>),
    #[error("database error: {0}")]
    Db(Arc<str>),
    /// A batch could not be committed; nothing in it was written.
    #[error("could not write to the database: {0}")]
    Write(Arc<str>),
    #[error("job {job_id} in the database cannot be read ({detail})")]
    Corrupt { job_id: JobId, detail: String },
    #[error("the database writer has stopped (the daemon is shutting down)")]
    Closed,
    /// The file at `path` is no longer the one the daemon opened (see
    /// `store/file.rs`); nothing more is written.
    #[error(
        "the database file {path} {what} while the daemon ran; writes are refused, since a restart would not find them: restart the daemon (after putting the right file back at that path, if it was moved)"
    )]
    Lost { path: PathBuf, what: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e.to_string().into())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string().into())
    }
}

/// What a submit did.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub job: Job,
    /// False when the idempotency key matched an existing job, which is returned.
    pub created: bool,
}

/// What a cancel did.
#[derive(Debug, Clone)]
pub enum CancelResult {
    Cancelled(Box<Job>),
    AlreadyFinished(Box<Job>),
    NotFound,
}

/// What a retry did.
#[derive(Debug, Clone)]
pub enum RetryResult {
    Queued(Box<Job>),
    /// Only failed jobs can be retried.
    NotFailed(Box<Job>),
    NotFound,
}

/// A worker's report on a job it holds: the new state and everything that
/// goes with it, written in one transaction — or not at all, when the worker
/// no longer holds the job (it was cancelled or its lease was taken back).
#[derive(Debug, Clone)]
pub struct Transition {
    pub job_id: JobId,
    /// The lease holder; the write only applies while it still holds the job.
    pub owner: Arc<str>,
    /// The new state; `Running` records a checkpoint mid-step and keeps the lease.
    pub to: JobState,
    /// When the job is next due (retries and polls).
    pub run_at: Option<DateTime<Utc>>,
    /// Replaces the stored checkpoint (`None` clears it).
    pub checkpoint: Option<Checkpoint>,
    /// Sets the job's machine (a create learns it).
    pub machine_id: Option<String>,
    pub result: Option<Value>,
    /// Sets `last_error`.
    pub error: Option<String>,
    /// History rows: the state change, API calls, notes.
    pub events: Vec<NewEvent>,
    /// Machines seen on the way, for the machines table.
    pub seen: Vec<Machine>,
    /// `seen` is the whole account: machines missing from it are gone.
    pub seen_complete: bool,
    /// Machines found to no longer exist.
    pub gone: Vec<String>,
    /// What a utilization job pulled, kept per (machine, month).
    pub utilization: Option<crate::machine::Utilization>,
}

/// Filters of a job listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    pub machine_id: Option<String>,
}

/// A machine as last seen by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownMachine {
    pub machine: Machine,
    /// When a job or the scheduler's listing last saw it.
    pub seen_at: DateTime<Utc>,
    /// When Paperspace said it no longer exists.
    pub gone_at: Option<DateTime<Utc>>,
}

/// The earliest `run_at` after `?` of a queued or waiting job; read by the
/// writer for its standing claims and by anyone through the readers.
const NEXT_DUE: &str = "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_next_due \
     WHERE state IN ('queued', 'waiting') AND run_at > ?";

/// Room for this many writes to wait for the writer; beyond it, callers wait
/// (admission control: latency stays bounded when submitters outrun the disk).
const WRITE_QUEUE: usize = 4096;

/// The handle every component uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Commands for the writer thread.
    writer: mpsc::Sender<Command>,
    /// Read-only connections.
    pub(crate) reader: SqlitePool,
    /// Notified when a job may have become claimable.
    wake: Arc<Notify>,
    /// Notified when schedules, windows or overrides change.
    schedules_changed: Arc<Notify>,
    /// The locked database file (one daemon per file), watched for removal;
    /// the lock goes with the last handle.
    file: Arc<Held>,
    /// How the writer's last write went, for readiness and for callers
    /// whose batch failed before their command was answered.
    status: Arc<WriteStatus>,
    path: Arc<Path>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
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
    open().map_err(|e| StoreError::Open {
        path: opts.path.clone(),
        detail: e.to_string(),
    })
}

/// Applies pending migrations and returns the versions applied. Refused,
/// like a second daemon, while a daemon has the database: its schema must not
/// change under it.
pub async fn migrate(opts: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    // Released when this returns, after the migration's connection closed.
    let _lock = file::create_locked(&opts.path)?;
    apply_migrations(opts).await
}

/// [`migrate`] on a file that exists.
async fn apply_migrations(opts: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    let mut conn = SqliteConnection::connect_with(&connect_options(opts))
        .await
        .map_err(|e| StoreError::Open {
            path: opts.path.clone(),
            detail: e.to_string(),
        })?;
    let applied = run_migrations(&mut conn).await?;
    conn.close().await?;
    Ok(applied)
}

async fn run_migrations(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let before: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    MIGRATOR
        .run(&mut *conn)
        .await
        .map_err(|e| StoreError::Migrate(e.to_string().into()))?;
    Ok(MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !before.iter().any(|(b,)| b == v))
        .collect())
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts
    /// the writer. Fails if another daemon holds the file.
    pub async fn open(opts: &StoreOptions) -> Result<Store, StoreError> {
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
        let wake = Arc::new(Notify::new());
        let schedules_changed = Arc::new(Notify::new());
        let conn = open_writer(opts)?;
        // After the writer's connection: it made the WAL, and keeps it.
        let file = Arc::new(DbFile::watch(&opts.path, lock)?);
        let status = Arc::new(WriteStatus::default());
        let writer = Writer::new(
            conn,
            wake.clone(),
            schedules_changed.clone(),
            file.clone(),
            status.clone(),
        )?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        // Ends when the last Store handle (and with it the sender) is gone.
        std::thread::Builder::new()
            .name("machinist-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Open {
                path: opts.path.clone(),
                detail: format!("could not start the writer thread: {e}"),
            })?;
        Ok(Store {
            writer: tx,
            reader,
            wake,
            schedules_changed,
            file: Arc::new(Held(file)),
            status,
            path: opts.path.clone().into(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `path` still names the file this store opened (the database
    /// and its WAL, stat'ed when the directory watch reports a change; see
    /// `store/file.rs`); once it does not, every write is refused with
    /// [`StoreError::Lost`].
    pub(crate) fn check_file(&self) -> Result<(), StoreError> {
        self.file.0.check()
    }

    /// How the writer's last write went (a batch that changed something, or
    /// failed); `None` before the first.
    pub(crate) fn last_write(&self) -> Option<LastWrite> {
        self.status
            .last
            .lock()
            .expect("write status poisoned")
            .clone()
    }

    /// Writes one row through the writer, like any write: readiness's proof
    /// that the database still takes writes when nothing else wrote lately.
    pub(crate) async fn probe_write(&self) -> Result<(), StoreError> {
        self.send(|reply| Command::Probe { reply }).await
    }

    /// For tests of a full disk: caps the database at `pages` pages
    /// (`PRAGMA max_page_count` on the writer's connection; SQLite keeps at
    /// least the pages in use), or lifts the cap with `None`. A write that
    /// needs a new page then fails with SQLite's "database or disk is full",
    /// as on a full disk.
    #[doc(hidden)]
    pub async fn cap_pages_for_test(&self, pages: Option<u32>) -> Result<(), StoreError> {
        self.send(|reply| Command::CapPages { pages, reply }).await
    }

    /// Changes after every committed write that changed a row: wait on it
    /// (`changed()`) to read again when something may be new, without
    /// polling. Says only that something changed, not what.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.status.commits.subscribe()
    }

    /// Notified when a job may have become claimable.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub(crate) async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        // Before the command goes, so that the wake-up of its batch's
        // failure cannot come first.
        let failed = self.status.failed.notified();
        self.writer
            .send(make(tx))
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
                Err(self.last_write().and_then(|w| w.error).unwrap_or_else(|| {
                    StoreError::Write("its batch failed; the daemon's log says why".into())
                }))
            }
        }
    }

    /// Stores a new job (or returns the one its idempotency key already made).
    pub async fn submit(&self, job: NewJob, now: DateTime<Utc>) -> Result<Submitted, StoreError> {
        // Encoded here, on the caller's thread, not on the writer's.
        let job = Box::new(EncodedJob::new(job));
        self.send(|reply| Command::Submit { job, now, reply }).await
    }

    /// Takes up to `limit` due jobs for `owner`, leased until `lease_until`.
    pub async fn claim(
        &self,
        owner: &Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        self.send(|reply| Command::Claim {
            owner: owner.clone(),
            limit,
            now,
            lease_until,
            reply,
        })
        .await
    }

    /// Registers a standing claim for `claim.owner`: from now on, whenever
    /// jobs can run and the owner has free slots, the writer claims them in
    /// the same transaction as the write that made them claimable and sends
    /// them, after the commit, on the returned channel. It replaces an older
    /// standing claim of the same owner and ends with `unpark`.
    pub async fn stand(
        &self,
        claim: StandingClaim,
    ) -> Result<mpsc::UnboundedReceiver<Result<Vec<ClaimedJob>, StoreError>>, StoreError> {
        let (jobs, rx) = mpsc::unbounded_channel();
        self.send(|reply| Command::Stand { claim, jobs, reply })
            .await?;
        Ok(rx)
    }

    /// Makes the writer try its standing claims again, for a job that fell
    /// due with the passing of time. Never waits: when the writer's queue is
    /// full, a batch (which tries them anyway) is on its way.
    pub fn poke(&self) {
        let _ = self.writer.try_send(Command::Poke);
    }

    /// Withdraws `owner`'s standing claim; once this returns, every job it
    /// took is already in its channel.
    pub async fn unpark(&self, owner: &Arc<str>) -> Result<(), StoreError> {
        self.send(|reply| Command::Unpark {
            owner: owner.clone(),
            reply,
        })
        .await
    }

    /// Records a worker's report; false when the worker no longer held the job.
    pub async fn transition(
        &self,
        transition: Transition,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let transition = Box::new(EncodedTransition::new(transition));
        self.send(|reply| Command::Transition {
            transition,
            now,
            reply,
        })
        .await
    }

    /// Extends the leases `owner` holds on `ids`.
    pub async fn renew(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.send(|reply| Command::Renew {
            owner: owner.clone(),
            ids,
            until,
            reply,
        })
        .await
    }

    /// Returns jobs whose lease ran out to the queue (or fails those on their
    /// last attempt). With `orphans_of_others_than`, also every job leased by
    /// another owner: right at start-up, when this daemon holds the file lock,
    /// those owners are known to be dead.
    pub async fn rescue(
        &self,
        now: DateTime<Utc>,
        orphans_of_others_than: Option<&Arc<str>>,
    ) -> Result<Vec<JobId>, StoreError> {
        self.send(|reply| Command::Rescue {
            now,
            orphans_of_others_than: orphans_of_others_than.cloned(),
            reply,
        })
        .await
    }

    /// Puts `owner`'s unfinished jobs back in the queue (graceful shutdown).
    pub async fn release(
        &self,
        owner: &Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.send(|reply| Command::Release {
            owner: owner.clone(),
            ids,
            now,
            reply,
        })
        .await
    }

    pub async fn cancel(&self, id: JobId, now: DateTime<Utc>) -> Result<CancelResult, StoreError> {
        self.send(|reply| Command::Cancel { id, now, reply }).await
    }

    pub async fn retry(&self, id: JobId, now: DateTime<Utc>) -> Result<RetryResult, StoreError> {
        self.send(|reply| Command::Retry { id, now, reply }).await
    }

    /// Records machines as seen now; with `complete`, machines missing from
    /// the list are marked gone.
    pub async fn see_machines(
        &self,
        machines: Vec<Machine>,
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let machines = machines.into_iter().map(SeenMachine::new).collect();
        self.send(|reply| Command::SeeMachines {
            machines,
            gone: Vec::new(),
            complete,
            now,
            reply,
        })
        .await
    }

    /// Deletes finished jobs (and their history) that finished before the cutoff.
    pub async fn prune(&self, finished_before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.send(|reply| Command::Prune {
            finished_before,
            reply,
        })
        .await
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row: Option<JobRow> = sqlx::query_as("SELECT * FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(Job::try_from).transpose()
    }

    /// Jobs newest first, below the cursor `before` (a job id).
    pub async fn jobs(
        &self,
        filter: &JobFilter,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let rows: Vec<JobRow> = sqlx::query_as(
            "SELECT * FROM jobs WHERE id < ? AND (? IS NULL OR state = ?) \
             AND (? IS NULL OR kind = ?) AND (? IS NULL OR machine_id = ?) \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.state.map(JobState::as_str))
        .bind(filter.kind.map(JobKind::as_str))
        .bind(filter.kind.map(JobKind::as_str))
        .bind(&filter.machine_id)
        .bind(&filter.machine_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// A job's history, oldest first.
    pub async fn events(&self, job_id: JobId) -> Result<Vec<JobEvent>, StoreError> {
        let rows: Vec<EventRow> =
            sqlx::query_as("SELECT * FROM job_events WHERE job_id = ? ORDER BY id")
                .bind(job_id)
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter().map(JobEvent::try_from).collect()
    }

    /// Every job's history, newest first, below the cursor `before` (an event id).
    pub async fn history(
        &self,
        machine_id: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<JobEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT e.* FROM job_events e WHERE e.id < ? AND (? IS NULL OR e.job_id IN \
             (SELECT id FROM jobs WHERE machine_id = ?)) ORDER BY e.id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(machine_id)
        .bind(machine_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(JobEvent::try_from).collect()
    }

    /// The earliest time after `now` at which a queued or waiting job falls due.
    pub async fn next_due_after(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (next,): (Option<i64>,) = sqlx::query_as(NEXT_DUE)
            .bind(to_ms(now))
            .fetch_one(&self.reader)
            .await?;
        Ok(next.map(from_ms))
    }

    /// When the earliest lease of a running job runs out, whoever holds it:
    /// the lease keeper sleeps until then instead of checking on a timer.
    pub async fn next_lease_expiry(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Served by the partial index `jobs_running`.
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(lease_expires_at) FROM jobs WHERE state = 'running'")
                .fetch_one(&self.reader)
                .await?;
        Ok(next.map(from_ms))
    }

    /// Jobs per state, for status and metrics.
    pub async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| Some((s.parse().ok()?, n as u64)))
            .collect())
    }

    /// Every machine the daemon has seen.
    pub async fn machines(&self) -> Result<Vec<KnownMachine>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT data, seen_at, gone_at FROM machines ORDER BY name, id")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|(data, seen, gone)| {
                let machine: Machine = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Db(e.to_string().into()))?;
                Ok(KnownMachine {
                    machine,
                    seen_at: from_ms(seen),
                    gone_at: gone.map(from_ms),
                })
            })
            .collect()
    }
}
