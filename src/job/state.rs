//! The states of a job and who moves jobs between them.
//!
//! ```text
//!  submit ──> blocked ──dependencies succeeded──> queued   (or ──a dependency failed──> cancelled)
//!  submit ──> queued ──claim──> running ──ok──────────────> succeeded
//!               ^  ^              │ │ │
//!               │  │  transient   │ │ └─ request sent ──> waiting ──(poll due)── claim ──> running
//!               │  └── error ─────┘ │
//!               │   (backoff)       └─ permanent error / attempts used ──> failed
//!               └──── retry (HTTP) ────────────────────────────────────────┘
//!  blocked | queued | running | waiting ──cancel──> cancelled
//! ```
//!
//! A job with dependencies (`depends_on`, see `job/dependency.rs`) starts
//! `blocked` while any of them is unfinished.
//!
//! A job's `run_at` says when it is next due: the delayed start of a new job,
//! the end of a retry backoff, or the next poll of a wait.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the jobs it depends on; in no due index, so it costs
    /// nothing until the last of them finishes.
    ///
    /// In: a submission with unfinished dependencies. Out: the store, in the
    /// transaction that finishes the last dependency (→ queued, or →
    /// cancelled when one failed or was cancelled and the job does not run
    /// anyway); cancel (→ cancelled).
    Blocked,
    /// Due at `run_at`, waiting for a worker.
    ///
    /// In: the HTTP API or a schedule submits it; a worker puts it back after
    /// a transient error (with a backoff); the lease rescuer returns it when its
    /// worker died; the retry route re-queues a failed job; shutdown releases
    /// it. Out: the dispatcher claims it (→ running) once it is due and first in
    /// its machine's line; cancel (→ cancelled).
    Queued,
    /// A daemon holds its lease: a worker is calling Paperspace, or the job
    /// was claimed ahead (`workers.prefetch`) and starts when a worker frees
    /// up.
    ///
    /// In: the dispatcher's claim. Out: the worker (→ succeeded, failed,
    /// waiting, or queued to retry); the lease rescuer (→ queued) when the
    /// lease ran out; cancel (→ cancelled, and the worker's late answer is
    /// dropped).
    Running,
    /// The request went out; the job polls the machine until it reaches the
    /// wanted state, holding no worker in between.
    ///
    /// In: a worker, after sending a state change or after a poll that did not
    /// find the state yet. Out: the dispatcher claims it (→ running) when the
    /// next poll is due; cancel (→ cancelled).
    Waiting,
    /// Final: the operation did what was asked. In: a worker. Out: pruning.
    Succeeded,
    /// Final: a permanent error, a wait that timed out, or every attempt used.
    /// In: a worker. Out: the retry route (→ queued); pruning.
    Failed,
    /// Final: cancelled by a person or script. In: the cancel route. Out: pruning.
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Blocked,
        JobState::Queued,
        JobState::Running,
        JobState::Waiting,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Blocked => "blocked",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Waiting => "waiting",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// True once nothing more will happen to the job.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no job state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a job state; use one of blocked, queued, running, waiting, succeeded, failed, cancelled"
)]
pub struct UnknownJobState(pub String);

impl FromStr for JobState {
    type Err = UnknownJobState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownJobState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_finality() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
        }
        assert!("done".parse::<JobState>().is_err());
        let finals: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [JobState::Succeeded, JobState::Failed, JobState::Cancelled]
        );
    }
}
