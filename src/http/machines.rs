//! The machine routes: the last known state of every machine the daemon has
//! seen, and one machine with its recent jobs and the schedules aimed at it.
//!
//! The daemon never asks Paperspace when these are read: the machines table
//! is filled from the answers jobs get (a `refresh` job sees the whole
//! account and marks missing machines gone; every other job records the
//! machine it touched) and from the scheduler's listings of the account (for
//! selectors and window enforcement), so `seen_at` says how fresh each entry is.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::Problem;
use super::params;
use crate::job::Job;
use crate::job::operation::check_id;
use crate::machine::Machine;
use crate::schedule::spec::Schedule;
use crate::store::{JobFilter, KnownMachine};

/// Jobs shown in `GET /v1/machines/{id}`.
pub(super) const RECENT_JOBS: u32 = 20;

/// A machine as last seen, with when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineView {
    /// The machine's fields as Paperspace last reported them.
    #[serde(flatten)]
    pub machine: Machine,
    /// When a job's answer last included this machine.
    pub seen_at: DateTime<Utc>,
    /// When Paperspace said it no longer exists; `null` while it does.
    pub gone_at: Option<DateTime<Utc>>,
}

/// `GET /v1/machines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineList {
    /// By name, then id; gone machines included (with `gone_at`).
    pub machines: Vec<MachineView>,
}

/// `GET /v1/machines/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineDetail {
    /// The machine's own fields, flattened beside its jobs and schedules.
    #[serde(flatten)]
    pub machine: MachineView,
    /// The last 20 jobs on this machine, newest first.
    pub recent_jobs: Vec<Job>,
    /// Schedules (window edges included) that target it: by id, or by a
    /// selector its last known state matches.
    pub schedules: Vec<Schedule>,
}

impl From<KnownMachine> for MachineView {
    fn from(k: KnownMachine) -> Self {
        MachineView {
            machine: k.machine,
            seen_at: k.seen_at,
            gone_at: k.gone_at,
        }
    }
}

/// `GET /v1/machines`: no query parameters.
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MachineList>, Problem> {
    params::query(raw.as_deref(), &[])?;
    let machines = app
        .http
        .store
        .machines()
        .await?
        .into_iter()
        .map(MachineView::from)
        .collect();
    Ok(Json(MachineList { machines }))
}

/// `GET /v1/machines/{id}`.
pub(super) async fn show(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MachineDetail>, Problem> {
    let Path(id) = path.map_err(|e| Problem::bad_field("id", e.body_text()))?;
    check_id("id", &id).map_err(|e| Problem::bad_field(e.field, e.message))?;
    params::query(raw.as_deref(), &[])?;
    let store = &app.http.store;
    let machine = store
        .machine(&id)
        .await?
        .map(MachineView::from)
        .ok_or_else(|| {
            Problem::not_found(format!(
                "no machine {id} has been seen; a `refresh` job lists the account"
            ))
            .with_field("id")
        })?;
    let filter = JobFilter {
        machine_id: Some(id.clone()),
        ..JobFilter::default()
    };
    let recent_jobs = store.jobs(&filter, None, RECENT_JOBS).await?;
    let schedules = store
        .schedules(true)
        .await?
        .into_iter()
        .filter(|s| targets(s, &machine.machine))
        .collect();
    Ok(Json(MachineDetail {
        machine,
        recent_jobs,
        schedules,
    }))
}

/// True when the schedule names the machine, or its selector matches the
/// machine as last seen (selectors are resolved at fire time, so this is
/// "would fire on it now").
fn targets(schedule: &Schedule, machine: &Machine) -> bool {
    schedule.targets.machine_ids.contains(&machine.id)
        || schedule
            .targets
            .selector
            .as_ref()
            .is_some_and(|s| s.matches(machine))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineState;
    use crate::schedule::target::{Selector, Targets};

    fn schedule(targets: Targets) -> Schedule {
        let json = serde_json::json!({
            "id": 1, "name": "s", "cron": "0 9 * * *", "timezone": "UTC",
            "template": {"kind": "start"}, "targets": targets, "enabled": true,
            "jitter_seconds": 0, "exclusions": {}, "misfire": "skip",
            "catch_up_seconds": 0, "overlap": "skip", "window_id": null,
            "window_edge": null, "next_fire_at": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn ids_and_selectors_target_a_machine() {
        let m = Machine::new("ps1", "gpu-box-1", MachineState::Ready);
        let by_id = Targets {
            machine_ids: vec!["ps2".into(), "ps1".into()],
            selector: None,
            group: None,
        };
        assert!(targets(&schedule(by_id), &m));
        let other = Targets {
            machine_ids: vec!["ps2".into()],
            selector: None,
            group: None,
        };
        assert!(!targets(&schedule(other), &m));
        let glob = |name: &str, state: Option<&str>| Targets {
            machine_ids: vec![],
            selector: Some(Selector {
                name: Some(name.into()),
                state: state.map(str::to_string),
                ..Selector::default()
            }),
            group: None,
        };
        assert!(targets(&schedule(glob("gpu-*", None)), &m));
        assert!(targets(&schedule(glob("*", Some("ready"))), &m));
        assert!(!targets(&schedule(glob("*", Some("off"))), &m));
        assert!(!targets(&schedule(glob("cpu-*", None)), &m));
    }
}
