//! The simulated account as a pure state machine over time.
//!
//! Every operation takes the current instant `now` from the caller and first
//! settles whatever transitions fell due by then, so nothing changes between
//! calls: with a manual clock a test decides exactly when a machine becomes
//! `ready`, and with the real clock it simply happens on the next request. No
//! background task exists.
//!
//! This module knows nothing of HTTP or of either API's wire format; the
//! legacy routes (and later the v1 routes) validate JSON types, call in here
//! with typed requests, and render the [`SimMachine`]s they get back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::Timings;
use super::catalog::{self, MachineType, Template};
use crate::machine::{BillingMonth, MachineState};

/// How a machine is billed; legacy only, shown in `usageRate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingType {
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

/// How often automatic snapshots are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFrequency {
    Hour,
    Day,
    Week,
}

impl SnapshotFrequency {
    /// The legacy spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotFrequency::Hour => "hour",
            SnapshotFrequency::Day => "day",
            SnapshotFrequency::Week => "week",
        }
    }

    /// Parses the legacy spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(SnapshotFrequency::Hour),
            "day" => Some(SnapshotFrequency::Day),
            "week" => Some(SnapshotFrequency::Week),
            _ => None,
        }
    }
}

/// Which public address a new machine gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicIp {
    /// Private address only.
    None,
    /// A static address kept until released.
    Static,
    /// An address assigned at each start and released at each stop.
    Dynamic,
}

/// The operation a [`AccountError::WrongState`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Restart,
    Destroy,
    Update,
    SetAccess,
    ForceShutdown,
    Upgrade,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
            Op::Destroy => "destroy",
            Op::Update => "update",
            Op::SetAccess => "change access to",
            Op::ForceShutdown => "force shut down",
            Op::Upgrade => "change the machine type or disk of",
        })
    }
}

/// A request field that failed a semantic check; each API maps it to its own
/// parameter name (`size` in legacy, `diskSize` in v1, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Region,
    MachineType,
    DiskSize,
    Template,
    User,
    Team,
    PublicIp,
    ShutdownTimeout,
    SnapshotSaveCount,
}

/// Why the account refused an operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountError {
    /// A value of the right type but not acceptable.
    #[error("{problem}")]
    Invalid {
        /// Which request field, so the API can name it in its own spelling.
        field: Field,
        /// What is wrong with it, without the field's name.
        problem: String,
    },
    #[error("templateId not found")]
    TemplateNotFound(String),
    #[error("machine {0} not found")]
    MachineNotFound(String),
    #[error("User not found")]
    UserNotFound(String),
    /// The machine is in a state that does not allow the operation.
    #[error("Cannot {op} machine {machine_id} while it is {situation}")]
    WrongState {
        /// What was refused.
        op: Op,
        /// Which machine, so the message can name it.
        machine_id: String,
        /// Its state (`provisioning`, …) or `being destroyed (state ready)`.
        situation: String,
    },
    #[error("{machine_type} machines are not available in {region} right now")]
    Unavailable {
        /// The region asked for.
        region: String,
        /// The type asked for.
        machine_type: String,
    },
    /// The account is not in good standing: creates and starts are refused
    /// (v1 answers 403 `FORBIDDEN`), with Paperspace's messages.
    #[error("{0}")]
    NotInGoodStanding(String),
    /// Past history that cannot be recorded as given (out of order, in the
    /// future, or not possible from the machine's state then).
    #[error("{0}")]
    BadHistory(String),
}

fn invalid(field: Field, problem: impl Into<String>) -> AccountError {
    AccountError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// What a machine becomes when its pending transition completes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A new state (`ready`, `off`).
    State(MachineState),
    /// Removed from the account (the end of a destroy).
    Gone,
}

/// A transition under way.
#[derive(Debug, Clone)]
pub struct Pending {
    /// What the machine becomes.
    pub target: Target,
    /// When it becomes it (unless the machine is stuck).
    pub due: DateTime<Utc>,
    /// Index into [`SimMachine::events`] of the event this transition completes.
    event: usize,
}

/// Progress of a machine event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    InProgress,
    Done,
    /// Superseded by a later operation (e.g. a stop while starting).
    Cancelled,
    /// Failed at Paperspace (injected with [`Account::fail_pending`]).
    Error,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::InProgress => "in progress",
            EventState::Done => "done",
            EventState::Cancelled => "cancelled",
            EventState::Error => "error",
        }
    }
}

/// One operation on a machine, as `show` reports it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unique id (`handle` in legacy).
    pub handle: String,
    /// `create`, `start`, `stop`, `restart`, `vm-shutdown-force`,
    /// `vm-upgrade` or `deactivate` (destroy), as v1 names them.
    pub name: &'static str,
    /// Whether it has finished.
    pub state: EventState,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// Last change of `state`.
    pub modified_at: DateTime<Utc>,
    /// When it finished; `None` while in progress.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, when `state` is [`EventState::Error`].
    pub error: Option<String>,
}

/// A span of time the machine was billed for running.
///
/// The billing model, which the legacy utilization, the ground truth
/// ([`Account::usage`]) and the v1 events all follow: a run opens when a
/// start or restart (or a create that starts the machine) completes, at its
/// event's `dtFinished`, and closes when a stop, forced shutdown or destroy
/// is requested, at that event's `dtStarted`. A restart of a running
/// machine does not close it; a start cancelled or failed before it
/// completes never opens one; a stop that fails reopens the run it closed.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// When the start (restart, create) that opened it completed.
    pub from: DateTime<Utc>,
    /// When the stop (forced shutdown, destroy) was requested; `None` while still running.
    pub to: Option<DateTime<Utc>>,
}

/// The prices in force from an instant on: set at creation and by every
/// `vm-upgrade` (machine type or disk change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// When these prices took effect.
    pub from: DateTime<Utc>,
    /// Cents per hour of running.
    pub hourly_cents: u32,
    /// Cents per month of storage.
    pub storage_monthly_cents: u32,
}

/// One machine and its whole history.
#[derive(Debug, Clone)]
pub struct SimMachine {
    /// e.g. `psq3kz0a1`.
    pub id: String,
    /// Free text; not unique, like Paperspace.
    pub name: String,
    /// Hardware and hourly rate.
    pub machine_type: &'static MachineType,
    /// Canonical region name.
    pub region: &'static str,
    /// OS, agent type and disk use.
    pub template: &'static Template,
    /// Disk size; decides the storage rate.
    pub size_gb: u32,
    /// Shown in `usageRate`.
    pub billing_type: BillingType,
    /// The current (settled) state.
    pub state: MachineState,
    /// The transition under way, if any.
    pub pending: Option<Pending>,
    /// A stuck machine never completes its pending transition (fault injection).
    pub stuck: bool,
    /// Set by destroy; the machine stays visible until its removal is due.
    pub destroying: bool,
    /// When it was removed; from then on it is invisible to the API.
    pub gone_at: Option<DateTime<Utc>>,
    /// Creation instant; storage is billed from here.
    pub created_at: DateTime<Utc>,
    /// Running spans, oldest first, for utilization.
    pub runs: Vec<Run>,
    /// Prices over time, oldest first; the last is in force now.
    pub prices: Vec<Price>,
    /// How many of `events` are in the account's event index.
    indexed_events: usize,
    /// Idle hours before an automatic shutdown (`None`: never).
    pub shutdown_timeout_hours: Option<f64>,
    /// Whether that shutdown ignores open sessions.
    pub shutdown_timeout_forces: bool,
    /// Whether automatic snapshots are on.
    pub perform_auto_snapshot: bool,
    /// Their cadence.
    pub auto_snapshot_frequency: Option<SnapshotFrequency>,
    /// How many are kept.
    pub auto_snapshot_save_count: Option<f64>,
    /// A static public address, kept across stops.
    pub static_ip: Option<String>,
    /// Whether an address is assigned at each start instead.
    pub dynamic_public_ip: bool,
    /// The dynamic address while running.
    pub dynamic_ip: Option<String>,
    /// Always assigned; shown once provisioned.
    pub private_ip: String,
    /// As given at create.
    pub network_id: Option<String>,
    /// The assigned user (the owner unless one was named).
    pub user_id: String,
    /// The team.
    pub team_id: String,
    /// Startup script, as given at create.
    pub script_id: Option<String>,
    /// When it last became ready (reported as `dtLastRun` when a script is set).
    pub last_ready_at: Option<DateTime<Utc>>,
    /// Users granted access besides the assigned user.
    pub accessors: BTreeSet<String>,
    /// Operations, oldest first.
    pub events: Vec<Event>,
}

impl SimMachine {
    /// Visible to the API: not yet removed.
    pub fn is_visible(&self) -> bool {
        self.gone_at.is_none()
    }

    /// The public address right now, static or dynamic.
    pub fn public_ip(&self) -> Option<&str> {
        self.static_ip.as_deref().or(self.dynamic_ip.as_deref())
    }

    /// Hourly rate in cents.
    pub fn hourly_cents(&self) -> u32 {
        self.machine_type.hourly_cents
    }

    /// Monthly storage rate in cents.
    pub fn storage_monthly_cents(&self) -> u32 {
        catalog::storage_monthly_cents(self.size_gb)
    }

    fn situation(&self) -> String {
        if self.destroying {
            format!("being destroyed (state {})", self.state)
        } else {
            self.state.to_string()
        }
    }

    fn refuse(&self, op: Op) -> AccountError {
        AccountError::WrongState {
            op,
            machine_id: self.id.clone(),
            situation: self.situation(),
        }
    }

    /// Completes the pending transition if it is due and not stuck.
    fn settle(&mut self, now: DateTime<Utc>, rng: &mut StdRng) {
        if self.stuck {
            return;
        }
        let Some(pending) = self.pending.take_if(|p| p.due <= now) else {
            return;
        };
        let at = pending.due;
        let event = &mut self.events[pending.event];
        event.state = EventState::Done;
        event.modified_at = at;
        event.finished_at = Some(at);
        match pending.target {
            Target::State(state) => {
                let up = state == MachineState::Ready;
                self.set_state(state, at, rng);
                if up {
                    // A start, a restart, or a create that starts the machine.
                    self.open_run(at);
                }
            }
            Target::Gone => {
                self.close_run(at);
                self.dynamic_ip = None;
                self.gone_at = Some(at);
            }
        }
    }

    /// Moves to `state` at `at`, assigning or releasing a dynamic address.
    /// Billing runs are opened and closed by the operations, not here.
    fn set_state(&mut self, state: MachineState, at: DateTime<Utc>, rng: &mut StdRng) {
        let was_running = self.state.is_running();
        let running = state.is_running();
        if !was_running && running {
            if self.dynamic_public_ip {
                self.dynamic_ip = Some(public_address(rng));
            }
        } else if was_running && !running {
            self.dynamic_ip = None;
        }
        if state == MachineState::Ready {
            self.last_ready_at = Some(at);
        }
        self.state = state;
    }

    /// Opens a billed run at `at` unless one is open (a restart's completion).
    fn open_run(&mut self, at: DateTime<Utc>) {
        if self.runs.last().is_none_or(|r| r.to.is_some()) {
            self.runs.push(Run { from: at, to: None });
        }
    }

    /// Closes the open run, if any, at `at`.
    fn close_run(&mut self, at: DateTime<Utc>) {
        if let Some(run) = self.runs.last_mut().filter(|r| r.to.is_none()) {
            run.to = Some(at);
        }
    }

    /// Records prices in force from `at` (creation, a `vm-upgrade`).
    fn price_from(&mut self, at: DateTime<Utc>) {
        let price = Price {
            from: at,
            hourly_cents: self.hourly_cents(),
            storage_monthly_cents: self.storage_monthly_cents(),
        };
        match self.prices.last_mut() {
            Some(last) if last.from == at => *last = price,
            _ => self.prices.push(price),
        }
    }

    /// Drops the pending transition, marking its event cancelled.
    fn cancel_pending(&mut self, now: DateTime<Utc>) {
        if let Some(pending) = self.pending.take() {
            let event = &mut self.events[pending.event];
            event.state = EventState::Cancelled;
            event.modified_at = now;
            event.finished_at = Some(now);
        }
    }

    /// Records a new in-progress event and the transition that completes it.
    fn begin(
        &mut self,
        name: &'static str,
        target: Target,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
        rng: &mut StdRng,
    ) {
        self.events.push(Event {
            handle: event_handle(rng),
            name,
            state: EventState::InProgress,
            created_at: now,
            modified_at: now,
            finished_at: None,
            error: None,
        });
        self.pending = Some(Pending {
            target,
            due,
            event: self.events.len() - 1,
        });
    }

    /// Milliseconds of running and of existing within `[from, to)`, up to `now`.
    fn usage_millis(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (i64, i64) {
        let to = to.min(now);
        let overlap = |a: DateTime<Utc>, b: DateTime<Utc>| {
            let (a, b) = (a.max(from), b.min(to));
            (b - a).num_milliseconds().max(0)
        };
        let running = self
            .runs
            .iter()
            .map(|r| overlap(r.from, r.to.unwrap_or(now)))
            .sum();
        let existing = overlap(self.created_at, self.gone_at.unwrap_or(now));
        (running, existing)
    }

    /// Milliseconds of `[a, b)` under each price in force, clipped to
    /// `[from, to)`: one entry per price period the span touches.
    fn priced_millis(
        &self,
        a: DateTime<Utc>,
        b: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(i64, Price)> {
        let (a, b) = (a.max(from), b.min(to));
        if b <= a {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, price) in self.prices.iter().enumerate() {
            let start = if i == 0 { a } else { price.from.max(a) };
            let end = self.prices.get(i + 1).map_or(b, |next| next.from.min(b));
            if end > start {
                out.push(((end - start).num_milliseconds(), *price));
            }
        }
        out
    }

    /// What the machine cost in `month`, up to `now`, each span priced with
    /// the prices in force over it.
    fn truth(&self, month: BillingMonth, now: DateTime<Utc>) -> SimUsage {
        let (from, to) = (month.start(), month.end().min(now));
        let month_millis = (month.end() - month.start()).num_milliseconds() as f64;
        let mut usage = SimUsage {
            id: self.id.clone(),
            name: self.name.clone(),
            machine_type: self.machine_type.name.to_string(),
            running_seconds: 0.0,
            compute_cost: 0.0,
            storage_seconds: 0.0,
            storage_cost: 0.0,
            total: 0.0,
        };
        for run in &self.runs {
            for (millis, price) in self.priced_millis(run.from, run.to.unwrap_or(now), from, to) {
                usage.running_seconds += millis as f64 / 1000.0;
                usage.compute_cost +=
                    millis as f64 / 3_600_000.0 * f64::from(price.hourly_cents) / 100.0;
            }
        }
        let gone = self.gone_at.unwrap_or(now);
        for (millis, price) in self.priced_millis(self.created_at, gone, from, to) {
            usage.storage_seconds += millis as f64 / 1000.0;
            usage.storage_cost +=
                millis as f64 / month_millis * f64::from(price.storage_monthly_cents) / 100.0;
        }
        usage.total = usage.compute_cost + usage.storage_cost;
        usage
    }
}

/// What one machine cost in one month, as the simulator knows it: the
/// ground truth a meter is checked against (`GET /_sim/usage`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimUsage {
    /// The machine's id.
    pub id: String,
    /// Its name (the latest).
    pub name: String,
    /// Its machine type now (after any `vm-upgrade`).
    pub machine_type: String,
    /// Seconds billed for running within the month (see [`Run`]).
    pub running_seconds: f64,
    /// Dollars for those seconds, each span at the hourly price then in force.
    pub compute_cost: f64,
    /// Seconds the machine existed (its disk was billed) within the month.
    pub storage_seconds: f64,
    /// Dollars of storage: seconds over the month's seconds times the
    /// monthly storage price then in force.
    pub storage_cost: f64,
    /// `compute_cost + storage_cost`.
    pub total: f64,
}

/// Something done to a machine from outside Machinist (the Paperspace
/// console, auto-shutdown), or recorded as its past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutsideAction {
    /// `start`: `off` → `ready`.
    Start,
    /// `stop`: → `off`.
    Stop,
    /// `restart`: `ready` → `ready`, still billed throughout.
    Restart,
    /// `vm-shutdown-force`: → `off` after the stop timing, billing ends at once.
    ForceShutdown,
    /// `vm-upgrade`: a new machine type (and so prices) while `off`.
    Upgrade {
        /// The catalog type to change to, e.g. `P5000`.
        machine_type: String,
    },
}

impl OutsideAction {
    /// The v1 event name it records.
    pub fn event_name(&self) -> &'static str {
        match self {
            OutsideAction::Start => "start",
            OutsideAction::Stop => "stop",
            OutsideAction::Restart => "restart",
            OutsideAction::ForceShutdown => "vm-shutdown-force",
            OutsideAction::Upgrade { .. } => "vm-upgrade",
        }
    }
}

/// Whether the account may create and start machines (v1
/// `GET /billing/account-standing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// `isInGoodStanding`; creates and starts are refused while false.
    pub in_good_standing: bool,
    /// `messages`: what Paperspace tells the account holder.
    pub messages: Vec<String>,
}

impl Default for Standing {
    fn default() -> Self {
        Standing {
            in_good_standing: true,
            messages: Vec::new(),
        }
    }
}

/// Whether a start/stop request changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A transition began.
    Began,
    /// The machine was already there or on its way (documented no-op).
    AlreadyThere,
}

/// A machine to create, already type-checked by the API layer.
#[derive(Debug, Clone)]
pub struct NewMachine {
    /// Display name; must not be empty.
    pub name: String,
    /// Must be one of [`catalog::REGIONS`].
    pub region: String,
    /// Must be a catalog type available in the region.
    pub machine_type: String,
    /// Disk in GB: a whole number in `1..=2000`.
    pub size_gb: f64,
    /// Legacy billing plan.
    pub billing_type: BillingType,
    /// Must name a template that fits the type.
    pub template_id: String,
    /// Which public address to assign.
    pub public_ip: PublicIp,
    /// `false` leaves the machine `off` after provisioning.
    pub start_on_create: bool,
    /// Stored and shown.
    pub network_id: Option<String>,
    /// Must be the account's team if given.
    pub team_id: Option<String>,
    /// Must be a team user if given; the owner otherwise.
    pub user_id: Option<String>,
    /// Stored and shown.
    pub script_id: Option<String>,
}

/// Changes to a machine's settings; `None` leaves a setting alone.
#[derive(Debug, Clone, Default)]
pub struct MachineChanges {
    /// New display name.
    pub name: Option<String>,
    /// `Some(None)` disables the automatic shutdown.
    pub shutdown_timeout_hours: Option<Option<f64>>,
    /// New force flag.
    pub shutdown_timeout_forces: Option<bool>,
    /// New snapshot switch.
    pub perform_auto_snapshot: Option<bool>,
    /// `Some(None)` clears the cadence.
    pub auto_snapshot_frequency: Option<Option<SnapshotFrequency>>,
    /// `Some(None)` clears the count.
    pub auto_snapshot_save_count: Option<Option<f64>>,
    /// `true` switches to a dynamic address (releasing a static one).
    pub dynamic_public_ip: Option<bool>,
    /// `true` assigns a static address (ending dynamic); `false` releases it.
    pub assign_public_ip: Option<bool>,
}

/// What one machine used in one billing month.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// Milliseconds running within the month.
    pub running_millis: i64,
    /// Milliseconds existing (storage billed) within the month.
    pub storage_millis: i64,
    /// Hourly rate in cents.
    pub hourly_cents: u32,
    /// Monthly storage rate in cents.
    pub storage_monthly_cents: u32,
}

/// Every machine and user of the simulated account.
#[derive(Debug)]
pub struct Account {
    /// How long each transition takes.
    timings: Timings,
    /// Seeded, so ids, addresses and handles repeat from run to run.
    rng: StdRng,
    /// Every machine ever created, in creation order (removed ones too).
    machines: Vec<SimMachine>,
    /// Machine id → its index in `machines`.
    by_id: HashMap<String, usize>,
    /// Every event of every machine by (`dtCreated`, id) → (machine index,
    /// event index): the account-wide listing pages through it without
    /// gathering and sorting every event. Kept up to date by `settle`.
    event_order: BTreeMap<EventKey, (usize, usize)>,
    /// Event id → its `dtCreated`, to find a cursor's place in `event_order`.
    event_at: HashMap<String, DateTime<Utc>>,
    /// Whether creates and starts are allowed.
    standing: Standing,
}

/// Where an event sits in the account-wide listing: (`dtCreated`, id).
type EventKey = (DateTime<Utc>, String);

/// One page of the account's events, each with its machine.
pub struct EventsPage<'a> {
    /// The events, in the order asked for, with their machine's id.
    pub items: Vec<(&'a str, &'a Event)>,
    /// Whether more follow the last one.
    pub has_more: bool,
}

/// The seeded fleet: name, type, region, template, disk GB, running?
const FLEET: [(&str, &str, &str, &str, u32, bool); 6] = [
    ("dev-ny-1", "C5", "East Coast (NY2)", "tkni3aa4", 50, true),
    ("dev-ny-2", "C4", "East Coast (NY2)", "t0nspur5", 50, false),
    (
        "gpu-train-1",
        "P5000",
        "West Coast (CA1)",
        "tqqsxr6b",
        250,
        true,
    ),
    (
        "gpu-train-2",
        "V100",
        "West Coast (CA1)",
        "tqqsxr6b",
        500,
        false,
    ),
    (
        "render-ams-1",
        "P4000",
        "Europe (AMS1)",
        "tvimtol9",
        100,
        false,
    ),
    (
        "render-ams-2",
        "P6000",
        "Europe (AMS1)",
        "twnlo3zj",
        250,
        true,
    ),
];

impl Account {
    /// A new account at `now`, with the seeded fleet if asked.
    pub fn new(timings: Timings, seed: u64, seed_machines: bool, now: DateTime<Utc>) -> Self {
        let mut account = Account {
            timings,
            rng: StdRng::seed_from_u64(seed),
            machines: Vec::new(),
            by_id: HashMap::new(),
            event_order: BTreeMap::new(),
            event_at: HashMap::new(),
            standing: Standing::default(),
        };
        if seed_machines {
            for (i, (name, ty, region, template, size, running)) in FLEET.into_iter().enumerate() {
                account.seed_machine(i as i64, name, ty, region, template, size, running, now);
            }
        }
        account
    }

    /// Adds one machine of the fleet with a plausible past: created some
    /// weeks ago, and either running for a few hours or stopped after a day's work.
    #[allow(clippy::too_many_arguments)]
    fn seed_machine(
        &mut self,
        i: i64,
        name: &str,
        ty: &str,
        region: &'static str,
        template: &str,
        size_gb: u32,
        running: bool,
        now: DateTime<Utc>,
    ) {
        let created = now - Duration::days(20 + 3 * i) - Duration::minutes(17 * i);
        let mut m = self.blank_machine(
            name.to_string(),
            catalog::machine_type(ty).expect("fleet type in catalog"),
            region,
            catalog::template(template).expect("fleet template in catalog"),
            size_gb,
            created,
        );
        let rng = &mut self.rng;
        let provisioned = created + Duration::minutes(3);
        m.events
            .push(done_event("create", created, provisioned, rng));
        m.set_state(MachineState::Off, provisioned, rng);
        let (start, stop) = if running {
            (
                now - Duration::hours(2 + i) - Duration::minutes(5 * i),
                None,
            )
        } else {
            let start = now - Duration::hours(30 + i);
            (start, Some(start + Duration::hours(8)))
        };
        let ready = start + Duration::seconds(40);
        m.events.push(done_event("start", start, ready, rng));
        m.set_state(MachineState::Ready, ready, rng);
        m.open_run(ready);
        if let Some(stop) = stop {
            m.events
                .push(done_event("stop", stop, stop + Duration::seconds(20), rng));
            m.close_run(stop);
            m.set_state(MachineState::Off, stop + Duration::seconds(20), rng);
        }
        self.push_machine(m);
    }

    /// Adds a machine to the account and its id to the lookup.
    fn push_machine(&mut self, m: SimMachine) -> usize {
        let index = self.machines.len();
        self.by_id.insert(m.id.clone(), index);
        self.machines.push(m);
        self.index_events(index);
        index
    }

    /// Puts a machine's events not yet indexed into the account-wide index.
    fn index_events(&mut self, index: usize) {
        let m = &mut self.machines[index];
        for (i, e) in m.events.iter().enumerate().skip(m.indexed_events) {
            self.event_order
                .insert((e.created_at, e.handle.clone()), (index, i));
            self.event_at.insert(e.handle.clone(), e.created_at);
        }
        m.indexed_events = m.events.len();
    }

    fn blank_machine(
        &mut self,
        name: String,
        machine_type: &'static MachineType,
        region: &'static str,
        template: &'static Template,
        size_gb: u32,
        now: DateTime<Utc>,
    ) -> SimMachine {
        let id = self.fresh_id();
        let private_ip = format!(
            "10.64.{}.{}",
            self.rng.random_range(0..=255u8),
            self.rng.random_range(2..=254u8)
        );
        let mut m = SimMachine {
            id,
            name,
            machine_type,
            region,
            template,
            size_gb,
            billing_type: BillingType::Hourly,
            state: MachineState::Provisioning,
            pending: None,
            stuck: false,
            destroying: false,
            gone_at: None,
            created_at: now,
            runs: Vec::new(),
            prices: Vec::new(),
            indexed_events: 0,
            shutdown_timeout_hours: Some(24.0),
            shutdown_timeout_forces: false,
            perform_auto_snapshot: false,
            auto_snapshot_frequency: None,
            auto_snapshot_save_count: None,
            static_ip: None,
            dynamic_public_ip: false,
            dynamic_ip: None,
            private_ip,
            network_id: None,
            user_id: catalog::USER_IDS[0].to_string(),
            team_id: catalog::TEAM_ID.to_string(),
            script_id: None,
            last_ready_at: None,
            accessors: BTreeSet::new(),
            events: Vec::new(),
        };
        m.price_from(now);
        m
    }

    /// `ps` and seven lowercase letters or digits, unique in the account.
    fn fresh_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        loop {
            let tail: String = (0..7)
                .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            let id = format!("ps{tail}");
            if !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// Completes every transition due by `now`, and indexes every event
    /// recorded since the last settle (every operation settles first, so
    /// the index is whole whenever it is read).
    pub fn settle(&mut self, now: DateTime<Utc>) {
        for i in 0..self.machines.len() {
            self.machines[i].settle(now, &mut self.rng);
            if self.machines[i].indexed_events < self.machines[i].events.len() {
                self.index_events(i);
            }
        }
    }

    /// Index of a visible machine.
    fn visible_index(&self, id: &str) -> Result<usize, AccountError> {
        self.by_id
            .get(id)
            .copied()
            .filter(|&i| self.machines[i].is_visible())
            .ok_or_else(|| AccountError::MachineNotFound(id.to_string()))
    }

    /// Every machine ever created, removed ones included, oldest first.
    pub fn all_machines(&mut self, now: DateTime<Utc>) -> &[SimMachine] {
        self.settle(now);
        &self.machines
    }

    /// The machines the API can see, oldest first.
    pub fn machines(&mut self, now: DateTime<Utc>) -> impl Iterator<Item = &SimMachine> {
        self.settle(now);
        self.machines.iter().filter(|m| m.is_visible())
    }

    /// One visible machine.
    pub fn machine(&mut self, id: &str, now: DateTime<Utc>) -> Result<&SimMachine, AccountError> {
        self.settle(now);
        let i = self.visible_index(id)?;
        Ok(&self.machines[i])
    }

    /// A visible machine and the RNG, for an operation.
    fn live(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(&mut SimMachine, &mut StdRng), AccountError> {
        self.settle(now);
        let i = self.visible_index(id)?;
        Ok((&mut self.machines[i], &mut self.rng))
    }

    /// Creates a machine; it is `provisioning` until `timings.provision` has passed.
    pub fn create(
        &mut self,
        req: NewMachine,
        now: DateTime<Utc>,
    ) -> Result<&SimMachine, AccountError> {
        self.settle(now);
        let name = req.name.trim();
        if name.is_empty() {
            return Err(invalid(Field::Name, "must not be empty"));
        }
        let region = catalog::region(&req.region).ok_or_else(|| {
            invalid(
                Field::Region,
                format!(
                    "unknown region `{}`; expected one of {}",
                    req.region,
                    catalog::REGIONS.join(", ")
                ),
            )
        })?;
        let machine_type = catalog::machine_type(&req.machine_type).ok_or_else(|| {
            invalid(
                Field::MachineType,
                format!("unknown machine type `{}`", req.machine_type),
            )
        })?;
        let size = req.size_gb;
        if !(size.fract() == 0.0 && size >= 1.0 && size <= f64::from(catalog::MAX_DISK_GB)) {
            return Err(invalid(
                Field::DiskSize,
                format!(
                    "must be a whole number of GB from 1 to {}, not {size}",
                    catalog::MAX_DISK_GB
                ),
            ));
        }
        let template = catalog::template(&req.template_id)
            .ok_or_else(|| AccountError::TemplateNotFound(req.template_id.clone()))?;
        if !catalog::template_fits(template, machine_type) {
            return Err(invalid(
                Field::Template,
                format!(
                    "template {} ({}) cannot be used with machine type {}",
                    template.id, template.label, machine_type.name
                ),
            ));
        }
        if let Some(user) = &req.user_id
            && !catalog::is_user(user)
        {
            return Err(invalid(
                Field::User,
                format!("user {user} is not on this team"),
            ));
        }
        if let Some(team) = &req.team_id
            && team != catalog::TEAM_ID
        {
            return Err(invalid(Field::Team, format!("team {team} not found")));
        }
        if !catalog::is_available(region, machine_type.name) {
            return Err(AccountError::Unavailable {
                region: region.to_string(),
                machine_type: machine_type.name.to_string(),
            });
        }

        let mut m = self.blank_machine(
            name.to_string(),
            machine_type,
            region,
            template,
            size as u32,
            now,
        );
        m.billing_type = req.billing_type;
        m.network_id = req.network_id;
        m.script_id = req.script_id;
        if let Some(user) = req.user_id {
            m.user_id = user;
        }
        match req.public_ip {
            PublicIp::None => {}
            PublicIp::Static => m.static_ip = Some(public_address(&mut self.rng)),
            PublicIp::Dynamic => m.dynamic_public_ip = true,
        }
        let end = if req.start_on_create {
            MachineState::Ready
        } else {
            MachineState::Off
        };
        let due = now + self.timings.provision;
        m.begin("create", Target::State(end), due, now, &mut self.rng);
        let index = self.push_machine(m);
        Ok(&self.machines[index])
    }

    /// Starts a machine: `off` → `starting` → `ready`. A no-op for one that is
    /// running or on its way up.
    pub fn start(&mut self, id: &str, now: DateTime<Utc>) -> Result<Outcome, AccountError> {
        let due = now + self.timings.start;
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::Start));
        }
        match m.state {
            MachineState::Ready
            | MachineState::ServiceReady
            | MachineState::Starting
            | MachineState::Restarting => Ok(Outcome::AlreadyThere),
            MachineState::Off => {
                m.set_state(MachineState::Starting, now, rng);
                m.begin("start", Target::State(MachineState::Ready), due, now, rng);
                Ok(Outcome::Began)
            }
            _ => Err(m.refuse(Op::Start)),
        }
    }

    /// Stops a machine: → `stopping` → `off`. A no-op for one that is off or
    /// stopping; a start or restart under way is cancelled.
    pub fn stop(&mut self, id: &str, now: DateTime<Utc>) -> Result<Outcome, AccountError> {
        let due = now + self.timings.stop;
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::Stop));
        }
        match m.state {
            MachineState::Off | MachineState::Stopping => Ok(Outcome::AlreadyThere),
            MachineState::Ready
            | MachineState::ServiceReady
            | MachineState::Starting
            | MachineState::Restarting => {
                m.cancel_pending(now);
                m.close_run(now);
                m.set_state(MachineState::Stopping, now, rng);
                m.begin("stop", Target::State(MachineState::Off), due, now, rng);
                Ok(Outcome::Began)
            }
            _ => Err(m.refuse(Op::Stop)),
        }
    }

    /// Restarts a running machine: → `restarting` → `ready`. A no-op while
    /// already restarting.
    pub fn restart(&mut self, id: &str, now: DateTime<Utc>) -> Result<Outcome, AccountError> {
        let due = now + self.timings.restart;
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::Restart));
        }
        match m.state {
            MachineState::Restarting => Ok(Outcome::AlreadyThere),
            MachineState::Ready | MachineState::ServiceReady => {
                m.set_state(MachineState::Restarting, now, rng);
                m.begin("restart", Target::State(MachineState::Ready), due, now, rng);
                Ok(Outcome::Began)
            }
            _ => Err(m.refuse(Op::Restart)),
        }
    }

    /// Destroys a machine: it stays visible in its current state for
    /// `timings.destroy`, then is gone. A transition under way is cancelled.
    pub fn destroy(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), AccountError> {
        let due = now + self.timings.destroy;
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::Destroy));
        }
        m.cancel_pending(now);
        m.close_run(now);
        m.destroying = true;
        m.begin("deactivate", Target::Gone, due, now, rng);
        Ok(())
    }

    /// Forces a machine off (`vm-shutdown-force`), as auto-shutdown or the
    /// console does: billing ends at once, the machine is `off` after the
    /// stop timing. A transition under way is cancelled.
    pub fn force_shutdown(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AccountError> {
        let due = now + self.timings.stop;
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::ForceShutdown));
        }
        match m.state {
            MachineState::Off => Ok(Outcome::AlreadyThere),
            MachineState::Ready
            | MachineState::ServiceReady
            | MachineState::Starting
            | MachineState::Restarting
            | MachineState::Stopping => {
                m.cancel_pending(now);
                m.close_run(now);
                m.set_state(MachineState::Stopping, now, rng);
                m.begin(
                    "vm-shutdown-force",
                    Target::State(MachineState::Off),
                    due,
                    now,
                    rng,
                );
                Ok(Outcome::Began)
            }
            _ => Err(m.refuse(Op::ForceShutdown)),
        }
    }

    /// Checks a change of machine type and disk size (a `vm-upgrade`)
    /// without applying it: the machine must be `off` with nothing under
    /// way, the type known, available in its region and fit for its
    /// template, the disk no smaller. `None` when nothing would change.
    pub fn plan_upgrade(
        &mut self,
        id: &str,
        machine_type: Option<&str>,
        size_gb: Option<f64>,
        now: DateTime<Utc>,
    ) -> Result<Option<(&'static MachineType, u32)>, AccountError> {
        let (m, _) = self.live(id, now)?;
        let ty = match machine_type {
            None => m.machine_type,
            Some(name) => catalog::machine_type(name).ok_or_else(|| {
                invalid(Field::MachineType, format!("unknown machine type `{name}`"))
            })?,
        };
        let size = match size_gb {
            None => m.size_gb,
            Some(size) => {
                if !(size.fract() == 0.0
                    && size >= f64::from(m.size_gb)
                    && size <= f64::from(catalog::MAX_DISK_GB))
                {
                    return Err(invalid(
                        Field::DiskSize,
                        format!(
                            "must be a whole number of GB from the current {} to {}, not {size} (disks only grow)",
                            m.size_gb,
                            catalog::MAX_DISK_GB
                        ),
                    ));
                }
                size as u32
            }
        };
        if std::ptr::eq(ty, m.machine_type) && size == m.size_gb {
            return Ok(None);
        }
        if m.destroying || m.state != MachineState::Off || m.pending.is_some() {
            return Err(m.refuse(Op::Upgrade));
        }
        if !catalog::template_fits(m.template, ty) {
            return Err(invalid(
                Field::MachineType,
                format!(
                    "template {} ({}) cannot be used with machine type {}",
                    m.template.id, m.template.label, ty.name
                ),
            ));
        }
        if !catalog::is_available(m.region, ty.name) {
            return Err(AccountError::Unavailable {
                region: m.region.to_string(),
                machine_type: ty.name.to_string(),
            });
        }
        Ok(Some((ty, size)))
    }

    /// Applies a change [`Account::plan_upgrade`] accepted: records a done
    /// `vm-upgrade` event and the new prices from `now`.
    pub fn apply_upgrade(
        &mut self,
        id: &str,
        (ty, size_gb): (&'static MachineType, u32),
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let (m, rng) = self.live(id, now)?;
        m.machine_type = ty;
        m.size_gb = size_gb;
        m.events.push(done_event("vm-upgrade", now, now, rng));
        m.price_from(now);
        Ok(())
    }

    /// An action from outside Machinist (the console), recorded under its
    /// v1 event name. An upgrade that changes nothing is a no-op.
    pub fn outside(
        &mut self,
        id: &str,
        action: &OutsideAction,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AccountError> {
        match action {
            OutsideAction::Start => self.start(id, now),
            OutsideAction::Stop => self.stop(id, now),
            OutsideAction::Restart => self.restart(id, now),
            OutsideAction::ForceShutdown => self.force_shutdown(id, now),
            OutsideAction::Upgrade { machine_type } => {
                match self.plan_upgrade(id, Some(machine_type), None, now)? {
                    Some(plan) => {
                        self.apply_upgrade(id, plan, now)?;
                        Ok(Outcome::Began)
                    }
                    None => Ok(Outcome::AlreadyThere),
                }
            }
        }
    }

    /// The account's standing.
    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    /// Switches the account's standing.
    pub fn set_standing(&mut self, standing: Standing) {
        self.standing = standing;
    }

    /// Refuses (with Paperspace's messages) while not in good standing.
    pub fn check_standing(&self) -> Result<(), AccountError> {
        if self.standing.in_good_standing {
            return Ok(());
        }
        let messages = self.standing.messages.join(" ");
        Err(AccountError::NotInGoodStanding(
            if messages.trim().is_empty() {
                "Your account is not in good standing".to_string()
            } else {
                messages
            },
        ))
    }

    /// What every machine that existed in `month` cost in it, up to `now`,
    /// oldest first (removed machines too).
    pub fn usage(&mut self, month: BillingMonth, now: DateTime<Utc>) -> Vec<SimUsage> {
        self.settle(now);
        self.machines
            .iter()
            .filter(|m| m.created_at < month.end() && m.gone_at.is_none_or(|g| g > month.start()))
            .filter(|m| m.created_at <= now)
            .map(|m| m.truth(month, now))
            .collect()
    }

    /// One page of every machine's events (removed machines' too), by
    /// (`dtCreated`, id), newest first when `descending`; `after` is the id
    /// of the last event of the previous page. `None` for an unknown cursor.
    pub fn events_page(
        &mut self,
        after: Option<&str>,
        limit: usize,
        descending: bool,
        now: DateTime<Utc>,
    ) -> Option<EventsPage<'_>> {
        self.settle(now);
        let cursor = match after {
            None => None,
            Some(handle) => Some((*self.event_at.get(handle)?, handle.to_string())),
        };
        let range: Box<dyn Iterator<Item = (&EventKey, &(usize, usize))>> =
            match (&cursor, descending) {
                (None, false) => Box::new(self.event_order.iter()),
                (None, true) => Box::new(self.event_order.iter().rev()),
                (Some(c), false) => Box::new(
                    self.event_order
                        .range((Bound::Excluded(c.clone()), Bound::Unbounded)),
                ),
                (Some(c), true) => Box::new(
                    self.event_order
                        .range((Bound::Unbounded, Bound::Excluded(c.clone())))
                        .rev(),
                ),
            };
        let mut items = Vec::with_capacity(limit);
        let mut has_more = false;
        for (_, &(mi, ei)) in range {
            if items.len() == limit {
                has_more = true;
                break;
            }
            let m = &self.machines[mi];
            items.push((m.id.as_str(), &m.events[ei]));
        }
        Some(EventsPage { items, has_more })
    }

    /// `dtCreated` of an event, by id (a listing cursor's place).
    pub fn event_created(&self, handle: &str) -> Option<DateTime<Utc>> {
        self.event_at.get(handle).copied()
    }

    /// Adds a machine that was created at `created_at` and is `off` since
    /// provisioning, with its `create` event done: the start of a history
    /// recorded with [`Account::record_past`].
    pub fn add_past_machine(
        &mut self,
        name: &str,
        machine_type: &str,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<String, AccountError> {
        self.settle(now);
        if name.trim().is_empty() {
            return Err(invalid(Field::Name, "must not be empty"));
        }
        let ty = catalog::machine_type(machine_type).ok_or_else(|| {
            invalid(
                Field::MachineType,
                format!("unknown machine type `{machine_type}`"),
            )
        })?;
        let provisioned = created_at + self.timings.provision;
        if provisioned > now {
            return Err(AccountError::BadHistory(format!(
                "a machine created at {created_at} is still provisioning at {now}"
            )));
        }
        let region = catalog::REGIONS
            .into_iter()
            .find(|r| catalog::is_available(r, ty.name))
            .ok_or_else(|| AccountError::Unavailable {
                region: catalog::REGIONS.join(", "),
                machine_type: ty.name.to_string(),
            })?;
        let template = catalog::TEMPLATES
            .iter()
            .find(|t| catalog::template_fits(t, ty))
            .ok_or_else(|| invalid(Field::Template, format!("no template fits {}", ty.name)))?;
        let mut m = self.blank_machine(
            name.trim().to_string(),
            ty,
            region,
            template,
            50,
            created_at,
        );
        m.events
            .push(done_event("create", created_at, provisioned, &mut self.rng));
        m.set_state(MachineState::Off, provisioned, &mut self.rng);
        let index = self.push_machine(m);
        Ok(self.machines[index].id.clone())
    }

    /// Records past actions on a machine, each done at its instant and
    /// taking its timing, without going through the transitions: a fast way
    /// to give a machine a long history. Instants must not go back before
    /// the machine's latest event (or its end), every action must end by
    /// `now`, and each must be possible from the state the previous left
    /// (start from `off`, stop/restart/forced shutdown from `ready`, upgrade
    /// from `off`); the machine must have nothing under way.
    pub fn record_past(
        &mut self,
        id: &str,
        actions: &[(DateTime<Utc>, OutsideAction)],
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let timings = self.timings;
        let (m, rng) = self.live(id, now)?;
        if m.pending.is_some() || m.destroying {
            return Err(AccountError::BadHistory(format!(
                "machine {id} has an operation under way or is being destroyed"
            )));
        }
        for (at, action) in actions {
            let at = *at;
            let latest = m
                .events
                .iter()
                .map(|e| e.finished_at.unwrap_or(e.created_at))
                .max()
                .unwrap_or(m.created_at);
            if at < latest {
                return Err(AccountError::BadHistory(format!(
                    "{} of machine {id} at {at} is before its latest event ({latest})",
                    action.event_name()
                )));
            }
            let takes = match action {
                OutsideAction::Start => timings.start,
                OutsideAction::Stop | OutsideAction::ForceShutdown => timings.stop,
                OutsideAction::Restart => timings.restart,
                OutsideAction::Upgrade { .. } => std::time::Duration::ZERO,
            };
            let done = at + takes;
            if done > now {
                return Err(AccountError::BadHistory(format!(
                    "{} of machine {id} at {at} would end after now ({now})",
                    action.event_name()
                )));
            }
            let wrong = |m: &SimMachine| {
                AccountError::BadHistory(format!(
                    "cannot record {} of machine {id} at {at}: it is {} then",
                    action.event_name(),
                    m.state
                ))
            };
            match action {
                OutsideAction::Start => {
                    if m.state != MachineState::Off {
                        return Err(wrong(m));
                    }
                    m.set_state(MachineState::Ready, done, rng);
                    m.open_run(done);
                }
                OutsideAction::Restart => {
                    if m.state != MachineState::Ready {
                        return Err(wrong(m));
                    }
                    m.set_state(MachineState::Ready, done, rng);
                }
                OutsideAction::Stop | OutsideAction::ForceShutdown => {
                    if m.state != MachineState::Ready {
                        return Err(wrong(m));
                    }
                    m.close_run(at);
                    m.set_state(MachineState::Off, done, rng);
                }
                OutsideAction::Upgrade { machine_type } => {
                    if m.state != MachineState::Off {
                        return Err(wrong(m));
                    }
                    m.machine_type = catalog::machine_type(machine_type).ok_or_else(|| {
                        invalid(
                            Field::MachineType,
                            format!("unknown machine type `{machine_type}`"),
                        )
                    })?;
                    m.price_from(at);
                }
            }
            m.events
                .push(done_event(action.event_name(), at, done, rng));
        }
        self.settle(now);
        Ok(())
    }

    /// Changes a machine's settings; every change is checked before any is applied.
    pub fn update(
        &mut self,
        id: &str,
        changes: MachineChanges,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let (m, rng) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::Update));
        }
        let name = match &changes.name {
            Some(name) if name.trim().is_empty() => {
                return Err(invalid(Field::Name, "must not be empty"));
            }
            Some(name) => Some(name.trim().to_string()),
            None => None,
        };
        if let Some(Some(hours)) = changes.shutdown_timeout_hours
            && !(hours.is_finite() && hours >= 0.0)
        {
            return Err(invalid(
                Field::ShutdownTimeout,
                format!("must be a number of hours ≥ 0, not {hours}"),
            ));
        }
        if let Some(Some(count)) = changes.auto_snapshot_save_count
            && !(count.fract() == 0.0 && count >= 0.0)
        {
            return Err(invalid(
                Field::SnapshotSaveCount,
                format!("must be a whole number ≥ 0, not {count}"),
            ));
        }
        if changes.dynamic_public_ip == Some(true) && changes.assign_public_ip == Some(true) {
            return Err(invalid(
                Field::PublicIp,
                "a machine cannot have both a static and a dynamic public IP",
            ));
        }

        if let Some(name) = name {
            m.name = name;
        }
        if let Some(hours) = changes.shutdown_timeout_hours {
            m.shutdown_timeout_hours = hours;
        }
        if let Some(forces) = changes.shutdown_timeout_forces {
            m.shutdown_timeout_forces = forces;
        }
        if let Some(on) = changes.perform_auto_snapshot {
            m.perform_auto_snapshot = on;
        }
        if let Some(freq) = changes.auto_snapshot_frequency {
            m.auto_snapshot_frequency = freq;
        }
        if let Some(count) = changes.auto_snapshot_save_count {
            m.auto_snapshot_save_count = count;
        }
        match changes.dynamic_public_ip {
            Some(true) if !m.dynamic_public_ip => {
                m.static_ip = None;
                m.dynamic_public_ip = true;
                if m.state.is_running() {
                    m.dynamic_ip = Some(public_address(rng));
                }
            }
            Some(false) => {
                m.dynamic_public_ip = false;
                m.dynamic_ip = None;
            }
            _ => {}
        }
        match changes.assign_public_ip {
            Some(true) if m.static_ip.is_none() => {
                m.dynamic_public_ip = false;
                m.dynamic_ip = None;
                m.static_ip = Some(public_address(rng));
            }
            Some(false) => m.static_ip = None,
            _ => {}
        }
        Ok(())
    }

    /// Grants or revokes a team user's access to a machine.
    pub fn set_access(
        &mut self,
        id: &str,
        user_id: &str,
        enable: bool,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let (m, _) = self.live(id, now)?;
        if m.destroying {
            return Err(m.refuse(Op::SetAccess));
        }
        if !catalog::is_user(user_id) {
            return Err(AccountError::UserNotFound(user_id.to_string()));
        }
        if enable {
            m.accessors.insert(user_id.to_string());
        } else {
            m.accessors.remove(user_id);
        }
        Ok(())
    }

    /// What a visible machine used in `month`, up to `now`.
    pub fn utilization(
        &mut self,
        id: &str,
        month: BillingMonth,
        now: DateTime<Utc>,
    ) -> Result<Usage, AccountError> {
        let m = self.machine(id, now)?;
        let (running_millis, storage_millis) = m.usage_millis(month.start(), month.end(), now);
        Ok(Usage {
            running_millis,
            storage_millis,
            hourly_cents: m.hourly_cents(),
            storage_monthly_cents: m.storage_monthly_cents(),
        })
    }

    /// Whether a type can be created in a region; both must be known.
    pub fn availability(&self, region: &str, machine_type: &str) -> Result<bool, AccountError> {
        let region = catalog::region(region).ok_or_else(|| {
            invalid(
                Field::Region,
                format!(
                    "unknown region `{region}`; expected one of {}",
                    catalog::REGIONS.join(", ")
                ),
            )
        })?;
        let ty = catalog::machine_type(machine_type).ok_or_else(|| {
            invalid(
                Field::MachineType,
                format!("unknown machine type `{machine_type}`"),
            )
        })?;
        Ok(catalog::is_available(region, ty.name))
    }

    /// Fails a machine's pending operation: its event ends in `error` with
    /// `message` and the machine stays where it is (`starting`, say) until
    /// another operation moves it. `false` if the machine is not visible or
    /// has nothing under way.
    pub fn fail_pending(&mut self, id: &str, message: &str, now: DateTime<Utc>) -> bool {
        self.settle(now);
        let Ok(i) = self.visible_index(id) else {
            return false;
        };
        let m = &mut self.machines[i];
        let Some(pending) = m.pending.take() else {
            return false;
        };
        let event = &mut m.events[pending.event];
        event.state = EventState::Error;
        event.error = Some(message.to_string());
        event.modified_at = now;
        event.finished_at = Some(now);
        // A stop that failed did not stop the billing it ended.
        let requested = event.created_at;
        if matches!(event.name, "stop" | "vm-shutdown-force" | "deactivate")
            && let Some(run) = m.runs.last_mut().filter(|r| r.to == Some(requested))
        {
            run.to = None;
        }
        true
    }

    /// One event of any machine (removed ones too), with its machine's id.
    pub fn event(&mut self, handle: &str, now: DateTime<Utc>) -> Option<(&str, &Event)> {
        self.settle(now);
        let at = *self.event_at.get(handle)?;
        let &(mi, ei) = self.event_order.get(&(at, handle.to_string()))?;
        let m = &self.machines[mi];
        Some((m.id.as_str(), &m.events[ei]))
    }

    /// Marks a machine stuck (its transition never completes) or frees it (a
    /// transition already overdue completes now). `false` if there is no
    /// such visible machine.
    pub fn set_stuck(&mut self, id: &str, stuck: bool, now: DateTime<Utc>) -> bool {
        self.settle(now);
        let Ok(i) = self.visible_index(id) else {
            return false;
        };
        let m = &mut self.machines[i];
        m.stuck = stuck;
        if !stuck {
            // Completing at the old due time would bill the stuck stretch wrongly.
            if let Some(p) = m.pending.as_mut() {
                p.due = p.due.max(now);
            }
            m.settle(now, &mut self.rng);
        }
        true
    }
}

fn done_event(
    name: &'static str,
    at: DateTime<Utc>,
    finished: DateTime<Utc>,
    rng: &mut StdRng,
) -> Event {
    Event {
        handle: event_handle(rng),
        name,
        state: EventState::Done,
        created_at: at,
        modified_at: finished,
        finished_at: Some(finished),
        error: None,
    }
}

/// A UUID-shaped handle, like the real events carry.
fn event_handle(rng: &mut StdRng) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An address from a documentation-free public-looking range.
fn public_address(rng: &mut StdRng) -> String {
    format!(
        "184.105.{}.{}",
        rng.random_range(0..=255u8),
        rng.random_range(2..=254u8)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn timings() -> Timings {
        Timings::uniform(std::time::Duration::from_secs(10))
    }

    fn new_machine() -> NewMachine {
        NewMachine {
            name: "m".into(),
            region: "East Coast (NY2)".into(),
            machine_type: "P4000".into(),
            size_gb: 50.0,
            billing_type: BillingType::Hourly,
            template_id: "tkni3aa4".into(),
            public_ip: PublicIp::None,
            start_on_create: true,
            network_id: None,
            team_id: None,
            user_id: None,
            script_id: None,
        }
    }

    #[test]
    fn same_seed_same_ids() {
        let now = at("2026-03-01T00:00:00Z");
        let a = Account::new(timings(), 7, true, now);
        let b = Account::new(timings(), 7, true, now);
        let c = Account::new(timings(), 8, true, now);
        let ids = |acc: &Account| {
            acc.machines
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        assert_eq!(ids(&a).len(), 6);
    }

    #[test]
    fn transitions_settle_lazily_at_their_due_time() {
        let t0 = at("2026-03-31T23:59:50Z");
        let mut acc = Account::new(timings(), 1, false, t0);
        let id = acc.create(new_machine(), t0).unwrap().id.clone();
        assert_eq!(
            acc.machine(&id, t0 + Duration::seconds(9)).unwrap().state,
            MachineState::Provisioning
        );
        // Settled only now, but ready since 00:00:00 sharp, so April has all the running time.
        let later = at("2026-04-01T01:00:00Z");
        assert_eq!(acc.machine(&id, later).unwrap().state, MachineState::Ready);
        let march = acc
            .utilization(&id, "2026-03".parse().unwrap(), later)
            .unwrap();
        let april = acc
            .utilization(&id, "2026-04".parse().unwrap(), later)
            .unwrap();
        assert_eq!(march.running_millis, 0);
        assert_eq!(march.storage_millis, 10_000);
        assert_eq!(april.running_millis, 3_600_000);
        assert_eq!(april.storage_millis, 3_600_000);
    }

    #[test]
    fn stuck_machine_completes_when_freed() {
        let t0 = at("2026-03-01T00:00:00Z");
        let mut acc = Account::new(timings(), 1, false, t0);
        let id = acc.create(new_machine(), t0).unwrap().id.clone();
        assert!(acc.set_stuck(&id, true, t0));
        let t1 = t0 + Duration::minutes(5);
        assert_eq!(
            acc.machine(&id, t1).unwrap().state,
            MachineState::Provisioning
        );
        assert!(acc.set_stuck(&id, false, t1));
        let m = acc.machine(&id, t1).unwrap();
        assert_eq!(m.state, MachineState::Ready);
        assert_eq!(m.runs[0].from, t1);
        assert!(!acc.set_stuck("nope", true, t1));
    }

    #[test]
    fn stop_while_starting_cancels_the_start() {
        let t0 = at("2026-03-01T00:00:00Z");
        let mut req = new_machine();
        req.start_on_create = false;
        let mut acc = Account::new(timings(), 1, false, t0);
        let id = acc.create(req, t0).unwrap().id.clone();
        let t1 = t0 + Duration::seconds(10);
        assert_eq!(acc.start(&id, t1).unwrap(), Outcome::Began);
        assert_eq!(
            acc.stop(&id, t1 + Duration::seconds(1)).unwrap(),
            Outcome::Began
        );
        let m = acc.machine(&id, t1 + Duration::seconds(30)).unwrap();
        assert_eq!(m.state, MachineState::Off);
        let states: Vec<_> = m.events.iter().map(|e| (e.name, e.state)).collect();
        assert_eq!(
            states,
            [
                ("create", EventState::Done),
                ("start", EventState::Cancelled),
                ("stop", EventState::Done)
            ]
        );
    }
}
