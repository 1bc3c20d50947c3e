//! One step of one job: a request to Paperspace, or one poll of a wait.
//!
//! A step looks before it acts. A start of a machine that is already running
//! sends nothing; a job resumed after a crash with a `Sending` checkpoint first
//! checks whether its earlier request took effect; a create looks the machine
//! up by name before it asks again. Before any state-changing request leaves,
//! the `Sending` checkpoint is on disk.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::job::{Checkpoint, Job, JobState, NewEvent, Operation, Outcome};
use crate::paperspace::call_log::CallLog;
use crate::paperspace::wait::humanize;
use crate::paperspace::{
    ApiError, FilterField, Machine, MachineApi, MachineFilter, MachineState, WaitError, WaitTarget,
};
use crate::store::{Store, StoreError, Transition};

use super::WorkerSettings;

/// Events from before a checkpoint older than this are not evidence that a
/// request sent after the checkpoint arrived (clock skew allowance).
const EVENT_SLACK: chrono::Duration = chrono::Duration::seconds(5);

/// What a step came to, with everything to record alongside.
#[derive(Debug)]
pub struct StepReport {
    pub outcome: Outcome,
    /// Notes for the history (API calls are added by the caller).
    pub notes: Vec<NewEvent>,
    /// Set when the step learned the job's machine (a create).
    pub machine_id: Option<String>,
    pub seen: Vec<Machine>,
    /// True when `seen` is the whole account.
    pub seen_complete: bool,
    pub gone: Vec<String>,
    /// What a utilization job pulled, to keep per (machine, month).
    pub utilization: Option<crate::paperspace::Utilization>,
}

/// Why a step stopped before reaching an outcome.
#[derive(Debug)]
pub enum Abandoned {
    /// The job was cancelled or taken back while the step ran; nothing was sent.
    LostLease,
    Store(StoreError),
}

/// A state change a step can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Start,
    Stop,
    Restart,
    Destroy { release_public_ip: bool },
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Start => "start",
            Change::Stop => "stop",
            Change::Restart => "restart",
            Change::Destroy { .. } => "destroy",
        }
    }

    /// States in which the request would change nothing, so it is not sent.
    fn already_underway(self, state: &MachineState) -> bool {
        match self {
            Change::Start => matches!(
                state,
                MachineState::Ready | MachineState::ServiceReady | MachineState::Starting
            ),
            Change::Stop => matches!(state, MachineState::Off | MachineState::Stopping),
            Change::Restart | Change::Destroy { .. } => false,
        }
    }

    /// States from which Paperspace accepts the request.
    fn can_send_from(self, state: &MachineState) -> bool {
        match self {
            Change::Start => *state == MachineState::Off,
            Change::Stop | Change::Restart => {
                matches!(state, MachineState::Ready | MachineState::ServiceReady)
            }
            Change::Destroy { .. } => true,
        }
    }

    /// After a crash with the request possibly sent: did it arrive?
    fn took_effect(self, machine: &Machine, since: DateTime<Utc>) -> bool {
        // Paperspace names a destroy's event `deactivate`.
        let names: &[&str] = match self {
            Change::Destroy { .. } => &["destroy", "deactivate"],
            _ => &[self.name()],
        };
        let event_after = machine.events.iter().any(|e| {
            names.contains(&e.name.as_str())
                && e.created_at.is_some_and(|at| at >= since - EVENT_SLACK)
        });
        event_after
            || match self {
                Change::Start => self.already_underway(&machine.state),
                Change::Stop => self.already_underway(&machine.state),
                Change::Restart => machine.state == MachineState::Restarting,
                Change::Destroy { .. } => false,
            }
    }

    async fn send(self, api: &dyn MachineApi, id: &str) -> Result<(), ApiError> {
        match self {
            Change::Start => api.start(id).await,
            Change::Stop => api.stop(id).await,
            Change::Restart => api.restart(id).await,
            Change::Destroy { release_public_ip } => api.destroy(id, release_public_ip).await,
        }
    }
}

/// Everything a step needs.
pub struct Step<'a> {
    pub job: &'a Job,
    pub api: &'a dyn MachineApi,
    pub store: &'a Store,
    pub owner: &'a Arc<str>,
    pub settings: &'a WorkerSettings,
    pub calls: &'a CallLog,
    pub now: DateTime<Utc>,
    report: StepReport,
}

fn machine_json(m: &Machine) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

impl<'a> Step<'a> {
    pub fn new(
        job: &'a Job,
        api: &'a dyn MachineApi,
        store: &'a Store,
        owner: &'a Arc<str>,
        settings: &'a WorkerSettings,
        calls: &'a CallLog,
        now: DateTime<Utc>,
    ) -> Self {
        Step {
            job,
            api,
            store,
            owner,
            settings,
            calls,
            now,
            report: StepReport {
                outcome: Outcome::Failed {
                    error: String::new(),
                },
                notes: Vec::new(),
                machine_id: None,
                seen: Vec::new(),
                seen_complete: false,
                gone: Vec::new(),
                utilization: None,
            },
        }
    }

    /// Runs the step.
    pub async fn run(mut self) -> Result<StepReport, Abandoned> {
        let outcome = self.decide().await?;
        self.report.outcome = outcome;
        Ok(self.report)
    }

    fn note(&mut self, message: impl Into<String>) {
        self.report.notes.push(NewEvent::note(message));
    }

    fn machine_id(&self) -> &str {
        self.report
            .machine_id
            .as_deref()
            .or(self.job.machine_id.as_deref())
            .unwrap_or("")
    }

    async fn decide(&mut self) -> Result<Outcome, Abandoned> {
        let operation = match self.job.operation() {
            Ok(op) => op,
            Err(e) => {
                return Ok(Outcome::Failed {
                    error: format!("the stored arguments are invalid: {e}"),
                });
            }
        };
        if let Some(Checkpoint::Waiting { .. }) = &self.job.checkpoint {
            return Ok(self.poll().await);
        }
        let sending_since = match &self.job.checkpoint {
            Some(Checkpoint::Sending { since }) => Some(*since),
            _ => None,
        };
        let id = self.machine_id().to_string();
        let api = self.api;
        Ok(match operation {
            Operation::Start => self.change(Change::Start, sending_since).await?,
            Operation::Stop => self.change(Change::Stop, sending_since).await?,
            Operation::Restart => self.change(Change::Restart, sending_since).await?,
            Operation::Destroy(a) => {
                self.change(
                    Change::Destroy {
                        release_public_ip: a.release_public_ip,
                    },
                    sending_since,
                )
                .await?
            }
            Operation::Create(_) => self.create(sending_since).await?,
            Operation::Wait => {
                let target = self.job.wait.unwrap_or(WaitTarget::Ready);
                self.begin_wait(target, None, "waiting".to_string(), self.now)
            }
            Operation::Update(changes) => match api.update(&id, &changes).await {
                Ok(()) => match api.show(&id).await {
                    Ok(m) => self.succeed_with_machine(m, format!("updated {id}")),
                    Err(e) => self.api_error(e, None),
                },
                Err(e) => self.api_error(e, None),
            },
            Operation::SetAccess(a) => match api.set_access(&id, &a.user_id, a.enable).await {
                Ok(()) => Outcome::Succeeded {
                    result: json!({"machine_id": id, "user_id": a.user_id, "enable": a.enable}),
                    note: format!(
                        "{} access to {id} for {}",
                        if a.enable { "granted" } else { "revoked" },
                        a.user_id
                    ),
                },
                Err(e) => self.api_error(e, None),
            },
            Operation::Show => match api.show(&id).await {
                Ok(m) => {
                    let note = format!("{id} is {}", m.state);
                    self.succeed_with_machine(m, note)
                }
                Err(e) => self.api_error(e, None),
            },
            Operation::Refresh => match api.list_all(&MachineFilter::all()).await {
                Ok(machines) => {
                    let mut by_state = serde_json::Map::new();
                    for m in &machines {
                        let n = by_state.get(m.state.as_str()).and_then(Value::as_u64);
                        by_state.insert(m.state.to_string(), json!(n.unwrap_or(0) + 1));
                    }
                    let note = format!("{} machines in the account", machines.len());
                    let result = json!({"machines": machines.len(), "by_state": by_state});
                    self.report.seen = machines;
                    self.report.seen_complete = true;
                    Outcome::Succeeded { result, note }
                }
                Err(e) => self.api_error(e, None),
            },
            Operation::Utilization(a) => match api.utilization(&id, a.month).await {
                Ok(u) => {
                    self.report.utilization = Some(u.clone());
                    let cost = u.cost();
                    let mut result = serde_json::to_value(&u).unwrap_or(Value::Null);
                    result["cost"] = json!((cost * 100.0).round() / 100.0);
                    Outcome::Succeeded {
                        note: format!(
                            "{id} ran {} in {} (${cost:.2})",
                            humanize(Duration::from_secs(u.seconds_used)),
                            a.month
                        ),
                        result,
                    }
                }
                Err(e) => self.api_error(e, None),
            },
            Operation::Availability(a) => {
                match api.availability(&a.region, &a.machine_type).await {
                    Ok(av) => Outcome::Succeeded {
                        note: format!(
                            "{} in {}: {}",
                            av.machine_type,
                            av.region,
                            if av.available {
                                "available"
                            } else {
                                "not available"
                            }
                        ),
                        result: serde_json::to_value(&av).unwrap_or(Value::Null),
                    },
                    Err(e) => self.api_error(e, None),
                }
            }
        })
    }

    fn succeed_with_machine(&mut self, machine: Machine, note: String) -> Outcome {
        let result = machine_json(&machine);
        self.report.seen.push(machine);
        Outcome::Succeeded { result, note }
    }

    /// A failed call: retry a transient error while attempts remain.
    fn api_error(&mut self, error: ApiError, checkpoint: Option<Checkpoint>) -> Outcome {
        if error.is_transient() {
            if self.job.attempt >= self.job.max_attempts {
                return Outcome::Failed {
                    error: format!(
                        "gave up after {} attempts; the last error: {error}",
                        self.job.attempt
                    ),
                };
            }
            let delay = self
                .settings
                .backoff
                .delay(self.job.attempt, error.retry_after());
            return Outcome::Retry {
                error: error.to_string(),
                at: self.now + chrono::Duration::from_std(delay).unwrap_or_default(),
                checkpoint,
            };
        }
        Outcome::Failed {
            error: error.to_string(),
        }
    }

    /// Writes the `Sending` checkpoint (with the calls so far) before a
    /// state-changing request leaves.
    async fn checkpoint_sending(&mut self, what: &str) -> Result<Checkpoint, Abandoned> {
        let checkpoint = Checkpoint::Sending { since: self.now };
        let mut events: Vec<NewEvent> = self.calls.take().iter().map(NewEvent::api_call).collect();
        events.append(&mut self.report.notes);
        events.push(NewEvent::note(format!("sending {what}")));
        let written = self
            .store
            .transition(
                Transition {
                    job_id: self.job.id,
                    owner: self.owner.clone(),
                    to: JobState::Running,
                    run_at: None,
                    checkpoint: Some(checkpoint.clone()),
                    machine_id: None,
                    result: None,
                    error: None,
                    events,
                    seen: std::mem::take(&mut self.report.seen),
                    seen_complete: false,
                    gone: Vec::new(),
                    utilization: None,
                },
                self.now,
            )
            .await
            .map_err(Abandoned::Store)?;
        if written {
            Ok(checkpoint)
        } else {
            Err(Abandoned::LostLease)
        }
    }

    async fn change(
        &mut self,
        change: Change,
        sending_since: Option<DateTime<Utc>>,
    ) -> Result<Outcome, Abandoned> {
        let id = self.machine_id().to_string();
        let what = change.name();
        let machine = match self.api.show(&id).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => {
                self.report.gone.push(id.clone());
                return Ok(match change {
                    Change::Destroy { .. } => Outcome::Succeeded {
                        result: json!({"machine_id": id, "gone": true}),
                        note: if sending_since.is_some() {
                            format!("{id} is gone")
                        } else {
                            format!("{id} was already gone; nothing sent")
                        },
                    },
                    _ => Outcome::Failed {
                        error: format!(
                            "machine {id} does not exist (Paperspace answers 404); check the id"
                        ),
                    },
                });
            }
            Err(e) => {
                let keep = sending_since.map(|since| Checkpoint::Sending { since });
                return Ok(self.api_error(e, keep));
            }
        };
        let state = machine.state.clone();
        self.report.seen.push(machine.clone());

        if let Some(since) = sending_since
            && change.took_effect(&machine, since)
        {
            self.note(format!(
                "the {what} sent at {} took effect ({id} is {state}); not sending it again",
                since.to_rfc3339()
            ));
            return Ok(self.after_request(&machine));
        }
        if sending_since.is_none() && change.already_underway(&state) {
            let reached = self.job.wait.is_none_or(|t| t.is_reached_by(&state));
            self.note(format!("{id} is already {state}; nothing sent"));
            return Ok(if reached {
                Outcome::Succeeded {
                    result: machine_json(&machine),
                    note: format!("already {state}"),
                }
            } else {
                self.after_request(&machine)
            });
        }
        if !change.can_send_from(&state) {
            let keep = sending_since.map(|since| Checkpoint::Sending { since });
            if self.job.attempt >= self.job.max_attempts {
                return Ok(Outcome::Failed {
                    error: format!(
                        "machine {id} stayed `{state}` through {} attempts; cannot {what} it from that state",
                        self.job.attempt
                    ),
                });
            }
            let delay = self.settings.backoff.delay(self.job.attempt, None);
            return Ok(Outcome::Retry {
                error: format!("machine {id} is `{state}`; {what} must wait until it settles"),
                at: self.now + chrono::Duration::from_std(delay).unwrap_or_default(),
                checkpoint: keep,
            });
        }

        let sending = self.checkpoint_sending(&format!("{what} for {id}")).await?;
        match change.send(self.api, &id).await {
            Ok(()) => Ok(self.after_request(&machine)),
            Err(e) if e.is_not_found() && matches!(change, Change::Destroy { .. }) => {
                self.report.gone.push(id.clone());
                Ok(Outcome::Succeeded {
                    result: json!({"machine_id": id, "gone": true}),
                    note: format!("{id} was already gone"),
                })
            }
            Err(e) => Ok(self.api_error(e, Some(sending))),
        }
    }

    /// The request is in (or was not needed): wait for the job's target, or finish.
    fn after_request(&mut self, machine: &Machine) -> Outcome {
        match self.job.wait {
            None => Outcome::Succeeded {
                result: machine_json(machine),
                note: "request accepted; not waiting".to_string(),
            },
            Some(target) => {
                let note = format!("waiting for `{target}`");
                let first_poll = self.now
                    + chrono::Duration::from_std(self.settings.poll_interval).unwrap_or_default();
                self.begin_wait(target, Some(machine), note, first_poll)
            }
        }
    }

    /// Starts a wait with its deadline; the first poll is at `first_poll`.
    fn begin_wait(
        &mut self,
        target: WaitTarget,
        seen: Option<&Machine>,
        note: String,
        first_poll: DateTime<Utc>,
    ) -> Outcome {
        let timeout = chrono::Duration::from_std(self.job.wait_timeout).unwrap_or_default();
        let checkpoint = Checkpoint::Waiting {
            target,
            since: self.now,
            deadline: self.now + timeout,
            last_state: seen.map(|m| m.state.to_string()),
            polls: 0,
        };
        Outcome::Wait {
            next_poll: first_poll.min(self.now + timeout),
            checkpoint,
            machine_id: self.report.machine_id.clone(),
            note,
        }
    }

    async fn poll(&mut self) -> Outcome {
        let Some(Checkpoint::Waiting {
            target,
            since,
            deadline,
            last_state,
            polls,
        }) = self.job.checkpoint.clone()
        else {
            unreachable!("poll is only called for a waiting checkpoint")
        };
        let id = self.machine_id().to_string();
        let waited = (self.now - since).to_std().unwrap_or_default();
        let timed_out = |last_state: Option<String>, last_error: Option<String>| {
            let error = WaitError::TimedOut {
                machine_id: id.clone(),
                last_state: last_state.unwrap_or_else(|| "unknown".into()),
                waited,
                wanted: target,
                last_error: last_error.clone(),
            };
            Outcome::Failed {
                error: match last_error {
                    Some(e) => format!("{error} (the last poll failed: {e})"),
                    None => error.to_string(),
                },
            }
        };
        let next = |step: &Step, last_state: Option<String>, pause: Duration| {
            let pause = chrono::Duration::from_std(pause).unwrap_or_default();
            Outcome::Wait {
                next_poll: (step.now + pause).min(deadline),
                checkpoint: Checkpoint::Waiting {
                    target,
                    since,
                    deadline,
                    last_state,
                    polls: polls + 1,
                },
                machine_id: None,
                note: String::new(),
            }
        };
        match self.api.show(&id).await {
            Ok(machine) => {
                let state = machine.state.clone();
                self.report.seen.push(machine.clone());
                if target.is_reached_by(&state) {
                    return Outcome::Succeeded {
                        result: machine_json(&machine),
                        note: format!("{id} is {state} after {}", humanize(waited)),
                    };
                }
                if let Some(event) = machine.failed_operation() {
                    return Outcome::Failed {
                        error: event.failure(&id),
                    };
                }
                if self.now >= deadline {
                    return timed_out(Some(state.to_string()), None);
                }
                next(self, Some(state.to_string()), self.settings.poll_interval)
            }
            Err(e) if e.is_not_found() => {
                self.report.gone.push(id.clone());
                if target == WaitTarget::Gone {
                    Outcome::Succeeded {
                        result: json!({"machine_id": id, "gone": true}),
                        note: format!("{id} is gone after {}", humanize(waited)),
                    }
                } else {
                    Outcome::Failed {
                        error: WaitError::Gone {
                            machine_id: id.clone(),
                            wanted: target,
                        }
                        .to_string(),
                    }
                }
            }
            Err(e) if e.is_transient() => {
                if self.now >= deadline {
                    return timed_out(last_state, Some(e.to_string()));
                }
                let pause = e
                    .retry_after()
                    .unwrap_or(self.settings.poll_interval)
                    .max(self.settings.poll_interval);
                next(self, last_state, pause)
            }
            Err(e) => Outcome::Failed {
                error: e.to_string(),
            },
        }
    }

    async fn create(&mut self, sending_since: Option<DateTime<Utc>>) -> Result<Outcome, Abandoned> {
        let Ok(Operation::Create(request)) = self.job.operation() else {
            unreachable!("create is only called for create jobs")
        };
        if let Some(since) = sending_since {
            // The earlier attempt may have created it: look before asking again.
            let filter = MachineFilter::all().with(FilterField::Name, request.name.clone());
            match self.api.list_all(&filter).await {
                Ok(found) => {
                    let found: Vec<Machine> = found
                        .into_iter()
                        .filter(|m| m.name == request.name)
                        .collect();
                    match found.as_slice() {
                        [] => self.note(format!(
                            "no machine named {:?} exists; the create sent at {} did not take effect",
                            request.name,
                            since.to_rfc3339()
                        )),
                        [machine] => {
                            let machine = machine.clone();
                            self.note(format!(
                                "found {} named {:?}, made by the earlier attempt; not creating again",
                                machine.id, request.name
                            ));
                            self.report.machine_id = Some(machine.id.clone());
                            self.report.seen.push(machine.clone());
                            return Ok(self.after_request(&machine));
                        }
                        many => {
                            let ids: Vec<&str> = many.iter().map(|m| m.id.as_str()).collect();
                            return Ok(Outcome::Failed {
                                error: format!(
                                    "{} machines are named {:?} ({}); cannot tell which one this job created, so it stops here",
                                    many.len(),
                                    request.name,
                                    ids.join(", ")
                                ),
                            });
                        }
                    }
                }
                Err(e) => {
                    return Ok(self.api_error(e, Some(Checkpoint::Sending { since })));
                }
            }
        }
        let sending = self
            .checkpoint_sending(&format!("create of {:?}", request.name))
            .await?;
        match self.api.create(&request).await {
            Ok(machine) => {
                self.note(format!(
                    "Paperspace created {} ({:?})",
                    machine.id, request.name
                ));
                self.report.machine_id = Some(machine.id.clone());
                self.report.seen.push(machine.clone());
                Ok(self.after_request(&machine))
            }
            Err(e) => Ok(self.api_error(e, Some(sending))),
        }
    }
}
