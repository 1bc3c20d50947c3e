//! What one step of a job came to; the worker turns it into a state change.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Checkpoint;

/// The result of running a job once (a request, or one poll of a wait).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done; `result` is stored on the job, `note` goes into its history.
    Succeeded { result: Value, note: String },
    /// The request went out (or a poll found the machine still on its way):
    /// park the job until `next_poll`, holding no worker.
    Wait {
        checkpoint: Checkpoint,
        next_poll: DateTime<Utc>,
        /// Set once Paperspace named the machine a create made.
        machine_id: Option<String>,
        note: String,
    },
    /// A transient error: try again at `at` (if attempts remain).
    Retry {
        error: String,
        at: DateTime<Utc>,
        /// Keep the checkpoint so the next attempt knows what was sent.
        checkpoint: Option<Checkpoint>,
    },
    /// A permanent error, or a wait that ran out of time.
    Failed { error: String },
}
