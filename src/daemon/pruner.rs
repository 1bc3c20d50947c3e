//! Pruning: finished jobs (and their events) past their retention are
//! deleted once an hour, so the database does not grow forever.
//!
//! The first pass runs at start-up, so a daemon that was down for a while
//! catches up at once. A failed pass is logged and tried again an hour
//! later; nothing else depends on it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::store::Store;

/// How often the pruner runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Prunes jobs finished more than `retention` ago, now and then every
/// hour, until `shutdown`.
pub(super) async fn prune_loop(
    store: Store,
    clock: SharedClock,
    retention: Duration,
    shutdown: CancellationToken,
) {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    loop {
        match store.prune(clock.now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "pruned finished jobs past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not prune old jobs"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
