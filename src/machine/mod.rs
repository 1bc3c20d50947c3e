//! Machinist's machine vocabulary: machines, their states and events, the
//! requests that change them, account facts (billing months, utilization,
//! templates, availability), the states a job waits for and the record of a
//! Paperspace call.
//!
//! These types are what the rest of the daemon sees, whichever Paperspace API
//! produced them: each backend in [`crate::paperspace`] maps its wire format
//! into them, so a machine id, a state or a time reads the same from the
//! legacy and the v1 API. The store, the simulator, schedules, jobs and the
//! admin API import them from here and never from the client.

mod account;
mod api_call;
mod request;
mod wait_target;

pub use account::{
    AccountStanding, Availability, BadBillingMonth, BillingMonth, Template, Utilization,
};
pub use api_call::ApiCallRecord;
pub use request::{
    BillingType, CreateMachine, EventPage, FilterField, MachineFilter, MachinePage, PageRequest,
    PublicIpType, TemplateFilter, UpdateMachine,
};
pub use wait_target::{WaitTarget, humanize};

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The lifecycle state of a machine, as both Paperspace APIs spell it.
///
/// An unknown string is kept as [`MachineState::Unknown`] rather than
/// rejected, so that a state Paperspace adds later does not break a listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MachineState {
    Off,
    Starting,
    Stopping,
    Restarting,
    ServiceReady,
    Ready,
    Upgrading,
    Provisioning,
    /// A state string this version of Machinist does not know.
    Unknown(String),
}

impl MachineState {
    /// The eight states both APIs document.
    pub const KNOWN: [MachineState; 8] = [
        MachineState::Off,
        MachineState::Starting,
        MachineState::Stopping,
        MachineState::Restarting,
        MachineState::ServiceReady,
        MachineState::Ready,
        MachineState::Upgrading,
        MachineState::Provisioning,
    ];

    /// The wire spelling (all lowercase).
    pub fn as_str(&self) -> &str {
        match self {
            MachineState::Off => "off",
            MachineState::Starting => "starting",
            MachineState::Stopping => "stopping",
            MachineState::Restarting => "restarting",
            MachineState::ServiceReady => "serviceready",
            MachineState::Ready => "ready",
            MachineState::Upgrading => "upgrading",
            MachineState::Provisioning => "provisioning",
            MachineState::Unknown(s) => s,
        }
    }

    /// Parses a wire string; never fails.
    pub fn parse(s: &str) -> Self {
        match s {
            "off" => MachineState::Off,
            "starting" => MachineState::Starting,
            "stopping" => MachineState::Stopping,
            "restarting" => MachineState::Restarting,
            "serviceready" => MachineState::ServiceReady,
            "ready" => MachineState::Ready,
            "upgrading" => MachineState::Upgrading,
            "provisioning" => MachineState::Provisioning,
            other => MachineState::Unknown(other.to_string()),
        }
    }

    /// True while the machine is up and billed by the hour.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            MachineState::Ready
                | MachineState::ServiceReady
                | MachineState::Starting
                | MachineState::Restarting
                | MachineState::Stopping
                | MachineState::Upgrading
        )
    }
}

impl fmt::Display for MachineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MachineState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MachineState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(MachineState::parse(&s))
    }
}

/// True for a string that can be a Paperspace id (`psclbvqpc`, `u1a2b3c4`):
/// letters, digits, `-` and `_`, at most 64. Ids go into URL paths, so
/// anything else is refused before a request is built.
pub fn is_paperspace_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A Paperspace machine as Machinist knows it.
///
/// Most fields are optional because Paperspace leaves them null while a
/// machine is provisioning, and because the two APIs do not carry the same set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Paperspace's id, e.g. `psclbvqpc`.
    pub id: String,
    /// Paperspace's display name; empty when an answer left it null.
    pub name: String,
    /// Lifecycle state as Paperspace reports it (`off`, `starting`, `ready`, …).
    pub state: MachineState,
    /// e.g. `P4000`, `C5`. Legacy answers carry it only in `usageRate`; see [`Machine::machine_type`].
    pub machine_type: Option<String>,
    /// e.g. `LinuxHeadless`, `WindowsDesktop`.
    pub agent_type: Option<String>,
    /// Operating system label, e.g. `Ubuntu 22.04`.
    pub os: Option<String>,
    /// Display name, e.g. `Europe (AMS1)`.
    pub region: Option<String>,
    /// Number of virtual CPUs.
    pub cpus: Option<u32>,
    /// Memory in bytes (legacy sends it as a string, v1 as a number).
    pub ram_bytes: Option<u64>,
    /// GPU model, e.g. `Quadro P4000`; on v1 built from `accelerators`, as `2 x A100` when there are several.
    pub gpu: Option<String>,
    /// Root disk size in bytes.
    pub storage_total_bytes: Option<u64>,
    /// Bytes of the root disk in use.
    pub storage_used_bytes: Option<u64>,
    /// The billing plan, e.g. `P4000 hourly`.
    pub usage_rate: Option<String>,
    /// v1's numeric `usageRate` and `storageRate`, as Paperspace sent them:
    /// the meter prices running and storage with them. `None` on legacy,
    /// whose machines carry no price (its utilization pull does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<MachineRate>,
    /// Public IPv4 address, `None` when the machine has none.
    pub public_ip: Option<String>,
    /// Address on the machine's private network.
    pub private_ip: Option<String>,
    /// Id of the private network the machine is on.
    pub network_id: Option<String>,
    /// True when the public address changes on every start (v1 `publicIpType: dynamic`).
    pub dynamic_public_ip: Option<bool>,
    /// Hours of running after which Paperspace shuts the machine down; `None` when auto-shutdown is off.
    pub auto_shutdown_timeout_hours: Option<f64>,
    /// Whether auto-shutdown stops the machine even while a user is logged in.
    pub auto_shutdown_force: Option<bool>,
    /// Whether Paperspace snapshots the machine on a schedule.
    pub auto_snapshot_enabled: Option<bool>,
    /// Snapshot cadence in the legacy spelling: `hour`, `day`, `week` or `month`.
    pub auto_snapshot_frequency: Option<String>,
    /// How many automatic snapshots are kept.
    pub auto_snapshot_save_count: Option<u32>,
    /// User the machine is assigned to; legacy only.
    pub user_id: Option<String>,
    /// Team that owns the machine; legacy only.
    pub team_id: Option<String>,
    /// Startup script attached to the machine; legacy only.
    pub script_id: Option<String>,
    /// Whether OS updates are waiting to be installed.
    pub updates_pending: Option<bool>,
    /// When the machine was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When the machine last started; legacy only (`dtLastRun`).
    pub last_run_at: Option<DateTime<Utc>>,
    /// Recent operations on the machine; only `show` fills this in.
    #[serde(default)]
    pub events: Vec<MachineEvent>,
}

impl Machine {
    /// A machine with only its id, name and state known.
    pub fn new(id: impl Into<String>, name: impl Into<String>, state: MachineState) -> Self {
        Machine {
            id: id.into(),
            name: name.into(),
            state,
            machine_type: None,
            agent_type: None,
            os: None,
            region: None,
            cpus: None,
            ram_bytes: None,
            gpu: None,
            storage_total_bytes: None,
            storage_used_bytes: None,
            usage_rate: None,
            rate: None,
            public_ip: None,
            private_ip: None,
            network_id: None,
            dynamic_public_ip: None,
            auto_shutdown_timeout_hours: None,
            auto_shutdown_force: None,
            auto_snapshot_enabled: None,
            auto_snapshot_frequency: None,
            auto_snapshot_save_count: None,
            user_id: None,
            team_id: None,
            script_id: None,
            updates_pending: None,
            created_at: None,
            last_run_at: None,
            events: Vec::new(),
        }
    }
}

impl Machine {
    /// The machine's newest lifecycle event (create, start, stop, restart,
    /// deactivate), when it ended in `error`: the operation a wait is waiting
    /// on failed at Paperspace, and the machine will not get there by itself.
    pub fn failed_operation(&self) -> Option<&MachineEvent> {
        const LIFECYCLE: [&str; 5] = ["create", "start", "stop", "restart", "deactivate"];
        let lifecycle = self
            .events
            .iter()
            .filter(|e| LIFECYCLE.contains(&e.name.as_str()));
        // Newest by creation time; answers without times are newest first.
        let newest = if self.events.iter().all(|e| e.created_at.is_some()) {
            lifecycle.max_by_key(|e| e.created_at)
        } else {
            lifecycle.into_iter().next()
        };
        newest.filter(|e| e.state == "error")
    }
}

/// A machine's prices as v1 states them on the machine object.
///
/// The units are not documented. Machinist takes `usage` per hour of running
/// and `storage` per month, as the legacy `hourlyRate` and `monthlyRate`
/// were, and an operator corrects that with `cost.usage_rate_unit` and
/// `cost.storage_rate_unit`: the numbers are kept as sent, so a correction
/// reprices history too.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MachineRate {
    /// `usageRate`: the price of running.
    pub usage: f64,
    /// `storageRate`: the price of the machine's disk.
    pub storage: f64,
}

/// One asynchronous operation on a machine (`start`, `stop`, `create`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineEvent {
    /// The event's id (`handle` in the legacy API); absent in some answers.
    pub id: Option<String>,
    /// The machine it acted on; v1's account-wide listing names it, a
    /// machine's own events (legacy `show`) leave it implied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// What was done: `start`, `stop`, `restart`, `create`, `snapshot-create`, …
    pub name: String,
    /// `new`, `in progress`, `done`, `error` or `cancelled`.
    pub state: String,
    /// The failure message when `state` is `error`.
    pub error: Option<String>,
    /// When the operation was requested.
    pub created_at: Option<DateTime<Utc>>,
    /// When Paperspace began carrying it out (v1 `dtStarted`): a stop's
    /// start is where the meter ends a running interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state; `None` while it is still running.
    pub finished_at: Option<DateTime<Utc>>,
}

impl MachineEvent {
    /// What a wait that this failed operation ended says.
    pub fn failure(&self, machine_id: &str) -> String {
        format!(
            "the {} of machine {machine_id} failed at Paperspace: {}",
            self.name,
            self.error
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or("no message given")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, state: &str, at: &str) -> MachineEvent {
        MachineEvent {
            id: None,
            machine_id: None,
            started_at: None,
            name: name.into(),
            state: state.into(),
            error: Some("host out of capacity".into()),
            created_at: Some(at.parse().unwrap()),
            finished_at: None,
        }
    }

    #[test]
    fn only_the_newest_lifecycle_event_counts() {
        let mut m = Machine::new("ps1", "n", MachineState::Starting);
        m.events = vec![
            event("start", "done", "2026-03-01T10:00:00Z"),
            event("stop", "error", "2026-03-01T09:00:00Z"),
        ];
        assert_eq!(m.failed_operation(), None, "an old failure is history");
        m.events
            .push(event("start", "error", "2026-03-01T11:00:00Z"));
        m.events
            .push(event("snapshot-create", "done", "2026-03-01T12:00:00Z"));
        let failed = m.failed_operation().unwrap();
        assert_eq!(
            failed.failure("ps1"),
            "the start of machine ps1 failed at Paperspace: host out of capacity"
        );
    }
}
