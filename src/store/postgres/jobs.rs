//! Jobs in PostgreSQL: what a write does to jobs inside its transaction
//! (submit, the history rows), shared by the operations of several
//! concepts (a firing, a publication or a group run submits jobs).

use chrono::{DateTime, Utc};

use super::tx::{Effects, Tx};
use crate::job::{Job, JobId, NewEvent, NewJob, SpecError};
use crate::store::{StoreError, Submitted};

/// Inserts a job (or finds the one its idempotency key made) inside `tx`.
pub(super) async fn submit_in(
    _tx: &mut Tx,
    _job: NewJob,
    _now: DateTime<Utc>,
    _fx: &mut Effects,
) -> Result<Submitted, StoreError> {
    unimplemented!("postgres: submit_in")
}

/// Inserts jobs in order, all or none (see SQLite's `submit_batch_in`);
/// each job placed in `run` (group run id, step per job) when given.
pub(super) async fn submit_batch_in(
    _tx: &mut Tx,
    _jobs: Vec<NewJob>,
    _run: Option<(i64, Vec<u32>)>,
    _now: DateTime<Utc>,
    _fx: &mut Effects,
) -> Result<Result<Vec<crate::store::Submitted>, SpecError>, StoreError> {
    unimplemented!("postgres: submit_batch_in")
}

/// The job `id` as `tx` sees it.
pub(super) async fn fetch_job(_tx: &mut Tx, _id: JobId) -> Result<Option<Job>, StoreError> {
    unimplemented!("postgres: fetch_job")
}

/// Adds one history row.
pub(super) async fn insert_event(
    _tx: &mut Tx,
    _job_id: JobId,
    _at_ms: i64,
    _event: &NewEvent,
) -> Result<(), StoreError> {
    unimplemented!("postgres: insert_event")
}
