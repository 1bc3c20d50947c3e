//! The v1 API's JSON, and its mapping to and from Machinist's types.
//!
//! Machinist keeps one vocabulary whichever API runs a job; this module is
//! where the v1 names come in: `name` is the legacy `machineName`,
//! `diskSize` is `size`, `publicIpType` replaces the two public-IP flags,
//! `autoShutdownTimeout` is `shutdownTimeoutInHours`, snapshot cadences are
//! `hourly`/`daily`/`weekly` instead of `hour`/`day`/`week`, and
//! `privateIp`/`publicIp` drop the `Address` suffix. Reading is lenient like
//! the legacy wire module (`paperspace::lenient`): a field of an unexpected
//! shape becomes `None`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::machine::{AccountStanding, Template};
use crate::machine::{BillingType, CreateMachine, MachineRate, PublicIpType, UpdateMachine};
use crate::machine::{Machine, MachineEvent, MachineState};
use crate::paperspace::error::ApiError;
use crate::paperspace::lenient::{de_bool, de_f64, de_string, de_time, de_u32, de_u64, put};

/// One GPU model on a machine (`accelerators[]`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAccelerator {
    /// `accelerators[].name`: the GPU model.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `accelerators[].count`: how many of that model the machine has.
    #[serde(default, deserialize_with = "de_u32")]
    count: Option<u32>,
}

/// A machine as `GET /machines/{id}` and the list's `items` carry it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireMachine {
    /// `id` of the machine object, e.g. `psclbvqpc`.
    id: String,
    /// `name`: the machine's display name.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `state`: e.g. `off`, `starting`, `ready`.
    #[serde(default, deserialize_with = "de_string")]
    state: Option<String>,
    /// `machineType`: e.g. `P4000`, `A100-80G`.
    #[serde(default, deserialize_with = "de_string")]
    machine_type: Option<String>,
    /// `agentType`: e.g. `LinuxHeadless`, `WindowsDesktop`.
    #[serde(default, deserialize_with = "de_string")]
    agent_type: Option<String>,
    /// `os`: the operating system, e.g. `Ubuntu 22.04`.
    #[serde(default, deserialize_with = "de_string")]
    os: Option<String>,
    /// `region`: display name, e.g. `Europe (AMS1)`.
    #[serde(default, deserialize_with = "de_string")]
    region: Option<String>,
    /// `cpus`: number of virtual CPUs.
    #[serde(default, deserialize_with = "de_u32")]
    cpus: Option<u32>,
    /// `ram`: memory in bytes (a number here, a string in legacy).
    #[serde(default, deserialize_with = "de_u64")]
    ram: Option<u64>,
    /// `storageTotal`: root disk size in bytes.
    #[serde(default, deserialize_with = "de_u64")]
    storage_total: Option<u64>,
    /// `storageUsed`: bytes of the root disk in use.
    #[serde(default, deserialize_with = "de_u64")]
    storage_used: Option<u64>,
    /// `accelerators`: the GPUs, `null` on CPU machines.
    #[serde(default)]
    accelerators: Option<Vec<WireAccelerator>>,
    /// `networkId`: the private network, `null` when none.
    #[serde(default, deserialize_with = "de_string")]
    network_id: Option<String>,
    /// `privateIp`: address on the private network, `null` when none.
    #[serde(default, deserialize_with = "de_string")]
    private_ip: Option<String>,
    /// `publicIp`: public address, `null` when none.
    #[serde(default, deserialize_with = "de_string")]
    public_ip: Option<String>,
    /// `publicIpType`: `static`, `dynamic` or `none`.
    #[serde(default, deserialize_with = "de_string")]
    public_ip_type: Option<String>,
    /// `autoShutdownEnabled`: whether auto-shutdown is on; when false the timeout is ignored.
    #[serde(default, deserialize_with = "de_bool")]
    auto_shutdown_enabled: Option<bool>,
    /// `autoShutdownTimeout`: hours of running before auto-shutdown, `null` when unset.
    #[serde(default, deserialize_with = "de_f64")]
    auto_shutdown_timeout: Option<f64>,
    /// `usageRate`: the price of running (taken per hour; see [`MachineRate`]).
    #[serde(default, deserialize_with = "de_f64")]
    usage_rate: Option<f64>,
    /// `storageRate`: the price of the disk (taken per month).
    #[serde(default, deserialize_with = "de_f64")]
    storage_rate: Option<f64>,
    /// `autoShutdownForce`: whether auto-shutdown stops the machine even with a user logged in.
    #[serde(default, deserialize_with = "de_bool")]
    auto_shutdown_force: Option<bool>,
    /// `autoSnapshotEnabled`: whether Paperspace snapshots the machine on a schedule.
    #[serde(default, deserialize_with = "de_bool")]
    auto_snapshot_enabled: Option<bool>,
    /// `autoSnapshotFrequency`: `hourly`, `daily`, `weekly` or `monthly`.
    #[serde(default, deserialize_with = "de_string")]
    auto_snapshot_frequency: Option<String>,
    /// `autoSnapshotSaveCount`: how many automatic snapshots are kept.
    #[serde(default, deserialize_with = "de_u32")]
    auto_snapshot_save_count: Option<u32>,
    /// `updatesPending`: whether OS updates are waiting.
    #[serde(default, deserialize_with = "de_bool")]
    updates_pending: Option<bool>,
    /// `dtCreated`: when the machine was created.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
}

/// `hourly` → `hour`: Machinist's (the legacy) spelling of a snapshot cadence.
pub fn frequency_from_v1(v1: &str) -> String {
    match v1 {
        "hourly" => "hour",
        "daily" => "day",
        "weekly" => "week",
        "monthly" => "month",
        other => other,
    }
    .to_string()
}

/// `hour` → `hourly`; the v1 spelling is accepted as is.
pub fn frequency_to_v1(ours: &str) -> Result<&'static str, ApiError> {
    match ours {
        "hour" | "hourly" => Ok("hourly"),
        "day" | "daily" => Ok("daily"),
        "week" | "weekly" => Ok("weekly"),
        "month" | "monthly" => Ok("monthly"),
        other => Err(ApiError::Invalid {
            field: "auto_snapshot_frequency",
            message: format!("`{other}` is not `hour`, `day`, `week` or `month`"),
        }),
    }
}

impl From<WireMachine> for Machine {
    fn from(w: WireMachine) -> Self {
        let gpu = w.accelerators.as_ref().and_then(|list| {
            let names: Vec<String> = list
                .iter()
                .filter_map(|a| {
                    let name = a.name.clone()?;
                    Some(match a.count {
                        Some(n) if n > 1 => format!("{n} x {name}"),
                        _ => name,
                    })
                })
                .collect();
            (!names.is_empty()).then(|| names.join(", "))
        });
        // Legacy leaves the timeout null when auto-shutdown is off; so do we.
        let auto_shutdown_timeout_hours = match w.auto_shutdown_enabled {
            Some(false) => None,
            _ => w.auto_shutdown_timeout,
        };
        Machine {
            id: w.id,
            name: w.name.unwrap_or_default(),
            state: MachineState::parse(w.state.as_deref().unwrap_or("unknown")),
            // The legacy plan name (`P4000 hourly`): v1 bills every machine by the hour.
            usage_rate: w.machine_type.as_ref().map(|t| format!("{t} hourly")),
            // A machine priced at all has both; a missing storage rate is a
            // machine without a priced disk, not an unknown price.
            rate: w.usage_rate.map(|usage| MachineRate {
                usage,
                storage: w.storage_rate.unwrap_or(0.0),
            }),
            machine_type: w.machine_type,
            agent_type: w.agent_type,
            os: w.os,
            region: w.region,
            cpus: w.cpus,
            ram_bytes: w.ram,
            gpu,
            storage_total_bytes: w.storage_total,
            storage_used_bytes: w.storage_used,
            dynamic_public_ip: w.public_ip_type.as_deref().map(|t| t == "dynamic"),
            public_ip: w.public_ip,
            private_ip: w.private_ip,
            network_id: w.network_id,
            auto_shutdown_timeout_hours,
            auto_shutdown_force: w.auto_shutdown_force,
            auto_snapshot_enabled: w.auto_snapshot_enabled,
            auto_snapshot_frequency: w.auto_snapshot_frequency.as_deref().map(frequency_from_v1),
            auto_snapshot_save_count: w.auto_snapshot_save_count,
            // The v1 machine object names no assigned user, team or script.
            user_id: None,
            team_id: None,
            script_id: None,
            updates_pending: w.updates_pending,
            created_at: w.dt_created,
            last_run_at: None,
            events: Vec::new(),
        }
    }
}

/// A machine event (`GET /machine-events/{id}`, and every mutation's `event`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEvent {
    /// `id` of the event, polled with `GET /machine-events/{id}`.
    #[serde(default, deserialize_with = "de_string")]
    id: Option<String>,
    /// `machineId`: the machine the event is about.
    #[serde(default, deserialize_with = "de_string")]
    machine_id: Option<String>,
    /// `name`: what was done, e.g. `start`, `stop`, `create`.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `state`: `new`, `in progress`, `done`, `error` or `cancelled`.
    #[serde(default, deserialize_with = "de_string")]
    state: Option<String>,
    /// `error`: the failure message when `state` is `error`.
    #[serde(default, deserialize_with = "de_string")]
    error: Option<String>,
    /// `dtCreated`: when the operation was requested.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
    /// `dtStarted`: when Paperspace began carrying it out.
    #[serde(default, deserialize_with = "de_time")]
    dt_started: Option<DateTime<Utc>>,
    /// `dtFinished`: when it ended, `null` while running.
    #[serde(default, deserialize_with = "de_time")]
    dt_finished: Option<DateTime<Utc>>,
}

impl WireEvent {
    /// The machine the event is about, when it names one.
    pub fn machine_id(&self) -> Option<&str> {
        self.machine_id.as_deref()
    }
}

impl From<WireEvent> for MachineEvent {
    fn from(w: WireEvent) -> Self {
        MachineEvent {
            id: w.id,
            machine_id: w.machine_id,
            name: w.name.unwrap_or_default(),
            state: w.state.unwrap_or_default(),
            error: w.error,
            created_at: w.dt_created,
            started_at: w.dt_started,
            finished_at: w.dt_finished,
        }
    }
}

/// `GET /billing/account-standing`. Read leniently: a missing or null
/// `isInGoodStanding` reads as good unless the account is admin-locked,
/// missing `hasPaymentMethod` and `isAdminLocked` as false, and a message
/// may be a string or an object with a `message` (others are dropped).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireStanding {
    /// `isInGoodStanding`: creates and starts are allowed.
    #[serde(default, deserialize_with = "de_bool")]
    is_in_good_standing: Option<bool>,
    /// `hasPaymentMethod`.
    #[serde(default, deserialize_with = "de_bool")]
    has_payment_method: Option<bool>,
    /// `isAdminLocked`: Paperspace staff locked the account.
    #[serde(default, deserialize_with = "de_bool")]
    is_admin_locked: Option<bool>,
    /// `messages[]`: strings, or objects carrying a `message`.
    #[serde(default)]
    messages: Option<Value>,
}

impl From<WireStanding> for AccountStanding {
    fn from(w: WireStanding) -> Self {
        let messages = match w.messages {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|m| match m {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => {
                        o.get("message").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                })
                .filter(|m| !m.trim().is_empty())
                .collect(),
            Some(Value::String(s)) if !s.trim().is_empty() => vec![s],
            _ => Vec::new(),
        };
        AccountStanding {
            in_good_standing: w
                .is_in_good_standing
                .unwrap_or(w.is_admin_locked != Some(true)),
            has_payment_method: w.has_payment_method.unwrap_or(false),
            admin_locked: w.is_admin_locked.unwrap_or(false),
            messages,
        }
    }
}

/// What every mutation answers: the machine and the event to poll.
#[derive(Debug, Deserialize)]
pub struct WireMutation {
    /// `data`: the machine as the mutation left it.
    pub data: WireMachine,
    /// Absent from some update answers.
    #[serde(default)]
    pub event: Option<WireEvent>,
}

/// One page of a listing.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePage<T> {
    /// `items`: this page's objects.
    pub items: Vec<T>,
    /// `hasMore`: false on the last page.
    #[serde(default)]
    pub has_more: Option<bool>,
    /// `nextPage`: the cursor to pass as `after`; absent or null on the last page.
    #[serde(default, deserialize_with = "de_string")]
    pub next_page: Option<String>,
}

impl<T> WirePage<T> {
    /// The cursor of the next page: `nextPage` unless `hasMore` says there is none.
    pub fn next(&self) -> Option<String> {
        match self.has_more {
            Some(false) => None,
            _ => self.next_page.clone(),
        }
    }
}

/// A user as the accessor routes show it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUser {
    /// `user.id` of an accessor answer.
    pub id: String,
    /// `user.email`.
    #[serde(default, deserialize_with = "de_string")]
    pub email: Option<String>,
    /// `user.firstName`, when set.
    #[serde(default, deserialize_with = "de_string")]
    pub first_name: Option<String>,
    /// `user.lastName`, when set.
    #[serde(default, deserialize_with = "de_string")]
    pub last_name: Option<String>,
}

/// One accessor of a machine.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAccessor {
    /// `user`: the user given access.
    pub user: WireUser,
    /// `dtDeleted`: when the access was removed; present in a `DELETE` answer.
    #[serde(default, deserialize_with = "de_time")]
    pub dt_deleted: Option<DateTime<Utc>>,
}

/// An OS template (`GET /os-templates`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTemplate {
    /// `id` of the OS template, passed as `templateId` to a create.
    id: String,
    /// `name`: the template's display name, used as both name and label.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `operatingSystemLabel`: e.g. `Ubuntu 22.04`.
    #[serde(default, deserialize_with = "de_string")]
    operating_system_label: Option<String>,
    /// `agentType`: e.g. `LinuxHeadless`.
    #[serde(default, deserialize_with = "de_string")]
    agent_type: Option<String>,
    /// `dtCreated`: when the template was created.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
}

impl From<WireTemplate> for Template {
    fn from(w: WireTemplate) -> Self {
        Template {
            id: w.id,
            name: w.name.clone().unwrap_or_default(),
            // v1 has one display name where legacy had a name and a label.
            label: w.name,
            os: w.operating_system_label.or(w.agent_type),
            region: None,
            team_id: None,
            user_id: None,
            created_at: w.dt_created,
        }
    }
}

fn public_ip_type(t: PublicIpType) -> &'static str {
    match t {
        PublicIpType::Static => "static",
        PublicIpType::Dynamic => "dynamic",
        PublicIpType::None => "none",
    }
}

/// Refuses a create argument that has no v1 counterpart, naming the backend.
fn no_v1_field(field: &'static str, what: &str) -> ApiError {
    ApiError::Invalid {
        field,
        message: format!(
            "the v1 Paperspace API has no {what}; leave `{field}` out, or use backend = \"legacy\""
        ),
    }
}

/// The `POST /machines` body.
pub fn create_body(req: &CreateMachine) -> Result<Value, ApiError> {
    if req.billing_type == BillingType::Monthly {
        return Err(no_v1_field("billing_type", "monthly billing"));
    }
    if req.team_id.is_some() {
        return Err(no_v1_field(
            "team_id",
            "team field (the team is the API key's)",
        ));
    }
    if req.user_id.is_some() {
        return Err(no_v1_field("user_id", "assigned-user field"));
    }
    if req.notification_email.is_some() {
        return Err(no_v1_field("notification_email", "notification e-mail"));
    }
    let mut body = Map::new();
    body.insert("name".into(), json!(req.name));
    body.insert("machineType".into(), json!(req.machine_type));
    body.insert("templateId".into(), json!(req.template_id));
    body.insert("diskSize".into(), json!(req.disk_size_gb));
    body.insert("region".into(), json!(req.region));
    put(&mut body, "publicIpType", req.public_ip.map(public_ip_type));
    put(&mut body, "startOnCreate", req.start_on_create);
    put(&mut body, "networkId", req.network_id.clone());
    put(&mut body, "startupScriptId", req.script_id.clone());
    put(&mut body, "takeInitialSnapshot", req.take_initial_snapshot);
    put(
        &mut body,
        "restorePointEnabled",
        req.mark_snapshot_as_restore_point,
    );
    put(
        &mut body,
        "restorePointFrequency",
        req.restore_point_frequency.clone(),
    );
    Ok(Value::Object(body))
}

/// The `PUT /machines/{id}` body.
pub fn update_body(changes: &UpdateMachine) -> Result<Value, ApiError> {
    let mut body = Map::new();
    put(&mut body, "name", changes.name.clone());
    if let Some(hours) = changes.auto_shutdown_timeout_hours {
        // Setting a timeout is what turns auto-shutdown on in the legacy API.
        body.insert("autoShutdownEnabled".into(), json!(true));
        body.insert("autoShutdownTimeout".into(), json!(hours));
    }
    put(&mut body, "autoShutdownForce", changes.auto_shutdown_force);
    put(
        &mut body,
        "autoSnapshotEnabled",
        changes.auto_snapshot_enabled,
    );
    if let Some(freq) = &changes.auto_snapshot_frequency {
        body.insert(
            "autoSnapshotFrequency".into(),
            json!(frequency_to_v1(freq)?),
        );
    }
    put(
        &mut body,
        "autoSnapshotSaveCount",
        changes.auto_snapshot_save_count,
    );
    put(
        &mut body,
        "publicIpType",
        changes.public_ip.map(public_ip_type),
    );
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the OpenAPI snapshot's `Machine`.
    const MACHINE: &str = r#"{
      "id": "psq3kz0a1", "name": "train-1", "state": "serviceready", "machineType": "P4000",
      "agentType": "LinuxHeadless", "os": "Ubuntu 22.04", "region": "Europe (AMS1)",
      "cpus": 8, "ram": 32212254720, "storageTotal": 107374182400, "storageUsed": 12884901888,
      "storageRate": 10, "usageRate": 0.51,
      "accelerators": [{"name": "Quadro P4000", "count": 1, "memory": 8192}],
      "networkId": null, "privateIp": "10.64.1.2", "publicIp": "184.105.1.2", "publicIpType": "dynamic",
      "autoShutdownEnabled": true, "autoShutdownTimeout": 4, "autoShutdownForce": false,
      "autoSnapshotEnabled": true, "autoSnapshotFrequency": "daily", "autoSnapshotSaveCount": 3,
      "restorePointEnabled": false, "restorePointFrequency": null, "restorePointSnapshotId": null,
      "updatesPending": false, "reservation": null,
      "dtCreated": "2026-03-01T10:00:00.000Z", "dtModified": "2026-03-01T10:05:00.000Z", "dtDeleted": null
    }"#;

    #[test]
    fn reads_the_v1_machine_into_our_names() {
        let m = Machine::from(serde_json::from_str::<WireMachine>(MACHINE).unwrap());
        assert_eq!(m.id, "psq3kz0a1");
        assert_eq!(m.state, MachineState::ServiceReady);
        assert_eq!(m.machine_type.as_deref(), Some("P4000"));
        assert_eq!(m.ram_bytes, Some(32_212_254_720));
        assert_eq!(m.gpu.as_deref(), Some("Quadro P4000"));
        assert_eq!(m.private_ip.as_deref(), Some("10.64.1.2"));
        assert_eq!(m.public_ip.as_deref(), Some("184.105.1.2"));
        assert_eq!(m.dynamic_public_ip, Some(true));
        assert_eq!(m.auto_shutdown_timeout_hours, Some(4.0));
        assert_eq!(m.auto_snapshot_frequency.as_deref(), Some("day"));
        assert_eq!(
            m.created_at.unwrap().to_rfc3339(),
            "2026-03-01T10:00:00+00:00"
        );
    }

    #[test]
    fn auto_shutdown_off_reads_as_no_timeout() {
        let m: WireMachine = serde_json::from_str(
            r#"{"id":"ps1","state":"off","autoShutdownEnabled":false,"autoShutdownTimeout":8}"#,
        )
        .unwrap();
        assert_eq!(Machine::from(m).auto_shutdown_timeout_hours, None);
    }

    #[test]
    fn create_and_update_bodies_use_v1_names() {
        let mut req = CreateMachine::new("train-1", "Europe (AMS1)", "P4000", 100, "t0nspur5");
        req.public_ip = Some(PublicIpType::Static);
        req.script_id = Some("sc1".into());
        assert_eq!(
            create_body(&req).unwrap(),
            json!({"name":"train-1","machineType":"P4000","templateId":"t0nspur5","diskSize":100,
                   "region":"Europe (AMS1)","publicIpType":"static","startupScriptId":"sc1"})
        );
        req.billing_type = BillingType::Monthly;
        let e = create_body(&req).unwrap_err();
        assert!(e.to_string().contains("billing_type"), "{e}");
        assert!(e.to_string().contains("v1"), "{e}");

        let changes = UpdateMachine {
            name: Some("renamed".into()),
            auto_shutdown_timeout_hours: Some(2.0),
            auto_snapshot_frequency: Some("week".into()),
            public_ip: Some(PublicIpType::None),
            ..UpdateMachine::default()
        };
        assert_eq!(
            update_body(&changes).unwrap(),
            json!({"name":"renamed","autoShutdownEnabled":true,"autoShutdownTimeout":2.0,
                   "autoSnapshotFrequency":"weekly","publicIpType":"none"})
        );
    }

    #[test]
    fn the_last_page_has_no_next() {
        let p: WirePage<Value> =
            serde_json::from_str(r#"{"items":[],"hasMore":false,"nextPage":"x"}"#).unwrap();
        assert_eq!(p.next(), None);
        let p: WirePage<Value> =
            serde_json::from_str(r#"{"items":[],"hasMore":true,"nextPage":"c2"}"#).unwrap();
        assert_eq!(p.next().as_deref(), Some("c2"));
    }
}
