//! Daemons on one database: who they are ([`DaemonInfo`], registered at
//! start), what `machinist status` lists ([`DaemonRecord`]), and the lease
//! one of them holds on the work done once for all ([`Leadership`]). The
//! operations: `handle/daemons.rs`.
//!
//! On SQLite there is one daemon per file (the file lock), so it leads by
//! holding the file and its record lives in memory; on PostgreSQL the rows
//! are in the database and every time is the database's own, so clock skew
//! between hosts moves no lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a daemon says of itself when it registers.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    /// Its lease owner name (host, pid and a random part): unique per
    /// process, the key of its row.
    pub id: Arc<str>,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The machinist version.
    pub version: String,
}

/// A daemon as `machinist status` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// Its lease owner name.
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    /// The newest migration its binary knows.
    pub schema_version: i64,
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (on SQLite: now, the daemon answering).
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped cleanly; `None` while it runs, or if it died.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whether it holds the scheduler's lease now.
    pub leader: bool,
}

/// The outcome of a heartbeat that asked to lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Leadership {
    /// Whether this daemon leads now.
    pub leader: bool,
    /// Who leads, if anyone (this daemon's id when `leader`).
    pub holder: Option<String>,
    /// How long the lease has left, by the database's clock: the leader
    /// renews well before it runs out, a candidate tries again just after.
    pub expires_in: Duration,
    /// The database's clock when it answered (SQLite: this host's).
    pub now: DateTime<Utc>,
}
