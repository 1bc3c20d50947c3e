//! The simulator's own control routes under `/_sim`: call counts, faults,
//! stuck and failed machines, actions from outside Machinist, the account's
//! standing, the ground truth of what machines cost, and an internal view
//! of every machine.
//!
//! They need no API key and are never faulted or counted. Bodies are JSON;
//! errors are `{"error": "<message>"}` with a 400 or 404.
//!
//! | route | body / answer |
//! |---|---|
//! | `GET /_sim/calls` | `{"total":N,"calls":[{"method","route","machine_id","count"}]}` |
//! | `DELETE /_sim/calls` | 204; counts start again from zero |
//! | `GET /_sim/faults` | the standing [`FaultSpec`] |
//! | `PUT /_sim/faults` | a [`FaultSpec`] (missing fields are 0) → 200 with it; 400 if a rate is outside 0..=1 |
//! | `DELETE /_sim/faults` | 204; clears the standing rates and every pending one-shot fault |
//! | `GET /_sim/faults/oneshot` | the pending [`OneShotFault`]s, oldest first |
//! | `POST /_sim/faults/oneshot` | a [`OneShotFault`], e.g. `{"kind":"error","status":502,"route":"POST /machines/createSingleMachinePublic","count":1,"after_apply":true}` → 201 with it; 400 on a bad kind, status, count or route |
//! | `POST /_sim/machines/{id}/stuck` | `{"stuck":bool}` → 200 `{"id","stuck"}`; 404 for an unknown (or removed) machine |
//! | `POST /_sim/machines/{id}/fail` | `{"message":"…"}` → 200 `{"id","failed":true}`: the operation under way ends in `error` with that message; 404 when the machine has none |
//! | `GET /_sim/machines` | every machine ever created: `[{"id","name","state","machine_type","region","stuck","pending_state","pending_due","destroyed","gone","dt_created"}]` |
//! | `POST /_sim/machines/{id}/outside` | `{"action":"start"\|"stop"\|"restart"\|"force-shutdown"\|"upgrade","machine_type"?}` → 200 `{"id","action","began":bool}` (`began` false for a no-op): done as from the Paperspace console, recorded as the event `start`, `stop`, `restart`, `vm-shutdown-force` (off after the stop timing) or `vm-upgrade` (at once; `off` machines only; `machine_type` required); 400 when the machine's state does not allow it or the type is unknown, 404 for an unknown machine |
//! | `GET /_sim/standing` | `{"in_good_standing":bool,"messages":[…]}` |
//! | `PUT /_sim/standing` | `{"in_good_standing":bool,"messages"?:[…]}` → 200 with it; while false, v1 create and start answer 403 `FORBIDDEN` with the messages joined by a space |
//! | `GET /_sim/usage?month=YYYY-MM` | the ground truth of the month up to now: `{"month","machines":[{"id","name","machine_type","running_seconds","compute_cost","storage_seconds","storage_cost","total"}],"total"}`, dollars, every machine that existed in the month (removed ones too), oldest first; 400 on a bad or missing month |
//!
//! Running is billed from the completion of a start or restart (or a create
//! that starts the machine) to the request of a stop, forced shutdown or
//! destroy, each span at the hourly price in force (a `vm-upgrade` changes
//! it); storage from creation until the machine is gone, as seconds over
//! the month's seconds times the monthly storage price in force.
//!
//! `destroyed` is true from the destroy request on; `gone` once the machine
//! has disappeared from the API. `pending_state` is the state the pending
//! transition leads to (`"gone"` for a destroy), `pending_due` its due time.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::account::{OutsideAction, Standing, Target};
use super::faults::{FaultSpec, OneShotFault};
use super::params::Params;
use super::{SimError, Simulator, legacy_routes, v1_routes};
use crate::machine::BillingMonth;

/// The control routes, to be nested under `/_sim`.
pub fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/calls", get(calls).delete(reset_calls))
        .route("/faults", get(faults).put(set_faults).delete(clear_faults))
        .route("/faults/oneshot", get(oneshots).post(add_oneshot))
        .route("/machines", get(machines))
        .route("/machines/{id}/stuck", post(stuck))
        .route("/machines/{id}/fail", post(fail))
        .route("/machines/{id}/outside", post(outside))
        .route("/standing", get(standing).put(set_standing))
        .route("/usage", get(usage))
        .with_state(sim)
}

/// A control-route error: `{"error": message}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Parses a JSON body; the error is the 400 message.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))
}

async fn calls(State(sim): State<Simulator>) -> Response {
    let (total, calls) = sim.call_log();
    Json(json!({ "total": total, "calls": calls })).into_response()
}

async fn reset_calls(State(sim): State<Simulator>) -> StatusCode {
    sim.reset_calls();
    StatusCode::NO_CONTENT
}

async fn faults(State(sim): State<Simulator>) -> Json<FaultSpec> {
    Json(sim.faults())
}

async fn set_faults(State(sim): State<Simulator>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse(&body) {
        Ok(spec) => spec,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if let Err(problem) = spec.validate() {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    sim.set_faults(spec.clone());
    Json(spec).into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn oneshots(State(sim): State<Simulator>) -> Json<Vec<OneShotFault>> {
    Json(sim.pending_oneshots())
}

async fn add_oneshot(State(sim): State<Simulator>, body: Bytes) -> Response {
    let fault: OneShotFault = match parse(&body) {
        Ok(fault) => fault,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let mut known = legacy_routes::route_keys();
    known.extend(v1_routes::route_keys());
    if let Err(problem) = fault.validate(&known) {
        return error(StatusCode::BAD_REQUEST, problem);
    }
    sim.inject(fault.clone());
    (StatusCode::CREATED, Json(fault)).into_response()
}

/// Body of `POST /_sim/machines/{id}/stuck`.
#[derive(Debug, Deserialize)]
struct StuckBody {
    /// `true` freezes the machine's pending transition; `false` lets it complete.
    stuck: bool,
}

async fn stuck(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Response {
    let StuckBody { stuck } = match parse(&body) {
        Ok(b) => b,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if sim.set_stuck(&id, stuck) {
        Json(json!({ "id": id, "stuck": stuck })).into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no machine {id}"))
    }
}

/// Body of `POST /_sim/machines/{id}/fail`.
#[derive(Debug, Deserialize)]
struct FailBody {
    /// The event's `error` (legacy `errorMsg`).
    message: String,
}

async fn fail(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Response {
    let FailBody { message } = match parse(&body) {
        Ok(b) => b,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    if sim.fail_operation(&id, &message) {
        Json(json!({ "id": id, "failed": true })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("no machine {id} with an operation under way"),
        )
    }
}

async fn machines(State(sim): State<Simulator>) -> Response {
    let view = sim.with_account(|acc, now| {
        acc.all_machines(now)
            .iter()
            .map(|m| {
                let pending = m.pending.as_ref();
                json!({
                    "id": m.id,
                    "name": m.name,
                    "state": m.state.as_str(),
                    "machine_type": m.machine_type.name,
                    "region": m.region,
                    "stuck": m.stuck,
                    "pending_state": pending.map(|p| match &p.target {
                        Target::State(s) => s.as_str().to_string(),
                        Target::Gone => "gone".to_string(),
                    }),
                    "pending_due": pending.map(|p| p.due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    "destroyed": m.destroying,
                    "gone": !m.is_visible(),
                    "dt_created": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })
            })
            .collect::<Vec<_>>()
    });
    Json(view).into_response()
}

/// Body of `POST /_sim/machines/{id}/outside`.
#[derive(Debug, Deserialize)]
struct OutsideBody {
    /// `start`, `stop`, `restart`, `force-shutdown` or `upgrade`.
    action: String,
    /// The new type of an `upgrade`.
    #[serde(default)]
    machine_type: Option<String>,
}

async fn outside(State(sim): State<Simulator>, Path(id): Path<String>, body: Bytes) -> Response {
    let OutsideBody {
        action,
        machine_type,
    } = match parse(&body) {
        Ok(b) => b,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    let what = match (action.as_str(), machine_type) {
        ("start", _) => OutsideAction::Start,
        ("stop", _) => OutsideAction::Stop,
        ("restart", _) => OutsideAction::Restart,
        ("force-shutdown", _) => OutsideAction::ForceShutdown,
        ("upgrade", Some(machine_type)) => OutsideAction::Upgrade { machine_type },
        ("upgrade", None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "an upgrade needs `machine_type`, e.g. \"P5000\"",
            );
        }
        (other, _) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown action `{other}`; expected start, stop, restart, force-shutdown or upgrade"
                ),
            );
        }
    };
    match sim.outside(&id, what) {
        Ok(began) => Json(json!({ "id": id, "action": action, "began": began })).into_response(),
        Err(SimError::MachineNotFound(_)) => {
            error(StatusCode::NOT_FOUND, format!("no machine {id}"))
        }
        Err(SimError::Refused(problem)) => error(StatusCode::BAD_REQUEST, problem),
    }
}

/// Body of `PUT /_sim/standing`.
#[derive(Debug, Deserialize)]
struct StandingBody {
    /// `isInGoodStanding`.
    in_good_standing: bool,
    /// `messages`; none when absent.
    #[serde(default)]
    messages: Vec<String>,
}

fn standing_json(standing: &Standing) -> serde_json::Value {
    json!({ "in_good_standing": standing.in_good_standing, "messages": standing.messages })
}

async fn standing(State(sim): State<Simulator>) -> Response {
    let view = sim.with_account(|acc, _| standing_json(acc.standing()));
    Json(view).into_response()
}

async fn set_standing(State(sim): State<Simulator>, body: Bytes) -> Response {
    let StandingBody {
        in_good_standing,
        messages,
    } = match parse(&body) {
        Ok(b) => b,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
    sim.set_standing(in_good_standing, messages);
    let view = sim.with_account(|acc, _| standing_json(acc.standing()));
    Json(view).into_response()
}

async fn usage(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Response {
    let p = Params::from_query(query.as_deref());
    let month: BillingMonth = match p.str("month") {
        Ok(Some(text)) => match text.parse() {
            Ok(month) => month,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("`month`: {e}")),
        },
        Ok(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give the month as `?month=YYYY-MM`",
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let machines = sim.usage(month);
    let total: f64 = machines.iter().map(|m| m.total).sum();
    Json(json!({ "month": month.to_string(), "machines": machines, "total": total }))
        .into_response()
}
