//! The v1 API (`api.paperspace.com/v1`) over HTTP, under `/v1` beside the
//! legacy routes and over the same [`Account`](super::account::Account): a
//! machine started through one API is `ready` through the other.
//!
//! The same gate as the legacy routes counts each call, adds latency, checks
//! the key (here `Authorization: Bearer <key>`) and applies faults; every
//! error, injected or not, is `{"code":"…","message":"…"}`.
//!
//! | route | request | answer |
//! |---|---|---|
//! | `GET /v1/machines` | `after`, `limit` (1..=120, default 20), `orderBy` (`dtCreated`/`name`/`state`), `order` (`asc`/`desc`, default `desc`), filters `name`, `region`, `agentType`, `machineType` | `{hasMore, items, nextPage}` |
//! | `POST /v1/machines` | `name`, `machineType`, `templateId`, `diskSize`, `region`; optional `publicIpType`, `startOnCreate`, `networkId`, `startupScriptId`, `accessorIds`, and the snapshot/shutdown settings of an update | `{data, event}`; 403 `FORBIDDEN` (the standing's messages) while not in good standing |
//! | `GET /v1/machines/{id}` | — | machine |
//! | `PUT /v1/machines/{id}` | `name`, `autoShutdownEnabled`, `autoShutdownTimeout`, `autoShutdownForce`, `autoSnapshotEnabled`, `autoSnapshotFrequency` (`hourly`/`daily`/`weekly`), `autoSnapshotSaveCount`, `publicIpType`; `machineType`, `diskSize` (no smaller) only while `off` (400 otherwise) | `{data}`; `{data, event}` (`vm-upgrade`, done at once, new `usageRate`/`storageRate`) when the type or disk changed |
//! | `DELETE /v1/machines/{id}` | — | `{data, event}` (`deactivate`) |
//! | `PATCH /v1/machines/{id}/start` · `/stop` · `/restart` | `{}` or nothing | `{data, event}`; a no-op answers the latest event; start is 403 `FORBIDDEN` while not in good standing |
//! | `GET /v1/machines/{id}/accessors` | `after`, `limit` | `{hasMore, items: [{user, dtCreated}], nextPage}` |
//! | `POST /v1/machines/{id}/accessors` | `{userId}` | `{user, dtCreated}` |
//! | `GET`, `DELETE /v1/machines/{id}/accessors/{userId}` | — | `{user, dtCreated}` (DELETE adds `dtDeleted`); GET is 404 for a non-accessor |
//! | `GET /v1/machine-events/{eventId}` | — | event |
//! | `GET /v1/machine-events` | `machineId`, `after`, `limit`, `order` | `{hasMore, items, nextPage}` by (`dtCreated`, `id`), newest first by default; every machine's events, removed machines' too |
//! | `GET /v1/os-templates` | `after`, `limit`, `name` | `{hasMore, items, nextPage}` |
//! | `GET /v1/billing/account-standing` | — | `{isInGoodStanding, hasPaymentMethod: true, isAdminLocked: false, messages}` (`PUT /_sim/standing` switches it) |
//!
//! Cursors are the id of the last item of a page, so a page boundary stays
//! put when machines are created or removed between pages. The account-wide
//! event listing reads a range of an index kept in (`dtCreated`, `id`)
//! order, so a page costs its own length, not the account's event count.
//! An event's `dtStarted` is its `dtCreated` (the simulator begins every
//! operation at once).

use std::cmp::Ordering;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Simulator;
use super::account::{
    AccountError, BillingType, Event, Field, MachineChanges, NewMachine, PublicIp, SimMachine,
    SnapshotFrequency,
};
use super::catalog;
use super::faults::{Dialect, normalize_path, v1_code};
use super::legacy_routes::gate;
use super::params::{ParamError, Params};
use crate::machine::MachineState;

/// Page size when a request names none.
const DEFAULT_LIMIT: usize = 20;

/// The largest page the API documents.
const MAX_LIMIT: usize = 120;

/// Every v1 route: method, axum path, handler.
fn routes() -> Vec<(Method, &'static str, MethodRouter<Simulator>)> {
    vec![
        (Method::GET, "/v1/machines", get(list)),
        (Method::POST, "/v1/machines", axum::routing::post(create)),
        (Method::GET, "/v1/machines/{id}", get(show)),
        (Method::PUT, "/v1/machines/{id}", axum::routing::put(update)),
        (
            Method::DELETE,
            "/v1/machines/{id}",
            axum::routing::delete(destroy),
        ),
        (Method::PATCH, "/v1/machines/{id}/start", patch(start)),
        (Method::PATCH, "/v1/machines/{id}/stop", patch(stop)),
        (Method::PATCH, "/v1/machines/{id}/restart", patch(restart)),
        (Method::GET, "/v1/machines/{id}/accessors", get(accessors)),
        (
            Method::POST,
            "/v1/machines/{id}/accessors",
            axum::routing::post(add_accessor),
        ),
        (
            Method::GET,
            "/v1/machines/{id}/accessors/{userId}",
            get(accessor),
        ),
        (
            Method::DELETE,
            "/v1/machines/{id}/accessors/{userId}",
            axum::routing::delete(remove_accessor),
        ),
        (Method::GET, "/v1/machine-events/{eventId}", get(event)),
        (Method::GET, "/v1/machine-events", get(events)),
        (Method::GET, "/v1/os-templates", get(templates)),
        (
            Method::GET,
            "/v1/billing/account-standing",
            get(account_standing),
        ),
    ]
}

/// Route keys (`PATCH /v1/machines/:id/start`, …) that faults may target.
pub fn route_keys() -> Vec<String> {
    routes()
        .into_iter()
        .map(|(method, path, _)| format!("{method} {}", normalize_path(path)))
        .collect()
}

/// The v1 API, with the gate in front of every route. Several methods share
/// a path, so handlers are merged per path before routing.
pub fn router(sim: Simulator) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter<Simulator>)> = Vec::new();
    for (_, path, handler) in routes() {
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    let mut router = Router::new();
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .route_layer(middleware::from_fn_with_state(
            (sim.clone(), Dialect::V1),
            gate,
        ))
        .with_state(sim)
}

/// A v1 error answer.
#[derive(Debug)]
struct V1Error {
    /// 400, 404, …; the `code` follows from it.
    status: StatusCode,
    /// Shown by clients as the error text.
    message: String,
}

impl V1Error {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        V1Error {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<ParamError> for V1Error {
    fn from(e: ParamError) -> Self {
        Self::bad(e.to_string())
    }
}

impl From<AccountError> for V1Error {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::MachineNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, format!("Machine {id} not found"))
            }
            AccountError::UserNotFound(id) => {
                Self::new(StatusCode::NOT_FOUND, format!("User {id} not found"))
            }
            AccountError::Invalid { field, problem } => {
                Self::bad(format!("Invalid `{}`: {problem}", field_name(field)))
            }
            AccountError::NotInGoodStanding(_) => Self::new(StatusCode::FORBIDDEN, e.to_string()),
            AccountError::TemplateNotFound(_)
            | AccountError::WrongState { .. }
            | AccountError::Unavailable { .. }
            | AccountError::BadHistory(_) => Self::bad(e.to_string()),
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = json!({ "code": v1_code(self.status), "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// The v1 parameter name of an account field.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Name => "name",
        Field::Region => "region",
        Field::MachineType => "machineType",
        Field::DiskSize => "diskSize",
        Field::Template => "templateId",
        Field::User => "userId",
        Field::Team => "teamId",
        Field::PublicIp => "publicIpType",
        Field::ShutdownTimeout => "autoShutdownTimeout",
        Field::SnapshotSaveCount => "autoSnapshotSaveCount",
    }
}

type Answer = Result<Response, V1Error>;

fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn dollars(cents: u32) -> f64 {
    f64::from(cents) / 100.0
}

fn frequency_v1(f: SnapshotFrequency) -> &'static str {
    match f {
        SnapshotFrequency::Hour => "hourly",
        SnapshotFrequency::Day => "daily",
        SnapshotFrequency::Week => "weekly",
    }
}

/// A machine in the v1 wire format.
fn v1_machine(m: &SimMachine) -> Value {
    let ready = m.state != MachineState::Provisioning;
    let gib = 1024 * 1024 * 1024u64;
    let public_ip_type = if m.dynamic_public_ip {
        "dynamic"
    } else if m.static_ip.is_some() {
        "static"
    } else {
        "none"
    };
    let modified = m
        .events
        .iter()
        .map(|e| e.modified_at)
        .max()
        .unwrap_or(m.created_at);
    json!({
        "id": m.id,
        "name": m.name,
        "state": m.state.as_str(),
        "machineType": m.machine_type.name,
        "agentType": m.template.agent_type,
        "os": ready.then_some(m.template.os),
        "region": m.region,
        "cpus": m.machine_type.cpus,
        "ram": m.machine_type.ram_bytes,
        "storageTotal": u64::from(m.size_gb) * gib,
        "storageUsed": if ready { m.template.used_bytes } else { 0 },
        "storageRate": dollars(m.storage_monthly_cents()),
        "usageRate": dollars(m.hourly_cents()),
        "accelerators": m.machine_type.gpu.map(|g| json!([{"name": g, "count": 1, "memory": null}])),
        "networkId": m.network_id,
        "privateIp": ready.then_some(m.private_ip.as_str()),
        "publicIp": m.public_ip(),
        "publicIpType": public_ip_type,
        "autoShutdownEnabled": m.shutdown_timeout_hours.is_some(),
        "autoShutdownTimeout": m.shutdown_timeout_hours,
        "autoShutdownForce": m.shutdown_timeout_forces,
        "autoSnapshotEnabled": m.perform_auto_snapshot,
        "autoSnapshotFrequency": m.auto_snapshot_frequency.map(frequency_v1),
        "autoSnapshotSaveCount": m.auto_snapshot_save_count,
        "restorePointEnabled": false,
        "restorePointFrequency": null,
        "restorePointSnapshotId": null,
        "updatesPending": false,
        "reservation": null,
        "dtCreated": iso(m.created_at),
        "dtModified": iso(modified),
        "dtDeleted": m.gone_at.map(iso),
    })
}

/// An event in the v1 wire format.
fn v1_event(machine_id: &str, e: &Event) -> Value {
    json!({
        "id": e.handle,
        "machineId": machine_id,
        "name": e.name,
        "state": e.state.as_str(),
        "error": e.error,
        "dtCreated": iso(e.created_at),
        "dtStarted": iso(e.created_at),
        "dtFinished": e.finished_at.map(iso),
    })
}

/// `{data, event}` with the machine's latest event.
fn mutation(m: &SimMachine) -> Value {
    json!({
        "data": v1_machine(m),
        "event": m.events.last().map(|e| v1_event(&m.id, e)),
    })
}

/// A user as the accessor routes show it.
fn v1_user(id: &str) -> Value {
    json!({ "id": id, "email": format!("{id}@team.example"), "firstName": null, "lastName": null, "publicProfileImageUrl": null })
}

/// Paging arguments common to every list.
struct Paging {
    /// The `after` query parameter: id of the last item of the previous page (its `nextPage`); `None` for the first page.
    after: Option<String>,
    /// Items per page, from `limit`: 1 to `MAX_LIMIT`, default `DEFAULT_LIMIT`.
    limit: usize,
    /// True for `order=desc`; the route's own default when `order` is absent.
    descending: bool,
}

fn paging(p: &Params, default_descending: bool) -> Result<Paging, V1Error> {
    let limit = p.count("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(V1Error::bad(format!(
            "Invalid `limit`: must be from 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let descending = match p.str("order")? {
        None => default_descending,
        Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(V1Error::bad(format!(
                "Invalid `order`: must be `asc` or `desc`, not `{other}`"
            )));
        }
    };
    Ok(Paging {
        after: p.str("after")?.map(str::to_string),
        limit,
        descending,
    })
}

/// One page of `items`, each with its sort key and id. `cursor_key` is the
/// key of the `after` item (looked up by the caller, which may know removed
/// items too); the page holds the items strictly after it.
fn page(
    mut items: Vec<((String, String), Value)>,
    cursor_key: Option<(String, String)>,
    paging: &Paging,
) -> Value {
    let order = |a: &(String, String), b: &(String, String)| -> Ordering {
        if paging.descending {
            b.cmp(a)
        } else {
            a.cmp(b)
        }
    };
    items.sort_by(|a, b| order(&a.0, &b.0));
    let rest: Vec<_> = match &cursor_key {
        Some(c) => items
            .into_iter()
            .filter(|(k, _)| order(k, c) == Ordering::Greater)
            .collect(),
        None => items,
    };
    let has_more = rest.len() > paging.limit;
    let taken: Vec<_> = rest.into_iter().take(paging.limit).collect();
    let next = has_more
        .then(|| taken.last().map(|(k, _)| k.1.clone()))
        .flatten();
    json!({
        "hasMore": has_more,
        "items": taken.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "nextPage": next,
    })
}

fn unknown_cursor(after: &str) -> V1Error {
    V1Error::bad(format!("Invalid `after`: `{after}` is not a page cursor"))
}

async fn list(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let paging = paging(&p, true)?;
    let order_by = p.str("orderBy")?.unwrap_or("dtCreated");
    let key = |m: &SimMachine| -> (String, String) {
        let primary = match order_by {
            "name" => m.name.clone(),
            "state" => m.state.to_string(),
            _ => iso(m.created_at),
        };
        (primary, m.id.clone())
    };
    if !matches!(order_by, "dtCreated" | "name" | "state") {
        return Err(V1Error::bad(format!(
            "Invalid `orderBy`: must be `dtCreated`, `name` or `state`, not `{order_by}`"
        )));
    }
    let filters: Vec<(&str, &str)> = ["name", "region", "agentType", "machineType"]
        .into_iter()
        .filter_map(|k| p.str(k).ok().flatten().map(|v| (k, v)))
        .collect();
    sim.with_account(|acc, now| {
        let all = acc.all_machines(now);
        let cursor_key = match &paging.after {
            None => None,
            Some(after) => Some(
                all.iter()
                    .find(|m| &m.id == after)
                    .map(key)
                    .ok_or_else(|| unknown_cursor(after))?,
            ),
        };
        let items = all
            .iter()
            .filter(|m| m.is_visible())
            .filter(|m| {
                filters.iter().all(|(k, want)| match *k {
                    "name" => m.name == *want,
                    "region" => m.region == *want,
                    "agentType" => m.template.agent_type == *want,
                    _ => m.machine_type.name == *want,
                })
            })
            .map(|m| (key(m), v1_machine(m)))
            .collect();
        Ok(Json(page(items, cursor_key, &paging)).into_response())
    })
}

/// Reads a `publicIpType`.
fn public_ip(p: &Params) -> Result<Option<PublicIp>, V1Error> {
    Ok(match p.str("publicIpType")? {
        None => None,
        Some("static") => Some(PublicIp::Static),
        Some("dynamic") => Some(PublicIp::Dynamic),
        Some("none") => Some(PublicIp::None),
        Some(other) => {
            return Err(V1Error::bad(format!(
                "Invalid `publicIpType`: must be `static`, `dynamic` or `none`, not `{other}`"
            )));
        }
    })
}

/// Reads the settings an update (and a create) may change.
fn changes(p: &Params) -> Result<MachineChanges, V1Error> {
    for unsimulated in ["networkId"] {
        if p.iter().any(|(k, _)| k == unsimulated) {
            return Err(V1Error::bad(format!(
                "Changing `{unsimulated}` of an existing machine is not simulated"
            )));
        }
    }
    let auto_snapshot_frequency = match p.nullable_str("autoSnapshotFrequency")? {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(Some(match s {
            "hourly" => SnapshotFrequency::Hour,
            "daily" => SnapshotFrequency::Day,
            "weekly" => SnapshotFrequency::Week,
            other => {
                return Err(V1Error::bad(format!(
                    "Invalid `autoSnapshotFrequency`: the simulator knows `hourly`, `daily` and `weekly`, not `{other}`"
                )));
            }
        })),
    };
    let shutdown_timeout_hours = match (
        p.bool("autoShutdownEnabled")?,
        p.nullable_number("autoShutdownTimeout")?,
    ) {
        (Some(false), _) => Some(None),
        (_, Some(hours)) => Some(hours),
        (Some(true), None) => None,
        (None, None) => None,
    };
    let (dynamic_public_ip, assign_public_ip) = match public_ip(p)? {
        None => (None, None),
        Some(PublicIp::Static) => (Some(false), Some(true)),
        Some(PublicIp::Dynamic) => (Some(true), Some(false)),
        Some(PublicIp::None) => (Some(false), Some(false)),
    };
    Ok(MachineChanges {
        name: p.str("name")?.map(str::to_string),
        shutdown_timeout_hours,
        shutdown_timeout_forces: p.bool("autoShutdownForce")?,
        perform_auto_snapshot: p.bool("autoSnapshotEnabled")?,
        auto_snapshot_frequency,
        auto_snapshot_save_count: p.nullable_number("autoSnapshotSaveCount")?,
        dynamic_public_ip,
        assign_public_ip,
    })
}

async fn create(State(sim): State<Simulator>, body: Bytes) -> Answer {
    let p = Params::from_body(&body)?;
    let name = p.required_str("name")?;
    let machine_type = p.required_str("machineType")?;
    let template_id = p.required_str("templateId")?;
    let disk_size = p.required_number("diskSize")?;
    let region = p.required_str("region")?;
    let public_ip = public_ip(&p)?.unwrap_or(PublicIp::None);
    let start_on_create = p.bool("startOnCreate")?.unwrap_or(true);
    let network_id = p.str("networkId")?.map(str::to_string);
    let script_id = p.str("startupScriptId")?.map(str::to_string);
    for flag in [
        "takeInitialSnapshot",
        "restorePointEnabled",
        "emailPassword",
        "enableNvlink",
    ] {
        p.bool(flag)?;
    }
    if let Some(freq) = p.str("restorePointFrequency")?
        && freq != "shutdown"
    {
        return Err(V1Error::bad(format!(
            "Invalid `restorePointFrequency`: must be `shutdown`, not `{freq}`"
        )));
    }
    let accessor_ids: Vec<String> = match p.iter().find(|(k, _)| *k == "accessorIds") {
        None | Some((_, Value::Null)) => Vec::new(),
        Some((_, Value::Array(ids))) => ids
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| V1Error::bad("Invalid `accessorIds`: expected an array of user ids"))?,
        Some(_) => {
            return Err(V1Error::bad(
                "Invalid `accessorIds`: expected an array of user ids",
            ));
        }
    };
    let settings = changes(&Params::from_body(&strip(
        &body,
        &["name", "publicIpType"],
    ))?)?;
    let req = NewMachine {
        name: name.to_string(),
        region: region.to_string(),
        machine_type: machine_type.to_string(),
        size_gb: disk_size,
        billing_type: BillingType::Hourly,
        template_id: template_id.to_string(),
        public_ip,
        start_on_create,
        network_id,
        team_id: None,
        user_id: None,
        script_id,
    };
    sim.with_account(|acc, now| {
        acc.check_standing()?;
        if let Some(bad) = accessor_ids.iter().find(|id| !catalog::is_user(id)) {
            return Err(V1Error::new(
                StatusCode::NOT_FOUND,
                format!("User {bad} not found"),
            ));
        }
        let id = acc.create(req, now)?.id.clone();
        acc.update(&id, settings, now)?;
        for user in &accessor_ids {
            acc.set_access(&id, user, true, now)?;
        }
        Ok(Json(mutation(acc.machine(&id, now)?)).into_response())
    })
}

/// The body without `keys` (create reads those itself; the rest are settings).
fn strip(body: &[u8], keys: &[&str]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        for key in [
            "machineType",
            "templateId",
            "diskSize",
            "region",
            "startOnCreate",
            "networkId",
        ]
        .iter()
        .chain(keys)
        {
            map.remove(*key);
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

async fn show(State(sim): State<Simulator>, Path(id): Path<String>) -> Answer {
    sim.with_account(|acc, now| Ok(Json(v1_machine(acc.machine(&id, now)?)).into_response()))
}

/// `PUT /machines/{id}`. A different `machineType` or a larger `diskSize`
/// is a `vm-upgrade`, allowed only while the machine is `off` (a 400
/// otherwise, before anything is changed); its prices change from then on
/// and the answer carries the event.
async fn update(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Answer {
    let p = Params::from_body(&body)?;
    let machine_type = p.str("machineType")?.map(str::to_string);
    let disk_size = p.number("diskSize")?;
    let changes = changes(&Params::from_body(&strip_keys(
        &body,
        &["machineType", "diskSize"],
    ))?)?;
    sim.with_account(|acc, now| {
        let upgrade = acc.plan_upgrade(&id, machine_type.as_deref(), disk_size, now)?;
        acc.update(&id, changes, now)?;
        let m = match upgrade {
            Some(plan) => {
                acc.apply_upgrade(&id, plan, now)?;
                mutation(acc.machine(&id, now)?)
            }
            None => json!({ "data": v1_machine(acc.machine(&id, now)?) }),
        };
        Ok(Json(m).into_response())
    })
}

/// The body without `keys`.
fn strip_keys(body: &[u8], keys: &[&str]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

async fn destroy(State(sim): State<Simulator>, Path(id): Path<String>) -> Answer {
    sim.with_account(|acc, now| {
        acc.destroy(&id, now)?;
        Ok(Json(mutation(acc.machine(&id, now)?)).into_response())
    })
}

/// Which of start/stop/restart a route performs.
#[derive(Debug, Clone, Copy)]
enum Power {
    Start,
    Stop,
    Restart,
}

async fn power(sim: Simulator, id: String, body: Bytes, op: Power) -> Answer {
    // The CLI sends `{}`; anything else that parses is ignored, garbage is a 400.
    Params::from_body(&body)?;
    sim.with_account(|acc, now| {
        if let Power::Start = op {
            acc.check_standing()?;
        }
        match op {
            Power::Start => acc.start(&id, now),
            Power::Stop => acc.stop(&id, now),
            Power::Restart => acc.restart(&id, now),
        }?;
        Ok(Json(mutation(acc.machine(&id, now)?)).into_response())
    })
}

async fn start(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Answer {
    power(sim, id, body, Power::Start).await
}

async fn stop(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Answer {
    power(sim, id, body, Power::Stop).await
}

async fn restart(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Answer {
    power(sim, id, body, Power::Restart).await
}

fn accessor_json(user_id: &str, created: DateTime<Utc>) -> Value {
    json!({ "user": v1_user(user_id), "dtCreated": iso(created) })
}

async fn accessors(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Answer {
    let p = Params::from_query(query.as_deref());
    let paging = paging(&p, false)?;
    sim.with_account(|acc, now| {
        let m = acc.machine(&id, now)?;
        let items = m
            .accessors
            .iter()
            .map(|u| ((u.clone(), u.clone()), accessor_json(u, m.created_at)))
            .collect();
        let cursor_key = paging.after.clone().map(|a| (a.clone(), a));
        Ok(Json(page(items, cursor_key, &paging)).into_response())
    })
}

async fn add_accessor(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Answer {
    let p = Params::from_body(&body)?;
    let user = p.required_str("userId")?;
    sim.with_account(|acc, now| {
        acc.set_access(&id, user, true, now)?;
        Ok(Json(accessor_json(user, now)).into_response())
    })
}

async fn accessor(
    State(sim): State<Simulator>,
    Path((id, user)): Path<(String, String)>,
) -> Answer {
    sim.with_account(|acc, now| {
        let m = acc.machine(&id, now)?;
        if m.accessors.contains(&user) {
            Ok(Json(accessor_json(&user, m.created_at)).into_response())
        } else {
            Err(V1Error::new(
                StatusCode::NOT_FOUND,
                format!("User {user} is not an accessor of machine {id}"),
            ))
        }
    })
}

async fn remove_accessor(
    State(sim): State<Simulator>,
    Path((id, user)): Path<(String, String)>,
) -> Answer {
    sim.with_account(|acc, now| {
        let created = acc.machine(&id, now)?.created_at;
        acc.set_access(&id, &user, false, now)?;
        let mut body = accessor_json(&user, created);
        body["dtDeleted"] = json!(iso(now));
        Ok(Json(body).into_response())
    })
}

async fn event(State(sim): State<Simulator>, Path(event_id): Path<String>) -> Answer {
    sim.with_account(|acc, now| match acc.event(&event_id, now) {
        Some((machine_id, e)) => Ok(Json(v1_event(machine_id, e)).into_response()),
        None => Err(V1Error::new(
            StatusCode::NOT_FOUND,
            format!("Machine event {event_id} not found"),
        )),
    })
}

async fn events(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let paging = paging(&p, true)?;
    let machine = p.str("machineId")?.map(str::to_string);
    sim.with_account(|acc, now| {
        let Some(machine) = machine else {
            // The whole account: a range of the account's event index.
            let got = acc
                .events_page(
                    paging.after.as_deref(),
                    paging.limit,
                    paging.descending,
                    now,
                )
                .ok_or_else(|| unknown_cursor(paging.after.as_deref().unwrap_or_default()))?;
            let next = got
                .has_more
                .then(|| got.items.last().map(|(_, e)| e.handle.clone()))
                .flatten();
            let items: Vec<Value> = got
                .items
                .iter()
                .map(|(machine_id, e)| v1_event(machine_id, e))
                .collect();
            return Ok(Json(
                json!({ "hasMore": next.is_some(), "items": items, "nextPage": next }),
            )
            .into_response());
        };
        let key = |e: &Event| (iso(e.created_at), e.handle.clone());
        let cursor_key = match &paging.after {
            None => None,
            Some(after) => Some(
                acc.event_created(after)
                    .map(|at| (iso(at), after.clone()))
                    .ok_or_else(|| unknown_cursor(after))?,
            ),
        };
        let items = acc
            .all_machines(now)
            .iter()
            .filter(|m| m.id == machine)
            .flat_map(|m| m.events.iter().map(move |e| (key(e), v1_event(&m.id, e))))
            .collect();
        Ok(Json(page(items, cursor_key, &paging)).into_response())
    })
}

/// `GET /billing/account-standing`: the simulator's standing
/// (`PUT /_sim/standing`); it has a payment method and is never admin-locked.
async fn account_standing(State(sim): State<Simulator>) -> Answer {
    sim.with_account(|acc, _| {
        let standing = acc.standing();
        Ok(Json(json!({
            "isInGoodStanding": standing.in_good_standing,
            "hasPaymentMethod": true,
            "isAdminLocked": false,
            "messages": standing.messages,
        }))
        .into_response())
    })
}

async fn templates(RawQuery(query): RawQuery) -> Answer {
    let p = Params::from_query(query.as_deref());
    let paging = paging(&p, false)?;
    let name = p.str("name")?;
    let items = catalog::TEMPLATES
        .iter()
        .filter(|t| name.is_none_or(|n| n == t.name))
        .map(|t| {
            let value = json!({
                "id": t.id,
                "name": t.name,
                "agentType": t.agent_type,
                "operatingSystemLabel": t.os,
                "defaultSizeGb": null,
                "availableMachineTypes": catalog::MACHINE_TYPES
                    .iter()
                    .filter(|mt| catalog::template_fits(t, mt))
                    .map(|mt| json!({"machineTypeLabel": mt.name, "isAvailable": true}))
                    .collect::<Vec<_>>(),
                "dtCreated": t.dt_created,
            });
            ((t.id.to_string(), t.id.to_string()), value)
        })
        .collect();
    let cursor_key = paging.after.clone().map(|a| (a.clone(), a));
    Ok(Json(page(items, cursor_key, &paging)).into_response())
}
