//! Dependencies in PostgreSQL (to be written by the jobs port).

use chrono::{DateTime, Utc};

use super::tx::{Effects, Tx};
use crate::job::{JobId, JobState};
use crate::store::StoreError;

/// Settles the dependents of `id`, which just reached the final `state`.
pub(super) async fn settle(
    _tx: &mut Tx,
    _id: JobId,
    _state: JobState,
    _now: DateTime<Utc>,
    _fx: &mut Effects,
) -> Result<(), StoreError> {
    unimplemented!("postgres: settle")
}
