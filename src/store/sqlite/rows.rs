//! Rows as the writer's own (rusqlite) connection reads them: by position.
//!
//! The readers decode the same rows by column name through sqlx's `FromRow`
//! (`store/rows.rs`); the writer selects [`job_columns!`] and reads them by
//! index, as a lookup by name per column and row was a measurable share of
//! a claim.

use crate::store::rows::JobRow;

/// The columns [`JobRow::from_sqlite`] reads, in its order, as a literal for
/// `concat!`.
macro_rules! job_columns {
    () => {
        "id, kind, machine_id, args, state, priority, attempt, max_attempts, run_at, wait, \
         wait_timeout_ms, checkpoint, result, last_error, idempotency_key, lease_owner, \
         lease_expires_at, created_at, updated_at, finished_at, depends_on, \
         on_dependency_failure, group_run, group_step"
    };
}
pub(super) use job_columns;

impl JobRow {
    /// A row read by the writer's own connection, selected as `job_columns!`.
    pub(super) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
        Ok(JobRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            machine_id: r.get(2)?,
            args: r.get(3)?,
            state: r.get(4)?,
            priority: r.get(5)?,
            attempt: r.get(6)?,
            max_attempts: r.get(7)?,
            run_at: r.get(8)?,
            wait: r.get(9)?,
            wait_timeout_ms: r.get(10)?,
            checkpoint: r.get(11)?,
            result: r.get(12)?,
            last_error: r.get(13)?,
            idempotency_key: r.get(14)?,
            lease_owner: r.get(15)?,
            lease_expires_at: r.get(16)?,
            created_at: r.get(17)?,
            updated_at: r.get(18)?,
            finished_at: r.get(19)?,
            depends_on: r.get(20)?,
            on_dependency_failure: r.get(21)?,
            group_run: r.get(22)?,
            group_step: r.get(23)?,
        })
    }
}
