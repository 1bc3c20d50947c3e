//! A request to run a job, as it comes over HTTP or from the CLI, and the
//! checks that turn it into a [`NewJob`] — or a [`SpecError`] naming the
//! field, with nothing written.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dependency::{self, Dependency, DependencyRef, OnDependencyFailure};
use super::operation::{JobKind, Operation, Problems, SpecError, check_id, check_text};
use crate::machine::BillingMonth;
use crate::machine::WaitTarget;

/// Longest a job may be delayed or wait: a week.
const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A job submission. Unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// One of the [`JobKind`] names.
    pub kind: String,
    /// Required by kinds that act on one machine; refused by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// The kind's arguments; `{}` or absent for kinds without.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// Run no earlier than this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<DateTime<Utc>>,
    /// Run no earlier than this many seconds from now (instead of `run_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u64>,
    /// -1000..=1000; higher runs first. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// 1..=100; default from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// `none`, `ready`, `serviceready`, `off` (or `gone` for destroy and wait);
    /// default: the kind's natural end state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// How long the wait may last; default per target state from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_timeout_seconds: Option<u64>,
    /// Submitting the same key again returns the job it made the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Jobs that must succeed before this one runs: ids, or in a batch the
    /// `ref` of another job of the batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyRef>,
    /// `cancel` (default) or `run`: what the job does when a dependency
    /// fails or is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_dependency_failure: Option<String>,
    /// In a batch, the name other jobs of the batch depend on this one by.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Several jobs submitted together, in one transaction: all are stored or
/// none. Jobs of the batch may depend on each other by `ref`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The jobs, each as `POST /v1/jobs` takes it, plus an optional `ref`.
    pub jobs: Vec<JobRequest>,
}

/// A checked batch: its jobs in storage order (each after what it depends
/// on), and where each came from in the request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBatch {
    /// The jobs in the order they are stored; their `Earlier` dependencies
    /// are positions in this list.
    pub jobs: Vec<NewJob>,
    /// `positions[k]`: the request position of `jobs[k]`.
    pub positions: Vec<usize>,
    /// `refs[k]`: the `ref` of `jobs[k]`, if it had one.
    pub refs: Vec<Option<String>>,
}

impl BatchRequest {
    /// Checks every job and orders the batch; a problem is named by its
    /// job's position (`jobs[2].machine_id`).
    pub fn validate(
        self,
        defaults: &JobDefaults,
        now: DateTime<Utc>,
    ) -> Result<NewBatch, SpecError> {
        if self.jobs.is_empty() {
            return Err(SpecError::new("jobs", "give at least one job"));
        }
        if self.jobs.len() > dependency::MAX_BATCH {
            return Err(SpecError::new(
                "jobs",
                format!("at most {} jobs in one batch", dependency::MAX_BATCH),
            ));
        }
        let refs: Vec<Option<String>> = self.jobs.iter().map(|j| j.reference.clone()).collect();
        let deps: Vec<Vec<DependencyRef>> =
            self.jobs.iter().map(|j| j.depends_on.clone()).collect();
        let mut checked = Vec::with_capacity(self.jobs.len());
        for (i, mut job) in self.jobs.into_iter().enumerate() {
            job.reference = None;
            job.depends_on = Vec::new();
            let policy = job.on_dependency_failure.take();
            let mut new = job
                .validate(defaults, now)
                .map_err(|e| e.under(&format!("jobs[{i}].")))?;
            new.on_dependency_failure = match policy {
                None => OnDependencyFailure::Cancel,
                Some(p) => OnDependencyFailure::parse(&p).map_err(|e| SpecError {
                    field: format!("jobs[{i}].{}", e.field),
                    message: e.message,
                })?,
            };
            checked.push(Some(new));
        }
        let order = dependency::order_batch(&refs, &deps)?;
        let mut jobs = Vec::with_capacity(checked.len());
        for (&i, deps) in order.order.iter().zip(order.deps) {
            let mut job = checked[i].take().expect("each position once");
            job.depends_on = deps;
            jobs.push(job);
        }
        Ok(NewBatch {
            jobs,
            refs: order.order.iter().map(|&i| refs[i].clone()).collect(),
            positions: order.order,
        })
    }
}

/// Defaults that come from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDefaults {
    /// Tries a job gets when its request names no `max_attempts`.
    pub max_attempts: u32,
    /// Default timeout of a wait for `ready`.
    pub wait_ready: Duration,
    /// Default timeout of a wait for `serviceready`.
    pub wait_serviceready: Duration,
    /// Default timeout of a wait for `off`.
    pub wait_off: Duration,
    /// Default timeout of a wait for the machine to be gone (after a destroy).
    pub wait_gone: Duration,
}

impl Default for JobDefaults {
    fn default() -> Self {
        JobDefaults {
            max_attempts: 5,
            wait_ready: Duration::from_secs(15 * 60),
            wait_serviceready: Duration::from_secs(15 * 60),
            wait_off: Duration::from_secs(10 * 60),
            wait_gone: Duration::from_secs(10 * 60),
        }
    }
}

impl JobDefaults {
    /// The default timeout of a wait for `target`.
    pub fn wait_timeout(&self, target: WaitTarget) -> Duration {
        match target {
            WaitTarget::Ready => self.wait_ready,
            WaitTarget::ServiceReady => self.wait_serviceready,
            WaitTarget::Off => self.wait_off,
            WaitTarget::Gone => self.wait_gone,
        }
    }
}

/// A checked job, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The checked operation and its arguments.
    pub operation: Operation,
    /// The machine it acts on; `None` for a create and for account-level kinds.
    pub machine_id: Option<String>,
    /// Higher runs first among due jobs.
    pub priority: i32,
    /// Tries allowed, from the request or [`JobDefaults::max_attempts`].
    pub max_attempts: u32,
    /// When the job first becomes due.
    pub run_at: DateTime<Utc>,
    /// The state to wait for after the request, `None` for no wait.
    pub wait: Option<WaitTarget>,
    /// How long that wait may last, from the request or [`JobDefaults::wait_timeout`].
    pub wait_timeout: Duration,
    /// A caller's key that makes a repeated submission return the first job.
    pub idempotency_key: Option<String>,
    /// Jobs that must succeed first; empty for a job that is due at `run_at`.
    pub depends_on: Vec<Dependency>,
    /// What the job does when one of `depends_on` fails or is cancelled.
    pub on_dependency_failure: OnDependencyFailure,
}

impl NewJob {
    /// A job with default settings, due now; for code that builds jobs itself.
    pub fn new(
        operation: Operation,
        machine_id: Option<String>,
        defaults: &JobDefaults,
        now: DateTime<Utc>,
    ) -> Self {
        let wait = default_wait(&operation);
        NewJob {
            machine_id,
            priority: 0,
            max_attempts: defaults.max_attempts,
            run_at: now,
            wait,
            wait_timeout: wait.map_or(Duration::ZERO, |t| defaults.wait_timeout(t)),
            idempotency_key: None,
            depends_on: Vec::new(),
            on_dependency_failure: OnDependencyFailure::Cancel,
            operation,
        }
    }
}

/// The natural end state of an operation, if it has one.
fn default_wait(operation: &Operation) -> Option<WaitTarget> {
    match operation {
        Operation::Create(c) if c.start_on_create == Some(false) => Some(WaitTarget::Off),
        other => other.kind().waits().first().copied(),
    }
}

impl JobRequest {
    /// Checks every field; every problem found is returned at once
    /// ([`SpecError::all`]). A field whose check needs another (the
    /// machine, the arguments and the wait need the kind) is not checked
    /// while that one is wrong.
    pub fn validate(self, defaults: &JobDefaults, now: DateTime<Utc>) -> Result<NewJob, SpecError> {
        let mut problems = Problems::default();
        if let Some(reference) = &self.reference {
            problems.add(SpecError::new(
                "ref",
                format!(
                    "`{}`: refs name jobs of a batch (POST /v1/jobs/batch); leave ref out of a single job",
                    crate::text::escape(reference)
                ),
            ));
        }
        let depends_on = problems.check(dependency::check_ids("depends_on", &self.depends_on));
        let on_dependency_failure = match self.on_dependency_failure.as_deref() {
            None => Some(OnDependencyFailure::Cancel),
            Some(p) => problems.check(OnDependencyFailure::parse(p)),
        };
        let kind: Option<JobKind> = problems.check(self.kind.parse::<JobKind>());
        let kind = kind.filter(|kind| {
            let ok = kind.submittable();
            if !ok {
                problems.add(SpecError::new(
                    "kind",
                    "deliver jobs are queued by the daemon for webhook events; re-send one with `machinist webhooks deliveries ID --resend N`",
                ));
            }
            ok
        });
        let machine_id = match kind.map(|k| (k, k.needs_machine())) {
            None => None,
            Some((kind, true)) => match self.machine_id {
                None => {
                    problems.add(SpecError::new(
                        "machine_id",
                        format!("{kind} jobs need the id of the machine to act on"),
                    ));
                    None
                }
                Some(id) => problems
                    .check(check_id("machine_id", &id))
                    .map(|()| Some(id)),
            },
            Some((kind, false)) => match self.machine_id {
                None => Some(None),
                Some(_) => {
                    problems.add(SpecError::new(
                        "machine_id",
                        format!("{kind} jobs act on no existing machine; leave machine_id out"),
                    ));
                    None
                }
            },
        };
        let operation = kind.and_then(|kind| problems.check(Operation::parse(kind, &self.args)));
        // Paperspace has nothing to report for a month that has not begun
        // (the pull route refuses the same).
        if let Some(Operation::Utilization(args)) = &operation
            && args.month > BillingMonth::containing(now)
        {
            problems.add(SpecError::new(
                "args.month",
                format!(
                    "{} has not begun; ask for the current month or an earlier one",
                    args.month
                ),
            ));
        }

        let run_at = match (self.run_at, self.delay_seconds) {
            (Some(_), Some(_)) => {
                problems.add(SpecError::new(
                    "delay_seconds",
                    "give run_at or delay_seconds, not both",
                ));
                now
            }
            (Some(at), None) => {
                if at - now > chrono::Duration::from_std(MAX_DELAY).expect("a week fits") {
                    problems.add(SpecError::new("run_at", "at most 7 days ahead"));
                }
                at.max(now)
            }
            (None, Some(secs)) => {
                if secs > MAX_DELAY.as_secs() {
                    problems.add(SpecError::new("delay_seconds", "at most 604800 (7 days)"));
                    now
                } else {
                    now + chrono::Duration::seconds(secs as i64)
                }
            }
            (None, None) => now,
        };

        let priority = self.priority.unwrap_or(0);
        if !(-1000..=1000).contains(&priority) {
            problems.add(SpecError::new("priority", "must be between -1000 and 1000"));
        }
        let max_attempts = self.max_attempts.unwrap_or(defaults.max_attempts);
        if !(1..=100).contains(&max_attempts) {
            problems.add(SpecError::new("max_attempts", "must be between 1 and 100"));
        }

        // The wait needs the kind; its default needs the arguments too.
        let wait = match (kind, self.wait.as_deref()) {
            (None, _) => None,
            (Some(kind), wait) => {
                let allowed = kind.waits();
                match wait {
                    // A wait job is nothing but its wait: which state is not guessed.
                    None if kind == JobKind::Wait => {
                        problems.add(SpecError::new(
                            "wait",
                            "wait jobs need the state to wait for: one of ready, serviceready, off, gone",
                        ));
                        None
                    }
                    None => operation.as_ref().map(default_wait),
                    Some("none") if kind != JobKind::Wait => Some(None),
                    Some(s) => {
                        let target = WaitTarget::parse(s).filter(|t| allowed.contains(t));
                        if target.is_none() {
                            let mut names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
                            if kind != JobKind::Wait {
                                names.push("none");
                            }
                            let message = if allowed.is_empty() {
                                format!("{kind} jobs do not wait; leave wait out")
                            } else {
                                format!(
                                    "`{s}` is not a wait for {kind} jobs; use one of {}",
                                    names.join(", ")
                                )
                            };
                            problems.add(SpecError::new("wait", message));
                            None
                        } else {
                            Some(target)
                        }
                    }
                }
            }
        };
        let wait_timeout = match (wait, self.wait_timeout_seconds) {
            // The wait is not known: its timeout cannot be judged.
            (None, _) => None,
            (Some(None), Some(_)) => {
                problems.add(SpecError::new(
                    "wait_timeout_seconds",
                    "this job does not wait; leave wait_timeout_seconds out",
                ));
                None
            }
            (Some(None), None) => Some(Duration::ZERO),
            (Some(Some(_)), Some(secs)) => {
                if secs == 0 || secs > MAX_DELAY.as_secs() {
                    problems.add(SpecError::new(
                        "wait_timeout_seconds",
                        "must be between 1 and 604800 (7 days)",
                    ));
                    None
                } else {
                    Some(Duration::from_secs(secs))
                }
            }
            (Some(Some(target)), None) => Some(defaults.wait_timeout(target)),
        };

        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.chars().count() > 200 {
                problems.add(SpecError::new(
                    "idempotency_key",
                    "must be 1 to 200 characters without control characters",
                ));
            } else {
                problems.check(check_text("idempotency_key", key));
            }
        }

        problems.finish()?;
        // Every check passed, so each of these holds its value.
        let (
            Some(operation),
            Some(machine_id),
            Some(wait),
            Some(wait_timeout),
            Some(depends_on),
            Some(on_dependency_failure),
        ) = (
            operation,
            machine_id,
            wait,
            wait_timeout,
            depends_on,
            on_dependency_failure,
        )
        else {
            unreachable!("a check that failed without a problem")
        };
        Ok(NewJob {
            operation,
            machine_id,
            priority,
            max_attempts,
            run_at,
            wait,
            wait_timeout,
            idempotency_key: self.idempotency_key,
            depends_on,
            on_dependency_failure,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-03-02T09:00:00Z".parse().unwrap()
    }

    fn req(v: Value) -> Result<NewJob, SpecError> {
        let r: JobRequest = serde_json::from_value(v).unwrap();
        r.validate(&JobDefaults::default(), now())
    }

    #[test]
    fn defaults_follow_the_kind() {
        let start = req(json!({"kind":"start","machine_id":"ps1"})).unwrap();
        assert_eq!(start.wait, Some(WaitTarget::Ready));
        assert_eq!(start.wait_timeout, Duration::from_secs(900));
        assert_eq!(start.run_at, now());
        let stop = req(json!({"kind":"stop","machine_id":"ps1","wait":"none"})).unwrap();
        assert_eq!(stop.wait, None);
        let show = req(json!({"kind":"show","machine_id":"ps1"})).unwrap();
        assert_eq!(show.wait, None);
        let create = req(json!({"kind":"create","args":{"name":"a","region":"r","machine_type":"C5","disk_size_gb":50,"template_id":"t1","start_on_create":false}})).unwrap();
        assert_eq!(create.wait, Some(WaitTarget::Off));
        let delayed = req(json!({"kind":"refresh","delay_seconds":60})).unwrap();
        assert_eq!(delayed.run_at, now() + chrono::Duration::seconds(60));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let e = req(json!({"kind": "create", "priority": 5000, "args": {
            "name": "", "region": "Europe (AMS1)", "machine_type": "",
            "disk_size_gb": 0, "template_id": "t1"}}))
        .unwrap_err();
        assert_eq!(
            e.field,
            "args.name,args.machine_type,args.disk_size_gb,priority"
        );
        assert!(
            e.message
                .starts_with("args.name: must not be empty; args.machine_type: "),
            "{}",
            e.message
        );
        let parts = e.parts();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            parts[3],
            SpecError::new("priority", "must be between -1000 and 1000")
        );
        // A field that needs a wrong one is not judged: no wait for a bad kind.
        let e =
            req(json!({"kind": "teleport", "wait": "sideways", "max_attempts": 0})).unwrap_err();
        assert_eq!(e.field, "kind,max_attempts");
        // In a batch, each field under its job.
        let batch: BatchRequest = serde_json::from_value(json!({"jobs": [
            {"kind": "refresh"},
            {"kind": "start", "priority": -5000}
        ]}))
        .unwrap();
        let e = batch.validate(&JobDefaults::default(), now()).unwrap_err();
        assert_eq!(e.field, "jobs[1].machine_id,jobs[1].priority");
        assert!(
            e.message.starts_with("jobs[1].machine_id: start jobs need"),
            "{}",
            e.message
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let field = |v: Value| req(v).unwrap_err().field;
        assert_eq!(field(json!({"kind":"start"})), "machine_id");
        assert_eq!(
            field(json!({"kind":"refresh","machine_id":"ps1"})),
            "machine_id"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps/1"})),
            "machine_id"
        );
        assert_eq!(field(json!({"kind":"teleport","machine_id":"ps1"})), "kind");
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","wait":"off"})),
            "wait"
        );
        assert_eq!(
            field(json!({"kind":"show","machine_id":"ps1","wait":"ready"})),
            "wait"
        );
        assert_eq!(
            field(json!({"kind":"wait","machine_id":"ps1","wait":"none"})),
            "wait"
        );
        assert_eq!(
            field(json!({"kind":"show","machine_id":"ps1","wait_timeout_seconds":5})),
            "wait_timeout_seconds"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","wait_timeout_seconds":0})),
            "wait_timeout_seconds"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","priority":5000})),
            "priority"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","max_attempts":0})),
            "max_attempts"
        );
        assert_eq!(
            field(
                json!({"kind":"start","machine_id":"ps1","delay_seconds":1,"run_at":"2026-03-02T10:00:00Z"})
            ),
            "delay_seconds"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","run_at":"2027-03-02T10:00:00Z"})),
            "run_at"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","idempotency_key":""})),
            "idempotency_key"
        );
        assert_eq!(
            field(json!({"kind":"start","machine_id":"ps1","args":{"x":1}})),
            "args.x"
        );
        assert_eq!(field(json!({"kind":"wait","machine_id":"ps1"})), "wait");
        assert_eq!(
            field(json!({"kind":"utilization","machine_id":"ps1","args":{"month":"2026-04"}})),
            "args.month"
        );
        for (body, at) in [
            (
                json!({"kind":"start","machine_id":"ps1","idempotency_key":"k\u{202e}"}),
                "idempotency_key",
            ),
            (
                json!({"kind":"create","args":{"name":"a\u{1b}[31m","region":"r","machine_type":"C5","disk_size_gb":50,"template_id":"t1"}}),
                "args.name",
            ),
            (
                json!({"kind":"update","machine_id":"ps1","args":{"name":"b\u{200b}"}}),
                "args.name",
            ),
            (
                json!({"kind":"availability","args":{"region":"r\u{85}","machine_type":"C5"}}),
                "args.region",
            ),
        ] {
            assert_eq!(field(body), at);
        }
    }

    #[test]
    fn the_current_and_past_months_can_be_pulled() {
        for month in ["2026-03", "2026-02"] {
            req(json!({"kind":"utilization","machine_id":"ps1","args":{"month":month}})).unwrap();
        }
        let waits = req(json!({"kind":"wait","machine_id":"ps1","wait":"off"})).unwrap();
        assert_eq!(waits.wait, Some(WaitTarget::Off));
    }
}
