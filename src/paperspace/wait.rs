//! Waiting for a machine to reach a state, by polling `show`.
//!
//! Like the official client's `waitfor`, but bounded by a timeout, and a
//! transient error (a 502, a timeout, a 429) is retried on the next poll
//! instead of ending the wait. A permanent error ends it at once, and so
//! does a machine whose newest operation event is in `error`
//! ([`Machine::failed_operation`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{ApiError, Machine, MachineApi, MachineState};

/// A state worth waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitTarget {
    Ready,
    /// Services are up. A `ready` machine has passed this point, so `ready`
    /// also satisfies it; otherwise a poll that missed the short
    /// `serviceready` phase would wait forever.
    ServiceReady,
    Off,
    /// The machine no longer exists (show answers 404): the end of a destroy.
    Gone,
}

impl WaitTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitTarget::Ready => "ready",
            WaitTarget::ServiceReady => "serviceready",
            WaitTarget::Off => "off",
            WaitTarget::Gone => "gone",
        }
    }

    /// Parses `ready`, `serviceready`, `off` or `gone` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ready" => Some(WaitTarget::Ready),
            "serviceready" => Some(WaitTarget::ServiceReady),
            "off" => Some(WaitTarget::Off),
            "gone" => Some(WaitTarget::Gone),
            _ => None,
        }
    }

    /// True when a machine in `state` has arrived.
    pub fn is_reached_by(self, state: &MachineState) -> bool {
        match self {
            WaitTarget::Ready => *state == MachineState::Ready,
            WaitTarget::ServiceReady => {
                matches!(state, MachineState::ServiceReady | MachineState::Ready)
            }
            WaitTarget::Off => *state == MachineState::Off,
            WaitTarget::Gone => false,
        }
    }
}

impl fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Time between polls (the official client uses 5 s).
    pub interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(5),
        }
    }
}

/// Why a wait ended without the state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaitError {
    /// The machine never got there.
    #[error("machine {machine_id} stayed in `{last_state}` for {}; wanted `{wanted}`", humanize(*waited))]
    TimedOut {
        machine_id: String,
        /// The last state seen, or `unknown` when no poll succeeded.
        last_state: String,
        waited: Duration,
        wanted: WaitTarget,
        /// The last transient error, if the final polls failed.
        last_error: Option<String>,
    },

    /// The machine disappeared while we waited for it to be ready or off.
    #[error("machine {machine_id} no longer exists (Paperspace answers 404); wanted `{wanted}`")]
    Gone {
        machine_id: String,
        wanted: WaitTarget,
    },

    /// The operation waited on ended in `error` at Paperspace (its event said so).
    #[error("{message}")]
    Failed {
        machine_id: String,
        /// The event's failure, e.g. `the start of machine ps1 failed at Paperspace: …`.
        message: String,
    },

    /// A permanent error ended the wait.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Renders a duration the way a person reads it: `15m`, `1h30m`, `45s`, `1.5s`.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 || (secs < 10 && d.subsec_millis() != 0) {
        let s = format!("{:.1}", d.as_secs_f64());
        return format!("{}s", s.trim_end_matches(".0"));
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Polls `show` until `machine_id` reaches `target` or `options.timeout` passes.
///
/// Returns the machine as last seen (for [`WaitTarget::Gone`], the last
/// answer before the 404, or a bare machine when the first poll was already 404).
pub async fn wait_for(
    api: &dyn MachineApi,
    machine_id: &str,
    target: WaitTarget,
    options: WaitOptions,
) -> Result<Machine, WaitError> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut last_seen: Option<Machine> = None;
    let mut last_error: Option<ApiError>;
    loop {
        match api.show(machine_id).await {
            Ok(machine) => {
                last_error = None;
                if target.is_reached_by(&machine.state) {
                    return Ok(machine);
                }
                if let Some(event) = machine.failed_operation() {
                    return Err(WaitError::Failed {
                        machine_id: machine_id.to_string(),
                        message: event.failure(machine_id),
                    });
                }
                last_seen = Some(machine);
            }
            Err(e) if e.is_not_found() => {
                if target == WaitTarget::Gone {
                    return Ok(last_seen
                        .unwrap_or_else(|| Machine::new(machine_id, "", MachineState::Off)));
                }
                return Err(WaitError::Gone {
                    machine_id: machine_id.to_string(),
                    wanted: target,
                });
            }
            Err(e) if e.is_transient() => {
                tracing::debug!(machine_id, error = %e, "transient error while waiting; polling again");
                last_error = Some(e);
            }
            Err(e) => return Err(WaitError::Api(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WaitError::TimedOut {
                machine_id: machine_id.to_string(),
                last_state: last_seen
                    .map(|m| m.state.to_string())
                    .unwrap_or_else(|| "unknown".to_string()),
                waited: now - started,
                wanted: target,
                last_error: last_error.map(|e| e.to_string()),
            });
        }
        // A 429's Retry-After outranks our own cadence.
        let pause = last_error
            .as_ref()
            .and_then(ApiError::retry_after)
            .unwrap_or(options.interval)
            .max(options.interval);
        tokio::time::sleep(pause.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_reads_well() {
        assert_eq!(humanize(Duration::from_secs(900)), "15m");
        assert_eq!(humanize(Duration::from_secs(5400)), "1h30m");
        assert_eq!(humanize(Duration::from_secs(45)), "45s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humanize(Duration::from_millis(0)), "0s");
    }

    #[test]
    fn serviceready_is_satisfied_by_ready() {
        assert!(WaitTarget::ServiceReady.is_reached_by(&MachineState::Ready));
        assert!(!WaitTarget::Ready.is_reached_by(&MachineState::ServiceReady));
        assert!(WaitTarget::Off.is_reached_by(&MachineState::Off));
        assert_eq!(
            WaitTarget::parse("ServiceReady"),
            Some(WaitTarget::ServiceReady)
        );
        assert_eq!(WaitTarget::parse("up"), None);
    }

    #[test]
    fn timeout_message_names_machine_state_duration_and_goal() {
        let e = WaitError::TimedOut {
            machine_id: "ps123".into(),
            last_state: "starting".into(),
            waited: Duration::from_secs(900),
            wanted: WaitTarget::Ready,
            last_error: None,
        };
        assert_eq!(
            e.to_string(),
            "machine ps123 stayed in `starting` for 15m; wanted `ready`"
        );
    }
}
