//! Creating, changing and previewing schedules and windows: validation
//! first, then one store write. The admin API calls this; nothing is written
//! when a field is wrong.
//!
//! A dry run (`dry_run_schedule`, `dry_run_window`, `dry_run_override`)
//! goes through the very checks of the write it stands for (the same
//! errors, a name taken included) and stops short of the store: it answers
//! what would be stored, when it would fire, and for an enforced window
//! which running machines enforcement would stop now, decided by the
//! scheduler's own enforcement decision on the machines the daemon last saw.
//!
//! An explicit machine id missing from the daemon's last listing is asked
//! of Paperspace (a show call) before it is refused: a machine created
//! since the listing is accepted, and recorded as seen.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::clock::SharedClock;
use crate::job::{JobKind, SpecError, operation::check_id};
use crate::machine::{Machine, MachineState};
use crate::paperspace::MachineApi;
use crate::schedule::hours::ValidWindow;
use crate::schedule::spec::{
    MisfirePolicy, OverlapPolicy, Schedule, ScheduleContext, ScheduleSpec, ValidSchedule,
    WindowEdge, check_name, parse_cron,
};
use crate::schedule::target::Targets;
use crate::schedule::template::JobTemplate;
use crate::schedule::timing::CronSchedule;
use crate::schedule::window::{
    DEFAULT_ENFORCE_INTERVAL, Override, OverrideRequest, Window, WindowRequest,
};
use crate::store::schedules::{ScheduleRow, WindowRow, Written};
use crate::store::{Store, StoreError};

/// Why a schedule or window request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Invalid(#[from] SpecError),
    #[error("there is no {what} {key}")]
    NotFound { what: &'static str, key: String },
    #[error("the name `{0}` is taken by another schedule or window")]
    NameTaken(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One upcoming firing, in the zone and in UTC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FireTime {
    /// The fire time in UTC.
    pub utc: DateTime<Utc>,
    /// RFC 3339 with the zone's offset, e.g. `2026-03-30T09:00:00+02:00`.
    pub local: String,
    /// For windows: `start` or `stop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<WindowEdge>,
}

/// Most fire times a preview returns.
pub const MAX_PREVIEW: usize = 100;

/// Fire times (or edges) a dry run answers.
const DRY_RUN_FIRINGS: usize = 5;

/// A schedule as a create or replace would store it, with nothing written.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDryRun {
    /// The schedule as it would be stored; a create's `id` is 0 (none yet).
    pub schedule: Schedule,
    /// Its next fire times from now; empty when it would be paused.
    pub next_fire_times: Vec<FireTime>,
}

/// A window as a create or replace would store it, with nothing written.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDryRun {
    /// The window as it would be stored; a create's `id` is 0 (none yet).
    pub window: Window,
    /// Its next openings and closings; empty when it would be paused.
    pub next_edges: Vec<FireTime>,
    /// What enforcement would stop now; empty without enforcement.
    pub would_stop: Vec<WouldStop>,
}

/// A running machine that a window's enforcement would stop now.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct WouldStop {
    /// The Paperspace machine id.
    pub machine_id: String,
    /// Its name at Paperspace, as the daemon last saw it.
    pub name: String,
    /// Its state as the daemon last saw it.
    pub state: MachineState,
    /// Why enforcement stops it, as the firing would record it.
    pub reason: String,
}

/// The schedule or window a request replaces, whose own name it may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    /// A create: every name in use is taken.
    Nothing,
    /// The replace of the schedule with this id.
    Schedule(i64),
    /// The replace of the window with this id.
    Window(i64),
}

/// What Paperspace says of a machine id the last listing lacks.
enum Shown {
    /// It exists: created since the listing.
    Exists,
    /// Paperspace answered that there is no such machine.
    Unknown,
    /// Paperspace could not be asked (no client, or the call failed).
    Unasked,
}

/// Schedules and windows, checked before they are stored.
#[derive(Clone)]
pub struct Registry {
    /// Where checked schedules and windows are stored.
    store: Store,
    /// Source of "now" for previews and next fire times.
    clock: SharedClock,
    /// Defaults, calendars and default zone that validation needs.
    ctx: Arc<ScheduleContext>,
    /// Paperspace, asked of a machine id the last listing lacks; `None`:
    /// such an id is refused without asking.
    api: Option<Arc<dyn MachineApi>>,
    /// Whether a machine Paperspace shows is recorded as seen: not during a
    /// dry run, which writes nothing ([`Self::for_dry_run`]).
    record_seen: bool,
}

/// A window's timing error, named under `hours`.
fn window_error(e: crate::schedule::timing::TimingError) -> SpecError {
    let field = match e {
        crate::schedule::timing::TimingError::BadZone(_) => "hours.zone",
        _ => "hours",
    };
    SpecError::new(field, e.to_string())
}

fn fire_time(cron: &CronSchedule, utc: DateTime<Utc>, edge: Option<WindowEdge>) -> FireTime {
    FireTime {
        utc,
        local: utc.with_timezone(&cron.zone()).to_rfc3339(),
        edge,
    }
}

impl Registry {
    pub fn new(store: Store, clock: SharedClock, ctx: Arc<ScheduleContext>) -> Self {
        Registry {
            store,
            clock,
            ctx,
            api: None,
            record_seen: true,
        }
    }

    /// This registry for a dry run's checks: the same, but it records
    /// nothing, not even a machine a show call found.
    fn for_dry_run(&self) -> Registry {
        Registry {
            record_seen: false,
            ..self.clone()
        }
    }

    /// Asks `api` of a machine id the daemon's last listing lacks before
    /// refusing it.
    pub fn with_api(mut self, api: Arc<dyn MachineApi>) -> Self {
        self.api = Some(api);
        self
    }

    /// Whether Paperspace knows `id`: a show call. A machine it shows is
    /// recorded as seen, so that the next check finds it in the listing.
    async fn show_machine(&self, id: &str) -> Result<Shown, RegistryError> {
        let Some(api) = &self.api else {
            return Ok(Shown::Unasked);
        };
        match api.show(id).await {
            Ok(machine) => {
                if self.record_seen {
                    self.store
                        .see_machines(vec![machine], false, self.clock.now())
                        .await?;
                }
                Ok(Shown::Exists)
            }
            Err(e) if e.is_not_found() => Ok(Shown::Unknown),
            Err(e) => {
                tracing::warn!(machine_id = %id, error = %e, "could not ask Paperspace about a machine id the last listing lacks");
                Ok(Shown::Unasked)
            }
        }
    }

    pub fn context(&self) -> &ScheduleContext {
        &self.ctx
    }

    fn row(&self, valid: &ValidSchedule, now: DateTime<Utc>) -> ScheduleRow {
        let spec = &valid.spec;
        ScheduleRow {
            name: spec.name.clone(),
            cron: valid.cron.expression().to_string(),
            timezone: valid.zone.clone(),
            template: serde_json::to_value(&spec.template).expect("templates serialize"),
            targets: serde_json::to_value(&spec.targets).expect("targets serialize"),
            enabled: spec.enabled,
            jitter_seconds: spec.jitter_seconds,
            exclusions: serde_json::to_value(&spec.exclusions).expect("exclusions serialize"),
            misfire: valid.misfire,
            catch_up_seconds: valid.catch_up.as_secs(),
            overlap: spec.overlap,
            window_id: None,
            window_edge: None,
            next_fire_at: spec.enabled.then(|| valid.cron.next_after(now)).flatten(),
        }
    }

    fn written(
        result: Written<i64>,
        what: &'static str,
        key: &str,
        name: &str,
    ) -> Result<i64, RegistryError> {
        match result {
            Written::Done(id) => Ok(id),
            Written::NotFound => Err(RegistryError::NotFound {
                what,
                key: key.to_string(),
            }),
            Written::NameTaken => Err(RegistryError::NameTaken(name.to_string())),
        }
    }

    async fn fetch_schedule(&self, key: &str) -> Result<Schedule, RegistryError> {
        self.store
            .schedule(key)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: "schedule",
                key: key.to_string(),
            })
    }

    /// A schedule by id or name; window edges too.
    pub async fn schedule(&self, key: &str) -> Result<Schedule, RegistryError> {
        self.fetch_schedule(key).await
    }

    /// Refuses targets naming a group that does not exist, unless it is
    /// the group already stored (`current`): a pause or an edit of other
    /// fields is not refused for it. (Between this read and the write, the
    /// group may be removed; the firing then records why it did nothing.)
    async fn check_group(
        &self,
        targets: &Targets,
        current: Option<&Targets>,
    ) -> Result<(), RegistryError> {
        let Some(name) = &targets.group else {
            return Ok(());
        };
        if current.is_some_and(|c| c.group.as_ref() == Some(name)) {
            return Ok(());
        }
        if self.store.group(name).await?.is_none() {
            return Err(SpecError::new(
                "targets.group",
                format!("no group {name}; create it with `machinist groups add`"),
            )
            .into());
        }
        Ok(())
    }

    /// Refuses machine ids the daemon's last listing of the account does
    /// not hold, or holds as gone, unless `allow_unknown` (a machine created
    /// after the listing) or the id is among those already stored
    /// (`current`: an edit of other fields is not refused for it). An id
    /// the listing lacks is asked of Paperspace first: one it shows was
    /// created since, and is accepted. With no machine known at all, the
    /// account was never listed: nothing is refused. `field(i)` names the
    /// i-th id in the error.
    async fn check_machines(
        &self,
        ids: &[String],
        current: &[String],
        allow_unknown: bool,
        field: impl Fn(usize) -> String,
    ) -> Result<(), RegistryError> {
        if allow_unknown || ids.iter().all(|id| current.contains(id)) {
            return Ok(());
        }
        let known = self.store.machines().await?;
        if known.is_empty() {
            return Ok(());
        }
        for (i, id) in ids.iter().enumerate() {
            if current.contains(id) {
                continue;
            }
            let why = match known.iter().find(|k| &k.machine.id == id) {
                Some(k) => match k.gone_at {
                    Some(gone) => format!("{id} is gone since {}", gone.to_rfc3339()),
                    None => continue,
                },
                None => match self.show_machine(id).await? {
                    Shown::Exists => continue,
                    Shown::Unknown => format!(
                        "no machine {id} in the daemon's last listing of the account, \
                         nor at Paperspace"
                    ),
                    Shown::Unasked => {
                        format!("no machine {id} in the daemon's last listing of the account")
                    }
                },
            };
            return Err(SpecError::new(
                field(i),
                format!(
                    "{why}; run `machinist jobs submit refresh` if it is new, \
                     or pass --allow-unknown (allow_unknown: true) for a machine created later"
                ),
            )
            .into());
        }
        Ok(())
    }

    /// [`Self::check_machines`] for the explicit ids of `targets`.
    async fn check_target_machines(
        &self,
        targets: &Targets,
        current: Option<&Targets>,
        allow_unknown: bool,
    ) -> Result<(), RegistryError> {
        let current = current.map(|c| c.machine_ids.as_slice()).unwrap_or(&[]);
        self.check_machines(&targets.machine_ids, current, allow_unknown, |i| {
            format!("targets.machine_ids[{i}]")
        })
        .await
    }

    /// Checks `spec` as a create (`current` `None`) or a replace of
    /// `current` would: every check of the write but the store's own.
    async fn check_schedule(
        &self,
        spec: ScheduleSpec,
        current: Option<&Schedule>,
    ) -> Result<ValidSchedule, RegistryError> {
        if let Some(current) = current
            && current.window_id.is_some()
        {
            return Err(RegistryError::Conflict(format!(
                "schedule {} belongs to a window; change the window instead",
                current.name
            )));
        }
        let valid = spec.validate(&self.ctx)?;
        let stored = current.map(|c| &c.targets);
        self.check_group(&valid.spec.targets, stored).await?;
        self.check_target_machines(&valid.spec.targets, stored, valid.spec.allow_unknown)
            .await?;
        Ok(valid)
    }

    pub async fn create_schedule(&self, spec: ScheduleSpec) -> Result<Schedule, RegistryError> {
        let valid = self.check_schedule(spec, None).await?;
        let now = self.clock.now();
        let name = valid.spec.name.clone();
        let id = Self::written(
            self.store
                .create_schedule(self.row(&valid, now), now)
                .await?,
            "schedule",
            &name,
            &name,
        )?;
        self.fetch_schedule(&id.to_string()).await
    }

    /// Replaces a schedule's definition; its firing history stays.
    pub async fn update_schedule(
        &self,
        key: &str,
        spec: ScheduleSpec,
    ) -> Result<Schedule, RegistryError> {
        let current = self.fetch_schedule(key).await?;
        let valid = self.check_schedule(spec, Some(&current)).await?;
        let now = self.clock.now();
        let name = valid.spec.name.clone();
        Self::written(
            self.store
                .update_schedule(current.id, self.row(&valid, now), now)
                .await?,
            "schedule",
            key,
            &name,
        )?;
        self.fetch_schedule(&current.id.to_string()).await
    }

    /// Refuses `name` when another schedule or window than `own` (the
    /// schedule or window being replaced) holds it, as the store would.
    async fn check_name_free(&self, name: &str, own: Own) -> Result<(), RegistryError> {
        let schedule = self.store.schedule(name).await?;
        let window = self.store.window(name).await?;
        let taken = schedule.is_some_and(|s| own != Own::Schedule(s.id) && s.window_id.is_none())
            || window.is_some_and(|w| own != Own::Window(w.id));
        if taken {
            return Err(RegistryError::NameTaken(name.to_string()));
        }
        Ok(())
    }

    /// What creating (`key` `None`) or replacing the schedule at `key` with
    /// `spec` would store, and when it would fire; nothing is written.
    pub async fn dry_run_schedule(
        &self,
        key: Option<&str>,
        spec: ScheduleSpec,
    ) -> Result<ScheduleDryRun, RegistryError> {
        let current = match key {
            Some(key) => Some(self.fetch_schedule(key).await?),
            None => None,
        };
        let valid = self
            .for_dry_run()
            .check_schedule(spec, current.as_ref())
            .await?;
        let own = current
            .as_ref()
            .map_or(Own::Nothing, |c| Own::Schedule(c.id));
        self.check_name_free(&valid.spec.name, own).await?;
        let now = self.clock.now();
        let row = self.row(&valid, now);
        let schedule = Schedule {
            id: current.as_ref().map_or(0, |c| c.id),
            name: row.name,
            cron: row.cron,
            timezone: row.timezone,
            template: valid.spec.template.clone(),
            targets: valid.spec.targets.clone(),
            enabled: row.enabled,
            jitter_seconds: row.jitter_seconds,
            exclusions: valid.spec.exclusions.clone(),
            misfire: row.misfire,
            catch_up_seconds: row.catch_up_seconds,
            overlap: row.overlap,
            window_id: None,
            window_edge: None,
            next_fire_at: row.next_fire_at,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let next_fire_times = if schedule.enabled {
            self.upcoming(&schedule, DRY_RUN_FIRINGS).await?
        } else {
            Vec::new()
        };
        Ok(ScheduleDryRun {
            schedule,
            next_fire_times,
        })
    }

    /// Pauses (`false`) or resumes (`true`) a schedule; a resumed schedule
    /// fires next at its next time from now, not for the paused stretch.
    pub async fn set_enabled(&self, key: &str, enabled: bool) -> Result<Schedule, RegistryError> {
        let current = self.fetch_schedule(key).await?;
        if current.window_id.is_some() {
            return Err(RegistryError::Conflict(format!(
                "schedule {} belongs to a window; pause or resume the window instead",
                current.name
            )));
        }
        let now = self.clock.now();
        let next = if enabled {
            let cron = current.timing()?;
            Some(
                cron.next_after(now)
                    .ok_or_else(|| SpecError::new("cron", "the expression never fires again"))?,
            )
        } else {
            None
        };
        Self::written(
            self.store
                .set_schedule_enabled(current.id, next, now)
                .await?,
            "schedule",
            key,
            &current.name,
        )?;
        self.fetch_schedule(&current.id.to_string()).await
    }

    pub async fn delete_schedule(&self, key: &str) -> Result<(), RegistryError> {
        let current = self.fetch_schedule(key).await?;
        if current.window_id.is_some() {
            return Err(RegistryError::Conflict(format!(
                "schedule {} belongs to a window; delete the window instead",
                current.name
            )));
        }
        Self::written(
            self.store.delete_schedule(current.id).await?,
            "schedule",
            key,
            &current.name,
        )?;
        Ok(())
    }

    /// The next `n` fire times of an expression in a zone (before saving it).
    pub fn preview_expression(
        &self,
        cron: &str,
        zone: Option<&str>,
        n: usize,
    ) -> Result<Vec<FireTime>, RegistryError> {
        let zone = zone.unwrap_or(&self.ctx.default_zone);
        let parsed = parse_cron(cron, zone)?;
        let now = self.clock.now();
        Ok(parsed
            .upcoming(now, n.min(MAX_PREVIEW))
            .into_iter()
            .map(|t| fire_time(&parsed, t, None))
            .collect())
    }

    /// The next `n` fire times of a stored schedule.
    pub async fn preview_schedule(
        &self,
        key: &str,
        n: usize,
    ) -> Result<Vec<FireTime>, RegistryError> {
        let schedule = self.fetch_schedule(key).await?;
        self.upcoming(&schedule, n).await
    }

    /// The next `n` fire times of `schedule`, stored or not.
    async fn upcoming(
        &self,
        schedule: &Schedule,
        n: usize,
    ) -> Result<Vec<FireTime>, RegistryError> {
        let hours = match schedule.window_id {
            Some(id) => self
                .store
                .window(&id.to_string())
                .await?
                .and_then(|w| w.hours.validate().ok()),
            None => None,
        };
        self.upcoming_in(schedule, hours.as_ref(), n)
    }

    /// The next `n` fire times of `schedule` whose window has the hours
    /// `hours` (`None` for a schedule of its own), without reading the
    /// store: what a page listing many schedules previews each with.
    pub fn upcoming_in(
        &self,
        schedule: &Schedule,
        hours: Option<&ValidWindow>,
        n: usize,
    ) -> Result<Vec<FireTime>, RegistryError> {
        let cron = schedule.timing()?;
        // Excluded days do not fire, so they are not previewed either; a
        // window's edge belongs to the day the window opens. Nor do a
        // window's idle edges (a window collapsed by a DST change).
        let excluded = |t: DateTime<Utc>| {
            let day = schedule.exclusion_day(t, cron.zone(), hours);
            schedule.exclusions.excludes_date(day, &self.ctx.calendars)
                || hours.zip(schedule.window_edge).is_some_and(|(h, edge)| {
                    h.idle_edge(edge.into(), t, &schedule.exclusions, &self.ctx.calendars)
                        .is_some()
                })
        };
        let n = n.min(MAX_PREVIEW);
        let mut times = Vec::with_capacity(n);
        let mut after = self.clock.now();
        // Bounded: a schedule whose every firing is excluded previews nothing.
        for _ in 0..n * 50 {
            let Some(t) = cron.next_after(after) else {
                break;
            };
            after = t;
            if !excluded(t) {
                times.push(fire_time(&cron, t, schedule.window_edge));
                if times.len() == n {
                    break;
                }
            }
        }
        Ok(times)
    }

    fn window_row(
        &self,
        request: &WindowRequest,
        now: DateTime<Utc>,
    ) -> Result<WindowRow, RegistryError> {
        let name = check_name(&request.name, "window")?.to_string();
        let valid = request.hours.validate().map_err(window_error)?;
        request.targets.validate(true, "window")?;
        request
            .exclusions
            .validate(&self.ctx.calendars)
            .map_err(|e| SpecError::new("exclusions", e.to_string()))?;
        let interval = request
            .enforce_interval_seconds
            .unwrap_or(DEFAULT_ENFORCE_INTERVAL);
        if !(10..=86_400).contains(&interval) {
            return Err(SpecError::new("enforce_interval_seconds", "between 10 and 86400").into());
        }
        let edge = |edge: WindowEdge, cron: CronSchedule, kind: JobKind| ScheduleRow {
            name: format!("window:{name}:{}", edge.as_str()),
            cron: cron.expression().to_string(),
            timezone: cron.zone().name().to_string(),
            template: json!({"kind": kind.as_str()}),
            targets: serde_json::to_value(&request.targets).expect("targets serialize"),
            enabled: request.enabled,
            jitter_seconds: 0,
            exclusions: serde_json::to_value(&request.exclusions).expect("exclusions serialize"),
            misfire: MisfirePolicy::RunOnce,
            catch_up_seconds: JobTemplate::default_catch_up(kind).as_secs(),
            overlap: OverlapPolicy::Skip,
            window_id: None,
            window_edge: Some(edge),
            next_fire_at: request.enabled.then(|| cron.next_after(now)).flatten(),
        };
        Ok(WindowRow {
            name: name.clone(),
            spec: serde_json::to_value(&request.hours).expect("windows serialize"),
            targets: serde_json::to_value(&request.targets).expect("targets serialize"),
            exclusions: serde_json::to_value(&request.exclusions).expect("exclusions serialize"),
            enforce: request.enforce,
            enforce_interval_seconds: interval,
            enabled: request.enabled,
            next_enforce_at: (request.enforce && request.enabled).then_some(now),
            start: edge(WindowEdge::Start, valid.start_schedule(), JobKind::Start),
            stop: edge(WindowEdge::Stop, valid.stop_schedule(), JobKind::Stop),
        })
    }

    async fn fetch_window(&self, key: &str) -> Result<Window, RegistryError> {
        self.store
            .window(key)
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: "window",
                key: key.to_string(),
            })
    }

    pub async fn window(&self, key: &str) -> Result<Window, RegistryError> {
        self.fetch_window(key).await
    }

    /// Checks `request` as a create (`current` `None`) or a replace of
    /// `current` would, and the row it would store.
    async fn check_window(
        &self,
        request: &WindowRequest,
        current: Option<&Window>,
        now: DateTime<Utc>,
    ) -> Result<WindowRow, RegistryError> {
        let row = self.window_row(request, now)?;
        let stored = current.map(|c| &c.targets);
        self.check_group(&request.targets, stored).await?;
        self.check_target_machines(&request.targets, stored, request.allow_unknown)
            .await?;
        Ok(row)
    }

    pub async fn create_window(&self, request: WindowRequest) -> Result<Window, RegistryError> {
        let now = self.clock.now();
        let row = self.check_window(&request, None, now).await?;
        let name = row.name.clone();
        let id = Self::written(
            self.store.create_window(row, now).await?,
            "window",
            &name,
            &name,
        )?;
        self.fetch_window(&id.to_string()).await
    }

    pub async fn update_window(
        &self,
        key: &str,
        request: WindowRequest,
    ) -> Result<Window, RegistryError> {
        let current = self.fetch_window(key).await?;
        let now = self.clock.now();
        let row = self.check_window(&request, Some(&current), now).await?;
        let name = row.name.clone();
        Self::written(
            self.store.update_window(current.id, row, now).await?,
            "window",
            key,
            &name,
        )?;
        self.fetch_window(&current.id.to_string()).await
    }

    /// What creating (`key` `None`) or replacing the window at `key` with
    /// `request` would store, its next edges, and, with enforcement, which
    /// running machines enforcement would stop now: the scheduler's own
    /// decision, on the machines the daemon last saw (not gone) and the
    /// replaced window's overrides in force. Nothing is written.
    pub async fn dry_run_window(
        &self,
        key: Option<&str>,
        request: WindowRequest,
    ) -> Result<WindowDryRun, RegistryError> {
        let current = match key {
            Some(key) => Some(self.fetch_window(key).await?),
            None => None,
        };
        let now = self.clock.now();
        let row = self
            .for_dry_run()
            .check_window(&request, current.as_ref(), now)
            .await?;
        let own = current.as_ref().map_or(Own::Nothing, |c| Own::Window(c.id));
        self.check_name_free(&row.name, own).await?;
        let window = Window {
            id: current.as_ref().map_or(0, |c| c.id),
            name: row.name,
            hours: request.hours,
            targets: request.targets,
            enforce: row.enforce,
            enforce_interval_seconds: row.enforce_interval_seconds,
            exclusions: request.exclusions,
            enabled: row.enabled,
            next_enforce_at: row.next_enforce_at,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        let valid = window.hours.validate().map_err(window_error)?;
        let next_edges = if window.enabled {
            self.edges(&window, &valid, DRY_RUN_FIRINGS)
        } else {
            Vec::new()
        };
        let mut would_stop = Vec::new();
        if window.enforce && window.enabled {
            let machines: Vec<Machine> = self
                .store
                .machines()
                .await?
                .into_iter()
                .filter(|k| k.gone_at.is_none())
                .map(|k| k.machine)
                .collect();
            let overrides = match &current {
                Some(c) => self.store.overrides(c.id, Some(now)).await?,
                None => Vec::new(),
            };
            let group = match &window.targets.group {
                Some(name) => self.store.group(name).await?,
                None => None,
            };
            let stops = super::enforcement_stops(
                &self.store,
                &self.ctx.calendars,
                &window,
                &valid,
                now,
                &machines,
                &overrides,
                group.as_ref(),
            )
            .await?;
            would_stop = stops
                .into_iter()
                .map(|stop| WouldStop {
                    machine_id: stop.machine.id.clone(),
                    name: stop.machine.name.clone(),
                    state: stop.machine.state.clone(),
                    reason: stop.reason,
                })
                .collect();
        }
        Ok(WindowDryRun {
            window,
            next_edges,
            would_stop,
        })
    }

    /// Pauses or resumes a window: its edges and its enforcement.
    pub async fn set_window_enabled(
        &self,
        key: &str,
        enabled: bool,
    ) -> Result<Window, RegistryError> {
        let current = self.fetch_window(key).await?;
        let request = WindowRequest {
            name: current.name.clone(),
            hours: current.hours.clone(),
            targets: current.targets.clone(),
            enforce: current.enforce,
            enforce_interval_seconds: Some(current.enforce_interval_seconds),
            exclusions: current.exclusions.clone(),
            enabled,
            // Its targets were checked when they were stored.
            allow_unknown: true,
        };
        self.update_window(&current.id.to_string(), request).await
    }

    pub async fn delete_window(&self, key: &str) -> Result<(), RegistryError> {
        let current = self.fetch_window(key).await?;
        Self::written(
            self.store.delete_window(current.id).await?,
            "window",
            key,
            &current.name,
        )?;
        Ok(())
    }

    /// The next `n` edges of a window.
    pub async fn preview_window(
        &self,
        key: &str,
        n: usize,
    ) -> Result<Vec<FireTime>, RegistryError> {
        let window = self.fetch_window(key).await?;
        let valid = window.hours.validate().map_err(window_error)?;
        Ok(self.edges(&window, &valid, n))
    }

    /// The next `n` edges of `window` (its hours `valid`), stored or not.
    pub fn edges(&self, window: &Window, valid: &ValidWindow, n: usize) -> Vec<FireTime> {
        let zone_cron = valid.start_schedule();
        let now = self.clock.now();
        valid
            .upcoming_edges_excluding(
                now,
                n.min(MAX_PREVIEW),
                &window.exclusions,
                &self.ctx.calendars,
            )
            .into_iter()
            .map(|(edge, t)| fire_time(&zone_cron, t, Some(edge.into())))
            .collect()
    }

    /// Checks an override for the window at `key`: the window, and when
    /// the override would expire.
    async fn check_override(
        &self,
        key: &str,
        request: &OverrideRequest,
        now: DateTime<Utc>,
    ) -> Result<(Window, DateTime<Utc>), RegistryError> {
        let window = self.fetch_window(key).await?;
        check_id("machine_id", &request.machine_id)?;
        let until = match (request.until, request.hours) {
            (Some(_), Some(_)) => {
                return Err(SpecError::new("hours", "give until or hours, not both").into());
            }
            (Some(until), None) => until,
            (None, Some(hours)) => {
                if !(hours.is_finite() && hours > 0.0 && hours <= 24.0 * 31.0) {
                    return Err(SpecError::new("hours", "between 0 and 744 (31 days)").into());
                }
                now + chrono::Duration::milliseconds((hours * 3_600_000.0).ceil() as i64)
            }
            (None, None) => {
                return Err(
                    SpecError::new("until", "give until (a time) or hours (from now)").into(),
                );
            }
        };
        if until <= now {
            return Err(SpecError::new("until", "must be in the future").into());
        }
        if until - now > chrono::Duration::days(31) {
            return Err(SpecError::new("until", "at most 31 days ahead").into());
        }
        request.check_reason()?;
        self.check_machines(
            std::slice::from_ref(&request.machine_id),
            &[],
            request.allow_unknown,
            |_| "machine_id".to_string(),
        )
        .await?;
        Ok((window, until))
    }

    /// Adds an override to a window.
    pub async fn add_override(
        &self,
        key: &str,
        request: OverrideRequest,
    ) -> Result<Override, RegistryError> {
        let now = self.clock.now();
        let (window, until) = self.check_override(key, &request, now).await?;
        let id = Self::written(
            self.store
                .add_override(
                    window.id,
                    request.machine_id,
                    request.mode,
                    until,
                    request.reason,
                    now,
                )
                .await?,
            "window",
            key,
            &window.name,
        )?;
        let overrides = self.store.overrides(window.id, None).await?;
        overrides
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| RegistryError::NotFound {
                what: "override",
                key: id.to_string(),
            })
    }

    /// The override `request` would add to the window at `key` (`id` 0:
    /// none yet); nothing is written.
    pub async fn dry_run_override(
        &self,
        key: &str,
        request: OverrideRequest,
    ) -> Result<Override, RegistryError> {
        let now = self.clock.now();
        let (window, until) = self
            .for_dry_run()
            .check_override(key, &request, now)
            .await?;
        Ok(Override {
            id: 0,
            window_id: window.id,
            machine_id: request.machine_id,
            mode: request.mode,
            until,
            reason: request.reason,
            created_at: now,
        })
    }

    pub async fn delete_override(&self, key: &str, id: i64) -> Result<(), RegistryError> {
        let window = self.fetch_window(key).await?;
        Self::written(
            self.store.delete_override(window.id, id).await?,
            "override",
            &id.to_string(),
            "",
        )?;
        Ok(())
    }
}
