//! Following the history: `GET /v1/history?after=ID&wait=S`, a long poll.
//!
//! A follower (`machinist history --follow`, `jobs show --follow`, `jobs
//! list --watch`, `top`) asks for the events after the last one it saw.
//! When there are some, they are the answer at once, oldest first. When
//! there are none and the request gives `wait`, the answer waits until a
//! commit brings one (the store's commit watch, [`Store::commits`], wakes
//! the request, which reads again) or until `wait` seconds pass, and then
//! answers what there is, possibly nothing; the follower asks again with the
//! answer's `next_after`. Long polling rather than server-sent events: every
//! answer is an ordinary JSON page through the same gate, timeouts, token
//! check and error shape as any other request, and a client needs nothing
//! but a GET in a loop (a daemon restart costs the follower one failed call).
//!
//! Event ids only grow, and one writer commits them in order, so reading on
//! from the last id seen neither skips nor repeats an event.
//!
//! A waiting request holds one of the admission gate's turns, so waiters
//! must not crowd out the rest: at most [`HttpLimits::max_waiters`] wait at
//! once, and a request past that cap is answered at once with what there is
//! and `Retry-After: 1` (its follower asks again a second later). A wait is also cut to half the request
//! timeout, so that the router's timeout never answers a follower with a
//! 503, and it ends at once when the daemon shuts down, which would
//! otherwise wait for it.
//!
//! [`Store::commits`]: crate::store::Store::commits
//! [`HttpLimits::max_waiters`]: super::HttpLimits::max_waiters

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::HttpState;
use crate::job::JobEvent;
use crate::store::{EventFilter, StoreError};

/// The longest `wait` a request may ask for, in seconds.
pub(super) const MAX_WAIT_SECONDS: u64 = 25;

/// The waiting requests: how many may wait at once, and for how long.
#[derive(Clone)]
pub(super) struct Waiters {
    /// One permit per request waiting now.
    permits: Arc<Semaphore>,
    /// The longest a request waits, whatever it asked: [`MAX_WAIT_SECONDS`]
    /// or half the request timeout, whichever is less.
    longest: Duration,
}

impl Waiters {
    /// Room for `max` waiting requests, each waiting less than half of
    /// `request_timeout`.
    pub(super) fn new(max: usize, request_timeout: Duration) -> Self {
        Waiters {
            permits: Arc::new(Semaphore::new(max)),
            longest: (request_timeout / 2).min(Duration::from_secs(MAX_WAIT_SECONDS)),
        }
    }
}

/// What the long poll reads: which events, after which id, how many.
pub(super) struct Poll {
    /// The events of one machine's jobs, of one job, or all.
    pub filter: EventFilter,
    /// Events with ids above this.
    pub after: i64,
    /// At most this many.
    pub limit: u32,
    /// How long to wait for the first one when there is none yet.
    pub wait: Duration,
}

/// What a long poll came to.
pub(super) enum Polled {
    /// The events there were or that came (oldest first), or none when the
    /// request did not wait, its wait ran out or the daemon shut down.
    Events(Vec<JobEvent>),
    /// None yet, and too many requests wait already: this one was answered
    /// at once. The answer says so (`Retry-After: 1`) so that the follower
    /// does not ask again at once, and so that a test can see a waiter
    /// holding the only turn without timing anything.
    Crowded,
}

/// The events of `poll`, oldest first: at once when there are some (or
/// the request does not wait, or too many wait already), else the first
/// ones a commit brings within the wait; empty when the wait ends first or
/// the daemon shuts down.
pub(super) async fn events_after(
    http: &HttpState,
    waiters: &Waiters,
    poll: &Poll,
) -> Result<Polled, StoreError> {
    // Subscribed before the first read: a commit between that read and the
    // wait still wakes it.
    let mut commits = http.store.commits();
    let read = || {
        http.store
            .history_after(&poll.filter, poll.after, poll.limit)
    };
    let events = read().await?;
    if !events.is_empty() || poll.wait.is_zero() {
        return Ok(Polled::Events(events));
    }
    // Past the cap, the request answers what there is (nothing), at once.
    let Ok(_turn) = waiters.permits.try_acquire() else {
        return Ok(Polled::Crowded);
    };
    let deadline = tokio::time::Instant::now() + poll.wait.min(waiters.longest);
    loop {
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    // The store is gone: nothing more will come.
                    return Ok(Polled::Events(Vec::new()));
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(Polled::Events(Vec::new())),
            () = http.shutdown.cancelled() => return Ok(Polled::Events(Vec::new())),
        }
        let events = read().await?;
        if !events.is_empty() {
            return Ok(Polled::Events(events));
        }
    }
}
