//! The schedules pages: what will happen to which machine, and when.
//!
//! - `GET /ui/schedules`: every schedule (not a window's edges, which show
//!   under their window) with its next firings and its last one, then every
//!   window with its next edges and the overrides in force; a Pause or
//!   Resume button on each row.
//! - `GET /ui/schedules/{key}`: one schedule's fields, next 10 firings and
//!   recent firings, each linked to the job it queued.
//! - `GET /ui/schedules/new`, `GET /ui/schedules/{key}/edit`: the cron
//!   editor. "Preview" posts the form to `/ui/schedules/preview`, which
//!   answers the next firings and, for a start or stop schedule, the
//!   Ledger's cost forecast of next month (what `POST /v1/forecast` says):
//!   with htmx the preview alone replaces `#preview`; without JavaScript
//!   the whole form comes back with the preview under it. "Save" posts to
//!   `/ui/schedules` (create) or `/ui/schedules/{id}` (replace).
//! - `POST /ui/schedules/{key}/pause|resume`.
//!
//! Every write goes through the [`Registry`](crate::scheduler::registry)
//! call the API route of the same name makes, so the form gets the API's
//! validation and the API's messages: a refused save shows each error next
//! to its field, with what was typed kept, and stores nothing. Windows are
//! in [`super::windows`], the week view in [`super::week`].
//!
//! Times show in the schedule's own zone with UTC beside it, inside a
//! `<time data-local>` that `app.js` extends with the viewer's own zone.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{UiError, UiResult};
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;
use super::{Act, AppState, NoFields, done};
use crate::cost::{Forecast, ForecastError, Plan};
use crate::http::costs;
use crate::http::schedules::{self, DEFAULT_PREVIEW, check_key};
use crate::job::JobKind;
use crate::schedule::calendar::Exclusions;
use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, Schedule, ScheduleSpec};
use crate::schedule::target::{Selector, Targets};
use crate::schedule::template::JobTemplate;
use crate::scheduler::registry::RegistryError;

/// Next firings each row of the list shows.
const LIST_FIRINGS: usize = 3;
/// Next firings a schedule's page shows.
const DETAIL_FIRINGS: usize = 10;
/// Recent firings a schedule's page shows.
const RECENT_FIRINGS: u32 = 50;
/// Machine ids a targets cell names before "and N more".
const SHOWN_IDS: usize = 5;

/// The schedule pages' routes (windows and the week view have their own).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/schedules", get(list).post(create))
        .route("/ui/schedules/new", get(new_form))
        .route("/ui/schedules/preview", post(preview))
        .route("/ui/schedules/{key}", get(detail).post(update))
        .route("/ui/schedules/{key}/edit", get(edit_form))
        .route("/ui/schedules/{key}/pause", post(pause))
        .route("/ui/schedules/{key}/resume", post(resume))
}

// ---- pieces the windows and week pages share ----

/// Machine ids to the names the daemon last saw them by.
pub(super) type Names = HashMap<String, String>;

/// Every known machine's name, by id.
pub(super) async fn machine_names(app: &AppState) -> UiResult<Names> {
    Ok(app
        .http
        .store
        .machines()
        .await?
        .into_iter()
        .map(|k| (k.machine.id, k.machine.name))
        .collect())
}

/// A path's `{key}`: an id or a name, as the API takes it.
pub(super) fn key(raw: &str) -> UiResult<()> {
    check_key(raw).map_err(UiError::from)
}

/// An IANA zone by name; UTC if it is none (stored zones were checked).
pub(super) fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// An instant in `zone`, with UTC beside it unless that is the zone, in a
/// `<time data-local>` to which `app.js` adds the viewer's own zone.
pub(super) fn at_zone(at: DateTime<Utc>, zone: Tz) -> Markup {
    let local = at.with_timezone(&zone);
    html! {
        time datetime=(at.to_rfc3339()) data-local title=(at.format("%Y-%m-%d %H:%M:%S UTC")) {
            (local.format("%a %Y-%m-%d %H:%M %Z"))
            @if zone != chrono_tz::UTC {
                " " span.muted { "(" (at.format("%H:%M UTC")) ")" }
            }
        }
    }
}

/// One machine: its name when known, its id beside it.
pub(super) fn machine(id: &str, names: &Names) -> Markup {
    html! {
        @match names.get(id) {
            Some(name) if !name.is_empty() && name != id => { (name) " " span.muted { "(" (id) ")" } }
            _ => { code { (id) } }
        }
    }
}

/// What a selector asks of a machine, in words.
fn selector_text(s: &Selector) -> String {
    let mut parts = Vec::new();
    for (what, value) in [
        ("name", &s.name),
        ("region", &s.region),
        ("type", &s.machine_type),
        ("state", &s.state),
    ] {
        if let Some(v) = value {
            parts.push(format!("{what} {v}"));
        }
    }
    if parts.is_empty() {
        "every machine".to_string()
    } else {
        parts.join(", ")
    }
}

/// The machines a schedule or window acts on.
pub(super) fn targets(t: &Targets, names: &Names) -> Markup {
    html! {
        @if let Some(group) = &t.group {
            "group " code { (group) }
        } @else if let Some(selector) = &t.selector {
            "machines with " (selector_text(selector))
        } @else if t.machine_ids.is_empty() {
            span.muted { "no machine" }
        } @else {
            @for (i, id) in t.machine_ids.iter().take(SHOWN_IDS).enumerate() {
                @if i > 0 { ", " }
                (machine(id, names))
            }
            @if t.machine_ids.len() > SHOWN_IDS {
                " and " (t.machine_ids.len() - SHOWN_IDS) " more"
            }
        }
    }
}

/// Active or paused, as a badge.
pub(super) fn enabled_state(enabled: bool) -> Markup {
    page::state(if enabled { "active" } else { "paused" })
}

/// The `?back=` an action returns to: the page it was pressed on.
#[derive(Debug, Default, Deserialize)]
pub(super) struct BackQuery {
    /// A dashboard path; anything else falls back to the list.
    back: Option<String>,
}

impl BackQuery {
    /// The path asked for, if any (checked by [`super::back_to`]).
    pub(super) fn back(&self) -> Option<&str> {
        self.back.as_deref()
    }
}

/// A Pause or Resume button for `base` (`/ui/schedules/{id}` or
/// `/ui/windows/{id}`) that returns to `back`.
pub(super) fn pause_button(session: &Session, base: &str, enabled: bool, back: &str) -> Markup {
    let back = page::urlencode(back);
    if enabled {
        page::button_form(
            session,
            &format!("{base}/pause?back={back}"),
            "Pause",
            None,
            "secondary",
        )
    } else {
        page::button_form(
            session,
            &format!("{base}/resume?back={back}"),
            "Resume",
            None,
            "",
        )
    }
}

/// The whole page of a dashboard view under Schedules.
pub(super) fn shell(title: &str, session: &Session, notice: Option<&str>, body: Markup) -> Markup {
    page::shell(title, session, Nav::Schedules, notice, body)
}

// ---- the list ----

/// `GET /ui/schedules`.
async fn list(
    State(app): State<AppState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let store = &app.http.store;
    let registry = &app.http.registry;
    let names = machine_names(&app).await?;
    let schedules = store.schedules(false).await?;
    let mut rows = Vec::with_capacity(schedules.len());
    for s in &schedules {
        let next = if s.enabled {
            registry
                .upcoming_in(s, None, LIST_FIRINGS)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let last = store.firings(s.id, 1).await?.into_iter().next();
        rows.push((s, next, last));
    }
    let windows = store.windows().await?;
    let mut window_rows = Vec::with_capacity(windows.len());
    for w in &windows {
        let next = match (w.enabled, w.hours.validate()) {
            (true, Ok(valid)) => registry.edges(w, &valid, 2),
            _ => Vec::new(),
        };
        let active = store.overrides(w.id, Some(now)).await?.len();
        window_rows.push((w, next, active));
    }
    let body = html! {
        h1 { "Schedules" }
        p.actions {
            a.button href="/ui/schedules/new" { "New schedule" }
            a.button.secondary href="/ui/schedules/week" { "The week ahead" }
        }
        h2 #schedules-heading { "Schedules" }
        @if schedules.is_empty() {
            p.muted { "No schedules yet." }
        } @else {
            div.scroll {
                table #schedules aria-labelledby="schedules-heading" {
                    thead { tr {
                        th { "Name" } th { "When" } th { "Does" } th { "To" } th { "State" }
                        th { "Next" } th.hide-phone { "Last fired" } th { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for (s, next, last) in &rows {
                            @let tz = zone(&s.timezone);
                            tr data-schedule=(s.name) {
                                td { a href={ "/ui/schedules/" (s.id) } { (s.name) } }
                                td { code { (s.cron) } br; span.muted { (s.timezone) } }
                                td { (s.template.kind) }
                                td { (targets(&s.targets, &names)) }
                                td { (enabled_state(s.enabled)) }
                                td {
                                    @if !s.enabled { span.muted { "paused" } }
                                    @else if next.is_empty() { span.muted { "never" } }
                                    @for t in next { (at_zone(t.utc, tz)) br; }
                                }
                                td.hide-phone {
                                    @match last {
                                        Some(f) => { (page::when(f.fire_at, now)) br; (page::state(f.outcome.as_str())) }
                                        None => { span.muted { "never" } }
                                    }
                                }
                                td { (pause_button(&session, &format!("/ui/schedules/{}", s.id), s.enabled, "/ui/schedules")) }
                            }
                        }
                    }
                }
            }
        }
        h2 #windows-heading { "Windows" }
        @if windows.is_empty() {
            p.muted { "No windows. Office hours are made with " code { "machinist windows add" } " or " code { "POST /v1/windows" } "." }
        } @else {
            div.scroll {
                table #windows aria-labelledby="windows-heading" {
                    thead { tr {
                        th { "Name" } th { "Open" } th { "For" } th { "Enforced" } th { "State" }
                        th { "Next" } th { "Overrides" } th { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for (w, next, active) in &window_rows {
                            @let tz = zone(&w.hours.zone);
                            tr data-window=(w.name) {
                                td { a href={ "/ui/windows/" (w.id) } { (w.name) } }
                                td { (super::windows::hours_text(w)) br; span.muted { (w.hours.zone) } }
                                td { (targets(&w.targets, &names)) }
                                td { @if w.enforce { "every " (w.enforce_interval_seconds) " s" } @else { span.muted { "no" } } }
                                td { (enabled_state(w.enabled)) }
                                td {
                                    @if !w.enabled { span.muted { "paused" } }
                                    @for t in next {
                                        (super::windows::edge_word(t.edge)) " " (at_zone(t.utc, tz)) br;
                                    }
                                }
                                td.num { (active) }
                                td { (pause_button(&session, &format!("/ui/windows/{}", w.id), w.enabled, "/ui/schedules")) }
                            }
                        }
                    }
                }
            }
        }
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(shell("Schedules", &session, notice.as_deref(), body))
}

// ---- one schedule ----

/// `GET /ui/schedules/{key}`.
async fn detail(
    State(app): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    key(&raw)?;
    let now = app.http.clock.now();
    let registry = &app.http.registry;
    let s = registry.schedule(&raw).await.map_err(schedule_error)?;
    let names = machine_names(&app).await?;
    let tz = zone(&s.timezone);
    let next = if s.enabled {
        registry
            .preview_schedule(&s.id.to_string(), DETAIL_FIRINGS)
            .await
            .map_err(schedule_error)?
    } else {
        Vec::new()
    };
    let firings = app.http.store.firings(s.id, RECENT_FIRINGS).await?;
    let here = format!("/ui/schedules/{}", s.id);
    let body = html! {
        p { a href="/ui/schedules" { "← Schedules" } }
        h1 { "Schedule " (s.name) }
        div.actions {
            @if let Some(window) = s.window_id {
                p { "This is an edge of a window; pause, resume or change "
                    a href={ "/ui/windows/" (window) } { "the window" } "." }
            } @else {
                (pause_button(&session, &here, s.enabled, &here))
                a.button.secondary href={ (here) "/edit" } { "Edit" }
            }
        }
        dl.fields {
            dt { "State" } dd { (enabled_state(s.enabled)) }
            dt { "Cron" } dd { code { (s.cron) } " in " (s.timezone) }
            dt { "Does" } dd { (s.template.kind)
                @if !s.template.args.is_null() { " " code { (s.template.args.to_string()) } }
                @if let Some(wait) = &s.template.wait { ", waits for " (wait) }
            }
            dt { "To" } dd { (targets(&s.targets, &names)) }
            dt { "Jitter" } dd { (s.jitter_seconds) " s" }
            dt { "Not on" } dd { (exclusions_text(&s.exclusions)) }
            dt { "Missed firings" } dd { (s.misfire.as_str()) ", caught up within " (s.catch_up_seconds) " s" }
            dt { "Overlap" } dd { (s.overlap.as_str()) }
            dt { "Changed" } dd { (page::when(s.updated_at, now)) }
        }
        h2 { "Next firings" }
        @if !s.enabled { p.muted { "Paused: it does not fire until resumed." } }
        @else if next.is_empty() { p.muted { "It does not fire again." } }
        @else {
            ol.firings { @for t in &next { li { (at_zone(t.utc, tz)) } } }
        }
        h2 { "Recent firings" }
        @if firings.is_empty() {
            p.muted { "It has not fired yet." }
        } @else {
            div.scroll {
                table #firings {
                    thead { tr { th { "Due" } th { "Target" } th { "Outcome" } th { "Job" } th { "Note" } } }
                    tbody {
                        @for f in &firings {
                            tr {
                                td { (at_zone(f.fire_at, tz)) }
                                td { @match f.target.as_str() {
                                    "*" => { span.muted { "the whole firing" } }
                                    "-" => { span.muted { "—" } }
                                    id => { (machine(id, &names)) }
                                } }
                                td { (page::state(f.outcome.as_str())) }
                                td { @if let Some(job) = f.job_id { a href={ "/ui/jobs/" (job) } { "job " (job) } } @else { "—" } }
                                td { (f.reason.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(shell(
        &format!("Schedule {}", s.name),
        &session,
        notice.as_deref(),
        body,
    ))
}

/// The dates and calendars a schedule or window does not fire on.
pub(super) fn exclusions_text(e: &Exclusions) -> Markup {
    html! {
        @if e.dates.is_empty() && e.calendars.is_empty() { span.muted { "no exclusions" } }
        @for (i, d) in e.dates.iter().enumerate() { @if i > 0 { ", " } (d) }
        @if !e.calendars.is_empty() {
            @if !e.dates.is_empty() { "; " }
            "calendars " (e.calendars.join(", "))
        }
    }
}

/// `POST /ui/schedules/{key}/pause`.
async fn pause(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(back): Query<BackQuery>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    set_enabled(app, raw, back, false).await
}

/// `POST /ui/schedules/{key}/resume`.
async fn resume(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(back): Query<BackQuery>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    set_enabled(app, raw, back, true).await
}

/// What `POST /v1/schedules/{key}/pause|resume` does, then back to the page.
async fn set_enabled(
    app: AppState,
    raw: String,
    back: BackQuery,
    enabled: bool,
) -> UiResult<Response> {
    key(&raw)?;
    let s = app
        .http
        .registry
        .set_enabled(&raw, enabled)
        .await
        .map_err(schedule_error)?;
    tracing::info!(
        schedule_id = s.id,
        enabled,
        "schedule paused or resumed on the dashboard"
    );
    let to = super::back_to(back.back(), "/ui/schedules");
    let word = if enabled { "resumed" } else { "paused" };
    Ok(done(&app, &to, &format!("Schedule {} {word}.", s.name)))
}

fn schedule_error(e: RegistryError) -> UiError {
    UiError::Problem(schedules::schedule_error(e))
}

// ---- the cron editor ----

/// The editor's fields, as typed: every one kept as text so that a refused
/// form comes back as the user left it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ScheduleForm {
    /// The id of the schedule being edited; empty for a new one.
    id: String,
    /// The schedule's name.
    name: String,
    /// The cron expression.
    cron: String,
    /// The IANA zone; empty for the daemon's default.
    timezone: String,
    /// The job kind of the template.
    kind: String,
    /// The template's arguments as JSON; empty for none.
    args: String,
    /// Machine ids, separated by commas, spaces or lines.
    machine_ids: String,
    /// Selector: a glob on the machine name.
    selector_name: String,
    /// Selector: the region.
    selector_region: String,
    /// Selector: the machine type.
    selector_machine_type: String,
    /// Selector: the state.
    selector_state: String,
    /// A machine group's name.
    group: String,
    /// Seconds to spread a firing's jobs over; empty for 0.
    jitter_seconds: String,
    /// Present (`on`) when the schedule fires.
    enabled: Option<String>,
    /// Present when machine ids the daemon has not listed are accepted.
    allow_unknown: Option<String>,
    /// Dates not to fire on, `YYYY-MM-DD`, separated by commas or spaces.
    exclude_dates: String,
    /// Calendar names not to fire on, separated by commas or spaces.
    calendars: String,
    /// `run_once` or `skip`; empty for the default.
    misfire: String,
    /// `skip` or `queue`; empty for the default.
    overlap: String,
}

/// A field the registry (or the form's own reading) refused.
#[derive(Debug, Clone)]
struct FieldError {
    /// The API's name of the field, e.g. `targets.machine_ids[0]`.
    field: String,
    /// What is wrong, for a person.
    message: String,
}

impl FieldError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The form input the error is shown beside.
    fn input(&self) -> &'static str {
        let f = self.field.as_str();
        if f.starts_with("targets") || f == "allow_unknown" {
            "targets"
        } else if f.starts_with("template.args") {
            "args"
        } else if f.starts_with("template") {
            "kind"
        } else if f.starts_with("exclusions") {
            "exclusions"
        } else {
            match f {
                "name" => "name",
                "cron" => "cron",
                "timezone" => "timezone",
                "jitter_seconds" => "jitter_seconds",
                "misfire" | "catch_up_seconds" => "misfire",
                "overlap" => "overlap",
                _ => "",
            }
        }
    }
}

/// The words of a list typed with commas, spaces or newlines.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `Some(text)` unless it is blank.
fn given(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl ScheduleForm {
    /// The form for a new schedule: enabled, in the default zone.
    fn blank() -> Self {
        ScheduleForm {
            kind: "stop".to_string(),
            enabled: Some("on".to_string()),
            ..ScheduleForm::default()
        }
    }

    /// The form showing a stored schedule.
    fn of(s: &Schedule) -> Self {
        let sel = s.targets.selector.clone().unwrap_or_default();
        ScheduleForm {
            id: s.id.to_string(),
            name: s.name.clone(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone(),
            kind: s.template.kind.clone(),
            args: if s.template.args.is_null() {
                String::new()
            } else {
                serde_json::to_string_pretty(&s.template.args).unwrap_or_default()
            },
            machine_ids: s.targets.machine_ids.join(", "),
            selector_name: sel.name.unwrap_or_default(),
            selector_region: sel.region.unwrap_or_default(),
            selector_machine_type: sel.machine_type.unwrap_or_default(),
            selector_state: sel.state.unwrap_or_default(),
            group: s.targets.group.clone().unwrap_or_default(),
            jitter_seconds: s.jitter_seconds.to_string(),
            enabled: s.enabled.then(|| "on".to_string()),
            allow_unknown: None,
            exclude_dates: s
                .exclusions
                .dates
                .iter()
                .map(NaiveDate::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            calendars: s.exclusions.calendars.join(", "),
            misfire: s.misfire.as_str().to_string(),
            overlap: s.overlap.as_str().to_string(),
        }
    }

    /// The spec the form stands for, as the API would take it; `current`
    /// is the schedule being replaced, whose template settings the form
    /// does not show (wait, attempts, priority, catch-up) are kept while
    /// its kind stays. The errors are those of reading the text (JSON,
    /// numbers, dates); the registry checks the rest.
    fn to_spec(&self, current: Option<&Schedule>) -> Result<ScheduleSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let args = match self.args.trim() {
            "" => serde_json::Value::Null,
            text => serde_json::from_str(text).unwrap_or_else(|e| {
                errors.push(FieldError::new(
                    "template.args",
                    format!("not JSON: {e}; write the arguments as a JSON object, e.g. {{\"month\": \"previous\"}}"),
                ));
                serde_json::Value::Null
            }),
        };
        let jitter_seconds = match self.jitter_seconds.trim() {
            "" => 0,
            text => text.parse().unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "jitter_seconds",
                    "a whole number of seconds, 0 to 3600",
                ));
                0
            }),
        };
        let mut dates = Vec::new();
        for word in words(&self.exclude_dates) {
            match word.parse::<NaiveDate>() {
                Ok(d) => dates.push(d),
                Err(_) => errors.push(FieldError::new(
                    "exclusions.dates",
                    format!("`{word}` is not a date; write YYYY-MM-DD"),
                )),
            }
        }
        let misfire = match self.misfire.as_str() {
            "" => None,
            "skip" => Some(MisfirePolicy::Skip),
            "run_once" => Some(MisfirePolicy::RunOnce),
            _ => {
                errors.push(FieldError::new("misfire", "run_once or skip"));
                None
            }
        };
        let overlap = match self.overlap.as_str() {
            "" | "skip" => OverlapPolicy::Skip,
            "queue" => OverlapPolicy::Queue,
            _ => {
                errors.push(FieldError::new("overlap", "skip or queue"));
                OverlapPolicy::Skip
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let kind = self.kind.trim().to_string();
        // The stored template's other settings, while the kind stays: the
        // form does not show them, and a replace must not drop them.
        let kept = current.filter(|c| c.template.kind == kind);
        let catch_up_seconds = kept.and_then(|c| {
            let default = c
                .template
                .kind()
                .ok()
                .map(|k| JobTemplate::default_catch_up(k).as_secs());
            (default != Some(c.catch_up_seconds)).then_some(c.catch_up_seconds)
        });
        let selector = Selector {
            name: given(&self.selector_name),
            region: given(&self.selector_region),
            machine_type: given(&self.selector_machine_type),
            state: given(&self.selector_state),
        };
        Ok(ScheduleSpec {
            name: self.name.clone(),
            cron: self.cron.clone(),
            timezone: given(&self.timezone),
            template: JobTemplate {
                kind,
                args,
                wait: kept.and_then(|c| c.template.wait.clone()),
                wait_timeout_seconds: kept.and_then(|c| c.template.wait_timeout_seconds),
                max_attempts: kept.and_then(|c| c.template.max_attempts),
                priority: kept.and_then(|c| c.template.priority),
            },
            targets: Targets {
                machine_ids: words(&self.machine_ids),
                selector: (selector != Selector::default()).then_some(selector),
                group: given(&self.group),
            },
            enabled: self.enabled.is_some(),
            jitter_seconds,
            exclusions: Exclusions {
                dates,
                calendars: words(&self.calendars),
            },
            misfire,
            catch_up_seconds,
            overlap,
            allow_unknown: self.allow_unknown.is_some(),
        })
    }
}

/// `GET /ui/schedules/new`.
async fn new_form(State(app): State<AppState>, session: Session) -> UiResult<Markup> {
    Ok(editor_page(
        &app,
        &session,
        &ScheduleForm::blank(),
        &[],
        None,
    ))
}

/// `GET /ui/schedules/{key}/edit`.
async fn edit_form(
    State(app): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> UiResult<Markup> {
    key(&raw)?;
    let s = app
        .http
        .registry
        .schedule(&raw)
        .await
        .map_err(schedule_error)?;
    if s.window_id.is_some() {
        return Err(UiError::Problem(crate::http::error::Problem::conflict(
            format!(
                "schedule {} belongs to a window; change the window instead",
                s.name
            ),
        )));
    }
    Ok(editor_page(
        &app,
        &session,
        &ScheduleForm::of(&s),
        &[],
        None,
    ))
}

/// `POST /ui/schedules/preview`: the next firings of the form's cron and
/// the forecast; only the preview for htmx, else the whole form again.
async fn preview(
    State(app): State<AppState>,
    headers: HeaderMap,
    Act { session, form }: Act<ScheduleForm>,
) -> UiResult<Markup> {
    let current = match form.id.as_str() {
        "" => None,
        id => {
            key(id)?;
            Some(
                app.http
                    .registry
                    .schedule(id)
                    .await
                    .map_err(schedule_error)?,
            )
        }
    };
    let preview = preview_of(&app, &form, current.as_ref()).await?;
    if headers.contains_key("hx-request") {
        return Ok(preview);
    }
    Ok(editor_page(&app, &session, &form, &[], Some(preview)))
}

/// `POST /ui/schedules`: create, as `POST /v1/schedules`.
async fn create(
    State(app): State<AppState>,
    Act { session, form }: Act<ScheduleForm>,
) -> UiResult<Response> {
    let spec = match form.to_spec(None) {
        Ok(spec) => spec,
        Err(errors) => {
            return Ok(refused(
                &app,
                &session,
                &form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            ));
        }
    };
    match app.http.registry.create_schedule(spec).await {
        Ok(s) => {
            tracing::info!(schedule_id = s.id, name = %s.name, "schedule created on the dashboard");
            Ok(done(
                &app,
                &format!("/ui/schedules/{}", s.id),
                &format!("Schedule {} created.", s.name),
            ))
        }
        Err(e) => {
            let (status, error) = form_error(e)?;
            Ok(refused(&app, &session, &form, status, vec![error]))
        }
    }
}

/// `POST /ui/schedules/{key}`: replace, as `PUT /v1/schedules/{key}`.
async fn update(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Act { session, form }: Act<ScheduleForm>,
) -> UiResult<Response> {
    key(&raw)?;
    let registry = &app.http.registry;
    let current = registry.schedule(&raw).await.map_err(schedule_error)?;
    // The form's own id is the page's; the path says what is replaced.
    let form = ScheduleForm {
        id: current.id.to_string(),
        ..form
    };
    let spec = match form.to_spec(Some(&current)) {
        Ok(spec) => spec,
        Err(errors) => {
            return Ok(refused(
                &app,
                &session,
                &form,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
            ));
        }
    };
    match registry
        .update_schedule(&current.id.to_string(), spec)
        .await
    {
        Ok(s) => {
            tracing::info!(schedule_id = s.id, name = %s.name, "schedule replaced on the dashboard");
            Ok(done(
                &app,
                &format!("/ui/schedules/{}", s.id),
                &format!("Schedule {} saved.", s.name),
            ))
        }
        Err(e) => {
            let (status, error) = form_error(e)?;
            Ok(refused(&app, &session, &form, status, vec![error]))
        }
    }
}

/// A refused save: the form as typed, with `errors`, answered `status`.
fn refused(
    app: &AppState,
    session: &Session,
    form: &ScheduleForm,
    status: StatusCode,
    errors: Vec<FieldError>,
) -> Response {
    (status, editor_page(app, session, form, &errors, None)).into_response()
}

/// A registry refusal of a save, as the field it names and the status the
/// API would answer; a missing schedule or a store failure is a page of
/// its own.
fn form_error(e: RegistryError) -> UiResult<(StatusCode, FieldError)> {
    match e {
        RegistryError::Invalid(spec) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            FieldError {
                field: spec.field,
                message: spec.message,
            },
        )),
        RegistryError::NameTaken(name) => Ok((
            StatusCode::CONFLICT,
            FieldError::new(
                "name",
                format!("the name `{name}` is taken by another schedule or window"),
            ),
        )),
        RegistryError::Conflict(message) => {
            Ok((StatusCode::CONFLICT, FieldError::new("", message)))
        }
        other => Err(schedule_error(other)),
    }
}

/// The preview of a form: its next firings, and the cost forecast of a
/// start or stop schedule; in `#preview`.
async fn preview_of(
    app: &AppState,
    form: &ScheduleForm,
    current: Option<&Schedule>,
) -> UiResult<Markup> {
    let registry = &app.http.registry;
    let ctx = registry.context();
    let zone_name = given(&form.timezone).unwrap_or_else(|| ctx.default_zone.clone());
    let times = registry.preview_expression(&form.cron, Some(&zone_name), DEFAULT_PREVIEW);
    let times = match times {
        Ok(times) => times,
        Err(RegistryError::Invalid(e)) => {
            return Ok(html! {
                div #preview.preview aria-live="polite" {
                    p.error role="alert" { strong { (e.field) } ": " (e.message) }
                }
            });
        }
        Err(other) => return Err(schedule_error(other)),
    };
    let tz = zone(&zone_name);
    let forecast = forecast(app, form, current).await?;
    Ok(html! {
        div #preview.preview aria-live="polite" {
            h2 { "Next firings" }
            @if times.is_empty() { p.muted { "It never fires." } }
            ol.firings { @for t in &times { li { (at_zone(t.utc, tz)) } } }
            h2 { "Forecast" }
            (forecast)
        }
    })
}

/// The Ledger's forecast of the form as `POST /v1/forecast` makes it, or
/// why there is none.
async fn forecast(
    app: &AppState,
    form: &ScheduleForm,
    current: Option<&Schedule>,
) -> UiResult<Markup> {
    if form.kind != "start" && form.kind != "stop" {
        return Ok(
            html! { p.muted { "A cost forecast is made for schedules that start or stop machines." } },
        );
    }
    let Ok(schedule) = form.to_spec(current) else {
        return Ok(html! { p.muted { "No forecast until the form reads right." } });
    };
    let plan = Plan {
        schedule: Some(schedule),
        window: None,
        month: None,
    };
    let answer = costs::forecast_of(&app.http, &plan).await;
    Ok(match answer {
        Ok(f) => forecast_table(&f),
        Err(ForecastError::Invalid { message, .. }) => {
            html! { p.muted { "No forecast: " (message) } }
        }
        Err(ForecastError::Cost(e)) => {
            tracing::warn!(error = %e, "the forecast could not read the store");
            html! { p.muted { "No forecast: the store could not be read." } }
        }
    })
}

/// A forecast's totals and its machines.
fn forecast_table(f: &Forecast) -> Markup {
    let t = &f.totals;
    html! {
        p { (f.month) ": " (f.starts) " starts, " (f.stops) " stops." }
        div.cards {
            div.card { div.muted { "Planned" } div.big { (page::money(t.planned_cost)) } div.muted { (format!("{:.1}", t.planned_hours)) " h" } }
            div.card { div.muted { "Always on" } div.big { (page::money(t.always_on_cost)) } }
            div.card { div.muted { "Saved vs always on" } div.big { (page::money(t.saved_vs_always_on)) } }
            div.card { div.muted { "Saved vs last 30 days" } div.big { (page::money(t.saved_vs_pattern)) } }
        }
        @if t.unpriced > 0 {
            p.muted { (t.unpriced) " machine(s) without a known price are left out of the sums." }
        }
        details {
            summary { "How this is worked out" }
            ul { @for a in &f.assumptions { li { (a) } } }
        }
    }
}

/// The editor, new or editing (`form.id`), with `errors` beside their
/// fields and a preview under it.
fn editor_page(
    app: &AppState,
    session: &Session,
    form: &ScheduleForm,
    errors: &[FieldError],
    preview: Option<Markup>,
) -> Markup {
    let default_zone = &app.http.registry.context().default_zone;
    let editing = !form.id.is_empty();
    let action = if editing {
        format!("/ui/schedules/{}", form.id)
    } else {
        "/ui/schedules".to_string()
    };
    let title = if editing {
        format!("Edit schedule {}", form.name)
    } else {
        "New schedule".to_string()
    };
    let err = |input: &str| -> Markup {
        html! {
            @for e in errors.iter().filter(|e| e.input() == input) {
                span.field-error id={ "error-" (input) } { (e.message) }
            }
        }
    };
    let bad = |input: &str| errors.iter().any(|e| e.input() == input).then_some("true");
    let why = |input: &str| {
        errors
            .iter()
            .any(|e| e.input() == input)
            .then(|| format!("error-{input}"))
    };
    let kinds = JobKind::ALL
        .iter()
        .filter(|k| **k != JobKind::Deliver)
        .map(|k| k.as_str());
    let body = html! {
        p { a href="/ui/schedules" { "← Schedules" } }
        h1 { (title) }
        @if !errors.is_empty() {
            div.error role="alert" {
                p { strong { "Not saved." } " Fix what is marked and save again:" }
                ul { @for e in errors { li { @if !e.field.is_empty() { code { (e.field) } ": " } (e.message) } } }
            }
        }
        form.editor method="post" action=(action) {
            (page::csrf_field(session))
            input type="hidden" name="id" value=(form.id);
            label { "Name"
                input name="name" value=(form.name) required maxlength="128" aria-invalid=[bad("name")] aria-describedby=[why("name")];
                (err("name")) }
            label { "Cron (minute hour day-of-month month day-of-week)"
                input name="cron" value=(form.cron) required placeholder="0 19 * * MON-FRI" aria-invalid=[bad("cron")] aria-describedby=[why("cron")];
                (err("cron")) }
            label { "Time zone (IANA; empty for the daemon's " (default_zone) ")"
                input name="timezone" value=(form.timezone) placeholder=(default_zone) aria-invalid=[bad("timezone")] aria-describedby=[why("timezone")];
                (err("timezone")) }
            label { "Action"
                select name="kind" aria-invalid=[bad("kind")] aria-describedby=[why("kind")] {
                    @for k in kinds { option value=(k) selected[k == form.kind] { (k) } }
                }
                (err("kind")) }
            label { "Arguments (JSON, for kinds that take some)"
                textarea name="args" rows="2" aria-invalid=[bad("args")] aria-describedby=[why("args")] { (form.args) }
                (err("args")) }
            fieldset.targets {
                legend { "Machines: ids, or a selector, or a group" }
                label { "Machine ids (commas or spaces between)"
                    input name="machine_ids" value=(form.machine_ids) placeholder="ps123, ps456" aria-invalid=[bad("targets")] aria-describedby=[why("targets")]; }
                label { "Selector: name (glob)" input name="selector_name" value=(form.selector_name) placeholder="gpu-*"; }
                label { "Selector: region" input name="selector_region" value=(form.selector_region); }
                label { "Selector: machine type" input name="selector_machine_type" value=(form.selector_machine_type); }
                label { "Selector: state" input name="selector_state" value=(form.selector_state) placeholder="ready"; }
                label { "Group" input name="group" value=(form.group); }
                label.check { input type="checkbox" name="allow_unknown" checked[form.allow_unknown.is_some()]; "Accept machine ids the daemon has not listed yet" }
                (err("targets"))
            }
            label { "Jitter (seconds to spread the jobs over)"
                input name="jitter_seconds" value=(form.jitter_seconds) inputmode="numeric" placeholder="0" aria-invalid=[bad("jitter_seconds")] aria-describedby=[why("jitter_seconds")];
                (err("jitter_seconds")) }
            label { "Not on these dates (YYYY-MM-DD)"
                input name="exclude_dates" value=(form.exclude_dates) aria-invalid=[bad("exclusions")] aria-describedby=[why("exclusions")]; }
            label { "Nor on these calendars' dates"
                input name="calendars" value=(form.calendars);
                (err("exclusions")) }
            label { "A firing missed while the daemon was down"
                select name="misfire" {
                    option value="run_once" selected[form.misfire != "skip"] { "runs once, if not too late" }
                    option value="skip" selected[form.misfire == "skip"] { "is skipped" }
                }
                (err("misfire")) }
            label { "When the previous job for a machine has not finished"
                select name="overlap" {
                    option value="skip" selected[form.overlap != "queue"] { "skip this machine" }
                    option value="queue" selected[form.overlap == "queue"] { "queue another job" }
                }
                (err("overlap")) }
            label.check { input type="checkbox" name="enabled" checked[form.enabled.is_some()]; "Enabled (fires)" }
            (err(""))
            div.actions {
                button.secondary type="submit" formaction="/ui/schedules/preview"
                    hx-post="/ui/schedules/preview" hx-target="#preview" hx-swap="outerHTML"
                    disabled[!session.may_act()] { "Preview" }
                @if session.may_act() {
                    button type="submit" { "Save" }
                } @else {
                    button type="submit" disabled title="The viewer token may look, not act" { "Save" }
                }
                @if editing { a.button.secondary href={ "/ui/schedules/" (form.id) } { "Cancel" } }
            }
            @if editing {
                p.muted { "A save replaces the schedule; settings this form does not show (wait, attempts, priority, catch-up) are kept while the action stays the same." }
            }
        }
        @match preview {
            Some(p) => { (p) }
            None => { div #preview.preview aria-live="polite" {} }
        }
    };
    shell(&title, session, None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_sit_beside_their_input() {
        let at = |f: &str| FieldError::new(f, "x").input();
        assert_eq!(at("targets.machine_ids[2]"), "targets");
        assert_eq!(at("template.args.month"), "args");
        assert_eq!(at("template.kind"), "kind");
        assert_eq!(at("cron"), "cron");
        assert_eq!(at("something.else"), "");
    }

    #[test]
    fn a_form_reads_as_the_api_spec() {
        let form = ScheduleForm {
            name: "n".into(),
            cron: "0 9 * * *".into(),
            kind: "start".into(),
            machine_ids: "ps1, ps2\nps3".into(),
            exclude_dates: "2026-12-25".into(),
            enabled: Some("on".into()),
            ..ScheduleForm::default()
        };
        let spec = form.to_spec(None).unwrap();
        assert_eq!(spec.targets.machine_ids, ["ps1", "ps2", "ps3"]);
        assert!(spec.targets.selector.is_none() && spec.enabled);
        assert_eq!(spec.exclusions.dates.len(), 1);
        let bad = ScheduleForm {
            args: "{x".into(),
            jitter_seconds: "soon".into(),
            ..form
        };
        let errors = bad.to_spec(None).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["template.args", "jitter_seconds"]);
    }
}
