//! Webhooks at run time: publishing events, sending deliveries, and the
//! events that need their own watch (machines left running, the digest).
//!
//! **Publishing** ([`Publisher`]): a component that sees something happen
//! (a worker ending a job, the scheduler skipping a firing, the meter
//! seeing a machine change) builds the event with
//! [`crate::webhook::catalogue`] and publishes it. The store keeps the
//! event and, in the same transaction, queues one `deliver` job per
//! endpoint that wants it. The publisher knows which event types some
//! endpoint wants, so an event nobody wants costs no write at all: a
//! daemon without webhooks pays nothing per job.
//!
//! **Delivering** ([`Courier`]): deliver jobs run in the queue's
//! `webhooks` lane, on workers of their own, so a receiver that hangs for
//! the whole timeout never holds a worker a machine's start waits for,
//! and the store claims at most two deliveries per endpoint at once, so
//! one slow receiver never delays the others. Each attempt is one signed
//! POST (Standard Webhooks headers, the same `webhook-id` on every
//! attempt); only a 2xx counts; `410 Gone` disables the endpoint; anything
//! else is retried on the delivery's own schedule (the specification's
//! example, then daily), or later when the receiver's `Retry-After` asks.
//! The attempt, its status, latency and the receiver's answer (truncated)
//! go into the job's history, which is the deliveries listing. Being jobs,
//! deliveries survive a crash or restart like every other job.
//!
//! **Watching** ([`LeftRunning`], [`digest`]): a machine meant to be off
//! and still running raises `machine.left_running`, at most once per
//! `webhooks.left_running_repeat`; the weekly digest is a `digest` job
//! fired by a built-in schedule.

mod courier;
pub mod digest;
mod left_running;
mod publisher;

use std::sync::Arc;
use std::time::Duration;

pub use courier::{AttemptReport, Courier, CourierError};
pub use left_running::LeftRunning;
pub use publisher::Publisher;

use crate::clock::SharedClock;
use crate::config::WebhooksConfig;
use crate::store::Store;
use crate::webhook::DestinationPolicy;

/// What the admin API and the daemon hold for webhooks: the courier (a
/// ping, the settings) and the publisher (refreshed after every change to
/// an endpoint). Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    pub courier: Courier,
    pub publisher: Publisher,
}

impl Webhooks {
    pub fn new(store: Store, clock: SharedClock, settings: Arc<WebhookSettings>) -> Self {
        let publisher = Publisher::new(store.clone(), clock.clone(), settings.max_attempts());
        Webhooks {
            courier: Courier::new(store, clock, settings),
            publisher,
        }
    }

    pub fn settings(&self) -> &WebhookSettings {
        self.courier.settings()
    }
}

/// How webhooks behave: the runtime form of `[webhooks]`.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which destinations a delivery may reach.
    pub policy: DestinationPolicy,
    /// How long one attempt may take, connection to last byte.
    pub timeout: Duration,
    /// The delay before each retry; its length + 1 is a delivery's attempts.
    pub retry_schedule: Vec<Duration>,
    /// How long the previous secret keeps signing after a rotation.
    pub rotation_overlap: Duration,
    /// Deliveries (and digests) running at once.
    pub workers: usize,
    /// How long after it was meant to stop a running machine raises
    /// `machine.left_running`.
    pub left_running_after: Duration,
    /// The least time between two `machine.left_running` of one machine.
    pub left_running_repeat: Duration,
}

impl WebhookSettings {
    /// The settings `[webhooks]` asks for.
    pub fn from_config(config: &WebhooksConfig) -> Self {
        WebhookSettings {
            policy: DestinationPolicy {
                allow_http_loopback: config.allow_http_loopback,
                allow_private: config.allow_private,
            },
            timeout: config.timeout,
            retry_schedule: config.retry_schedule.clone(),
            rotation_overlap: config.rotation_overlap,
            workers: config.workers,
            left_running_after: config.left_running_after,
            left_running_repeat: config.left_running_repeat,
        }
    }
}

impl Default for WebhookSettings {
    /// The defaults of `[webhooks]`.
    fn default() -> Self {
        WebhookSettings::from_config(&WebhooksConfig::default())
    }
}

impl WebhookSettings {
    /// Attempts a delivery gets: the first and one per retry delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_schedule.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// The delay after failed attempt `attempt` (≥ 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) - 1) as usize;
        self.retry_schedule
            .get(i)
            .or(self.retry_schedule.last())
            .copied()
            .unwrap_or(Duration::from_secs(60))
    }
}
