//! What the admin API's metrics and readiness read of the database: the
//! rows written since a scrape (job events, firings) as facts to count,
//! the counts of what is stored at scrape time, and which migrations are
//! applied. Nouns every driver answers (the operations: `handle/facts.rs`);
//! the counting itself is `http/metrics.rs`'s.
//!
//! The facts keep the stored encoding (times in Unix milliseconds, states
//! and kinds as their stored names): metrics only subtract times and use
//! names as labels, so decoding them would be work thrown away.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

/// A `job_events` row joined with its job, as the metrics' catch-up reads it.
#[derive(Debug, FromRow)]
pub(crate) struct EventFact {
    /// The event's id: the catch-up resumes after the last one read.
    pub id: i64,
    /// When it happened (ms), for latencies.
    pub at: i64,
    /// The event's kind: a state change, an API call, …
    pub kind: String,
    /// A state change's old state.
    pub from_state: Option<String>,
    /// A state change's new state.
    pub to_state: Option<String>,
    /// An API call's HTTP method.
    pub method: Option<String>,
    /// An API call's route template.
    pub route: Option<String>,
    /// An API call's HTTP status, when it got one.
    pub status: Option<i64>,
    /// An API call's duration.
    pub latency_ms: Option<i64>,
    /// The job's kind, a label of the job counters.
    pub job_kind: String,
    /// When the job was made (ms), for the time to a final state.
    pub job_created_at: i64,
    /// For final state changes: when the job first began waiting.
    pub first_wait_at: Option<i64>,
    /// Written by this daemon: each daemon counts only its own rows, so
    /// that a sum over the daemons of one database counts each once
    /// (always true on SQLite, where one daemon has the file).
    pub mine: bool,
}

/// A `firings` row, as the metrics' catch-up reads it.
#[derive(Debug, FromRow)]
pub(crate) struct FiringFact {
    /// The row's id: the catch-up resumes after the last one read.
    pub rowid: i64,
    /// The fire time (ms), for the firing lag.
    pub fire_at: i64,
    /// Enqueued, caught up or skipped: a label of the firing counter.
    pub outcome: String,
    /// When the firing was recorded (ms), for the firing lag.
    pub recorded_at: i64,
    /// Recorded by this daemon (see [`EventFact::mine`]).
    pub mine: bool,
}

/// What the database holds at scrape time, for the metrics' gauges.
#[derive(Debug)]
pub(crate) struct Gauges {
    /// Jobs by (kind, state, count), ordered by kind and state.
    pub jobs: Vec<(String, String, i64)>,
    /// Queued or waiting jobs by (state, due at the time asked, count).
    pub depth: Vec<(String, bool, i64)>,
    /// When the longest-due queued or waiting job fell due (`None`: none is).
    pub oldest_due: Option<DateTime<Utc>>,
    /// Machines by (last state or `gone`, count).
    pub machines: Vec<(String, i64)>,
    /// Schedules, window edges included, by (enabled, count).
    pub schedules: Vec<(bool, i64)>,
}

/// The driver's migrations against those applied to its database, for
/// readiness: a database migrated by an older daemon lacks some.
#[derive(Debug)]
pub(crate) struct Migrations {
    /// How many migrations the driver embeds.
    pub known: usize,
    /// The versions of those not applied (successfully) to the database.
    pub missing: Vec<i64>,
}
