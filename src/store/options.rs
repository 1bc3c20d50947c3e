//! Where and how to open the store.

use std::path::PathBuf;
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

/// Where and how to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The database file (`store.path`).
    pub path: PathBuf,
    /// How durable each commit is.
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
