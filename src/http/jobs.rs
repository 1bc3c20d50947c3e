//! The job routes: submit, list, show, cancel, retry, and the history.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::Problem;
use super::follow;
use super::params::{self, CursorKind};
use super::{AppState, HttpState};
use crate::job::dependency::no_such_job;
use crate::job::operation::check_id;
use crate::job::{
    BatchRequest, DependencyRef, Job, JobEvent, JobId, JobKind, JobRequest, JobState, SpecError,
};
use crate::store::{CancelResult, EventFilter, JobFilter, RetryResult, StoreError};

/// A page of `GET /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<Job>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of `GET /v1/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Newest first; with `after`, oldest first.
    pub events: Vec<JobEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page (and
    /// always with `after`).
    pub next_cursor: Option<String>,
    /// Pass as `after` to read on: the newest event the store held when
    /// the page was read (without `after`), or the last event of the page
    /// (with `after`; the `after` given when the page is empty). Absent
    /// (0) from daemons that cannot follow.
    #[serde(default)]
    pub next_after: i64,
}

/// `GET /v1/jobs/{id}`: the job's fields with its events beside them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    /// The job's own fields, flattened beside `events`.
    #[serde(flatten)]
    pub job: Job,
    /// Oldest first.
    pub events: Vec<JobEvent>,
}

/// `POST /v1/jobs/batch`: the jobs in the order of the request, and the id
/// each `ref` was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// In the order of the request (not the order they were stored in).
    pub jobs: Vec<Job>,
    /// Each `ref` of the request and the id of its job.
    pub refs: std::collections::BTreeMap<String, JobId>,
}

/// `POST /v1/jobs?dry_run=true|false`.
pub(super) async fn submit(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let dry_run = super::dry_run::asked(raw.as_deref())?;
    let request: JobRequest =
        super::params::json_body(&headers, body, app.max_body_bytes, JOB_EXAMPLE)?;
    let now = app.http.clock.now();
    let ids = dependency_ids(&request.depends_on, "depends_on");
    let job = request
        .validate(&app.http.defaults, now)
        .map_err(Problem::invalid_job)?;
    if dry_run {
        // The one check the store makes: each job depended on exists.
        for (field, id) in &ids {
            if app.http.store.job(*id).await?.is_none() {
                return Err(Problem::invalid_job(no_such_job(field.clone(), *id)));
            }
        }
        let answer = super::dry_run::JobDryRun {
            dry_run: true,
            job: super::dry_run::JobPreview::of(&job),
        };
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    let submitted = store_job(&app, job, &ids, now).await?;
    let id = submitted.job.id;
    if submitted.created {
        tracing::info!(job_id = id, kind = %submitted.job.kind, "job submitted over the admin API");
        let mut response = (StatusCode::CREATED, Json(submitted.job)).into_response();
        if let Ok(location) = HeaderValue::from_str(&format!("/v1/jobs/{id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    } else {
        Ok((StatusCode::OK, Json(submitted.job)).into_response())
    }
}

/// Checks and stores `request` as `POST /v1/jobs` does (not a dry run):
/// the same validation, defaults and 422s. The dashboard's buttons that
/// submit a job go through here too, so the two cannot disagree.
pub(super) async fn submit_request(
    app: &AppState,
    request: JobRequest,
) -> Result<crate::store::Submitted, Problem> {
    let now = app.http.clock.now();
    let ids = dependency_ids(&request.depends_on, "depends_on");
    let job = request
        .validate(&app.http.defaults, now)
        .map_err(Problem::invalid_job)?;
    store_job(app, job, &ids, now).await
}

/// Stores a validated job; a refusal of the store becomes the 422 naming
/// the dependency at fault (`ids`: the request's job dependencies).
async fn store_job(
    app: &AppState,
    job: crate::job::NewJob,
    ids: &[(String, JobId)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<crate::store::Submitted, Problem> {
    match app.http.store.submit(job, now).await {
        Err(StoreError::Refused(refused)) => Err(refusal(app, ids, refused).await),
        other => Ok(other?),
    }
}

/// `POST /v1/jobs/batch`: every job checked and the batch ordered before
/// anything is stored; then all are stored in one transaction, or none.
pub(super) async fn submit_batch(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let request: BatchRequest =
        super::params::json_body(&headers, body, app.max_body_bytes, BATCH_EXAMPLE)?;
    let now = app.http.clock.now();
    let ids: Vec<(String, JobId)> = request
        .jobs
        .iter()
        .enumerate()
        .flat_map(|(i, job)| dependency_ids(&job.depends_on, &format!("jobs[{i}].depends_on")))
        .collect();
    let batch = request
        .validate(&app.http.defaults, now)
        .map_err(Problem::invalid_job)?;
    let (positions, refs) = (batch.positions, batch.refs);
    let stored = match app.http.store.submit_batch(batch.jobs, now).await {
        Err(StoreError::Refused(refused)) => return Err(refusal(&app, &ids, refused).await),
        other => other?,
    };
    let created = stored.iter().filter(|s| s.created).count();
    let mut in_order: Vec<Option<Job>> = vec![None; stored.len()];
    let mut named = std::collections::BTreeMap::new();
    for ((submitted, position), reference) in stored.into_iter().zip(positions).zip(refs) {
        if let Some(reference) = reference {
            named.insert(reference, submitted.job.id);
        }
        in_order[position] = Some(submitted.job);
    }
    let jobs: Vec<Job> = in_order.into_iter().flatten().collect();
    tracing::info!(
        jobs = jobs.len(),
        created,
        "job batch submitted over the admin API"
    );
    // 200 only when every job's idempotency_key matched an existing job.
    let status = if created == 0 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(BatchAnswer { jobs, refs: named })).into_response())
}

/// The job ids among `deps`, each with its field (`depends_on[1]`).
fn dependency_ids(deps: &[DependencyRef], field: &str) -> Vec<(String, JobId)> {
    deps.iter()
        .enumerate()
        .filter_map(|(i, dep)| match dep {
            DependencyRef::Job(id) => Some((format!("{field}[{i}]"), *id)),
            DependencyRef::Ref(_) => None,
        })
        .collect()
}

/// The 422 of a submission the store refused: a dependency on a job it
/// does not hold, named by its place in the request (the store counts the
/// distinct ids it was given, not the request's entries).
async fn refusal(app: &AppState, ids: &[(String, JobId)], refused: SpecError) -> Problem {
    for (field, id) in ids {
        match app.http.store.job(*id).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Problem::invalid_job(no_such_job(field.clone(), *id));
            }
            Err(e) => return e.into(),
        }
    }
    Problem::invalid_job(refused)
}

/// What the empty-body and not-an-object errors suggest for a batch.
const BATCH_EXAMPLE: &str = r#"{"jobs":[{"ref":"db","kind":"start","machine_id":"psA"},{"kind":"start","machine_id":"psB","depends_on":["db"]}]}"#;

/// What the empty-body and not-an-object errors suggest.
const JOB_EXAMPLE: &str = r#"{"kind":"start","machine_id":"ps123"}"#;

/// `GET /v1/jobs?state=&kind=&machine_id=&limit=&cursor=`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<JobPage>, Problem> {
    let q = params::query(
        raw.as_deref(),
        &["state", "kind", "machine_id", "limit", "cursor"],
    )?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let state = get("state")
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(|e| Problem::bad_field("state", e.to_string()))?;
    let kind = get("kind")
        .map(str::parse::<JobKind>)
        .transpose()
        .map_err(|e| Problem::bad_field("kind", e.message))?;
    let machine_id = machine_filter(get("machine_id"))?;
    let limit = params::limit(get("limit"))?;
    let before = params::decode_cursor(CursorKind::Jobs, get("cursor"))?;
    let filter = JobFilter {
        state,
        kind,
        machine_id,
        ..JobFilter::default()
    };
    let mut jobs = app.http.store.jobs(&filter, before, limit + 1).await?;
    let next_cursor =
        page_end(&mut jobs, limit, |j| j.id).map(|id| params::encode_cursor(CursorKind::Jobs, id));
    Ok(Json(JobPage { jobs, next_cursor }))
}

/// Cuts one look-ahead item off; returns the cursor id when there is more.
fn page_end<T>(items: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Option<i64> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(id)
    } else {
        None
    }
}

fn machine_filter(value: Option<&str>) -> Result<Option<String>, Problem> {
    value
        .map(|m| {
            check_id("machine_id", m)
                .map(|()| m.to_string())
                .map_err(|e| Problem::bad_field(e.field, e.message))
        })
        .transpose()
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<JobId, Problem> {
    let Path(raw) = path.map_err(|e| Problem::bad_field("id", e.body_text()))?;
    params::job_id(&raw)
}

/// `GET /v1/jobs/{id}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<JobDetail>, Problem> {
    let id = path_id(path)?;
    // The job first, then its events: events are written with the state
    // change they record, so a final job's events are then complete.
    let job = app.http.store.job(id).await?.ok_or_else(|| no_job(id))?;
    let events = app.http.store.events(id).await?;
    Ok(Json(JobDetail { job, events }))
}

fn no_job(id: JobId) -> Problem {
    Problem::not_found(format!("there is no job {id}")).with_field("id")
}

/// `POST /v1/jobs/{id}/cancel`.
pub(super) async fn cancel(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Job>, Problem> {
    let id = path_id(path)?;
    let job = cancel_job(&app.http, id).await?;
    tracing::info!(job_id = id, "job cancelled over the admin API");
    Ok(Json(job))
}

/// Cancels job `id`: the cancelled job, or the refusal the API answers
/// (409 once it finished, 404 for no such job); the dashboard's Cancel
/// button says the same.
pub(super) async fn cancel_job(http: &HttpState, id: JobId) -> Result<Job, Problem> {
    match http.store.cancel(id, http.clock.now()).await? {
        CancelResult::Cancelled(job) => Ok(*job),
        // Every final state is a past participle: "has already succeeded".
        CancelResult::AlreadyFinished(job) => Err(Problem::conflict(format!(
            "job {id} has already {}; only blocked, queued, running or waiting jobs can be cancelled",
            job.state
        ))),
        CancelResult::NotFound => Err(no_job(id)),
    }
}

/// `POST /v1/jobs/{id}/retry`.
pub(super) async fn retry(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Job>, Problem> {
    let id = path_id(path)?;
    let job = retry_job(&app.http, id).await?;
    tracing::info!(job_id = id, "failed job re-queued over the admin API");
    Ok(Json(job))
}

/// Re-queues failed job `id`: the job, or the refusal the API answers (409
/// unless it failed, 404 for no such job); the dashboard's Retry button
/// says the same.
pub(super) async fn retry_job(http: &HttpState, id: JobId) -> Result<Job, Problem> {
    match http.store.retry(id, http.clock.now()).await? {
        RetryResult::Queued(job) => Ok(*job),
        RetryResult::NotFailed(job) => Err(Problem::conflict(format!(
            "job {id} {} {}; only failed jobs can be retried",
            // "has succeeded", "is queued".
            if job.state.is_final() { "has" } else { "is" },
            job.state
        ))),
        RetryResult::NotFound => Err(no_job(id)),
    }
}

/// `GET /v1/history?machine_id=&job_id=&limit=&cursor=&after=&wait=`:
/// newest first a page at a time, or with `after` the events since, oldest
/// first, waiting up to `wait` seconds for one (see `http/follow.rs`).
pub(super) async fn history(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = params::query(
        raw.as_deref(),
        &["machine_id", "job_id", "limit", "cursor", "after", "wait"],
    )?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let filter = EventFilter {
        machine_id: machine_filter(get("machine_id"))?,
        job_id: get("job_id")
            .map(|v| params::id("job_id", "job", v))
            .transpose()?,
    };
    let limit = params::limit(get("limit"))?;
    let before = params::decode_cursor(CursorKind::History, get("cursor"))?;
    let after = get("after").map(params::event_after).transpose()?;
    let wait = get("wait").map(params::wait_seconds).transpose()?;
    if let Some(after) = after {
        if before.is_some() {
            return Err(Problem::bad_field(
                "after",
                "`after` reads the events since an id and `cursor` pages back through older ones: give one of them",
            ));
        }
        let poll = follow::Poll {
            filter,
            after,
            limit,
            wait: wait.unwrap_or_default(),
        };
        let (events, crowded) = match follow::events_after(&app.http, &app.waiters, &poll).await? {
            follow::Polled::Events(events) => (events, false),
            follow::Polled::Crowded => (Vec::new(), true),
        };
        let next_after = events.last().map_or(after, |e| e.id);
        let page = Json(HistoryPage {
            events,
            next_cursor: None,
            next_after,
        });
        return Ok(if crowded {
            ([(header::RETRY_AFTER, "1")], page).into_response()
        } else {
            page.into_response()
        });
    }
    if wait.is_some() {
        return Err(Problem::bad_field(
            "wait",
            "`wait` waits for events after an id: give `after` too (the `next_after` of a page)",
        ));
    }
    // The newest id first, and the page no newer than it: a follower that
    // reads on from `next_after` then misses nothing and repeats nothing.
    let newest = app.http.store.last_event_id().await?.unwrap_or(0);
    let below = before.unwrap_or(i64::MAX).min(newest.saturating_add(1));
    let mut events = app
        .http
        .store
        .history(&filter, Some(below), limit + 1)
        .await?;
    let next_cursor = page_end(&mut events, limit, |e| e.id)
        .map(|id| params::encode_cursor(CursorKind::History, id));
    Ok(Json(HistoryPage {
        events,
        next_cursor,
        next_after: newest,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> (String, Option<String>) {
        let e = super::super::params::parse_json_object::<JobRequest>(body.as_bytes(), JOB_EXAMPLE)
            .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        (e.message, e.field)
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(field(r#"{"machine_id":"ps1"}"#).1.as_deref(), Some("kind"));
        assert_eq!(
            field(r#"{"kind":"start","colour":1}"#).1.as_deref(),
            Some("colour")
        );
        assert_eq!(
            field(r#"{"kind":"start","priority":"high"}"#).1.as_deref(),
            Some("priority")
        );
        assert_eq!(field(r#"{"kind":5}"#).1.as_deref(), Some("kind"));
        assert_eq!(field("[1,2]").1, None);
        assert!(field(r#"["start","ps1"]"#).0.contains("JSON object"));
        assert!(field("[1,").0.contains("invalid JSON"));
        assert_eq!(field("not json").1, None);
        assert!(field("").0.contains("empty"));
        assert!(
            field(r#"{"kind":"start"} trailing"#)
                .0
                .contains("invalid JSON")
        );
    }
}
