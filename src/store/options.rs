//! Where and how to open the store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// A PostgreSQL connection URL (`store.url`). It may hold a password, so it
/// is shown only with the password masked ([`DatabaseUrl::redacted`], and
/// its `Debug`); the text itself goes nowhere but to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    /// The URL as given, for the driver's connect options only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as given, for tests that pass it on to a daemon they start.
    #[doc(hidden)]
    pub fn expose_for_test(&self) -> &str {
        &self.0
    }

    /// The URL with its password (if any) replaced by `***`, for messages
    /// and logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            Ok(parsed) => parsed.to_string(),
            // Not a URL: say nothing of what it holds.
            Err(_) => "(a store.url that is not a URL)".to_string(),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where and how to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The SQLite database file (`store.path`); unused when `url` is set.
    pub path: PathBuf,
    /// A PostgreSQL database (`store.url`) that several daemons may share;
    /// `None` for the SQLite file at `path`, the default.
    pub url: Option<DatabaseUrl>,
    /// How durable each commit is (SQLite; PostgreSQL follows its server's
    /// own `synchronous_commit`).
    pub durability: Durability,
    /// How long a reader waits for a lock before failing.
    pub busy_timeout: Duration,
    /// The id of the daemon that opens the store (its lease owner name),
    /// set with [`StoreOptions::for_daemon`]. On PostgreSQL its connections
    /// carry it, and the history rows and firings they write name it, so
    /// that each daemon's metrics count its own work. `None` outside a
    /// daemon (a one-shot command); SQLite has one daemon per file and
    /// needs none.
    pub daemon: Option<Arc<str>>,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreOptions {
            path: path.into(),
            url: None,
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            daemon: None,
        }
    }

    /// These options for the daemon `id` (see [`StoreOptions::daemon`]).
    pub fn for_daemon(&self, id: Arc<str>) -> Self {
        StoreOptions {
            daemon: Some(id),
            ..self.clone()
        }
    }

    /// A PostgreSQL database at `url`.
    pub fn postgres(url: DatabaseUrl) -> Self {
        StoreOptions {
            url: Some(url),
            ..StoreOptions::new(PathBuf::new())
        }
    }

    /// What the store is, for messages and logs: the file's path, or the
    /// URL without its password.
    pub fn describe(&self) -> String {
        match &self.url {
            Some(url) => url.redacted(),
            None => self.path.display().to_string(),
        }
    }
}

/// The SQLite file at a path, with the defaults.
impl From<PathBuf> for StoreOptions {
    fn from(path: PathBuf) -> Self {
        StoreOptions::new(path)
    }
}

impl From<&std::path::Path> for StoreOptions {
    fn from(path: &std::path::Path) -> Self {
        StoreOptions::new(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_never_shows_its_password() {
        let url = DatabaseUrl::new("postgres://machinist:s3cret@db.internal:5432/fleet");
        assert_eq!(
            url.redacted(),
            "postgres://machinist:***@db.internal:5432/fleet"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        let options = StoreOptions::postgres(url);
        assert!(!format!("{options:?}").contains("s3cret"));
        assert!(!options.describe().contains("s3cret"));
        // Without a password it is shown as given; not a URL, not at all.
        let plain = DatabaseUrl::new("postgres://postgres@127.0.0.1/test");
        assert_eq!(plain.redacted(), "postgres://postgres@127.0.0.1/test");
        let odd = DatabaseUrl::new("host=db password=s3cret");
        assert!(!odd.redacted().contains("s3cret"));
    }
}
