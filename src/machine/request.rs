//! What Machinist asks of Paperspace: create and update arguments, list
//! filters and paging, in one vocabulary that every backend maps to its wire
//! names (`name` here is `machineName` in the legacy API, `disk_size_gb` is
//! `size`, and so on).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Machine, MachineEvent};

/// How a machine is billed (legacy API only; v1 dropped it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BillingType {
    #[default]
    Hourly,
    Monthly,
}

impl BillingType {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingType::Hourly => "hourly",
            BillingType::Monthly => "monthly",
        }
    }
}

/// How a machine gets its public address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicIpType {
    /// A static address that stays with the machine (legacy `assignPublicIp`).
    Static,
    /// An address that changes on every start (legacy `dynamicPublicIp`).
    Dynamic,
    None,
}

/// Arguments of a machine create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMachine {
    /// Machine name; also how a create is found again after an ambiguous failure.
    pub name: String,
    /// Region display name, e.g. `Europe (AMS1)`.
    pub region: String,
    /// e.g. `P4000`, `C5`, `Air`.
    pub machine_type: String,
    /// Root disk size in GB.
    pub disk_size_gb: u32,
    /// Template (OS image) to install, as a [`crate::machine::Template`] id.
    pub template_id: String,
    /// Hourly or monthly billing; hourly unless asked otherwise.
    #[serde(default)]
    pub billing_type: BillingType,
    /// Which public address to give the machine; `None` leaves Paperspace's default.
    #[serde(default)]
    pub public_ip: Option<PublicIpType>,
    /// Defaults to true at Paperspace.
    #[serde(default)]
    pub start_on_create: Option<bool>,
    /// Private network to attach the machine to.
    #[serde(default)]
    pub network_id: Option<String>,
    /// Team to create the machine in (`teamId`).
    #[serde(default)]
    pub team_id: Option<String>,
    /// Existing user to assign the machine to (`userId`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Email address Paperspace notifies about the machine (`notificationEmail`).
    #[serde(default)]
    pub notification_email: Option<String>,
    /// Startup script to attach.
    #[serde(default)]
    pub script_id: Option<String>,
    /// Whether to snapshot the machine right after it is created.
    #[serde(default)]
    pub take_initial_snapshot: Option<bool>,
    /// Whether that first snapshot becomes the restore point.
    #[serde(default)]
    pub mark_snapshot_as_restore_point: Option<bool>,
    /// Only `shutdown` is accepted by Paperspace.
    #[serde(default)]
    pub restore_point_frequency: Option<String>,
}

impl CreateMachine {
    /// A create with the required fields and Paperspace's defaults for the rest.
    pub fn new(
        name: impl Into<String>,
        region: impl Into<String>,
        machine_type: impl Into<String>,
        disk_size_gb: u32,
        template_id: impl Into<String>,
    ) -> Self {
        CreateMachine {
            name: name.into(),
            region: region.into(),
            machine_type: machine_type.into(),
            disk_size_gb,
            template_id: template_id.into(),
            billing_type: BillingType::Hourly,
            public_ip: None,
            start_on_create: None,
            network_id: None,
            team_id: None,
            user_id: None,
            notification_email: None,
            script_id: None,
            take_initial_snapshot: None,
            mark_snapshot_as_restore_point: None,
            restore_point_frequency: None,
        }
    }
}

/// Changes to a machine's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMachine {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Hours after which Paperspace shuts the machine down; setting it turns auto-shutdown on.
    #[serde(default)]
    pub auto_shutdown_timeout_hours: Option<f64>,
    /// Whether auto-shutdown stops the machine even while a user is logged in.
    #[serde(default)]
    pub auto_shutdown_force: Option<bool>,
    /// Whether Paperspace snapshots the machine on a schedule.
    #[serde(default)]
    pub auto_snapshot_enabled: Option<bool>,
    /// `hour`, `day` or `week`.
    #[serde(default)]
    pub auto_snapshot_frequency: Option<String>,
    /// How many automatic snapshots to keep.
    #[serde(default)]
    pub auto_snapshot_save_count: Option<u32>,
    /// Which public address the machine should have.
    #[serde(default)]
    pub public_ip: Option<PublicIpType>,
}

impl UpdateMachine {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &UpdateMachine::default()
    }
}

/// A field a machine listing can be filtered on (exact match).
///
/// The legacy API's filters plus `machine_type` (a v1 filter). Each client
/// sends what its API can filter and applies the rest itself; one it has no
/// field for at all is refused, naming the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterField {
    Id,
    Name,
    Os,
    Ram,
    Cpus,
    Gpu,
    StorageTotal,
    StorageUsed,
    UsageRate,
    ShutdownTimeoutInHours,
    PerformAutoSnapshot,
    AutoSnapshotFrequency,
    AutoSnapshotSaveCount,
    AgentType,
    DtCreated,
    State,
    UpdatesPending,
    NetworkId,
    PrivateIpAddress,
    PublicIpAddress,
    Region,
    UserId,
    TeamId,
    ScriptId,
    DtLastRun,
    /// The v1 API's `machineType` filter; the legacy client applies it itself.
    MachineType,
}

impl FilterField {
    /// Every filter field, in the legacy API's documented order.
    pub const ALL: [FilterField; 26] = [
        FilterField::Id,
        FilterField::Name,
        FilterField::Os,
        FilterField::Ram,
        FilterField::Cpus,
        FilterField::Gpu,
        FilterField::StorageTotal,
        FilterField::StorageUsed,
        FilterField::UsageRate,
        FilterField::ShutdownTimeoutInHours,
        FilterField::PerformAutoSnapshot,
        FilterField::AutoSnapshotFrequency,
        FilterField::AutoSnapshotSaveCount,
        FilterField::AgentType,
        FilterField::DtCreated,
        FilterField::State,
        FilterField::UpdatesPending,
        FilterField::NetworkId,
        FilterField::PrivateIpAddress,
        FilterField::PublicIpAddress,
        FilterField::Region,
        FilterField::UserId,
        FilterField::TeamId,
        FilterField::ScriptId,
        FilterField::DtLastRun,
        FilterField::MachineType,
    ];

    /// The legacy query-string key (`machineId`, not `id`, for the id);
    /// `machineType`, which the legacy API does not filter by, is the v1 key.
    pub fn legacy_key(self) -> &'static str {
        match self {
            FilterField::Id => "machineId",
            FilterField::Name => "name",
            FilterField::Os => "os",
            FilterField::Ram => "ram",
            FilterField::Cpus => "cpus",
            FilterField::Gpu => "gpu",
            FilterField::StorageTotal => "storageTotal",
            FilterField::StorageUsed => "storageUsed",
            FilterField::UsageRate => "usageRate",
            FilterField::ShutdownTimeoutInHours => "shutdownTimeoutInHours",
            FilterField::PerformAutoSnapshot => "performAutoSnapshot",
            FilterField::AutoSnapshotFrequency => "autoSnapshotFrequency",
            FilterField::AutoSnapshotSaveCount => "autoSnapshotSaveCount",
            FilterField::AgentType => "agentType",
            FilterField::DtCreated => "dtCreated",
            FilterField::State => "state",
            FilterField::UpdatesPending => "updatesPending",
            FilterField::NetworkId => "networkId",
            FilterField::PrivateIpAddress => "privateIpAddress",
            FilterField::PublicIpAddress => "publicIpAddress",
            FilterField::Region => "region",
            FilterField::UserId => "userId",
            FilterField::TeamId => "teamId",
            FilterField::ScriptId => "scriptId",
            FilterField::DtLastRun => "dtLastRun",
            FilterField::MachineType => "machineType",
        }
    }
}

/// Exact-match filters for a machine listing; empty lists everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MachineFilter {
    /// Ordered so that the query string a filter produces is stable.
    pub fields: BTreeMap<FilterField, String>,
}

impl MachineFilter {
    /// No filter: every machine.
    pub fn all() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one exact-match condition.
    pub fn with(mut self, field: FilterField, value: impl Into<String>) -> Self {
        self.fields.insert(field, value.into());
        self
    }
}

/// Which page of a listing to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Opaque position from the previous page's [`MachinePage::next`]; `None` is the first page.
    pub cursor: Option<String>,
    /// Page size; `None` uses the backend's default.
    pub limit: Option<u32>,
}

/// One page of machines.
#[derive(Debug, Clone, PartialEq)]
pub struct MachinePage {
    /// The machines on this page, in the backend's order.
    pub machines: Vec<Machine>,
    /// Cursor of the next page, `None` on the last one.
    pub next: Option<String>,
}

/// One page of the account's machine events, newest first (v1
/// `GET /machine-events?orderBy=dtCreated&order=desc`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events on this page, newest first; each names its machine.
    pub events: Vec<MachineEvent>,
    /// Cursor of the next (older) page, `None` on the last one.
    pub next: Option<String>,
}

/// Exact-match filters for a template listing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateFilter {
    /// Only the template with this id.
    pub id: Option<String>,
    /// Only templates with this name.
    pub name: Option<String>,
    /// Only templates with this label.
    pub label: Option<String>,
    /// Only templates for this operating system.
    pub os: Option<String>,
    /// Only templates stored in this region.
    pub region: Option<String>,
    /// Only templates owned by this team.
    pub team_id: Option<String>,
    /// Only templates owned by this user.
    pub user_id: Option<String>,
}
