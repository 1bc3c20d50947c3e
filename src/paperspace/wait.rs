//! Waiting for a machine to reach a state, by polling `show`.
//!
//! Like the official client's `waitfor`, but bounded by a timeout, and a
//! transient error (a 502, a timeout, a 429) is retried on the next poll
//! instead of ending the wait. A permanent error ends it at once, and so
//! does a machine whose newest operation event is in `error`
//! ([`Machine::failed_operation`]).

use std::time::Duration;

use tokio::time::Instant;

use super::{ApiError, MachineApi};
use crate::machine::{Machine, MachineState, WaitTarget, humanize};

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
