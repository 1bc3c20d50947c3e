//! The week ahead, `GET /ui/schedules/week`: a 7-day grid (today and the
//! six days after it, in the daemon's default zone) of everything the
//! schedules and windows will do, and to which machines: each firing of an
//! active schedule and each opening or closing of an active window, from
//! now to the end of the seventh day.
//!
//! Fire times are worked out as the API's previews work them out (the
//! registry's, with exclusions and a window's idle edges left out), from
//! the schedules and windows read once, with no read per schedule. A
//! schedule that fires more often than [`PER_SCHEDULE`] times in the week
//! shows that many and is named under the grid, so that a few hundred
//! schedules (or one firing every minute) keep the page small and quick.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{Markup, html};

use super::AppState;
use super::error::UiResult;
use super::schedules::{Names, machine_names, shell, targets, zone};
use super::session::Session;
use crate::schedule::spec::WindowEdge;
use crate::schedule::target::Targets;
use crate::schedule::timing::resolve_local;

/// Days in the grid, today first.
const DAYS: u32 = 7;
/// Most firings (or edges) of one schedule (or window) the week shows.
const PER_SCHEDULE: usize = 24;

/// The week view's route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/schedules/week", get(page))
}

/// One thing that will happen.
struct Event {
    /// When.
    at: DateTime<Utc>,
    /// The schedule's or window's name.
    name: String,
    /// Its page.
    href: String,
    /// What it does: the job kind, or a window's opening or closing.
    action: String,
    /// To which machines.
    targets: Targets,
}

/// A schedule or window that fires more often than the week shows.
struct Busy {
    /// Its name.
    name: String,
    /// Its page.
    href: String,
}

/// `GET /ui/schedules/week`.
async fn page(State(app): State<AppState>, session: Session) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let registry = &app.http.registry;
    let zone_name = registry.context().default_zone.clone();
    let tz = zone(&zone_name);
    let today = now.with_timezone(&tz).date_naive();
    let last = today + Duration::days(i64::from(DAYS));
    let end = last
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| resolve_local(tz, midnight))
        .unwrap_or(now + Duration::days(i64::from(DAYS)));
    let names = machine_names(&app).await?;
    let mut events = Vec::new();
    let mut busy = Vec::new();
    for s in app.http.store.schedules(false).await? {
        if !s.enabled {
            continue;
        }
        let href = format!("/ui/schedules/{}", s.id);
        let times: Vec<_> = registry
            .upcoming_in(&s, None, PER_SCHEDULE + 1)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.utc < end)
            .collect();
        if times.len() > PER_SCHEDULE {
            busy.push(Busy {
                name: s.name.clone(),
                href: href.clone(),
            });
        }
        for t in times.into_iter().take(PER_SCHEDULE) {
            events.push(Event {
                at: t.utc,
                name: s.name.clone(),
                href: href.clone(),
                action: s.template.kind.clone(),
                targets: s.targets.clone(),
            });
        }
    }
    for w in app.http.store.windows().await? {
        let Ok(valid) = w.hours.validate() else {
            continue;
        };
        if !w.enabled {
            continue;
        }
        let href = format!("/ui/windows/{}", w.id);
        let edges: Vec<_> = registry
            .edges(&w, &valid, 2 * PER_SCHEDULE + 1)
            .into_iter()
            .filter(|t| t.utc < end)
            .collect();
        if edges.len() > 2 * PER_SCHEDULE {
            busy.push(Busy {
                name: w.name.clone(),
                href: href.clone(),
            });
        }
        for t in edges.into_iter().take(2 * PER_SCHEDULE) {
            let action = match t.edge {
                Some(WindowEdge::Stop) => "closes: stop",
                _ => "opens: start",
            };
            events.push(Event {
                at: t.utc,
                name: w.name.clone(),
                href: href.clone(),
                action: action.to_string(),
                targets: w.targets.clone(),
            });
        }
    }
    events.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
    let days: Vec<(NaiveDate, Vec<&Event>)> = today
        .iter_days()
        .take(DAYS as usize)
        .map(|day| {
            let on: Vec<&Event> = events
                .iter()
                .filter(|e| e.at.with_timezone(&tz).date_naive() == day)
                .collect();
            (day, on)
        })
        .collect();
    let last_day = last - Duration::days(1);
    let body = html! {
        p { a href="/ui/schedules" { "← Schedules" } }
        h1 { "The week ahead" }
        p.muted {
            "From now to the end of " (last_day.format("%A %-d %B")) ", in the daemon's zone, "
            strong { (zone_name) } "; each time also shows in yours. Paused schedules and windows are left out."
        }
        div.week #week {
            @for (i, (day, on)) in days.iter().enumerate() {
                section.day data-day=(day) aria-label=(day.format("%A %-d %B")) {
                    h3 { (day.format("%a %-d %b")) @if i == 0 { " · today" } }
                    @for e in on { (event(e, tz, &names)) }
                    @if on.is_empty() { p.muted { "Nothing." } }
                }
            }
        }
        @if !busy.is_empty() {
            p.muted {
                "These fire more than " (PER_SCHEDULE) " times this week; the grid shows their first "
                (PER_SCHEDULE) ": "
                @for (i, b) in busy.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(b.href) { (b.name) }
                }
            }
        }
    };
    Ok(shell("The week ahead", &session, None, body))
}

/// One event in its day: time, what and to which machines.
fn event(e: &Event, tz: chrono_tz::Tz, names: &Names) -> Markup {
    html! {
        div.event {
            time datetime=(e.at.to_rfc3339()) data-local title=(e.at.format("%Y-%m-%d %H:%M UTC")) {
                (e.at.with_timezone(&tz).format("%H:%M"))
            }
            " " a href=(e.href) { (e.name) }
            " · " (e.action)
            @if !e.targets.is_empty() { " → " (targets(&e.targets, names)) }
        }
    }
}
