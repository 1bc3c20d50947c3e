//! An endpoint: where events go, in which format, and which of them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, EventType};
/// A field that cannot be accepted, and why: the same noun as a job's.
pub use crate::job::SpecError;

/// An endpoint's id: increasing in creation order.
pub type EndpointId = i64;

/// The body a delivery carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The Standard Webhooks payload, `{type, timestamp, data}`.
    #[default]
    Standard,
    /// `{"text": …, "blocks": […]}`, which Slack and Mattermost incoming
    /// webhooks post as a message.
    Slack,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Format::Standard),
            "slack" => Ok(Format::Slack),
            other => Err(format!(
                "unknown format `{other}`; use `standard` or `slack`"
            )),
        }
    }
}

/// Where an endpoint was defined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointSource {
    /// Through the admin API or the CLI; changed the same way.
    #[default]
    Api,
    /// In the configuration file (`[[webhooks.endpoints]]`); changed there
    /// and read again at start, so the API refuses to change it.
    Config,
}

/// What a caller asks for when creating an endpoint (the API's body, the
/// CLI's flags, a `[[webhooks.endpoints]]` table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Where deliveries are POSTed. Checked against the destination policy
    /// when created and again at every delivery.
    pub url: String,
    /// An optional label, unique among endpoints; config endpoints are
    /// matched by it across restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The body's shape.
    #[serde(default)]
    pub format: Format,
    /// The event types wanted; absent means [`EventType::defaults`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventType>>,
    /// Only events about these machines (ids); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<String>,
    /// Only events about these schedules (ids or names); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<String>,
    /// Only events about these windows (ids or names); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
}

/// A change to an endpoint: each field present replaces the old value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machines: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<String>>,
    /// Pause (no new deliveries) or resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// Longest URL accepted.
const MAX_URL: usize = 2048;
/// Most entries in one subject filter.
const MAX_FILTER: usize = 1000;

impl EndpointSpec {
    /// Checks the fields that need no policy (the URL's destination is the
    /// policy's: [`super::DestinationPolicy::check_url`]). Every problem is
    /// reported, not only the first.
    pub fn check(&self) -> Result<(), Vec<SpecError>> {
        let mut problems = Vec::new();
        check_url_text(&self.url, &mut problems);
        if let Some(name) = &self.name {
            check_name(name, &mut problems);
        }
        if let Some(events) = &self.events {
            check_events(events, &mut problems);
        }
        check_filter("machines", &self.machines, &mut problems);
        check_filter("schedules", &self.schedules, &mut problems);
        check_filter("windows", &self.windows, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl EndpointPatch {
    /// As [`EndpointSpec::check`], for the fields present.
    pub fn check(&self) -> Result<(), Vec<SpecError>> {
        let mut problems = Vec::new();
        if let Some(url) = &self.url {
            check_url_text(url, &mut problems);
        }
        if let Some(name) = &self.name {
            check_name(name, &mut problems);
        }
        if let Some(events) = &self.events {
            check_events(events, &mut problems);
        }
        for (field, list) in [
            ("machines", &self.machines),
            ("schedules", &self.schedules),
            ("windows", &self.windows),
        ] {
            if let Some(list) = list {
                check_filter(field, list, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == EndpointPatch::default()
    }
}

fn check_url_text(url: &str, problems: &mut Vec<SpecError>) {
    if url.len() > MAX_URL {
        problems.push(SpecError::new(
            "url",
            format!("at most {MAX_URL} characters"),
        ));
    } else if url.chars().any(char::is_whitespace) || crate::text::refused(url).is_some() {
        problems.push(SpecError::new(
            "url",
            "must not contain spaces, control, zero-width or bidirectional-control characters",
        ));
    }
}

fn check_name(name: &str, problems: &mut Vec<SpecError>) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        problems.push(SpecError::new(
            "name",
            "1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
}

fn check_events(events: &[EventType], problems: &mut Vec<SpecError>) {
    if events.is_empty() {
        problems.push(SpecError::new(
            "events",
            "name at least one event type, or leave it out for the defaults",
        ));
    }
    if events.contains(&EventType::Ping) {
        problems.push(SpecError::new(
            "events",
            "`ping` is sent by `webhooks test` to any endpoint; leave it out",
        ));
    }
}

fn check_filter(field: &str, list: &[String], problems: &mut Vec<SpecError>) {
    if list.len() > MAX_FILTER {
        problems.push(SpecError::new(
            field,
            format!("at most {MAX_FILTER} entries"),
        ));
    }
    if list
        .iter()
        .any(|v| v.is_empty() || v.chars().count() > 128 || crate::text::refused(v).is_some())
    {
        problems.push(SpecError::new(
            field,
            "each entry is an id or a name of 1 to 128 characters, without control, zero-width or bidirectional-control characters",
        ));
    }
}

/// An endpoint as stored and shown (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Store-assigned.
    pub id: EndpointId,
    /// The optional label.
    pub name: Option<String>,
    /// Where deliveries go.
    pub url: String,
    pub format: Format,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Subject filters; empty means any.
    pub machines: Vec<String>,
    pub schedules: Vec<String>,
    pub windows: Vec<String>,
    /// Paused by a person: no new deliveries until resumed.
    pub paused: bool,
    /// Why deliveries stopped on their own (the receiver answered
    /// `410 Gone`); cleared by a resume.
    pub disabled: Option<String>,
    /// Where it was defined.
    pub source: EndpointSource,
    /// Until when the secret before the last rotation still signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Whether this endpoint gets `event` at all: not paused or disabled,
    /// the type wanted, and every subject filter it sets matched by the
    /// event's subject. An event without that kind of subject (a daemon
    /// event has no machine) passes that filter. A ping always goes.
    pub fn accepts(&self, event: &Event) -> bool {
        if event.kind == EventType::Ping {
            return true;
        }
        if self.paused || self.disabled.is_some() || !self.events.contains(&event.kind) {
            return false;
        }
        let s = &event.subject;
        let by_id_or_name = |filter: &[String], subject: &Option<(i64, String)>| match subject {
            Some((id, name)) if !filter.is_empty() => filter
                .iter()
                .any(|f| f == name || f.parse::<i64>().ok() == Some(*id)),
            _ => true,
        };
        let machine_ok = match &s.machine {
            Some(m) if !self.machines.is_empty() => self.machines.contains(m),
            _ => true,
        };
        machine_ok
            && by_id_or_name(&self.schedules, &s.schedule)
            && by_id_or_name(&self.windows, &s.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Subject;
    use serde_json::json;

    fn endpoint() -> Endpoint {
        Endpoint {
            id: 1,
            name: None,
            url: "https://hooks.example.com/x".into(),
            format: Format::Standard,
            events: EventType::defaults(),
            machines: vec!["psA".into()],
            schedules: vec!["nightly".into()],
            windows: vec![],
            paused: false,
            disabled: None,
            source: EndpointSource::Api,
            previous_secret_until: None,
            created_at: "2026-03-02T00:00:00Z".parse().unwrap(),
            updated_at: "2026-03-02T00:00:00Z".parse().unwrap(),
        }
    }

    fn event(kind: EventType, subject: Subject) -> Event {
        Event::new(
            kind,
            "2026-03-02T18:00:00Z".parse().unwrap(),
            json!({}),
            subject,
        )
    }

    #[test]
    fn filters_by_type_and_subject() {
        let e = endpoint();
        let about = |m: &str| Subject {
            machine: Some(m.into()),
            ..Subject::default()
        };
        assert!(e.accepts(&event(EventType::JobFailed, about("psA"))));
        assert!(!e.accepts(&event(EventType::JobFailed, about("psB"))));
        assert!(!e.accepts(&event(EventType::JobSucceeded, about("psA"))));
        assert!(e.accepts(&event(EventType::DaemonStarted, Subject::default())));
        let nightly = Subject {
            schedule: Some((4, "nightly".into())),
            ..Subject::default()
        };
        let other = Subject {
            schedule: Some((5, "other".into())),
            ..Subject::default()
        };
        assert!(e.accepts(&event(EventType::FiringSkipped, nightly)));
        assert!(!e.accepts(&event(EventType::FiringSkipped, other)));
        let paused = Endpoint {
            paused: true,
            ..endpoint()
        };
        assert!(!paused.accepts(&event(EventType::JobFailed, about("psA"))));
        assert!(paused.accepts(&event(EventType::Ping, Subject::default())));
    }

    #[test]
    fn every_bad_field_is_named() {
        let spec = EndpointSpec {
            url: "https://x y".into(),
            name: Some("no spaces".into()),
            events: Some(vec![]),
            machines: vec![String::new()],
            ..EndpointSpec::default()
        };
        let fields: Vec<String> = spec
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["url", "name", "events", "machines"]);
    }
}
