//! The seam between the store's handle and a database: [`Driver`].
//!
//! A driver is a type with the operations [`Store`](super::Store) forwards
//! to, by the same names and signatures (`submit`, `claim`, `stand`,
//! `transition`, `renew`, … `overrides`, `check_file`, `probe_write`); the
//! SQLite one is `store/sqlite/`. `Store` holds one in the enum [`Driver`]
//! and forwards each call through [`on_driver!`], a `match` on it. Adding a
//! driver is adding a variant and its arm in `on_driver!`: the compiler
//! then names every operation the new driver lacks, or has with another
//! signature, at the `Store` method that forwards it. Only the handle
//! (`store/handle/`) imports this file, and it imports only the drivers: a
//! driver never sees the seam or the handle (the layers: `store/mod.rs`).
//!
//! Why an enum and not a trait object: the drivers are a closed set (both
//! in this crate), and the hot path (submit, claim, transition, renew) must
//! not pay for the seam. An `async_trait` (or any `dyn`) driver boxes the
//! future of every call, an allocation per job step; native `async fn` in a
//! trait is not object-safe, so a trait would need `Store<D: Driver>`,
//! generic through every component and test that holds a store. A `match`
//! on an enum is a branch the compiler sees through, and the future of each
//! call stays a plain value on the caller's stack.

use super::postgres::PostgresDriver;
use super::sqlite::SqliteDriver;

/// The database behind a store.
#[derive(Clone)]
pub(super) enum Driver {
    /// One SQLite file: a writer thread with group commit, sqlx readers.
    Sqlite(SqliteDriver),
    /// A PostgreSQL database that several daemons may share: a
    /// transaction per write, `LISTEN`/`NOTIFY` between daemons.
    Postgres(PostgresDriver),
}

/// `$body` with `$d` bound to the driver of `$store`, whichever it is.
macro_rules! on_driver {
    ($store:expr, $d:ident => $body:expr) => {
        match &$store.driver {
            $crate::store::driver::Driver::Sqlite($d) => $body,
            $crate::store::driver::Driver::Postgres($d) => $body,
        }
    };
}
pub(super) use on_driver;
