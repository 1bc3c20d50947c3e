//! The machine group routes: groups (create, list, show, change, delete),
//! runs of a group (start, stop, restart stage by stage), and the runs
//! themselves (list, show, resume).
//!
//! A run is stored with all its jobs at once: each job of a step depends on
//! every job of the step before (`group/run.rs`), so the queue keeps the
//! order and a restart of the daemon resumes it. What a run answers is its
//! [`RunView`]: the steps with their jobs, where it is, and what stopped it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params::{self, CursorKind, positive_id};
use super::schedules::created;
use crate::group::{
    self, Group, GroupPatch, GroupSpec, RunId, RunRequest, RunView, jobs_for, resume_plan,
};
use crate::job::SpecError;
use crate::machine::Machine;
use crate::store::{GroupRemoved, GroupWritten, NewRun, RunResumed};

/// The 422 code of a group, a change to one, or a run request that is not
/// valid.
const INVALID_GROUP: &str = "invalid_group";

/// Runs a group's page shows.
pub(super) const RECENT_RUNS: u32 = 10;
/// Runs in a page of `GET /v1/group-runs` without `limit`.
pub(super) const DEFAULT_RUNS: u32 = 20;
/// The largest page of runs (each carries its steps and jobs).
pub(super) const MAX_RUNS: u32 = 100;

const GROUP_EXAMPLE: &str = r#"{"name":"shop","stages":[{"name":"db","machine_ids":["psA"]},{"name":"app","machine_ids":["psB","psC"]}]}"#;
const PATCH_EXAMPLE: &str = r#"{"stages":[{"name":"db","machine_ids":["psA"]}]}"#;
const RUN_EXAMPLE: &str = r#"{"action":"start","wait":"ready"}"#;

/// `GET /v1/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupList {
    /// By name.
    pub groups: Vec<Group>,
}

/// `GET /v1/groups/{name}`: the group with its latest runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    /// The group's own fields, flattened beside `recent_runs`.
    #[serde(flatten)]
    pub group: Group,
    /// Its last 10 runs, newest first.
    pub recent_runs: Vec<RunView>,
}

/// `GET /v1/group-runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

// ---- groups ----

/// `POST /v1/groups`.
pub(super) async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let spec: GroupSpec = params::json_body(&headers, body, app.max_body_bytes, GROUP_EXAMPLE)?;
    spec.check().map_err(invalid)?;
    let name = spec.name.clone();
    match app
        .http
        .store
        .create_group(spec, app.http.clock.now())
        .await?
    {
        GroupWritten::Done(group) => {
            tracing::info!(group = %group.name, "group created over the admin API");
            Ok(created(format!("/v1/groups/{}", group.name), group))
        }
        GroupWritten::NameTaken => Err(Problem::conflict(format!(
            "a group named `{name}` already exists; pick another name, or change that group with PATCH /v1/groups/{name}"
        ))
        .with_field("name")),
        GroupWritten::NotFound => Err(not_found(&name)),
    }
}

/// `GET /v1/groups`.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<GroupList>, Problem> {
    params::query(raw.as_deref(), &[])?;
    let groups = app.http.store.groups().await?;
    Ok(Json(GroupList { groups }))
}

/// `GET /v1/groups/{name}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<GroupDetail>, Problem> {
    let name = group_name(path)?;
    let group = existing(&app, &name).await?;
    let runs = app
        .http
        .store
        .group_runs(Some(&group.name), None, RECENT_RUNS)
        .await?;
    let mut recent_runs = Vec::with_capacity(runs.len());
    for run in runs {
        // A run is never deleted, so each listed one is there to read.
        if let Some(view) = view(&app, run.id).await? {
            recent_runs.push(view);
        }
    }
    Ok(Json(GroupDetail { group, recent_runs }))
}

/// `PATCH /v1/groups/{name}`: the fields given replace the stored ones.
pub(super) async fn update(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Group>, Problem> {
    let name = group_name(path)?;
    let patch: GroupPatch = params::json_body(&headers, body, app.max_body_bytes, PATCH_EXAMPLE)?;
    patch.check().map_err(invalid)?;
    let renamed = patch.name.clone().filter(|new| *new != name);
    match app
        .http
        .store
        .update_group(&name, patch, app.http.clock.now())
        .await?
    {
        GroupWritten::Done(group) => {
            tracing::info!(group = %name, now = %group.name, "group changed over the admin API");
            Ok(Json(group))
        }
        GroupWritten::NotFound => Err(not_found(&name)),
        GroupWritten::NameTaken => Err(Problem::conflict(format!(
            "group `{name}` cannot be renamed to `{}`: another group has that name, or schedules or windows target this group by name; pick another name, or change those schedules and windows first",
            renamed.unwrap_or_default()
        ))
        .with_field("name")),
    }
}

/// `DELETE /v1/groups/{name}`: its runs stay, readable by id.
pub(super) async fn delete(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let name = group_name(path)?;
    match app.http.store.delete_group(&name).await? {
        GroupRemoved::Removed => {
            tracing::info!(group = %name, "group deleted over the admin API");
            Ok(StatusCode::NO_CONTENT)
        }
        GroupRemoved::NotFound => Err(not_found(&name)),
        GroupRemoved::InUse(users) => Err(Problem::conflict(format!(
            "group `{name}` is the target of {}; delete them or change their targets first",
            users
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_field("name")),
    }
}

// ---- runs ----

/// `POST /v1/groups/{name}/runs`: the run with all its jobs, stored at once.
pub(super) async fn run(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let name = group_name(path)?;
    let request: RunRequest = params::json_body(&headers, body, app.max_body_bytes, RUN_EXAMPLE)?;
    let (action, wait) = request.check().map_err(invalid)?;
    let group = existing(&app, &name).await?;
    let machines = if group.stages.iter().any(|s| s.selector.is_some()) {
        Some(known_machines(&app).await?)
    } else {
        None
    };
    let steps = group::plan(&group, action, machines.as_deref(), &|_| false);
    if steps.is_empty() {
        // A conflict with what the daemon knows now, not a bad request:
        // the same run succeeds once a listing shows matching machines.
        return Err(Problem::conflict(
            format!(
                "no machine of group `{name}` matched: its stages' selectors match none of the machines the daemon knows (GET /v1/machines); change the selectors, or wait until the daemon has listed the machines"
            ),
        )
        .with_field("stages"));
    }
    let now = app.http.clock.now();
    let jobs = jobs_for(&steps, 0, None, wait, &app.http.defaults, now);
    let started = app
        .http
        .store
        .start_run(
            NewRun {
                group: group.name.clone(),
                action,
                wait,
                steps,
                schedule_id: None,
                jobs,
            },
            now,
        )
        .await?;
    let id = started.run.id;
    tracing::info!(group = %group.name, run = id, %action, jobs = started.jobs.len(), "group run started over the admin API");
    Ok(created(
        format!("/v1/group-runs/{id}"),
        RunView::new(started.run, &started.jobs),
    ))
}

/// `GET /v1/group-runs?group=&limit=&cursor=`.
pub(super) async fn runs(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<RunPage>, Problem> {
    let q = params::query(raw.as_deref(), &["group", "limit", "cursor"])?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let group = get("group")
        .map(|g| check_name("group", g).map(|()| g.to_string()))
        .transpose()?;
    let limit = run_limit(get("limit"))?;
    let before = params::decode_cursor(CursorKind::Runs, get("cursor"))?;
    let mut found = app
        .http
        .store
        .group_runs(group.as_deref(), before, limit + 1)
        .await?;
    let next_cursor = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found
            .last()
            .map(|r| params::encode_cursor(CursorKind::Runs, r.id))
    } else {
        None
    };
    let mut runs = Vec::with_capacity(found.len());
    for run in found {
        if let Some(view) = view(&app, run.id).await? {
            runs.push(view);
        }
    }
    Ok(Json(RunPage { runs, next_cursor }))
}

/// `GET /v1/group-runs/{id}`.
pub(super) async fn show_run(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RunView>, Problem> {
    let id = run_id(path)?;
    let view = view(&app, id).await?.ok_or_else(|| no_run(id))?;
    Ok(Json(view))
}

/// `POST /v1/group-runs/{id}/resume`: new jobs from the first step that did
/// not succeed (only for its machines that did not get there) to the end.
pub(super) async fn resume(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RunView>, Problem> {
    let id = run_id(path)?;
    let (run, jobs) = app
        .http
        .store
        .group_run(id)
        .await?
        .ok_or_else(|| no_run(id))?;
    let (steps, wait, resumes) = (run.steps.clone(), run.wait, run.resumes);
    let (from, machines) = resume_plan(&RunView::new(run, &jobs))
        .map_err(|e| Problem::conflict(e.message).with_field("id"))?;
    let now = app.http.clock.now();
    let jobs = jobs_for(&steps, from, Some(&machines), wait, &app.http.defaults, now);
    match app.http.store.resume_run(id, resumes, jobs, now).await? {
        RunResumed::Resumed(started) => {
            tracing::info!(
                run = id,
                from_step = from,
                jobs = started.jobs.len(),
                "group run resumed over the admin API"
            );
        }
        RunResumed::NotFound => return Err(no_run(id)),
        RunResumed::Stale => {
            return Err(Problem::conflict(format!(
                "run {id} changed meanwhile (resumed again, or a job of it is unfinished); read it again with GET /v1/group-runs/{id}"
            ))
            .with_field("id"));
        }
    }
    let view = view(&app, id).await?.ok_or_else(|| no_run(id))?;
    Ok(Json(view))
}

// ---- helpers ----

/// A 422 `invalid_group` naming the field at fault.
fn invalid(e: SpecError) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, INVALID_GROUP, e.message).with_field(e.field)
}

/// A group name as [`GroupSpec::check`] takes it: 1 to 64 letters,
/// digits, `-`, `_` or `.`; otherwise a 400 naming `field`.
fn check_name(field: &str, name: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Problem::bad_field(
            field,
            format!(
                "`{}` is not a group name; group names are 1 to 64 letters, digits, `-`, `_` or `.`",
                crate::text::escape(&params::shorten(name))
            ),
        ))
    }
}

/// The `{name}` of a path.
fn group_name(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Path(raw) = path.map_err(|e| Problem::bad_field("name", e.body_text()))?;
    check_name("name", &raw)?;
    Ok(raw)
}

/// The `{id}` of a run's path.
fn run_id(path: Result<Path<String>, PathRejection>) -> Result<RunId, Problem> {
    let Path(raw) = path.map_err(|e| Problem::bad_field("id", e.body_text()))?;
    params::id("id", "group run", &raw)
}

/// `?limit=` of the runs: 1..=100, default 20.
fn run_limit(value: Option<&str>) -> Result<u32, Problem> {
    let Some(value) = value else {
        return Ok(DEFAULT_RUNS);
    };
    positive_id(value)
        .filter(|n| *n <= i64::from(MAX_RUNS))
        .map(|n| n as u32)
        .ok_or_else(|| {
            Problem::bad_field(
                "limit",
                format!("`limit` must be a whole number from 1 to {MAX_RUNS}"),
            )
        })
}

fn not_found(name: &str) -> Problem {
    Problem::not_found(format!(
        "there is no group named `{name}`; GET /v1/groups lists them"
    ))
    .with_field("name")
}

fn no_run(id: RunId) -> Problem {
    Problem::not_found(format!(
        "there is no group run {id}; GET /v1/group-runs lists them"
    ))
    .with_field("id")
}

/// The group `name`, or a 404.
async fn existing(app: &AppState, name: &str) -> Result<Group, Problem> {
    app.http
        .store
        .group(name)
        .await?
        .ok_or_else(|| not_found(name))
}

/// Run `id` with its progress, if it exists.
async fn view(app: &AppState, id: RunId) -> Result<Option<RunView>, Problem> {
    Ok(app
        .http
        .store
        .group_run(id)
        .await?
        .map(|(run, jobs)| RunView::new(run, &jobs)))
}

/// The machines the daemon knows and that still exist, for selectors.
async fn known_machines(app: &AppState) -> Result<Vec<Machine>, Problem> {
    Ok(app
        .http
        .store
        .machines()
        .await?
        .into_iter()
        .filter(|k| k.gone_at.is_none())
        .map(|k| k.machine)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_limits_are_strict() {
        for ok in ["shop", "a.b-c_d", &"x".repeat(64)] {
            check_name("name", ok).unwrap();
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            let e = check_name("name", bad).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("name"), "{bad}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        assert_eq!(run_limit(None).unwrap(), DEFAULT_RUNS);
        assert_eq!(run_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "x", "01"] {
            assert_eq!(
                run_limit(Some(bad)).unwrap_err().field.as_deref(),
                Some("limit"),
                "{bad}"
            );
        }
    }
}
