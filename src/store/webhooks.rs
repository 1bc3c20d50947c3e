//! Webhooks' records: endpoints with their secrets, the events published,
//! the deliveries (deliver jobs in the queue, one per event and endpoint)
//! and the marks that keep an alarm from repeating too often. The nouns
//! beyond `crate::webhook`'s (the operations: `handle/webhooks.rs`).
//!
//! A delivery is a job of kind `deliver` in the `webhooks` lane; its
//! attempts are the job's `api_call` history events (status, latency, the
//! receiver's answer, truncated). Its arguments name the event and the
//! endpoint, never a secret.
//!
//! Also the rows every driver decodes these from: an endpoint's row never
//! carries its secrets, which only [`SecretsRow`] reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::rows::from_ms;
use super::{Cause, StoreError};
use crate::job::{Job, JobEvent, JobId};
use crate::webhook::{
    Endpoint, EndpointId, EndpointSecrets, EndpointSource, Event, EventType, Secret, Subject,
};

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

/// `source` as stored.
pub(crate) fn source_text(source: EndpointSource) -> &'static str {
    match source {
        EndpointSource::Api => "api",
        EndpointSource::Config => "config",
    }
}

/// A stored endpoint or event that cannot be read; never quotes a secret.
fn unreadable(what: String, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Db(Cause::from(format!(
        "stored {what} cannot be read: {detail}"
    )))
}

/// A row of `webhook_endpoints` without its secrets, one field per column.
#[derive(Debug, FromRow)]
pub(crate) struct EndpointRow {
    /// Endpoint id.
    pub id: i64,
    /// Unique name, when it has one.
    pub name: Option<String>,
    /// Where deliveries go.
    pub url: String,
    /// `standard` or `slack`.
    pub format: String,
    /// Event types as a JSON array of names.
    pub events: String,
    /// Machine filter as a JSON array.
    pub machines: String,
    /// Schedule filter as a JSON array.
    pub schedules: String,
    /// Window filter as a JSON array.
    pub windows: String,
    /// Paused by a person.
    pub paused: bool,
    /// Why deliveries stopped on their own; NULL while they go.
    pub disabled: Option<String>,
    /// `api` or `config`.
    pub source: String,
    /// Until when the previous secret signs too, in milliseconds.
    pub previous_until: Option<i64>,
    /// Creation time, in milliseconds since the epoch.
    pub created_at: i64,
    /// Last change, in milliseconds since the epoch.
    pub updated_at: i64,
}

impl TryFrom<EndpointRow> for Endpoint {
    type Error = StoreError;

    fn try_from(r: EndpointRow) -> Result<Self, StoreError> {
        let id = r.id;
        let bad = |field: &str, detail: String| {
            unreadable(
                format!("webhook endpoint {id}"),
                format!("{field}: {detail}"),
            )
        };
        let list = |field: &str, text: &str| -> Result<Vec<String>, StoreError> {
            serde_json::from_str(text).map_err(|e| bad(field, e.to_string()))
        };
        Ok(Endpoint {
            id,
            name: r.name,
            format: r.format.parse().map_err(|e| bad("format", e))?,
            events: serde_json::from_str(&r.events).map_err(|e| bad("events", e.to_string()))?,
            machines: list("machines", &r.machines)?,
            schedules: list("schedules", &r.schedules)?,
            windows: list("windows", &r.windows)?,
            url: r.url,
            paused: r.paused,
            disabled: r.disabled,
            source: match r.source.as_str() {
                "api" => EndpointSource::Api,
                "config" => EndpointSource::Config,
                other => return Err(bad("source", format!("unknown source `{other}`"))),
            },
            previous_secret_until: r.previous_until.map(from_ms),
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

/// An endpoint's secrets as stored.
#[derive(FromRow)]
pub(crate) struct SecretsRow {
    /// The endpoint, for errors.
    pub id: i64,
    /// The current secret, `whsec_…`.
    pub secret: String,
    /// The secret before the last rotation.
    pub previous_secret: Option<String>,
    /// Until when it signs, in milliseconds.
    pub previous_until: Option<i64>,
}

impl TryFrom<SecretsRow> for EndpointSecrets {
    type Error = StoreError;

    fn try_from(r: SecretsRow) -> Result<Self, StoreError> {
        // The parse error says what is wrong with a secret, never the secret.
        let parse = |text: &str| {
            Secret::parse(text)
                .map_err(|e| unreadable(format!("secret of webhook endpoint {}", r.id), e))
        };
        Ok(EndpointSecrets {
            current: parse(&r.secret)?,
            previous: match (&r.previous_secret, r.previous_until) {
                (Some(previous), Some(until)) => Some((parse(previous)?, from_ms(until))),
                _ => None,
            },
        })
    }
}

/// A row of `webhook_events`.
#[derive(Debug, FromRow)]
pub(crate) struct WebhookEventRow {
    /// `msg_…`.
    pub id: String,
    /// The catalogue's name.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// When it happened, in milliseconds since the epoch.
    pub at: i64,
    /// The payload's `data`, JSON text.
    pub data: String,
    /// The subject, JSON text.
    pub subject: String,
}

impl TryFrom<WebhookEventRow> for Event {
    type Error = StoreError;

    fn try_from(r: WebhookEventRow) -> Result<Self, StoreError> {
        let bad = |field: &str, detail: String| {
            unreadable(
                format!("webhook event {}", r.id),
                format!("{field}: {detail}"),
            )
        };
        let kind: EventType = r.kind.parse().map_err(|e| bad("type", e))?;
        let data = serde_json::from_str(&r.data).map_err(|e| bad("data", e.to_string()))?;
        let subject: Subject =
            serde_json::from_str(&r.subject).map_err(|e| bad("subject", e.to_string()))?;
        Ok(Event {
            id: r.id,
            kind,
            timestamp: from_ms(r.at),
            data,
            subject,
        })
    }
}

/// The endpoint a deliver job's arguments name.
pub(crate) fn delivery_endpoint(job: &Job) -> Option<EndpointId> {
    job.args.get("endpoint").and_then(serde_json::Value::as_i64)
}
