//! The window routes: office hours (create, list, show, replace, pause,
//! resume, delete, preview) and their per-machine overrides.
//!
//! A `{key}` is a window's id or name. A window's two derived schedules
//! (`window:<name>:start|stop`) follow it: they are replaced, paused and
//! deleted with it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params::{self, json_body};
use super::schedules::{
    FireTimeView, FireTimes, SHOW_FIRINGS, check_key, count_param, created, path_key,
    registry_error,
};
use crate::schedule::firing::Firing;
use crate::schedule::spec::WindowEdge;
use crate::schedule::window::{Override, OverrideRequest, Window, WindowRequest};
use crate::scheduler::registry::RegistryError;

/// Edges in `GET /v1/windows/{key}`: three openings and closings.
pub(super) const SHOW_EDGES: usize = 6;

const INVALID_WINDOW: &str = "invalid_window";
const INVALID_OVERRIDE: &str = "invalid_override";

const WINDOW_EXAMPLE: &str = r#"{"name":"office","hours":{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"18:00","zone":"Europe/Amsterdam"},"targets":{"machine_ids":["ps123"]}}"#;
const OVERRIDE_EXAMPLE: &str =
    r#"{"machine_id":"ps123","mode":"keep_on","hours":3,"reason":"training run"}"#;

/// `GET /v1/windows`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowList {
    /// By name.
    pub windows: Vec<Window>,
}

/// An override with whether it is still in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideView {
    /// The override's own fields, flattened beside `active`.
    #[serde(flatten)]
    pub rule: Override,
    /// True until `until` passes.
    pub active: bool,
}

impl OverrideView {
    /// `rule` as the API shows it at `now`.
    fn at(rule: Override, now: DateTime<Utc>) -> Self {
        OverrideView {
            active: rule.is_active(now),
            rule,
        }
    }

    /// Each of `rules` as the API shows it at `now`.
    fn all(rules: Vec<Override>, now: DateTime<Utc>) -> Vec<Self> {
        rules.into_iter().map(|rule| Self::at(rule, now)).collect()
    }
}

/// `GET /v1/windows/{key}/overrides`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideList {
    /// Oldest first, expired ones included.
    pub overrides: Vec<OverrideView>,
}

/// A firing of one of a window's edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeFiring {
    /// The firing's own fields, flattened beside `edge`.
    #[serde(flatten)]
    pub firing: Firing,
    /// Which edge's schedule fired.
    pub edge: Option<WindowEdge>,
}

/// `GET /v1/windows/{key}`: the window's fields with its next edges, its
/// active overrides and its edges' recent firings beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowDetail {
    /// The window's own fields, flattened beside its edges, overrides and firings.
    #[serde(flatten)]
    pub window: Window,
    /// The next 6 openings and closings; empty while the window is paused.
    pub next_edges: Vec<FireTimeView>,
    /// Overrides in force now.
    pub overrides: Vec<OverrideView>,
    /// The last 50 firings of both edges, newest first.
    pub recent_firings: Vec<EdgeFiring>,
}

pub(super) fn window_error(e: RegistryError) -> Problem {
    registry_error(e, INVALID_WINDOW)
}

pub(super) fn override_error(e: RegistryError) -> Problem {
    registry_error(e, INVALID_OVERRIDE)
}

/// `POST /v1/windows?dry_run=true|false`.
pub(super) async fn create(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let request: WindowRequest = json_body(&headers, body, app.max_body_bytes, WINDOW_EXAMPLE)?;
    if dry_run {
        return dry_run_answer(&app, None, request).await;
    }
    let window = app
        .http
        .registry
        .create_window(request)
        .await
        .map_err(window_error)?;
    tracing::info!(window_id = window.id, name = %window.name, "window created over the admin API");
    Ok(created(format!("/v1/windows/{}", window.id), window))
}

/// `GET /v1/windows`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<WindowList>, Problem> {
    super::params::query(raw.as_deref(), &[])?;
    let windows = app.http.store.windows().await?;
    Ok(Json(WindowList { windows }))
}

/// `GET /v1/windows/{key}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<WindowDetail>, Problem> {
    let key = path_key(path)?;
    let registry = &app.http.registry;
    let store = &app.http.store;
    let window = registry.window(&key).await.map_err(window_error)?;
    let id = window.id.to_string();
    let next_edges = if window.enabled {
        registry
            .preview_window(&id, SHOW_EDGES)
            .await
            .map_err(window_error)?
            .into_iter()
            .map(FireTimeView::from)
            .collect()
    } else {
        Vec::new()
    };
    let now = app.http.clock.now();
    let overrides = OverrideView::all(store.overrides(window.id, Some(now)).await?, now);
    let mut recent_firings = Vec::new();
    for schedule in store.window_schedules(window.id).await? {
        let firings = store.firings(schedule.id, SHOW_FIRINGS).await?;
        recent_firings.extend(firings.into_iter().map(|firing| EdgeFiring {
            firing,
            edge: schedule.window_edge,
        }));
    }
    recent_firings.sort_by(|a, b| {
        (b.firing.fire_at, b.firing.recorded_at).cmp(&(a.firing.fire_at, a.firing.recorded_at))
    });
    recent_firings.truncate(SHOW_FIRINGS as usize);
    Ok(Json(WindowDetail {
        window,
        next_edges,
        overrides,
        recent_firings,
    }))
}

/// `PUT /v1/windows/{key}?dry_run=true|false`: a full replace.
pub(super) async fn update(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let key = path_key(path)?;
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let request: WindowRequest = json_body(&headers, body, app.max_body_bytes, WINDOW_EXAMPLE)?;
    if dry_run {
        return dry_run_answer(&app, Some(&key), request).await;
    }
    let window = app
        .http
        .registry
        .update_window(&key, request)
        .await
        .map_err(window_error)?;
    tracing::info!(window_id = window.id, name = %window.name, "window replaced over the admin API");
    Ok(Json(window).into_response())
}

/// A create (`key` `None`) or replace of the window at `key`, not made:
/// 200 + [`WindowDryRun`](super::WindowDryRun), with what enforcement
/// would stop now.
async fn dry_run_answer(
    app: &AppState,
    key: Option<&str>,
    request: WindowRequest,
) -> Result<Response, Problem> {
    let plan = app
        .http
        .registry
        .dry_run_window(key, request)
        .await
        .map_err(window_error)?;
    let answer = super::dry_run::WindowDryRun {
        dry_run: true,
        window: super::dry_run::unsaved(&plan.window, key.is_none()),
        next_edges: plan
            .next_edges
            .into_iter()
            .map(FireTimeView::from)
            .collect(),
        would_stop: plan.would_stop,
    };
    Ok(Json(answer).into_response())
}

/// `POST /v1/windows/{key}/pause`.
pub(super) async fn pause(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Window>, Problem> {
    set_enabled(app, path_key(path)?, false).await
}

/// `POST /v1/windows/{key}/resume`.
pub(super) async fn resume(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Window>, Problem> {
    set_enabled(app, path_key(path)?, true).await
}

async fn set_enabled(app: AppState, key: String, enabled: bool) -> Result<Json<Window>, Problem> {
    let window = app
        .http
        .registry
        .set_window_enabled(&key, enabled)
        .await
        .map_err(window_error)?;
    tracing::info!(
        window_id = window.id,
        enabled,
        "window paused or resumed over the admin API"
    );
    Ok(Json(window))
}

/// `DELETE /v1/windows/{key}`.
pub(super) async fn delete(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let key = path_key(path)?;
    app.http
        .registry
        .delete_window(&key)
        .await
        .map_err(window_error)?;
    tracing::info!(key = %key, "window deleted over the admin API");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/windows/{key}/preview?count=N`.
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
        .preview_window(&key, count)
        .await
        .map_err(window_error)?;
    Ok(Json(FireTimes {
        fire_times: times.into_iter().map(FireTimeView::from).collect(),
    }))
}

/// `GET /v1/windows/{key}/overrides`: all of them, expired ones too.
pub(super) async fn overrides(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<OverrideList>, Problem> {
    let key = path_key(path)?;
    let window = app.http.registry.window(&key).await.map_err(window_error)?;
    let now = app.http.clock.now();
    let overrides = OverrideView::all(app.http.store.overrides(window.id, None).await?, now);
    Ok(Json(OverrideList { overrides }))
}

/// `POST /v1/windows/{key}/overrides?dry_run=true|false`.
pub(super) async fn add_override(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let key = path_key(path)?;
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let request: OverrideRequest = json_body(&headers, body, app.max_body_bytes, OVERRIDE_EXAMPLE)?;
    if dry_run {
        let rule = app
            .http
            .registry
            .dry_run_override(&key, request)
            .await
            .map_err(override_error)?;
        let view = OverrideView::at(rule, app.http.clock.now());
        let answer = super::dry_run::OverrideDryRun {
            dry_run: true,
            rule: super::dry_run::unsaved(&view, true),
        };
        return Ok(Json(answer).into_response());
    }
    let rule = app
        .http
        .registry
        .add_override(&key, request)
        .await
        .map_err(override_error)?;
    tracing::info!(
        window_id = rule.window_id,
        override_id = rule.id,
        machine_id = %rule.machine_id,
        mode = rule.mode.as_str(),
        "window override added over the admin API"
    );
    let view = OverrideView::at(rule, app.http.clock.now());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// `DELETE /v1/windows/{key}/overrides/{id}`.
pub(super) async fn delete_override(
    State(app): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let Path((key, id)) = path.map_err(|e| Problem::bad_request(e.body_text()))?;
    check_key(&key)?;
    let id = params::id("id", "override", &id)?;
    app.http
        .registry
        .delete_override(&key, id)
        .await
        .map_err(override_error)?;
    tracing::info!(key = %key, override_id = id, "window override deleted over the admin API");
    Ok(StatusCode::NO_CONTENT)
}
