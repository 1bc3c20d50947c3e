//! The event catalogue and one event as stored and sent.
//!
//! An event's wire form is the Standard Webhooks payload,
//! `{"type": …, "timestamp": …, "data": {…}}`; its id (`msg_…`) travels in
//! the `webhook-id` header and stays the same across every attempt and
//! every re-send, so a receiver can drop duplicates by it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What happened. The names are stable: receivers switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A job failed after its last attempt.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// A job succeeded (opt-in).
    #[serde(rename = "job.succeeded")]
    JobSucceeded,
    /// A job's attempt failed and it will try again (opt-in).
    #[serde(rename = "job.retrying")]
    JobRetrying,
    /// A schedule's firing, or some of its targets, did not run: missed
    /// while the daemon was down, an overlap, an excluded date.
    #[serde(rename = "schedule.firing_skipped")]
    FiringSkipped,
    /// Window enforcement stopped a machine found running while closed.
    #[serde(rename = "window.enforced")]
    WindowEnforced,
    /// A DST change removed a day's window.
    #[serde(rename = "window.collapsed")]
    WindowCollapsed,
    /// A machine a schedule or window meant to be off is still running.
    #[serde(rename = "machine.left_running")]
    LeftRunning,
    /// A machine was started, stopped or destroyed, not by Machinist.
    #[serde(rename = "machine.changed_outside")]
    ChangedOutside,
    /// The account's standing changed (v1).
    #[serde(rename = "account.standing")]
    AccountStanding,
    /// The daemon started.
    #[serde(rename = "daemon.started")]
    DaemonStarted,
    /// The daemon is stopping.
    #[serde(rename = "daemon.stopping")]
    DaemonStopping,
    /// The weekly digest (opt-in).
    #[serde(rename = "digest.weekly")]
    WeeklyDigest,
    /// A test delivery (`machinist webhooks test`); never filtered out.
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    /// Every type, in the catalogue's order.
    pub const ALL: [EventType; 13] = [
        EventType::JobFailed,
        EventType::JobSucceeded,
        EventType::JobRetrying,
        EventType::FiringSkipped,
        EventType::WindowEnforced,
        EventType::WindowCollapsed,
        EventType::LeftRunning,
        EventType::ChangedOutside,
        EventType::AccountStanding,
        EventType::DaemonStarted,
        EventType::DaemonStopping,
        EventType::WeeklyDigest,
        EventType::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobFailed => "job.failed",
            EventType::JobSucceeded => "job.succeeded",
            EventType::JobRetrying => "job.retrying",
            EventType::FiringSkipped => "schedule.firing_skipped",
            EventType::WindowEnforced => "window.enforced",
            EventType::WindowCollapsed => "window.collapsed",
            EventType::LeftRunning => "machine.left_running",
            EventType::ChangedOutside => "machine.changed_outside",
            EventType::AccountStanding => "account.standing",
            EventType::DaemonStarted => "daemon.started",
            EventType::DaemonStopping => "daemon.stopping",
            EventType::WeeklyDigest => "digest.weekly",
            EventType::Ping => "ping",
        }
    }

    /// Types an endpoint gets only when it names them: the noisy ones
    /// (every success, every retry) and the digest.
    pub fn opt_in(self) -> bool {
        matches!(
            self,
            EventType::JobSucceeded | EventType::JobRetrying | EventType::WeeklyDigest
        )
    }

    /// What an endpoint created without an event list receives.
    pub fn defaults() -> Vec<EventType> {
        EventType::ALL
            .into_iter()
            .filter(|t| !t.opt_in() && *t != EventType::Ping)
            .collect()
    }

    /// One line for people: what the event means.
    pub fn describe(self) -> &'static str {
        match self {
            EventType::JobFailed => "a job failed after its last attempt",
            EventType::JobSucceeded => "a job succeeded (opt-in)",
            EventType::JobRetrying => "a job's attempt failed and it will try again (opt-in)",
            EventType::FiringSkipped => {
                "a schedule's firing did not run: missed, overlapping or excluded"
            }
            EventType::WindowEnforced => "a machine found running outside its window was stopped",
            EventType::WindowCollapsed => "a DST change removed a day's window",
            EventType::LeftRunning => "a machine meant to be off is still running",
            EventType::ChangedOutside => {
                "a machine was started, stopped or destroyed, not by Machinist"
            }
            EventType::AccountStanding => "the Paperspace account's standing changed",
            EventType::DaemonStarted => "the daemon started",
            EventType::DaemonStopping => "the daemon is stopping",
            EventType::WeeklyDigest => "the weekly digest of hours, cost and savings (opt-in)",
            EventType::Ping => "a test delivery",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = EventType::ALL
                    .iter()
                    .filter(|t| **t != EventType::Ping)
                    .map(|t| t.as_str())
                    .collect();
                format!("unknown event type `{s}`; use one of {}", names.join(", "))
            })
    }
}

/// What an event is about, for endpoints that filter by machine, schedule
/// or window. Each is matched against the filter by id or by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The machine the event concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The schedule's id and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<(i64, String)>,
    /// The window's id and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(i64, String)>,
}

/// One event: stored once, delivered to every endpoint that wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `msg_` and 32 hex digits; the `webhook-id` of every delivery of it.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened (the daemon's clock).
    pub timestamp: DateTime<Utc>,
    /// The type's fields: ids, names, reasons, links to the admin API.
    pub data: Value,
    /// What it is about, for subject filters; not sent.
    #[serde(default, skip_serializing)]
    pub subject: Subject,
}

impl Event {
    /// A new event with a fresh id.
    pub fn new(kind: EventType, timestamp: DateTime<Utc>, data: Value, subject: Subject) -> Self {
        let id: u128 = rand::rng().random();
        Event {
            id: format!("msg_{id:032x}"),
            kind,
            timestamp,
            data,
            subject,
        }
    }

    /// The body of a `standard` delivery: `{type, timestamp, data}`.
    pub fn payload(&self) -> Value {
        json!({
            "type": self.kind.as_str(),
            "timestamp": self.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
            "data": self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_leave_out_opt_ins() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        let defaults = EventType::defaults();
        assert!(defaults.contains(&EventType::JobFailed));
        assert!(!defaults.contains(&EventType::JobSucceeded));
        assert!(!defaults.contains(&EventType::WeeklyDigest));
        assert!(!defaults.contains(&EventType::Ping));
        assert!(
            "job.exploded"
                .parse::<EventType>()
                .unwrap_err()
                .contains("job.failed")
        );
    }

    #[test]
    fn the_payload_is_type_timestamp_data() {
        let at = "2026-03-02T18:00:00Z".parse().unwrap();
        let e = Event::new(
            EventType::JobFailed,
            at,
            json!({"job_id": 7}),
            Subject::default(),
        );
        assert!(e.id.starts_with("msg_") && e.id.len() == 36);
        assert_eq!(
            e.payload(),
            json!({"type":"job.failed","timestamp":"2026-03-02T18:00:00Z","data":{"job_id":7}})
        );
    }
}
