//! The webhook routes: endpoints (create, list, show, change, delete,
//! pause, resume), their secrets (rotate), a test delivery, their
//! deliveries (list, re-send) and the event catalogue.
//!
//! An endpoint's secret is answered twice only: when the endpoint is
//! created and when its secret is rotated; listing and showing never carry
//! it. An endpoint defined in the configuration file (`source: config`) is
//! changed there, so these routes refuse to change, rotate or delete it
//! (409) but pause and resume it like any other. Every change to what an
//! endpoint receives refreshes the publisher, which skips the event types
//! no endpoint wants.
//!
//! A body is checked whole before anything is written: every field the
//! endpoint's rules refuse is named at once (`field` joins their names with
//! commas), and a URL the destination policy refuses is named `url` with the
//! policy's reason.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params::{self, positive_id};
use super::schedules::created;
use crate::delivery::CourierError;
use crate::job::{JobEvent, JobId, JobState};
use crate::store::{Delivery, EndpointSaved};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSource, EndpointSpec, EventType, Secret, SpecError,
};

/// The 422 code of an endpoint (or a change to one) that is not valid.
const INVALID_WEBHOOK: &str = "invalid_webhook";

/// Deliveries in a page without `limit`.
pub(super) const DEFAULT_DELIVERIES: u32 = 50;
/// The largest page of deliveries (each carries its attempts).
pub(super) const MAX_DELIVERIES: u32 = 200;

const WEBHOOK_EXAMPLE: &str = r#"{"url":"https://hooks.example.com/machinist","events":["job.failed","machine.left_running"]}"#;
const PATCH_EXAMPLE: &str = r#"{"events":["job.failed"],"paused":false}"#;

/// `POST /v1/webhooks`: the endpoint, and its secret, shown only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCreated {
    /// The endpoint as stored.
    pub endpoint: Endpoint,
    /// `whsec_…`: what the receiver verifies signatures with (masked in
    /// `Debug`, so never in a log line).
    pub secret: Secret,
}

/// `GET /v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookList {
    /// By id; never with their secrets.
    pub webhooks: Vec<Endpoint>,
}

/// `POST /v1/webhooks/{id}/rotate-secret`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRotated {
    /// The endpoint, with `previous_secret_until` set.
    pub endpoint: Endpoint,
    /// The new `whsec_…`, which signs from now on (masked in `Debug`).
    pub secret: Secret,
    /// Until when the previous secret signs too (`webhooks.rotation_overlap`
    /// from now), so the receiver can switch without losing a delivery.
    pub previous_secret_until: DateTime<Utc>,
}

/// `POST /v1/webhooks/{id}/test`: what one `ping` came to. A receiver that
/// fails is still a 200 here, with `delivered: false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestDelivery {
    /// The ping's `webhook-id`.
    pub event_id: String,
    /// True when the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's status; `null` when no answer came.
    pub status: Option<u16>,
    /// From sending to the end of the answer (or giving up).
    pub latency_ms: u64,
    /// The start of the receiver's answer, control characters escaped.
    pub answer: String,
    /// Why no answer came, or why the one that came does not count.
    pub error: Option<String>,
    /// The endpoint's URL, shortened to what logs may show.
    pub url: String,
}

/// One attempt of a delivery: an `api_call` of its job's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    /// When the attempt's outcome was written.
    pub at: DateTime<Utc>,
    /// The receiver's status; `null` when no answer came.
    pub status: Option<u16>,
    /// How long the attempt took.
    pub latency_ms: Option<u64>,
    /// The start of the receiver's answer.
    pub answer: String,
    /// Why the attempt does not count, if it does not.
    pub error: Option<String>,
    /// The endpoint's URL as it was then, shortened.
    pub url: Option<String>,
}

impl From<JobEvent> for AttemptView {
    fn from(e: JobEvent) -> Self {
        AttemptView {
            at: e.at,
            status: e.event.status,
            latency_ms: e.event.latency_ms,
            answer: e.event.message,
            error: e.event.error,
            url: e.event.route,
        }
    }
}

/// One delivery: an event to this endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The deliver job's id: what `resend` takes.
    pub id: JobId,
    /// The event's id, the `webhook-id` of every attempt.
    pub event_id: String,
    /// The event's type; `null` once the event was pruned.
    pub event_type: Option<EventType>,
    /// `queued` (due, or waiting to retry), `running`, `succeeded`,
    /// `failed` (gave up) or `cancelled` (its endpoint was removed).
    pub state: JobState,
    /// Attempts so far.
    pub attempt: u32,
    /// Attempts it gets in all.
    pub max_attempts: u32,
    /// When the next attempt is due, while one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt did not count.
    pub last_error: Option<String>,
    /// When the event was queued for this endpoint.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        let Delivery {
            job,
            event_id,
            event_type,
            attempts,
        } = d;
        let due = matches!(job.state, JobState::Queued | JobState::Waiting);
        DeliveryView {
            id: job.id,
            event_id,
            event_type,
            state: job.state,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            next_attempt_at: due.then_some(job.run_at),
            last_error: job.last_error,
            created_at: job.created_at,
            finished_at: job.finished_at,
            attempts: attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// `GET /v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<JobId>,
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery}/resend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resent {
    /// The new delivery's id.
    pub delivery: JobId,
    /// The event it delivers again (the same `webhook-id`).
    pub event_id: String,
}

/// One event type of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTypeView {
    /// The stable name receivers switch on, e.g. `job.failed`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// What it means, in a line.
    pub description: String,
    /// Sent only to endpoints that name it.
    pub opt_in: bool,
    /// Sent to endpoints created without an event list.
    pub default: bool,
}

/// `GET /v1/webhooks/events`: the types an endpoint's `events` may name
/// (`ping`, sent by the test route to any endpoint, is not among them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventCatalogue {
    /// In the catalogue's order.
    pub events: Vec<EventTypeView>,
}

// ---- handlers ----

/// `POST /v1/webhooks`.
pub(super) async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let spec: EndpointSpec =
        params::json_body(&headers, body, app.max_body_bytes, WEBHOOK_EXAMPLE)?;
    let mut problems = spec.check().err().unwrap_or_default();
    check_destination(&app, Some(&spec.url), &mut problems);
    refuse(problems)?;
    let secret = Secret::generate();
    let shown = secret.clone();
    let now = app.http.clock.now();
    let saved = app
        .http
        .store
        .create_endpoint(spec, secret, EndpointSource::Api, now)
        .await?;
    let endpoint = saved_endpoint(saved, None)?;
    refresh(&app).await;
    tracing::info!(webhook_id = endpoint.id, url = %crate::webhook::redact(&endpoint.url), "webhook endpoint created over the admin API");
    Ok(created(
        format!("/v1/webhooks/{}", endpoint.id),
        EndpointCreated {
            endpoint,
            secret: shown,
        },
    ))
}

/// `GET /v1/webhooks`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<WebhookList>, Problem> {
    params::query(raw.as_deref(), &[])?;
    let webhooks = app.http.store.endpoints().await?;
    Ok(Json(WebhookList { webhooks }))
}

/// `GET /v1/webhooks/events`: the catalogue; nothing is read from the store.
pub(super) async fn events(RawQuery(raw): RawQuery) -> Result<Json<EventCatalogue>, Problem> {
    params::query(raw.as_deref(), &[])?;
    let defaults = EventType::defaults();
    let events = EventType::ALL
        .into_iter()
        .filter(|t| *t != EventType::Ping)
        .map(|t| EventTypeView {
            kind: t,
            description: t.describe().to_string(),
            opt_in: t.opt_in(),
            default: defaults.contains(&t),
        })
        .collect();
    Ok(Json(EventCatalogue { events }))
}

/// `GET /v1/webhooks/{id}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Endpoint>, Problem> {
    let id = endpoint_id(path)?;
    Ok(Json(existing(&app, id).await?))
}

/// `PATCH /v1/webhooks/{id}`: the fields present replace the old values.
pub(super) async fn update(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Endpoint>, Problem> {
    let id = endpoint_id(path)?;
    let patch: EndpointPatch =
        params::json_body(&headers, body, app.max_body_bytes, PATCH_EXAMPLE)?;
    if patch.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            INVALID_WEBHOOK,
            format!(
                "the change is empty; send at least one field to change, such as {PATCH_EXAMPLE}"
            ),
        )
        .with_field("body"));
    }
    let mut problems = patch.check().err().unwrap_or_default();
    check_destination(&app, patch.url.as_deref(), &mut problems);
    refuse(problems)?;
    let endpoint = existing(&app, id).await?;
    let only_pause = patch
        == EndpointPatch {
            paused: patch.paused,
            ..EndpointPatch::default()
        };
    if !only_pause {
        in_api(&endpoint, "changed")?;
    }
    let saved = app
        .http
        .store
        .update_endpoint(id, patch, app.http.clock.now())
        .await?;
    let endpoint = saved_endpoint(saved, Some(id))?;
    refresh(&app).await;
    tracing::info!(
        webhook_id = id,
        "webhook endpoint changed over the admin API"
    );
    Ok(Json(endpoint))
}

/// `DELETE /v1/webhooks/{id}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let id = endpoint_id(path)?;
    let endpoint = existing(&app, id).await?;
    in_api(&endpoint, "deleted")?;
    if !app
        .http
        .store
        .delete_endpoint(id, app.http.clock.now())
        .await?
    {
        return Err(not_found(id));
    }
    refresh(&app).await;
    tracing::info!(
        webhook_id = id,
        "webhook endpoint deleted over the admin API"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/webhooks/{id}/pause`.
pub(super) async fn pause(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Endpoint>, Problem> {
    set_paused(app, endpoint_id(path)?, true).await
}

/// `POST /v1/webhooks/{id}/resume`: also clears `disabled`.
pub(super) async fn resume(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Endpoint>, Problem> {
    set_paused(app, endpoint_id(path)?, false).await
}

async fn set_paused(
    app: AppState,
    id: EndpointId,
    paused: bool,
) -> Result<Json<Endpoint>, Problem> {
    let patch = EndpointPatch {
        paused: Some(paused),
        ..EndpointPatch::default()
    };
    let saved = app
        .http
        .store
        .update_endpoint(id, patch, app.http.clock.now())
        .await?;
    let endpoint = saved_endpoint(saved, Some(id))?;
    refresh(&app).await;
    tracing::info!(
        webhook_id = id,
        paused,
        "webhook endpoint paused or resumed over the admin API"
    );
    Ok(Json(endpoint))
}

/// `POST /v1/webhooks/{id}/rotate-secret`.
pub(super) async fn rotate_secret(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SecretRotated>, Problem> {
    let id = endpoint_id(path)?;
    let endpoint = existing(&app, id).await?;
    // Its secret is the configuration file's too: read again at start.
    in_api(&endpoint, "given a new secret")?;
    let now = app.http.clock.now();
    let overlap = app.http.webhooks.settings().rotation_overlap;
    let previous_secret_until = chrono::Duration::from_std(overlap)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let secret = Secret::generate();
    let shown = secret.clone();
    let endpoint = app
        .http
        .store
        .rotate_endpoint_secret(id, secret, previous_secret_until, now)
        .await?
        .ok_or_else(|| not_found(id))?;
    tracing::info!(webhook_id = id, until = %previous_secret_until, "webhook secret rotated over the admin API");
    Ok(Json(SecretRotated {
        endpoint,
        secret: shown,
        previous_secret_until,
    }))
}

/// `POST /v1/webhooks/{id}/test`: a `ping` now, outside the queue.
pub(super) async fn test(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<TestDelivery>, Problem> {
    let id = endpoint_id(path)?;
    let (event, report) = app
        .http
        .webhooks
        .courier
        .ping(id)
        .await
        .map_err(|e| match e {
            CourierError::NoEndpoint(id) => not_found(id),
            CourierError::Destination(e) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                INVALID_WEBHOOK,
                format!("the endpoint's URL is refused: {e}; change it with PATCH"),
            )
            .with_field("url"),
            CourierError::Secret(e) => {
                tracing::error!(webhook_id = id, error = %e, "a stored webhook secret cannot sign");
                Problem::unavailable(format!(
                    "the endpoint's secret cannot sign ({e}); rotate it"
                ))
            }
            CourierError::Store(e) => e.into(),
        })?;
    tracing::info!(webhook_id = id, status = ?report.status, "webhook test delivery over the admin API");
    Ok(Json(TestDelivery {
        event_id: event.id,
        delivered: report.delivered(),
        status: report.status,
        latency_ms: u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX),
        answer: report.answer,
        error: report.error,
        url: report.url,
    }))
}

/// `GET /v1/webhooks/{id}/deliveries?before=&limit=`.
pub(super) async fn deliveries(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<DeliveryPage>, Problem> {
    let id = endpoint_id(path)?;
    let q = params::query(raw.as_deref(), &["before", "limit"])?;
    let before = q
        .get("before")
        .map(|v| {
            positive_id(v).ok_or_else(|| {
                Problem::bad_field(
                    "before",
                    "`before` is a delivery id (a positive whole number): the `next_before` of the previous page",
                )
            })
        })
        .transpose()?;
    let limit = delivery_limit(q.get("limit").map(String::as_str))?;
    existing(&app, id).await?;
    let mut found = app.http.store.deliveries(id, before, limit + 1).await?;
    let next_before = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(|d| d.job.id)
    } else {
        None
    };
    Ok(Json(DeliveryPage {
        deliveries: found.into_iter().map(DeliveryView::from).collect(),
        next_before,
    }))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery}/resend`.
pub(super) async fn resend(
    State(app): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Problem> {
    let Path((id, delivery)) = path.map_err(|e| Problem::bad_request(e.body_text()))?;
    let id = params::id("id", "webhook", &id)?;
    let delivery = params::id("delivery", "delivery", &delivery)?;
    let max_attempts = app.http.webhooks.settings().max_attempts();
    let submitted = app
        .http
        .store
        .resend(id, delivery, max_attempts, app.http.clock.now())
        .await?
        .ok_or_else(|| {
            Problem::not_found(format!("webhook endpoint {id} has no delivery {delivery}"))
                .with_field("delivery")
        })?;
    let event_id = submitted
        .job
        .args
        .get("event")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    tracing::info!(
        webhook_id = id,
        delivery,
        new_delivery = submitted.job.id,
        "webhook delivery re-sent over the admin API"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(Resent {
            delivery: submitted.job.id,
            event_id,
        }),
    )
        .into_response())
}

// ---- helpers ----

/// The `{id}` of a path: a positive whole number, or a 400 naming `id`.
fn endpoint_id(path: Result<Path<String>, PathRejection>) -> Result<EndpointId, Problem> {
    let Path(raw) = path.map_err(|e| Problem::bad_field("id", e.body_text()))?;
    params::id("id", "webhook", &raw)
}

/// `?limit=` of the deliveries: 1..=200, default 50.
fn delivery_limit(value: Option<&str>) -> Result<u32, Problem> {
    let Some(value) = value else {
        return Ok(DEFAULT_DELIVERIES);
    };
    positive_id(value)
        .filter(|n| *n <= i64::from(MAX_DELIVERIES))
        .map(|n| n as u32)
        .ok_or_else(|| {
            Problem::bad_field(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_DELIVERIES}"),
            )
        })
}

fn not_found(id: EndpointId) -> Problem {
    Problem::not_found(format!("there is no webhook endpoint with id {id}")).with_field("id")
}

/// The endpoint `id`, or a 404.
async fn existing(app: &AppState, id: EndpointId) -> Result<Endpoint, Problem> {
    app.http
        .store
        .endpoint(id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// A 409 for an endpoint of the configuration file, which `verb` would
/// change behind the file's back (it is read again at start).
fn in_api(endpoint: &Endpoint, verb: &str) -> Result<(), Problem> {
    if endpoint.source == EndpointSource::Config {
        let name = endpoint
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        return Err(Problem::conflict(format!(
            "webhook endpoint {}{name} is defined in the configuration file; change it there \
             (it cannot be {verb} here, only paused and resumed)",
            endpoint.id
        )));
    }
    Ok(())
}

/// Adds the destination policy's refusal of `url`, unless the URL's text is
/// already refused.
fn check_destination(app: &AppState, url: Option<&str>, problems: &mut Vec<SpecError>) {
    let Some(url) = url else { return };
    if problems.iter().any(|p| p.field == "url") {
        return;
    }
    if let Err(e) = app.http.webhooks.settings().policy.check_url(url) {
        problems.insert(0, SpecError::new("url", e.to_string()));
    }
}

/// A 422 naming every field at fault (`field` joins their names with
/// commas), or nothing when there is none.
fn refuse(problems: Vec<SpecError>) -> Result<(), Problem> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut fields: Vec<&str> = Vec::new();
    for p in &problems {
        if !fields.contains(&p.field.as_str()) {
            fields.push(&p.field);
        }
    }
    let message = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    Err(
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, INVALID_WEBHOOK, message)
            .with_field(fields.join(",")),
    )
}

fn saved_endpoint(saved: EndpointSaved, id: Option<EndpointId>) -> Result<Endpoint, Problem> {
    match saved {
        EndpointSaved::Saved(endpoint) => Ok(endpoint),
        EndpointSaved::NameTaken(name) => Err(Problem::conflict(format!(
            "the name `{name}` is taken by another webhook endpoint"
        ))
        .with_field("name")),
        EndpointSaved::NotFound => Err(match id {
            Some(id) => not_found(id),
            None => Problem::not_found("the webhook endpoint is gone"),
        }),
    }
}

/// Tells the publisher what the endpoints want now. The change itself is
/// saved either way; a failure here only delays which events are written
/// until the next change or restart, so it is logged, not answered.
async fn refresh(app: &AppState) {
    if let Err(e) = app.http.webhooks.publisher.refresh().await {
        tracing::error!(error = %e, "could not re-read the webhook endpoints after a change; events of a type only the changed endpoint wants may be skipped until the next change");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_at_fault_is_named() {
        let e = refuse(vec![
            SpecError::new("url", "a"),
            SpecError::new("events", "b"),
            SpecError::new("events", "c"),
        ])
        .unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code, INVALID_WEBHOOK);
        assert_eq!(e.field.as_deref(), Some("url,events"));
        assert_eq!(e.message, "url: a; events: b; events: c");
        refuse(Vec::new()).unwrap();
    }

    #[test]
    fn limits_and_ids_are_strict() {
        assert_eq!(delivery_limit(None).unwrap(), 50);
        assert_eq!(delivery_limit(Some("200")).unwrap(), 200);
        for bad in ["0", "201", "-1", "x", "01"] {
            assert_eq!(
                delivery_limit(Some(bad)).unwrap_err().field.as_deref(),
                Some("limit"),
                "{bad}"
            );
        }
        assert_eq!(params::id("id", "webhook", "7").unwrap(), 7);
        for bad in ["0", "events", "-3", "07"] {
            assert_eq!(
                params::id("id", "webhook", bad)
                    .unwrap_err()
                    .field
                    .as_deref(),
                Some("id")
            );
        }
    }
}
