//! One rate limit for every Paperspace call the daemon makes.
//!
//! A fleet-wide schedule can fire hundreds of jobs at once; Paperspace
//! throttles bursts. [`Throttled`] wraps any [`MachineApi`] so that all calls
//! share one token bucket, and a 429 pauses every caller (not just the job
//! that got it) for the `Retry-After` the API asked for.
//!
//! Paperspace limits the account, not the host: daemons that share a
//! database also share the bucket ([`SharedBucket`], kept by the store),
//! so together they stay under `rate_limit.per_second`. When the shared
//! bucket cannot be reached the daemon falls back to its own, so a database
//! outage never stops a stop.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{
    AccountStanding, ApiError, Availability, Backend, BillingMonth, CreateMachine, EventPage,
    Machine, MachineApi, MachineFilter, MachinePage, PageRequest, Template, TemplateFilter,
    UpdateMachine, Utilization,
};

/// How long everyone pauses after a 429 that named no `Retry-After`.
pub const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(5);

/// A token bucket that several daemons share, kept elsewhere (the store's
/// `rate_limit` row on PostgreSQL).
#[async_trait]
pub trait SharedBucket: Send + Sync {
    /// Takes one token of a bucket of `rate` per second and bursts of
    /// `burst`; answers how long to wait before the call may go. The token
    /// is the caller's either way (it may be owed, and the wait repays it).
    async fn take(&self, rate: f64, burst: u32) -> Result<Duration, String>;
}

/// A token bucket: `rate` calls per second on average, bursts up to `burst`.
pub struct TokenBucket {
    /// Tokens added per second.
    rate: f64,
    /// Most tokens the bucket holds.
    burst: f64,
    /// Tokens and pause, locked briefly by each `acquire` and `pause`.
    state: Mutex<BucketState>,
    /// The bucket shared with other daemons, once the daemon set it: tokens
    /// come from there, this one's only while it cannot be reached.
    shared: OnceLock<Arc<dyn SharedBucket>>,
}

impl std::fmt::Debug for TokenBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBucket")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("shared", &self.shared.get().is_some())
            .finish()
    }
}

#[derive(Debug)]
struct BucketState {
    /// Tokens available now, fractional between refills; at most `burst`.
    tokens: f64,
    /// When `tokens` was last topped up for the time elapsed.
    refilled_at: Instant,
    /// No token is handed out before this instant (after a 429).
    paused_until: Option<Instant>,
}

impl TokenBucket {
    /// `rate` > 0 calls per second, `burst` ≥ 1; starts full.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: rate.max(1e-3),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                refilled_at: Instant::now(),
                paused_until: None,
            }),
            shared: OnceLock::new(),
        }
    }

    /// Takes tokens from `shared` from now on (set once; later calls are
    /// ignored).
    pub fn share(&self, shared: Arc<dyn SharedBucket>) {
        let _ = self.shared.set(shared);
    }

    /// Waits for a token: the shared bucket's when there is one (after any
    /// pause a 429 asked for), else this one's.
    pub async fn acquire(&self) {
        if let Some(shared) = self.shared.get() {
            let paused = {
                let s = self.state.lock().expect("bucket lock poisoned");
                s.paused_until
                    .map(|until| until.saturating_duration_since(Instant::now()))
            };
            if let Some(pause) = paused.filter(|p| !p.is_zero()) {
                tokio::time::sleep(pause).await;
            }
            match shared.take(self.rate, self.burst as u32).await {
                Ok(wait) => {
                    tokio::time::sleep(wait).await;
                    return;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the rate limit shared with the other daemons cannot be read; using this daemon's own for this call"
                ),
            }
        }
        loop {
            let wait = {
                let mut s = self.state.lock().expect("bucket lock poisoned");
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(s.refilled_at).as_secs_f64();
                s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
                s.refilled_at = now;
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ if s.tokens >= 1.0 => {
                        s.tokens -= 1.0;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - s.tokens) / self.rate),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every caller back for `pause` and empties the bucket, so that
    /// calls resume at the steady rate rather than in a burst.
    pub fn pause(&self, pause: Duration) {
        let mut s = self.state.lock().expect("bucket lock poisoned");
        let until = Instant::now() + pause;
        s.paused_until = Some(s.paused_until.map_or(until, |u| u.max(until)));
        s.tokens = 0.0;
    }
}

/// The rate limit as configured, and what is left of it at one instant:
/// what the dashboard's health page shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Calls per second on average (`rate_limit.per_second`).
    pub per_second: f64,
    /// Calls that may go at once after a quiet spell (`rate_limit.burst`).
    pub burst: u32,
    /// Tokens in the bucket now: calls that may go without waiting.
    pub available: f64,
    /// How much longer every call is held back after a 429; `None` when not.
    pub paused_for: Option<Duration>,
}

impl TokenBucket {
    /// The settings and the tokens available now (refilled for the time
    /// elapsed, without taking one).
    pub fn budget(&self) -> Budget {
        let s = self.state.lock().expect("bucket lock poisoned");
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.refilled_at).as_secs_f64();
        let paused_for = s.paused_until.filter(|u| *u > now).map(|u| u - now);
        let available = if paused_for.is_some() {
            0.0
        } else {
            (s.tokens + elapsed * self.rate).min(self.burst)
        };
        Budget {
            per_second: self.rate,
            burst: self.burst as u32,
            available,
            paused_for,
        }
    }
}

/// A [`MachineApi`] whose calls wait for the shared bucket.
#[derive(Debug)]
pub struct Throttled<A> {
    /// The backend whose calls are throttled.
    inner: A,
    /// The bucket every call takes a token from.
    bucket: TokenBucket,
}

impl<A: MachineApi> Throttled<A> {
    pub fn new(inner: A, bucket: TokenBucket) -> Self {
        Throttled { inner, bucket }
    }

    async fn call<T, F>(&self, call: F) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, ApiError>>,
    {
        self.bucket.acquire().await;
        let result = call.await;
        if let Err(e) = &result
            && e.status() == Some(429)
        {
            let pause = e.retry_after().unwrap_or(DEFAULT_THROTTLE_PAUSE);
            tracing::warn!(
                pause_ms = pause.as_millis() as u64,
                "Paperspace is throttling (429); pausing every call"
            );
            self.bucket.pause(pause);
        }
        result
    }
}

#[async_trait]
impl<A: MachineApi> MachineApi for Throttled<A> {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    fn budget(&self) -> Option<Budget> {
        Some(self.bucket.budget())
    }

    fn share_rate_limit(&self, bucket: Arc<dyn SharedBucket>) {
        self.bucket.share(bucket);
    }

    async fn create(&self, request: &CreateMachine) -> Result<Machine, ApiError> {
        self.call(self.inner.create(request)).await
    }

    async fn start(&self, machine_id: &str) -> Result<(), ApiError> {
        self.call(self.inner.start(machine_id)).await
    }

    async fn stop(&self, machine_id: &str) -> Result<(), ApiError> {
        self.call(self.inner.stop(machine_id)).await
    }

    async fn restart(&self, machine_id: &str) -> Result<(), ApiError> {
        self.call(self.inner.restart(machine_id)).await
    }

    async fn destroy(&self, machine_id: &str, release_public_ip: bool) -> Result<(), ApiError> {
        self.call(self.inner.destroy(machine_id, release_public_ip))
            .await
    }

    async fn update(&self, machine_id: &str, changes: &UpdateMachine) -> Result<(), ApiError> {
        self.call(self.inner.update(machine_id, changes)).await
    }

    async fn list_page(
        &self,
        filter: &MachineFilter,
        page: &PageRequest,
    ) -> Result<MachinePage, ApiError> {
        self.call(self.inner.list_page(filter, page)).await
    }

    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError> {
        self.call(self.inner.show(machine_id)).await
    }

    async fn set_access(
        &self,
        machine_id: &str,
        user_id: &str,
        enable: bool,
    ) -> Result<(), ApiError> {
        self.call(self.inner.set_access(machine_id, user_id, enable))
            .await
    }

    async fn utilization(
        &self,
        machine_id: &str,
        month: BillingMonth,
    ) -> Result<Utilization, ApiError> {
        self.call(self.inner.utilization(machine_id, month)).await
    }

    async fn availability(
        &self,
        region: &str,
        machine_type: &str,
    ) -> Result<Availability, ApiError> {
        self.call(self.inner.availability(region, machine_type))
            .await
    }

    async fn templates(&self, filter: &TemplateFilter) -> Result<Vec<Template>, ApiError> {
        self.call(self.inner.templates(filter)).await
    }

    async fn event_page(&self, page: &PageRequest) -> Result<EventPage, ApiError> {
        self.call(self.inner.event_page(page)).await
    }

    async fn account_standing(&self) -> Result<AccountStanding, ApiError> {
        self.call(self.inner.account_standing()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_spends_the_burst_then_keeps_the_rate() {
        let bucket = TokenBucket::new(2.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            bucket.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..4 {
            bucket.acquire().await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1990) && took <= Duration::from_millis(2010),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_says_what_is_left_without_spending_it() {
        let bucket = TokenBucket::new(2.0, 3);
        bucket.acquire().await;
        bucket.acquire().await;
        let left = bucket.budget();
        assert_eq!((left.per_second, left.burst), (2.0, 3));
        assert!((left.available - 1.0).abs() < 1e-9, "{left:?}");
        assert_eq!(left.paused_for, None);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!((bucket.budget().available - 2.0).abs() < 1e-6);
        bucket.pause(Duration::from_secs(4));
        let paused = bucket.budget();
        assert_eq!(paused.available, 0.0);
        assert_eq!(paused.paused_for, Some(Duration::from_secs(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone_back() {
        let bucket = TokenBucket::new(100.0, 10);
        bucket.pause(Duration::from_secs(7));
        let start = Instant::now();
        bucket.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(7));
    }
}
