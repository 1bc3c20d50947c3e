//! Webhooks' records: endpoints with their secrets, the events published,
//! the deliveries (deliver jobs in the queue, one per event and endpoint)
//! and the marks that keep an alarm from repeating too often. The nouns
//! beyond `crate::webhook`'s (the operations: `handle/webhooks.rs`).
//!
//! A delivery is a job of kind `deliver` in the `webhooks` lane; its
//! attempts are the job's `api_call` history events (status, latency, the
//! receiver's answer, truncated). Its arguments name the event and the
//! endpoint, never a secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::{Job, JobEvent, JobId};
use crate::webhook::{Endpoint, Event, EventType};

/// What saving an endpoint came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSaved {
    /// Saved; the endpoint as stored.
    Saved(Endpoint),
    /// Another endpoint already has this name.
    NameTaken(String),
    /// No endpoint has this id.
    NotFound,
}

/// An event to publish: stored once, and one deliver job queued per
/// endpoint that [`Endpoint::accepts`] it, all in one transaction.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The event.
    pub event: Event,
    /// Tries each delivery gets (the retry schedule's length + 1).
    pub max_attempts: u32,
    /// When set, the alarm mark of this key is set to the event's time in
    /// the same transaction (see [`crate::store::Store::alarm_mark`]).
    pub mark: Option<String>,
    /// Deliver only to this endpoint (a ping, a re-send); `None`: every
    /// endpoint that accepts the event.
    pub only: Option<i64>,
}

/// What publishing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The deliver jobs queued, one per endpoint, in endpoint order.
    pub deliveries: Vec<JobId>,
}

/// One delivery as listed: its job and its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The deliver job: its state, attempts so far, next attempt
    /// (`run_at`), last error.
    pub job: Job,
    /// The event's id (the `webhook-id`).
    pub event_id: String,
    /// The event's type; `None` if the event was pruned.
    pub event_type: Option<EventType>,
    /// The job's `api_call` events: one per attempt, oldest first.
    pub attempts: Vec<JobEvent>,
}

/// When the alarm of a key last went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmMark {
    pub key: String,
    pub at: DateTime<Utc>,
}
