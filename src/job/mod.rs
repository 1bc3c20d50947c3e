//! Jobs: one machine operation on one target, with its state, attempts,
//! checkpoint, result and history.
//!
//! - `state`: the job states and which component moves jobs between them.
//! - [`operation`]: the job kinds and their validated arguments.
//! - `checkpoint`: the persisted phase of a state-changing job.
//! - `backoff`: the delay before a retry.
//! - `outcome`: what one step of a job came to.
//! - `submission`: a request to run a job, checked into a [`NewJob`].
//! - `dependency`: jobs that wait for others (`depends_on`), and the order
//!   of a batch.

mod backoff;
mod checkpoint;
pub mod dependency;
mod event;
pub mod operation;
mod outcome;
mod state;
mod submission;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use backoff::Backoff;
pub use checkpoint::{Checkpoint, EventMark};
pub use dependency::{Dependency, DependencyRef, OnDependencyFailure};
pub use event::{EventKind, JobEvent, NewEvent};
pub use operation::{DeliverArgs, JobKind, Lane, Operation, SpecError};
pub use outcome::Outcome;
pub use state::JobState;
pub use submission::{BatchRequest, JobDefaults, JobRequest, NewBatch, NewJob};

use crate::machine::WaitTarget;

/// A job's id: increasing in submission order.
pub type JobId = i64;

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Store-assigned; increasing in submission order.
    pub id: JobId,
    /// Which operation the job runs; its arguments are in `args`.
    pub kind: JobKind,
    /// The machine it acts on; for a create, filled in once Paperspace names it.
    pub machine_id: Option<String>,
    /// Validated arguments, see [`Operation::parse`].
    pub args: Value,
    /// Where the job is in its lifecycle (`queued`, `running`, `waiting`, …).
    pub state: JobState,
    /// Higher runs first among due jobs (machine order permitting).
    pub priority: i32,
    /// Tries so far; a claim from `queued` counts one.
    pub attempt: u32,
    /// Tries allowed before the job fails for good.
    pub max_attempts: u32,
    /// When the job is next due (start, retry or next poll).
    pub run_at: DateTime<Utc>,
    /// The state to wait for after the request, `None` for no wait.
    pub wait: Option<WaitTarget>,
    /// How long that wait may last.
    #[serde(with = "duration_secs", rename = "wait_timeout_seconds")]
    pub wait_timeout: Duration,
    /// How far a state-changing job got, so a retry or another worker resumes instead of repeating the request; `None` for jobs that change no machine and before the first request.
    pub checkpoint: Option<Checkpoint>,
    /// What the operation returned (a machine, utilization, …) once it succeeded.
    pub result: Option<Value>,
    /// The most recent error, kept after a retry succeeds for the history's sake.
    pub last_error: Option<String>,
    /// A caller's key that makes a repeated submission return this job.
    pub idempotency_key: Option<String>,
    /// The worker holding the job while it runs.
    pub lease_owner: Option<String>,
    /// When the lease lapses and another worker may take the job over; `None` when no one holds it.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the job was submitted.
    pub created_at: DateTime<Utc>,
    /// When the job's row last changed.
    pub updated_at: DateTime<Utc>,
    /// When the job reached a final state; `None` until then.
    pub finished_at: Option<DateTime<Utc>>,
    /// The jobs this one waits for (it is `blocked` until they succeed);
    /// empty for most jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<JobId>,
    /// What the job does if one of `depends_on` fails or is cancelled;
    /// `None` for a job without dependencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_dependency_failure: Option<OnDependencyFailure>,
    /// The group run that made the job (`GET /v1/group-runs/{id}`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_run: Option<i64>,
    /// Which step of that run, counted from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_step: Option<u32>,
}

impl Job {
    /// The typed operation; stored arguments were validated on submission.
    pub fn operation(&self) -> Result<Operation, SpecError> {
        Operation::parse(self.kind, &self.args)
    }
}

/// Durations travel as whole seconds in JSON.
pub mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}
