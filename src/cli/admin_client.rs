//! A typed client of the admin API ([`crate::http`]), used by `machinist
//! jobs`, `groups`, `schedules`, `windows`, `report`, `machines`,
//! `history`, `status` and `webhooks`.
//!
//! Every URL is built from the route table ([`crate::http::routes`]):
//! [`Route::fill`] of the route the method calls, sent with that route's
//! method. The batch, group and group-run routes are built from
//! [`pending`] until the table lists them.
//!
//! Every method answers the typed value or a [`AdminError`]: the server's
//! own error (its `code`, `message` and `field`), a daemon that cannot be
//! reached (with a hint to start it), or an answer that is not Machinist's.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use serde_json::Value;

use crate::config::AdminToken;
use crate::cost::{Forecast, Plan};
use crate::group::{Group, GroupPatch, GroupSpec, RunId, RunRequest, RunView};
use crate::http::routes::{self, Route, Verb};
use crate::http::{
    BatchAnswer, Billing, BillingRequest, BillingView, CostReportView, DaemonList, DeliveryPage,
    EndpointCreated, ErrorBody, EventCatalogue, EventTypeView, FireTimeView, FireTimes,
    GroupDetail, GroupList, HistoryPage, JobDryRun, JobPage, MachineDetail, MachineList,
    MachineView, OverrideDryRun, OverrideList, OverrideView, PreviewRequest, PullAnswer,
    PullRequest, Readiness, Resent, RunPage, SavingsView, ScheduleDetail, ScheduleDryRun,
    ScheduleList, SecretRotated, TestDelivery, UtilizationView, WebhookList, WindowDetail,
    WindowDryRun, WindowList,
};
use crate::job::{BatchRequest, Job, JobEvent, JobId, JobRequest};
use crate::machine::BillingMonth;
use crate::schedule::spec::{Schedule, ScheduleSpec};
use crate::schedule::window::{OverrideRequest, Window, WindowRequest};
use crate::store::JobFilter;
use crate::webhook::{Endpoint, EndpointId, EndpointPatch, EndpointSpec};

/// How long one call may take: longer than the server's own default timeout
/// (30 s), so its JSON timeout answer arrives before the client gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(45);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The query of a create or replace that writes nothing.
const DRY_RUN: &str = "?dry_run=true";

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The daemon answered with an error in the API's shape.
    #[error("{message}{}", field_suffix(*status, message, field))]
    Api {
        /// The HTTP status, for callers that tell 404 or 503 apart.
        status: u16,
        /// Machine-readable: `not_found`, `conflict`, `invalid_job`, …
        code: String,
        /// The server's message, shown as it is.
        message: String,
        /// The offending input, if one is to blame.
        field: Option<String>,
    },
    /// Nothing answered at the address.
    #[error("cannot reach the machinist daemon at {url}: {reason}; is `machinist serve` running?")]
    Unreachable {
        /// The daemon's base URL, so the user sees where it was looked for.
        url: String,
        /// Why not, in a few words ("connection refused").
        reason: String,
    },
    /// Something answered, but not as the admin API would.
    #[error(
        "unexpected answer from {url} (HTTP {status}): {detail}; is that the machinist daemon?"
    )]
    BadResponse {
        /// The URL called.
        url: String,
        /// The HTTP status it answered.
        status: u16,
        /// What could not be read, or the start of the body.
        detail: String,
    },
    /// The daemon refused the call for want of a valid admin token (401),
    /// said in CLI words: what to set, not which header to send.
    #[error("{}", unauthorized_message(url, *token_sent))]
    Unauthorized {
        /// The daemon's base URL.
        url: String,
        /// Whether a token was sent: refused, or missing.
        token_sent: bool,
    },
    /// The daemon took the token as its viewer token, which may read but not
    /// act (403), said in CLI words.
    #[error(
        "the token given is the viewer token of the daemon at {url}, which may read but not change anything: \
         pass the admin token (--token-file PATH or MACHINIST_ADMIN_TOKEN) for this command"
    )]
    ReadOnly {
        /// The daemon's base URL.
        url: String,
    },
    /// The base URL cannot be used.
    #[error("invalid daemon URL `{url}`: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn unauthorized_message(url: &str, token_sent: bool) -> String {
    let what = if token_sent {
        format!("the admin token is not valid for the daemon at {url}")
    } else {
        format!("the daemon at {url} needs an admin token and none was given")
    };
    format!(
        "{what}: pass --token-file PATH, set MACHINIST_ADMIN_TOKEN, \
         or add token_file to a context in {}",
        super::contexts::client_config_hint()
    )
}

/// ` (field: args.disk_size_gb)` after the message of a request the daemon
/// found invalid (400, 422), where it points at what to fix; nothing for
/// other refusals (an unknown id, a name taken: the message names it) or a
/// message that already begins with the field.
fn field_suffix(status: u16, message: &str, field: &Option<String>) -> String {
    match field.as_deref() {
        Some(f) if matches!(status, 400 | 422) && !message.starts_with(&format!("{f}:")) => {
            format!(" (field: {f})")
        }
        _ => String::new(),
    }
}

impl AdminError {
    /// The server's error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AdminError::Api { code, .. } => Some(code),
            AdminError::Unauthorized { .. } => Some("unauthorized"),
            AdminError::ReadOnly { .. } => Some("forbidden"),
            _ => None,
        }
    }

    /// The HTTP status of a server error.
    pub fn status(&self) -> Option<u16> {
        match self {
            AdminError::Api { status, .. } | AdminError::BadResponse { status, .. } => {
                Some(*status)
            }
            AdminError::Unauthorized { .. } => Some(401),
            AdminError::ReadOnly { .. } => Some(403),
            _ => None,
        }
    }

    /// True when the daemon could not be reached or did not answer in time:
    /// worth trying again later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AdminError::Unreachable { .. })
    }
}

/// The admin API client. Cheap to clone.
#[derive(Clone)]
pub struct AdminClient {
    /// Without a trailing slash: `http://127.0.0.1:7420`.
    base: String,
    /// The connection pool, with the call and connect timeouts set once.
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer` when the daemon needs it.
    token: Option<AdminToken>,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl AdminClient {
    /// A client of the daemon at `base_url` (`http://127.0.0.1:7420`),
    /// sending `token` as `Authorization: Bearer` when given.
    ///
    /// A URL without a scheme (`127.0.0.1:7420`, `localhost:7420`) is taken
    /// as `http://`; another scheme than http or https is refused. A path is
    /// kept as the prefix of every route (a daemon behind a reverse proxy at
    /// `/machinist`); a query or fragment is refused, since no route would
    /// keep it.
    pub fn new(base_url: &str, token: Option<AdminToken>) -> Result<Self, AdminError> {
        let bad = |reason: &str| AdminError::BadUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        // Without `://`, `localhost:7420` would parse as scheme `localhost`.
        let with_scheme = if base_url.contains("://") {
            base_url.to_string()
        } else {
            format!("http://{base_url}")
        };
        let url = reqwest::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "the scheme `{}` is not supported: use http:// or https:// (or no scheme, for http)",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "there is no host: use a URL such as http://127.0.0.1:7420",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "leave out the query and fragment: give the daemon's base URL, such as http://127.0.0.1:7420",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("machinist/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| bad(&e.to_string()))?;
        Ok(AdminClient {
            base: url.as_str().trim_end_matches('/').to_string(),
            http,
            token,
        })
    }

    /// The daemon's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<(), AdminError> {
        let _: Value = self.call(&routes::HEALTHZ, &[], "", None).await?.1;
        Ok(())
    }

    /// `POST /v1/jobs`: the job, and whether it was created (false: the
    /// idempotency key matched an existing job, which is returned).
    pub async fn submit(&self, request: &JobRequest) -> Result<(Job, bool), AdminError> {
        let body = self.encode(request)?;
        let (status, job) = self.call(&routes::JOB_SUBMIT, &[], "", Some(body)).await?;
        Ok((job, status == StatusCode::CREATED))
    }

    /// `POST /v1/jobs?dry_run=true`: the job the submission would queue;
    /// nothing is written.
    pub async fn dry_run_submit(&self, request: &JobRequest) -> Result<JobDryRun, AdminError> {
        let body = self.encode(request)?;
        Ok(self
            .call(&routes::JOB_SUBMIT, &[], DRY_RUN, Some(body))
            .await?
            .1)
    }

    /// `POST /v1/schedules?dry_run=true` (`key` `None`), or `PUT
    /// /v1/schedules/{key}?dry_run=true`: what would be stored; nothing is.
    pub async fn dry_run_schedule(
        &self,
        key: Option<&str>,
        spec: &ScheduleSpec,
    ) -> Result<ScheduleDryRun, AdminError> {
        let body = self.encode(spec)?;
        match key {
            None => Ok(self
                .call(&routes::SCHEDULE_CREATE, &[], DRY_RUN, Some(body))
                .await?
                .1),
            Some(key) => {
                self.keyed(&routes::SCHEDULE_UPDATE, key, DRY_RUN, Some(body))
                    .await
            }
        }
    }

    /// `POST /v1/windows?dry_run=true` (`key` `None`), or `PUT
    /// /v1/windows/{key}?dry_run=true`: what would be stored, and what its
    /// enforcement would stop now; nothing is written.
    pub async fn dry_run_window(
        &self,
        key: Option<&str>,
        request: &WindowRequest,
    ) -> Result<WindowDryRun, AdminError> {
        let body = self.encode(request)?;
        match key {
            None => Ok(self
                .call(&routes::WINDOW_CREATE, &[], DRY_RUN, Some(body))
                .await?
                .1),
            Some(key) => {
                self.keyed(&routes::WINDOW_UPDATE, key, DRY_RUN, Some(body))
                    .await
            }
        }
    }

    /// `POST /v1/windows/{key}/overrides?dry_run=true`: the override that
    /// would be added; nothing is written.
    pub async fn dry_run_override(
        &self,
        key: &str,
        request: &OverrideRequest,
    ) -> Result<OverrideDryRun, AdminError> {
        let body = self.encode(request)?;
        self.keyed(&routes::OVERRIDE_ADD, key, DRY_RUN, Some(body))
            .await
    }

    /// `GET /v1/jobs`: one page, newest first.
    pub async fn list(
        &self,
        filter: &JobFilter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<JobPage, AdminError> {
        let limit = limit.map(|l| l.to_string());
        let query = encode_query(&[
            ("state", filter.state.map(|s| s.as_str())),
            ("kind", filter.kind.map(|k| k.as_str())),
            ("machine_id", filter.machine_id.as_deref()),
            ("limit", limit.as_deref()),
            ("cursor", cursor),
        ]);
        Ok(self.call(&routes::JOBS_LIST, &[], &query, None).await?.1)
    }

    /// `GET /v1/jobs/{id}`: the job and its events, oldest first.
    pub async fn show(&self, id: JobId) -> Result<(Job, Vec<JobEvent>), AdminError> {
        let id = id.to_string();
        let (status, mut value): (_, Value) =
            self.call(&routes::JOB_SHOW, &[&id], "", None).await?;
        let events = value
            .as_object_mut()
            .and_then(|o| o.remove("events"))
            .unwrap_or(Value::Array(Vec::new()));
        let url = self.url(&routes::JOB_SHOW.fill(&[&id]));
        let bad = |e: serde_json::Error| AdminError::BadResponse {
            url: url.clone(),
            status: status.as_u16(),
            detail: e.to_string(),
        };
        let job = serde_json::from_value(value).map_err(bad)?;
        let events = serde_json::from_value(events).map_err(bad)?;
        Ok((job, events))
    }

    /// `POST /v1/jobs/{id}/cancel`: the cancelled job.
    pub async fn cancel(&self, id: JobId) -> Result<Job, AdminError> {
        let id = id.to_string();
        Ok(self.call(&routes::JOB_CANCEL, &[&id], "", None).await?.1)
    }

    /// `POST /v1/jobs/{id}/retry`: the re-queued job.
    pub async fn retry(&self, id: JobId) -> Result<Job, AdminError> {
        let id = id.to_string();
        Ok(self.call(&routes::JOB_RETRY, &[&id], "", None).await?.1)
    }

    /// `GET /v1/history`: one page of events, newest first.
    pub async fn history(
        &self,
        machine_id: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, AdminError> {
        let limit = limit.map(|l| l.to_string());
        let query = encode_query(&[
            ("machine_id", machine_id),
            ("limit", limit.as_deref()),
            ("cursor", cursor),
        ]);
        Ok(self.call(&routes::HISTORY, &[], &query, None).await?.1)
    }

    /// `GET /v1/history?after=…&wait=…`: the events with ids above
    /// `after` (of one machine's jobs, or of one job), oldest first, at most
    /// 500; when there are none yet, the daemon waits up to `wait` seconds
    /// (it may cut that short) for the first. A long poll: see
    /// `http/follow.rs`.
    pub async fn history_after(
        &self,
        machine_id: Option<&str>,
        job_id: Option<JobId>,
        after: i64,
        wait: u64,
    ) -> Result<HistoryPage, AdminError> {
        let (job_id, after, wait) = (
            job_id.map(|id| id.to_string()),
            after.to_string(),
            wait.to_string(),
        );
        let query = encode_query(&[
            ("machine_id", machine_id),
            ("job_id", job_id.as_deref()),
            ("limit", Some("500")),
            ("after", Some(&after)),
            ("wait", Some(&wait)),
        ]);
        Ok(self.call(&routes::HISTORY, &[], &query, None).await?.1)
    }

    // ---- machines, readiness, metrics ----

    /// `GET /v1/machines`: every machine seen, by name.
    pub async fn machines(&self) -> Result<Vec<MachineView>, AdminError> {
        let list: MachineList = self.call(&routes::MACHINES_LIST, &[], "", None).await?.1;
        Ok(list.machines)
    }

    /// `GET /v1/machines/{id}`: the machine, its recent jobs and the
    /// schedules aimed at it.
    pub async fn machine(&self, id: &str) -> Result<MachineDetail, AdminError> {
        self.keyed(&routes::MACHINE_SHOW, id, "", None).await
    }

    /// `GET /readyz`: the checks when ready; a 503 `not_ready` error naming
    /// the failing check otherwise.
    pub async fn ready(&self) -> Result<Readiness, AdminError> {
        Ok(self.call(&routes::READYZ, &[], "", None).await?.1)
    }

    /// `GET /v1/daemons`: every daemon on the daemon's database, the
    /// running ones first.
    pub async fn daemons(&self) -> Result<Vec<crate::store::DaemonRecord>, AdminError> {
        let list: DaemonList = self.call(&routes::DAEMONS, &[], "", None).await?.1;
        Ok(list.daemons)
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, AdminError> {
        let (_, bytes) = self.fetch(&routes::METRICS, &[], "", None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    // ---- schedules ----

    /// `POST /v1/schedules`: the created schedule.
    pub async fn create_schedule(&self, spec: &ScheduleSpec) -> Result<Schedule, AdminError> {
        let body = self.encode(spec)?;
        Ok(self
            .call(&routes::SCHEDULE_CREATE, &[], "", Some(body))
            .await?
            .1)
    }

    /// `GET /v1/schedules`: by name; with `include_windows`, windows' edge
    /// schedules too.
    pub async fn schedules(&self, include_windows: bool) -> Result<Vec<Schedule>, AdminError> {
        let query = encode_query(&[("include_windows", include_windows.then_some("true"))]);
        let list: ScheduleList = self
            .call(&routes::SCHEDULES_LIST, &[], &query, None)
            .await?
            .1;
        Ok(list.schedules)
    }

    /// `POST /v1/schedules/preview`: an expression's next fire times; nothing is stored.
    pub async fn preview_expression(
        &self,
        request: &PreviewRequest,
    ) -> Result<Vec<FireTimeView>, AdminError> {
        let body = self.encode(request)?;
        let times: FireTimes = self
            .call(&routes::EXPRESSION_PREVIEW, &[], "", Some(body))
            .await?
            .1;
        Ok(times.fire_times)
    }

    // ---- windows ----

    /// `POST /v1/windows`: the created window.
    pub async fn create_window(&self, request: &WindowRequest) -> Result<Window, AdminError> {
        let body = self.encode(request)?;
        Ok(self
            .call(&routes::WINDOW_CREATE, &[], "", Some(body))
            .await?
            .1)
    }

    /// `GET /v1/windows`: by name.
    pub async fn windows(&self) -> Result<Vec<Window>, AdminError> {
        let list: WindowList = self.call(&routes::WINDOWS_LIST, &[], "", None).await?.1;
        Ok(list.windows)
    }

    /// `GET /v1/windows/{key}/overrides`: all, expired ones too.
    pub async fn overrides(&self, key: &str) -> Result<Vec<OverrideView>, AdminError> {
        let list: OverrideList = self.keyed(&routes::OVERRIDES_LIST, key, "", None).await?;
        Ok(list.overrides)
    }

    /// `POST /v1/windows/{key}/overrides`: the created override.
    pub async fn add_override(
        &self,
        key: &str,
        request: &OverrideRequest,
    ) -> Result<OverrideView, AdminError> {
        let body = self.encode(request)?;
        self.keyed(&routes::OVERRIDE_ADD, key, "", Some(body)).await
    }

    /// `DELETE /v1/windows/{key}/overrides/{id}`.
    pub async fn delete_override(&self, key: &str, id: i64) -> Result<(), AdminError> {
        let (key, id) = (segment(key), id.to_string());
        self.call::<()>(&routes::OVERRIDE_DELETE, &[&key, &id], "", None)
            .await?;
        Ok(())
    }

    // ---- reports ----

    /// `GET /v1/reports/utilization`.
    pub async fn utilization_report(
        &self,
        month: BillingMonth,
    ) -> Result<UtilizationView, AdminError> {
        let month = month.to_string();
        let query = encode_query(&[("month", Some(&month))]);
        Ok(self
            .call(&routes::UTILIZATION_REPORT, &[], &query, None)
            .await?
            .1)
    }

    /// `GET /v1/reports/savings`.
    pub async fn savings_report(&self, month: BillingMonth) -> Result<SavingsView, AdminError> {
        let month = month.to_string();
        let query = encode_query(&[("month", Some(&month))]);
        Ok(self
            .call(&routes::SAVINGS_REPORT, &[], &query, None)
            .await?
            .1)
    }

    /// `GET /v1/reports/cost`: the month's cost (the current month by default).
    pub async fn cost_report(
        &self,
        month: Option<BillingMonth>,
    ) -> Result<CostReportView, AdminError> {
        let month = month.map(|m| m.to_string());
        let query = encode_query(&[("month", month.as_deref())]);
        Ok(self.call(&routes::COST_REPORT, &[], &query, None).await?.1)
    }

    /// `GET /v1/reports/cost?format=csv`: the report as the server's CSV.
    pub async fn cost_report_csv(&self, month: Option<BillingMonth>) -> Result<String, AdminError> {
        let month = month.map(|m| m.to_string());
        let query = encode_query(&[("month", month.as_deref()), ("format", Some("csv"))]);
        let (_, bytes) = self.fetch(&routes::COST_REPORT, &[], &query, None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `POST /v1/forecast`: what a plan would cost; nothing is stored.
    pub async fn forecast(&self, plan: &Plan) -> Result<Forecast, AdminError> {
        let body = self.encode(plan)?;
        Ok(self.call(&routes::FORECAST, &[], "", Some(body)).await?.1)
    }

    /// `GET /v1/machines/{id}/billing`.
    pub async fn billing(&self, id: &str) -> Result<BillingView, AdminError> {
        self.keyed(&routes::MACHINE_BILLING_SHOW, id, "", None)
            .await
    }

    /// `PUT /v1/machines/{id}/billing`.
    pub async fn set_billing(&self, id: &str, billing: Billing) -> Result<BillingView, AdminError> {
        let body = self.encode(&BillingRequest { billing })?;
        self.keyed(&routes::MACHINE_BILLING_SET, id, "", Some(body))
            .await
    }

    /// `POST /v1/reports/utilization/pull`: the ids of the `utilization`
    /// jobs, one per known machine.
    pub async fn pull_utilization(&self, month: BillingMonth) -> Result<Vec<JobId>, AdminError> {
        let body = self.encode(&PullRequest { month })?;
        let answer: PullAnswer = self
            .call(&routes::UTILIZATION_PULL, &[], "", Some(body))
            .await?
            .1;
        Ok(answer.jobs)
    }

    // ---- job batches, groups and group runs ----

    /// `POST /v1/jobs/batch`: the jobs in request order, and each ref's job.
    pub(crate) async fn submit_batch(
        &self,
        batch: &BatchRequest,
    ) -> Result<BatchAnswer, AdminError> {
        let body = self.encode(batch)?;
        Ok(self.call(&routes::JOB_BATCH, &[], "", Some(body)).await?.1)
    }

    /// `POST /v1/groups`: the created group.
    pub(crate) async fn create_group(&self, spec: &GroupSpec) -> Result<Group, AdminError> {
        let body = self.encode(spec)?;
        Ok(self
            .call(&routes::GROUP_CREATE, &[], "", Some(body))
            .await?
            .1)
    }

    /// `GET /v1/groups`: every group.
    pub(crate) async fn groups(&self) -> Result<Vec<Group>, AdminError> {
        let list: GroupList = self.call(&routes::GROUPS_LIST, &[], "", None).await?.1;
        Ok(list.groups)
    }

    /// `GET /v1/groups/{name}`: the group and its recent runs.
    pub(crate) async fn group(&self, name: &str) -> Result<GroupDetail, AdminError> {
        self.keyed(&routes::GROUP_SHOW, name, "", None).await
    }

    /// `PATCH /v1/groups/{name}`: the group as changed.
    pub(crate) async fn update_group(
        &self,
        name: &str,
        patch: &GroupPatch,
    ) -> Result<Group, AdminError> {
        let body = self.encode(patch)?;
        self.keyed(&routes::GROUP_UPDATE, name, "", Some(body))
            .await
    }

    /// `DELETE /v1/groups/{name}`.
    pub(crate) async fn delete_group(&self, name: &str) -> Result<(), AdminError> {
        self.keyed(&routes::GROUP_DELETE, name, "", None).await
    }

    /// `POST /v1/groups/{name}/runs`: the run just made.
    pub(crate) async fn run_group(
        &self,
        name: &str,
        request: &RunRequest,
    ) -> Result<RunView, AdminError> {
        let body = self.encode(request)?;
        self.keyed(&routes::GROUP_RUN, name, "", Some(body)).await
    }

    /// `GET /v1/group-runs`: one page, newest first, of one group's runs or
    /// all.
    pub(crate) async fn group_runs(
        &self,
        group: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<RunPage, AdminError> {
        let limit = limit.map(|l| l.to_string());
        let query = encode_query(&[
            ("group", group),
            ("limit", limit.as_deref()),
            ("cursor", cursor),
        ]);
        Ok(self
            .call(&routes::GROUP_RUNS_LIST, &[], &query, None)
            .await?
            .1)
    }

    /// `GET /v1/group-runs/{id}`: the run with its progress.
    pub(crate) async fn group_run(&self, id: RunId) -> Result<RunView, AdminError> {
        Ok(self
            .call(&routes::GROUP_RUN_SHOW, &[&id.to_string()], "", None)
            .await?
            .1)
    }

    /// `POST /v1/group-runs/{id}/resume`: the run, resumed from its failed
    /// step.
    pub(crate) async fn resume_group_run(&self, id: RunId) -> Result<RunView, AdminError> {
        Ok(self
            .call(&routes::GROUP_RUN_RESUME, &[&id.to_string()], "", None)
            .await?
            .1)
    }

    // ---- webhooks ----

    /// `POST /v1/webhooks`: the endpoint and its secret, which the daemon
    /// shows this once.
    pub async fn create_webhook(&self, spec: &EndpointSpec) -> Result<EndpointCreated, AdminError> {
        let body = self.encode(spec)?;
        Ok(self
            .call(&routes::WEBHOOK_CREATE, &[], "", Some(body))
            .await?
            .1)
    }

    /// `GET /v1/webhooks`: every endpoint.
    pub async fn webhooks(&self) -> Result<Vec<Endpoint>, AdminError> {
        let list: WebhookList = self.call(&routes::WEBHOOKS_LIST, &[], "", None).await?.1;
        Ok(list.webhooks)
    }

    /// `GET /v1/webhooks/{id}`.
    pub async fn webhook(&self, id: EndpointId) -> Result<Endpoint, AdminError> {
        self.by_id(&routes::WEBHOOK_SHOW, id).await
    }

    /// `PATCH /v1/webhooks/{id}`: the endpoint as changed.
    pub async fn update_webhook(
        &self,
        id: EndpointId,
        patch: &EndpointPatch,
    ) -> Result<Endpoint, AdminError> {
        let body = self.encode(patch)?;
        Ok(self
            .call(&routes::WEBHOOK_UPDATE, &[&id.to_string()], "", Some(body))
            .await?
            .1)
    }

    /// `DELETE /v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, id: EndpointId) -> Result<(), AdminError> {
        self.by_id(&routes::WEBHOOK_DELETE, id).await
    }

    /// `POST /v1/webhooks/{id}/pause`: the paused endpoint.
    pub async fn pause_webhook(&self, id: EndpointId) -> Result<Endpoint, AdminError> {
        self.by_id(&routes::WEBHOOK_PAUSE, id).await
    }

    /// `POST /v1/webhooks/{id}/resume`: the endpoint, paused and disabled
    /// no more.
    pub async fn resume_webhook(&self, id: EndpointId) -> Result<Endpoint, AdminError> {
        self.by_id(&routes::WEBHOOK_RESUME, id).await
    }

    /// `POST /v1/webhooks/{id}/rotate-secret`: the new secret, shown this
    /// once, and until when the previous one still signs.
    pub async fn rotate_webhook_secret(&self, id: EndpointId) -> Result<SecretRotated, AdminError> {
        self.by_id(&routes::WEBHOOK_ROTATE, id).await
    }

    /// `POST /v1/webhooks/{id}/test`: one `ping` delivered now, and what
    /// the receiver answered.
    pub async fn test_webhook(&self, id: EndpointId) -> Result<TestDelivery, AdminError> {
        self.by_id(&routes::WEBHOOK_TEST, id).await
    }

    /// `GET /v1/webhooks/{id}/deliveries`: one page, newest first; with
    /// `before` (the previous page's `next_before`), those older than it.
    pub async fn webhook_deliveries(
        &self,
        id: EndpointId,
        before: Option<JobId>,
        limit: Option<u32>,
    ) -> Result<DeliveryPage, AdminError> {
        let (before, limit) = (before.map(|b| b.to_string()), limit.map(|l| l.to_string()));
        let query = encode_query(&[("before", before.as_deref()), ("limit", limit.as_deref())]);
        let id = id.to_string();
        Ok(self
            .call(&routes::DELIVERIES_LIST, &[&id], &query, None)
            .await?
            .1)
    }

    /// `POST /v1/webhooks/{id}/deliveries/{delivery}/resend`: the new
    /// delivery of the same event (same `webhook-id`).
    pub async fn resend_delivery(
        &self,
        id: EndpointId,
        delivery: JobId,
    ) -> Result<Resent, AdminError> {
        let (id, delivery) = (id.to_string(), delivery.to_string());
        Ok(self
            .call(&routes::DELIVERY_RESEND, &[&id, &delivery], "", None)
            .await?
            .1)
    }

    /// `GET /v1/webhooks/events`: the event catalogue.
    pub async fn webhook_events(&self) -> Result<Vec<EventTypeView>, AdminError> {
        let list: EventCatalogue = self.call(&routes::WEBHOOK_EVENTS, &[], "", None).await?.1;
        Ok(list.events)
    }

    /// Calls `route`, whose one path parameter is an endpoint's id.
    async fn by_id<T: DeserializeOwned>(
        &self,
        route: &Route,
        id: EndpointId,
    ) -> Result<T, AdminError> {
        Ok(self.call(route, &[&id.to_string()], "", None).await?.1)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn encode<T: serde::Serialize>(&self, value: &T) -> Result<Vec<u8>, AdminError> {
        serde_json::to_vec(value).map_err(|e| AdminError::BadUrl {
            url: self.base.clone(),
            reason: format!("the request cannot be encoded: {e}"),
        })
    }

    /// Calls `route`, whose one path parameter is a schedule or window key
    /// (or machine id); the answer's body.
    async fn keyed<T: DeserializeOwned>(
        &self,
        route: &Route,
        key: &str,
        query: &str,
        json: Option<Vec<u8>>,
    ) -> Result<T, AdminError> {
        Ok(self.call(route, &[&segment(key)], query, json).await?.1)
    }

    /// Calls `route` with its path parameters `args` (percent-encoded) and
    /// `query` (`?…` or empty); reads the answer as JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        route: &Route,
        args: &[&str],
        query: &str,
        json: Option<Vec<u8>>,
    ) -> Result<(StatusCode, T), AdminError> {
        let (status, bytes) = self.fetch(route, args, query, json).await?;
        // 204 No Content (a delete) reads as `null`, which `()` accepts.
        let body: &[u8] = if status == StatusCode::NO_CONTENT && bytes.is_empty() {
            b"null"
        } else {
            &bytes
        };
        let value = serde_json::from_slice(body).map_err(|e| AdminError::BadResponse {
            url: self.url(&format!("{}{query}", route.fill(args))),
            status: status.as_u16(),
            detail: e.to_string(),
        })?;
        Ok((status, value))
    }

    /// Sends a request; a success answers its status and body, anything
    /// else the server's error (or what made the answer unreadable).
    async fn fetch(
        &self,
        route: &Route,
        args: &[&str],
        query: &str,
        json: Option<Vec<u8>>,
    ) -> Result<(StatusCode, bytes::Bytes), AdminError> {
        let url = self.url(&format!("{}{query}", route.fill(args)));
        let method = match route.method {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        };
        let mut request = self
            .http
            .request(method, &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            // reqwest marks the header sensitive: it is never logged.
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = json {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let bad = |detail: String| AdminError::BadResponse {
            url: url.clone(),
            status: status.as_u16(),
            detail,
        };
        if status.is_success() {
            return Ok((status, bytes));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(AdminError::Unauthorized {
                url: self.base.clone(),
                token_sent: self.token.is_some(),
            });
        }
        if status == StatusCode::FORBIDDEN {
            return Err(AdminError::ReadOnly {
                url: self.base.clone(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(AdminError::Api {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                field: body.error.field,
            }),
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes);
                let snippet: String = text.trim().chars().take(200).collect();
                Err(bad(if snippet.is_empty() {
                    "an empty error body".to_string()
                } else {
                    snippet
                }))
            }
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> AdminError {
        AdminError::Unreachable {
            url: self.base.clone(),
            reason: describe(e),
        }
    }
}

/// The calls on a schedule or a window at its key (an id or a name), which
/// the two share route for route: written once, made for each by
/// `keyed_calls!(Item, Detail, Spec; show, update, pause, resume, delete,
/// preview; the routes of each)`.
macro_rules! keyed_calls {
    (
        $item:ty, $detail:ty, $spec:ty;
        $show:ident, $update:ident, $pause:ident, $resume:ident, $delete:ident, $preview:ident;
        $show_r:ident, $update_r:ident, $pause_r:ident, $resume_r:ident, $delete_r:ident,
        $preview_r:ident $(;)?
    ) => {
        impl AdminClient {
            #[doc = concat!("[`routes::", stringify!($show_r), "`]: with its next fire times and recent firings.")]
            pub async fn $show(&self, key: &str) -> Result<$detail, AdminError> {
                self.keyed(&routes::$show_r, key, "", None).await
            }

            #[doc = concat!("[`routes::", stringify!($update_r), "`]: replaces the definition.")]
            pub async fn $update(&self, key: &str, spec: &$spec) -> Result<$item, AdminError> {
                let body = self.encode(spec)?;
                self.keyed(&routes::$update_r, key, "", Some(body)).await
            }

            #[doc = concat!("[`routes::", stringify!($pause_r), "`].")]
            pub async fn $pause(&self, key: &str) -> Result<$item, AdminError> {
                self.keyed(&routes::$pause_r, key, "", None).await
            }

            #[doc = concat!("[`routes::", stringify!($resume_r), "`].")]
            pub async fn $resume(&self, key: &str) -> Result<$item, AdminError> {
                self.keyed(&routes::$resume_r, key, "", None).await
            }

            #[doc = concat!("[`routes::", stringify!($delete_r), "`].")]
            pub async fn $delete(&self, key: &str) -> Result<(), AdminError> {
                self.keyed(&routes::$delete_r, key, "", None).await
            }

            #[doc = concat!("[`routes::", stringify!($preview_r), "`]: the next `count` (default 10) fire times.")]
            pub async fn $preview(
                &self,
                key: &str,
                count: Option<u32>,
            ) -> Result<Vec<FireTimeView>, AdminError> {
                let count = count.map(|c| c.to_string());
                let query = encode_query(&[("count", count.as_deref())]);
                let times: FireTimes = self.keyed(&routes::$preview_r, key, &query, None).await?;
                Ok(times.fire_times)
            }
        }
    };
}

keyed_calls!(
    Schedule, ScheduleDetail, ScheduleSpec;
    schedule, update_schedule, pause_schedule, resume_schedule, delete_schedule, preview_schedule;
    SCHEDULE_SHOW, SCHEDULE_UPDATE, SCHEDULE_PAUSE, SCHEDULE_RESUME, SCHEDULE_DELETE,
    SCHEDULE_PREVIEW;
);

keyed_calls!(
    Window, WindowDetail, WindowRequest;
    window, update_window, pause_window, resume_window, delete_window, preview_window;
    WINDOW_SHOW, WINDOW_UPDATE, WINDOW_PAUSE, WINDOW_RESUME, WINDOW_DELETE, WINDOW_PREVIEW;
);

/// `?k=v&…` of the parameters that are set, or nothing.
fn encode_query(pairs: &[(&str, Option<&str>)]) -> String {
    let set: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    if set.is_empty() {
        return String::new();
    }
    // Encoding string pairs cannot fail.
    format!("?{}", serde_urlencoded::to_string(&set).unwrap_or_default())
}

/// A path segment (a schedule or window key), percent-encoded: names may
/// hold `/`, `?`, `#`, spaces and anything else.
fn segment(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a request got no answer, in a few words ("connection refused").
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", CALL_TIMEOUT.as_secs());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
                _ => io.to_string(),
            };
        }
        innermost = err.to_string();
        source = err.source();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_print_their_field() {
        let e = AdminError::Api {
            status: 422,
            code: "invalid_job".into(),
            message: "start jobs need the id of the machine to act on".into(),
            field: Some("machine_id".into()),
        };
        assert_eq!(
            e.to_string(),
            "start jobs need the id of the machine to act on (field: machine_id)"
        );
        assert_eq!(e.code(), Some("invalid_job"));
    }

    #[test]
    fn urls_are_checked() {
        assert!(AdminClient::new("ftp://x", None).is_err());
        assert!(AdminClient::new("not a url", None).is_err());
        let c = AdminClient::new("http://127.0.0.1:7420/", None).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:7420");
    }

    #[test]
    fn urls_without_a_scheme_are_http() {
        for (given, base) in [
            ("127.0.0.1:7420", "http://127.0.0.1:7420"),
            ("localhost:7420", "http://localhost:7420"),
            ("[::1]:7420/", "http://[::1]:7420"),
            (
                "https://m.example.com/machinist/",
                "https://m.example.com/machinist",
            ),
        ] {
            assert_eq!(AdminClient::new(given, None).unwrap().base_url(), base);
        }
        let e = AdminClient::new("ftp://x:7420", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`ftp` is not supported") && e.contains("http://"),
            "{e}"
        );
        let e = AdminClient::new("http://x:7420/?a=1", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("leave out the query"), "{e}");
    }

    #[test]
    fn a_401_says_what_to_set() {
        let none = AdminError::Unauthorized {
            url: "http://x:1".into(),
            token_sent: false,
        }
        .to_string();
        assert!(none.starts_with("the daemon at http://x:1 needs an admin token and none was given: pass --token-file PATH, set MACHINIST_ADMIN_TOKEN"), "{none}");
        let refused = AdminError::Unauthorized {
            url: "http://x:1".into(),
            token_sent: true,
        };
        assert!(refused.to_string().starts_with(
            "the admin token is not valid for the daemon at http://x:1: pass --token-file PATH"
        ));
        assert_eq!(
            (refused.status(), refused.code()),
            (Some(401), Some("unauthorized"))
        );
    }

    #[test]
    fn token_is_not_in_debug() {
        let c = AdminClient::new(
            "http://127.0.0.1:1",
            Some(AdminToken::new("super-secret-token").unwrap()),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("nightly-stop_1.x~"), "nightly-stop_1.x~");
        assert_eq!(segment("a/b c?#%"), "a%2Fb%20c%3F%23%25");
        assert_eq!(segment("window:office:start"), "window%3Aoffice%3Astart");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn query_leaves_out_unset() {
        assert_eq!(encode_query(&[("a", None)]), "");
        assert_eq!(
            encode_query(&[("a", Some("x y")), ("b", None), ("c", Some("j5"))]),
            "?a=x+y&c=j5"
        );
    }
}
