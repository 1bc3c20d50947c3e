//! Group runs: a group and an action come to ordered [`Step`]s, the steps
//! to jobs that depend on the step before, and a stored run's jobs to its
//! progress ([`RunView`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Group, RunId};
use crate::job::dependency::NOT_RUN;
use crate::job::operation::{JobKind, Operation};
use crate::job::{Dependency, Job, JobDefaults, JobId, JobState, NewJob, SpecError};
use crate::machine::{Machine, WaitTarget};

/// What a run does to its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupAction {
    /// Stages first to last, each started and ready before the next.
    Start,
    /// Stages last to first, each off before the next.
    Stop,
    /// A stop of every stage (last to first), then a start (first to last).
    Restart,
}

impl GroupAction {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupAction::Start => "start",
            GroupAction::Stop => "stop",
            GroupAction::Restart => "restart",
        }
    }

    /// The action a job kind asks of a group: start, stop and restart.
    pub fn of_kind(kind: JobKind) -> Option<GroupAction> {
        match kind {
            JobKind::Start => Some(GroupAction::Start),
            JobKind::Stop => Some(GroupAction::Stop),
            JobKind::Restart => Some(GroupAction::Restart),
            _ => None,
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<GroupAction, SpecError> {
        match s {
            "start" => Ok(GroupAction::Start),
            "stop" => Ok(GroupAction::Stop),
            "restart" => Ok(GroupAction::Restart),
            other => Err(SpecError::new(
                field,
                format!(
                    "`{}` is not a group action; use start, stop or restart",
                    crate::text::escape(other)
                ),
            )),
        }
    }
}

impl std::fmt::Display for GroupAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one step does to its machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepAction {
    Start,
    Stop,
}

impl StepAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Start => "start",
            StepAction::Stop => "stop",
        }
    }
}

/// One step of a run: one stage's machines, started or stopped together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The stage's name.
    pub stage: String,
    /// Start or stop.
    pub action: StepAction,
    /// The stage's machines when the run was made.
    pub machine_ids: Vec<String>,
}

/// A request to run a group (`POST /v1/groups/{name}/runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// `start`, `stop` or `restart`.
    pub action: String,
    /// What a started machine must reach before the next stage starts:
    /// `ready` (default) or `serviceready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
}

impl RunRequest {
    /// The action and the start wait.
    pub fn check(&self) -> Result<(GroupAction, WaitTarget), SpecError> {
        let action = GroupAction::parse("action", &self.action)?;
        let wait = match self.wait.as_deref() {
            None | Some("ready") => WaitTarget::Ready,
            Some("serviceready") => WaitTarget::ServiceReady,
            Some(other) => {
                return Err(SpecError::new(
                    "wait",
                    format!(
                        "`{}` is not a wait for a group's starts; use ready (default) or serviceready",
                        crate::text::escape(other)
                    ),
                ));
            }
        };
        Ok((action, wait))
    }
}

/// The steps `action` takes on `group`: its stages in order for a start,
/// in reverse for a stop, both for a restart. Selectors are resolved
/// against `machines` (the account's last listing); `skip` drops machines
/// (an override keeping one on, say); a stage left with no machine has no
/// step. Empty when nothing is left to do.
pub fn plan(
    group: &Group,
    action: GroupAction,
    machines: Option<&[Machine]>,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<Step> {
    let resolved: Vec<(String, Vec<String>)> = group
        .stages
        .iter()
        .map(|s| {
            let ids = s
                .targets()
                .resolve(machines)
                .into_iter()
                .filter(|id| !skip(id))
                .collect();
            (s.name.clone(), ids)
        })
        .filter(|(_, ids): &(String, Vec<String>)| !ids.is_empty())
        .collect();
    let steps = |action: StepAction, reverse: bool| -> Vec<Step> {
        let mut v: Vec<Step> = resolved
            .iter()
            .map(|(stage, ids)| Step {
                stage: stage.clone(),
                action,
                machine_ids: ids.clone(),
            })
            .collect();
        if reverse {
            v.reverse();
        }
        v
    };
    match action {
        GroupAction::Start => steps(StepAction::Start, false),
        GroupAction::Stop => steps(StepAction::Stop, true),
        GroupAction::Restart => {
            let mut v = steps(StepAction::Stop, true);
            v.extend(steps(StepAction::Start, false));
            v
        }
    }
}

/// The jobs of `steps`, from step `from` on, each with its step index:
/// one per machine, every job of a step depending on every job of the step
/// before it (as `Earlier` positions in the returned list). A start waits
/// for `wait`, a stop for `off`, each with the configured timeout.
pub fn jobs_for(
    steps: &[Step],
    from: usize,
    only: Option<&[String]>,
    wait: WaitTarget,
    defaults: &JobDefaults,
    now: DateTime<Utc>,
) -> Vec<(NewJob, u32)> {
    let mut jobs: Vec<(NewJob, u32)> = Vec::new();
    let mut previous: Vec<usize> = Vec::new();
    for (index, step) in steps.iter().enumerate().skip(from) {
        let mut this = Vec::with_capacity(step.machine_ids.len());
        for id in &step.machine_ids {
            // On the first step of a resume, only the machines that did not
            // get there.
            if index == from && only.is_some_and(|o| !o.iter().any(|m| m == id)) {
                continue;
            }
            let (operation, target) = match step.action {
                StepAction::Start => (Operation::Start, wait),
                StepAction::Stop => (Operation::Stop, WaitTarget::Off),
            };
            let mut job = NewJob::new(operation, Some(id.clone()), defaults, now);
            job.wait = Some(target);
            job.wait_timeout = defaults.wait_timeout(target);
            job.depends_on = previous.iter().map(|&p| Dependency::Earlier(p)).collect();
            this.push(jobs.len());
            jobs.push((job, index as u32));
        }
        if !this.is_empty() {
            previous = this;
        }
    }
    jobs
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRun {
    /// Store-assigned.
    pub id: RunId,
    /// The group's name when the run was made.
    pub group: String,
    /// What the run does.
    pub action: GroupAction,
    /// What its starts wait for.
    pub wait: WaitTarget,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// The schedule (or window edge) whose firing made it; `None` by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<i64>,
    /// Resumes so far.
    pub resumes: u32,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last resumed (or made).
    pub updated_at: DateTime<Utc>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Some job is unfinished and none has failed.
    Running,
    /// Every job of every step succeeded.
    Succeeded,
    /// A job failed (or was cancelled) and the steps after it were not sent;
    /// `--resume` retries from that step.
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
        }
    }
}

/// One machine's job in a step: the newest, after resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub machine_id: String,
    pub job_id: JobId,
    pub state: JobState,
    /// The job's error, for a failed or cancelled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A step's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub stage: String,
    pub action: StepAction,
    /// `blocked` (waiting for the step before), `running`, `succeeded`,
    /// `failed`, or `cancelled` (not sent, an earlier step failed).
    pub state: String,
    pub jobs: Vec<RunJob>,
}

/// What stopped a run: the first job that failed, its machine and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFailure {
    /// The step, from 0.
    pub step: u32,
    pub stage: String,
    pub machine_id: String,
    pub job_id: JobId,
    pub reason: String,
}

/// A run with its progress, as `GET /v1/group-runs/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    #[serde(flatten)]
    pub run: GroupRun,
    pub state: RunState,
    /// Steps whose every job succeeded.
    pub steps_done: u32,
    pub progress: Vec<StepView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
}

impl RunView {
    /// The progress of `run` from its jobs (any order; the newest job per
    /// step and machine counts).
    pub fn new(run: GroupRun, jobs: &[Job]) -> RunView {
        let mut progress: Vec<StepView> = run
            .steps
            .iter()
            .map(|s| StepView {
                stage: s.stage.clone(),
                action: s.action,
                state: String::new(),
                jobs: Vec::new(),
            })
            .collect();
        let mut sorted: Vec<&Job> = jobs.iter().collect();
        sorted.sort_by_key(|j| j.id);
        for job in sorted {
            let (Some(step), Some(machine)) = (job.group_step, &job.machine_id) else {
                continue;
            };
            let Some(view) = progress.get_mut(step as usize) else {
                continue;
            };
            let entry = RunJob {
                machine_id: machine.clone(),
                job_id: job.id,
                state: job.state,
                error: job
                    .last_error
                    .clone()
                    .filter(|_| matches!(job.state, JobState::Failed | JobState::Cancelled)),
            };
            match view.jobs.iter_mut().find(|j| &j.machine_id == machine) {
                Some(old) => *old = entry,
                None => view.jobs.push(entry),
            }
        }
        let mut failure = None;
        let mut steps_done = 0;
        for (i, view) in progress.iter_mut().enumerate() {
            let all = |s: JobState| !view.jobs.is_empty() && view.jobs.iter().all(|j| j.state == s);
            view.state = if all(JobState::Succeeded) {
                steps_done += 1;
                "succeeded"
            } else if let Some(bad) = view.jobs.iter().find(|j| {
                j.state == JobState::Failed
                    || (j.state == JobState::Cancelled
                        && !j.error.as_deref().is_some_and(|e| e.starts_with(NOT_RUN)))
            }) {
                if failure.is_none() {
                    failure = Some(RunFailure {
                        step: i as u32,
                        stage: view.stage.clone(),
                        machine_id: bad.machine_id.clone(),
                        job_id: bad.job_id,
                        reason: bad.error.clone().unwrap_or_else(|| bad.state.to_string()),
                    });
                }
                "failed"
            } else if view.jobs.iter().any(|j| j.state == JobState::Cancelled) {
                "cancelled"
            } else if view.jobs.iter().all(|j| j.state == JobState::Blocked) {
                "blocked"
            } else {
                "running"
            }
            .to_string();
        }
        let unfinished = progress
            .iter()
            .flat_map(|v| &v.jobs)
            .any(|j| !j.state.is_final());
        let state = if failure.is_some() && !unfinished {
            RunState::Failed
        } else if failure.is_none() && steps_done as usize == progress.len() {
            RunState::Succeeded
        } else if failure.is_some() || unfinished {
            if unfinished {
                RunState::Running
            } else {
                RunState::Failed
            }
        } else {
            // Cancelled without a failure (a job cancelled by hand): it
            // will not go on by itself.
            RunState::Failed
        };
        RunView {
            run,
            state,
            steps_done,
            progress,
            failure,
        }
    }
}

/// Where a resume of `view` starts, and which machines of that step get new
/// jobs: the first step not all succeeded, and its machines whose newest
/// job did not succeed. Refused while a job of the run is unfinished, or
/// when every step succeeded.
pub fn resume_plan(view: &RunView) -> Result<(usize, Vec<String>), SpecError> {
    if let Some(job) = view
        .progress
        .iter()
        .flat_map(|v| &v.jobs)
        .find(|j| !j.state.is_final())
    {
        return Err(SpecError::new(
            "run",
            format!(
                "run {} is still going (job {} is {}); resume it once it has stopped",
                view.run.id, job.job_id, job.state
            ),
        ));
    }
    let Some(from) = view.progress.iter().position(|v| v.state != "succeeded") else {
        return Err(SpecError::new(
            "run",
            format!("run {} succeeded; there is nothing to resume", view.run.id),
        ));
    };
    let step = &view.run.steps[from];
    let done: Vec<&str> = view.progress[from]
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Succeeded)
        .map(|j| j.machine_id.as_str())
        .collect();
    let again = step
        .machine_ids
        .iter()
        .filter(|m| !done.contains(&m.as_str()))
        .cloned()
        .collect();
    Ok((from, again))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Stage;

    fn group() -> Group {
        let stage = |name: &str, ids: &[&str]| Stage {
            name: name.into(),
            machine_ids: ids.iter().map(|s| s.to_string()).collect(),
            selector: None,
        };
        Group {
            id: 1,
            name: "shop".into(),
            stages: vec![
                stage("db", &["psA"]),
                stage("app", &["psB", "psC"]),
                stage("web", &["psD"]),
            ],
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn order(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{} {}", s.action.as_str(), s.stage))
            .collect()
    }

    #[test]
    fn starts_go_forward_stops_back_restarts_both() {
        let g = group();
        let none = |_: &str| false;
        assert_eq!(
            order(&plan(&g, GroupAction::Start, None, &none)),
            ["start db", "start app", "start web"]
        );
        assert_eq!(
            order(&plan(&g, GroupAction::Stop, None, &none)),
            ["stop web", "stop app", "stop db"]
        );
        assert_eq!(
            order(&plan(&g, GroupAction::Restart, None, &none)),
            [
                "stop web",
                "stop app",
                "stop db",
                "start db",
                "start app",
                "start web"
            ]
        );
        let skip_d = |id: &str| id == "psD";
        assert_eq!(
            order(&plan(&g, GroupAction::Start, None, &skip_d)),
            ["start db", "start app"]
        );
    }

    #[test]
    fn each_step_depends_on_the_one_before() {
        let g = group();
        let steps = plan(&g, GroupAction::Start, None, &|_| false);
        let jobs = jobs_for(
            &steps,
            0,
            None,
            WaitTarget::Ready,
            &JobDefaults::default(),
            DateTime::UNIX_EPOCH,
        );
        let deps: Vec<(u32, Vec<Dependency>)> = jobs
            .iter()
            .map(|(j, s)| (*s, j.depends_on.clone()))
            .collect();
        assert_eq!(
            deps,
            [
                (0, vec![]),
                (1, vec![Dependency::Earlier(0)]),
                (1, vec![Dependency::Earlier(0)]),
                (2, vec![Dependency::Earlier(1), Dependency::Earlier(2)]),
            ]
        );
        assert!(jobs.iter().all(|(j, _)| j.wait == Some(WaitTarget::Ready)));
        let resumed = jobs_for(
            &steps,
            1,
            Some(&["psC".to_string()]),
            WaitTarget::ServiceReady,
            &JobDefaults::default(),
            DateTime::UNIX_EPOCH,
        );
        let machines: Vec<_> = resumed
            .iter()
            .map(|(j, s)| (j.machine_id.clone().unwrap(), *s))
            .collect();
        assert_eq!(machines, [("psC".to_string(), 1), ("psD".to_string(), 2)]);
        assert_eq!(resumed[1].0.depends_on, [Dependency::Earlier(0)]);
    }
}
