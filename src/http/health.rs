//! Liveness, readiness and metrics.
//!
//! - `GET /healthz`: the process answers (no check, no auth).
//! - `GET /readyz`: the database answers and takes writes (the file at
//!   `store.path` is still the one the daemon writes, and the last write
//!   was committed: the last of the daemon's own, or when it wrote nothing
//!   for [`WRITE_FRESH`], a one-row probe made here), every migration this
//!   build knows is applied, and Paperspace answered within [`API_FRESH`]: a job's call,
//!   or else one probe (a one-machine listing) made here, at most once per
//!   [`PROBE_EVERY`] so that probes cannot flood the API. 200 with the checks,
//!   or 503 `not_ready` naming the failing check in `field` and the reason in
//!   `message`. Open without a token, like `/healthz`, for service managers.
//! - `GET /metrics`: Prometheus text (see `http/metrics.rs`); needs the token.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params;
use crate::machine::{MachineFilter, PageRequest};
use crate::store::{Store, StoreError};

/// Paperspace must have answered within this for the daemon to be ready.
pub(super) const API_FRESH: Duration = Duration::from_secs(10 * 60);
/// At most one readiness probe of Paperspace per this long.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(30);
/// When the daemon wrote nothing for this long, readiness writes once
/// itself; the probe is a write like any other, so this also spaces them.
pub(super) const WRITE_FRESH: Duration = Duration::from_secs(5);

/// `GET /v1/daemons`: every daemon on the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonList {
    /// The running ones first, then the stopped, by last heartbeat.
    pub daemons: Vec<crate::store::DaemonRecord>,
}

/// `GET /v1/daemons`.
pub(super) async fn daemons(State(app): State<AppState>) -> Result<Json<DaemonList>, Problem> {
    let daemons = app.http.store.daemons().await.map_err(Problem::from)?;
    Ok(Json(DaemonList { daemons }))
}

/// `GET /readyz` when ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Always `ready`.
    pub status: String,
    /// Every check by name (`database`, `migrations`, `paperspace`) with what it found.
    pub checks: std::collections::BTreeMap<String, String>,
    /// The account's standing as the meter last checked it; `null` when it
    /// never did (legacy has no such call). Shown, never a reason for not
    /// being ready: the daemon still stops machines while starts are refused.
    pub account_standing: Option<StandingView>,
    /// Where the meter's ingestion of the account's events stands.
    pub meter: MeterView,
}

/// The account's standing in [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingView {
    /// Creates and starts are allowed.
    pub in_good_standing: bool,
    /// A payment method is on file.
    pub has_payment_method: bool,
    /// Paperspace staff locked the account.
    pub admin_locked: bool,
    /// What Paperspace tells the account holder, as sent.
    pub messages: Vec<String>,
    /// When the meter checked.
    pub checked_at: DateTime<Utc>,
}

/// The meter's state in [`Readiness`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterView {
    /// When its last complete run ended; `null` before the first.
    pub ingested_at: Option<DateTime<Utc>>,
    /// Creation time of the newest event ingested.
    pub newest: Option<DateTime<Utc>>,
    /// Machine events kept.
    pub events: u64,
}

/// The last readiness probe of Paperspace.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// When it was made, so that the next waits [`PROBE_EVERY`].
    at: DateTime<Utc>,
    /// `None` when it answered; otherwise why not.
    failure: Option<String>,
}

/// `GET /healthz`.
pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

fn not_ready(check: &str, reason: impl Into<String>) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason).with_field(check)
}

/// `GET /readyz`.
pub(super) async fn readyz(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Readiness>, Problem> {
    params::query(raw.as_deref(), &[])?;
    Ok(Json(readiness(&app).await?))
}

/// The checks of `GET /readyz`: the readiness, or the 503 naming the check
/// that failed. The dashboard's health page shows the same.
pub(super) async fn readiness(app: &AppState) -> Result<Readiness, Problem> {
    let store = &app.http.store;
    let mut checks = std::collections::BTreeMap::new();
    let migrations = store
        .migrations()
        .await
        .map_err(|e| not_ready("database", format!("the database did not answer: {e}")))?;
    checks.insert("database".into(), "ok".into());
    // Which database, so that an operator of several daemons sees they
    // share one (the URL without its password).
    checks.insert(
        "store".into(),
        match store.is_shared() {
            true => format!("postgresql {}", store.describe()),
            false => format!("sqlite {}", store.describe()),
        },
    );
    let missing: Vec<String> = migrations.missing.iter().map(i64::to_string).collect();
    if !missing.is_empty() {
        return Err(not_ready(
            "migrations",
            format!(
                "migrations {} are not applied; restart the daemon to apply them",
                missing.join(", ")
            ),
        ));
    }
    checks.insert("migrations".into(), format!("{} applied", migrations.known));
    takes_writes(store).await?;
    let now = app.http.clock.now();
    let fresh = chrono::TimeDelta::from_std(API_FRESH).unwrap_or(chrono::TimeDelta::MAX);
    app.metrics
        .catch_up(store)
        .await
        .map_err(|e| not_ready("database", format!("the database did not answer: {e}")))?;
    let by_jobs = app
        .metrics
        .last_api_answer()
        .filter(|at| now - *at <= fresh);
    let answered = match by_jobs {
        Some(at) => at,
        None => probe(app, now).await?,
    };
    checks.insert(
        "paperspace".into(),
        format!(
            "answered {} ago",
            humantime::format_duration(Duration::from_secs(
                (now - answered).num_seconds().max(0) as u64
            ))
        ),
    );
    let account_standing = store
        .account_standing()
        .await
        .map_err(|e| not_ready("database", format!("the database did not answer: {e}")))?
        .map(|(s, checked_at)| StandingView {
            in_good_standing: s.in_good_standing,
            has_payment_method: s.has_payment_method,
            admin_locked: s.admin_locked,
            messages: s.messages,
            checked_at,
        });
    let cursor = store
        .meter_cursor()
        .await
        .map_err(|e| not_ready("database", format!("the database did not answer: {e}")))?
        .unwrap_or_default();
    let events = store
        .machine_event_count()
        .await
        .map_err(|e| not_ready("database", format!("the database did not answer: {e}")))?;
    Ok(Readiness {
        status: "ready".into(),
        checks,
        account_standing,
        meter: MeterView {
            ingested_at: cursor.ingested_at,
            newest: cursor.newest,
            events,
        },
    })
}

/// Whether the database takes writes: `store.path` still names the file the
/// daemon writes, and its last write within [`WRITE_FRESH`] (or else a probe
/// made now) was committed. Concurrent checks that find the last write stale
/// each probe, and the writer commits their probes together.
async fn takes_writes(store: &Store) -> Result<(), Problem> {
    store
        .check_file()
        .map_err(|e| not_ready("database", e.to_string()))?;
    let (error, ago) = match store.last_write().filter(|w| w.at.elapsed() < WRITE_FRESH) {
        Some(last) => (last.error, last.at.elapsed()),
        None => (store.probe_write().await.err(), Duration::ZERO),
    };
    match error {
        None => Ok(()),
        // Says all there is to say.
        Some(lost @ StoreError::Lost { .. }) => Err(not_ready("database", lost.to_string())),
        Some(e) => Err(not_ready(
            "database",
            format!(
                "the database does not take writes: the last one, {} ago, failed: {e}",
                humantime::format_duration(Duration::from_secs(ago.as_secs()))
            ),
        )),
    }
}

/// Asks Paperspace for one machine, unless a probe was made within
/// [`PROBE_EVERY`] (then its result stands). Returns when it answered.
async fn probe(app: &AppState, now: DateTime<Utc>) -> Result<DateTime<Utc>, Problem> {
    let Some(api) = &app.http.api else {
        return Err(not_ready(
            "paperspace",
            format!(
                "Paperspace has not answered a job in the last {}",
                humantime::format_duration(API_FRESH)
            ),
        ));
    };
    let mut last = app.probe.lock().await;
    let every = chrono::TimeDelta::from_std(PROBE_EVERY).unwrap_or(chrono::TimeDelta::MAX);
    let recent = last.as_ref().filter(|p| now - p.at < every).cloned();
    let probe = match recent {
        Some(p) => p,
        None => {
            let page = PageRequest {
                cursor: None,
                limit: Some(1),
            };
            let answer = api.list_page(&MachineFilter::all(), &page).await;
            let p = Probe {
                at: now,
                // Problem texts never contain the API key.
                failure: answer.err().map(|e| e.to_string()),
            };
            *last = Some(p.clone());
            p
        }
    };
    match probe.failure {
        None => Ok(probe.at),
        Some(why) => Err(not_ready(
            "paperspace",
            format!("Paperspace did not answer the readiness probe: {why}"),
        )),
    }
}

/// `GET /metrics`.
pub(super) async fn metrics(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    params::query(raw.as_deref(), &[])?;
    let text = app
        .metrics
        .render(&app.http.store, app.http.clock.now())
        .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
