//! The legacy API's JSON, and its mapping to and from Machinist's types.
//!
//! The legacy API is loose with types (`ram` is a string of bytes, rates are
//! `"0.40"` or `0`, dates may be null), so reading is lenient: a field of an
//! unexpected shape becomes `None` instead of failing the whole answer.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::machine::{BillingMonth, Template, Utilization};
use crate::machine::{CreateMachine, PublicIpType, UpdateMachine};
use crate::machine::{Machine, MachineEvent, MachineState};
use crate::paperspace::lenient::{
    de_bool_or_text, de_f64, de_string, de_time, de_u32, de_u64, put,
};

/// A machine as `getMachinePublic` and `getMachines` return it.
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
    /// Only some answers carry it; otherwise it is read from `usageRate`.
    #[serde(default, deserialize_with = "de_string")]
    machine_type: Option<String>,
    /// `os`: the operating system, e.g. `Ubuntu 22.04`.
    #[serde(default, deserialize_with = "de_string")]
    os: Option<String>,
    /// `ram`: memory in bytes, sent as a string.
    #[serde(default, deserialize_with = "de_u64")]
    ram: Option<u64>,
    /// `cpus`: number of virtual CPUs.
    #[serde(default, deserialize_with = "de_u32")]
    cpus: Option<u32>,
    /// `gpu`: the GPU model, e.g. `Quadro P4000`.
    #[serde(default, deserialize_with = "de_string")]
    gpu: Option<String>,
    /// `storageTotal`: root disk size in bytes, sent as a string.
    #[serde(default, deserialize_with = "de_u64")]
    storage_total: Option<u64>,
    /// `storageUsed`: bytes of the root disk in use, sent as a string.
    #[serde(default, deserialize_with = "de_u64")]
    storage_used: Option<u64>,
    /// `usageRate`: the billing plan, e.g. `P4000 hourly`.
    #[serde(default, deserialize_with = "de_string")]
    usage_rate: Option<String>,
    /// `shutdownTimeoutInHours`: hours of running before auto-shutdown, `null` when it is off.
    #[serde(default, deserialize_with = "de_f64")]
    shutdown_timeout_in_hours: Option<f64>,
    /// `shutdownTimeoutForces`: whether auto-shutdown stops the machine even with a user logged in.
    #[serde(default, deserialize_with = "de_bool_or_text")]
    shutdown_timeout_forces: Option<bool>,
    /// `performAutoSnapshot`: whether Paperspace snapshots the machine on a schedule.
    #[serde(default, deserialize_with = "de_bool_or_text")]
    perform_auto_snapshot: Option<bool>,
    /// `autoSnapshotFrequency`: `hour`, `day`, `week` or `month`.
    #[serde(default, deserialize_with = "de_string")]
    auto_snapshot_frequency: Option<String>,
    /// `autoSnapshotSaveCount`: how many automatic snapshots are kept.
    #[serde(default, deserialize_with = "de_u32")]
    auto_snapshot_save_count: Option<u32>,
    /// `agentType`: e.g. `LinuxHeadless`, `WindowsDesktop`.
    #[serde(default, deserialize_with = "de_string")]
    agent_type: Option<String>,
    /// `dtCreated`: when the machine was created.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
    /// `updatesPending`: whether OS updates are waiting.
    #[serde(default, deserialize_with = "de_bool_or_text")]
    updates_pending: Option<bool>,
    /// `networkId`: the private network, when any.
    #[serde(default, deserialize_with = "de_string")]
    network_id: Option<String>,
    /// `privateIpAddress`: address on the private network.
    #[serde(default, deserialize_with = "de_string")]
    private_ip_address: Option<String>,
    /// `publicIpAddress`: public address, `null` when none.
    #[serde(default, deserialize_with = "de_string")]
    public_ip_address: Option<String>,
    /// `region`: display name, e.g. `Europe (AMS1)`.
    #[serde(default, deserialize_with = "de_string")]
    region: Option<String>,
    /// `userId`: the user the machine is assigned to.
    #[serde(default, deserialize_with = "de_string")]
    user_id: Option<String>,
    /// `teamId`: the team that owns the machine.
    #[serde(default, deserialize_with = "de_string")]
    team_id: Option<String>,
    /// `scriptId`: the attached startup script, when any.
    #[serde(default, deserialize_with = "de_string")]
    script_id: Option<String>,
    /// `dtLastRun`: when the machine last started.
    #[serde(default, deserialize_with = "de_time")]
    dt_last_run: Option<DateTime<Utc>>,
    /// `dynamicPublicIp`: whether the public address changes on every start.
    #[serde(default, deserialize_with = "de_bool_or_text")]
    dynamic_public_ip: Option<bool>,
    /// `events`: recent operations on the machine; only `getMachinePublic` carries them.
    #[serde(default)]
    events: Option<Vec<WireEvent>>,
}

/// One entry of a machine's `events`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEvent {
    /// `name`: what was done, e.g. `start`, `stop`, `snapshot-create`.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `state`: e.g. `done`, `error`.
    #[serde(default, deserialize_with = "de_string")]
    state: Option<String>,
    /// `errorMsg`: the failure message when `state` is `error`.
    #[serde(default, deserialize_with = "de_string")]
    error_msg: Option<String>,
    /// `handle`: the event's id.
    #[serde(default, deserialize_with = "de_string")]
    handle: Option<String>,
    /// `dtCreated`: when the operation was requested.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
    /// `dtFinished`: when it ended, `null` while running.
    #[serde(default, deserialize_with = "de_time")]
    dt_finished: Option<DateTime<Utc>>,
}

impl From<WireMachine> for Machine {
    fn from(w: WireMachine) -> Self {
        // "P4000 hourly" → "P4000"
        let machine_type = w.machine_type.or_else(|| {
            w.usage_rate
                .as_deref()
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string)
        });
        Machine {
            id: w.id,
            name: w.name.unwrap_or_default(),
            state: MachineState::parse(w.state.as_deref().unwrap_or("unknown")),
            machine_type,
            agent_type: w.agent_type,
            os: w.os,
            region: w.region,
            cpus: w.cpus,
            ram_bytes: w.ram,
            gpu: w.gpu,
            storage_total_bytes: w.storage_total,
            storage_used_bytes: w.storage_used,
            usage_rate: w.usage_rate,
            rate: None,
            public_ip: w.public_ip_address,
            private_ip: w.private_ip_address,
            network_id: w.network_id,
            dynamic_public_ip: w.dynamic_public_ip,
            auto_shutdown_timeout_hours: w.shutdown_timeout_in_hours,
            auto_shutdown_force: w.shutdown_timeout_forces,
            auto_snapshot_enabled: w.perform_auto_snapshot,
            auto_snapshot_frequency: w.auto_snapshot_frequency,
            auto_snapshot_save_count: w.auto_snapshot_save_count,
            user_id: w.user_id,
            team_id: w.team_id,
            script_id: w.script_id,
            updates_pending: w.updates_pending,
            created_at: w.dt_created,
            last_run_at: w.dt_last_run,
            events: w
                .events
                .unwrap_or_default()
                .into_iter()
                .map(MachineEvent::from)
                .collect(),
        }
    }
}

impl From<WireEvent> for MachineEvent {
    fn from(w: WireEvent) -> Self {
        MachineEvent {
            id: w.handle,
            // A legacy machine's events are its own; the caller knows whose.
            machine_id: None,
            name: w.name.unwrap_or_default(),
            state: w.state.unwrap_or_default(),
            error: w.error_msg,
            created_at: w.dt_created,
            started_at: None,
            finished_at: w.dt_finished,
        }
    }
}

/// The `getUtilization` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUtilization {
    /// `utilization`: the machine's running time and hourly rate for the month.
    #[serde(default)]
    utilization: Option<WireUsage>,
    /// `storageUtilization`: the storage time and monthly rate for the month.
    #[serde(default)]
    storage_utilization: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    /// `secondsUsed`: seconds run (or storage kept) in the month.
    #[serde(default, deserialize_with = "de_u64")]
    seconds_used: Option<u64>,
    /// `hourlyRate`: dollars per hour of running, `"0.40"` or a number; only in `utilization`.
    #[serde(default, deserialize_with = "de_f64")]
    hourly_rate: Option<f64>,
    /// `monthlyRate`: dollars per month of storage; only in `storageUtilization`.
    #[serde(default, deserialize_with = "de_f64")]
    monthly_rate: Option<f64>,
}

impl WireUtilization {
    pub fn into_utilization(self, machine_id: &str, month: BillingMonth) -> Utilization {
        let run = self.utilization.unwrap_or(WireUsage {
            seconds_used: None,
            hourly_rate: None,
            monthly_rate: None,
        });
        let storage = self.storage_utilization;
        Utilization {
            machine_id: machine_id.to_string(),
            billing_month: month,
            seconds_used: run.seconds_used.unwrap_or(0),
            hourly_rate: run.hourly_rate.unwrap_or(0.0),
            storage_seconds_used: storage.as_ref().and_then(|s| s.seconds_used).unwrap_or(0),
            storage_monthly_rate: storage.and_then(|s| s.monthly_rate).unwrap_or(0.0),
        }
    }
}

/// The `getAvailability` answer.
#[derive(Debug, Deserialize)]
pub struct WireAvailability {
    /// `available`: whether the machine type can be created in the region now.
    pub available: bool,
}

/// A template as `getTemplates` returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireTemplate {
    /// `id` of the template, passed as `templateId` to a create.
    id: String,
    /// `name`: e.g. `paperspace/t123abc` for public templates.
    #[serde(default, deserialize_with = "de_string")]
    name: Option<String>,
    /// `label`: human description, e.g. `Ubuntu 22.04 Server`.
    #[serde(default, deserialize_with = "de_string")]
    label: Option<String>,
    /// `os`: the operating system.
    #[serde(default, deserialize_with = "de_string")]
    os: Option<String>,
    /// `region`: where the template is stored; absent from some entries.
    #[serde(default, deserialize_with = "de_string")]
    region: Option<String>,
    /// `teamId`: the owning team; absent from some entries.
    #[serde(default, deserialize_with = "de_string")]
    team_id: Option<String>,
    /// `userId`: the owning user; absent from some entries.
    #[serde(default, deserialize_with = "de_string")]
    user_id: Option<String>,
    /// `dtCreated`: when the template was created.
    #[serde(default, deserialize_with = "de_time")]
    dt_created: Option<DateTime<Utc>>,
}

impl From<WireTemplate> for Template {
    fn from(w: WireTemplate) -> Self {
        Template {
            id: w.id,
            name: w.name.unwrap_or_default(),
            label: w.label,
            os: w.os,
            region: w.region,
            team_id: w.team_id,
            user_id: w.user_id,
            created_at: w.dt_created,
        }
    }
}

/// The `createSingleMachinePublic` body.
pub fn create_body(req: &CreateMachine) -> Value {
    let mut body = Map::new();
    body.insert("machineName".into(), json!(req.name));
    body.insert("region".into(), json!(req.region));
    body.insert("machineType".into(), json!(req.machine_type));
    body.insert("size".into(), json!(req.disk_size_gb));
    body.insert("billingType".into(), json!(req.billing_type.as_str()));
    body.insert("templateId".into(), json!(req.template_id));
    match req.public_ip {
        Some(PublicIpType::Static) => put(&mut body, "assignPublicIp", Some(true)),
        Some(PublicIpType::Dynamic) => put(&mut body, "dynamicPublicIp", Some(true)),
        Some(PublicIpType::None) => {
            put(&mut body, "assignPublicIp", Some(false));
            put(&mut body, "dynamicPublicIp", Some(false));
        }
        None => {}
    }
    put(&mut body, "startOnCreate", req.start_on_create);
    put(&mut body, "networkId", req.network_id.clone());
    put(&mut body, "teamId", req.team_id.clone());
    put(&mut body, "userId", req.user_id.clone());
    put(
        &mut body,
        "notificationEmail",
        req.notification_email.clone(),
    );
    put(&mut body, "scriptId", req.script_id.clone());
    put(&mut body, "takeInitialSnapshot", req.take_initial_snapshot);
    put(
        &mut body,
        "markSnapshotAsRestorePoint",
        req.mark_snapshot_as_restore_point,
    );
    put(
        &mut body,
        "restorePointFrequency",
        req.restore_point_frequency.clone(),
    );
    Value::Object(body)
}

/// The `updateMachinePublic` body; carries `machineId` as the official client does.
pub fn update_body(machine_id: &str, changes: &UpdateMachine) -> Value {
    let mut body = Map::new();
    body.insert("machineId".into(), json!(machine_id));
    put(&mut body, "machineName", changes.name.clone());
    put(
        &mut body,
        "shutdownTimeoutInHours",
        changes.auto_shutdown_timeout_hours,
    );
    put(
        &mut body,
        "shutdownTimeoutForces",
        changes.auto_shutdown_force,
    );
    put(
        &mut body,
        "performAutoSnapshot",
        changes.auto_snapshot_enabled,
    );
    put(
        &mut body,
        "autoSnapshotFrequency",
        changes.auto_snapshot_frequency.clone(),
    );
    put(
        &mut body,
        "autoSnapshotSaveCount",
        changes.auto_snapshot_save_count,
    );
    match changes.public_ip {
        Some(PublicIpType::Static) => {
            put(&mut body, "assignPublicIp", Some(true));
            put(&mut body, "dynamicPublicIp", Some(false));
        }
        Some(PublicIpType::Dynamic) => put(&mut body, "dynamicPublicIp", Some(true)),
        Some(PublicIpType::None) => {
            put(&mut body, "assignPublicIp", Some(false));
            put(&mut body, "dynamicPublicIp", Some(false));
        }
        None => {}
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example object of the official Node client's `show` documentation.
    const NODE_SHOW_EXAMPLE: &str = r#"{
      "id": "ps123abc", "name": "My Machine",
      "os": "Microsoft Windows Server 2016 Datacenter",
      "ram": "8589938688", "cpus": 4, "gpu": "GRID K160Q (2GB)",
      "storageTotal": "53687091200", "storageUsed": "110080",
      "usageRate": "Air monthly", "shutdownTimeoutInHours": 168,
      "shutdownTimeoutForces": false, "performAutoSnapshot": false,
      "autoSnapshotFrequency": null, "autoSnapshotSaveCount": null,
      "agentType": "WindowsDesktop", "dtCreated": "2016-11-18T05:18:29.533Z",
      "state": "ready", "updatesPending": false, "networkId": "n789ghi",
      "privateIpAddress": "10.64.21.47", "publicIpAddress": null,
      "region": "East Coast (NY2)", "userId": "u123abc", "teamId": "te456def",
      "scriptId": "sc123abc", "dtLastRun": "2017-06-30T07:22:49.763Z",
      "dynamicPublicIp": null,
      "events": [{"name": "start", "state": "done", "errorMsg": "",
                  "handle": "8ebe43dd-57c8-4bd4-b770-86b7fd0202e4",
                  "dtModified": "2017-08-16T14:36:24.802Z", "dtFinished": null,
                  "dtCreated": "2017-08-16T14:36:18.373Z"}]
    }"#;

    #[test]
    fn reads_the_documented_machine() {
        let wire: WireMachine = serde_json::from_str(NODE_SHOW_EXAMPLE).unwrap();
        let m = Machine::from(wire);
        assert_eq!(m.id, "ps123abc");
        assert_eq!(m.state, MachineState::Ready);
        assert_eq!(m.ram_bytes, Some(8_589_938_688));
        assert_eq!(m.storage_total_bytes, Some(53_687_091_200));
        assert_eq!(m.machine_type.as_deref(), Some("Air"));
        assert_eq!(m.auto_shutdown_timeout_hours, Some(168.0));
        assert_eq!(m.public_ip, None);
        assert_eq!(m.events.len(), 1);
        assert_eq!(m.events[0].name, "start");
        assert_eq!(m.events[0].error, None);
        assert_eq!(
            m.created_at.unwrap().to_rfc3339(),
            "2016-11-18T05:18:29.533+00:00"
        );
    }

    #[test]
    fn unknown_state_is_kept_and_odd_types_do_not_fail() {
        let m: WireMachine = serde_json::from_str(
            r#"{"id":"ps1","state":"hibernating","ram":8.0,"cpus":"4","dtCreated":"yesterday"}"#,
        )
        .unwrap();
        let m = Machine::from(m);
        assert_eq!(m.state, MachineState::Unknown("hibernating".into()));
        assert_eq!(m.ram_bytes, Some(8));
        assert_eq!(m.cpus, Some(4));
        assert_eq!(m.created_at, None);
    }

    #[test]
    fn utilization_reads_string_and_number_rates() {
        let month: BillingMonth = "2026-03".parse().unwrap();
        let w: WireUtilization = serde_json::from_str(
            r#"{"machineId":"ps1","utilization":{"machineId":"ps1","secondsUsed":3600,"hourlyRate":"0.40","billingMonth":"2026-03"},
               "storageUtilization":{"machineId":"ps1","secondsUsed":7200,"monthlyRate":0,"billingMonth":"2026-03"}}"#,
        )
        .unwrap();
        let u = w.into_utilization("ps1", month);
        assert_eq!(u.seconds_used, 3600);
        assert_eq!(u.hourly_rate, 0.40);
        assert_eq!(u.storage_seconds_used, 7200);
        assert_eq!(u.storage_monthly_rate, 0.0);
    }

    #[test]
    fn create_and_update_bodies_use_legacy_names() {
        let mut req = CreateMachine::new("train-1", "Europe (AMS1)", "P4000", 100, "tkni3aa4");
        req.public_ip = Some(PublicIpType::Dynamic);
        req.start_on_create = Some(false);
        let body = create_body(&req);
        assert_eq!(
            body,
            json!({"machineName":"train-1","region":"Europe (AMS1)","machineType":"P4000","size":100,
                   "billingType":"hourly","templateId":"tkni3aa4","dynamicPublicIp":true,"startOnCreate":false})
        );
        let changes = UpdateMachine {
            name: Some("renamed".into()),
            auto_shutdown_timeout_hours: Some(2.0),
            ..UpdateMachine::default()
        };
        assert_eq!(
            update_body("ps1", &changes),
            json!({"machineId":"ps1","machineName":"renamed","shutdownTimeoutInHours":2.0})
        );
    }
}
