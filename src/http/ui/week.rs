//! The week ahead, `GET /ui/schedules/week`: a 7-day grid (today and the
//! six days after it, in the daemon's default zone) of everything the
//! schedules and windows will do, and to which machines: each firing of an
//! active schedule and each opening or closing of an active window, from
//! now to the end of the seventh day.
//!
//! Fire times are worked out as the API's previews work them out (the
//! cron in the schedule's zone less its excluded dates; a window's edges
//! by the registry, with exclusions and idle edges left out), from the
//! schedules and windows read once, with no read per schedule. The work
//! and the page stay bounded with a few hundred schedules: a schedule
//! that fires more than [`DAY_LISTED`] times in a day shows as one line
//! for that day (how many times, from when to when), and at most
//! [`DAY_SCAN`] firings of it are looked for per day.

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
/// Firings of one schedule a day lists one by one; more show as one line.
const DAY_LISTED: usize = 3;
/// Most firings of one schedule looked for in one day: past this the day
/// says "100+ times" (a schedule firing every minute makes 1440).
const DAY_SCAN: usize = 100;
/// Most edges of one window looked for in the week (two a day, and the
/// odd extra one of a window crossing midnight).
const WINDOW_EDGES: usize = 4 * DAYS as usize;

/// The week view's route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/schedules/week", get(page))
}

/// One thing that will happen, or one schedule's many firings in a day.
struct Event {
    /// When (the first of many).
    at: DateTime<Utc>,
    /// The last of many firings in the day; `None` for one.
    last: Option<DateTime<Utc>>,
    /// How many firings the line stands for.
    count: usize,
    /// Whether the count stopped at [`DAY_SCAN`]: there may be more.
    capped: bool,
    /// The schedule's or window's name.
    name: String,
    /// Its page.
    href: String,
    /// What it does: the job kind, or a window's opening or closing.
    action: String,
    /// To which machines.
    targets: Targets,
}

/// `GET /ui/schedules/week`.
async fn page(State(app): State<AppState>, session: Session) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let registry = &app.http.registry;
    let zone_name = registry.context().default_zone.clone();
    let tz = zone(&zone_name);
    let today = now.with_timezone(&tz).date_naive();
    // Where each day of the grid begins in the zone, and where the last ends.
    let bounds: Vec<DateTime<Utc>> = today
        .iter_days()
        .take(DAYS as usize + 1)
        .enumerate()
        .map(|(i, day)| {
            day.and_hms_opt(0, 0, 0)
                .and_then(|midnight| resolve_local(tz, midnight))
                .unwrap_or(now + Duration::days(i as i64))
        })
        .collect();
    let end = bounds[DAYS as usize];
    let calendars = &registry.context().calendars;
    let names = machine_names(&app).await?;
    let mut events = Vec::new();
    for s in app.http.store.schedules(false).await? {
        let Ok(cron) = s.timing() else {
            continue;
        };
        if !s.enabled {
            continue;
        }
        let href = format!("/ui/schedules/{}", s.id);
        let event = |at, last, count, capped| Event {
            at,
            last,
            count,
            capped,
            name: s.name.clone(),
            href: href.clone(),
            action: s.template.kind.clone(),
            targets: s.targets.clone(),
        };
        for day in bounds.windows(2) {
            if day[1] <= now {
                continue;
            }
            // Firings from now (strictly after, as a preview) or the day's
            // start (whole seconds: one before it is "strictly after")
            // up to the day's end.
            let from = if day[0] > now {
                day[0] - Duration::seconds(1)
            } else {
                now
            };
            let times: Vec<DateTime<Utc>> = cron
                .between(from, day[1] - Duration::seconds(1), DAY_SCAN)
                .into_iter()
                .filter(|at| !s.exclusions.excludes(*at, cron.zone(), calendars))
                .collect();
            if times.len() > DAY_LISTED {
                let capped = times.len() == DAY_SCAN;
                events.push(event(times[0], times.last().copied(), times.len(), capped));
            } else {
                events.extend(times.into_iter().map(|at| event(at, None, 1, false)));
            }
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
        for t in registry
            .edges(&w, &valid, WINDOW_EDGES)
            .into_iter()
            .filter(|t| t.utc < end)
        {
            let action = match t.edge {
                Some(WindowEdge::Stop) => "closes: stop",
                _ => "opens: start",
            };
            events.push(Event {
                at: t.utc,
                last: None,
                count: 1,
                capped: false,
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
    let last_day = today + Duration::days(i64::from(DAYS) - 1);
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
    };
    Ok(shell("The week ahead", &session, None, body))
}

/// One event in its day: time, what and to which machines.
fn event(e: &Event, tz: chrono_tz::Tz, names: &Names) -> Markup {
    html! {
        div.event {
            (clock(e.at, tz))
            @if let Some(last) = e.last { "–" (clock(last, tz)) }
            " " a href=(e.href) { (e.name) }
            " · " (e.action)
            @if e.count > 1 {
                ", " (e.count) @if e.capped { "+" } " times"
            }
            @if !e.targets.is_empty() { " → " (targets(&e.targets, names)) }
        }
    }
}

/// A time of day in `tz`, in a `<time data-local>`.
fn clock(at: DateTime<Utc>, tz: chrono_tz::Tz) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) data-local title=(at.format("%Y-%m-%d %H:%M UTC")) {
            (at.with_timezone(&tz).format("%H:%M"))
        }
    }
}
