//! What the store tells those who wait on it, whichever driver wrote: that
//! a job may be claimable, that schedules changed, that a commit changed
//! something, and how the last write went.
//!
//! The store's handle owns these and lends them to its driver, which is the
//! only one to know when its writes are committed: the SQLite writer thread
//! tells them after every batch.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, watch};

use super::StoreError;

/// How the driver's last write went: the last batch that changed something
/// or failed (a batch that only looked, such as a claim that found nothing,
/// proves nothing about the disk).
#[derive(Debug, Clone)]
pub struct LastWrite {
    /// When it was committed or failed, for readiness's "lately".
    pub at: Instant,
    /// `None` when it was committed to the file at the store's path;
    /// otherwise what every caller in the batch was told.
    pub error: Option<StoreError>,
}

/// The wake-ups and the write status a driver keeps up to date.
pub(crate) struct Signals {
    /// Told after any commit that may have made a job claimable (the
    /// scheduler's and the tests' waits on work; the dispatcher has its
    /// standing claim instead).
    pub wake: Arc<Notify>,
    /// Told after any commit that changed schedules, windows or overrides:
    /// the scheduler looks again.
    pub schedules_changed: Arc<Notify>,
    /// The last write, for readiness.
    pub last: Mutex<Option<LastWrite>>,
    /// Told after a failed batch is recorded in `last`. A batch that fails
    /// drops the replies of the command it failed on and of those after it
    /// (they were never answered); their callers wait here to learn why.
    pub failed: Notify,
    /// Counts the batches committed that changed something, so that a
    /// watcher (a test waiting for a job to finish, a follower of the
    /// history) wakes when there may be something new to read instead of
    /// polling; it reads what changed from the database itself.
    pub commits: watch::Sender<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            wake: Arc::new(Notify::new()),
            schedules_changed: Arc::new(Notify::new()),
            last: Mutex::default(),
            failed: Notify::new(),
            commits: watch::Sender::new(0),
        }
    }
}

impl Signals {
    /// Keeps how a write that changed something (or failed) went; a failure
    /// also wakes the callers whose replies it dropped.
    pub fn record(&self, outcome: Result<(), StoreError>) {
        let failed = outcome.is_err();
        *self.last.lock().expect("write status poisoned") = Some(LastWrite {
            at: Instant::now(),
            error: outcome.err(),
        });
        if failed {
            self.failed.notify_waiters();
        }
    }

    /// The last write recorded; `None` before the first.
    pub fn last_write(&self) -> Option<LastWrite> {
        self.last.lock().expect("write status poisoned").clone()
    }

    /// A commit changed something: every `commits()` watcher reads again.
    pub fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }
}
