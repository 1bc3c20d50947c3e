//! The cost routes: a month's cost report (JSON or CSV), the forecast of a
//! schedule or window not yet saved, and which machines are billed monthly.
//! The figures come from [`crate::cost::Ledger`]; this file only reads the
//! request, picks the answer's shape and names the field at fault.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::Problem;
use super::params::{self, json_body, shorten};
use super::{AppState, HttpState};
use crate::cost::{
    CostError, CostLine, CostReport, DailyPoint, ForecastError, GroupTotal, Plan, PulledFigures,
    Totals,
};
use crate::machine::BillingMonth;
use crate::meter::{MeterGap, Method, PatternBaseline, PriceSource};

/// `GET /v1/reports/cost`: a month's cost per machine, in sums, by region,
/// machine type and day, with how each figure was derived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReportView {
    /// The month, `YYYY-MM` (UTC, as Paperspace invoices).
    pub month: BillingMonth,
    /// Which Paperspace API the figures come from: `v1` or `legacy`.
    pub backend: String,
    /// The figures run up to here: the month's end, or now.
    pub until: DateTime<Utc>,
    /// False while the month is still running.
    pub complete: bool,
    /// How the figures were derived, in words.
    pub derivation: Vec<String>,
    /// By machine id.
    pub machines: Vec<CostLineView>,
    /// Sums over every machine.
    pub totals: Totals,
    /// Sums by region.
    pub by_region: Vec<GroupTotal>,
    /// Sums by machine type.
    pub by_machine_type: Vec<GroupTotal>,
    /// Running per UTC day.
    pub daily: Vec<DailyPoint>,
    /// Stretches the meter could not read on time and back-filled.
    pub gaps: Vec<MeterGap>,
}

/// One machine's month in a [`CostReportView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLineView {
    /// The Paperspace machine.
    pub machine_id: String,
    /// Its name as last seen (empty when known only from its events).
    pub name: String,
    /// e.g. `A4000`.
    pub machine_type: Option<String>,
    /// e.g. `East Coast (NY2)`.
    pub region: Option<String>,
    /// Hours billed for running.
    pub hours: f64,
    /// How far `hours` may be off, from ends inferred by polling.
    pub hours_bound: f64,
    /// `events`, `mixed`, `observed` or `idle`.
    pub method: Method,
    /// The hourly price last in force.
    pub hourly_rate: Option<f64>,
    /// Where prices came from.
    pub price_source: PriceSource,
    /// Running cost; `null` while no price is known.
    pub compute: Option<f64>,
    /// Storage prorated by the time the machine existed.
    pub storage: Option<f64>,
    /// Compute plus storage.
    pub total: Option<f64>,
    /// Marked as billed monthly: it saves nothing when stopped.
    pub monthly_billed: bool,
    /// Machinist's stops in the month.
    pub stops: u32,
    /// Hours it stayed off after them until anyone started it.
    pub kept_off_hours: f64,
    /// Those hours at the rate then: what Machinist's stops saved.
    pub saved: Option<f64>,
    /// What running whenever it existed would have cost.
    pub always_on_cost: Option<f64>,
    /// Always-on cost minus compute.
    pub saved_vs_always_on: Option<f64>,
    /// Against its own pattern before Machinist first stopped it.
    pub vs_pattern: Option<PatternBaseline>,
    /// Legacy: what the utilization pull reported, beside the meter.
    pub pulled: Option<PulledFigures>,
}

// Every field named, so that a field added to the report fails to compile
// here rather than go missing from the API.
impl From<CostReport> for CostReportView {
    fn from(r: CostReport) -> Self {
        let CostReport {
            month,
            backend,
            until,
            complete,
            derivation,
            machines,
            totals,
            by_region,
            by_machine_type,
            daily,
            gaps,
        } = r;
        CostReportView {
            month,
            backend,
            until,
            complete,
            derivation,
            machines: machines.into_iter().map(CostLineView::from).collect(),
            totals,
            by_region,
            by_machine_type,
            daily,
            gaps,
        }
    }
}

impl From<CostLine> for CostLineView {
    fn from(l: CostLine) -> Self {
        let CostLine {
            machine_id,
            name,
            machine_type,
            region,
            hours,
            hours_bound,
            method,
            hourly_rate,
            price_source,
            compute,
            storage,
            total,
            monthly_billed,
            stops,
            kept_off_hours,
            saved,
            always_on_cost,
            saved_vs_always_on,
            vs_pattern,
            pulled,
        } = l;
        CostLineView {
            machine_id,
            name,
            machine_type,
            region,
            hours,
            hours_bound,
            method,
            hourly_rate,
            price_source,
            compute,
            storage,
            total,
            monthly_billed,
            stops,
            kept_off_hours,
            saved,
            always_on_cost,
            saved_vs_always_on,
            vs_pattern,
            pulled,
        }
    }
}

/// How a machine is billed, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    /// A flat monthly price: stopping it saves nothing.
    Monthly,
    /// Per hour run (Paperspace's default).
    Hourly,
}

impl Billing {
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Monthly => "monthly",
            Billing::Hourly => "hourly",
        }
    }
}

/// `PUT /v1/machines/{id}/billing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingRequest {
    /// `monthly` or `hourly`.
    pub billing: Billing,
}

/// `GET`/`PUT /v1/machines/{id}/billing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingView {
    /// The Paperspace machine.
    pub machine_id: String,
    /// `monthly` or `hourly`.
    pub billing: Billing,
    /// Who said so: `config` (listed in `cost.monthly_billed`), `api` (set
    /// over this route), or `default` (nobody: hourly).
    pub source: String,
}

const BILLING_EXAMPLE: &str = r#"{"billing":"monthly"}"#;
const FORECAST_EXAMPLE: &str = r#"{"window":{"name":"office","hours":{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"18:00","zone":"Europe/Amsterdam"},"targets":{"machine_ids":["ps123"]}},"month":"2026-04"}"#;

/// How `GET /v1/reports/cost` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// `GET /v1/reports/cost?month=YYYY-MM&format=json|csv`.
pub(super) async fn cost_report(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = params::query(raw.as_deref(), &["month", "format"])?;
    let now = app.http.clock.now();
    let month = match q.get("month") {
        None => BillingMonth::containing(now),
        Some(m) => m.parse::<BillingMonth>().map_err(|e| {
            Problem::bad_field(
                "month",
                format!("{e}; give the month as `?month=YYYY-MM`, e.g. 2026-03"),
            )
        })?,
    };
    let format = match q.get("format").map(String::as_str) {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(Problem::bad_field(
                "format",
                format!(
                    "`{}` is not a report format; use `format=json` or `format=csv`",
                    shorten(other)
                ),
            ));
        }
    };
    if format == Format::Csv {
        return cost_csv(&app, month).await;
    }
    let report = app
        .http
        .ledger
        .cost_report(month, now)
        .await
        .map_err(cost_error)?;
    Ok(Json(CostReportView::from(report)).into_response())
}

/// `month`'s cost report as a CSV download, up to now: what
/// `GET /v1/reports/cost?format=csv` answers, and the dashboard's
/// `GET /ui/reports/cost.csv` (one function, so the two files are the same).
pub(super) async fn cost_csv(app: &AppState, month: BillingMonth) -> Result<Response, Problem> {
    let report = app
        .http
        .ledger
        .cost_report(month, app.http.clock.now())
        .await
        .map_err(cost_error)?;
    Ok(csv_attachment(&report))
}

/// [`crate::cost::to_csv`] of `report` as an attachment named by its month.
fn csv_attachment(report: &CostReport) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"machinist-cost-{}.csv\"",
                    report.month
                ),
            ),
        ],
        crate::cost::to_csv(report),
    )
        .into_response()
}

/// `POST /v1/forecast`: body [`Plan`]; nothing is stored.
pub(super) async fn forecast(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::cost::Forecast>, Problem> {
    let plan: Plan = json_body(&headers, body, app.max_body_bytes, FORECAST_EXAMPLE)?;
    let forecast = forecast_of(&app.http, &plan).await.map_err(|e| match e {
        ForecastError::Invalid { field, message } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_forecast",
            message,
        )
        .with_field(field),
        ForecastError::Cost(e) => cost_error(e),
    })?;
    Ok(Json(forecast))
}

/// The forecast of `plan` as of now, in the daemon's default zone and with
/// its calendars: what `POST /v1/forecast` answers and the dashboard's cron
/// editor previews.
pub(super) async fn forecast_of(
    http: &HttpState,
    plan: &Plan,
) -> Result<crate::cost::Forecast, ForecastError> {
    let ctx = http.registry.context();
    http.ledger
        .forecast(plan, http.clock.now(), &ctx.default_zone, &ctx.calendars)
        .await
}

/// A ledger's failure as the API's problem.
pub(super) fn cost_error(e: CostError) -> Problem {
    match e {
        CostError::Store(e) => e.into(),
    }
}

/// The machine id of a billing route's path: a Paperspace id the daemon has seen.
async fn billing_machine(
    app: &AppState,
    path: Result<Path<String>, PathRejection>,
) -> Result<String, Problem> {
    let Path(id) = path.map_err(|e| Problem::bad_field("id", e.body_text()))?;
    if !crate::machine::is_paperspace_id(&id) {
        return Err(Problem::bad_field(
            "id",
            format!(
                "`{}` is not a Paperspace machine id (letters, digits, `-` and `_`, at most 64)",
                shorten(&id)
            ),
        ));
    }
    if app.http.store.machine(&id).await?.is_none() {
        return Err(Problem::not_found(format!(
            "no machine {id} has been seen; a `refresh` job lists the account"
        ))
        .with_field("id"));
    }
    Ok(id)
}

/// How `id` is billed now, by the configuration and the store's marks.
async fn billing_of(app: &AppState, id: &str) -> Result<BillingView, Problem> {
    let view = |billing, source: &str| BillingView {
        machine_id: id.to_string(),
        billing,
        source: source.to_string(),
    };
    if app.http.ledger.settings().monthly_billed.contains(id) {
        return Ok(view(Billing::Monthly, "config"));
    }
    let marked = app
        .http
        .store
        .monthly_billed()
        .await?
        .into_iter()
        .any(|(m, _)| m == id);
    Ok(if marked {
        view(Billing::Monthly, "api")
    } else {
        view(Billing::Hourly, "default")
    })
}

/// `GET /v1/machines/{id}/billing`.
pub(super) async fn show_billing(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<BillingView>, Problem> {
    let id = billing_machine(&app, path).await?;
    params::query(raw.as_deref(), &[])?;
    Ok(Json(billing_of(&app, &id).await?))
}

/// `PUT /v1/machines/{id}/billing`: body `{"billing":"monthly"|"hourly"}`.
pub(super) async fn set_billing(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BillingView>, Problem> {
    let id = billing_machine(&app, path).await?;
    let BillingRequest { billing } =
        json_body(&headers, body, app.max_body_bytes, BILLING_EXAMPLE)?;
    let in_config = app.http.ledger.settings().monthly_billed.contains(&id);
    if in_config {
        if billing == Billing::Hourly {
            return Err(Problem::conflict(format!(
                "{id} is billed monthly by the configuration; remove it from \
                 `cost.monthly_billed` and restart the daemon to bill it hourly"
            ))
            .with_field("billing"));
        }
        return Ok(Json(billing_of(&app, &id).await?));
    }
    let now = app.http.clock.now();
    app.http
        .store
        .set_monthly_billed(&id, billing == Billing::Monthly, now)
        .await?;
    tracing::info!(machine_id = %id, billing = billing.as_str(), "billing set over the admin API");
    Ok(Json(BillingView {
        machine_id: id,
        billing,
        source: "api".to_string(),
    }))
}
