//! One step of one job: a request to Paperspace, or one poll of a wait.
//!
//! A step looks before it acts. A start of a machine that is already running
//! sends nothing; a create looks the machine up by name before it asks again.
//! Before any state-changing request leaves, the `Sending` checkpoint is on
//! disk, with the moment it left and the newest event the machine showed
//! just before.
//!
//! # Did the request arrive?
//!
//! After an ambiguous answer (a timeout, a 5xx) or a crash, a job resumes
//! with that `Sending` checkpoint and does not know whether its request
//! arrived. It counts the request as arrived only on evidence that belongs
//! to this attempt (`Change::evidence`):
//!
//! - an event of the request's name (`start`, `stop`, …) created after the
//!   newest event the machine showed before the request left. Both times are
//!   Paperspace's, so clock skew between Machinist and Paperspace cannot
//!   make an earlier job's event look like this one's. When the machine
//!   showed no timed event then, the event must be created at or after the
//!   moment the request left by Machinist's clock, with no allowance
//!   backwards: a skewed clock can then only make the job send again, never
//!   take an earlier event for its own;
//! - or a state only the request could have caused, given the state it was
//!   sent from: `starting`/`ready` after a start sent to an `off` machine,
//!   `stopping`/`off` after a stop sent to a running one, `restarting` after
//!   a restart. A machine still `off` is no evidence that a start arrived.
//!
//! Without such evidence the request is sent again. A start or stop sent
//! twice is a no-op at Paperspace; a create is never sent blindly twice (it
//! looks the machine up by name).
//!
//! # A wait the machine contradicts
//!
//! A start job waiting for `ready` whose machine is `off`, and no start
//! event under way, will never get there: the start was lost, refused
//! silently, or undone by someone else's stop. Likewise a stop job whose
//! machine is `ready` with no stop under way. A single such poll could be a
//! machine that has not begun its transition yet, so only
//! `CONTRADICTED_POLLS` such polls in a row count: then the job goes back
//! to the queue at once, spending an attempt, and its next attempt looks at
//! the machine and sends the request again (or fails when its attempts are
//! spent). A `wait` job sends nothing and just waits.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::clock::SharedClock;
use crate::cost::{CostSettings, Ledger};
use crate::job::{Checkpoint, EventMark, Job, JobState, NewEvent, Operation, Outcome};
use crate::machine::humanize;
use crate::machine::{BillingMonth, Utilization};
use crate::machine::{FilterField, Machine, MachineEvent, MachineFilter, MachineState, WaitTarget};
use crate::meter::MeteredMonth;
use crate::paperspace::call_log::CallLog;
use crate::paperspace::{ApiError, Backend, MachineApi, WaitError};
use crate::store::{Store, StoreError, Transition, UtilizationRow};

use super::WorkerSettings;

/// Polls in a row that must find a start job's machine `off` (a stop job's
/// `ready`), with no such operation under way, before the request is sent
/// again: one poll may land before Paperspace begins the transition.
const CONTRADICTED_POLLS: u32 = 3;

/// Event states after which an operation is over.
const FINISHED_EVENT_STATES: [&str; 3] = ["done", "error", "cancelled"];

/// What a step came to, with everything to record alongside.
#[derive(Debug)]
pub struct StepReport {
    /// Where the job goes next: success, a wait, a retry or a failure.
    pub outcome: Outcome,
    /// Notes for the history (API calls are added by the caller).
    pub notes: Vec<NewEvent>,
    /// Set when the step learned the job's machine (a create).
    pub machine_id: Option<String>,
    /// Machines the step saw, for the machines table.
    pub seen: Vec<Machine>,
    /// True when `seen` is the whole account.
    pub seen_complete: bool,
    /// Ids of machines found to no longer exist.
    pub gone: Vec<String>,
    /// What a utilization job pulled, to keep per (machine, month).
    pub utilization: Option<crate::machine::Utilization>,
}

/// Why a step stopped before reaching an outcome.
#[derive(Debug)]
pub enum Abandoned {
    /// The job was cancelled or taken back while the step ran; nothing was sent.
    LostLease,
    Store(StoreError),
}

/// What a job resumed with a `Sending` checkpoint knows of its earlier request.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    /// When it left, by Machinist's clock.
    since: DateTime<Utc>,
    /// The newest event the machine showed before it left.
    after_event: Option<EventMark>,
}

impl Sent {
    fn from_checkpoint(checkpoint: Option<&Checkpoint>) -> Option<Sent> {
        match checkpoint {
            Some(Checkpoint::Sending { since, after_event }) => Some(Sent {
                since: *since,
                after_event: after_event.clone(),
            }),
            _ => None,
        }
    }

    /// The checkpoint to keep when this step cannot tell either.
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::Sending {
            since: self.since,
            after_event: self.after_event.clone(),
        }
    }

    /// Whether `event` was created after the request left, so it can be
    /// this request's (see the module doc).
    fn came_after(&self, event: &MachineEvent) -> bool {
        let Some(at) = event.created_at else {
            return false;
        };
        match &self.after_event {
            Some(mark) => {
                at > mark.at || (at == mark.at && event.id.is_some() && event.id != mark.id)
            }
            None => at >= self.since,
        }
    }
}

/// The newest timed event a machine shows: what a request sent now must
/// come after.
fn newest_event(machine: &Machine) -> Option<EventMark> {
    machine
        .events
        .iter()
        .filter_map(|e| e.created_at.map(|at| (at, e)))
        .max_by_key(|(at, _)| *at)
        .map(|(at, e)| EventMark {
            id: e.id.clone(),
            at,
        })
}

/// What shows that a request sent earlier arrived.
#[derive(Debug, Clone, PartialEq)]
enum Evidence {
    /// An event of the request's name, created after it left.
    Event(MachineEvent),
    /// A state only the request could have caused from the state it was sent from.
    State(MachineState),
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Evidence::Event(e) => {
                write!(f, "Paperspace shows its {} event", e.name)?;
                if let Some(id) = &e.id {
                    write!(f, " {id}")?;
                }
                if let Some(at) = e.created_at {
                    write!(f, " of {}", at.to_rfc3339())?;
                }
                write!(f, ", {}", e.state)
            }
            Evidence::State(state) => write!(f, "the machine is {state}"),
        }
    }
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

    /// The names of the events this request makes.
    fn event_names(self) -> &'static [&'static str] {
        match self {
            // Paperspace names a destroy's event `deactivate`.
            Change::Destroy { .. } => &["destroy", "deactivate"],
            Change::Start => &["start"],
            Change::Stop => &["stop"],
            Change::Restart => &["restart"],
        }
    }

    /// After an ambiguous answer or a crash, with the request possibly sent:
    /// what shows that this attempt's request arrived, if anything (see the
    /// module doc). The request was only sent from a state
    /// [`Change::can_send_from`] accepts.
    fn evidence(self, machine: &Machine, sent: &Sent) -> Option<Evidence> {
        let names = self.event_names();
        if let Some(event) = machine
            .events
            .iter()
            .find(|e| names.contains(&e.name.as_str()) && sent.came_after(e))
        {
            return Some(Evidence::Event(event.clone()));
        }
        let moved = match self {
            Change::Start | Change::Stop => self.already_underway(&machine.state),
            Change::Restart => machine.state == MachineState::Restarting,
            Change::Destroy { .. } => false,
        };
        moved.then(|| Evidence::State(machine.state.clone()))
    }

    /// States a waiting job's machine would not be in had this request
    /// taken effect (and not been undone): for a start or a stop, the states
    /// it is sent from. A restart or destroy passes through those too.
    fn contradicted_by(self, state: &MachineState) -> bool {
        matches!(self, Change::Start | Change::Stop) && self.can_send_from(state)
    }

    /// Whether the machine shows an unfinished event of this request's name:
    /// it may still be on its way, whoever asked.
    fn under_way(self, machine: &Machine) -> bool {
        machine.events.iter().any(|e| {
            self.event_names().contains(&e.name.as_str())
                && !FINISHED_EVENT_STATES.contains(&e.state.as_str())
        })
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
    /// The job being run, as claimed.
    pub job: &'a Job,
    /// The Paperspace backend to call.
    pub api: &'a dyn MachineApi,
    /// Where checkpoints are written before a request leaves.
    pub store: &'a Store,
    /// This process's lease owner name, sent with every transition it writes.
    pub owner: &'a Arc<str>,
    /// Poll intervals and other worker settings.
    pub settings: &'a WorkerSettings,
    /// Records this step's API calls for the job's history.
    pub calls: &'a CallLog,
    /// When the step began.
    pub now: DateTime<Utc>,
    /// For the moment a request leaves.
    clock: &'a SharedClock,
    /// Webhooks, for deliver and digest jobs.
    pub hooks: Option<&'a super::WorkerHooks>,
    /// What the step has learned so far, returned when it ends.
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
        clock: &'a SharedClock,
    ) -> Self {
        Step {
            job,
            api,
            store,
            owner,
            settings,
            calls,
            now: clock.now(),
            clock,
            hooks: None,
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
        let sent = Sent::from_checkpoint(self.job.checkpoint.as_ref());
        if matches!(operation, Operation::Start | Operation::Create(_))
            && sent.is_none()
            && let Some(refused) = self.refused_by_standing().await
        {
            return Ok(refused);
        }
        let id = self.machine_id().to_string();
        let api = self.api;
        Ok(match operation {
            Operation::Start => self.change(Change::Start, sent).await?,
            Operation::Stop => self.change(Change::Stop, sent).await?,
            Operation::Restart => self.change(Change::Restart, sent).await?,
            Operation::Destroy(a) => {
                self.change(
                    Change::Destroy {
                        release_public_ip: a.release_public_ip,
                    },
                    sent,
                )
                .await?
            }
            Operation::Create(_) => self.create(sent).await?,
            Operation::Deliver(args) => match self.hooks {
                Some(hooks) => {
                    let (outcome, attempts) = hooks.courier.deliver(self.job, &args).await;
                    self.report.notes.extend(attempts);
                    outcome
                }
                None => Outcome::Failed {
                    error: "this process sends no webhooks".into(),
                },
            },
            Operation::Digest => match self.hooks {
                Some(hooks) => hooks.digest(self.now).await,
                None => Outcome::Failed {
                    error: "this process sends no webhooks".into(),
                },
            },
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
            Operation::Utilization(a) => self.utilization(&id, a.month).await,
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

    /// A start or create while the last check found the account not in
    /// good standing fails at once with Paperspace's own words: Paperspace
    /// refuses them anyway, and retrying would only storm its API.
    async fn refused_by_standing(&mut self) -> Option<Outcome> {
        if self.api.backend() != Backend::V1 {
            return None;
        }
        let (standing, checked) = self.store.account_standing().await.ok().flatten()?;
        if standing.in_good_standing {
            return None;
        }
        let said = if standing.messages.is_empty() {
            "no reason given".to_string()
        } else {
            standing.messages.join("; ")
        };
        Some(Outcome::Failed {
            error: format!(
                "the Paperspace account is not in good standing (checked {}): {said}; \
                 Paperspace refuses creates and starts until it is settled in the console",
                checked.format("%Y-%m-%d %H:%M UTC")
            ),
        })
    }

    /// A month's utilization of a machine. On v1 the meter answers (v1 has
    /// no utilization route); on legacy Paperspace's `getUtilization` does,
    /// and the meter's figures are kept beside it so reports can show both.
    async fn utilization(&mut self, id: &str, month: BillingMonth) -> Outcome {
        let ledger = Ledger::new(
            self.store.clone(),
            CostSettings {
                units: self.settings.rate_units,
                ..CostSettings::new(self.api.backend())
            },
        );
        let ids = [id.to_string()];
        let metered = match ledger
            .metered_utilization(Some(&ids), month, self.now)
            .await
        {
            Ok(rows) => rows.into_iter().next(),
            Err(e) => {
                return Outcome::Retry {
                    error: format!("could not read the meter's facts: {e}"),
                    at: self.now + chrono::Duration::seconds(30),
                    checkpoint: None,
                };
            }
        };
        if self.api.backend() == Backend::V1 {
            self.keep_metered(metered.as_ref().map(|(u, _)| u.clone()))
                .await;
            let (u, m) = metered.unwrap_or_else(|| {
                let empty = Utilization {
                    machine_id: id.to_string(),
                    billing_month: month,
                    seconds_used: 0,
                    hourly_rate: 0.0,
                    storage_seconds_used: 0,
                    storage_monthly_rate: 0.0,
                };
                (empty, MeteredMonth::idle(id, month))
            });
            let cost = u.cost();
            let mut result = serde_json::to_value(&u).unwrap_or(Value::Null);
            result["cost"] = json!((cost * 100.0).round() / 100.0);
            result["source"] = json!(UtilizationRow::METER);
            result["method"] = json!(m.method.as_str());
            result["hours_bound"] = json!((m.uncertainty_seconds as f64 / 36.0).round() / 100.0);
            return Outcome::Succeeded {
                note: format!(
                    "{id} ran {} in {month} (${cost:.2}), metered from its events",
                    humanize(Duration::from_secs(u.seconds_used)),
                ),
                result,
            };
        }
        match self.api.utilization(id, month).await {
            Ok(u) => {
                // The meter's hours at the prices Paperspace just reported:
                // legacy machines carry no price of their own.
                self.keep_metered(metered.as_ref().map(|(m, _)| Utilization {
                    hourly_rate: u.hourly_rate,
                    storage_monthly_rate: u.storage_monthly_rate,
                    ..m.clone()
                }))
                .await;
                self.report.utilization = Some(u.clone());
                let cost = u.cost();
                let mut result = serde_json::to_value(&u).unwrap_or(Value::Null);
                result["cost"] = json!((cost * 100.0).round() / 100.0);
                result["source"] = json!(UtilizationRow::PAPERSPACE);
                if let Some((m, _)) = &metered {
                    result["metered_seconds"] = json!(m.seconds_used);
                }
                Outcome::Succeeded {
                    note: format!(
                        "{id} ran {} in {month} (${cost:.2})",
                        humanize(Duration::from_secs(u.seconds_used)),
                    ),
                    result,
                }
            }
            Err(e) => self.api_error(e, None),
        }
    }

    /// Keeps the meter's figures for a month beside what Paperspace pulled;
    /// failing to is logged, not a failure of the job.
    async fn keep_metered(&self, row: Option<Utilization>) {
        if let Some(row) = row
            && let Err(e) = self
                .store
                .save_metered_utilization(vec![row], self.now)
                .await
        {
            tracing::warn!(error = %e, "could not keep the metered utilization");
        }
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
    /// state-changing request leaves; `before` is the machine as seen just
    /// before, when there is one.
    async fn checkpoint_sending(
        &mut self,
        what: &str,
        before: Option<&Machine>,
    ) -> Result<Checkpoint, Abandoned> {
        let checkpoint = Checkpoint::Sending {
            since: self.clock.now(),
            after_event: before.and_then(newest_event),
        };
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

    async fn change(&mut self, change: Change, sent: Option<Sent>) -> Result<Outcome, Abandoned> {
        let id = self.machine_id().to_string();
        let what = change.name();
        let machine = match self.api.show(&id).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => {
                self.report.gone.push(id.clone());
                return Ok(match change {
                    Change::Destroy { .. } => Outcome::Succeeded {
                        result: json!({"machine_id": id, "gone": true}),
                        note: if sent.is_some() {
                            format!("{id} is gone")
                        } else {
                            format!("{id} was already gone; nothing sent")
                        },
                    },
                    // Machinist's reading first, then Paperspace's own words.
                    _ => Outcome::Failed {
                        error: format!("machine {id} does not exist; check the id ({e})"),
                    },
                });
            }
            Err(e) => {
                let keep = sent.as_ref().map(Sent::checkpoint);
                return Ok(self.api_error(e, keep));
            }
        };
        let state = machine.state.clone();
        self.report.seen.push(machine.clone());

        if let Some(sent) = &sent
            && let Some(evidence) = change.evidence(&machine, sent)
        {
            self.note(format!(
                "the {what} sent at {} took effect ({evidence}); not sending it again",
                sent.since.to_rfc3339()
            ));
            return Ok(self.after_request(&machine));
        }
        if sent.is_none() && change.already_underway(&state) {
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
            let keep = sent.as_ref().map(Sent::checkpoint);
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

        if let Some(sent) = &sent {
            self.note(format!(
                "nothing shows that the {what} sent at {} arrived ({id} is {state}, and no {what} event came after it); sending it again",
                sent.since.to_rfc3339()
            ));
        }
        let sending = self
            .checkpoint_sending(&format!("{what} for {id}"), Some(&machine))
            .await?;
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
            contradicted: 0,
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
            contradicted,
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
        let next = |step: &Step, last_state: Option<String>, contradicted: u32, pause: Duration| {
            let pause = chrono::Duration::from_std(pause).unwrap_or_default();
            Outcome::Wait {
                next_poll: (step.now + pause).min(deadline),
                checkpoint: Checkpoint::Waiting {
                    target,
                    since,
                    deadline,
                    last_state,
                    polls: polls + 1,
                    contradicted,
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
                let contradicted = match self.contradicted(&machine) {
                    Some(change) if contradicted + 1 >= CONTRADICTED_POLLS => {
                        return self.send_again(&machine, change, contradicted + 1);
                    }
                    Some(_) => contradicted + 1,
                    None => 0,
                };
                if self.now >= deadline {
                    return timed_out(Some(state.to_string()), None);
                }
                next(
                    self,
                    Some(state.to_string()),
                    contradicted,
                    self.settings.poll_interval,
                )
            }
            Err(e) if e.is_not_found() => {
                self.report.gone.push(id.clone());
                if target == WaitTarget::Gone {
                    Outcome::Succeeded {
                        result: json!({"machine_id": id, "gone": true}),
                        note: format!("{id} is gone after {}", humanize(waited)),
                    }
                } else {
                    let gone = WaitError::Gone {
                        machine_id: id.clone(),
                        wanted: target,
                    };
                    // Machinist's reading first, then Paperspace's own words.
                    Outcome::Failed {
                        error: format!("{gone} ({e})"),
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
                // A failed poll says nothing either way about the machine.
                next(self, last_state, contradicted, pause)
            }
            Err(e) => Outcome::Failed {
                error: e.to_string(),
            },
        }
    }

    /// The request of this start or stop job, when `machine` (seen by a
    /// poll of its wait) is where that request would have moved it away
    /// from and no such request is under way (see the module doc).
    fn contradicted(&self, machine: &Machine) -> Option<Change> {
        let change = match self.job.operation() {
            Ok(Operation::Start) => Change::Start,
            Ok(Operation::Stop) => Change::Stop,
            _ => return None,
        };
        (change.contradicted_by(&machine.state) && !change.under_way(machine)).then_some(change)
    }

    /// Ends a wait its machine contradicted `polls` times in a row: back to
    /// the queue at once, spending an attempt, so that the next attempt
    /// looks at the machine and sends the request again.
    fn send_again(&mut self, machine: &Machine, change: Change, polls: u32) -> Outcome {
        let id = &machine.id;
        let what = change.name();
        let seen = format!(
            "machine {id} was `{}` on {polls} polls in a row with no {what} under way, so the {what} did not take effect or was undone",
            machine.state
        );
        if self.job.attempt >= self.job.max_attempts {
            return Outcome::Failed {
                error: format!(
                    "{seen}; not sending it again: the job's attempts are spent ({} of {})",
                    self.job.attempt, self.job.max_attempts
                ),
            };
        }
        Outcome::Retry {
            error: format!("{seen}; sending it again"),
            at: self.now,
            checkpoint: None,
        }
    }

    async fn create(&mut self, sent: Option<Sent>) -> Result<Outcome, Abandoned> {
        let Ok(Operation::Create(request)) = self.job.operation() else {
            unreachable!("create is only called for create jobs")
        };
        if let Some(sent) = sent {
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
                            sent.since.to_rfc3339()
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
                    return Ok(self.api_error(e, Some(sent.checkpoint())));
                }
            }
        }
        let sending = self
            .checkpoint_sending(&format!("create of {:?}", request.name), None)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn event(name: &str, state: &str, id: &str, created: &str) -> MachineEvent {
        MachineEvent {
            id: Some(id.into()),
            machine_id: None,
            started_at: None,
            name: name.into(),
            state: state.into(),
            error: None,
            created_at: Some(at(created)),
            finished_at: None,
        }
    }

    /// A machine that an earlier job started and another stopped, seconds
    /// ago: the history of the issue's reproduction.
    fn started_then_stopped(state: MachineState) -> Machine {
        let mut m = Machine::new("ps1", "m", state);
        m.events = vec![
            event("stop", "done", "e-stop", "2026-03-01T10:00:02Z"),
            event("start", "done", "e-start", "2026-03-01T10:00:00Z"),
        ];
        m
    }

    fn sent_after(machine: &Machine, since: &str) -> Sent {
        Sent {
            since: at(since),
            after_event: newest_event(machine),
        }
    }

    #[test]
    fn an_earlier_jobs_event_is_no_evidence_and_an_off_machine_neither() {
        let before = started_then_stopped(MachineState::Off);
        // The request left a second after the stop, well within any skew
        // allowance that reaches back to the earlier start.
        let sent = sent_after(&before, "2026-03-01T10:00:03Z");
        assert_eq!(
            sent.after_event,
            Some(EventMark {
                id: Some("e-stop".into()),
                at: at("2026-03-01T10:00:02Z")
            })
        );
        assert_eq!(Change::Start.evidence(&before, &sent), None);
    }

    #[test]
    fn an_event_after_the_newest_seen_is_evidence_whatever_our_clock_says() {
        let mut after = started_then_stopped(MachineState::Off);
        let sent = sent_after(&after, "2026-03-01T10:00:09Z");
        // Paperspace's clock runs behind ours: its event predates `since`
        // but comes after everything the machine showed before sending.
        let ours = event("start", "new", "e-ours", "2026-03-01T10:00:05Z");
        after.events.insert(0, ours.clone());
        assert_eq!(
            Change::Start.evidence(&after, &sent),
            Some(Evidence::Event(ours))
        );
        assert_eq!(
            Change::Stop.evidence(&after, &sent),
            Some(Evidence::State(MachineState::Off))
        );
    }

    #[test]
    fn with_no_event_seen_before_only_events_from_the_sending_on_count() {
        let mut m = Machine::new("ps1", "m", MachineState::Off);
        let sent = sent_after(&m, "2026-03-01T10:00:03Z");
        assert_eq!(sent.after_event, None);
        m.events = vec![event("start", "done", "old", "2026-03-01T10:00:01Z")];
        assert_eq!(
            Change::Start.evidence(&m, &sent),
            None,
            "no slack backwards"
        );
        m.events
            .push(event("start", "in progress", "new", "2026-03-01T10:00:03Z"));
        assert!(matches!(
            Change::Start.evidence(&m, &sent),
            Some(Evidence::Event(e)) if e.id.as_deref() == Some("new")
        ));
    }

    #[test]
    fn only_a_state_the_request_could_cause_is_evidence() {
        let sent = Sent {
            since: at("2026-03-01T10:00:00Z"),
            after_event: None,
        };
        let m = |state| Machine::new("ps1", "m", state);
        for state in [MachineState::Starting, MachineState::Ready] {
            assert!(Change::Start.evidence(&m(state), &sent).is_some());
        }
        for state in [MachineState::Off, MachineState::Stopping] {
            assert_eq!(Change::Start.evidence(&m(state), &sent), None);
        }
        for state in [MachineState::Stopping, MachineState::Off] {
            assert!(Change::Stop.evidence(&m(state), &sent).is_some());
        }
        assert_eq!(Change::Stop.evidence(&m(MachineState::Ready), &sent), None);
        assert!(
            Change::Restart
                .evidence(&m(MachineState::Restarting), &sent)
                .is_some()
        );
        assert_eq!(
            Change::Restart.evidence(&m(MachineState::Ready), &sent),
            None
        );
        let destroy = Change::Destroy {
            release_public_ip: false,
        };
        assert_eq!(destroy.evidence(&m(MachineState::Off), &sent), None);
    }

    #[test]
    fn a_wait_is_contradicted_only_by_the_opposite_state_with_nothing_under_way() {
        let mut off = Machine::new("ps1", "m", MachineState::Off);
        assert!(Change::Start.contradicted_by(&off.state) && !Change::Start.under_way(&off));
        assert!(!Change::Stop.contradicted_by(&off.state));
        // Paperspace has the start but has not moved the machine yet.
        off.events = vec![event("start", "new", "e1", "2026-03-01T10:00:00Z")];
        assert!(Change::Start.under_way(&off));
        off.events[0].state = "cancelled".into();
        assert!(!Change::Start.under_way(&off));

        for state in [MachineState::Ready, MachineState::ServiceReady] {
            assert!(Change::Stop.contradicted_by(&state));
            assert!(!Change::Start.contradicted_by(&state));
        }
        for state in [
            MachineState::Starting,
            MachineState::Stopping,
            MachineState::Restarting,
        ] {
            assert!(!Change::Start.contradicted_by(&state));
            assert!(!Change::Stop.contradicted_by(&state));
        }
    }

    #[test]
    fn a_checkpoint_without_the_new_fields_still_reads() {
        let sending: Checkpoint =
            serde_json::from_str(r#"{"phase":"sending","since":"2026-03-01T10:00:00Z"}"#).unwrap();
        assert_eq!(
            Sent::from_checkpoint(Some(&sending)),
            Some(Sent {
                since: at("2026-03-01T10:00:00Z"),
                after_event: None
            })
        );
        let waiting: Checkpoint = serde_json::from_str(
            r#"{"phase":"waiting","target":"ready","since":"2026-03-01T10:00:00Z","deadline":"2026-03-01T10:15:00Z","last_state":"off","polls":4}"#,
        )
        .unwrap();
        assert!(matches!(
            waiting,
            Checkpoint::Waiting {
                contradicted: 0,
                polls: 4,
                ..
            }
        ));
    }
}
