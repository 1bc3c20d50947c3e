//! Persistence: jobs, their history, machines as last seen, schedules and
//! windows, utilization, metering's facts, the daemons on the database —
//! behind one handle, [`Store`], over a database driver: SQLite
//! (`store/sqlite/`, one daemon per file, the default) or PostgreSQL
//! (`store/postgres/`, several daemons on one database, `store.url`).
//!
//! **The handle.** Every component holds a [`Store`] (cheap to clone,
//! `handle/`). Its operations are grouped by what they hold, one file
//! each: `handle/jobs.rs` (submit, transition, cancel, retry, prune, and
//! the job reads), `handle/claims.rs` (claim, stand/park, renew, rescue,
//! release), `handle/machines.rs` (sightings, known machines, start/stop
//! switches, signs of running), `handle/schedules.rs` (schedules, windows,
//! overrides, firings, enforcement), `handle/reports.rs` (utilization),
//! `handle/metering.rs` (machine events, state and rate sightings, the
//! ingestion cursor and gaps, monthly billing, account standing),
//! `handle/facts.rs` (what metrics and readiness read),
//! `handle/groups.rs` (machine groups, and group runs stored with their
//! jobs), `handle/daemons.rs` (the daemons on the database, the leader's
//! lease, the shared rate limit). Each forwards its operations to the
//! driver.
//!
//! **Dependencies.** A job with unfinished dependencies is stored
//! `blocked`, with one edge per unfinished dependency; the transaction that
//! finishes a job settles its dependents (queues those left with no edge,
//! cancels those whose dependency failed), so the hand-off costs no
//! polling and a standing claim takes the dependent in that same commit.
//! A driver must do the same in the transaction of every final state
//! (`store/sqlite/dependencies.rs`).
//!
//! **Layers, as River's `riverdriver`.** Imports run one way, nouns ←
//! drivers ← `driver.rs` ← `handle/`, so the store's modules form a DAG
//! and a driver never sees the handle it serves:
//! - *nouns*: the types the operations take and answer, which every
//!   driver shares, one file per concept (`jobs.rs`, `claims.rs`,
//!   `machines.rs`, `schedules.rs`, `reports.rs`, `metering.rs`,
//!   `facts.rs`); `rows.rs`, the stored encoding; `error.rs`, the one
//!   error type (which keeps the error it came from, see there);
//!   `signals.rs`, the wake-ups and write status every driver keeps;
//!   `options.rs`, where and how to open. None of them imports a driver
//!   or the handle.
//! - *drivers*: `sqlite/` and `postgres/`, importing only the nouns.
//! - *the seam*: `driver.rs`, the enum of drivers and `on_driver!`.
//! - *the handle*: `handle/`, [`Store`], `open` and the forwarding.
//!
//! This file only re-exports, so every path (`crate::store::X`) names the
//! module that defines `X`.
//!
//! **Every write is durable when answered.** A driver answers a write only
//! once it is committed (the SQLite driver group-commits whatever is
//! waiting, on a writer thread of its own: `store/sqlite/batch.rs`), so a
//! caller's `Ok` means "on disk". A write whose worker no longer holds the
//! job changes nothing and says so (`transition` answers `false`).
//!
//! **The seam between drivers** is the enum `driver::Driver`, which
//! `Store` forwards every operation to through a `match` (`driver.rs` says
//! why an enum and not a trait object: the hot path pays nothing for it).
//! A driver is a type with the operations the `impl Store` blocks of
//! `handle/` forward, by the same names and signatures, with the same
//! outcomes: one conformance suite passes against both (the integration
//! tests, run again on PostgreSQL with `MACHINIST_TEST_POSTGRES`, each on a
//! database of its own: `tests/api/harness/database.rs`). Beyond the SQL,
//! a driver provides:
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
//!   (read back by `Store::last_write`), `probe_write`, a real write, and
//!   `migrations`, its embedded migrations that the database lacks.
//! - *Who else writes*: SQLite allows one daemon per database, refused
//!   with [`StoreError::Locked`] at open (flock on the file), and
//!   `check_file` refuses writes with [`StoreError::Lost`] once the file is
//!   no longer the one opened (`store/sqlite/file.rs`). PostgreSQL allows
//!   several: claims skip each other's locked rows, the daemons register
//!   and beat, one holds the scheduler's lease, the rate limit is one row,
//!   and a daemon refuses a schema newer than it knows, or to migrate under
//!   daemons of an older one (`store/postgres/`). Either way, the fence on
//!   leases: every write a lease holder makes (transition, renew, release)
//!   applies only while it still holds the lease (`lease_owner = ?`).
//!
//! No SQL leaves the store: what `http/` reads for readiness and metrics
//! (applied migrations, facts after a cursor, counts) are operations like
//! the others (`facts.rs`, `handle/facts.rs`), so each pool is its
//! driver's alone.
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
//! reads), and the PostgreSQL driver (`postgres/`); its `FromRow` rows
//! (`rows.rs`) are generic over the database, so both drivers' readers
//! decode the same structs. One library would cost either the writer's
//! throughput (sqlx) or async reads, migrations and PostgreSQL (rusqlite).

mod claims;
mod daemons;
mod driver;
mod error;
mod facts;
mod groups;
mod handle;
mod jobs;
mod machines;
mod metering;
mod options;
mod postgres;
mod reports;
pub mod rows;
pub mod schedules;
mod signals;
mod sqlite;
mod webhooks;

pub use claims::{ClaimedJob, StandingClaim};
pub use daemons::{DaemonInfo, DaemonRecord, Leadership};
pub use error::{Cause, StoreError};
pub(crate) use facts::EventFact;
pub use groups::{GroupRemoved, GroupWritten, NewRun, RunResumed, RunStarted};
pub use handle::{Store, migrate};
pub use jobs::{CancelResult, EventFilter, JobFilter, RetryResult, Submitted, Transition};
pub use machines::{KnownMachine, MachineSwitch};
pub use metering::EventsSaved;
pub use options::{DatabaseUrl, Durability, StoreOptions};
pub use postgres::PG_MIGRATOR;
pub use reports::UtilizationRow;
pub use sqlite::MIGRATOR;
pub use webhooks::{AlarmMark, Delivery, EndpointSaved, Publication, Published};
