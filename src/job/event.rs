//! A job's history: state changes, Paperspace calls and notes, append-only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobId, JobState};
use crate::machine::ApiCallRecord;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The job moved from one state to another.
    State,
    /// One HTTP call to Paperspace.
    ApiCall,
    /// Something worth knowing that is neither ("already ready, nothing sent").
    Note,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::ApiCall => "api_call",
            EventKind::Note => "note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "state" => Some(EventKind::State),
            "api_call" => Some(EventKind::ApiCall),
            "note" => Some(EventKind::Note),
            _ => None,
        }
    }
}

/// An event about to be written, in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Whether this records a state change, an API call or a note.
    pub kind: EventKind,
    /// For state events.
    pub from_state: Option<JobState>,
    /// For state events: the state entered.
    pub to_state: Option<JobState>,
    /// A person-readable line.
    pub message: String,
    /// For API calls: `GET`, `POST`, …
    pub method: Option<String>,
    /// For API calls: the route template.
    pub route: Option<String>,
    /// For API calls: the HTTP status, `None` when no answer came.
    pub status: Option<u16>,
    /// For API calls: how long the call took, in milliseconds.
    pub latency_ms: Option<u64>,
    /// For API calls: the error text when the call failed.
    pub error: Option<String>,
}

impl NewEvent {
    pub fn state(from: Option<JobState>, to: JobState, message: impl Into<String>) -> Self {
        NewEvent {
            kind: EventKind::State,
            from_state: from,
            to_state: Some(to),
            message: message.into(),
            method: None,
            route: None,
            status: None,
            latency_ms: None,
            error: None,
        }
    }

    pub fn note(message: impl Into<String>) -> Self {
        NewEvent {
            kind: EventKind::Note,
            from_state: None,
            to_state: None,
            message: message.into(),
            method: None,
            route: None,
            status: None,
            latency_ms: None,
            error: None,
        }
    }

    pub fn api_call(call: &ApiCallRecord) -> Self {
        let outcome = match (call.status, &call.error) {
            (Some(s), None) => s.to_string(),
            (Some(s), Some(_)) => format!("{s} (error)"),
            (None, _) => "no answer".to_string(),
        };
        NewEvent {
            kind: EventKind::ApiCall,
            from_state: None,
            to_state: None,
            message: format!(
                "{} {} → {} in {}ms",
                call.method,
                call.route,
                outcome,
                call.latency.as_millis()
            ),
            method: Some(call.method.clone()),
            route: Some(call.route.clone()),
            status: call.status,
            latency_ms: Some(call.latency.as_millis() as u64),
            error: call.error.clone(),
        }
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Increasing in write order; the history's cursor.
    pub id: i64,
    /// The job the event belongs to.
    pub job_id: JobId,
    /// When the event was written.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: NewEvent,
}
