//! Windows as people define and store them: office hours for a set of
//! machines, the schedules they derive, and per-machine overrides.
//!
//! A window "09:00–18:00 Mon–Fri in Europe/Amsterdam" becomes two stored
//! schedules, a start at each opening and a stop at each closing. With
//! `enforce`, the scheduler also looks every `enforce_interval_seconds` and
//! stops a target found running while the window is closed. An override lets
//! one machine stay on past the window (`keep_on`, someone working late) or
//! stay off inside it (`keep_off`), until it expires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Exclusions;
use super::hours::WindowSpec;
use super::target::Targets;

/// A window as submitted over the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    /// Unique; derived schedules are named `window:<name>:start|stop`.
    pub name: String,
    /// Days, opening and closing wall times, and zone.
    pub hours: WindowSpec,
    /// Machines the window starts at opening and stops at closing.
    pub targets: Targets,
    /// Stop targets found running while the window is closed.
    #[serde(default)]
    pub enforce: bool,
    /// How often enforcement looks; default 300 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_interval_seconds: Option<u64>,
    /// Dates on which the window neither opens nor closes.
    #[serde(default)]
    pub exclusions: Exclusions,
    /// A disabled window keeps its definition but its schedules do not fire.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Accept machine ids missing from the daemon's last listing of the
    /// account (machines created later); not stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unknown: bool,
}

fn yes() -> bool {
    true
}

/// Enforcement's default cadence.
pub const DEFAULT_ENFORCE_INTERVAL: u64 = 300;

/// A stored window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Store-assigned id.
    pub id: i64,
    /// Unique name; its derived schedules are `window:<name>:start|stop`.
    pub name: String,
    /// Days, opening and closing wall times, and zone.
    pub hours: WindowSpec,
    /// Machines the window starts and stops.
    pub targets: Targets,
    /// Whether targets found running while the window is closed are stopped.
    pub enforce: bool,
    /// Seconds between enforcement passes.
    pub enforce_interval_seconds: u64,
    /// Dates on which the window neither opens nor closes.
    pub exclusions: Exclusions,
    /// A disabled window does not fire nor enforce.
    pub enabled: bool,
    /// When enforcement next looks; `None` without enforcement or while paused.
    pub next_enforce_at: Option<DateTime<Utc>>,
    /// When the window was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which way an override bends the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideMode {
    /// Not stopped at the closing nor by enforcement until it expires.
    KeepOn,
    /// Not started at the opening, and stopped by enforcement, until it expires.
    KeepOff,
}

impl OverrideMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideMode::KeepOn => "keep_on",
            OverrideMode::KeepOff => "keep_off",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "keep_on" => Some(OverrideMode::KeepOn),
            "keep_off" => Some(OverrideMode::KeepOff),
            _ => None,
        }
    }
}

/// An override as submitted: `until` or `hours` from now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// The machine the override applies to.
    pub machine_id: String,
    /// Keep the machine on or keep it off.
    pub mode: OverrideMode,
    /// When the override expires; give this or `hours`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// How many hours from now the override lasts; give this or `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    /// Why, for people reading the override list; at most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Accept a machine id missing from the daemon's last listing of the
    /// account (a machine created later).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unknown: bool,
}

impl OverrideRequest {
    /// Checks the free text of the request: `reason`, at most 500 bytes
    /// without control, bidirectional or zero-width characters.
    pub fn check_reason(&self) -> Result<(), crate::job::SpecError> {
        let Some(reason) = &self.reason else {
            return Ok(());
        };
        if reason.chars().count() > 500 {
            return Err(crate::job::SpecError::new(
                "reason",
                "at most 500 characters",
            ));
        }
        crate::job::operation::check_text("reason", reason)
    }
}

/// A stored override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// Store-assigned id.
    pub id: i64,
    /// The window the override bends.
    pub window_id: i64,
    /// The machine the override applies to.
    pub machine_id: String,
    /// Keep the machine on or keep it off.
    pub mode: OverrideMode,
    /// When the override expires; it has no effect from then on.
    pub until: DateTime<Utc>,
    /// Why, as submitted; `None` when none was given.
    pub reason: Option<String>,
    /// When the override was made.
    pub created_at: DateTime<Utc>,
}

impl Override {
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        at < self.until
    }
}
