//! The job a schedule makes at each firing, for each target.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::job::{JobDefaults, JobKind, JobRequest, NewJob, SpecError};
use crate::machine::BillingMonth;

/// A job kind with its arguments and settings, minus the machine.
///
/// For `utilization`, `args.month` may be `"previous"` or `"current"`:
/// the billing month is then worked out at fire time, in the schedule's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    /// The job kind, e.g. `start`, `stop`, `utilization`; checked against [`JobKind`].
    pub kind: String,
    /// The kind's arguments as a job request takes them; `null` for kinds without any.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// `none`, `ready`, `serviceready`, `off` or `gone`; default: the kind's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// How long the wait may last; default per target state from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_timeout_seconds: Option<u64>,
    /// Tries each job gets; default from the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Priority of the submitted jobs, -1000..=1000, higher first; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// A machine id that passes validation, for checking templates before any target is known.
const PLACEHOLDER_MACHINE: &str = "ps0template";

impl JobTemplate {
    /// The template's kind, or the error naming `template.kind`.
    pub fn kind(&self) -> Result<JobKind, SpecError> {
        self.kind
            .parse::<JobKind>()
            .map_err(|e| prefix(e, "template"))
    }

    /// Checks the template as a job would be checked, with errors named
    /// `template.<field>`.
    pub fn validate(&self, defaults: &JobDefaults) -> Result<JobKind, SpecError> {
        let kind = self.kind()?;
        // Only the shape of the job is checked, at an instant late enough
        // that every fixed utilization month has begun (whether it has is
        // checked when the schedule fires).
        let now: DateTime<Utc> = "9999-01-15T00:00:00Z".parse().expect("a valid instant");
        self.instantiate(
            kind.needs_machine().then_some(PLACEHOLDER_MACHINE),
            now,
            chrono_tz::UTC,
            now,
            defaults,
        )
        .map_err(|e| prefix(e, "template"))?;
        Ok(kind)
    }

    /// The job for one target at one firing.
    pub fn instantiate(
        &self,
        machine_id: Option<&str>,
        fire_at: DateTime<Utc>,
        zone: Tz,
        run_at: DateTime<Utc>,
        defaults: &JobDefaults,
    ) -> Result<NewJob, SpecError> {
        let mut args = self.args.clone();
        if self.kind == "utilization"
            && let Some(month) = args.get("month").and_then(Value::as_str)
        {
            let local = fire_at.with_timezone(&zone).naive_local().and_utc();
            let this = BillingMonth::containing(local);
            let resolved = match month {
                "previous" => Some(this.previous()),
                "current" => Some(this),
                _ => None,
            };
            if let Some(m) = resolved {
                args["month"] = Value::String(m.to_string());
            }
        }
        let request = JobRequest {
            kind: self.kind.clone(),
            machine_id: machine_id.map(str::to_string),
            args,
            run_at: Some(run_at),
            delay_seconds: None,
            priority: self.priority,
            max_attempts: self.max_attempts,
            wait: self.wait.clone(),
            wait_timeout_seconds: self.wait_timeout_seconds,
            idempotency_key: None,
            ..JobRequest::default()
        };
        // Validated against the firing time so that a late catch-up is not "in the past".
        request.validate(defaults, run_at.min(fire_at))
    }

    /// How long after its time a missed firing may still run, by default:
    /// a stop saves money even hours late; a start hours late may not be wanted.
    pub fn default_catch_up(kind: JobKind) -> Duration {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3600;
        Duration::from_secs(match kind {
            JobKind::Stop | JobKind::Destroy => 24 * HOUR,
            JobKind::Start | JobKind::Restart | JobKind::Create => 15 * MINUTE,
            JobKind::Utilization | JobKind::Refresh => 7 * 24 * HOUR,
            _ => HOUR,
        })
    }
}

fn prefix(e: SpecError, at: &str) -> SpecError {
    SpecError::new(format!("{at}.{}", e.field), e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utilization_month_is_resolved_in_the_zone() {
        let t: JobTemplate =
            serde_json::from_value(json!({"kind":"utilization","args":{"month":"previous"}}))
                .unwrap();
        t.validate(&JobDefaults::default()).unwrap();
        // 23:30 UTC on Feb 28 is already March 1 in Amsterdam.
        let fire: DateTime<Utc> = "2026-02-28T23:30:00Z".parse().unwrap();
        let job = t
            .instantiate(
                Some("ps1"),
                fire,
                chrono_tz::Europe::Amsterdam,
                fire,
                &JobDefaults::default(),
            )
            .unwrap();
        assert_eq!(job.operation.args_json()["month"], "2026-02");
    }

    #[test]
    fn template_errors_are_named_under_template() {
        let t: JobTemplate =
            serde_json::from_value(json!({"kind":"start","args":{"force":true}})).unwrap();
        assert_eq!(
            t.validate(&JobDefaults::default()).unwrap_err().field,
            "template.args.force"
        );
        let t: JobTemplate = serde_json::from_value(json!({"kind":"reboot"})).unwrap();
        assert_eq!(
            t.validate(&JobDefaults::default()).unwrap_err().field,
            "template.kind"
        );
        let t: JobTemplate = serde_json::from_value(json!({"kind":"stop","wait":"ready"})).unwrap();
        assert_eq!(
            t.validate(&JobDefaults::default()).unwrap_err().field,
            "template.wait"
        );
    }
}
