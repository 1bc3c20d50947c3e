//! The daemon's health (`GET /ui/health`), read only: whether it is ready
//! (the very checks of `GET /readyz`, [`readiness`]), the job queue by
//! state, the Paperspace rate limit and what is left of it, the calls the
//! jobs made to Paperspace and when it last answered, and the webhook
//! deliveries.
//!
//! Everything but the heading is one live part: the page asks for
//! `/ui/health?part=live` every few seconds (`app.js`, with a pause) and
//! swaps the answer in. Like `/readyz`, a look may probe Paperspace (at
//! most once per 30 s) and the database (when it wrote nothing for 5 s).
//!
//! [`readiness`]: crate::http::health::readiness

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::AppState;
use super::error::UiResult;
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;
use crate::http::health::readiness;
use crate::job::{JobKind, JobState};
use crate::store::JobFilter;

/// Recent webhook deliveries shown.
const RECENT_DELIVERIES: u32 = 10;

/// The health page's route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ui/health", axum::routing::get(page))
}

/// `?part=live`: only the live part, for the refresh.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Part {
    /// `live` answers the live part alone.
    #[serde(default)]
    part: Option<String>,
}

/// `GET /ui/health`.
async fn page(
    State(app): State<AppState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
    Query(part): Query<Part>,
) -> UiResult<Markup> {
    let live = live(&app).await?;
    if part.part.as_deref() == Some("live") {
        return Ok(live);
    }
    let body = html! {
        h1 { "Health" }
        p {
            button.secondary type="button" data-pause { "Pause live updates" }
        }
        (live)
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        "Health",
        &session,
        Nav::Health,
        notice.as_deref(),
        body,
    ))
}

/// The part of the page that refreshes itself.
async fn live(app: &AppState) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let store = &app.http.store;
    let ready = readiness(app).await;
    let counts: HashMap<JobState, u64> = store.counts().await?.into_iter().collect();
    let gauges = store.gauges(now).await?;
    // Deliveries are `deliver` jobs: their counts are among the gauges'.
    let deliveries: Vec<(&str, i64)> = gauges
        .jobs
        .iter()
        .filter(|(kind, _, _)| kind == JobKind::Deliver.as_str())
        .map(|(_, state, n)| (state.as_str(), *n))
        .collect();
    let recent = store
        .jobs(
            &JobFilter {
                kind: Some(JobKind::Deliver),
                ..JobFilter::default()
            },
            None,
            RECENT_DELIVERIES,
        )
        .await?;
    let endpoints: BTreeMap<i64, String> = if recent.is_empty() {
        BTreeMap::new()
    } else {
        store
            .endpoints()
            .await?
            .into_iter()
            .map(|e| (e.id, e.name.unwrap_or(e.url)))
            .collect()
    };
    // Readiness caught the counters up; the summary reads them as they are.
    let calls = app.metrics.api_call_summary();
    let last_answer = app.metrics.last_api_answer();
    let budget = app.http.api.as_ref().and_then(|api| api.budget());
    let due: i64 = gauges
        .depth
        .iter()
        .filter(|(_, due, _)| *due)
        .map(|(_, _, n)| n)
        .sum();

    Ok(html! {
        div #health-live data-refresh="/ui/health?part=live" {
            div.cards {
                div.card #card-ready {
                    div.muted { "Readiness" }
                    div.big {
                        @match &ready {
                            Ok(_) => (page::state("ready")),
                            Err(_) => (page::state("not-ready")),
                        }
                    }
                    div.muted { "as " code { "GET /readyz" } " answers" }
                }
                div.card #card-queue {
                    div.muted { "Due now" }
                    div.big { (due) }
                    div.muted {
                        @if let Some(at) = gauges.oldest_due {
                            "oldest due " (page::relative(at, now))
                        } @else {
                            "no job is waiting for a worker"
                        }
                    }
                }
                div.card #card-paperspace {
                    div.muted { "Paperspace last answered" }
                    div.big {
                        @if let Some(at) = last_answer {
                            (page::relative(at, now))
                        } @else {
                            "—"
                        }
                    }
                    div.muted { (calls.total) " calls by jobs · " (calls.throttled) " throttled" }
                }
            }

            h2 { "Readiness" }
            @match &ready {
                Ok(r) => {
                    div.scroll {
                        table #readiness {
                            thead { tr { th { "Check" } th { "Found" } } }
                            tbody {
                                @for (check, found) in &r.checks {
                                    tr { td { (check) } td { (page::state("ok")) " " (found) } }
                                }
                                tr {
                                    td { "meter" }
                                    td {
                                        (r.meter.events) " machine events kept"
                                        @if let Some(at) = r.meter.ingested_at {
                                            "; last read " (page::when(at, now))
                                        } @else {
                                            "; not read yet"
                                        }
                                    }
                                }
                                @if let Some(s) = &r.account_standing {
                                    tr {
                                        td { "account" }
                                        td {
                                            @if s.in_good_standing { (page::state("ok")) " in good standing" }
                                            @else { (page::state("error")) " not in good standing: starts are refused" }
                                            @if s.admin_locked { "; locked by Paperspace staff" }
                                            @if !s.has_payment_method { "; no payment method on file" }
                                            @for m in &s.messages { br; span.muted { (m) } }
                                            br; span.age { "checked " (page::relative(s.checked_at, now)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Err(problem) => {
                    p.error role="alert" #not-ready {
                        strong { "Not ready" }
                        @if let Some(field) = &problem.field { " (" (field) ")" }
                        ": " (problem.message)
                    }
                }
            }

            h2 { "Job queue" }
            div.scroll {
                table #queue {
                    thead { tr { th { "State" } th.num { "Jobs" } } }
                    tbody {
                        @for state in JobState::ALL {
                            tr data-state=(state.as_str()) {
                                td { a href={ "/ui/jobs?state=" (state.as_str()) } { (page::state(state.as_str())) } }
                                td.num { (counts.get(&state).copied().unwrap_or(0)) }
                            }
                        }
                    }
                }
            }
            @if !gauges.depth.is_empty() {
                p.muted {
                    @for (i, (state, is_due, n)) in gauges.depth.iter().enumerate() {
                        @if i > 0 { " · " }
                        (n) " " (state) @if *is_due { " due now" } @else { " due later" }
                    }
                }
            }

            h2 { "Paperspace" }
            div.scroll {
                table #paperspace {
                    tbody {
                        tr {
                            th { "Rate limit" }
                            td {
                                @if let Some(b) = budget {
                                    (format!("{:.2}", b.per_second)) " calls/s, bursts of " (b.burst)
                                    " · " (format!("{:.1}", b.available)) " available now"
                                    @if let Some(paused) = b.paused_for {
                                        " · " (page::state("paused")) " every call held back "
                                        (humantime::format_duration(std::time::Duration::from_secs(paused.as_secs().max(1))))
                                        " more after a 429"
                                    }
                                } @else {
                                    span.muted { "no rate-limited Paperspace client in this process" }
                                }
                            }
                        }
                        tr {
                            th { "Calls by jobs" }
                            td {
                                (calls.total) " counted · " (calls.throttled) " throttled (429) · "
                                (calls.failed) " failed on Paperspace's side or unanswered"
                            }
                        }
                        tr {
                            th { "Last answer" }
                            td {
                                @if let Some(at) = last_answer { (page::when(at, now)) }
                                @else { span.muted { "no job has had an answer yet" } }
                            }
                        }
                    }
                }
            }

            h2 { "Webhook deliveries" }
            @if deliveries.is_empty() {
                p.muted { "No deliveries yet." }
            } @else {
                p #delivery-counts {
                    @for (i, (state, n)) in deliveries.iter().enumerate() {
                        @if i > 0 { " · " }
                        (n) " " (page::state(state))
                    }
                }
            }
            @if !recent.is_empty() {
                div.scroll {
                    table #deliveries {
                        thead {
                            tr {
                                th { "Job" } th { "State" } th.hide-phone { "Endpoint" }
                                th.hide-phone { "Attempts" } th { "Updated" } th.hide-phone { "Last error" }
                            }
                        }
                        tbody {
                            @for job in &recent {
                                @let endpoint = job.args.get("endpoint").and_then(|v| v.as_i64());
                                tr {
                                    td { a href={ "/ui/jobs/" (job.id) } { "#" (job.id) } }
                                    td { (page::state(job.state.as_str())) }
                                    td.hide-phone {
                                        @match endpoint {
                                            Some(id) => (endpoints.get(&id).cloned().unwrap_or_else(|| format!("endpoint {id} (deleted)"))),
                                            None => "—",
                                        }
                                    }
                                    td.hide-phone { (job.attempt) " of " (job.max_attempts) }
                                    td { (page::when(job.updated_at, now)) }
                                    td.hide-phone { (job.last_error.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}
