//! The authenticated HTTP admin API (axum).
//!
//! [`router`] builds the whole API, ready for [`serve`], from the one
//! table of its routes, [`routes::ROUTES`]: see [`routes`] for every route
//! with its answer, and for what else is derived from that table or
//! checked against it.
//!
//! # Errors
//!
//! One JSON shape, `{"error":{"code","message","field"}}` (`http/error.rs`):
//!
//! - 400 `bad_request`: malformed JSON, a key given twice at any depth, a
//!   wrong type, an unknown or missing field (named by its JSON path), an
//!   unknown, repeated or empty query
//!   parameter, a bad `state`/`kind`/`machine_id` filter, `limit` outside
//!   1..=500 (1..=200 for deliveries), a cursor this listing did not make
//!   or a `before` that is no delivery id, a non-numeric job, webhook or
//!   delivery id (a `job_id` filter included), a history `after` that is
//!   not a whole number, a `wait` outside 0..=25 or without `after`, an
//!   `after` with a `cursor` (see `http/follow.rs`), a
//!   path key that is neither an id nor a name, `count` outside 1..=100, a
//!   missing or malformed `month`, a `format` other than `json` or `csv`;
//! - 401 `unauthorized` (with `WWW-Authenticate: Bearer`), see `http/auth.rs`;
//! - 403 `forbidden`: the viewer token on a route that is not a `GET`;
//! - 404 `not_found`: an unknown job, schedule, window (field `key`),
//!   override or webhook endpoint (field `id`), delivery of that endpoint
//!   (field `delivery`), group (field `name`), group run (field `id`) or
//!   route; 405 `method_not_allowed`;
//! - 409 `conflict`: cancel of a finished job, retry of a job that did not
//!   fail, a schedule or window name already taken (field `name`), changing
//!   or deleting a window's edge schedule directly, a utilization pull while
//!   no machine is known, `hourly` billing of a machine the configuration
//!   lists in `cost.monthly_billed` (field `billing`), a webhook endpoint
//!   name already taken (field `name`), changing, rotating or deleting a
//!   webhook endpoint of the configuration file; a group name already
//!   taken, or a rename of a group that schedules or windows target by name,
//!   or the deletion of such a group (field `name`); a resume of a group run
//!   still going, one that succeeded, or one that changed meanwhile (field
//!   `id`);
//! - 408 `request_timeout`: the body did not arrive within the body timeout;
//! - 413 `payload_too_large`; 414 `uri_too_long`; 415
//!   `unsupported_media_type` (`POST /v1/jobs` needs `Content-Type:
//!   application/json`); 431 `headers_too_large`;
//! - 422 `invalid_job`: well-formed JSON that is not a valid job (unknown
//!   kind, missing `machine_id`, bad `wait`, bad `args.*`, …), with the
//!   [`SpecError`](crate::job::SpecError)'s field; every field at fault at
//!   once (`field` joins them with commas, the message gives each as
//!   `field: why`, separated by `; `) (also a utilization pull
//!   of a month not yet begun, field `month`; a `depends_on[i]` naming a
//!   job the store does not hold; a batch's unknown `ref` or dependency
//!   cycle, named `a → b → a`); 422 `invalid_group`: a group, a change to
//!   one, or a run request (bad `name`, `stages[i].…`, `action`, `wait`)
//!   (a run of a group none of whose machines matches now is a 409
//!   `conflict`, field `stages`);
//!   422 `invalid_schedule`,
//!   `invalid_window`, `invalid_override`: the same for those (bad `cron`,
//!   `timezone`, `template.*`, `targets`, `exclusions`, `hours.*`, `until`, …);
//!   422 `invalid_forecast`: a forecast's plan (its field, e.g.
//!   `schedule.cron`, or `body` when it names neither or both);
//!   422 `invalid_webhook`: a webhook endpoint or change to one, every
//!   field at fault named at once (`field` joins them with commas: `url`
//!   for a URL the destination policy refuses, with its reason), or an
//!   empty change (field `body`), or a test delivery to a URL the policy
//!   now refuses (field `url`);
//!   in every kind, free text holding a character [`crate::text::is_refused`]
//!   lists, named by its field;
//! - 503 `unavailable`: the store failed, or the daemon stayed too busy to
//!   take the request within the timeout; 503 `timeout`: the request took
//!   longer than the timeout (a submit may then still have happened: resend
//!   it with the same `idempotency_key`);
//! - 500 `internal`: only a bug (a panic, caught and logged).
//!
//! A query string on a route that takes no query parameters is a 400
//! naming the first parameter. Nothing is written when a request is refused.
//!
//! # Dry runs
//!
//! The creates and replaces of jobs, schedules, windows and overrides take
//! `?dry_run=true` (`http/dry_run.rs`): every check of the real request,
//! with the same errors, then a 200 with what would be stored (`id` null
//! when it would be new), the next firings of a schedule or window, and for
//! a window with enforcement `would_stop`, the running machines its
//! enforcement would stop now. Nothing is written: no row, no history, no
//! wake of the scheduler. `dry_run=false` is the request itself.
//!
//! # Paging
//!
//! Cursors are opaque strings ("ids below X"): ids only grow, so a page
//! walk neither skips nor repeats while new jobs arrive (they appear above
//! the first page). A page of `limit` items is followed by a cursor only if
//! more items exist.
//!
//! The history also reads forward: `after=ID` answers the events above an
//! id, oldest first, and `wait=S` waits up to S seconds for the first one (a
//! long poll; `http/follow.rs` has the design and its limits).
//!
//! # Limits
//!
//! [`HttpLimits`]: the body size, a per-request timeout, and a cap on
//! requests handled at once (the rest wait, up to the timeout), so that a
//! flood of admin requests cannot starve the workers of the database. The
//! body is read whole, within its own timeout (408), before a request waits
//! for a turn. [`serve`] times and caps the connections themselves.
//! Request targets over `MAX_URI_BYTES` (8 KiB) are a 414, headers over
//! `MAX_HEADERS` (100) or `MAX_HEADER_BYTES` (16 KiB) a 431, both in the
//! JSON shape.

mod auth;
pub mod cost;
mod costs;
mod dry_run;
mod error;
mod follow;
mod groups;
mod health;
mod index;
mod jobs;
mod machines;
mod metrics;
mod openapi;
mod params;
mod reports;
pub mod routes;
mod schedules;
mod server;
mod ui;
mod webhooks;
mod windows;

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;

use crate::clock::SharedClock;
use crate::config::{AdminToken, HttpConfig};
use crate::http::metrics::Metrics;
use crate::http::routes::{Route, Verb};
use crate::job::JobDefaults;
use crate::store::Store;

pub use costs::{Billing, BillingRequest, BillingView, CostLineView, CostReportView};
pub use dry_run::{JobDryRun, JobPreview, OverrideDryRun, ScheduleDryRun, WindowDryRun};
use error::Problem;
pub use error::{ErrorBody, ErrorDetail};
pub use groups::{GroupDetail, GroupList, RunPage};
pub use health::{DaemonList, MeterView, Readiness, StandingView};
pub use index::{ApiIndex, IndexRoute};
pub use jobs::{BatchAnswer, HistoryPage, JobDetail, JobPage};
pub use machines::{MachineDetail, MachineList, MachineView};
pub use reports::{
    PullAnswer, PullRequest, SavingsLineView, SavingsView, UtilizationLineView, UtilizationView,
};
pub use routes::{HEALTH_PATH, METRICS_PATH, OPENAPI_PATH, READY_PATH};
pub use schedules::{FireTimeView, FireTimes, PreviewRequest, ScheduleDetail, ScheduleList};
pub use server::serve;
pub use webhooks::{
    AttemptView, DeliveryPage, DeliveryView, EndpointCreated, EventCatalogue, EventTypeView,
    Resent, SecretRotated, TestDelivery, WebhookList,
};
pub use windows::{EdgeFiring, OverrideList, OverrideView, WindowDetail, WindowList};

/// What the handlers need.
#[derive(Clone)]
pub struct HttpState {
    /// Jobs, events, machines, schedules and windows: what the routes read and write.
    pub store: Store,
    /// Now, for readiness, overrides' `active` and reports (a manual clock in tests).
    pub clock: SharedClock,
    /// Defaults for fields a submission leaves out.
    pub defaults: JobDefaults,
    /// The admin token; `None` lets every request in (loopback only).
    pub token: Option<AdminToken>,
    /// The read-only token: `GET` routes only ([`auth`]); `None`: none.
    pub viewer_token: Option<AdminToken>,
    /// Schedules and windows: validated writes and previews.
    pub registry: crate::scheduler::registry::Registry,
    /// Paperspace, for the readiness probe when no job asked it lately;
    /// `None`: readiness relies on the jobs' calls alone.
    pub api: Option<Arc<dyn crate::paperspace::MachineApi>>,
    /// What machines cost and saved: the cost report and the forecast.
    pub ledger: crate::cost::Ledger,
    /// Webhooks: the destination policy and settings, test pings, and the
    /// publisher to refresh after an endpoint changes.
    pub webhooks: crate::delivery::Webhooks,
    /// Cancelled when the daemon shuts down: requests that wait for news
    /// (`GET /v1/history?wait=`) answer at once instead of holding the
    /// shutdown up.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// A request target longer than this is answered 414 in the JSON shape
/// (hyper's own limit, 65534 bytes, answers a plain 414).
const MAX_URI_BYTES: usize = 8 * 1024;
/// Request headers larger than this in all (names and values) are answered
/// 431 in the JSON shape (past hyper's buffer, about 400 KiB, a plain 431).
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// More request headers than this are answered 431 in the JSON shape (past
/// twice as many, hyper answers a plain 431).
const MAX_HEADERS: usize = 100;

/// Protection against large, slow or many requests and connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// A request not answered within this (queueing included, reading the
    /// body not) gets a 503.
    pub request_timeout: Duration,
    /// Requests handled at once; more wait for a turn.
    pub max_concurrent: usize,
    /// Requests that may wait for news at once (`GET /v1/history?wait=`,
    /// each holding a turn of `max_concurrent`); past this, such a request
    /// answers at once with what there is.
    pub max_waiters: usize,
    /// A request head must arrive within this of its first byte, or the
    /// connection is closed ([`serve`]).
    pub header_timeout: Duration,
    /// A request body must arrive within this, or the answer is 408; it is
    /// read before the request waits for a turn.
    pub body_timeout: Duration,
    /// A connection with no request in progress and no byte moving for this
    /// long is closed ([`serve`]).
    pub idle_timeout: Duration,
    /// Connections open at once ([`serve`]).
    pub max_connections: usize,
    /// How long a dashboard sign-in lasts (`http.session_ttl`).
    pub session_ttl: Duration,
}

impl Default for HttpLimits {
    /// The configuration's defaults: one translation, [`HttpLimits::from_config`].
    fn default() -> Self {
        HttpLimits::from_config(&HttpConfig::default())
    }
}

impl HttpLimits {
    /// The configured limits; `max_concurrent` (64) and `max_waiters` (16)
    /// are not settings.
    pub fn from_config(http: &HttpConfig) -> Self {
        HttpLimits {
            max_body_bytes: http.max_body_bytes,
            request_timeout: http.request_timeout,
            max_concurrent: 64,
            max_waiters: 16,
            header_timeout: http.header_timeout,
            body_timeout: http.body_timeout,
            idle_timeout: http.idle_timeout,
            max_connections: http.max_connections,
            session_ttl: http.session_ttl,
        }
    }
}

/// What [`read_body`] needs.
#[derive(Clone, Copy)]
struct BodyLimits {
    /// A larger body is a 413.
    max_bytes: usize,
    /// A body not read within this is a 408.
    timeout: Duration,
}

/// The handlers' state: the caller's plus what the router adds.
#[derive(Clone)]
pub(crate) struct AppState {
    /// What the caller gave [`router`].
    http: HttpState,
    /// For the 413 message of a handler's body rejection.
    max_body_bytes: usize,
    /// Counters and histograms for `/metrics`.
    metrics: Arc<Metrics>,
    /// The last readiness probe of Paperspace, so probes stay rare.
    probe: Arc<tokio::sync::Mutex<Option<health::Probe>>>,
    /// The requests waiting for news of the history, and their cap.
    waiters: follow::Waiters,
    /// The dashboard's sign-in: the key its cookies and CSRF tokens are
    /// signed with, and the sessions signed out.
    ui: ui::Sessions,
    /// The cost reports the dashboard shows, kept a minute (ten for a
    /// finished month) so that each view does not meter the fleet again.
    month_costs: ui::MonthCosts,
}

/// The admission gate: a timeout around a concurrency cap.
#[derive(Clone)]
struct Gate {
    /// One per request handled at once.
    permits: Arc<Semaphore>,
    /// How many permits there are, for the busy message.
    max: usize,
    /// The per-request timeout: waiting for a permit and running both count.
    timeout: Duration,
}

/// The whole admin API, ready for [`serve`].
pub fn router(state: HttpState, limits: &HttpLimits) -> Router {
    let tokens = auth::Tokens {
        admin: state.token.clone(),
        viewer: state.viewer_token.clone(),
    };
    let metrics = Arc::new(Metrics::new());
    let sessions = ui::Sessions::new(
        state.token.clone(),
        state.viewer_token.clone(),
        limits.session_ttl,
    );
    let app = AppState {
        http: state,
        max_body_bytes: limits.max_body_bytes,
        metrics: metrics.clone(),
        probe: Arc::default(),
        waiters: follow::Waiters::new(limits.max_waiters.max(1), limits.request_timeout),
        ui: sessions,
        month_costs: ui::MonthCosts::default(),
    };
    let max = limits.max_concurrent.max(1);
    let gate = Gate {
        permits: Arc::new(Semaphore::new(max)),
        max,
        timeout: limits.request_timeout,
    };
    // The table's routes, each with its handler; axum merges the methods
    // of one path.
    let mut router = Router::new();
    for route in routes::ROUTES {
        router = router.route(route.path, handler(route));
    }
    router
        .route_layer(middleware::from_fn(keep_route))
        // The dashboard after `keep_route`: its pages are not API routes
        // (no query check against the OpenAPI document).
        .merge(ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        // Innermost first: the body limit, then the gate, then reading the
        // body (so a slow body holds no turn), then auth (so an
        // unauthenticated flood takes no turn and sends no body), then the
        // head's size limits, then the JSON safety net and the panic
        // catcher around everything.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(gate, admit))
        .layer(middleware::from_fn_with_state(
            BodyLimits {
                max_bytes: limits.max_body_bytes,
                timeout: limits.body_timeout,
            },
            read_body,
        ))
        .layer(middleware::from_fn_with_state(tokens, auth::require_token))
        .layer(middleware::from_fn(check_head))
        .layer(middleware::from_fn_with_state(metrics, json_errors))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The handler of a route of [`routes::ROUTES`], at the route's method.
/// Panics for a route it does not know: every test that builds a router
/// then fails, so a route cannot be added to the table without a handler.
fn handler(route: &Route) -> MethodRouter<AppState> {
    let m = match route.method {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
        Verb::Put => MethodFilter::PUT,
        Verb::Patch => MethodFilter::PATCH,
        Verb::Delete => MethodFilter::DELETE,
    };
    match *route {
        routes::INDEX => on(m, index::index),
        routes::HEALTHZ => on(m, health::healthz),
        routes::READYZ => on(m, health::readyz),
        routes::DAEMONS => on(m, health::daemons),
        routes::METRICS => on(m, health::metrics),
        routes::OPENAPI => on(m, openapi::document),
        routes::JOB_SUBMIT => on(m, jobs::submit),
        routes::JOB_BATCH => on(m, jobs::submit_batch),
        routes::JOBS_LIST => on(m, jobs::list),
        routes::JOB_SHOW => on(m, jobs::show),
        routes::JOB_CANCEL => on(m, jobs::cancel),
        routes::JOB_RETRY => on(m, jobs::retry),
        routes::HISTORY => on(m, jobs::history),
        routes::GROUP_CREATE => on(m, groups::create),
        routes::GROUPS_LIST => on(m, groups::list),
        routes::GROUP_SHOW => on(m, groups::show),
        routes::GROUP_UPDATE => on(m, groups::update),
        routes::GROUP_DELETE => on(m, groups::delete),
        routes::GROUP_RUN => on(m, groups::run),
        routes::GROUP_RUNS_LIST => on(m, groups::runs),
        routes::GROUP_RUN_SHOW => on(m, groups::show_run),
        routes::GROUP_RUN_RESUME => on(m, groups::resume),
        routes::MACHINES_LIST => on(m, machines::list),
        routes::MACHINE_SHOW => on(m, machines::show),
        routes::MACHINE_BILLING_SHOW => on(m, costs::show_billing),
        routes::MACHINE_BILLING_SET => on(m, costs::set_billing),
        routes::SCHEDULE_CREATE => on(m, schedules::create),
        routes::SCHEDULES_LIST => on(m, schedules::list),
        routes::EXPRESSION_PREVIEW => on(m, schedules::preview_expression),
        routes::NAMED_PREVIEW_SHOW => on(m, schedules::show_named_preview),
        routes::NAMED_PREVIEW_UPDATE => on(m, schedules::update_named_preview),
        routes::NAMED_PREVIEW_DELETE => on(m, schedules::delete_named_preview),
        routes::SCHEDULE_SHOW => on(m, schedules::show),
        routes::SCHEDULE_UPDATE => on(m, schedules::update),
        routes::SCHEDULE_DELETE => on(m, schedules::delete),
        routes::SCHEDULE_PAUSE => on(m, schedules::pause),
        routes::SCHEDULE_RESUME => on(m, schedules::resume),
        routes::SCHEDULE_PREVIEW => on(m, schedules::preview),
        routes::WINDOW_CREATE => on(m, windows::create),
        routes::WINDOWS_LIST => on(m, windows::list),
        routes::WINDOW_SHOW => on(m, windows::show),
        routes::WINDOW_UPDATE => on(m, windows::update),
        routes::WINDOW_DELETE => on(m, windows::delete),
        routes::WINDOW_PAUSE => on(m, windows::pause),
        routes::WINDOW_RESUME => on(m, windows::resume),
        routes::WINDOW_PREVIEW => on(m, windows::preview),
        routes::OVERRIDES_LIST => on(m, windows::overrides),
        routes::OVERRIDE_ADD => on(m, windows::add_override),
        routes::OVERRIDE_DELETE => on(m, windows::delete_override),
        routes::UTILIZATION_REPORT => on(m, reports::utilization_report),
        routes::UTILIZATION_PULL => on(m, reports::pull_utilization),
        routes::SAVINGS_REPORT => on(m, reports::savings_report),
        routes::COST_REPORT => on(m, costs::cost_report),
        routes::FORECAST => on(m, costs::forecast),
        routes::WEBHOOK_CREATE => on(m, webhooks::create),
        routes::WEBHOOKS_LIST => on(m, webhooks::list),
        routes::WEBHOOK_EVENTS => on(m, webhooks::events),
        routes::WEBHOOK_SHOW => on(m, webhooks::show),
        routes::WEBHOOK_UPDATE => on(m, webhooks::update),
        routes::WEBHOOK_DELETE => on(m, webhooks::delete),
        routes::WEBHOOK_PAUSE => on(m, webhooks::pause),
        routes::WEBHOOK_RESUME => on(m, webhooks::resume),
        routes::WEBHOOK_ROTATE => on(m, webhooks::rotate_secret),
        routes::WEBHOOK_TEST => on(m, webhooks::test),
        routes::DELIVERIES_LIST => on(m, webhooks::deliveries),
        routes::DELIVERY_RESEND => on(m, webhooks::resend),
        other => panic!(
            "{} {} is in the route table but has no handler",
            other.method.as_str(),
            other.path
        ),
    }
}

/// Refuses a query string on a route that takes no query parameters (per
/// [`openapi::OPERATIONS`]), so that no route silently ignores input; then
/// copies the matched route template onto the response, so that the outer
/// layer can count requests by route without counting raw paths.
async fn keep_route(route: MatchedPath, request: Request, next: Next) -> Response {
    let takes_query = routes::ROUTES
        .iter()
        .filter(|r| r.path == route.as_str() && r.method.as_str() == request.method().as_str())
        .any(openapi::takes_query);
    if let Some(query) = request
        .uri()
        .query()
        .filter(|q| !q.is_empty() && !takes_query)
    {
        let name: String = query
            .split(['=', '&'])
            .next()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        let name = if name.is_empty() {
            "query".to_string()
        } else {
            name
        };
        let mut response = Problem::bad_field(
            name,
            format!("{} takes no query parameters", route.as_str()),
        )
        .into_response();
        response.extensions_mut().insert(route);
        return response;
    }
    let mut response = next.run(request).await;
    response.extensions_mut().insert(route);
    response
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if ui::is_ui_path(uri.path()) {
        return ui::not_found(uri.path());
    }
    Problem::not_found(format!("no route {}", shorten_path(uri.path()))).into_response()
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Problem {
    Problem::method_not_allowed(format!(
        "{method} is not allowed on {}",
        shorten_path(uri.path())
    ))
}

/// A path echoed in a message or the log: at most 80 characters.
fn shorten_path(path: &str) -> String {
    params::shorten_to(path, 80)
}

/// Answers a request target or headers larger than the limits
/// ([`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`], [`MAX_HEADERS`]) in the JSON
/// shape, before hyper's larger limits would answer them in plain text.
async fn check_head(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Problem::new(
            axum::http::StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {uri_bytes} bytes; at most {MAX_URI_BYTES} are read"),
        )
        .into_response();
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Problem::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} headers of {header_bytes} bytes; at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all are read",
                headers.len()
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Reads the whole request body, at most the body limit and within the body
/// timeout, before the request waits for a turn at the gate: a client that
/// sends its body slowly, or promises more than it sends, then holds no
/// turn while other requests wait. Too slow is a 408, too large a 413.
async fn read_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Problem::payload_too_large(limits.max_bytes).into_response();
    }
    let limited = http_body_util::Limited::new(body, limits.max_bytes);
    match tokio::time::timeout(limits.timeout, limited.collect()).await {
        Err(_) => Problem::request_timeout(limits.timeout).into_response(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Problem::payload_too_large(limits.max_bytes).into_response()
        }
        Ok(Err(e)) => {
            Problem::bad_request(format!("could not read the request body: {e}")).into_response()
        }
        Ok(Ok(body)) => {
            next.run(Request::from_parts(parts, Body::from(body.to_bytes())))
                .await
        }
    }
}

/// Waits for a turn (at most until the deadline), then runs the request
/// within what is left of the timeout.
async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let deadline = tokio::time::Instant::now() + gate.timeout;
    let permit = match tokio::time::timeout_at(deadline, gate.permits.acquire()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_closed)) => {
            return Problem::unavailable("the admin API is shutting down").into_response();
        }
        Err(_) => {
            return Problem::unavailable(format!(
                "the daemon is busy ({} admin requests in progress); try again shortly",
                gate.max
            ))
            .into_response();
        }
    };
    let response = tokio::time::timeout_at(deadline, next.run(request)).await;
    drop(permit);
    response.unwrap_or_else(|_| Problem::timeout(gate.timeout).into_response())
}

/// Logs each request (method, path, status, time: never headers or bodies)
/// and turns any error response that is not yet JSON (a rejection from axum
/// or a layer) into the one error shape.
async fn json_errors(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = shorten_path(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str());
    metrics.admin_request(method.as_str(), route, status.as_u16());
    tracing::debug!(%method, %path, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "admin request");
    if !(status.is_client_error() || status.is_server_error()) || already_shaped(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let mut fixed = Problem::new(status, error::code_for(status), text).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !fixed.headers().contains_key(name)
        {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// Whether an error answer already has its shape: the JSON error of the
/// API, or a dashboard page (`http/ui`), which says it in HTML.
fn already_shaped(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"))
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = detail, "an admin request handler panicked");
    Problem::internal("the daemon hit a bug answering this request; its log has the details")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`handler`] knows every route of the table (it panics otherwise).
    #[test]
    fn every_route_has_a_handler() {
        for route in routes::ROUTES {
            let _ = handler(route);
        }
    }
}
