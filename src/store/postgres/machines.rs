//! Machines in PostgreSQL: sightings written inside a transaction, shared
//! by the operations that report machines (a job's step, a refresh).

use chrono::{DateTime, Utc};

use super::tx::Tx;
use crate::machine::Machine;
use crate::store::StoreError;

/// Records `machines` as seen at `now` and `gone` as gone; with `complete`,
/// every known machine not in `machines` is gone too (as SQLite's
/// `see_machines`).
pub(super) async fn see_machines(
    _tx: &mut Tx,
    _machines: &[Machine],
    _gone: &[String],
    _complete: bool,
    _now: DateTime<Utc>,
) -> Result<(), StoreError> {
    unimplemented!("postgres: see_machines")
}
