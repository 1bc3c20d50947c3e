//! The fleet, the dashboard's landing page (`GET /ui/`): every machine the
//! daemon has seen, with its state, type, region and hourly rate, what it
//! cost and what Machinist's stops saved this month, the next scheduled
//! action aimed at it, the window overrides in force on it, and buttons to
//! start it, stop it, or keep it running past its window's closing.
//!
//! ## One pass, whatever the size of the fleet
//!
//! A page reads a fixed number of things, never one per machine: the
//! machines, the month's cost report (once: the [`Ledger`] call behind
//! `GET /v1/reports/cost`, whose lines also carry the savings of
//! `GET /v1/reports/savings`), the schedules (window edges included) with
//! each one's next firing, the windows with their overrides in force, and
//! the groups when a schedule or window names one. The targets of each
//! schedule and window are compiled once ([`Aim`]) and every machine is
//! matched against them in memory.
//!
//! ## The buttons
//!
//! Each does what its API route does, through the same code: start and stop
//! submit a job as `POST /v1/jobs` does ([`jobs::submit_request`]) and lead
//! to the job's page; "keep running" adds a `keep_on` override as
//! `POST /v1/windows/{key}/overrides` does ([`Registry::add_override`],
//! with the same error mapping), and comes back here. Posts go through
//! [`Act`]: an admin session with its CSRF token, or 403.
//!
//! [`Ledger`]: crate::cost::Ledger
//! [`Registry::add_override`]: crate::scheduler::registry::Registry::add_override
//! [`jobs::submit_request`]: crate::http::jobs::submit_request

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::post;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{UiError, UiResult};
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;
use super::{Act, AppState, NoFields, back_to, done};
use crate::cost::CostLine;
use crate::http::costs;
use crate::http::error::Problem;
use crate::job::JobRequest;
use crate::job::operation::check_id;
use crate::machine::{BillingMonth, Machine, MachineState};
use crate::schedule::spec::WindowEdge;
use crate::schedule::target::{Selector, Targets};
use crate::schedule::window::{Override, OverrideMode, OverrideRequest, Window};
use crate::store::KnownMachine;

/// How long "keep running" lasts when the form does not say.
const DEFAULT_KEEP_HOURS: u32 = 4;
/// The longest "keep running" the form offers (the API allows 31 days).
const MAX_KEEP_HOURS: u32 = 72;

/// The fleet's actions (the page itself is routed in `mod.rs`).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/machines/{id}/start", post(start))
        .route("/ui/machines/{id}/stop", post(stop))
        .route("/ui/machines/{id}/keep-on", post(keep_on))
}

/// Machines per page: a fleet of a thousand is five pages of rows a
/// browser lays out at once, not one 1 MB table; the cards above count
/// every machine.
const PAGE_SIZE: usize = 200;

/// `?gone=1&q=&page=`: which machines the table shows.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FleetQuery {
    /// Any value but empty also shows machines Paperspace said are gone.
    #[serde(default)]
    gone: Option<String>,
    /// Only machines whose name or id contains this (any case).
    #[serde(default)]
    q: Option<String>,
    /// The page of the table, from 1.
    #[serde(default)]
    page: Option<usize>,
}

impl FleetQuery {
    /// The fleet's path with this query, at `page`: what links and the
    /// forms' way back carry.
    fn path(&self, show_gone: bool, q: &str, page: usize) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if show_gone {
            pairs.append_pair("gone", "1");
        }
        if !q.is_empty() {
            pairs.append_pair("q", q);
        }
        if page > 1 {
            pairs.append_pair("page", &page.to_string());
        }
        let query = pairs.finish();
        if query.is_empty() {
            "/ui/".to_string()
        } else {
            format!("/ui/?{query}")
        }
    }
}

/// Which machines a schedule or window aims at, compiled once per page.
struct Aim<'a> {
    /// Explicit ids, for a lookup per machine instead of a scan.
    ids: HashSet<&'a str>,
    /// Machines matching this now.
    selector: Option<&'a Selector>,
    /// A group's stages, each an aim of its own.
    stages: Vec<Aim<'a>>,
}

impl<'a> Aim<'a> {
    /// `targets`, with its group's stages looked up in `groups`.
    fn of(targets: &'a Targets, groups: &'a HashMap<String, Vec<Targets>>) -> Self {
        let stages = targets
            .group
            .as_ref()
            .and_then(|g| groups.get(g))
            .map(|stages| stages.iter().map(|t| Aim::of(t, groups)).collect())
            .unwrap_or_default();
        Aim {
            ids: targets.machine_ids.iter().map(String::as_str).collect(),
            selector: targets.selector.as_ref(),
            stages,
        }
    }

    /// Whether it aims at `machine` as last seen (selectors are resolved
    /// when a schedule fires, so this is "would act on it now").
    fn hits(&self, machine: &Machine) -> bool {
        self.ids.contains(machine.id.as_str())
            || self.selector.is_some_and(|s| s.matches(machine))
            || self.stages.iter().any(|s| s.hits(machine))
    }
}

/// The next firing of one schedule, with what it does, in words.
struct NextFiring<'a> {
    /// When, in UTC.
    at: DateTime<Utc>,
    /// For a window's edge: the window's id and which edge, so that an
    /// override of that window can set it aside.
    edge: Option<(i64, WindowEdge)>,
    /// e.g. `stop`.
    action: String,
    /// `schedule nightly-stop` or `window office`.
    source: String,
    /// The schedule's targets, compiled.
    aim: Aim<'a>,
}

/// A window that covers machines.
struct Cover<'a> {
    /// The window.
    window: &'a Window,
    /// Its targets, compiled.
    aim: Aim<'a>,
}

/// `GET /ui/`.
pub(super) async fn page(
    State(app): State<AppState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
    Query(query): Query<FleetQuery>,
) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let store = &app.http.store;
    let show_gone = query.gone.as_deref().is_some_and(|g| !g.is_empty());

    let known = store.machines().await?;
    let month = BillingMonth::containing(now);
    let metered = app
        .month_costs
        .report(&app.http.ledger, month, now)
        .await
        .map_err(costs::cost_error)?;
    let report = &metered.report;
    let lines: HashMap<&str, &CostLine> = report
        .machines
        .iter()
        .map(|l| (l.machine_id.as_str(), l))
        .collect();

    let schedules = store.schedules(true).await?;
    let windows = store.windows().await?;
    let needs_groups = schedules.iter().any(|s| s.targets.group.is_some())
        || windows.iter().any(|w| w.targets.group.is_some());
    let groups: HashMap<String, Vec<Targets>> = if needs_groups {
        store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.name, g.stages.iter().map(|s| s.targets()).collect()))
            .collect()
    } else {
        HashMap::new()
    };
    let window_names: HashMap<i64, &str> =
        windows.iter().map(|w| (w.id, w.name.as_str())).collect();

    // Each schedule's next firing once (exclusions and a window's idle
    // edges skipped, as the scheduler does), then matched per machine.
    let mut firings = Vec::new();
    for schedule in schedules.iter().filter(|s| s.enabled) {
        let next = match app
            .http
            .registry
            .preview_schedule(&schedule.id.to_string(), 1)
            .await
        {
            Ok(times) => times.into_iter().next(),
            // Deleted since it was listed, or a timing that no longer
            // parses: it fires nothing, so it shows nothing.
            Err(e) => {
                tracing::debug!(schedule_id = schedule.id, error = %e, "no next firing for the fleet page");
                None
            }
        };
        let Some(next) = next else { continue };
        let source = match schedule.window_id.and_then(|id| window_names.get(&id)) {
            Some(window) => format!("window {window}"),
            None => format!("schedule {}", schedule.name),
        };
        firings.push(NextFiring {
            at: next.utc,
            edge: schedule.window_id.zip(schedule.window_edge),
            action: schedule.template.kind.clone(),
            source,
            aim: Aim::of(&schedule.targets, &groups),
        });
    }
    firings.sort_by_key(|f| f.at);

    // The overrides in force: one read per window, not per machine.
    let mut overrides: HashMap<String, Vec<(&str, Override)>> = HashMap::new();
    for window in &windows {
        for rule in store.overrides(window.id, Some(now)).await? {
            overrides
                .entry(rule.machine_id.clone())
                .or_default()
                .push((window.name.as_str(), rule));
        }
    }
    let covers: Vec<Cover> = windows
        .iter()
        .map(|window| Cover {
            window,
            aim: Aim::of(&window.targets, &groups),
        })
        .collect();

    let gone = known.iter().filter(|k| k.gone_at.is_some()).count();
    let q = query.q.as_deref().unwrap_or("").trim().to_string();
    let wanted = q.to_lowercase();
    let present: Vec<&KnownMachine> = known
        .iter()
        .filter(|k| show_gone || k.gone_at.is_none())
        .filter(|k| {
            wanted.is_empty()
                || k.machine.name.to_lowercase().contains(&wanted)
                || k.machine.id.to_lowercase().contains(&wanted)
        })
        .collect();
    let pages = present.len().div_ceil(PAGE_SIZE).max(1);
    let page_no = query.page.unwrap_or(1).clamp(1, pages);
    let first = (page_no - 1) * PAGE_SIZE;
    let shown = &present[first.min(present.len())..(first + PAGE_SIZE).min(present.len())];
    let running = known
        .iter()
        .filter(|k| k.gone_at.is_none() && k.machine.state != MachineState::Off)
        .count();
    let listed = known.len() - gone;

    let back = query.path(show_gone, &q, page_no);
    let back = back.as_str();
    let rows = Rows {
        session: &session,
        lines,
        firings,
        overrides,
        covers,
        back,
        now,
    };
    let body = html! {
        h1 { "Fleet" }
        div.cards {
            div.card #card-running {
                div.muted { "Machines not off" }
                div.big { (running) }
                div.muted { "of " (listed) " known" }
            }
            div.card #card-cost {
                div.muted { "Cost this month" }
                div.big { (page::money(report.totals.total)) }
                div.muted {
                    (month.to_string()) ", to date, metered " (page::relative(metered.at, now))
                    @if report.totals.unpriced > 0 {
                        " · " (report.totals.unpriced) " without a price"
                    }
                }
            }
            div.card #card-saved {
                div.muted { "Saved by Machinist's stops" }
                div.big { (page::money(report.totals.saved)) }
                div.muted { (month.to_string()) ", to date" }
            }
        }
        @if known.is_empty() {
            p.muted {
                "No machine has been seen yet. A " code { "refresh" } " job lists the account: "
                code { "machinist jobs submit refresh --wait" } "."
            }
        }
        @if show_gone {
            p { a href="/ui/" { "Hide machines that are gone" } }
        } @else if gone > 0 {
            p { a href="/ui/?gone=1" { "Show " (gone) " machine" @if gone != 1 { "s" } " that are gone" } }
        }
        form #fleet-filter .filters method="get" action="/ui/" {
            @if show_gone { input type="hidden" name="gone" value="1"; }
            label { "Name or id contains"
                input type="search" name="q" value=(q) placeholder="gpu-"; }
            button type="submit" class="secondary" { "Filter" }
            @if !q.is_empty() { a href=(query.path(show_gone, "", 1)) { "Show all" } }
        }
        p.pager #fleet-pager {
            @if present.is_empty() {
                "No machine matches."
            } @else {
                "Machines " (first + 1) "–" (first + shown.len()) " of " (present.len())
                @if page_no > 1 {
                    " · " a rel="prev" href=(query.path(show_gone, &q, page_no - 1)) { "← Previous" }
                }
                @if page_no < pages {
                    " · " a rel="next" href=(query.path(show_gone, &q, page_no + 1)) { "Next →" }
                }
            }
        }
        div.scroll {
            table #machines {
                thead {
                    tr {
                        th { "Machine" }
                        th { "State" }
                        th.hide-phone { "Type" }
                        th.hide-phone { "Region" }
                        th.num.hide-phone { "Rate/h" }
                        th.num title="This month, to date" { "Cost" }
                        th.num.hide-phone title="By Machinist's stops this month" { "Saved" }
                        th.hide-phone { "Next action" }
                        th.hide-phone { "Overrides" }
                        th { "Actions" }
                    }
                }
                tbody {
                    @for k in shown {
                        (rows.row(k))
                    }
                }
            }
        }
        p.muted {
            "Costs and savings as in " a href="/ui/reports" { "the month's report" } "; "
            "a machine's next action is the earliest firing of the schedules and window edges aimed at it "
            "(by id, group, or a selector it matches as last seen)."
        }
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        "Fleet",
        &session,
        Nav::Fleet,
        notice.as_deref(),
        body,
    ))
}

/// What a machine is called on the page: its name, else its id.
fn label(machine: &Machine) -> &str {
    if machine.name.is_empty() {
        &machine.id
    } else {
        &machine.name
    }
}

/// What every row is drawn from: read once per page.
struct Rows<'a> {
    /// Who looks: a viewer's buttons are greyed out.
    session: &'a Session,
    /// The month's cost report line of each machine, by id.
    lines: HashMap<&'a str, &'a CostLine>,
    /// Each enabled schedule's next firing, earliest first.
    firings: Vec<NextFiring<'a>>,
    /// The overrides in force, by machine id, each with its window's name.
    overrides: HashMap<String, Vec<(&'a str, Override)>>,
    /// Every window, to offer those that cover a machine.
    covers: Vec<Cover<'a>>,
    /// The fleet page the forms come back to.
    back: &'a str,
    /// When the page is drawn.
    now: DateTime<Utc>,
}

impl Rows<'_> {
    /// One machine's row.
    fn row(&self, known: &KnownMachine) -> Markup {
        let (session, back, now) = (self.session, self.back, self.now);
        let m = &known.machine;
        let line = self.lines.get(m.id.as_str()).copied();
        let overrides = self.overrides.get(&m.id).map_or(&[][..], Vec::as_slice);
        let rate = line
            .and_then(|l| l.hourly_rate)
            .or_else(|| m.rate.as_ref().map(|r| r.usage));
        // Sorted by time: the first that aims at it, and that no override
        // sets aside, is the next.
        let next = self
            .firings
            .iter()
            .find(|f| f.aim.hits(m) && !set_aside(f, overrides));
        let windows: Vec<&Window> = self
            .covers
            .iter()
            .filter(|c| c.aim.hits(m))
            .map(|c| c.window)
            .collect();
        let id = &m.id;
        html! {
            tr data-machine-id=(id) {
                td {
                    (label(m))
                    br;
                    span.muted { (id) }
                }
                td {
                    @if let Some(gone_at) = known.gone_at {
                        (page::state("gone")) br;
                        span.age { (page::relative(gone_at, now)) }
                    } @else {
                        (page::state(m.state.as_str()))
                        br.hide-phone;
                        span.age.hide-phone title="When the daemon last saw it" { "seen " (page::relative(known.seen_at, now)) }
                    }
                }
                td.hide-phone { (m.machine_type.as_deref().unwrap_or("—")) }
                td.hide-phone { (m.region.as_deref().unwrap_or("—")) }
                td.num.hide-phone { (rate.map_or_else(|| "—".to_string(), page::money)) }
                td.num { (line.and_then(|l| l.total).map_or_else(|| "—".to_string(), page::money)) }
                td.num.hide-phone { (line.and_then(|l| l.saved).map_or_else(|| "—".to_string(), page::money)) }
                td.hide-phone {
                    @if let Some(next) = next {
                        (page::state(&next.action)) " "
                        span.muted { (next.source) }
                        br;
                        (page::when(next.at, now))
                    } @else {
                        span.muted { "none scheduled" }
                    }
                }
                td.hide-phone {
                    @for (window, rule) in overrides {
                        div.override {
                            (page::state(rule.mode.as_str()))
                            " " span.muted { "window " (window) }
                            br;
                            "until " (page::when(rule.until, now))
                            @if let Some(reason) = &rule.reason {
                                br;
                                span.muted { "“" (reason) "”" }
                            }
                        }
                    }
                }
                td.row-actions {
                    @if known.gone_at.is_none() {
                        div.actions {
                            (page::button_form(session, &format!("/ui/machines/{id}/start"), "Start", None,
                                if m.state == MachineState::Off { "" } else { "secondary" }))
                            (page::button_form(session, &format!("/ui/machines/{id}/stop"), "Stop",
                                Some(&format!("Stop machine {}?", label(m))), "danger"))
                        }
                        (keep_on_form(session, id, &windows, back))
                    }
                }
            }
        }
    }
}

/// Whether an override in force at the firing keeps its window's edge
/// from acting on the machine: `keep_on` its closing, `keep_off` its opening.
fn set_aside(firing: &NextFiring, overrides: &[(&str, Override)]) -> bool {
    let Some((window, edge)) = firing.edge else {
        return false;
    };
    overrides.iter().any(|(_, rule)| {
        rule.window_id == window
            && rule.is_active(firing.at)
            && matches!(
                (rule.mode, edge),
                (OverrideMode::KeepOn, WindowEdge::Stop)
                    | (OverrideMode::KeepOff, WindowEdge::Start)
            )
    })
}

/// The "keep running" form of one machine: a window that covers it, for how
/// many hours, and why.
fn keep_on_form(session: &Session, id: &str, windows: &[&Window], back: &str) -> Markup {
    if windows.is_empty() {
        return html! {
            p.muted.keep-on-none { "No window covers it: there is nothing to keep it on past." }
        };
    }
    html! {
        form.keep-on method="post" action=(format!("/ui/machines/{id}/keep-on")) {
            (page::csrf_field(session))
            input type="hidden" name="back" value=(back);
            label {
                "Keep running past"
                select name="window" {
                    @for w in windows {
                        option value=(w.id) { "window " (w.name) @if !w.enabled { " (paused)" } }
                    }
                }
            }
            label {
                "for hours"
                input type="number" name="hours" min="1" max=(MAX_KEEP_HOURS) step="1"
                    value=(DEFAULT_KEEP_HOURS) required;
            }
            label {
                "reason"
                input type="text" name="reason" maxlength="500" placeholder="optional";
            }
            @if session.may_act() {
                button type="submit" class="secondary" { "Keep running" }
            } @else {
                button type="submit" class="secondary" disabled title="The viewer token may look, not act" { "Keep running" }
            }
        }
    }
}

/// The machine id of an action's path.
fn path_id(id: &str) -> UiResult<()> {
    check_id("id", id).map_err(|e| UiError::Problem(Problem::bad_field(e.field, e.message)))
}

/// What a notice calls a machine: its name as last seen, else its id.
async fn called(app: &AppState, id: &str) -> String {
    match app.http.store.machine(id).await {
        Ok(Some(k)) if !k.machine.name.is_empty() => k.machine.name,
        _ => id.to_string(),
    }
}

/// `POST /ui/machines/{id}/start`.
async fn start(
    State(app): State<AppState>,
    Path(id): Path<String>,
    act: Act<NoFields>,
) -> UiResult<Response> {
    submit(app, id, "start", act.session).await
}

/// `POST /ui/machines/{id}/stop`.
async fn stop(
    State(app): State<AppState>,
    Path(id): Path<String>,
    act: Act<NoFields>,
) -> UiResult<Response> {
    submit(app, id, "stop", act.session).await
}

/// Submits a `kind` job on machine `id` as `POST /v1/jobs` would, then
/// leads to the job's page.
async fn submit(app: AppState, id: String, kind: &str, session: Session) -> UiResult<Response> {
    path_id(&id)?;
    let request = JobRequest {
        kind: kind.to_string(),
        machine_id: Some(id.clone()),
        ..JobRequest::default()
    };
    let submitted = crate::http::jobs::submit_request(&app, request).await?;
    let job = submitted.job.id;
    tracing::info!(job_id = job, kind, machine_id = %id, role = session.role.as_str(), "job submitted from the dashboard");
    let name = called(&app, &id).await;
    Ok(done(
        &app,
        &format!("/ui/jobs/{job}"),
        &format!("{} of {name} submitted as job {job}.", capitalized(kind)),
    ))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The "keep running" form.
#[derive(Debug, Deserialize)]
pub(super) struct KeepOn {
    /// The window's id or name.
    #[serde(default)]
    window: String,
    /// Hours from now, as typed.
    #[serde(default)]
    hours: String,
    /// Why; empty is none.
    #[serde(default)]
    reason: String,
    /// The fleet page to come back to (`/ui/?gone=1` keeps gone machines shown).
    back: Option<String>,
}

/// `POST /ui/machines/{id}/keep-on`: a `keep_on` override of the chosen
/// window, as `POST /v1/windows/{key}/overrides` adds it.
async fn keep_on(
    State(app): State<AppState>,
    Path(id): Path<String>,
    act: Act<KeepOn>,
) -> UiResult<Response> {
    path_id(&id)?;
    let form = act.form;
    let key = form.window.trim();
    if key.is_empty() {
        return Err(UiError::bad_input(
            "choose the window to keep the machine running past",
        ));
    }
    crate::http::schedules::check_key(key)?;
    let hours_text = form.hours.trim();
    let hours = if hours_text.is_empty() {
        f64::from(DEFAULT_KEEP_HOURS)
    } else {
        hours_text.parse::<f64>().map_err(|_| {
            UiError::Problem(Problem::bad_field(
                "hours",
                format!(
                    "`{}` is not a number of hours",
                    hours_text.chars().take(40).collect::<String>()
                ),
            ))
        })?
    };
    let reason = Some(form.reason.trim().to_string()).filter(|r| !r.is_empty());
    let request = OverrideRequest {
        machine_id: id.clone(),
        mode: OverrideMode::KeepOn,
        until: None,
        hours: Some(hours),
        reason,
        allow_unknown: false,
    };
    let rule = app
        .http
        .registry
        .add_override(key, request)
        .await
        .map_err(crate::http::windows::override_error)?;
    let window = app
        .http
        .store
        .window(&rule.window_id.to_string())
        .await?
        .map_or_else(|| key.to_string(), |w| w.name);
    tracing::info!(
        window_id = rule.window_id,
        override_id = rule.id,
        machine_id = %rule.machine_id,
        role = act.session.role.as_str(),
        "keep_on override added from the dashboard"
    );
    let name = called(&app, &id).await;
    let until = rule.until.format("%Y-%m-%d %H:%M UTC");
    Ok(done(
        &app,
        &back_to(form.back.as_deref(), "/ui/"),
        &format!("{name} keeps running past window {window} until {until}."),
    ))
}
