//! The persisted phase of a job that changes a machine's state.
//!
//! Written before the request leaves and again once it was accepted, so that a
//! daemon that died at any point resumes where the job was: it sends a start,
//! stop or create again only when nothing shows the first one arrived (see
//! `src/worker/step.rs`), and a wait continues instead of restarting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::machine::WaitTarget;

/// Where a state-changing job is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Checkpoint {
    /// The request is about to leave (or left, and no answer was recorded).
    /// On resume the job looks at the machine before it asks again.
    Sending {
        /// When this attempt's request left, by Machinist's clock (read
        /// just before sending).
        since: DateTime<Utc>,
        /// The newest event the machine showed just before the request
        /// left, by Paperspace's clock: only an event created after it can
        /// be this request's. `None` when the machine showed no timed event
        /// (or the checkpoint predates this field); then `since` bounds the
        /// search instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_event: Option<EventMark>,
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
        /// Polls in a row that found the machine where the job's request
        /// should have moved it away from (a start's machine `off`), with
        /// no such request under way; enough of them and the request is
        /// sent again.
        #[serde(default, skip_serializing_if = "is_zero")]
        contradicted: u32,
    },
}

/// One event of a machine, as a bound: what was already there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMark {
    /// Its id (`handle`), when Paperspace gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When Paperspace created it, by Paperspace's clock.
    pub at: DateTime<Utc>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
