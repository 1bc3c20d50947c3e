//! A window's page: office hours for a set of machines, their next edges,
//! and the per-machine overrides that bend them.
//!
//! - `GET /ui/windows/{key}`: the window's fields, whether it is open now,
//!   its next openings and closings, its edge schedules (whose pages list
//!   their firings and jobs), and every override, in force or expired,
//!   with its expiry and reason.
//! - `POST /ui/windows/{key}/pause|resume`: as `POST /v1/windows/{key}/pause|resume`.
//! - `POST /ui/windows/{key}/overrides`: the "add override" form, as
//!   `POST /v1/windows/{key}/overrides`; a refused one comes back on the
//!   window's page with the error beside the form and what was typed.
//! - `POST /ui/windows/{key}/overrides/{id}/delete`: as
//!   `DELETE /v1/windows/{key}/overrides/{id}` (a form cannot send DELETE).
//!
//! The list of windows is on the schedules page ([`super::schedules`]).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{UiError, UiResult};
use super::page::{self, NoticeQuery};
use super::schedules::{
    BackQuery, at_zone, enabled_state, exclusions_text, key, machine, machine_names, pause_button,
    shell, targets, zone,
};
use super::session::Session;
use super::{Act, AppState, NoFields, done};
use crate::http::windows;
use crate::http::windows::SHOW_EDGES;
use crate::job::SpecError;
use crate::schedule::spec::WindowEdge;
use crate::schedule::timing::resolve_local;
use crate::schedule::window::{OverrideMode, OverrideRequest, Window};
use crate::scheduler::registry::RegistryError;

/// The window pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/windows", get(to_list))
        .route("/ui/windows/{key}", get(detail))
        .route("/ui/windows/{key}/pause", post(pause))
        .route("/ui/windows/{key}/resume", post(resume))
        .route("/ui/windows/{key}/overrides", post(add_override))
        .route(
            "/ui/windows/{key}/overrides/{id}/delete",
            post(delete_override),
        )
}

/// `GET /ui/windows`: the windows are listed with the schedules.
async fn to_list() -> axum::response::Redirect {
    axum::response::Redirect::to("/ui/schedules#windows")
}

/// `mon–fri 09:00–18:00`: a window's days and hours.
pub(super) fn hours_text(w: &Window) -> String {
    let days: Vec<String> = w.hours.days.iter().map(ToString::to_string).collect();
    format!(
        "{} {}–{}",
        days.join(", "),
        w.hours.start.format("%H:%M"),
        w.hours.end.format("%H:%M")
    )
}

/// An edge in words: what the window does at it.
pub(super) fn edge_word(edge: Option<WindowEdge>) -> &'static str {
    match edge {
        Some(WindowEdge::Start) => "opens (start)",
        Some(WindowEdge::Stop) => "closes (stop)",
        None => "fires",
    }
}

/// A refused window read or write, as the API refuses it.
fn window_error(e: RegistryError) -> UiError {
    UiError::Problem(windows::window_error(e))
}

/// The "add override" form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct OverrideForm {
    /// `keep_on` or `keep_off`.
    mode: String,
    /// The machine it applies to.
    machine_id: String,
    /// Hours from now it lasts; or give `until`.
    hours: String,
    /// When it ends: a local time in the window's zone
    /// (`2026-03-02T20:00`) or an RFC 3339 instant.
    until: String,
    /// Why, for the people reading the list.
    reason: String,
    /// Present when a machine the daemon has not listed is accepted.
    allow_unknown: Option<String>,
}

impl OverrideForm {
    /// The request the form stands for; `zone` reads a local `until`.
    fn to_request(&self, zone: Tz) -> Result<OverrideRequest, SpecError> {
        let mode = OverrideMode::parse(self.mode.trim())
            .ok_or_else(|| SpecError::new("mode", "keep_on or keep_off"))?;
        let hours = match self.hours.trim() {
            "" => None,
            text => Some(
                text.parse::<f64>()
                    .map_err(|_| SpecError::new("hours", "a number of hours, e.g. 3 or 1.5"))?,
            ),
        };
        let until = match self.until.trim() {
            "" => None,
            text => Some(parse_until(text, zone).ok_or_else(|| {
                SpecError::new(
                    "until",
                    "a time such as 2026-03-02T20:00 (in the window's zone) or an RFC 3339 instant",
                )
            })?),
        };
        let reason = self.reason.trim();
        Ok(OverrideRequest {
            machine_id: self.machine_id.trim().to_string(),
            mode,
            until,
            hours,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            allow_unknown: self.allow_unknown.is_some(),
        })
    }
}

/// An instant typed as RFC 3339, or as a wall time in `zone` (what a
/// `datetime-local` input sends).
fn parse_until(text: &str, zone: Tz) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|local| resolve_local(zone, local))
}

/// `GET /ui/windows/{key}`.
async fn detail(
    State(app): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    key(&raw)?;
    let notice = page::notice(&app.ui, &notice);
    window_page(&app, &session, &raw, notice.as_deref(), None).await
}

/// A window's page; `refused` is an override form that was not added,
/// with why.
async fn window_page(
    app: &AppState,
    session: &Session,
    raw: &str,
    notice: Option<&str>,
    refused: Option<(&OverrideForm, &SpecError)>,
) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let registry = &app.http.registry;
    let store = &app.http.store;
    let w = registry.window(raw).await.map_err(window_error)?;
    let names = machine_names(app).await?;
    let tz = zone(&w.hours.zone);
    let valid = w.hours.validate().ok();
    let next = match (&valid, w.enabled) {
        (Some(valid), true) => registry.edges(&w, valid, SHOW_EDGES),
        _ => Vec::new(),
    };
    let open = valid
        .as_ref()
        .is_some_and(|v| v.is_open(now, &w.exclusions, &registry.context().calendars));
    let overrides = store.overrides(w.id, None).await?;
    let edges = store.window_schedules(w.id).await?;
    let here = format!("/ui/windows/{}", w.id);
    // The machines to pick from, by name.
    let mut known: Vec<(&String, &String)> = names.iter().collect();
    known.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    let blank = OverrideForm {
        mode: "keep_on".to_string(),
        hours: "3".to_string(),
        ..OverrideForm::default()
    };
    let (form, error) = match refused {
        Some((form, error)) => (form, Some(error)),
        None => (&blank, None),
    };
    let body = html! {
        p { a href="/ui/schedules#windows" { "← Schedules" } }
        h1 { "Window " (w.name) }
        div.actions { (pause_button(session, &here, w.enabled, &here)) }
        dl.fields {
            dt { "State" } dd { (enabled_state(w.enabled)) " "
                @if !w.enabled { span.muted { "(neither opens nor closes)" } }
                @else if open { "open now" } @else { "closed now" } }
            dt { "Open" } dd { (hours_text(&w)) " in " (w.hours.zone) }
            dt { "For" } dd { (targets(&w.targets, &names)) }
            dt { "Enforced" } dd {
                @if w.enforce { "yes: a machine found running while closed is stopped (looks every " (w.enforce_interval_seconds) " s)" }
                @else { "no: only the edges start and stop" } }
            dt { "Not on" } dd { (exclusions_text(&w.exclusions)) }
            dt { "Edges" } dd {
                @for (i, s) in edges.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/ui/schedules/" (s.id) } { (s.name) }
                }
                " " span.muted { "(their pages list what they did)" }
            }
            dt { "Changed" } dd { (page::when(w.updated_at, now)) }
        }
        h2 { "Next edges" }
        @if !w.enabled { p.muted { "Paused." } }
        @else if next.is_empty() { p.muted { "None ahead." } }
        @else {
            ol.firings #edges { @for t in &next { li { (edge_word(t.edge)) " " (at_zone(t.utc, tz)) } } }
        }
        h2 #overrides-heading { "Overrides" }
        @if overrides.is_empty() {
            p.muted { "No overrides." }
        } @else {
            div.scroll {
                table #overrides aria-labelledby="overrides-heading" {
                    thead { tr { th { "Machine" } th { "Keeps it" } th { "Until" } th { "State" } th { "Reason" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for o in &overrides {
                            tr data-override=(o.id) {
                                td { (machine(&o.machine_id, &names)) }
                                td { @match o.mode { OverrideMode::KeepOn => "on", OverrideMode::KeepOff => "off" } }
                                td { (at_zone(o.until, tz)) }
                                td { (page::state(if o.is_active(now) { "active" } else { "expired" })) }
                                td { (o.reason.as_deref().unwrap_or("")) }
                                td { (page::button_form(session, &format!("{here}/overrides/{}/delete", o.id), "Delete", Some("Delete this override?"), "secondary")) }
                            }
                        }
                    }
                }
            }
        }
        h2 #add-override { "Add an override" }
        @if let Some(e) = error {
            p.error role="alert" { strong { "Not added. " } code { (e.field) } ": " (e.message) }
        }
        form.editor method="post" action={ (here) "/overrides" } {
            (page::csrf_field(session))
            label { "Keep the machine"
                select name="mode" {
                    option value="keep_on" selected[form.mode != "keep_off"] { "on (not stopped at closing)" }
                    option value="keep_off" selected[form.mode == "keep_off"] { "off (not started at opening)" }
                }
            }
            label { "Machine id"
                input name="machine_id" value=(form.machine_id) required list="override-machines";
                datalist #override-machines {
                    @for (id, name) in &known { option value=(id) { (name) } }
                }
            }
            label { "For hours" input name="hours" value=(form.hours) inputmode="decimal"; }
            label { "Or until (" (w.hours.zone) ")" input type="datetime-local" name="until" value=(form.until); }
            label { "Reason" input name="reason" value=(form.reason) maxlength="500"; }
            label.check { input type="checkbox" name="allow_unknown" checked[form.allow_unknown.is_some()]; "Accept a machine the daemon has not listed yet" }
            div.actions {
                @if session.may_act() { button type="submit" { "Add override" } }
                @else { button type="submit" disabled title="The viewer token may look, not act" { "Add override" } }
            }
        }
    };
    Ok(shell(&format!("Window {}", w.name), session, notice, body))
}

/// `POST /ui/windows/{key}/pause`.
async fn pause(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(back): Query<BackQuery>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    set_enabled(app, raw, back, false).await
}

/// `POST /ui/windows/{key}/resume`.
async fn resume(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(back): Query<BackQuery>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    set_enabled(app, raw, back, true).await
}

/// What `POST /v1/windows/{key}/pause|resume` does, then back to the page.
async fn set_enabled(
    app: AppState,
    raw: String,
    back: BackQuery,
    enabled: bool,
) -> UiResult<Response> {
    key(&raw)?;
    let w = app
        .http
        .registry
        .set_window_enabled(&raw, enabled)
        .await
        .map_err(window_error)?;
    tracing::info!(
        window_id = w.id,
        enabled,
        "window paused or resumed on the dashboard"
    );
    let to = super::back_to(back.back(), "/ui/schedules");
    let word = if enabled { "resumed" } else { "paused" };
    Ok(done(&app, &to, &format!("Window {} {word}.", w.name)))
}

/// `POST /ui/windows/{key}/overrides`.
async fn add_override(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Act { session, form }: Act<OverrideForm>,
) -> UiResult<Response> {
    key(&raw)?;
    let registry = &app.http.registry;
    let w = registry.window(&raw).await.map_err(window_error)?;
    let added = match form.to_request(zone(&w.hours.zone)) {
        Ok(request) => registry.add_override(&w.id.to_string(), request).await,
        Err(e) => Err(RegistryError::Invalid(e)),
    };
    let error = match added {
        Ok(o) => {
            tracing::info!(
                window_id = w.id,
                override_id = o.id,
                machine_id = %o.machine_id,
                mode = o.mode.as_str(),
                "window override added on the dashboard"
            );
            let until = o
                .until
                .with_timezone(&zone(&w.hours.zone))
                .format("%a %Y-%m-%d %H:%M %Z");
            let keeps = match o.mode {
                OverrideMode::KeepOn => "on",
                OverrideMode::KeepOff => "off",
            };
            return Ok(done(
                &app,
                &format!("/ui/windows/{}", w.id),
                &format!("{} is kept {keeps} until {until}.", o.machine_id),
            ));
        }
        Err(RegistryError::Invalid(e)) => e,
        Err(other) => return Err(UiError::Problem(windows::override_error(other))),
    };
    let page = window_page(
        &app,
        &session,
        &w.id.to_string(),
        None,
        Some((&form, &error)),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// `POST /ui/windows/{key}/overrides/{id}/delete`.
async fn delete_override(
    State(app): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    key(&raw)?;
    let id: i64 = id
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| UiError::bad_input("an override id is a positive whole number"))?;
    let registry = &app.http.registry;
    let w = registry.window(&raw).await.map_err(window_error)?;
    registry
        .delete_override(&w.id.to_string(), id)
        .await
        .map_err(|e| UiError::Problem(windows::override_error(e)))?;
    tracing::info!(
        window_id = w.id,
        override_id = id,
        "window override deleted on the dashboard"
    );
    Ok(done(
        &app,
        &format!("/ui/windows/{}", w.id),
        &format!("Override {id} deleted."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_local_or_rfc3339() {
        let tz: Tz = "Europe/Amsterdam".parse().unwrap();
        assert_eq!(
            parse_until("2026-03-02T20:00", tz).unwrap().to_rfc3339(),
            "2026-03-02T19:00:00+00:00"
        );
        assert_eq!(
            parse_until("2026-03-02T20:00:00Z", tz)
                .unwrap()
                .to_rfc3339(),
            "2026-03-02T20:00:00+00:00"
        );
        assert!(parse_until("tonight", tz).is_none());
    }
}
