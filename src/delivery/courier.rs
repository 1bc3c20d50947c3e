//! Sending deliveries: one signed POST per attempt, and what it came to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::WebhookSettings;
use crate::clock::SharedClock;
use crate::job::{DeliverArgs, EventKind, Job, NewEvent, Outcome};
use crate::store::{Store, StoreError};
use crate::webhook::{
    DestinationError, DestinationPolicy, Endpoint, EndpointSecrets, Event, Format, SecretError,
    Signer, catalogue, redact, slack,
};

/// The most of a receiver's answer read (the rest is dropped unread).
const READ_AT_MOST: usize = 64 * 1024;
/// The most of it kept in the delivery's history.
const KEEP: usize = 1024;
/// The longest `Retry-After` honoured; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A delivery that cannot be attempted at all.
#[derive(Debug, thiserror::Error)]
pub enum CourierError {
    #[error("no webhook endpoint has id {0}")]
    NoEndpoint(i64),
    #[error("the endpoint's URL is refused: {0}")]
    Destination(#[from] DestinationError),
    #[error("the endpoint's secret cannot sign: {0}")]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    /// The receiver's status; `None` when no answer came.
    pub status: Option<u16>,
    /// From sending to the answer's end (or giving up).
    pub latency: Duration,
    /// The start of the receiver's answer, control characters escaped.
    pub answer: String,
    /// Why no answer came, or why the one that came does not count.
    pub error: Option<String>,
    /// What the receiver's `Retry-After` asked for.
    pub retry_after: Option<Duration>,
    /// The endpoint's URL as history may show it.
    pub url: String,
}

impl AttemptReport {
    /// Only a 2xx counts.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The row of the delivery's history: an `api_call` event.
    fn history(&self) -> NewEvent {
        NewEvent {
            kind: EventKind::ApiCall,
            from_state: None,
            to_state: None,
            message: self.answer.clone(),
            method: Some("POST".into()),
            route: Some(self.url.clone()),
            status: self.status,
            latency_ms: Some(self.latency.as_millis() as u64),
            error: self.error.clone(),
        }
    }
}

/// Sends deliveries. Cheap to clone.
#[derive(Clone)]
pub struct Courier {
    /// No redirects, the attempt timeout, and a resolver that refuses
    /// addresses the policy refuses. Built at the first delivery: a daemon
    /// without webhooks never pays for its TLS setup (about half a MB).
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
    /// Endpoints, events, secrets; and where a 410 disables an endpoint.
    store: Store,
    /// For the signature's timestamp and retry times.
    clock: SharedClock,
    /// The policy, timeout and retry schedule.
    settings: Arc<WebhookSettings>,
}

/// Resolves host names, keeping only the addresses the policy allows, so
/// that a name pointing at a private address is refused at the moment of
/// connecting, not only when the endpoint was saved.
struct Guard(DestinationPolicy);

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "it has no address".into());
                return Err(format!("{host} cannot be delivered to: {why}").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

impl Courier {
    pub fn new(store: Store, clock: SharedClock, settings: Arc<WebhookSettings>) -> Self {
        Courier {
            client: Arc::default(),
            store,
            clock,
            settings,
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.settings.timeout)
                .connect_timeout(self.settings.timeout.min(Duration::from_secs(10)))
                .user_agent(concat!(
                    "machinist/",
                    env!("CARGO_PKG_VERSION"),
                    " (webhooks)"
                ))
                .dns_resolver(Arc::new(Guard(self.settings.policy)))
                .build()
                .expect("the webhook client's settings are valid")
        })
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// One attempt: `event` to `endpoint`, signed with `secrets`.
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        secrets: &EndpointSecrets,
        event: &Event,
    ) -> Result<AttemptReport, CourierError> {
        let url = self.settings.policy.check_url(&endpoint.url)?;
        let now = self.clock.now();
        let signer = Signer::new(secrets, now)?;
        let body = match endpoint.format {
            Format::Standard => event.payload(),
            Format::Slack => slack::body(event),
        };
        let body = serde_json::to_vec(&body).expect("JSON values serialize");
        let timestamp = now.timestamp();
        let signature = signer.sign(&event.id, timestamp, &body);
        let shown = redact(&endpoint.url);
        let started = Instant::now();
        let sent = self
            .client()
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut report = AttemptReport {
            status: None,
            latency: Duration::ZERO,
            answer: String::new(),
            error: None,
            retry_after: None,
            url: shown,
        };
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                report.status = Some(status);
                report.retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(redact);
                let mut answer = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = READ_AT_MOST.saturating_sub(answer.len());
                            answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if answer.len() >= READ_AT_MOST {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            report.error = Some(format!(
                                "the answer was cut off: {}",
                                crate::text::error_chain(&e.without_url())
                            ));
                            break;
                        }
                    }
                }
                report.answer = keep(&answer);
                if !report.delivered() && report.error.is_none() {
                    report.error = Some(match (status, location) {
                        (410, _) => "the receiver answered 410 Gone".into(),
                        (300..=399, Some(to)) => format!(
                            "the receiver answered {status}, a redirect to {to}; redirects are not followed: give the endpoint its final URL"
                        ),
                        _ => format!("the receiver answered {status}; only a 2xx counts"),
                    });
                }
            }
            Err(e) => {
                report.error = Some(if e.is_timeout() {
                    format!("no answer within {}s", self.settings.timeout.as_secs_f64())
                } else {
                    crate::text::error_chain(&e.without_url())
                });
            }
        }
        report.latency = started.elapsed();
        Ok(report)
    }

    /// Runs one attempt of a deliver job: the outcome and the history rows.
    pub async fn deliver(&self, job: &Job, args: &DeliverArgs) -> (Outcome, Vec<NewEvent>) {
        let failed = |error: String| (Outcome::Failed { error }, Vec::new());
        let endpoint = match self.store.endpoint(args.endpoint).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return failed(format!(
                    "the webhook endpoint {} was removed; nothing was sent",
                    args.endpoint
                ));
            }
            Err(e) => return self.store_trouble(job, e),
        };
        if endpoint.paused {
            return failed(format!(
                "the webhook endpoint {} is paused; nothing was sent (re-send it once resumed)",
                endpoint.id
            ));
        }
        if let Some(why) = &endpoint.disabled {
            return failed(format!(
                "the webhook endpoint {} is disabled ({why}); nothing was sent",
                endpoint.id
            ));
        }
        let event = match self.store.webhook_event(&args.event).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return failed(format!(
                    "the event {} is no longer stored; nothing was sent",
                    args.event
                ));
            }
            Err(e) => return self.store_trouble(job, e),
        };
        let secrets = match self.store.endpoint_secrets(endpoint.id).await {
            Ok(Some(s)) => s,
            Ok(None) => return failed(format!("the webhook endpoint {} was removed", endpoint.id)),
            Err(e) => return self.store_trouble(job, e),
        };
        let report = match self.send(&endpoint, &secrets, &event).await {
            Ok(report) => report,
            Err(CourierError::Store(e)) => return self.store_trouble(job, e),
            Err(e) => return failed(format!("{e}; nothing was sent")),
        };
        let history = vec![report.history()];
        let now = self.clock.now();
        let outcome = if report.delivered() {
            Outcome::Succeeded {
                result: json!({
                    "endpoint": endpoint.id,
                    "event": event.id,
                    "type": event.kind.as_str(),
                    "status": report.status,
                    "latency_ms": report.latency.as_millis() as u64,
                }),
                note: format!(
                    "{} delivered to {}: {}",
                    event.kind,
                    report.url,
                    report.status.unwrap_or_default()
                ),
            }
        } else if report.status == Some(410) {
            let reason = format!(
                "the receiver answered 410 Gone at {}; resume the endpoint to deliver to it again",
                now.to_rfc3339()
            );
            if let Err(e) = self
                .store
                .disable_endpoint(endpoint.id, reason.clone(), now)
                .await
            {
                tracing::error!(endpoint = endpoint.id, error = %e, "could not disable a webhook endpoint that answered 410");
            }
            tracing::warn!(endpoint = endpoint.id, url = %report.url, "a webhook receiver answered 410 Gone; the endpoint is disabled");
            Outcome::Failed {
                error: format!("{reason}; the endpoint is disabled"),
            }
        } else {
            let error = report.error.clone().unwrap_or_default();
            if job.attempt >= job.max_attempts {
                Outcome::Failed {
                    error: format!("gave up after {} attempts: {error}", job.max_attempts),
                }
            } else {
                let delay = self
                    .settings
                    .delay(job.attempt)
                    .max(report.retry_after.unwrap_or_default());
                Outcome::Retry {
                    error,
                    at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
                    checkpoint: None,
                }
            }
        };
        (outcome, history)
    }

    /// The store could not be read: the attempt did not happen, try soon.
    fn store_trouble(&self, job: &Job, e: StoreError) -> (Outcome, Vec<NewEvent>) {
        let at: DateTime<Utc> = self.clock.now() + chrono::Duration::seconds(5);
        let error = format!("could not read the delivery's endpoint or event: {e}");
        if job.attempt >= job.max_attempts {
            (Outcome::Failed { error }, Vec::new())
        } else {
            (
                Outcome::Retry {
                    error,
                    at,
                    checkpoint: None,
                },
                Vec::new(),
            )
        }
    }

    /// Sends a `ping` to endpoint `id` now, outside the queue (whether the
    /// endpoint is paused or not), and answers what the receiver said.
    pub async fn ping(&self, id: i64) -> Result<(Event, AttemptReport), CourierError> {
        let endpoint = self
            .store
            .endpoint(id)
            .await?
            .ok_or(CourierError::NoEndpoint(id))?;
        let secrets = self
            .store
            .endpoint_secrets(id)
            .await?
            .ok_or(CourierError::NoEndpoint(id))?;
        let event = catalogue::ping(id, self.clock.now());
        let report = self.send(&endpoint, &secrets, &event).await?;
        Ok((event, report))
    }
}

/// The start of an answer, as UTF-8 (lossy), control characters escaped.
fn keep(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let mut kept: String = text.chars().take(KEEP).collect();
    if text.chars().count() > KEEP {
        kept.push('…');
    }
    crate::text::escape(&kept)
}
