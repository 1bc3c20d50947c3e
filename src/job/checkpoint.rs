//! The persisted phase of a job that changes a machine's state.
//!
//! Written before the request leaves and again once it was accepted, so that a
//! daemon that died at any point resumes where the job was: it never sends a
//! start, stop or create twice, and a wait continues instead of restarting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::paperspace::WaitTarget;

/// Where a state-changing job is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Checkpoint {
    /// The request is about to leave (or left, and no answer was recorded).
    /// On resume the job looks at the machine before it asks again.
    Sending {
        /// When the attempt to send began.
        since: DateTime<Utc>,
    },
    /// Paperspace accepted the request (or the machine was found already on
    /// its way); the job polls until the state is reached or the deadline passes.
    Waiting {
        target: WaitTarget,
        /// When the wait began; the timeout message says how long it lasted.
        since: DateTime<Utc>,
        /// When the wait gives up.
        deadline: DateTime<Utc>,
        /// The state seen at the last poll, for the timeout message.
        last_state: Option<String>,
        /// How many polls were made, for the history.
        polls: u32,
    },
}
