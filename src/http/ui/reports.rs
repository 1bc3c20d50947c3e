//! The reports page: what the fleet cost and what Machinist's stops saved.
//!
//! `GET /ui/reports?month=YYYY-MM` (the current month by default) shows
//!
//! - cost and savings of the six months up to the chosen one, as a bar
//!   chart and the same figures as a table: the `totals` of each month's
//!   [`Ledger::cost_report`](crate::cost::Ledger::cost_report), what
//!   `GET /v1/reports/cost` answers. (Its `saved` is the ledger's: hours
//!   kept off after Machinist's stops at the rate then, nothing for a
//!   machine billed monthly. `GET /v1/reports/savings` counts the older
//!   way, by the latest rate; one report for both keeps the chart, the
//!   cards and the per-machine table in agreement, and meters each month
//!   once.)
//! - the chosen month per machine: a chart of the twenty that cost most and
//!   a table of every one, with a CSV download
//!   (`GET /ui/reports/cost.csv?month=…`, the very response of
//!   `GET /v1/reports/cost?format=csv`: [`super::super::costs::cost_csv`]);
//! - the month's utilization as `GET /v1/reports/utilization` lists it, and
//!   a "Pull utilization" button that queues what
//!   `POST /v1/reports/utilization/pull` queues
//!   ([`super::super::reports::pull`]), then comes back here with a notice.
//!
//! The charts are drawn on the server ([`super::chart`]), so the page needs
//! no script; the tables hold the same figures for screen readers and
//! browsers that draw no SVG.

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use tokio::task::JoinSet;

use super::chart::{self, Frame, Group, Series};
use super::error::{UiError, UiResult};
use super::month_costs::Metered;
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;
use super::{Act, AppState, done};
use crate::cost::{CostLine, CostReport};
use crate::http::cost::{UtilizationReport, utilization};
use crate::http::error::Problem;
use crate::http::{costs, reports};
use crate::machine::BillingMonth;

/// How many months the history chart shows, the chosen one last.
const MONTHS: usize = 6;
/// How many machines the per-machine chart shows (the table shows all).
const TOP: usize = 20;

const COST: Series<'static> = Series {
    name: "cost",
    class: "bar-cost",
};
const SAVED: Series<'static> = Series {
    name: "saved",
    class: "bar-saved",
};

/// The reports routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/reports", get(page))
        .route("/ui/reports/cost.csv", get(cost_csv))
        .route("/ui/reports/utilization/pull", post(pull))
}

/// `?month=YYYY-MM` of the page and the download.
#[derive(Debug, Default, Deserialize)]
struct MonthQuery {
    /// The month shown; absent or empty: the current one.
    month: Option<String>,
}

/// The "Pull utilization" form.
#[derive(Debug, Deserialize)]
struct PullForm {
    /// The month to pull, `YYYY-MM`.
    month: String,
}

/// The month asked for: the current one when none (or an empty field, from
/// the picker) is given, a 400 page naming it when it is no month.
fn chosen(month: Option<&str>, now: DateTime<Utc>) -> UiResult<BillingMonth> {
    match month.map(str::trim) {
        None | Some("") => Ok(BillingMonth::containing(now)),
        Some(m) => m
            .parse()
            .map_err(|e| UiError::bad_input(format!("{e}; pick a month as YYYY-MM, e.g. 2026-03"))),
    }
}

/// The page's own address for `month`.
fn href(month: BillingMonth) -> String {
    format!("/ui/reports?month={month}")
}

/// One month of the history chart.
#[derive(Debug, Clone)]
struct MonthFigures {
    /// The month.
    month: BillingMonth,
    /// What every priced machine cost (`totals.total` of the cost report).
    cost: f64,
    /// What Machinist's stops saved (`totals.saved` of the cost report).
    saved: f64,
    /// Machines in the cost report.
    machines: usize,
    /// Of which no price is known.
    unpriced: u32,
    /// False while the month is still running.
    complete: bool,
}

impl MonthFigures {
    fn of(r: &CostReport) -> Self {
        MonthFigures {
            month: r.month,
            cost: r.totals.total,
            saved: r.totals.saved,
            machines: r.machines.len(),
            unpriced: r.totals.unpriced,
            complete: r.complete,
        }
    }
}

/// The figures of the [`MONTHS`] months up to `month`, oldest first, and
/// `month`'s own report, from the kept reports ([`MonthCosts`]); those not
/// kept are metered at once (each meters the whole fleet; on two cores two
/// run together).
///
/// [`MonthCosts`]: super::month_costs::MonthCosts
async fn months_up_to(
    app: &AppState,
    month: BillingMonth,
    now: DateTime<Utc>,
) -> UiResult<(Vec<MonthFigures>, Metered)> {
    let mut tasks = JoinSet::new();
    let mut m = month;
    for back in 0..MONTHS {
        let (costs, ledger) = (app.month_costs.clone(), app.http.ledger.clone());
        tasks.spawn(async move { (back, costs.report(&ledger, m, now).await) });
        m = m.previous();
    }
    let mut reports: Vec<Option<Metered>> = vec![None; MONTHS];
    while let Some(joined) = tasks.join_next().await {
        let (back, report) = match joined {
            Ok(done) => done,
            // A panic in a report is the page's panic (the router answers 500).
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(Problem::internal(format!("a cost report stopped: {e}")).into()),
        };
        reports[back] = Some(report.map_err(costs::cost_error)?);
    }
    // Newest first, as read; the chart wants oldest first.
    let history = reports
        .iter()
        .rev()
        .flatten()
        .map(|m| MonthFigures::of(&m.report))
        .collect();
    let shown = reports[0].take().expect("every month's report was read");
    Ok((history, shown))
}

/// `GET /ui/reports`.
async fn page(
    State(app): State<AppState>,
    session: Session,
    Query(query): Query<MonthQuery>,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let month = chosen(query.month.as_deref(), now)?;
    let (history, metered) = months_up_to(&app, month, now).await?;
    let report = &metered.report;
    let pulled = utilization(&app.http.store, month).await?;
    let body = html! {
        h1 { "Reports" }
        (month_picker(month, now))
        p.muted { "Figures as metered " (page::when(metered.at, now)) "; the API's "
            code { "GET /v1/reports/cost" } " meters afresh." }
        (history_section(&history, month))
        (machines_section(report))
        (utilization_section(&session, &pulled, report))
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        "Reports",
        &session,
        Nav::Reports,
        notice.as_deref(),
        body,
    ))
}

/// The month form (a native month picker; a plain text field where the
/// browser has none) and links to the months either side.
fn month_picker(month: BillingMonth, now: DateTime<Utc>) -> Markup {
    let current = BillingMonth::containing(now);
    html! {
        form.filters method="get" action="/ui/reports" {
            label {
                "Month"
                input type="month" name="month" value=(month) pattern="[0-9]{4}-[0-9]{2}" placeholder="YYYY-MM" required;
            }
            button type="submit" { "Show" }
            a href=(href(month.previous())) { "← " (month.previous()) }
            @if month < current {
                a href=(href(month.next())) { (month.next()) " →" }
            }
        }
    }
}

/// Cost and savings of the months up to the chosen one.
fn history_section(history: &[MonthFigures], chosen: BillingMonth) -> Markup {
    let groups: Vec<Group> = history
        .iter()
        .map(|h| Group {
            label: h.month.to_string(),
            values: vec![Some(h.cost), Some(h.saved)],
        })
        .collect();
    let first = history.first().map(|h| h.month).unwrap_or(chosen);
    let title = format!("Cost and savings by month, {first} to {chosen}");
    html! {
        section aria-labelledby="by-month" {
            h2 #by-month { "By month" }
            figure.chart {
                (chart::columns(Frame { title: &title, format: short_money }, &[COST, SAVED], &groups))
                figcaption.muted {
                    "Cost: every machine's running and storage, as the cost report meters it. "
                    "Saved: hours kept off after Machinist's stops, at the hourly rate then."
                }
            }
            div.scroll {
                table #months {
                    caption.sr-only { (title) }
                    thead { tr { th scope="col" { "Month" } th.num scope="col" { "Cost" } th.num scope="col" { "Saved" } th.num scope="col" { "Machines" } } }
                    tbody {
                        @for h in history {
                            tr aria-current=[(h.month == chosen).then_some("true")] {
                                th scope="row" {
                                    a href=(href(h.month)) { (h.month) }
                                    @if !h.complete { " " span.muted { "(so far)" } }
                                }
                                td.num {
                                    (page::money(h.cost))
                                    @if h.unpriced > 0 {
                                        br; span.muted { (h.unpriced) " unpriced" }
                                    }
                                }
                                td.num { (page::money(h.saved)) }
                                td.num { (h.machines) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What a machine is called on the page: its name, else its id.
fn name_of(line: &CostLine) -> &str {
    if line.name.is_empty() {
        &line.machine_id
    } else {
        &line.name
    }
}

/// The chosen month per machine: the costliest in a chart, all in a table.
fn machines_section(report: &CostReport) -> Markup {
    let month = report.month;
    // Costliest first; machines without a price last; then by id, so the
    // order is the same on every load.
    let mut lines: Vec<&CostLine> = report.machines.iter().collect();
    lines.sort_by(|a, b| {
        let cost = |l: &CostLine| l.total.filter(|t| t.is_finite());
        match (cost(a), cost(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.machine_id.cmp(&b.machine_id))
    });
    let top: Vec<Group> = lines
        .iter()
        .take(TOP)
        .map(|l| Group {
            label: name_of(l).to_string(),
            values: vec![l.total],
        })
        .collect();
    let title = if lines.len() > TOP {
        format!(
            "The {TOP} machines that cost most in {month}, of {}",
            lines.len()
        )
    } else {
        format!("Cost per machine in {month}")
    };
    // The id shows only where a name is not enough: two machines of one
    // name (the CSV has every id). An id on every row of a thousand is
    // a sixth of the page.
    let mut seen = HashSet::new();
    let twins: HashSet<&str> = lines
        .iter()
        .map(|l| name_of(l))
        .filter(|name| !seen.insert(*name))
        .collect();
    let t = &report.totals;
    html! {
        section aria-labelledby="per-machine" {
            h2 #per-machine { "Machines in " (month) @if !report.complete { " (so far)" } }
            div.cards {
                div.card { div.muted { "Cost" } div.big { (page::money(t.total)) } }
                div.card { div.muted { "Saved" } div.big { (page::money(t.saved)) } }
                div.card { div.muted { "Hours run" } div.big { (format!("{:.1}", t.hours)) } }
                div.card { div.muted { "Machines" } div.big { (lines.len()) } }
            }
            p {
                a.button.secondary #cost-csv href={ "/ui/reports/cost.csv?month=" (month) } download { "Download CSV" }
                @if t.unpriced > 0 {
                    " " span.muted { (t.unpriced) " machines have no known price and are left out of the sums." }
                }
            }
            figure.chart {
                (chart::rows(Frame { title: &title, format: short_money }, &[COST], &top))
            }
            div.scroll {
                table.report #machines {
                    caption.sr-only { "Cost and savings per machine in " (month) }
                    thead {
                        tr {
                            th scope="col" { "Machine" } th scope="col" { "Type" } th scope="col" { "Region" }
                            th.num scope="col" { "Hours" } th.num scope="col" { "Rate" } th.num scope="col" { "Cost" }
                            th.num scope="col" { "Saved" } th scope="col" { "Method" }
                        }
                    }
                    tbody {
                        // Lean rows (no classes; `table.report` aligns the
                        // figures): a fleet of a thousand machines is a
                        // thousand of them.
                        @for l in &lines {
                            tr {
                                td {
                                    (name_of(l))
                                    @if twins.contains(name_of(l)) { " (" (l.machine_id) ")" }
                                }
                                td { (l.machine_type.as_deref().unwrap_or("—")) }
                                td { (l.region.as_deref().unwrap_or("—")) }
                                td { (format!("{:.2}", l.hours)) }
                                td { (l.hourly_rate.map_or("—".to_string(), |r| format!("${r}/h"))) }
                                td { (l.total.map_or("—".to_string(), page::money)) }
                                td { (l.saved.map_or("—".to_string(), page::money)) }
                                td { (l.method.as_str()) }
                            }
                        }
                        @if lines.is_empty() {
                            tr { td colspan="8" { "No machine ran or existed in " (month) "." } }
                        }
                    }
                }
            }
        }
    }
}

/// The month's utilization as pulled and metered, and the pull button.
fn utilization_section(
    session: &Session,
    pulled: &UtilizationReport,
    report: &CostReport,
) -> Markup {
    let month = pulled.month;
    let names: HashMap<&str, &str> = report
        .machines
        .iter()
        .filter(|l| !l.name.is_empty())
        .map(|l| (l.machine_id.as_str(), l.name.as_str()))
        .collect();
    html! {
        section aria-labelledby="utilization" {
            h2 #utilization { "Utilization in " (month) }
            p.muted {
                "What Paperspace reported (a utilization pull) and what Machinist metered, per machine. "
                "Pulling queues one utilization job per known machine."
            }
            form.inline method="post" action="/ui/reports/utilization/pull" {
                (page::csrf_field(session))
                input type="hidden" name="month" value=(month);
                @if session.may_act() {
                    button type="submit" #pull { "Pull utilization for " (month) }
                } @else {
                    button type="submit" #pull disabled title="The viewer token may look, not act" { "Pull utilization for " (month) }
                }
            }
            div.scroll {
                table.report #utilization-table {
                    caption.sr-only { "Utilization in " (month) }
                    thead {
                        tr {
                            th scope="col" { "Machine" } th scope="col" { "Source" } th.num scope="col" { "Hours" }
                            th.num scope="col" { "Rate" } th.num scope="col" { "Storage / month" } th.num scope="col" { "Cost" }
                            th scope="col" { "Pulled" }
                        }
                    }
                    tbody {
                        @for l in &pulled.machines {
                            tr {
                                td title=(l.machine_id) { (names.get(l.machine_id.as_str()).copied().unwrap_or(&l.machine_id)) }
                                td { (l.source) }
                                td { (format!("{:.2}", l.hours_used)) }
                                td { (format!("${}/h", l.hourly_rate)) }
                                td { (page::money(l.storage_monthly_rate)) }
                                td { (page::money(l.cost)) }
                                td { (l.pulled_at.format("%Y-%m-%d %H:%M UTC")) }
                            }
                        }
                        @if pulled.machines.is_empty() {
                            tr { td colspan="7" { "Nothing pulled or metered for " (month) " yet." } }
                        }
                    }
                    @if !pulled.machines.is_empty() {
                        tfoot { tr { th scope="row" colspan="5" { "Total" } td { (page::money(pulled.total_cost)) } td {} } }
                    }
                }
            }
        }
    }
}

/// Dollars on an axis: `$0`, `$12.50`, `$1.2k`.
fn short_money(v: f64) -> String {
    let sign = if v < 0.0 { "−" } else { "" };
    let a = v.abs();
    // One decimal only where it says something: `$60k`, `$1.5k`.
    let scaled = |x: f64, unit: &str| {
        if (x * 10.0).round() % 10.0 == 0.0 {
            format!("{sign}${x:.0}{unit}")
        } else {
            format!("{sign}${x:.1}{unit}")
        }
    };
    if a >= 1_000_000.0 {
        scaled(a / 1_000_000.0, "M")
    } else if a >= 1_000.0 {
        scaled(a / 1_000.0, "k")
    } else if a == a.trunc() {
        format!("{sign}${a:.0}")
    } else {
        format!("{sign}${a:.2}")
    }
}

/// `GET /ui/reports/cost.csv?month=…`: the API's CSV download, under the
/// session cookie.
async fn cost_csv(
    State(app): State<AppState>,
    _session: Session,
    Query(query): Query<MonthQuery>,
) -> UiResult<Response> {
    let month = chosen(query.month.as_deref(), app.http.clock.now())?;
    Ok(costs::cost_csv(&app, month).await?)
}

/// `POST /ui/reports/utilization/pull`: what the API's pull does, then back
/// to the month's page saying how many jobs were queued.
async fn pull(State(app): State<AppState>, act: Act<PullForm>) -> UiResult<Response> {
    let month = chosen(Some(&act.form.month), app.http.clock.now())?;
    let ids = reports::pull(&app, month).await?;
    tracing::info!(%month, jobs = ids.len(), role = act.session.role.as_str(), "utilization pull requested on the dashboard");
    let jobs = if ids.len() == 1 { "job" } else { "jobs" };
    Ok(done(
        &app,
        &href(month),
        &format!("Queued {} utilization {jobs} for {month}.", ids.len()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_chosen_or_named_when_bad() {
        let now: DateTime<Utc> = "2026-04-02T10:00:00Z".parse().unwrap();
        assert_eq!(chosen(None, now).unwrap().to_string(), "2026-04");
        assert_eq!(chosen(Some(""), now).unwrap().to_string(), "2026-04");
        assert_eq!(chosen(Some("2026-01"), now).unwrap().to_string(), "2026-01");
        let bad = chosen(Some("2026-13"), now).unwrap_err().to_string();
        assert!(bad.contains("2026-13"), "{bad}");
    }

    #[test]
    fn axis_money_is_short() {
        assert_eq!(short_money(0.0), "$0");
        assert_eq!(short_money(12.5), "$12.50");
        assert_eq!(short_money(1500.0), "$1.5k");
        assert_eq!(short_money(60_000.0), "$60k");
        assert_eq!(short_money(-20.0), "−$20");
    }
}
