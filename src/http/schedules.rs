//! The schedule routes: create, list, show, replace, pause, resume, delete
//! and preview; also the request helpers the window and report routes share
//! (JSON bodies, path keys, the `count` parameter, registry errors).
//!
//! A `{key}` in a path is a schedule's id or its name (names are never
//! numbers). Window edges are schedules too: they show up here with
//! `?include_windows=true` and can be shown and previewed, but are changed
//! through their window.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params;
use super::params::{json_body, positive_id, shorten};
use crate::job::SpecError;
use crate::schedule::firing::Firing;
use crate::schedule::spec::{Schedule, ScheduleSpec, WindowEdge};
use crate::scheduler::registry::{FireTime, MAX_PREVIEW, RegistryError};

/// Fire times in `GET /v1/schedules/{key}`.
pub(super) const SHOW_FIRE_TIMES: usize = 5;
/// Firings in `GET /v1/schedules/{key}` and `GET /v1/windows/{key}`.
pub(super) const SHOW_FIRINGS: u32 = 50;
/// Fire times of a preview without `count`.
pub(super) const DEFAULT_PREVIEW: usize = 10;
/// Longest schedule or window name, hence longest path key.
const MAX_KEY: usize = 128;

/// The 422 code of a schedule (or expression) that is not valid.
const INVALID_SCHEDULE: &str = "invalid_schedule";

/// One upcoming firing as the API shows it: the instant in UTC, the same
/// instant in the schedule's zone, and for windows which edge it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FireTimeView {
    /// The instant, in UTC.
    pub utc: DateTime<Utc>,
    /// RFC 3339 with the zone's offset, e.g. `2026-03-30T09:00:00+02:00`.
    pub local: String,
    /// `start` or `stop`, for window edges; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<WindowEdge>,
}

impl From<FireTime> for FireTimeView {
    fn from(t: FireTime) -> Self {
        let FireTime { utc, local, edge } = t;
        FireTimeView { utc, local, edge }
    }
}

/// `{"fire_times":[…]}`: a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FireTimes {
    /// Soonest first.
    pub fire_times: Vec<FireTimeView>,
}

/// `GET /v1/schedules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleList {
    /// By name.
    pub schedules: Vec<Schedule>,
}

/// `GET /v1/schedules/{key}`: the schedule's fields with its next fire
/// times and recent firings beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleDetail {
    /// The schedule's own fields, flattened beside the fire times and firings.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The next 5 fire times from now; empty while the schedule is paused.
    pub next_fire_times: Vec<FireTimeView>,
    /// The last 50 firings, newest first: enqueued, caught up, or skipped
    /// with the reason.
    pub recent_firings: Vec<Firing>,
}

/// `POST /v1/schedules/preview`: an expression's fire times, nothing stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The expression to preview, as a schedule's `cron`.
    pub cron: String,
    /// IANA zone; default: the daemon's default zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// 1..=100, default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

const SCHEDULE_EXAMPLE: &str = r#"{"name":"nightly-stop","cron":"0 19 * * MON-FRI","timezone":"Europe/Amsterdam","template":{"kind":"stop"},"targets":{"machine_ids":["ps123"]}}"#;
const PREVIEW_EXAMPLE: &str = r#"{"cron":"0 9 * * MON-FRI","timezone":"Europe/Amsterdam"}"#;

// ---- handlers ----

/// `POST /v1/schedules?dry_run=true|false`.
pub(super) async fn create(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let spec: ScheduleSpec = json_body(&headers, body, app.max_body_bytes, SCHEDULE_EXAMPLE)?;
    if dry_run {
        return dry_run_answer(&app, None, spec).await;
    }
    let schedule = app
        .http
        .registry
        .create_schedule(spec)
        .await
        .map_err(schedule_error)?;
    tracing::info!(schedule_id = schedule.id, name = %schedule.name, "schedule created over the admin API");
    Ok(created(format!("/v1/schedules/{}", schedule.id), schedule))
}

/// `GET /v1/schedules?include_windows=true|false`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScheduleList>, Problem> {
    let q = params::query(raw.as_deref(), &["include_windows"])?;
    let include_windows = match q.get("include_windows").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Problem::bad_field(
                "include_windows",
                "`include_windows` must be true or false",
            ));
        }
    };
    let schedules = app.http.store.schedules(include_windows).await?;
    Ok(Json(ScheduleList { schedules }))
}

/// `GET /v1/schedules/{key}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ScheduleDetail>, Problem> {
    show_key(app, path_key(path)?).await
}

async fn show_key(app: AppState, key: String) -> Result<Json<ScheduleDetail>, Problem> {
    let registry = &app.http.registry;
    let schedule = registry.schedule(&key).await.map_err(schedule_error)?;
    let next_fire_times = if schedule.enabled {
        registry
            .preview_schedule(&schedule.id.to_string(), SHOW_FIRE_TIMES)
            .await
            .map_err(schedule_error)?
            .into_iter()
            .map(FireTimeView::from)
            .collect()
    } else {
        Vec::new()
    };
    let recent_firings = app.http.store.firings(schedule.id, SHOW_FIRINGS).await?;
    Ok(Json(ScheduleDetail {
        schedule,
        next_fire_times,
        recent_firings,
    }))
}

/// `PUT /v1/schedules/{key}?dry_run=true|false`: a full replace.
pub(super) async fn update(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    update_key(app, path_key(path)?, raw, headers, body).await
}

async fn update_key(
    app: AppState,
    key: String,
    raw: Option<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let spec: ScheduleSpec = json_body(&headers, body, app.max_body_bytes, SCHEDULE_EXAMPLE)?;
    if dry_run {
        return dry_run_answer(&app, Some(&key), spec).await;
    }
    let schedule = app
        .http
        .registry
        .update_schedule(&key, spec)
        .await
        .map_err(schedule_error)?;
    tracing::info!(schedule_id = schedule.id, name = %schedule.name, "schedule replaced over the admin API");
    Ok(Json(schedule).into_response())
}

/// A create (`key` `None`) or replace of the schedule at `key`, not made:
/// 200 + [`ScheduleDryRun`](super::ScheduleDryRun).
async fn dry_run_answer(
    app: &AppState,
    key: Option<&str>,
    spec: ScheduleSpec,
) -> Result<Response, Problem> {
    let plan = app
        .http
        .registry
        .dry_run_schedule(key, spec)
        .await
        .map_err(schedule_error)?;
    let answer = super::dry_run::ScheduleDryRun {
        dry_run: true,
        schedule: super::dry_run::unsaved(&plan.schedule, key.is_none()),
        next_fire_times: plan
            .next_fire_times
            .into_iter()
            .map(FireTimeView::from)
            .collect(),
    };
    Ok(Json(answer).into_response())
}

/// `POST /v1/schedules/{key}/pause`.
pub(super) async fn pause(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Schedule>, Problem> {
    set_enabled(app, path_key(path)?, false).await
}

/// `POST /v1/schedules/{key}/resume`.
pub(super) async fn resume(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Schedule>, Problem> {
    set_enabled(app, path_key(path)?, true).await
}

async fn set_enabled(app: AppState, key: String, enabled: bool) -> Result<Json<Schedule>, Problem> {
    let schedule = app
        .http
        .registry
        .set_enabled(&key, enabled)
        .await
        .map_err(schedule_error)?;
    tracing::info!(
        schedule_id = schedule.id,
        enabled,
        "schedule paused or resumed over the admin API"
    );
    Ok(Json(schedule))
}

/// `DELETE /v1/schedules/{key}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    delete_key(app, path_key(path)?).await
}

async fn delete_key(app: AppState, key: String) -> Result<StatusCode, Problem> {
    app.http
        .registry
        .delete_schedule(&key)
        .await
        .map_err(schedule_error)?;
    tracing::info!(key = %key, "schedule deleted over the admin API");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/schedules/{key}/preview?count=N`.
pub(super) async fn preview(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<FireTimes>, Problem> {
    let key = path_key(path)?;
    let count = count_param(raw.as_deref())?;
    let times = app
        .http
        .registry
        .preview_schedule(&key, count)
        .await
        .map_err(schedule_error)?;
    Ok(Json(fire_times(times)))
}

/// `POST /v1/schedules/preview`: an expression's next fire times.
pub(super) async fn preview_expression(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FireTimes>, Problem> {
    let request: PreviewRequest = json_body(&headers, body, app.max_body_bytes, PREVIEW_EXAMPLE)?;
    let count = match request.count {
        None => DEFAULT_PREVIEW,
        Some(n) if (1..=MAX_PREVIEW as u32).contains(&n) => n as usize,
        Some(_) => {
            return Err(schedule_error(
                SpecError::new("count", format!("must be between 1 and {MAX_PREVIEW}")).into(),
            ));
        }
    };
    let times = app
        .http
        .registry
        .preview_expression(&request.cron, request.timezone.as_deref(), count)
        .map_err(schedule_error)?;
    Ok(Json(fire_times(times)))
}

// `/v1/schedules/preview` is the expression preview (POST); the other
// methods on that path reach a schedule named `preview`.

/// `GET /v1/schedules/preview`: the schedule named `preview`.
pub(super) async fn show_named_preview(
    State(app): State<AppState>,
) -> Result<Json<ScheduleDetail>, Problem> {
    show_key(app, "preview".into()).await
}

/// `PUT /v1/schedules/preview`: the schedule named `preview`.
pub(super) async fn update_named_preview(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    update_key(app, "preview".into(), raw, headers, body).await
}

/// `DELETE /v1/schedules/preview`: the schedule named `preview`.
pub(super) async fn delete_named_preview(
    State(app): State<AppState>,
) -> Result<StatusCode, Problem> {
    delete_key(app, "preview".into()).await
}

fn fire_times(times: Vec<FireTime>) -> FireTimes {
    FireTimes {
        fire_times: times.into_iter().map(FireTimeView::from).collect(),
    }
}

pub(super) fn schedule_error(e: RegistryError) -> Problem {
    registry_error(e, INVALID_SCHEDULE)
}

// ---- helpers shared with the window and report routes ----

/// A registry error as an API error; `invalid` is the code of a 422.
pub(super) fn registry_error(e: RegistryError, invalid: &'static str) -> Problem {
    match e {
        RegistryError::Invalid(spec) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, invalid, spec.message)
                .with_field(spec.field)
        }
        RegistryError::NotFound { what, key } => {
            let field = if what == "override" { "id" } else { "key" };
            let message = if key.bytes().all(|b| b.is_ascii_digit()) {
                format!("there is no {what} with id {key}")
            } else {
                format!("there is no {what} named `{key}`")
            };
            Problem::not_found(message).with_field(field)
        }
        RegistryError::NameTaken(name) => Problem::conflict(format!(
            "the name `{name}` is taken by another schedule or window"
        ))
        .with_field("name"),
        RegistryError::Conflict(message) => Problem::conflict(message),
        RegistryError::Store(e) => e.into(),
    }
}

/// A 201 with the created resource and its `Location`.
pub(super) fn created<T: Serialize>(location: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The `{key}` of a path: an id (a positive number, written plainly) or a
/// name (1 to 128 bytes without control characters). Anything else is a
/// 400 naming `key`.
pub(super) fn path_key(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Path(raw) = path.map_err(|e| Problem::bad_field("key", e.body_text()))?;
    check_key(&raw)?;
    Ok(raw)
}

pub(super) fn check_key(raw: &str) -> Result<(), Problem> {
    let numeric = raw.parse::<i64>().is_ok();
    let ok = if numeric {
        positive_id(raw).is_some()
    } else {
        !raw.is_empty() && raw.chars().count() <= MAX_KEY && !raw.chars().any(char::is_control)
    };
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_field(
            "key",
            format!(
                "`{}` is neither an id (a positive whole number) nor a name (1 to {MAX_KEY} characters without control characters)",
                shorten(raw)
            ),
        ))
    }
}

/// `?count=N` of a preview: 1..=100, default 10; no other parameter.
pub(super) fn count_param(raw: Option<&str>) -> Result<usize, Problem> {
    let q = params::query(raw, &["count"])?;
    let Some(value) = q.get("count") else {
        return Ok(DEFAULT_PREVIEW);
    };
    positive_id(value)
        .filter(|n| *n <= MAX_PREVIEW as i64)
        .map(|n| n as usize)
        .ok_or_else(|| {
            Problem::bad_field(
                "count",
                format!("`count` must be a whole number from 1 to {MAX_PREVIEW}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Problem> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        json_body(&headers, Ok(Bytes::from(text.to_string())), 1024, "{}")
    }

    fn field(text: &str) -> Option<String> {
        let e = body::<ScheduleSpec>(text).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{text}");
        e.field
    }

    #[test]
    fn body_errors_name_the_field() {
        let ok = r#"{"name":"n","cron":"0 9 * * *","template":{"kind":"refresh"}}"#;
        body::<ScheduleSpec>(ok).unwrap();
        assert_eq!(
            field(r#"{"name":"n","cron":"0 9 * * *","template":{"kind":"refresh"},"colour":1}"#)
                .as_deref(),
            Some("colour")
        );
        assert_eq!(
            field(r#"{"name":"n","cron":"0 9 * * *","template":{"kind":"refresh","x":1}}"#)
                .as_deref(),
            Some("template.x")
        );
        assert_eq!(
            field(r#"{"name":"n","cron":"0 9 * * *"}"#).as_deref(),
            Some("template")
        );
        assert_eq!(
            field(r#"{"name":"n","cron":5,"template":{"kind":"refresh"}}"#).as_deref(),
            Some("cron")
        );
        assert_eq!(
            field(r#"{"name":"n","cron":"x","template":{"kind":"refresh"},"targets":{"machine_ids":"ps1"}}"#)
                .as_deref(),
            Some("targets.machine_ids")
        );
        assert_eq!(field("[1]"), None);
        assert_eq!(field(""), None);
        let wrong_type = json_body::<ScheduleSpec>(&HeaderMap::new(), Ok(Bytes::new()), 1, "{}");
        assert_eq!(
            wrong_type.unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn keys_are_ids_or_names() {
        for ok in [
            "1",
            "42",
            "nightly-stop",
            "a b",
            "window:office:start",
            "x.y",
        ] {
            check_key(ok).unwrap();
        }
        let long = "n".repeat(129);
        for bad in ["0", "-1", "+1", "007", "", "a\nb", &long] {
            assert_eq!(
                check_key(bad).unwrap_err().field.as_deref(),
                Some("key"),
                "{bad:?}"
            );
        }
        // Too large for an id, so a name (as the store reads it too).
        check_key("99999999999999999999").unwrap();
    }

    #[test]
    fn count_is_strict() {
        assert_eq!(count_param(None).unwrap(), 10);
        assert_eq!(count_param(Some("count=100")).unwrap(), 100);
        for bad in ["count=0", "count=101", "count=x", "count=-1", "count=01"] {
            assert_eq!(
                count_param(Some(bad)).unwrap_err().field.as_deref(),
                Some("count"),
                "{bad}"
            );
        }
        assert_eq!(
            count_param(Some("limit=1")).unwrap_err().field.as_deref(),
            Some("limit")
        );
    }

    #[test]
    fn details_round_trip() {
        let schedule: Schedule = serde_json::from_value(serde_json::json!({
            "id": 3, "name": "n", "cron": "0 9 * * *", "timezone": "UTC",
            "template": {"kind": "stop"}, "targets": {"machine_ids": ["ps1"]},
            "enabled": true, "jitter_seconds": 0,
            "exclusions": {"dates": [], "calendars": []},
            "misfire": "run_once", "catch_up_seconds": 900, "overlap": "skip",
            "window_id": null, "window_edge": null,
            "next_fire_at": "2026-03-03T09:00:00Z",
            "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z"
        }))
        .unwrap();
        let detail = ScheduleDetail {
            schedule,
            next_fire_times: vec![FireTimeView {
                utc: "2026-03-03T09:00:00Z".parse().unwrap(),
                local: "2026-03-03T09:00:00+00:00".into(),
                edge: None,
            }],
            recent_firings: vec![],
        };
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["id"], 3);
        assert!(json["next_fire_times"][0].get("edge").is_none());
        let back: ScheduleDetail = serde_json::from_value(json).unwrap();
        assert_eq!(back, detail);
    }
}
