//! The legacy API (`api.paperspace.io`) over HTTP: axum handlers that read
//! parameters the way `paperspace-node` and the Python clients send them,
//! call the [`Account`](super::account::Account), and answer in the legacy
//! wire format (machine objects, 201/204/200 statuses, the wrapped error body).
//!
//! Every route is also served with a trailing slash. A gate in front of the
//! handlers counts the call, adds latency, checks `x-api-key`, and applies
//! faults, in that order.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, RawPathParams, RawQuery, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Number, Value, json};

use super::Simulator;
use super::account::{
    AccountError, BillingType, Field, MachineChanges, NewMachine, PublicIp, SimMachine,
    SnapshotFrequency, Usage,
};
use super::catalog;
use super::faults::{self, Dialect, FaultKind, Strike, normalize_path, wrapped_error};
use super::params::{ParamError, Params, as_filter_string};
use crate::machine::BillingMonth;

/// Largest request body read; far above anything a client sends.
const BODY_LIMIT: usize = 1 << 20;

/// The message legacy mutations give for an unknown machine.
const MUTATION_NOT_FOUND: &str = "Not found. Please contact support@paperspace.com for help.";

/// The message `getMachinePublic` gives for an unknown machine.
const SHOW_NOT_FOUND: &str = "Machine not found";

/// Machine list filters, as `paperspace-node`'s `machines list` documents them.
const LIST_FILTERS: [&str; 25] = [
    "machineId",
    "name",
    "os",
    "ram",
    "cpus",
    "gpu",
    "storageTotal",
    "storageUsed",
    "usageRate",
    "shutdownTimeoutInHours",
    "performAutoSnapshot",
    "autoSnapshotFrequency",
    "autoSnapshotSaveCount",
    "agentType",
    "dtCreated",
    "state",
    "updatesPending",
    "networkId",
    "privateIpAddress",
    "publicIpAddress",
    "region",
    "userId",
    "teamId",
    "scriptId",
    "dtLastRun",
];

/// Template list filters.
const TEMPLATE_FILTERS: [&str; 8] = [
    "id",
    "name",
    "label",
    "os",
    "dtCreated",
    "teamId",
    "userId",
    "region",
];

/// `getMachines` answers at most this many machines unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 1000;

/// Every legacy route: method, axum path, handler.
fn routes() -> Vec<(Method, &'static str, MethodRouter<Simulator>)> {
    vec![
        (
            Method::POST,
            "/machines/createSingleMachinePublic",
            post(create),
        ),
        (Method::POST, "/machines/{machineId}/start", post(start)),
        (Method::POST, "/machines/{machineId}/stop", post(stop)),
        (Method::POST, "/machines/{machineId}/restart", post(restart)),
        (
            Method::POST,
            "/machines/{machineId}/destroyMachine",
            post(destroy),
        ),
        (
            Method::POST,
            "/machines/{machineId}/updateMachinePublic",
            post(update),
        ),
        (
            Method::POST,
            "/machines/updateMachine",
            post(update_by_body),
        ),
        (Method::GET, "/machines/getMachines", get(list)),
        (Method::GET, "/machines/getMachinePublic", get(show)),
        (
            Method::POST,
            "/machines/{machineId}/setMachineAccess",
            post(set_access),
        ),
        (
            Method::GET,
            "/machines/{machineId}/setMachineAccessPublic",
            get(set_access_by_query),
        ),
        (Method::GET, "/machines/getUtilization", get(utilization)),
        (Method::GET, "/machines/getAvailability", get(availability)),
        (Method::GET, "/templates/getTemplates", get(templates)),
    ]
}

/// Route keys (`POST /machines/:machineId/start`, …) that faults may target.
pub fn route_keys() -> Vec<String> {
    routes()
        .into_iter()
        .map(|(method, path, _)| format!("{method} {}", normalize_path(path)))
        .collect()
}

/// The legacy API, with the gate in front of every route.
pub fn router(sim: Simulator) -> Router {
    let mut router = Router::new();
    for (_, path, handler) in routes() {
        router = router
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    router
        .route_layer(middleware::from_fn_with_state(
            (sim.clone(), Dialect::Legacy),
            gate,
        ))
        .with_state(sim)
}

/// Counts, delays, authenticates and faults each request before (and, for
/// after-apply faults, after) its handler runs; `dialect` decides how the
/// key is sent and what errors look like. Shared with the v1 routes.
pub(super) async fn gate(
    State((sim, dialect)): State<(Simulator, Dialect)>,
    matched: MatchedPath,
    path_params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let route = format!("{} {}", req.method(), normalize_path(matched.as_str()));
    let (parts, body) = req.into_parts();
    // Buffered so that the body's `machineId` can be counted; handlers get it back intact.
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await;
    // Legacy paths name it `machineId`, v1 paths `id`.
    let machine_id = path_params
        .iter()
        .find(|(k, _)| *k == "machineId" || *k == "id")
        .map(|(_, v)| v.to_string())
        .or_else(|| {
            Params::from_query(parts.uri.query())
                .str("machineId")
                .ok()
                .flatten()
                .map(str::to_string)
        })
        .or_else(|| {
            let bytes = bytes.as_ref().ok()?;
            let params = Params::from_body(bytes).ok()?;
            params.str("machineId").ok().flatten().map(str::to_string)
        });
    sim.record_call(&route, machine_id);
    // A real server finishes what it received even if the client hangs up
    // (a daemon killed mid-request): run the rest apart from this connection.
    let answer = tokio::spawn(answer(sim, dialect, route, parts, bytes, next));
    answer.await.unwrap_or_else(|e| {
        dialect.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("simulator task failed: {e}"),
        )
    })
}

/// Everything after counting: latency, auth, faults and the handler.
async fn answer(
    sim: Simulator,
    dialect: Dialect,
    route: String,
    parts: axum::http::request::Parts,
    bytes: Result<axum::body::Bytes, axum::Error>,
    next: Next,
) -> Response {
    let latency = sim.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    match dialect {
        Dialect::Legacy => {
            let key_ok = parts
                .headers
                .get("x-api-key")
                .is_some_and(|k| k.as_bytes() == sim.api_key().as_bytes());
            if !key_ok {
                // The flat error shape, unlike every other legacy error.
                let body = json!({ "status": 401, "message": "Invalid API token" });
                return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            }
        }
        Dialect::V1 => {
            let bearer = parts
                .headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if bearer.is_none_or(|k| k.as_bytes() != sim.api_key().as_bytes()) {
                return dialect.error(
                    StatusCode::UNAUTHORIZED,
                    "Invalid or missing API key in the Authorization: Bearer header",
                );
            }
        }
    }

    let Ok(bytes) = bytes else {
        return dialect.error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    let Some(Strike { kind, after_apply }) = sim.strike(&route) else {
        return next.run(req).await;
    };
    tracing::debug!(%route, ?kind, after_apply, "sim fault");
    match (kind, after_apply) {
        (FaultKind::Hang { ms }, true) => {
            let answer = next.run(req).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            answer
        }
        (kind, true) => {
            let _applied = next.run(req).await;
            faults::response(&kind, dialect)
        }
        (kind, false) => {
            if let FaultKind::Hang { ms } = kind {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            faults::response(&kind, dialect)
        }
    }
}

/// A legacy error answer: status and message, sent in the wrapped shape.
#[derive(Debug)]
struct LegacyError {
    /// 400, 404, …
    status: StatusCode,
    /// Shown by clients as the error text.
    message: String,
}

impl LegacyError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        LegacyError {
            status,
            message: message.into(),
        }
    }

    /// Maps an account refusal; `not_found` is the route's wording for an unknown machine.
    fn from_account(e: AccountError, not_found: &str) -> Self {
        match e {
            AccountError::MachineNotFound(_) => Self::new(StatusCode::NOT_FOUND, not_found),
            AccountError::UserNotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            AccountError::Invalid { field, problem } => Self::new(
                StatusCode::BAD_REQUEST,
                format!("Invalid parameter `{}`: {problem}", field_name(field)),
            ),
            AccountError::NotInGoodStanding(_) => Self::new(StatusCode::FORBIDDEN, e.to_string()),
            AccountError::TemplateNotFound(_)
            | AccountError::WrongState { .. }
            | AccountError::Unavailable { .. }
            | AccountError::BadHistory(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
        }
    }
}

impl From<ParamError> for LegacyError {
    fn from(e: ParamError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        wrapped_error(self.status, &self.message)
    }
}

/// The legacy parameter name of an account field.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Name => "machineName",
        Field::Region => "region",
        Field::MachineType => "machineType",
        Field::DiskSize => "size",
        Field::Template => "templateId",
        Field::User => "userId",
        Field::Team => "teamId",
        Field::PublicIp => "assignPublicIp",
        Field::ShutdownTimeout => "shutdownTimeoutInHours",
        Field::SnapshotSaveCount => "autoSnapshotSaveCount",
    }
}

type Answer = Result<Response, LegacyError>;

fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// ISO 8601 with milliseconds and `Z`, as the legacy API writes times.
fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A JSON number that prints whole values without a fraction (`24`, not `24.0`).
fn number(x: f64) -> Number {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Number::from(x as i64)
    } else {
        Number::from_f64(x).unwrap_or_else(|| Number::from(0))
    }
}

/// Milliseconds as the API's `secondsUsed`: whole when whole, fractional otherwise.
fn seconds(millis: i64) -> Number {
    number(millis as f64 / 1000.0)
}

/// A machine in the legacy wire format, fields in the order the docs show them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyMachine<'a> {
    /// `ps…` id.
    id: &'a str,
    /// Display name.
    name: &'a str,
    /// Template OS; null while provisioning.
    os: Option<&'a str>,
    /// Bytes as a string; null while provisioning.
    ram: Option<String>,
    /// CPU count.
    cpus: u32,
    /// GPU description; null while provisioning and for CPU-only types.
    gpu: Option<&'a str>,
    /// Disk bytes as a string; null while provisioning.
    storage_total: Option<String>,
    /// Used disk bytes as a string; null while provisioning.
    storage_used: Option<String>,
    /// `<type> <billing>`; clients derive the machine type from it.
    usage_rate: String,
    /// Idle hours before auto-shutdown.
    shutdown_timeout_in_hours: Option<Number>,
    /// Whether auto-shutdown ignores sessions.
    shutdown_timeout_forces: bool,
    /// Auto-snapshot switch.
    perform_auto_snapshot: bool,
    /// `hour`/`day`/`week`.
    auto_snapshot_frequency: Option<&'static str>,
    /// Snapshots kept.
    auto_snapshot_save_count: Option<Number>,
    /// From the template.
    agent_type: &'static str,
    /// Creation time.
    dt_created: String,
    /// Lowercase state.
    state: &'a str,
    /// Never true in the simulator.
    updates_pending: bool,
    /// As given at create.
    network_id: Option<&'a str>,
    /// Null while provisioning.
    private_ip_address: Option<&'a str>,
    /// Static address, or dynamic while running.
    public_ip_address: Option<&'a str>,
    /// Region display name.
    region: &'static str,
    /// Assigned user.
    user_id: &'a str,
    /// Team.
    team_id: &'a str,
    /// Startup script.
    script_id: Option<&'a str>,
    /// Last time the script ran (the machine last became ready); null without a script.
    dt_last_run: Option<String>,
    /// Whether the address is dynamic.
    dynamic_public_ip: bool,
    /// Only `show` carries events, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<LegacyEvent<'a>>>,
}

/// A machine event in the legacy wire format.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyEvent<'a> {
    /// `create`, `start`, …
    name: &'static str,
    /// `in progress`, `done`, `cancelled`.
    state: &'static str,
    /// Why the operation failed; empty unless it did (see `Simulator::fail_operation`).
    error_msg: &'a str,
    /// Event id.
    handle: &'a str,
    /// Last change.
    dt_modified: String,
    /// Completion; null while in progress.
    dt_finished: Option<String>,
    /// Request time.
    dt_created: String,
}

/// The answer to `setMachineAccess`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessGrant<'a> {
    /// The machine.
    machine_id: &'a str,
    /// The user whose access changed.
    user_id: &'a str,
    /// Granted (`true`) or revoked.
    enable_access: bool,
}

/// The answer to `getUtilization`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyUtilization<'a> {
    /// The machine asked about.
    machine_id: &'a str,
    /// Running time, billed hourly.
    utilization: RunningUsage<'a>,
    /// Storage time, billed monthly.
    storage_utilization: StorageUsage<'a>,
}

/// Running time in one month.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunningUsage<'a> {
    /// Repeated, as the docs show.
    machine_id: &'a str,
    /// Seconds running in the month.
    seconds_used: Number,
    /// Dollars per hour, two decimals, as a string.
    hourly_rate: String,
    /// `YYYY-MM`.
    billing_month: String,
}

/// Storage time in one month.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StorageUsage<'a> {
    /// Repeated, as the docs show.
    machine_id: &'a str,
    /// Seconds the disk existed in the month.
    seconds_used: Number,
    /// Dollars per month, two decimals, as a string.
    monthly_rate: String,
    /// `YYYY-MM`.
    billing_month: String,
}

/// A public template in the legacy wire format (public ones carry no team, user or region).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyTemplate {
    /// What `templateId` names.
    id: &'static str,
    /// `paperspace/<id>`.
    name: &'static str,
    /// Human description.
    label: &'static str,
    /// Operating system.
    os: &'static str,
    /// Creation time.
    dt_created: &'static str,
}

fn legacy_machine(m: &SimMachine, with_events: bool) -> LegacyMachine<'_> {
    let ready = m.state != crate::machine::MachineState::Provisioning;
    let gib = 1024 * 1024 * 1024u64;
    LegacyMachine {
        id: &m.id,
        name: &m.name,
        os: ready.then_some(m.template.os),
        ram: ready.then(|| m.machine_type.ram_bytes.to_string()),
        cpus: m.machine_type.cpus,
        gpu: m.machine_type.gpu.filter(|_| ready),
        storage_total: ready.then(|| (u64::from(m.size_gb) * gib).to_string()),
        storage_used: ready.then(|| m.template.used_bytes.to_string()),
        usage_rate: format!("{} {}", m.machine_type.name, m.billing_type.as_str()),
        shutdown_timeout_in_hours: m.shutdown_timeout_hours.map(number),
        shutdown_timeout_forces: m.shutdown_timeout_forces,
        perform_auto_snapshot: m.perform_auto_snapshot,
        auto_snapshot_frequency: m.auto_snapshot_frequency.map(SnapshotFrequency::as_str),
        auto_snapshot_save_count: m.auto_snapshot_save_count.map(number),
        agent_type: m.template.agent_type,
        dt_created: iso(m.created_at),
        state: m.state.as_str(),
        updates_pending: false,
        network_id: m.network_id.as_deref(),
        private_ip_address: ready.then_some(m.private_ip.as_str()),
        public_ip_address: m.public_ip(),
        region: m.region,
        user_id: &m.user_id,
        team_id: &m.team_id,
        script_id: m.script_id.as_deref(),
        dt_last_run: m.script_id.as_ref().and(m.last_ready_at).map(iso),
        dynamic_public_ip: m.dynamic_public_ip,
        events: with_events.then(|| {
            m.events
                .iter()
                .rev()
                .map(|e| LegacyEvent {
                    name: e.name,
                    state: e.state.as_str(),
                    error_msg: e.error.as_deref().unwrap_or(""),
                    handle: &e.handle,
                    dt_modified: iso(e.modified_at),
                    dt_finished: e.finished_at.map(iso),
                    dt_created: iso(e.created_at),
                })
                .collect()
        }),
    }
}

/// Refuses a body `machineId` that is not a string or names another machine than the path.
fn check_body_machine_id(p: &Params, path_id: &str) -> Result<(), LegacyError> {
    match p.str("machineId")? {
        Some(id) if id != path_id => Err(LegacyError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid parameter `machineId`: body names {id} but the path names {path_id}"),
        )),
        _ => Ok(()),
    }
}

fn path_machine_id(params: &RawPathParams) -> String {
    params
        .iter()
        .find(|(k, _)| *k == "machineId")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

async fn create(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let p = Params::from_body(&body)?;
    // Required parameters in the order the Node client checks them.
    let region = p.required_str("region")?;
    let machine_type = p.required_str("machineType")?;
    let size = p.required_number("size")?;
    let billing_type = p.required_str("billingType")?;
    let machine_name = p.required_str("machineName")?;
    let template_id = p.required_str("templateId")?;

    let billing_type = match billing_type {
        "hourly" => BillingType::Hourly,
        "monthly" => BillingType::Monthly,
        other => {
            return Err(ParamError::Invalid {
                name: "billingType",
                problem: format!("must be `hourly` or `monthly`, not `{other}`"),
            }
            .into());
        }
    };
    let assign = p.bool("assignPublicIp")?.unwrap_or(false);
    let dynamic = p.bool("dynamicPublicIp")?.unwrap_or(false);
    if assign && dynamic {
        return Err(LegacyError::new(
            StatusCode::BAD_REQUEST,
            "Parameters `assignPublicIp` and `dynamicPublicIp` cannot both be true",
        ));
    }
    let start_on_create = p.bool("startOnCreate")?.unwrap_or(true);
    let network_id = p.str("networkId")?.map(str::to_string);
    let team_id = p.str("teamId")?.map(str::to_string);
    let user_id = p.str("userId")?.map(str::to_string);
    let script_id = p.str("scriptId")?.map(str::to_string);
    p.str("notificationEmail")?;
    p.bool("takeInitialSnapshot")?;
    p.bool("markSnapshotAsRestorePoint")?;
    if let Some(freq) = p.str("restorePointFrequency")?
        && freq != "shutdown"
    {
        return Err(ParamError::Invalid {
            name: "restorePointFrequency",
            problem: format!("must be `shutdown`, not `{freq}`"),
        }
        .into());
    }
    // Creating a new team user along with the machine is not simulated, but
    // the documented exclusivity with `userId` is enforced.
    for new_user_field in ["email", "password", "firstName", "lastName"] {
        if p.str(new_user_field)?.is_some() && user_id.is_some() {
            return Err(ParamError::Invalid {
                name: new_user_field,
                problem: "cannot be combined with `userId`".to_string(),
            }
            .into());
        }
    }

    let req = NewMachine {
        name: machine_name.to_string(),
        region: region.to_string(),
        machine_type: machine_type.to_string(),
        size_gb: size,
        billing_type,
        template_id: template_id.to_string(),
        public_ip: match (assign, dynamic) {
            (true, _) => PublicIp::Static,
            (_, true) => PublicIp::Dynamic,
            _ => PublicIp::None,
        },
        start_on_create,
        network_id,
        team_id,
        user_id,
        script_id,
    };
    sim.with_account(|acc, now| {
        let m = acc
            .create(req, now)
            .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
        Ok((StatusCode::CREATED, Json(legacy_machine(m, false))).into_response())
    })
}

/// Which of start/stop/restart a route performs.
#[derive(Debug, Clone, Copy)]
enum Power {
    Start,
    Stop,
    Restart,
}

async fn power(sim: Simulator, path: RawPathParams, body: Bytes, op: Power) -> Answer {
    let id = path_machine_id(&path);
    let p = Params::from_body(&body)?;
    check_body_machine_id(&p, &id)?;
    sim.with_account(|acc, now| match op {
        Power::Start => acc.start(&id, now),
        Power::Stop => acc.stop(&id, now),
        Power::Restart => acc.restart(&id, now),
    })
    .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
    no_content()
}

async fn start(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    power(sim, path, body, Power::Start).await
}

async fn stop(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    power(sim, path, body, Power::Stop).await
}

async fn restart(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    power(sim, path, body, Power::Restart).await
}

async fn destroy(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    let id = path_machine_id(&path);
    let p = Params::from_body(&body)?;
    check_body_machine_id(&p, &id)?;
    // Accepted and type-checked; released addresses are not tracked.
    p.bool("releasePublicIp")?;
    sim.with_account(|acc, now| acc.destroy(&id, now))
        .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
    no_content()
}

/// Reads the update fields shared by both update routes.
fn machine_changes(p: &Params) -> Result<MachineChanges, LegacyError> {
    let auto_snapshot_frequency = match p.nullable_str("autoSnapshotFrequency")? {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(SnapshotFrequency::parse(s).ok_or_else(|| {
            ParamError::Invalid {
                name: "autoSnapshotFrequency",
                problem: format!("must be `hour`, `day`, `week` or null, not `{s}`"),
            }
        })?)),
    };
    let changes = MachineChanges {
        name: p.str("machineName")?.map(str::to_string),
        shutdown_timeout_hours: p.nullable_number("shutdownTimeoutInHours")?,
        shutdown_timeout_forces: p.bool("shutdownTimeoutForces")?,
        perform_auto_snapshot: p.bool("performAutoSnapshot")?,
        auto_snapshot_frequency,
        auto_snapshot_save_count: p.nullable_number("autoSnapshotSaveCount")?,
        dynamic_public_ip: p.bool("dynamicPublicIp")?,
        assign_public_ip: p.bool("assignPublicIp")?,
    };
    if changes.dynamic_public_ip == Some(true) && changes.assign_public_ip == Some(true) {
        return Err(LegacyError::new(
            StatusCode::BAD_REQUEST,
            "Parameters `assignPublicIp` and `dynamicPublicIp` cannot both be true",
        ));
    }
    Ok(changes)
}

fn apply_update(sim: &Simulator, id: &str, p: &Params) -> Answer {
    let changes = machine_changes(p)?;
    sim.with_account(|acc, now| acc.update(id, changes, now))
        .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
    no_content()
}

async fn update(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    let id = path_machine_id(&path);
    let p = Params::from_body(&body)?;
    check_body_machine_id(&p, &id)?;
    apply_update(&sim, &id, &p)
}

/// The Go client's update route: `machineId` in the body.
async fn update_by_body(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let p = Params::from_body(&body)?;
    let id = p.required_str("machineId")?.to_string();
    apply_update(&sim, &id, &p)
}

async fn list(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let limit = p.count("limit")?.unwrap_or(DEFAULT_LIMIT);
    let skip = p.count("skip")?.unwrap_or(0);
    let filters: Vec<(&str, String)> = p
        .iter()
        .filter(|(k, _)| LIST_FILTERS.contains(k))
        .map(|(k, v)| (if k == "machineId" { "id" } else { k }, as_filter_string(v)))
        .collect();
    sim.with_account(|acc, now| {
        let page: Vec<LegacyMachine> = acc
            .machines(now)
            .map(|m| legacy_machine(m, false))
            .filter(|m| {
                let value = serde_json::to_value(m).expect("machine serializes");
                matches_filters(&value, &filters)
            })
            .skip(skip)
            .take(limit)
            .collect();
        // Serialized from the structs, not the filter values, to keep the documented key order.
        Ok(Json(page).into_response())
    })
}

/// Exact string match of each filter against the object's field (absent counts as null).
fn matches_filters(object: &Value, filters: &[(&str, String)]) -> bool {
    filters
        .iter()
        .all(|(key, want)| as_filter_string(object.get(*key).unwrap_or(&Value::Null)) == *want)
}

async fn show(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let id = p.required_str("machineId")?;
    sim.with_account(|acc, now| {
        let m = acc
            .machine(id, now)
            .map_err(|e| LegacyError::from_account(e, SHOW_NOT_FOUND))?;
        Ok(Json(legacy_machine(m, true)).into_response())
    })
}

fn access(sim: &Simulator, id: &str, p: &Params) -> Answer {
    let user_id = p.required_str("userId")?;
    let enable = p.required_bool("enableAccess")?;
    sim.with_account(|acc, now| acc.set_access(id, user_id, enable, now))
        .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
    Ok(Json(AccessGrant {
        machine_id: id,
        user_id,
        enable_access: enable,
    })
    .into_response())
}

/// `paperspace-node`'s form: POST with a JSON body.
async fn set_access(State(sim): State<Simulator>, path: RawPathParams, body: Bytes) -> Answer {
    let id = path_machine_id(&path);
    let p = Params::from_body(&body)?;
    check_body_machine_id(&p, &id)?;
    access(&sim, &id, &p)
}

/// The docs' form: GET with the parameters in the query.
async fn set_access_by_query(
    State(sim): State<Simulator>,
    path: RawPathParams,
    RawQuery(query): RawQuery,
) -> Answer {
    let id = path_machine_id(&path);
    access(&sim, &id, &Params::from_query(query.as_deref()))
}

async fn utilization(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let id = p.required_str("machineId")?;
    let month_text = p.required_str("billingMonth")?;
    let month: BillingMonth =
        month_text
            .parse()
            .map_err(|e: crate::machine::BadBillingMonth| ParamError::Invalid {
                name: "billingMonth",
                problem: e.to_string(),
            })?;
    let usage: Usage = sim
        .with_account(|acc, now| acc.utilization(id, month, now))
        .map_err(|e| LegacyError::from_account(e, SHOW_NOT_FOUND))?;
    let billing_month = month.to_string();
    Ok(Json(LegacyUtilization {
        machine_id: id,
        utilization: RunningUsage {
            machine_id: id,
            seconds_used: seconds(usage.running_millis),
            hourly_rate: catalog::dollars(usage.hourly_cents),
            billing_month: billing_month.clone(),
        },
        storage_utilization: StorageUsage {
            machine_id: id,
            seconds_used: seconds(usage.storage_millis),
            monthly_rate: catalog::dollars(usage.storage_monthly_cents),
            billing_month,
        },
    })
    .into_response())
}

async fn availability(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let region = p.required_str("region")?;
    let machine_type = p.required_str("machineType")?;
    let available = sim
        .with_account(|acc, _| acc.availability(region, machine_type))
        .map_err(|e| LegacyError::from_account(e, MUTATION_NOT_FOUND))?;
    Ok(Json(json!({ "available": available })).into_response())
}

async fn templates(RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let filters: Vec<(&str, String)> = p
        .iter()
        .filter(|(k, _)| TEMPLATE_FILTERS.contains(k))
        .map(|(k, v)| (k, as_filter_string(v)))
        .collect();
    let list: Vec<LegacyTemplate> = catalog::TEMPLATES
        .iter()
        .map(|t| LegacyTemplate {
            id: t.id,
            name: t.name,
            label: t.label,
            os: t.os,
            dt_created: t.dt_created,
        })
        .filter(|t| {
            let value = serde_json::to_value(t).expect("template serializes");
            matches_filters(&value, &filters)
        })
        .collect();
    Ok(Json(list).into_response())
}
