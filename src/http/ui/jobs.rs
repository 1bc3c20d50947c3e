//! The jobs pages: the list with its filters and bulk actions, and one
//! job's page with its timeline and its Retry and Cancel buttons.
//!
//! ## The list, `GET /ui/jobs`
//!
//! The counts per state on top (each a link to that state), a filter form
//! (`state`, `kind`, `machine`, `schedule`, a created-at range `from`/`to`
//! and a search box `q`), and the table, newest first, a page at a time.
//! The table and its pager are also served alone at `/ui/jobs/table` with
//! the same query: the page's copy carries `data-refresh` with that URL,
//! and `app.js` swaps it every few seconds unless paused. Without
//! JavaScript the page reads the same, only it does not move.
//!
//! Paging is keyset, as the API's `next_cursor`: "Older →" carries the id
//! of the page's last job, and the next page is the jobs below it, read on
//! the index of the filter (`(state, id)`, `(kind, id)`, `(machine_id, id)`,
//! a schedule's firings by job id, or the primary key) from that id down.
//! A page then costs its own rows whatever the size of the table and
//! however deep one pages; an `OFFSET` would read and drop every row
//! before the page, and a total count of the filter would read all its
//! rows on each refresh. Jobs that arrive meanwhile do not shift the
//! pages either: an id below the cursor is below it for good.
//!
//! ## Bulk actions, `POST /ui/jobs/bulk`
//!
//! Retry every failed job of the filter, or cancel every queued, waiting or
//! blocked one (running jobs are left alone: cancel those one by one), or
//! only the ticked rows: each through the same store call as
//! `POST /v1/jobs/{id}/retry|cancel`, at most [`BULK_CAP`] per press,
//! newest first. A job that changed meanwhile (finished, retried by
//! someone else) is skipped and counted.
//!
//! ## A job, `GET /ui/jobs/{id}`
//!
//! Its fields, the schedule firing that queued it if one did, then its
//! state, buttons and timeline (history oldest first, with each Paperspace
//! call's method, route, status and latency; its checkpoint; its error).
//! That second part refreshes itself from `/ui/jobs/{id}/live` while the
//! job is unfinished. Retry and Cancel answer what the API answers: the
//! same conflicts, as a page.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{UiError, UiResult};
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;
use super::{Act, AppState, NoFields, done};
use crate::http::error::Problem;
use crate::http::jobs;
use crate::http::params::{self, CursorKind};
use crate::job::{EventKind, Job, JobEvent, JobId, JobKind, JobState};
use crate::schedule::firing::Firing;
use crate::store::{CancelResult, JobFilter, RetryResult};

/// Jobs per page unless the query asks for another `limit`.
const PAGE: u32 = 50;
/// The most jobs one press of a bulk button acts on.
const BULK_CAP: u32 = 1000;
/// How many of a bulk action's store calls are in flight at once.
const BULK_AT_ONCE: usize = 64;
/// The states a bulk cancel takes: unfinished and not running.
const CANCELLABLE: [JobState; 3] = [JobState::Queued, JobState::Waiting, JobState::Blocked];

/// The jobs pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/jobs", get(list))
        .route("/ui/jobs/table", get(table))
        .route("/ui/jobs/bulk", post(bulk))
        .route("/ui/jobs/{id}", get(show))
        .route("/ui/jobs/{id}/live", get(show_live))
        .route("/ui/jobs/{id}/retry", post(retry))
        .route("/ui/jobs/{id}/cancel", post(cancel))
}

/// The list's query: the filter form's fields as typed (an empty field is
/// no filter), the cursor and the page size. Unknown parameters (the
/// notice's) are ignored here.
#[derive(Debug, Default, Clone, Deserialize)]
struct ListQuery {
    /// A job state (`failed`, `queued`, …).
    state: Option<String>,
    /// A job kind (`start`, `stop`, …).
    kind: Option<String>,
    /// A machine id.
    machine: Option<String>,
    /// A schedule's id or name.
    schedule: Option<String>,
    /// Created at or after: a date or a `datetime-local` value, UTC.
    from: Option<String>,
    /// Created before: a date (then the whole day counts) or a
    /// `datetime-local` value, UTC.
    to: Option<String>,
    /// A job id, a machine id or name, or an idempotency key.
    q: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Jobs per page, 1 to 500.
    limit: Option<String>,
}

/// The filter fields of [`ListQuery`], in the order links carry them.
const FILTER_FIELDS: [&str; 8] = [
    "state", "kind", "machine", "schedule", "from", "to", "q", "limit",
];

impl ListQuery {
    /// Field `name`, trimmed, or `None` when absent or blank.
    fn field(&self, name: &str) -> Option<&str> {
        let value = match name {
            "state" => &self.state,
            "kind" => &self.kind,
            "machine" => &self.machine,
            "schedule" => &self.schedule,
            "from" => &self.from,
            "to" => &self.to,
            "q" => &self.q,
            "cursor" => &self.cursor,
            "limit" => &self.limit,
            _ => &None,
        };
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// The filter as a query string (without `?`), with `cursor` if given.
    fn to_query(&self, cursor: Option<&str>) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for name in FILTER_FIELDS {
            if let Some(value) = self.field(name) {
                out.append_pair(name, value);
            }
        }
        if let Some(cursor) = cursor {
            out.append_pair("cursor", cursor);
        }
        out.finish()
    }

    /// The same filter with another state (the counts' links).
    fn with_state(&self, state: Option<JobState>) -> ListQuery {
        ListQuery {
            state: state.map(|s| s.as_str().to_string()),
            cursor: None,
            ..self.clone()
        }
    }

    /// Reads the fields of a posted form (the bulk form's hidden ones).
    fn from_pairs(pairs: &[(String, String)]) -> ListQuery {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        ListQuery {
            state: get("state"),
            kind: get("kind"),
            machine: get("machine"),
            schedule: get("schedule"),
            from: get("from"),
            to: get("to"),
            q: get("q"),
            cursor: None,
            limit: None,
        }
    }
}

/// A [`ListQuery`] read and checked: what the store is asked.
struct Listing {
    /// The store's filter.
    filter: JobFilter,
    /// Jobs below this id (the cursor).
    before: Option<JobId>,
    /// Page size.
    limit: u32,
    /// How the search box was read, in words, to show under the form.
    search: Option<String>,
}

/// Checks the query and turns names into ids (a schedule's name, a
/// machine's name in the search box). A field that is not valid is a 400
/// page naming it, a schedule that does not exist a 404. A search that
/// names a machine replaces the machine field.
async fn listing(app: &AppState, query: &ListQuery) -> UiResult<Listing> {
    let store = &app.http.store;
    let mut filter = JobFilter {
        state: query
            .field("state")
            .map(str::parse::<JobState>)
            .transpose()
            .map_err(|e| UiError::bad_input(format!("state: {e}")))?,
        kind: query
            .field("kind")
            .map(str::parse::<JobKind>)
            .transpose()
            .map_err(|e| UiError::bad_input(format!("kind: {}", e.message)))?,
        machine_id: query.field("machine").map(|m| clip(m).to_string()),
        created_from: query
            .field("from")
            .map(|v| instant("from", v, false))
            .transpose()?,
        created_to: query
            .field("to")
            .map(|v| instant("to", v, true))
            .transpose()?,
        ..JobFilter::default()
    };
    if let Some(key) = query.field("schedule") {
        let schedule = store.schedule(clip(key)).await?.ok_or_else(|| {
            UiError::not_found(format!("there is no schedule {}", params::shorten(key)))
        })?;
        filter.schedule_id = Some(schedule.id);
    }
    let mut search = None;
    if let Some(q) = query.field("q") {
        let q = clip(q);
        if let Some(id) = params::positive_id(q.strip_prefix('#').unwrap_or(q)) {
            filter.id = Some(id);
            search = Some(format!("job {id}"));
        } else if let Some(machine) = store
            .machines()
            .await?
            .into_iter()
            .find(|m| m.machine.id == q || m.machine.name.eq_ignore_ascii_case(q))
        {
            search = Some(format!(
                "machine {} ({})",
                machine.machine.id, machine.machine.name
            ));
            filter.machine_id = Some(machine.machine.id);
        } else {
            filter.idempotency_key = Some(q.to_string());
            search = Some(format!("idempotency key “{q}”"));
        }
    }
    Ok(Listing {
        filter,
        before: params::decode_cursor(CursorKind::Jobs, query.field("cursor"))?,
        limit: match query.field("limit") {
            Some(limit) => params::limit(Some(limit))?,
            None => PAGE,
        },
        search,
    })
}

/// Typed text is cut to 200 characters before it is looked up or echoed.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A `from`/`to` field as an instant, UTC: RFC 3339, a `datetime-local`
/// value (with or without seconds) or a date; a date as `to` means the end
/// of that day (the next midnight), so `from=to=2026-03-02` is that day.
fn instant(field: &str, value: &str, end_of_day: bool) -> UiResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(at.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt()
        } else {
            Some(day)
        };
        if let Some(midnight) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(midnight.and_utc());
        }
    }
    Err(UiError::bad_input(format!(
        "{field}: `{}` is not a date (2026-03-02) or a time (2026-03-02T09:30), UTC",
        params::shorten(value)
    )))
}

/// A page of the listing and the cursor of the next one.
async fn read_page(app: &AppState, listing: &Listing) -> UiResult<(Vec<Job>, Option<String>)> {
    let mut jobs = app
        .http
        .store
        .jobs(&listing.filter, listing.before, listing.limit + 1)
        .await?;
    // One job more than the page says whether there is an older page.
    let next = if jobs.len() > listing.limit as usize {
        jobs.truncate(listing.limit as usize);
        jobs.last()
            .map(|j| params::encode_cursor(CursorKind::Jobs, j.id))
    } else {
        None
    };
    Ok((jobs, next))
}

/// The query, or a 400 page (not axum's plain text) when it cannot be read.
fn read_query<T>(query: Result<Query<T>, QueryRejection>) -> UiResult<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| UiError::bad_input(format!("the query cannot be read: {}", e.body_text())))
}

/// `GET /ui/jobs`.
async fn list(
    State(app): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    let query = read_query(query)?;
    let listing = listing(&app, &query).await?;
    let (jobs, next) = read_page(&app, &listing).await?;
    let counts = app.http.store.counts().await?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let count_of = |state: JobState| {
        counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    };
    let now = app.http.clock.now();
    let filtered = query.to_query(None);
    let body = html! {
        h1 { "Jobs" }
        nav.cards aria-label="Jobs per state" {
            a.card href={ "/ui/jobs?" (query.with_state(None).to_query(None)) } {
                div.big { (total) } "all"
            }
            @for state in JobState::ALL {
                a.card href={ "/ui/jobs?" (query.with_state(Some(state)).to_query(None)) }
                    aria-current=[(query.field("state") == Some(state.as_str())).then_some("true")] {
                    div.big { (count_of(state)) } (page::state(state.as_str()))
                }
            }
        }
        (filter_form(&app, &query, &listing.filter).await?)
        @if let Some(search) = &listing.search {
            p.muted { "Searching for " (search) "." }
        }
        form #bulk method="post" action="/ui/jobs/bulk"
            data-confirm=(bulk_question(count_of(JobState::Failed), CANCELLABLE.iter().map(|s| count_of(*s)).sum())) {
            (page::csrf_field(&session))
            @for name in FILTER_FIELDS {
                @if name != "limit" {
                    @if let Some(value) = query.field(name) {
                        input type="hidden" name=(name) value=(value);
                    }
                }
            }
            div.actions {
                @if session.may_act() {
                    button.secondary type="submit" name="action" value="retry" { "Retry failed jobs" }
                    button.danger type="submit" name="action" value="cancel" { "Cancel queued, waiting and blocked jobs" }
                } @else {
                    button.secondary type="submit" name="action" value="retry" disabled title="The viewer token may look, not act" { "Retry failed jobs" }
                    button.danger type="submit" name="action" value="cancel" disabled title="The viewer token may look, not act" { "Cancel queued, waiting and blocked jobs" }
                }
                button.secondary type="button" data-pause { "Pause live updates" }
            }
            p.muted {
                "The buttons act on every job of the filter (all pages, not only this one) or on the ticked rows, at most "
                (thousands(BULK_CAP.into())) " per press, newest first; press again for more. Running jobs are not bulk-cancelled."
            }
            (table_part(&session, &query, &jobs, next.as_deref(), now))
        }
        @if filtered.is_empty() { } @else { p { a href="/ui/jobs" { "Clear the filters" } } }
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        "Jobs",
        &session,
        Nav::Jobs,
        notice.as_deref(),
        body,
    ))
}

/// What a bulk button asks before it acts: at most how many jobs, from
/// the counts of every job in the states it takes (the filter's are fewer
/// or as many) and the cap of a press.
fn bulk_question(failed: u64, cancellable: u64) -> String {
    let cap = u64::from(BULK_CAP);
    format!(
        "Retry at most {} failed jobs, or cancel at most {} queued, waiting or blocked jobs, of this filter \
         (only the ticked rows if any are ticked)?",
        thousands(failed.min(cap)),
        thousands(cancellable.min(cap))
    )
}

/// `1234` as `1,234`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The filter form, prefilled with the query; the times as the
/// `datetime-local` inputs show them (a date typed in a link becomes its
/// midnight, which means the same).
async fn filter_form(app: &AppState, query: &ListQuery, filter: &JobFilter) -> UiResult<Markup> {
    let machines = app.http.store.machines().await?;
    let value = |name: &str| query.field(name).unwrap_or_default().to_string();
    let local = |at: Option<DateTime<Utc>>| {
        at.map(|at| at.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    Ok(html! {
        form #job-filters .filters method="get" action="/ui/jobs" {
            label { "State"
                select name="state" {
                    option value="" { "any" }
                    @for state in JobState::ALL {
                        option value=(state.as_str()) selected[query.field("state") == Some(state.as_str())] { (state.as_str()) }
                    }
                }
            }
            label { "Kind"
                select name="kind" {
                    option value="" { "any" }
                    @for kind in JobKind::ALL {
                        option value=(kind.as_str()) selected[query.field("kind") == Some(kind.as_str())] { (kind.as_str()) }
                    }
                }
            }
            label { "Machine id"
                input type="text" name="machine" value=(value("machine")) list="known-machines" size="12";
            }
            datalist #known-machines {
                @for m in &machines {
                    option value=(m.machine.id) { (m.machine.name) }
                }
            }
            label { "Schedule (id or name)"
                input type="text" name="schedule" value=(value("schedule")) size="12";
            }
            label { "Created from (UTC)"
                input type="datetime-local" name="from" value=(local(filter.created_from));
            }
            label { "Created before (UTC)"
                input type="datetime-local" name="to" value=(local(filter.created_to));
            }
            label { "Search"
                input type="search" name="q" value=(value("q")) size="18"
                    placeholder="job id, machine, key" aria-describedby="search-help";
            }
            @if let Some(limit) = query.field("limit") {
                input type="hidden" name="limit" value=(limit);
            }
            button type="submit" { "Filter" }
        }
        p #search-help .muted {
            "Search takes a job id (12 or #12), a machine id or name, or a job's idempotency key, exactly. "
            "Times are UTC; a date alone as “before” counts that whole day. "
            "A schedule's jobs are those its firings queued."
        }
    })
}

/// `GET /ui/jobs/table`: the live part of the list.
async fn table(
    State(app): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> UiResult<Markup> {
    let query = read_query(query)?;
    let listing = listing(&app, &query).await?;
    let (jobs, next) = read_page(&app, &listing).await?;
    Ok(table_part(
        &session,
        &query,
        &jobs,
        next.as_deref(),
        app.http.clock.now(),
    ))
}

/// The table and its pager, in the element that refreshes itself.
fn table_part(
    session: &Session,
    query: &ListQuery,
    jobs: &[Job],
    next: Option<&str>,
    now: DateTime<Utc>,
) -> Markup {
    let here = query.to_query(query.field("cursor"));
    html! {
        div #jobs-live data-refresh={ "/ui/jobs/table?" (here) } {
            div.scroll {
                table #jobs {
                    thead { tr {
                        @if session.may_act() {
                            th { input type="checkbox" data-check-all="id" aria-label="Tick every row"; }
                        }
                        th { "Job" } th { "Kind" } th { "Machine" } th { "State" }
                        th.num { "Attempts" } th.hide-phone { "Created" } th.hide-phone { "Updated" } th { "Error" }
                    } }
                    tbody {
                        @for job in jobs {
                            tr data-job-id=(job.id) {
                                @if session.may_act() {
                                    td { input type="checkbox" name="id" value=(job.id) aria-label={ "Job " (job.id) }; }
                                }
                                td { a href={ "/ui/jobs/" (job.id) } { (job.id) } }
                                td { (job.kind.as_str()) }
                                td {
                                    @if let Some(m) = &job.machine_id {
                                        a href={ "/ui/jobs?machine=" (page::urlencode(m)) } title="This machine's jobs" { (m) }
                                    } @else { "—" }
                                }
                                td { (page::state(job.state.as_str())) }
                                td.num { (job.attempt) "/" (job.max_attempts) }
                                td.hide-phone { (page::when(job.created_at, now)) }
                                td.hide-phone { (page::when(job.updated_at, now)) }
                                td { @if let Some(error) = &job.last_error { span.error-summary title=(error) { (summary(error)) } } }
                            }
                        }
                        @if jobs.is_empty() {
                            tr { td colspan="9" .muted { "No jobs match." } }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if query.field("cursor").is_some() {
                    a href={ "/ui/jobs?" (query.to_query(None)) } { "← Newest" }
                }
                @if let Some(next) = next {
                    a rel="next" href={ "/ui/jobs?" (query.to_query(Some(next))) } { "Older →" }
                }
            }
        }
    }
}

/// An error's first line, cut to 120 characters.
fn summary(error: &str) -> String {
    let line = error.lines().next().unwrap_or_default();
    params::shorten_to(line, 120)
}

/// `POST /ui/jobs/bulk`: `action=retry|cancel`, the filter's fields, and
/// optionally `id` once per ticked row.
async fn bulk(
    State(app): State<AppState>,
    Act { form, .. }: Act<Vec<(String, String)>>,
) -> UiResult<Response> {
    let query = ListQuery::from_pairs(&form);
    let action = form
        .iter()
        .find(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str());
    let retrying = match action {
        Some("retry") => true,
        Some("cancel") => false,
        _ => {
            return Err(UiError::bad_input(
                "action must be retry or cancel (the form's buttons)",
            ));
        }
    };
    let ticked: Vec<JobId> = form
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| params::job_id(v))
        .collect::<Result<_, Problem>>()?;
    let listing = listing(&app, &query).await?;
    let mut skipped = 0u32;
    let wanted: &[JobState] = if retrying {
        &[JobState::Failed]
    } else {
        &CANCELLABLE
    };
    // The jobs to act on, newest first, at most BULK_CAP: the ticked rows,
    // or the filter's jobs in the states the action takes.
    let mut targets: Vec<JobId> = if ticked.is_empty() {
        let mut ids = Vec::new();
        for state in wanted {
            if listing.filter.state.is_some_and(|s| s != *state) {
                continue;
            }
            let filter = JobFilter {
                state: Some(*state),
                ..listing.filter.clone()
            };
            let jobs = app.http.store.jobs(&filter, None, BULK_CAP + 1).await?;
            ids.extend(jobs.iter().map(|j| j.id));
        }
        ids
    } else {
        // Ticked rows in a state the action does not take are skipped as
        // the filter's would be (a ticked running job is not cancelled).
        let mut ids = Vec::new();
        for id in ticked.into_iter().take(BULK_CAP as usize + 1) {
            match app.http.store.job(id).await? {
                Some(job) if wanted.contains(&job.state) => ids.push(id),
                _ => skipped += 1,
            }
        }
        ids
    };
    targets.sort_unstable_by(|a, b| b.cmp(a));
    targets.dedup();
    let capped = targets.len() > BULK_CAP as usize;
    targets.truncate(BULK_CAP as usize);
    let now = app.http.clock.now();
    let mut done_n = 0u32;
    // The calls of POST /v1/jobs/{id}/retry and /cancel, one per job (each
    // keeps its own conflict rules), [`BULK_AT_ONCE`] in flight: the
    // store's writer commits those waiting together in one transaction, so
    // a thousand jobs cost a few dozen commits, not a thousand.
    for chunk in targets.chunks(BULK_AT_ONCE) {
        let mut calls = tokio::task::JoinSet::new();
        for &id in chunk {
            let store = app.http.store.clone();
            calls.spawn(async move {
                if retrying {
                    store
                        .retry(id, now)
                        .await
                        .map(|r| matches!(r, RetryResult::Queued(_)))
                } else {
                    store
                        .cancel(id, now)
                        .await
                        .map(|r| matches!(r, CancelResult::Cancelled(_)))
                }
            });
        }
        while let Some(acted) = calls.join_next().await {
            let acted = acted
                .map_err(|e| Problem::internal(format!("a bulk action's call failed: {e}")))??;
            if acted {
                done_n += 1;
            } else {
                skipped += 1;
            }
        }
    }
    tracing::info!(
        action = if retrying { "retry" } else { "cancel" },
        acted = done_n,
        skipped,
        "bulk job action on the dashboard"
    );
    let mut text = format!(
        "{} {} job{}",
        if retrying { "retried" } else { "cancelled" },
        thousands(done_n.into()),
        if done_n == 1 { "" } else { "s" }
    );
    if skipped > 0 {
        text.push_str(&format!(
            "; {skipped} skipped ({})",
            if retrying {
                "not failed"
            } else {
                "running or finished"
            }
        ));
    }
    if capped {
        text.push_str(&format!(
            "; stopped at {}, press again for the rest",
            thousands(BULK_CAP.into())
        ));
    }
    let back = format!("/ui/jobs?{}", query.to_query(None));
    Ok(done(&app, back.trim_end_matches('?'), &text))
}

/// A job id from the path, or a 400 page.
fn path_id(path: Result<Path<String>, PathRejection>) -> UiResult<JobId> {
    let Path(raw) = path.map_err(|e| UiError::bad_input(e.body_text()))?;
    Ok(params::job_id(&raw)?)
}

/// A job, or the 404 page.
async fn find(app: &AppState, id: JobId) -> UiResult<Job> {
    app.http
        .store
        .job(id)
        .await?
        .ok_or_else(|| UiError::not_found(format!("there is no job {id}")))
}

/// `GET /ui/jobs/{id}`.
async fn show(
    State(app): State<AppState>,
    session: Session,
    path: Result<Path<String>, PathRejection>,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    let id = path_id(path)?;
    // The job first, then its events (as the API does): events are written
    // with the change they record, so a final job's are then complete.
    let job = find(&app, id).await?;
    let events = app.http.store.events(id).await?;
    let firing = app.http.store.job_firing(id).await?;
    let schedule_name = match &firing {
        Some(f) => app
            .http
            .store
            .schedule(&f.schedule_id.to_string())
            .await?
            .map(|s| s.name),
        None => None,
    };
    let now = app.http.clock.now();
    let body = html! {
        p { a href="/ui/jobs" { "← Jobs" } }
        h1 { "Job " (job.id) " · " (job.kind.as_str()) }
        dl.fields {
            dt { "Kind" } dd { (job.kind.as_str()) }
            dt { "Machine" } dd {
                @if let Some(m) = &job.machine_id {
                    a href={ "/ui/jobs?machine=" (page::urlencode(m)) } { (m) }
                } @else { "—" }
            }
            dt { "Created" } dd { (page::when(job.created_at, now)) }
            dt { "Priority" } dd { (job.priority) }
            @if let Some(wait) = job.wait {
                dt { "Waits for" } dd { (wait.as_str()) " (at most " (job.wait_timeout.as_secs()) " s)" }
            }
            dt { "Idempotency key" } dd { (job.idempotency_key.as_deref().unwrap_or("—")) }
            dt { "Depends on" } dd {
                @if job.depends_on.is_empty() { "—" }
                @for (i, dep) in job.depends_on.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/ui/jobs/" (dep) } { (dep) }
                }
                @if let Some(on) = job.on_dependency_failure { " (if one fails: " (on.as_str()) ")" }
            }
            @if let Some(run) = job.group_run {
                dt { "Group run" } dd { (run) @if let Some(step) = job.group_step { ", step " (step) } }
            }
            dt { "Schedule" } dd { (firing_text(firing.as_ref(), schedule_name.as_deref(), now)) }
            dt { "Arguments" } dd { pre { (pretty(&job.args)) } }
        }
        (live_part(&session, &job, &events, now))
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        &format!("Job {id}"),
        &session,
        Nav::Jobs,
        notice.as_deref(),
        body,
    ))
}

/// The firing that queued the job, in words.
fn firing_text(firing: Option<&Firing>, name: Option<&str>, now: DateTime<Utc>) -> Markup {
    html! {
        @if let Some(f) = firing {
            a href={ "/ui/jobs?schedule=" (f.schedule_id) } { (name.unwrap_or("a deleted schedule")) " (" (f.schedule_id) ")" }
            ", its firing due " (page::when(f.fire_at, now))
            @if let Some(reason) = &f.reason { " — " (reason) }
        } @else {
            "— (submitted, not fired)"
        }
    }
}

/// `GET /ui/jobs/{id}/live`: the part of the job page that changes.
async fn show_live(
    State(app): State<AppState>,
    session: Session,
    path: Result<Path<String>, PathRejection>,
) -> UiResult<Markup> {
    let id = path_id(path)?;
    let job = find(&app, id).await?;
    let events = app.http.store.events(id).await?;
    Ok(live_part(&session, &job, &events, app.http.clock.now()))
}

/// The state, the buttons and the timeline; refreshing itself while the
/// job is unfinished (the last copy, once it finished, stops).
fn live_part(session: &Session, job: &Job, events: &[JobEvent], now: DateTime<Utc>) -> Markup {
    let refresh = (!job.state.is_final()).then(|| format!("/ui/jobs/{}/live", job.id));
    html! {
        section #job-live data-refresh=[refresh] {
            dl.fields {
                dt { "State" } dd #job-state { (page::state(job.state.as_str())) }
                dt { "Attempts" } dd { (job.attempt) " of " (job.max_attempts) }
                dt { "Due" } dd { (page::when(job.run_at, now)) }
                dt { "Updated" } dd { (page::when(job.updated_at, now)) }
                @if let Some(at) = job.finished_at {
                    dt { "Finished" } dd { (page::when(at, now)) }
                }
            }
            div.actions {
                @if job.state == JobState::Failed {
                    (page::button_form(session, &format!("/ui/jobs/{}/retry", job.id), "Retry", None, ""))
                }
                @if !job.state.is_final() {
                    (page::button_form(session, &format!("/ui/jobs/{}/cancel", job.id), "Cancel",
                        Some(&format!("Cancel job {}?", job.id)), "danger"))
                }
                @if !job.state.is_final() {
                    button.secondary type="button" data-pause { "Pause live updates" }
                }
            }
            @if let Some(error) = &job.last_error {
                h2 { "Error" }
                pre.error #job-error { (error) }
            }
            h2 { "Timeline" }
            ol.timeline #timeline {
                @for event in events {
                    li data-event-id=(event.id) {
                        (page::when(event.at, now)) " "
                        @match event.event.kind {
                            EventKind::State => {
                                strong { "state " }
                                @if let Some(from) = event.event.from_state { (from.as_str()) " → " }
                                @if let Some(to) = event.event.to_state { (page::state(to.as_str())) }
                                " " (event.event.message)
                            }
                            EventKind::ApiCall => {
                                strong { "Paperspace call " }
                                code { (event.event.method.as_deref().unwrap_or("?")) " " (event.event.route.as_deref().unwrap_or("?")) }
                                " → "
                                @match event.event.status {
                                    Some(status) => { (status) }
                                    None => { "no answer" }
                                }
                                @if let Some(ms) = event.event.latency_ms { " in " (ms) " ms" }
                                @if let Some(error) = &event.event.error { br; span.muted { (error) } }
                            }
                            EventKind::Note => {
                                strong { "note " } (event.event.message)
                            }
                        }
                    }
                }
                @if events.is_empty() { li.muted { "No events yet." } }
            }
            @if let Some(checkpoint) = &job.checkpoint {
                h2 { "Checkpoint" }
                pre { (serde_json::to_string_pretty(checkpoint).unwrap_or_default()) }
            }
            @if let Some(result) = &job.result {
                h2 { "Result" }
                pre { (pretty(result)) }
            }
        }
    }
}

/// JSON, indented.
fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `POST /ui/jobs/{id}/retry`: what `POST /v1/jobs/{id}/retry` does, and
/// its refusals in its words.
async fn retry(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    let id = path_id(path)?;
    jobs::retry_job(&app.http, id).await?;
    tracing::info!(job_id = id, "failed job re-queued on the dashboard");
    Ok(done(
        &app,
        &format!("/ui/jobs/{id}"),
        &format!("job {id} queued again"),
    ))
}

/// `POST /ui/jobs/{id}/cancel`: what `POST /v1/jobs/{id}/cancel` does, and
/// its refusals in its words.
async fn cancel(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    _act: Act<NoFields>,
) -> UiResult<Response> {
    let id = path_id(path)?;
    jobs::cancel_job(&app.http, id).await?;
    tracing::info!(job_id = id, "job cancelled on the dashboard");
    Ok(done(
        &app,
        &format!("/ui/jobs/{id}"),
        &format!("job {id} cancelled"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_read_as_utc() {
        let at = |v: &str, end: bool| instant("from", v, end).unwrap().to_rfc3339();
        assert_eq!(at("2026-03-02", false), "2026-03-02T00:00:00+00:00");
        assert_eq!(at("2026-03-02", true), "2026-03-03T00:00:00+00:00");
        assert_eq!(at("2026-03-02T09:30", true), "2026-03-02T09:30:00+00:00");
        assert_eq!(
            at("2026-03-02T09:30:00+01:00", false),
            "2026-03-02T08:30:00+00:00"
        );
        assert!(instant("to", "yesterday", false).is_err());
    }

    #[test]
    fn the_bulk_question_says_how_many_at_most() {
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let q = bulk_question(12, 5000);
        assert!(
            q.contains("at most 12 failed") && q.contains("at most 1,000 queued"),
            "{q}"
        );
    }

    #[test]
    fn links_carry_the_filter_and_drop_blank_fields() {
        let q = ListQuery {
            state: Some("failed".into()),
            machine: Some("  ".into()),
            q: Some("a b&c".into()),
            ..ListQuery::default()
        };
        assert_eq!(q.to_query(Some("j5")), "state=failed&q=a+b%26c&cursor=j5");
        assert_eq!(q.with_state(None).to_query(None), "q=a+b%26c");
    }
}
