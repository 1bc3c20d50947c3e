//! Utilization in PostgreSQL, written inside a transaction (a job's step
//! that pulled utilization saves it with its result).

use chrono::{DateTime, Utc};

use super::tx::Tx;
use crate::machine::Utilization;
use crate::store::StoreError;

/// Upserts utilization rows: one per (machine, month, source), the latest
/// save wins (as SQLite's `save_utilization`).
pub(super) async fn save_utilization(
    _tx: &mut Tx,
    _rows: &[Utilization],
    _source: &str,
    _now: DateTime<Utc>,
) -> Result<(), StoreError> {
    unimplemented!("postgres: save_utilization")
}
