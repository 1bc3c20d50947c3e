//! A machine state worth waiting for, and how a wait's length reads.
//!
//! Jobs, schedules, the store and the CLI name wait targets; only the
//! Paperspace client's [`crate::paperspace::wait_for`] polls for them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MachineState;

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
}
