//! The report routes: a month's utilization and savings
//! ([`crate::http::cost`]), and pulling a month's utilization from Paperspace.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::error::Problem;
use super::params;
use super::params::json_body;
use crate::http::cost::{
    SavingsLine, SavingsReport, UtilizationLine, UtilizationReport, savings_priced, utilization,
};
use crate::job::{JobId, JobRequest, SpecError};
use crate::machine::BillingMonth;

/// `GET /v1/reports/utilization`: what each machine used and cost in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilizationView {
    /// The month reported, `YYYY-MM`.
    pub month: BillingMonth,
    /// The Paperspace API the daemon speaks: `v1` or `legacy`.
    pub backend: String,
    /// By machine id, then source.
    pub machines: Vec<UtilizationLineView>,
    /// The sum of the machines' costs, each machine counted once: by
    /// Paperspace's figures where pulled, else by the meter's.
    pub total_cost: f64,
}

/// One machine's month in a [`UtilizationView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilizationLineView {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Hours it ran in the month, as Paperspace bills them.
    pub hours_used: f64,
    /// Its price per hour run.
    pub hourly_rate: f64,
    /// Its storage price per month.
    pub storage_monthly_rate: f64,
    /// Hours run times the rate, plus storage prorated over the month.
    pub cost: f64,
    /// When the figures were pulled from Paperspace, or metered.
    pub pulled_at: DateTime<Utc>,
    /// `paperspace` (a utilization pull, legacy) or `meter` (Machinist's own
    /// metering of the account's events, v1).
    pub source: String,
}

/// `GET /v1/reports/savings`: what Machinist's stops saved in a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavingsView {
    /// The month reported, `YYYY-MM`.
    pub month: BillingMonth,
    /// The Paperspace API the daemon speaks: `v1` or `legacy`.
    pub backend: String,
    /// How the figures were worked out, in one sentence.
    pub method: String,
    /// By machine id.
    pub machines: Vec<SavingsLineView>,
    /// The sum of the machines' hours off.
    pub total_hours_off: f64,
    /// The sum over machines whose rate is known.
    pub total_saved: f64,
}

/// One machine's month in a [`SavingsView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavingsLineView {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Stops carried out in the month.
    pub stops: u32,
    /// Hours the machine stayed off after those stops, within the month.
    pub hours_off: f64,
    /// From the utilization pull, else the machine's latest v1 `usageRate`
    /// per hour; `null` while neither is known.
    pub hourly_rate: Option<f64>,
    /// Hours off times the rate; `null` while the rate is unknown.
    pub saved: Option<f64>,
}

// Every field named, so that a field added to a report fails to compile here
// rather than go missing from the API.
impl UtilizationView {
    fn new(r: UtilizationReport, backend: &str) -> Self {
        let UtilizationReport {
            month,
            machines,
            total_cost,
        } = r;
        let machines = machines
            .into_iter()
            .map(|l| {
                let UtilizationLine {
                    machine_id,
                    hours_used,
                    hourly_rate,
                    storage_monthly_rate,
                    cost,
                    pulled_at,
                    source,
                } = l;
                UtilizationLineView {
                    machine_id,
                    hours_used,
                    hourly_rate,
                    storage_monthly_rate,
                    cost,
                    pulled_at,
                    source,
                }
            })
            .collect();
        UtilizationView {
            month,
            backend: backend.to_string(),
            machines,
            total_cost,
        }
    }
}

/// How savings are worked out, in one sentence.
const SAVINGS_METHOD: &str = "hours each machine stayed off after Machinist's stops, until \
     Machinist started it or it was seen running or Paperspace listed a start of it, times its \
     hourly rate: the utilization pull's, else its latest usageRate as Machinist saw it";

impl SavingsView {
    fn new(r: SavingsReport, backend: &str) -> Self {
        let SavingsReport {
            month,
            machines,
            total_hours_off,
            total_saved,
        } = r;
        let machines = machines
            .into_iter()
            .map(|l| {
                let SavingsLine {
                    machine_id,
                    stops,
                    hours_off,
                    hourly_rate,
                    saved,
                } = l;
                SavingsLineView {
                    machine_id,
                    stops,
                    hours_off,
                    hourly_rate,
                    saved,
                }
            })
            .collect();
        SavingsView {
            month,
            backend: backend.to_string(),
            method: SAVINGS_METHOD.to_string(),
            machines,
            total_hours_off,
            total_saved,
        }
    }
}

/// `POST /v1/reports/utilization/pull`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// `YYYY-MM`.
    pub month: BillingMonth,
}

/// The answer to a pull: one `utilization` job per known machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullAnswer {
    /// The queued `utilization` jobs' ids, one per known machine.
    pub jobs: Vec<JobId>,
}

const PULL_EXAMPLE: &str = r#"{"month":"2026-03"}"#;

/// `?month=YYYY-MM`, required; nothing else.
fn month_param(raw: Option<&str>) -> Result<BillingMonth, Problem> {
    let q = params::query(raw, &["month"])?;
    let month = q.get("month").ok_or_else(|| {
        Problem::bad_field("month", "give the month as `?month=YYYY-MM`, e.g. 2026-03")
    })?;
    month
        .parse::<BillingMonth>()
        .map_err(|e| Problem::bad_field("month", e.to_string()))
}

/// `GET /v1/reports/utilization?month=YYYY-MM`.
pub(super) async fn utilization_report(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UtilizationView>, Problem> {
    let month = month_param(raw.as_deref())?;
    let report = utilization(&app.http.store, month).await?;
    let backend = app.http.ledger.settings().backend.as_str();
    Ok(Json(UtilizationView::new(report, backend)))
}

/// `GET /v1/reports/savings?month=YYYY-MM`.
pub(super) async fn savings_report(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SavingsView>, Problem> {
    let month = month_param(raw.as_deref())?;
    let settings = app.http.ledger.settings();
    let report = savings_priced(
        &app.http.store,
        month,
        app.http.clock.now(),
        Some(settings.units),
    )
    .await?;
    Ok(Json(SavingsView::new(report, settings.backend.as_str())))
}

/// `POST /v1/reports/utilization/pull`: one `utilization` job per machine
/// the daemon knows (and Paperspace has not said is gone). The idempotency
/// key `utilization:<machine>:<month>:<unix minute>` makes a second click
/// within the same minute return the same jobs.
pub(super) async fn pull_utilization(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let PullRequest { month } = json_body(&headers, body, app.max_body_bytes, PULL_EXAMPLE)?;
    let ids = pull(&app, month).await?;
    tracing::info!(%month, jobs = ids.len(), "utilization pull requested over the admin API");
    Ok((StatusCode::ACCEPTED, Json(PullAnswer { jobs: ids })).into_response())
}

/// Queues one `utilization` job of `month` per machine the daemon knows
/// (and Paperspace has not said is gone); their ids. What
/// `POST /v1/reports/utilization/pull` and the dashboard's "Pull
/// utilization" button both do.
pub(super) async fn pull(app: &AppState, month: BillingMonth) -> Result<Vec<JobId>, Problem> {
    let now = app.http.clock.now();
    if month > BillingMonth::containing(now) {
        return Err(Problem::invalid_job(SpecError::new(
            "month",
            format!("{month} has not begun; pull the current month or an earlier one"),
        )));
    }
    let minute = now.timestamp().div_euclid(60);
    // Every job is checked before any is submitted.
    let mut jobs = Vec::new();
    for known in app.http.store.machines().await? {
        if known.gone_at.is_some() {
            continue;
        }
        let machine_id = known.machine.id;
        let request = JobRequest {
            kind: "utilization".into(),
            machine_id: Some(machine_id.clone()),
            args: json!({ "month": month }),
            idempotency_key: Some(format!("utilization:{machine_id}:{month}:{minute}")),
            ..JobRequest::default()
        };
        match request.validate(&app.http.defaults, now) {
            Ok(job) => jobs.push(job),
            // Only an id the store holds but Paperspace would not have made.
            Err(e) => {
                tracing::warn!(machine_id = %machine_id, error = %e, "not pulling utilization of a machine whose id is not valid")
            }
        }
    }
    if jobs.is_empty() {
        return Err(Problem::conflict(
            "the daemon knows no machines yet; run a `refresh` job first \
             (machinist jobs submit refresh --wait), then pull again",
        ));
    }
    let mut ids = Vec::with_capacity(jobs.len());
    for job in jobs {
        ids.push(app.http.store.submit(job, now).await?.job.id);
    }
    Ok(ids)
}
