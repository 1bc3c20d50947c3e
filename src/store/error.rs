//! What a store operation that failed says, and why.
//!
//! [`StoreError`] is `Clone`: one failed batch answers every caller in it
//! with the same error, and the writer keeps the last one for readiness. So
//! a cause is kept as a shared [`Cause`] rather than flattened to text: its
//! message is the one users always saw, and the error it came from (a
//! `sqlx::Error`, a `rusqlite::Error`, the [`StoreError`] that failed a
//! batch) stays reachable through [`StoreError::cause`] and
//! [`Cause::downcast_ref`].
//!
//! It is not `source()`: each message already ends with its cause's, and
//! whoever prints an error with its chain (the CLI's `error:` line, `{:#}`)
//! would say it twice.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::job::JobId;

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
    /// The PostgreSQL database at `url` (password masked) could not be
    /// reached or opened.
    #[error("could not connect to the database {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The database was migrated by a newer machinist than this one.
    #[error(
        "the database's schema (version {found}) is newer than this machinist knows (version {known}){}; upgrade this daemon to the version the others run",
        by_list(.by, " — it is in use by ")
    )]
    SchemaNewer {
        found: i64,
        known: i64,
        /// Running daemons of the newer schema, named for the message.
        by: Vec<String>,
    },
    /// This machinist would migrate a database that older daemons run on.
    #[error(
        "this machinist would migrate the database's schema from version {found} to {known}, but daemons of the older schema are running on it{}; stop them, start this one (it migrates), then upgrade and start the others",
        by_list(.by, ": ")
    )]
    SchemaInUse {
        found: i64,
        known: i64,
        /// The running daemons of the older schema.
        by: Vec<String>,
    },
    #[error("could not apply the database migrations: {0}")]
    Migrate(Cause),
    #[error("database error: {0}")]
    Db(Cause),
    /// A batch could not be committed; nothing in it was written. The cause
    /// is the error the batch failed on.
    #[error("could not write to the database: {0}")]
    Write(Cause),
    #[error("job {job_id} in the database cannot be read ({detail})")]
    Corrupt { job_id: JobId, detail: String },
    #[error("the database writer has stopped (the daemon is shutting down)")]
    Closed,
    /// The write was refused for what it asked (a dependency on a job the
    /// store does not hold); nothing was written. The HTTP API answers 422.
    #[error("{0}")]
    Refused(crate::job::SpecError),
    /// The file at `path` is no longer the one the daemon opened (see
    /// `store/sqlite/file.rs`); nothing more is written.
    #[error(
        "the database file {path} {what} while the daemon ran; writes are refused, since a restart would not find them: restart the daemon (after putting the right file back at that path, if it was moved)"
    )]
    Lost { path: PathBuf, what: String },
}

/// `prefix` and the names joined, or nothing for none.
fn by_list(by: &[String], prefix: &str) -> String {
    match by.is_empty() {
        true => String::new(),
        false => format!("{prefix}{}", by.join(", ")),
    }
}

impl StoreError {
    /// The error a [`Migrate`](Self::Migrate), [`Db`](Self::Db) or
    /// [`Write`](Self::Write) came from.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            StoreError::Migrate(cause) | StoreError::Db(cause) | StoreError::Write(cause) => {
                Some(cause)
            }
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(Cause::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(Cause::new(e))
    }
}

/// The error behind a [`StoreError`], shared so that the error stays
/// `Clone`. It shows as the error it wraps, so the messages users see are
/// the ones they saw when causes were kept as text; a plain message
/// (`"…".into()`, `String::into`) is a cause with no source of its own.
#[derive(Clone)]
pub struct Cause(Arc<dyn Error + Send + Sync>);

impl Cause {
    pub fn new(e: impl Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(e))
    }

    /// The error this cause wraps, if it is an `E` (a `sqlx::Error`, a
    /// `rusqlite::Error`, a [`StoreError`]).
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Stands in for the error it wraps: its message is that error's, and its
/// source is that error's source, so a chain shows each message once.
impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause(Arc::from(Box::<dyn Error + Send + Sync>::from(message)))
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_keeps_its_error_and_its_message() {
        let sqlite = rusqlite::Error::InvalidQuery;
        let text = sqlite.to_string();
        let db = StoreError::from(sqlite);
        assert_eq!(db.to_string(), format!("database error: {text}"));
        let kept = db.cause().and_then(Cause::downcast_ref::<rusqlite::Error>);
        assert!(matches!(kept, Some(rusqlite::Error::InvalidQuery)));
        // A failed batch's error says what the failure said, and keeps it.
        let write = StoreError::Write(Cause::new(db.clone()));
        assert_eq!(
            write.to_string(),
            format!("could not write to the database: database error: {text}")
        );
        let inner = write.cause().and_then(Cause::downcast_ref::<StoreError>);
        assert!(matches!(inner, Some(StoreError::Db(_))));
        // No chain to print twice.
        assert!(std::error::Error::source(&write).is_none());
        let plain = StoreError::Db("duplicate firing".into());
        assert_eq!(plain.to_string(), "database error: duplicate firing");
    }
}
