//! The job routes: submit, list, show, cancel, retry, and the history.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::params::{self, CursorKind};
use crate::job::operation::check_id;
use crate::job::{Job, JobEvent, JobId, JobKind, JobRequest, JobState};
use crate::store::{CancelResult, JobFilter, RetryResult};

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
    /// Newest first.
    pub events: Vec<JobEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /v1/jobs/{id}`: the job's fields with its events beside them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: Job,
    /// Oldest first.
    pub events: Vec<JobEvent>,
}

/// `POST /v1/jobs`.
pub(super) async fn submit(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_json_content_type(&headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(app.max_body_bytes)
        } else {
            ApiError::bad_request(format!(
                "could not read the request body: {}",
                e.body_text()
            ))
        }
    })?;
    let request = parse_job_request(&body)?;
    let now = app.http.clock.now();
    let job = request
        .validate(&app.http.defaults, now)
        .map_err(ApiError::invalid_job)?;
    let submitted = app.http.store.submit(job, now).await?;
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

/// Only `application/json` (any parameters, e.g. `charset=utf-8`).
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(
            "send the job as JSON with `Content-Type: application/json`",
        ))
    }
}

/// Parses the body; errors name the JSON path of the offending field.
pub(super) fn parse_job_request(body: &[u8]) -> Result<JobRequest, ApiError> {
    if body.trim_ascii().is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON job request such as {\"kind\":\"start\",\"machine_id\":\"ps123\"}",
        ));
    }
    // A derived struct also accepts a JSON array (fields by position): refuse it.
    if body.trim_ascii_start().first() != Some(&b'{') {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return Err(ApiError::bad_request(format!("invalid JSON: {e}")));
        }
        return Err(ApiError::bad_request(
            "the request body must be a JSON object, such as {\"kind\":\"start\",\"machine_id\":\"ps123\"}",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: JobRequest = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    Ok(request)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = inner.to_string();
    let at = (path != ".").then_some(path);
    if inner.is_data() {
        // serde names unknown and missing fields in its message, not the path.
        let named = lift_name(&message, "unknown field `")
            .or_else(|| lift_name(&message, "missing field `"));
        // serde_path_to_error already ends the path with an unknown field's
        // name, but stops at the parent of a missing one.
        let field = match (at, named) {
            (Some(at), Some(name)) if at == name || at.ends_with(&format!(".{name}")) => Some(at),
            (Some(at), Some(name)) => Some(format!("{at}.{name}")),
            (None, Some(name)) => Some(name.to_string()),
            (at, None) => at,
        };
        let error = ApiError::bad_request(message);
        match field {
            Some(field) => error.with_field(field),
            None => error,
        }
    } else {
        let error = ApiError::bad_request(format!("invalid JSON: {message}"));
        match at {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

fn lift_name<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// `GET /v1/jobs?state=&kind=&machine_id=&limit=&cursor=`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<JobPage>, ApiError> {
    let q = params::query(
        raw.as_deref(),
        &["state", "kind", "machine_id", "limit", "cursor"],
    )?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let state = get("state")
        .map(str::parse::<JobState>)
        .transpose()
        .map_err(|e| ApiError::bad_field("state", e.to_string()))?;
    let kind = get("kind")
        .map(str::parse::<JobKind>)
        .transpose()
        .map_err(|e| ApiError::bad_field("kind", e.message))?;
    let machine_id = machine_filter(get("machine_id"))?;
    let limit = params::limit(get("limit"))?;
    let before = params::decode_cursor(CursorKind::Jobs, get("cursor"))?;
    let filter = JobFilter {
        state,
        kind,
        machine_id,
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

fn machine_filter(value: Option<&str>) -> Result<Option<String>, ApiError> {
    value
        .map(|m| {
            check_id("machine_id", m)
                .map(|()| m.to_string())
                .map_err(|e| ApiError::bad_field(e.field, e.message))
        })
        .transpose()
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<JobId, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::bad_field("id", e.body_text()))?;
    params::job_id(&raw)
}

/// `GET /v1/jobs/{id}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<JobDetail>, ApiError> {
    let id = path_id(path)?;
    // The job first, then its events: events are written with the state
    // change they record, so a final job's events are then complete.
    let job = app.http.store.job(id).await?.ok_or_else(|| no_job(id))?;
    let events = app.http.store.events(id).await?;
    Ok(Json(JobDetail { job, events }))
}

fn no_job(id: JobId) -> ApiError {
    ApiError::not_found(format!("there is no job {id}")).with_field("id")
}

/// `POST /v1/jobs/{id}/cancel`.
pub(super) async fn cancel(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Job>, ApiError> {
    let id = path_id(path)?;
    match app.http.store.cancel(id, app.http.clock.now()).await? {
        CancelResult::Cancelled(job) => {
            tracing::info!(job_id = id, "job cancelled over the admin API");
            Ok(Json(*job))
        }
        CancelResult::AlreadyFinished(job) => Err(ApiError::conflict(format!(
            "job {id} is already {}; only queued, running or waiting jobs can be cancelled",
            job.state
        ))),
        CancelResult::NotFound => Err(no_job(id)),
    }
}

/// `POST /v1/jobs/{id}/retry`.
pub(super) async fn retry(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Job>, ApiError> {
    let id = path_id(path)?;
    match app.http.store.retry(id, app.http.clock.now()).await? {
        RetryResult::Queued(job) => {
            tracing::info!(job_id = id, "failed job re-queued over the admin API");
            Ok(Json(*job))
        }
        RetryResult::NotFailed(job) => Err(ApiError::conflict(format!(
            "job {id} is {}; only failed jobs can be retried",
            job.state
        ))),
        RetryResult::NotFound => Err(no_job(id)),
    }
}

/// `GET /v1/history?machine_id=&limit=&cursor=`.
pub(super) async fn history(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<HistoryPage>, ApiError> {
    let q = params::query(raw.as_deref(), &["machine_id", "limit", "cursor"])?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let machine_id = machine_filter(get("machine_id"))?;
    let limit = params::limit(get("limit"))?;
    let before = params::decode_cursor(CursorKind::History, get("cursor"))?;
    let mut events = app
        .http
        .store
        .history(machine_id.as_deref(), before, limit + 1)
        .await?;
    let next_cursor = page_end(&mut events, limit, |e| e.id)
        .map(|id| params::encode_cursor(CursorKind::History, id));
    Ok(Json(HistoryPage {
        events,
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> (String, Option<String>) {
        let e = parse_job_request(body.as_bytes()).unwrap_err();
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
