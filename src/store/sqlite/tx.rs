//! What the writer lends every command of a batch: the transaction, the
//! answers waiting for the commit, and what the batch did besides them.
//!
//! Shared by the batch loop (`batch.rs`) and the per-concept files that
//! apply commands (`jobs.rs`, `claims.rs`, …), so that those need nothing
//! from the loop itself.

use tokio::sync::oneshot;

use crate::job::{JobId, NewEvent};
use crate::store::StoreError;

/// The writer's transaction; every write function runs inside one.
pub(super) type Tx<'c> = rusqlite::Transaction<'c>;

/// Where a command's answer goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// An answer computed inside the transaction, sent once the commit is known.
pub(super) type Pending = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// `value`, sent on `reply` if the batch commits, or the batch's error.
pub(super) fn pending<T: Send + 'static>(reply: Reply<T>, value: T) -> Pending {
    Box::new(move |committed| {
        let _ = reply.send(committed.map(|()| value));
    })
}

/// What one batch did, beyond the answers; filled by the commands as they
/// apply, acted on by the batch loop after the commit.
#[derive(Default)]
pub(super) struct Effects {
    /// Some job may have become claimable: wake the store's waiters and try
    /// the standing claims.
    pub wake: bool,
    /// Try the standing claims even if nothing became claimable (a new
    /// claim arrived, the clock moved on, or a worker slot came free).
    pub recheck: bool,
    /// The scheduler should look again (schedules, windows or overrides
    /// changed).
    pub schedules_changed: bool,
    /// Answers to send after the commit, in the order of the commands.
    pub pending: Vec<Pending>,
    /// History rows (job, time in ms, event), inserted in one go just
    /// before the commit so that one prepared statement serves them all.
    pub events: Vec<(JobId, i64, NewEvent)>,
    /// Running jobs cancelled, with the lease owner that holds them: told
    /// to that owner's standing claim before the cancel is answered.
    pub revoked: Vec<(String, JobId)>,
}

impl Effects {
    pub fn with_capacity(commands: usize) -> Self {
        Effects {
            pending: Vec::with_capacity(commands),
            ..Effects::default()
        }
    }
}

/// JSON as stored: text.
pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored JSON serializes")
}
