//! The work done once for all daemons on a database — the scheduler
//! (firings, windows, digests), the meter, the left-running watch and the
//! pruner — runs in the daemon that leads: [`lead`].
//!
//! On SQLite there is one daemon per file, so it leads from start to stop
//! and nothing here runs on a timer (an idle daemon stays asleep). On
//! PostgreSQL every daemon beats every third of `store.leader_lease`
//! (`Store::heartbeat`), which also takes the scheduler's lease when it is
//! free or expired and renews it when held, by the database's clock. A
//! daemon that is not leading sleeps until just after the lease it saw
//! runs out, so a dead leader is replaced within the lease and a few
//! milliseconds; one that stops cleanly resigns, and is replaced at the
//! next beat of another.
//!
//! Their clocks follow the database's: each beat also reads the database's
//! time and moves the daemon's clock ([`OffsetClock`]) to it, so that job
//! leases and due times, written by one host and judged by another, mean
//! one instant whatever the hosts' own clocks say.
//!
//! A leader that stalls past its lease (a SIGSTOP, a GC pause of the host)
//! and comes back learns it lost the lease at its next beat, which comes at
//! once (its timer is past due), and stops its singletons then. Until that
//! beat it may still fire a schedule the new leader fired: the store's
//! unique (schedule, fire time, target) key makes that firing a no-op.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::OffsetClock;
use crate::store::{Leadership, Store};

/// What leading starts: the singletons, stopped by the token.
pub(super) type Start = Box<dyn Fn(CancellationToken) -> Vec<JoinHandle<()>> + Send + Sync>;

/// Who leads and how.
pub(super) struct Leading {
    /// The shared database.
    pub store: Store,
    /// This daemon's id (its lease owner name).
    pub id: Arc<str>,
    /// The scheduler's lease (`store.leader_lease`).
    pub lease: Duration,
    /// The daemon's clock, set to the database's at every beat; `None`
    /// when the daemon keeps its own (tests, SQLite).
    pub clock: Option<Arc<OffsetClock>>,
}

/// Runs `start` while this daemon leads; until `shutdown`.
pub(super) async fn lead(leading: Leading, start: Start, shutdown: CancellationToken) {
    let Leading {
        store,
        id,
        lease,
        clock,
    } = leading;
    if !store.is_shared() {
        let running = start(shutdown.child_token());
        shutdown.cancelled().await;
        join(running).await;
        return;
    }
    let beat = (lease / 3).max(Duration::from_millis(100));
    // The singletons while leading, and the token that stops them.
    let mut term: Option<(CancellationToken, Vec<JoinHandle<()>>)> = None;
    // When the lease last renewed would run out, by this host's monotonic
    // clock: past it, a leader that cannot reach the database stops.
    let mut held_until: Option<tokio::time::Instant> = None;
    loop {
        let asked = tokio::time::Instant::now();
        let sent = chrono::Utc::now();
        let answer = store.heartbeat(&id, Some(lease)).await;
        if let (Ok(answer), Some(clock)) = (&answer, &clock) {
            follow(clock, sent, answer.now);
        }
        let wait = match answer {
            Ok(Leadership { leader: true, .. }) => {
                held_until = Some(asked + lease);
                if term.is_none() {
                    tracing::info!(daemon = %id, "leading: this daemon now runs the scheduler, the meter and the pruner");
                    let token = shutdown.child_token();
                    term = Some((token.clone(), start(token)));
                }
                beat
            }
            Ok(Leadership {
                leader: false,
                holder,
                expires_in,
                ..
            }) => {
                if let Some((token, running)) = term.take() {
                    tracing::warn!(daemon = %id, leader = ?holder, "lost the lead; stopping the scheduler here");
                    token.cancel();
                    join(running).await;
                }
                held_until = None;
                // Just after the lease runs out, unless renewed meanwhile.
                (expires_in + Duration::from_millis(20)).min(beat)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not beat; trying again shortly");
                if held_until.is_some_and(|until| tokio::time::Instant::now() >= until)
                    && let Some((token, running)) = term.take()
                {
                    tracing::warn!(daemon = %id, "the lead may have passed to another daemon; stopping the scheduler here");
                    token.cancel();
                    join(running).await;
                    held_until = None;
                }
                Duration::from_secs(1).min(beat)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if let Some((token, running)) = term.take() {
        token.cancel();
        join(running).await;
    }
    // Another daemon takes over at its next beat, not after the lease.
    if let Err(e) = store.resign(&id).await {
        tracing::warn!(error = %e, "could not resign the lead; another daemon takes over when it runs out");
    }
}

/// Sets `clock` to the database's time `db_now`, read by a round trip sent
/// at `sent` (by this host's clock): the database answered about halfway.
fn follow(
    clock: &OffsetClock,
    sent: chrono::DateTime<chrono::Utc>,
    db_now: chrono::DateTime<chrono::Utc>,
) {
    let back = chrono::Utc::now();
    let midway = sent + (back - sent) / 2;
    let offset = db_now - midway;
    if (offset - clock.offset()).num_milliseconds().abs() > 1000 {
        tracing::warn!(
            offset_ms = offset.num_milliseconds(),
            "this host's clock is more than a second off the database's; leases and due times follow the database's"
        );
    }
    clock.set_offset(offset);
}

async fn join(running: Vec<JoinHandle<()>>) {
    for task in running {
        let _ = task.await;
    }
}
