//! Job kinds and their typed, validated arguments.
//!
//! A job arrives as a kind name and a JSON `args` object (over HTTP, from the
//! CLI, from a schedule). [`Operation::parse`] turns that into one typed
//! value, or a [`SpecError`] that names the offending field. Argument names
//! are Machinist's own (`name`, `disk_size_gb`, …) whatever backend runs the job.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::machine::{BillingMonth, CreateMachine, UpdateMachine, WaitTarget};

/// A request that cannot become a job, and the field to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Dotted path of the field, e.g. `args.disk_size_gb` or `machine_id`.
    pub field: String,
    /// Why the value was refused, for a person to read.
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Every problem of a request as one error, so that a person fixes them
    /// all in one go rather than one per try: a single problem as it is;
    /// several with `field` joining their fields with commas
    /// (`args.name,priority`) and `message` each `field: message`, joined
    /// with `; ` (as `invalid_webhook` does). `None` without a problem.
    pub fn all(mut problems: Vec<SpecError>) -> Option<SpecError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(SpecError {
                field: problems
                    .iter()
                    .map(|p| p.field.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                message: problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    /// The problems [`Self::all`] joined, apart again: one per field of
    /// `field`, each with its own message. An error that is not such a
    /// join (one field, or a message that does not follow the fields) is
    /// its own only part.
    pub fn parts(&self) -> Vec<SpecError> {
        let fields: Vec<&str> = self.field.split(',').collect();
        if fields.len() < 2 {
            return vec![self.clone()];
        }
        let mut parts = Vec::with_capacity(fields.len());
        let Some(mut rest) = self
            .message
            .strip_prefix(fields[0])
            .and_then(|m| m.strip_prefix(": "))
        else {
            return vec![self.clone()];
        };
        for (i, field) in fields.iter().enumerate() {
            let end = match fields.get(i + 1) {
                Some(next) => match rest.find(&format!("; {next}: ")) {
                    Some(end) => end,
                    None => return vec![self.clone()],
                },
                None => rest.len(),
            };
            parts.push(SpecError::new(*field, &rest[..end]));
            if let Some(next) = fields.get(i + 1) {
                rest = &rest[end + 2 + next.len() + 2..];
            }
        }
        parts
    }

    /// The error with each field it names put under `at` (`jobs[2].`).
    pub fn under(self, at: &str) -> SpecError {
        let parts = self
            .parts()
            .into_iter()
            .map(|p| SpecError::new(format!("{at}{}", p.field), p.message))
            .collect();
        SpecError::all(parts).expect("an error has a part")
    }
}

/// Collects the problems of a request while it is checked, so that every
/// one is reported at once ([`SpecError::all`]).
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<SpecError>);

impl Problems {
    /// The value of `checked`, or `None` with its problem kept.
    pub(crate) fn check<T>(&mut self, checked: Result<T, SpecError>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(e) => {
                // A joined error (from a nested check) counts part by part.
                self.0.extend(e.parts());
                None
            }
        }
    }

    /// Keeps `problem`.
    pub(crate) fn add(&mut self, problem: SpecError) {
        self.0.push(problem);
    }

    /// `Err` with every problem kept, `Ok` without one.
    pub(crate) fn finish(self) -> Result<(), SpecError> {
        match SpecError::all(self.0) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Create,
    Start,
    Stop,
    Restart,
    Destroy,
    Update,
    SetAccess,
    Show,
    /// List every machine into the machines table.
    Refresh,
    Utilization,
    Availability,
    /// Wait for a machine to reach a state, sending nothing.
    Wait,
    /// Deliver one webhook event to one endpoint; queued by the daemon
    /// for each endpoint an event concerns, never submitted by a person.
    Deliver,
    /// Compose the weekly digest and publish it as a `digest.weekly` event.
    Digest,
}

impl JobKind {
    pub const ALL: [JobKind; 14] = [
        JobKind::Create,
        JobKind::Start,
        JobKind::Stop,
        JobKind::Restart,
        JobKind::Destroy,
        JobKind::Update,
        JobKind::SetAccess,
        JobKind::Show,
        JobKind::Refresh,
        JobKind::Utilization,
        JobKind::Availability,
        JobKind::Wait,
        JobKind::Deliver,
        JobKind::Digest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Create => "create",
            JobKind::Start => "start",
            JobKind::Stop => "stop",
            JobKind::Restart => "restart",
            JobKind::Destroy => "destroy",
            JobKind::Update => "update",
            JobKind::SetAccess => "set_access",
            JobKind::Show => "show",
            JobKind::Refresh => "refresh",
            JobKind::Utilization => "utilization",
            JobKind::Availability => "availability",
            JobKind::Wait => "wait",
            JobKind::Deliver => "deliver",
            JobKind::Digest => "digest",
        }
    }

    /// Kinds a person or a schedule may submit: all but `deliver`, which
    /// the daemon queues itself for webhook events.
    pub fn submittable(self) -> bool {
        self != JobKind::Deliver
    }

    /// The lane whose workers run this kind (see [`Lane`]).
    pub fn lane(self) -> Lane {
        match self {
            JobKind::Deliver | JobKind::Digest => Lane::Webhooks,
            _ => Lane::Machines,
        }
    }

    /// True when the job acts on one existing machine (`machine_id` required).
    pub fn needs_machine(self) -> bool {
        !matches!(
            self,
            JobKind::Create
                | JobKind::Refresh
                | JobKind::Availability
                | JobKind::Deliver
                | JobKind::Digest
        )
    }

    /// The waits that make sense after this kind, the default first.
    /// Empty: the kind takes no wait.
    pub fn waits(self) -> &'static [WaitTarget] {
        use WaitTarget::*;
        match self {
            JobKind::Create => &[Ready, ServiceReady, Off],
            JobKind::Start | JobKind::Restart => &[Ready, ServiceReady],
            JobKind::Stop => &[Off],
            JobKind::Destroy => &[Gone],
            JobKind::Wait => &[Ready, ServiceReady, Off, Gone],
            _ => &[],
        }
    }

    /// True for kinds that change a machine's state at Paperspace: a restart
    /// of the daemon must not send their request twice.
    pub fn changes_state(self) -> bool {
        matches!(
            self,
            JobKind::Create | JobKind::Start | JobKind::Stop | JobKind::Restart | JobKind::Destroy
        )
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = JobKind::ALL
                    .iter()
                    .filter(|k| k.submittable())
                    .map(|k| k.as_str())
                    .collect();
                SpecError::new(
                    "kind",
                    format!("unknown job kind `{s}`; use one of {}", names.join(", ")),
                )
            })
    }
}

/// Which workers run a job. Each lane has its own workers and its own
/// standing claim, so a slow webhook receiver (a delivery may take its
/// whole timeout) never holds a worker that a machine's start is waiting
/// for, and a backlog of machine jobs never delays an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Paperspace operations: every kind but the two below.
    Machines,
    /// Webhook deliveries and the digest.
    Webhooks,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Machines => "machines",
            Lane::Webhooks => "webhooks",
        }
    }
}

/// Arguments of a deliver job: which event to which endpoint. The event
/// and the endpoint are read at each attempt, so a re-send uses the
/// endpoint's URL and secret as they are then; no secret is in the row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverArgs {
    /// The endpoint's id.
    pub endpoint: i64,
    /// The event's id (`msg_…`), the delivery's `webhook-id`.
    pub event: String,
}

/// Arguments of a destroy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyArgs {
    /// Release the machine's static public IP with it.
    #[serde(default)]
    pub release_public_ip: bool,
}

/// Arguments of a set-access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAccessArgs {
    /// Paperspace id of the user whose access changes.
    pub user_id: String,
    /// `true` grants access, `false` revokes it.
    pub enable: bool,
}

/// Arguments of a utilization pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtilizationArgs {
    /// `YYYY-MM`.
    pub month: BillingMonth,
}

/// Arguments of an availability check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityArgs {
    /// Region display name, e.g. `West Coast (CA1)`.
    pub region: String,
    /// Machine type to check, e.g. `V100`.
    pub machine_type: String,
}

/// Arguments for kinds that take none; present so unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A job's operation with its typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Create(CreateMachine),
    Start,
    Stop,
    Restart,
    Destroy(DestroyArgs),
    Update(UpdateMachine),
    SetAccess(SetAccessArgs),
    Show,
    Refresh,
    Utilization(UtilizationArgs),
    Availability(AvailabilityArgs),
    Wait,
    Deliver(DeliverArgs),
    Digest,
}

/// Deserializes `args`, naming every failing field as `args.<path>`
/// ([`read_args`]).
fn args<T: DeserializeOwned>(args: &Value) -> Result<T, SpecError> {
    let (typed, problems) = read_args(args)?;
    match (typed, SpecError::all(problems)) {
        (Some(typed), None) => Ok(typed),
        (_, Some(problems)) => Err(problems),
        (None, None) => Err(SpecError::new("args", "cannot be read")),
    }
}

/// What a placeholder may be, tried in turn, for a field that is missing or
/// refused: one of them has the field's type, so reading can go on past it.
const STAND_INS: [fn() -> Value; 6] = [
    || Value::String("x".to_string()),
    || Value::from(1),
    || Value::Bool(true),
    || Value::Null,
    || Value::Object(Default::default()),
    || Value::Array(Vec::new()),
];

/// At most this many problems are gathered from one `args`: an object with
/// hundreds of unknown keys is answered with the first of them.
const MAX_ARG_PROBLEMS: usize = 16;

/// Deserializes `args` and gathers every field serde refuses, not only the
/// first: a missing field, an unknown one and a value of the wrong type are
/// each recorded, then stood in for (left out, or a placeholder of the
/// field's type, [`STAND_INS`]) so that reading can go on to the next. The
/// typed value, when there is one, holds those placeholders: it serves only
/// to run the checks of the fields that were read (a create's `name` when
/// its `region` is missing), never as the job's arguments. `Err` when
/// `args` is not an object at all.
fn read_args<T: DeserializeOwned>(args: &Value) -> Result<(Option<T>, Vec<SpecError>), SpecError> {
    let mut value = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args.clone()
    };
    if !value.is_object() {
        return Err(SpecError::new("args", "must be a JSON object"));
    }
    let mut problems: Vec<SpecError> = Vec::new();
    loop {
        let (key, problem) = match first_problem::<T>(&value) {
            Ok(typed) => return Ok((Some(typed), problems)),
            Err(found) => found,
        };
        let repeated = problems.iter().any(|p| p.field == problem.field);
        if !repeated {
            problems.push(problem);
        }
        let Some(key) = key else {
            return Ok((None, problems));
        };
        let unknown = problems
            .last()
            .is_some_and(|p| unknown_field(&p.message).is_some());
        if repeated
            || problems.len() >= MAX_ARG_PROBLEMS
            || !stand_in::<T>(&mut value, &key, unknown)
        {
            return Ok((None, problems));
        }
    }
}

/// The first field serde refuses in `value`: its top-level key (`None` when
/// the problem is not one field's) and the problem.
fn first_problem<T: DeserializeOwned>(value: &Value) -> Result<T, (Option<String>, SpecError)> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names an unknown or missing field in its message; lift it
        // into the path.
        let named = unknown_field(&inner).or_else(|| missing_field(&inner));
        let key = match (path.as_str(), named) {
            (".", Some(name)) => Some(name.to_string()),
            (".", None) => None,
            (p, _) => p.split(['.', '[']).next().map(str::to_string),
        };
        let field = match (path.as_str(), named) {
            (".", Some(name)) => format!("args.{name}"),
            (".", None) => "args".to_string(),
            (p, _) => format!("args.{p}"),
        };
        (key, SpecError::new(field, inner))
    })
}

/// Stands in for `key` in `value` so that reading goes past it: a missing
/// or refused field gets the first placeholder with which serde no longer
/// blames it; an unknown key (or a refused one no placeholder suits) is
/// left out. False when nothing will do.
fn stand_in<T: DeserializeOwned>(value: &mut Value, key: &str, unknown: bool) -> bool {
    if !unknown {
        let fits = STAND_INS.iter().any(|make| {
            value
                .as_object_mut()
                .expect("args is an object")
                .insert(key.to_string(), make());
            moved_past::<T>(value, key)
        });
        if fits {
            return true;
        }
    }
    value
        .as_object_mut()
        .expect("args is an object")
        .remove(key)
        .is_some()
        && moved_past::<T>(value, key)
}

/// True when serde reads `value` whole, or blames a field other than `key`.
fn moved_past<T: DeserializeOwned>(value: &Value, key: &str) -> bool {
    match first_problem::<T>(value) {
        Ok(_) => true,
        Err((Some(next), _)) => next != key,
        Err((None, _)) => false,
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn non_empty(field: &str, value: &str) -> Result<(), SpecError> {
    if value.trim().is_empty() {
        Err(SpecError::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Free text (a name, a reason, a key) must not hold the characters
/// [`crate::text::is_refused`] lists: they would make it lie when shown.
pub fn check_text(field: &str, value: &str) -> Result<(), SpecError> {
    match crate::text::refused(value) {
        None => Ok(()),
        Some(c) => Err(SpecError::new(
            field,
            format!(
                "must not contain control, bidirectional or zero-width characters (found U+{:04X})",
                c as u32
            ),
        )),
    }
}

/// Paperspace ids go into URLs: letters, digits, `-` and `_`, at most 64.
pub fn check_id(field: &str, id: &str) -> Result<(), SpecError> {
    if crate::machine::is_paperspace_id(id) {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            "must be a Paperspace id: letters, digits, `-` and `_`, at most 64",
        ))
    }
}

impl Operation {
    /// Checks `args` for `kind` and types them.
    pub fn parse(kind: JobKind, raw: &Value) -> Result<Operation, SpecError> {
        let op = match kind {
            JobKind::Create => {
                // Every field of a create at once: it has the most to get
                // right. Those serde refused first, then the checks of the
                // fields it read (a placeholder's checks are left out).
                let (create, unread) = read_args::<CreateMachine>(raw)?;
                let mut problems = Problems::default();
                let refused: Vec<String> = unread.iter().map(|p| p.field.clone()).collect();
                for problem in unread {
                    problems.add(problem);
                }
                let Some(create) = create else {
                    // Not read means at least one problem was kept.
                    problems.finish()?;
                    return Err(SpecError::new("args", "cannot be read"));
                };
                let mut read = Problems::default();
                let texts = [
                    ("args.name", Some(&create.name)),
                    ("args.region", Some(&create.region)),
                    ("args.machine_type", Some(&create.machine_type)),
                    ("args.network_id", create.network_id.as_ref()),
                    ("args.team_id", create.team_id.as_ref()),
                    ("args.user_id", create.user_id.as_ref()),
                    (
                        "args.notification_email",
                        create.notification_email.as_ref(),
                    ),
                    ("args.script_id", create.script_id.as_ref()),
                    (
                        "args.restore_point_frequency",
                        create.restore_point_frequency.as_ref(),
                    ),
                ];
                for (field, value) in texts {
                    if let Some(value) = value {
                        read.check(check_text(field, value));
                    }
                }
                read.check(non_empty("args.name", &create.name));
                if create.name.chars().count() > 128 {
                    read.add(SpecError::new("args.name", "at most 128 characters"));
                }
                read.check(non_empty("args.region", &create.region));
                read.check(non_empty("args.machine_type", &create.machine_type));
                read.check(check_id("args.template_id", &create.template_id));
                if !(1..=16_384).contains(&create.disk_size_gb) {
                    read.add(SpecError::new(
                        "args.disk_size_gb",
                        "must be between 1 and 16384 (GB)",
                    ));
                }
                for problem in read.0 {
                    if !refused.contains(&problem.field) {
                        problems.add(problem);
                    }
                }
                problems.finish()?;
                Operation::Create(create)
            }
            JobKind::Start => args::<NoArgs>(raw).map(|_| Operation::Start)?,
            JobKind::Stop => args::<NoArgs>(raw).map(|_| Operation::Stop)?,
            JobKind::Restart => args::<NoArgs>(raw).map(|_| Operation::Restart)?,
            JobKind::Destroy => Operation::Destroy(args(raw)?),
            JobKind::Update => {
                let update: UpdateMachine = args(raw)?;
                if update.is_empty() {
                    return Err(SpecError::new(
                        "args",
                        "an update needs at least one setting to change",
                    ));
                }
                if let Some(name) = &update.name {
                    non_empty("args.name", name)?;
                    check_text("args.name", name)?;
                }
                if let Some(frequency) = &update.auto_snapshot_frequency {
                    check_text("args.auto_snapshot_frequency", frequency)?;
                }
                if let Some(hours) = update.auto_shutdown_timeout_hours
                    && !(hours.is_finite() && (0.0..=8760.0).contains(&hours))
                {
                    return Err(SpecError::new(
                        "args.auto_shutdown_timeout_hours",
                        "must be between 0 and 8760",
                    ));
                }
                Operation::Update(update)
            }
            JobKind::SetAccess => {
                let access: SetAccessArgs = args(raw)?;
                check_id("args.user_id", &access.user_id)?;
                Operation::SetAccess(access)
            }
            JobKind::Show => args::<NoArgs>(raw).map(|_| Operation::Show)?,
            JobKind::Refresh => args::<NoArgs>(raw).map(|_| Operation::Refresh)?,
            JobKind::Utilization => Operation::Utilization(args(raw)?),
            JobKind::Availability => {
                let a: AvailabilityArgs = args(raw)?;
                check_text("args.region", &a.region)?;
                check_text("args.machine_type", &a.machine_type)?;
                non_empty("args.region", &a.region)?;
                non_empty("args.machine_type", &a.machine_type)?;
                Operation::Availability(a)
            }
            JobKind::Wait => args::<NoArgs>(raw).map(|_| Operation::Wait)?,
            JobKind::Deliver => {
                let d: DeliverArgs = args(raw)?;
                if !d.event.starts_with("msg_") || d.event.len() > 64 {
                    return Err(SpecError::new("args.event", "must be an event id (msg_…)"));
                }
                Operation::Deliver(d)
            }
            JobKind::Digest => args::<NoArgs>(raw).map(|_| Operation::Digest)?,
        };
        Ok(op)
    }

    pub fn kind(&self) -> JobKind {
        match self {
            Operation::Create(_) => JobKind::Create,
            Operation::Start => JobKind::Start,
            Operation::Stop => JobKind::Stop,
            Operation::Restart => JobKind::Restart,
            Operation::Destroy(_) => JobKind::Destroy,
            Operation::Update(_) => JobKind::Update,
            Operation::SetAccess(_) => JobKind::SetAccess,
            Operation::Show => JobKind::Show,
            Operation::Refresh => JobKind::Refresh,
            Operation::Utilization(_) => JobKind::Utilization,
            Operation::Availability(_) => JobKind::Availability,
            Operation::Wait => JobKind::Wait,
            Operation::Deliver(_) => JobKind::Deliver,
            Operation::Digest => JobKind::Digest,
        }
    }

    /// The arguments as stored in the job row.
    pub fn args_json(&self) -> Value {
        let to = |v: Result<Value, serde_json::Error>| v.expect("job arguments serialize");
        match self {
            Operation::Create(a) => to(serde_json::to_value(a)),
            Operation::Destroy(a) => to(serde_json::to_value(a)),
            Operation::Update(a) => to(serde_json::to_value(a)),
            Operation::SetAccess(a) => to(serde_json::to_value(a)),
            Operation::Utilization(a) => to(serde_json::to_value(a)),
            Operation::Availability(a) => to(serde_json::to_value(a)),
            Operation::Deliver(a) => to(serde_json::to_value(a)),
            _ => Value::Object(Default::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn joined_errors_come_apart() {
        let one = SpecError::new("a", "bad; really: bad");
        assert_eq!(SpecError::all(vec![one.clone()]), Some(one.clone()));
        assert_eq!(one.parts(), vec![one.clone()]);
        let parts = vec![
            one.clone(),
            SpecError::new("b.c", "too long; shorten it"),
            SpecError::new("d", "missing"),
        ];
        let joined = SpecError::all(parts.clone()).unwrap();
        assert_eq!(joined.field, "a,b.c,d");
        assert_eq!(
            joined.message,
            "a: bad; really: bad; b.c: too long; shorten it; d: missing"
        );
        assert_eq!(joined.parts(), parts);
        let under = joined.under("jobs[1].");
        assert_eq!(under.field, "jobs[1].a,jobs[1].b.c,jobs[1].d");
        assert_eq!(
            under.parts()[1],
            SpecError::new("jobs[1].b.c", "too long; shorten it")
        );
        assert_eq!(SpecError::all(Vec::new()), None);
        // Not a join: its own only part.
        let odd = SpecError::new("x,y", "no fields named here");
        assert_eq!(odd.parts(), vec![odd.clone()]);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_names_every_bad_field_at_once() {
        let e = Operation::parse(
            JobKind::Create,
            &json!({"name": "", "machine_type": "P4000", "disk_size_gb": -1, "colour": "red"}),
        )
        .unwrap_err();
        let fields: Vec<String> = e.parts().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "args.colour",
                "args.disk_size_gb",
                "args.region",
                "args.template_id",
                "args.name"
            ],
            "{e}"
        );
        // Other kinds too: every unknown key, every mistyped value.
        let e = Operation::parse(JobKind::Start, &json!({"x": 1, "y": 2})).unwrap_err();
        assert_eq!(e.field, "args.x,args.y");
        let e = Operation::parse(
            JobKind::Update,
            &json!({"name": 5, "auto_shutdown_timeout_hours": "abc"}),
        )
        .unwrap_err();
        assert_eq!(e.field, "args.auto_shutdown_timeout_hours,args.name");
        // A value that is not an object is one problem.
        let e = Operation::parse(JobKind::Create, &json!([1])).unwrap_err();
        assert_eq!(e.field, "args");
        // Hundreds of unknown keys: the first few, not hundreds.
        let many: serde_json::Map<String, Value> =
            (0..300).map(|i| (format!("k{i:03}"), json!(1))).collect();
        let e = Operation::parse(JobKind::Start, &Value::Object(many)).unwrap_err();
        assert_eq!(e.parts().len(), MAX_ARG_PROBLEMS);
    }

    #[test]
    fn every_kind_parses_its_args() {
        let cases = [
            (
                JobKind::Create,
                json!({"name":"a","region":"Europe (AMS1)","machine_type":"P4000","disk_size_gb":100,"template_id":"t1"}),
            ),
            (JobKind::Start, json!({})),
            (JobKind::Stop, Value::Null),
            (JobKind::Restart, json!({})),
            (JobKind::Destroy, json!({"release_public_ip": true})),
            (JobKind::Update, json!({"name": "b"})),
            (JobKind::SetAccess, json!({"user_id":"u1","enable":false})),
            (JobKind::Show, json!({})),
            (JobKind::Refresh, json!({})),
            (JobKind::Utilization, json!({"month":"2026-03"})),
            (
                JobKind::Availability,
                json!({"region":"Europe (AMS1)","machine_type":"P4000"}),
            ),
            (JobKind::Wait, json!({})),
            (
                JobKind::Deliver,
                json!({"endpoint": 1, "event": "msg_00000000000000000000000000000001"}),
            ),
            (JobKind::Digest, json!({})),
        ];
        for (kind, raw) in cases {
            let op = Operation::parse(kind, &raw).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(op.kind(), kind);
            // What is stored parses back to the same operation.
            assert_eq!(Operation::parse(kind, &op.args_json()).unwrap(), op);
        }
    }

    #[test]
    fn errors_name_the_field() {
        let err = |kind, raw: Value| Operation::parse(kind, &raw).unwrap_err();
        assert_eq!(
            err(JobKind::Create, json!({"name":"a","region":"r","machine_type":"P4000","disk_size_gb":"big","template_id":"t1"})).field,
            "args.disk_size_gb"
        );
        assert_eq!(
            err(
                JobKind::Create,
                json!({"name":"a","region":"r","machine_type":"P4000","template_id":"t1"})
            )
            .field,
            // A missing field is named, not only its object.
            "args.disk_size_gb"
        );
        assert_eq!(
            err(JobKind::Start, json!({"force": true})).field,
            "args.force"
        );
        assert_eq!(
            err(JobKind::Utilization, json!({"month":"2026-13"})).field,
            "args.month"
        );
        assert_eq!(err(JobKind::Update, json!({})).field, "args");
        assert_eq!(
            err(JobKind::SetAccess, json!({"user_id":"../x","enable":true})).field,
            "args.user_id"
        );
        assert_eq!(err(JobKind::Start, json!([1])).field, "args");
        assert_eq!("reboot".parse::<JobKind>().unwrap_err().field, "kind");
    }
}
