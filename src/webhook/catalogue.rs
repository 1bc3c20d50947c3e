//! The events' contents: one constructor per type, so that every
//! producer (the workers, the scheduler, the meter, the alarms, the
//! daemon) fills the same fields. Every event's `data` has a `summary`
//! (one line for a person: the `slack` format's text) and, where there is
//! one, a `link`: the admin API's path for what it is about.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::event::{Event, EventType, Subject};
use crate::job::{Job, JobState};
use crate::machine::MachineState;

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn about_machine(machine: Option<&str>) -> Subject {
    Subject {
        machine: machine.map(str::to_string),
        ..Subject::default()
    }
}

fn job_data(job: &Job, summary: String) -> Value {
    let mut data = json!({
        "summary": summary,
        "job_id": job.id,
        "kind": job.kind.as_str(),
        "machine_id": job.machine_id,
        "state": job.state.to_string(),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "error": job.last_error,
        "link": format!("/v1/jobs/{}", job.id),
    });
    // A job of a group run: the run is what the receiver acts on.
    if let Some(run) = job.group_run {
        data["group_run"] = json!(run);
        data["group_step"] = json!(job.group_step);
        data["group_run_link"] = json!(format!("/v1/group-runs/{run}"));
    }
    data
}

fn on(job: &Job) -> String {
    job.machine_id
        .as_deref()
        .map(|m| format!(" of {m}"))
        .unwrap_or_default()
}

/// A job that reached `failed` (after its last attempt, or a permanent
/// error), as stored after the failure.
pub fn job_failed(job: &Job, at: DateTime<Utc>) -> Event {
    let reason = job.last_error.as_deref().unwrap_or("no reason recorded");
    let mut summary = format!(
        "job {} ({}{}) failed after {} of {} attempts: {reason}",
        job.id,
        job.kind,
        on(job),
        job.attempt,
        job.max_attempts
    );
    if let Some(run) = job.group_run {
        summary.push_str(&format!(
            "; group run {run} stops at step {} and its later steps are not sent \
             (`machinist groups run {run} --resume` retries from there)",
            job.group_step.map_or(0, |s| s + 1)
        ));
    }
    Event::new(
        EventType::JobFailed,
        at,
        job_data(job, summary),
        about_machine(job.machine_id.as_deref()),
    )
}

/// A job that succeeded.
pub fn job_succeeded(job: &Job, at: DateTime<Utc>) -> Event {
    let summary = format!("job {} ({}{}) succeeded", job.id, job.kind, on(job));
    Event::new(
        EventType::JobSucceeded,
        at,
        job_data(job, summary),
        about_machine(job.machine_id.as_deref()),
    )
}

/// A job back in the queue after a failed attempt, due again at `job.run_at`.
pub fn job_retrying(job: &Job, at: DateTime<Utc>) -> Event {
    let summary = format!(
        "job {} ({}{}): attempt {} of {} failed, retrying at {}: {}",
        job.id,
        job.kind,
        on(job),
        job.attempt,
        job.max_attempts,
        ts(job.run_at),
        job.last_error.as_deref().unwrap_or("no reason recorded")
    );
    let mut data = job_data(job, summary);
    data["retry_at"] = json!(ts(job.run_at));
    Event::new(
        EventType::JobRetrying,
        at,
        data,
        about_machine(job.machine_id.as_deref()),
    )
}

/// A firing of schedule `id` (`name`) at `fire_at` skipped for `target`
/// (a machine id, or `*` for the whole firing).
pub fn firing_skipped(
    id: i64,
    name: &str,
    fire_at: DateTime<Utc>,
    target: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Event {
    let machine = (target != "*" && target != "-").then_some(target);
    let summary = match machine {
        Some(m) => format!(
            "schedule {name}: the firing of {} for {m} was skipped: {reason}",
            ts(fire_at)
        ),
        None => format!(
            "schedule {name}: the firing of {} was skipped: {reason}",
            ts(fire_at)
        ),
    };
    Event::new(
        EventType::FiringSkipped,
        at,
        json!({
            "summary": summary,
            "schedule_id": id,
            "schedule": name,
            "fire_at": ts(fire_at),
            "machine_id": machine,
            "reason": reason,
            "link": format!("/v1/schedules/{id}"),
        }),
        Subject {
            machine: machine.map(str::to_string),
            schedule: Some((id, name.to_string())),
            window: None,
        },
    )
}

/// Enforcement of window `id` (`name`) queued job `job_id` to stop a machine.
pub fn window_enforced(
    id: i64,
    name: &str,
    machine_id: &str,
    job_id: i64,
    reason: &str,
    at: DateTime<Utc>,
) -> Event {
    Event::new(
        EventType::WindowEnforced,
        at,
        json!({
            "summary": format!("window {name}: stopping {machine_id} (job {job_id}): {reason}"),
            "window_id": id,
            "window": name,
            "machine_id": machine_id,
            "job_id": job_id,
            "reason": reason,
            "link": format!("/v1/jobs/{job_id}"),
        }),
        Subject {
            machine: Some(machine_id.to_string()),
            schedule: None,
            window: Some((id, name.to_string())),
        },
    )
}

/// A DST change removed window `id`'s opening or closing on `day`.
pub fn window_collapsed(
    id: i64,
    name: &str,
    day: Option<NaiveDate>,
    reason: &str,
    at: DateTime<Utc>,
) -> Event {
    Event::new(
        EventType::WindowCollapsed,
        at,
        json!({
            "summary": format!("window {name}: {reason}"),
            "window_id": id,
            "window": name,
            "day": day.map(|d| d.to_string()),
            "reason": reason,
            "link": format!("/v1/windows/{id}"),
        }),
        Subject {
            machine: None,
            schedule: None,
            window: Some((id, name.to_string())),
        },
    )
}

/// What keeps a machine meant to be off: the stop job Machinist made.
#[derive(Debug, Clone)]
pub struct LeftRunning<'a> {
    pub machine_id: &'a str,
    pub name: &'a str,
    pub state: MachineState,
    /// When it was meant to be off: the stop job's submission.
    pub meant_off_since: DateTime<Utc>,
    /// The stop job and how it ended.
    pub stop_job: &'a Job,
    /// Its price per hour of running, when known.
    pub hourly_rate: Option<f64>,
    /// When the state was last seen.
    pub seen_at: DateTime<Utc>,
}

/// A machine meant to be off, still running.
pub fn left_running(l: &LeftRunning<'_>, at: DateTime<Utc>) -> Event {
    let minutes = (at - l.meant_off_since).num_minutes().max(0);
    let cost = l
        .hourly_rate
        .map(|r| (r * minutes as f64 / 60.0 * 100.0).round() / 100.0);
    let why = match l.stop_job.state {
        JobState::Failed => format!(
            "its stop (job {}) failed: {}",
            l.stop_job.id,
            l.stop_job
                .last_error
                .as_deref()
                .unwrap_or("no reason recorded")
        ),
        JobState::Succeeded => format!(
            "it was stopped by job {} and started again since",
            l.stop_job.id
        ),
        JobState::Cancelled => format!("its stop (job {}) was cancelled", l.stop_job.id),
        _ => format!(
            "its stop (job {}) is still {}",
            l.stop_job.id, l.stop_job.state
        ),
    };
    let money = match (l.hourly_rate, cost) {
        (Some(rate), Some(cost)) => format!(" at ${rate:.2}/h, ${cost:.2} so far"),
        _ => String::new(),
    };
    Event::new(
        EventType::LeftRunning,
        at,
        json!({
            "summary": format!(
                "{} ({}) is {} {minutes} min after it was meant to stop{money}; {why}",
                l.name, l.machine_id, l.state
            ),
            "machine_id": l.machine_id,
            "name": l.name,
            "state": l.state.to_string(),
            "meant_off_since": ts(l.meant_off_since),
            "minutes": minutes,
            "stop_job_id": l.stop_job.id,
            "stop_job_state": l.stop_job.state.to_string(),
            "hourly_rate": l.hourly_rate,
            "cost_so_far": cost,
            "currency": "USD",
            "seen_at": ts(l.seen_at),
            "link": format!("/v1/machines/{}", l.machine_id),
        }),
        about_machine(Some(l.machine_id)),
    )
}

/// A machine whose state changed between two sightings with no job of
/// Machinist's to explain it.
pub fn changed_outside(
    machine_id: &str,
    name: &str,
    from: Option<MachineState>,
    to: Option<MachineState>,
    since: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Event {
    let what = match &to {
        None => "destroyed".to_string(),
        Some(
            MachineState::Ready
            | MachineState::ServiceReady
            | MachineState::Starting
            | MachineState::Restarting,
        ) => "started".to_string(),
        Some(MachineState::Off) => "stopped".to_string(),
        Some(s) => format!("moved to {s}"),
    };
    Event::new(
        EventType::ChangedOutside,
        at,
        json!({
            "summary": format!("{name} ({machine_id}) was {what} outside Machinist"),
            "machine_id": machine_id,
            "name": name,
            "change": what,
            "from": from.map(|s| s.to_string()),
            "to": to.map(|s| s.to_string()),
            "previous_seen_at": since.map(ts),
            "link": format!("/v1/machines/{machine_id}"),
        }),
        about_machine(Some(machine_id)),
    )
}

/// The account's standing as the meter last checked it.
pub fn account_standing(good: bool, message: Option<&str>, at: DateTime<Utc>) -> Event {
    let summary = if good {
        "the Paperspace account is back in good standing".to_string()
    } else {
        format!(
            "the Paperspace account is not in good standing: {}; starts and creates fail until it is",
            message.unwrap_or("no reason given")
        )
    };
    Event::new(
        EventType::AccountStanding,
        at,
        json!({"summary": summary, "good_standing": good, "message": message, "link": "/readyz"}),
        Subject::default(),
    )
}

/// The daemon started (`started: true`) or is stopping.
pub fn daemon(started: bool, host: &str, version: &str, backend: &str, at: DateTime<Utc>) -> Event {
    let (kind, verb) = if started {
        (EventType::DaemonStarted, "started")
    } else {
        (EventType::DaemonStopping, "is stopping")
    };
    Event::new(
        kind,
        at,
        json!({
            "summary": format!("machinist {version} on {host} {verb} (backend {backend})"),
            "host": host,
            "version": version,
            "backend": backend,
            "pid": std::process::id(),
        }),
        Subject::default(),
    )
}

/// A test delivery to endpoint `endpoint`.
pub fn ping(endpoint: i64, at: DateTime<Utc>) -> Event {
    Event::new(
        EventType::Ping,
        at,
        json!({
            "summary": format!("test delivery to webhook {endpoint} from machinist"),
            "endpoint_id": endpoint,
            "link": format!("/v1/webhooks/{endpoint}"),
        }),
        Subject::default(),
    )
}
