//! A simulated Paperspace account served over HTTP (`machinist sim`).
//!
//! It speaks the legacy API (`api.paperspace.io`) closely enough for the
//! official `paperspace-node` CLI and for Machinist's own client: machines
//! change state over time, accrue utilization, and are validated like the
//! real API. Faults (errors, throttling, hangs, garbage, stuck machines) can
//! be injected, and every call is counted, so tests can assert both how a
//! client copes and how often it asked.
//!
//! # Time
//!
//! Machine transitions are lazy: each machine has at most one pending
//! transition with a due instant taken from the injected [`Clock`](crate::clock::Clock); every
//! request first settles the transitions that are due (`now >= due`). With a
//! [`ManualClock`](crate::clock::ManualClock) nothing moves until the test
//! advances it; with the system clock it just happens. No background task
//! exists.
//!
//! | operation | states | when not allowed (400 naming machine and state) |
//! |---|---|---|
//! | create | `provisioning` → `ready` (or `off` with `startOnCreate: false`) after `provision` | — |
//! | start | `off` → `starting` → `ready` after `start`; no-op (204) when `ready`, `serviceready`, `starting`, `restarting` | `provisioning`, `stopping` |
//! | stop | → `stopping` → `off` after `stop`; cancels a start/restart under way; no-op when `off`, `stopping` | `provisioning` |
//! | restart | `ready`/`serviceready` → `restarting` → `ready` after `restart`; no-op when `restarting` | `off`, `starting`, `stopping`, `provisioning` |
//! | destroy | stays visible in its state for `destroy`, then gone (404, omitted from lists); cancels a transition under way | already being destroyed |
//!
//! Any operation but show/list/utilization on a machine being destroyed is
//! a 400. A stuck machine ([`Simulator::set_stuck`]) never completes its
//! pending transition until freed; then it completes at once if overdue.
//!
//! Each create/start/stop/restart/destroy appends an event (`create`,
//! `start`, `stop`, `restart`, and `deactivate` for destroy, as the v1 API
//! names it): `in progress` until its transition completes, then `done`
//! (`cancelled` if a later operation superseded it). No-ops add none.
//! Actions from outside Machinist ([`Simulator::outside`]) add
//! `vm-shutdown-force` (off after the stop timing) and `vm-upgrade` (a new
//! machine type, at once, `off` machines only; also v1 `PUT` with another
//! `machineType` or a larger `diskSize`). `show` lists events **newest
//! first**, like the docs' example.
//!
//! Billing: a machine is billed for running from the instant a start,
//! restart or starting create completes (its event's `dtFinished`) until a
//! stop, forced shutdown or destroy is requested (that event's
//! `dtStarted`); a restart of a running machine does not interrupt it.
//! Storage is billed from creation until gone. Each span is priced with the
//! prices in force then (a `vm-upgrade` changes them), intersected with the
//! billing month (UTC). The legacy utilization, the v1 events and the
//! ground truth ([`Simulator::usage`], `GET /_sim/usage`) all follow this.
//! While the account is not in good standing ([`Simulator::set_standing`])
//! v1 creates and starts are refused with a 403.
//!
//! # Legacy routes
//!
//! All under the base URL, each also with a trailing slash. Auth is the
//! header `x-api-key` (any case) equal to [`SimConfig::api_key`]; otherwise
//! 401 with the *flat* body `{"status":401,"message":"Invalid API token"}`.
//! Every other error uses the *wrapped* body
//! `{"error":{"name":"Error","status":N,"message":"…"}}`.
//!
//! | route | params | answer |
//! |---|---|---|
//! | `POST /machines/createSingleMachinePublic` | body: `region`, `machineType`, `size`, `billingType`, `machineName`, `templateId`; optional `assignPublicIp`, `dynamicPublicIp`, `startOnCreate`, `networkId`, `teamId`, `userId`, `notificationEmail`, `scriptId`, `takeInitialSnapshot`, `markSnapshotAsRestorePoint`, `restorePointFrequency` | 201 machine (`provisioning`) |
//! | `POST /machines/:machineId/start` · `/stop` · `/restart` | body optional (`{"machineId"}` from Node, none from Python) | 204 |
//! | `POST /machines/:machineId/destroyMachine` | optional `releasePublicIp` | 204 |
//! | `POST /machines/:machineId/updateMachinePublic` | `machineName`, `shutdownTimeoutInHours`, `shutdownTimeoutForces`, `autoSnapshotFrequency` (`hour`/`day`/`week`/null), `autoSnapshotSaveCount`, `performAutoSnapshot`, `dynamicPublicIp`, `assignPublicIp` | 204 |
//! | `POST /machines/updateMachine` | the same plus `machineId` (the Go client's form) | 204 |
//! | `GET /machines/getMachines` | filters (exact string match): `machineId`, `name`, `os`, `ram`, `cpus`, `gpu`, `storageTotal`, `storageUsed`, `usageRate`, `shutdownTimeoutInHours`, `performAutoSnapshot`, `autoSnapshotFrequency`, `autoSnapshotSaveCount`, `agentType`, `dtCreated`, `state`, `updatesPending`, `networkId`, `privateIpAddress`, `publicIpAddress`, `region`, `userId`, `teamId`, `scriptId`, `dtLastRun`; `limit` (default 1000), `skip` | 200 array |
//! | `GET /machines/getMachinePublic` | `machineId` (others ignored) | 200 machine + `events`; 404 `Machine not found` |
//! | `POST /machines/:machineId/setMachineAccess` | body `userId`, `enableAccess` | 200 `{"machineId","userId","enableAccess"}`; 404 `User not found` |
//! | `GET /machines/:machineId/setMachineAccessPublic` | query `userId`, `enableAccess` (the docs' form) | as above |
//! | `GET /machines/getUtilization` | `machineId`, `billingMonth` (`YYYY-MM`) | 200 `{"machineId","utilization":{…,"hourlyRate":"0.51"},"storageUtilization":{…,"monthlyRate":"10.00"}}` |
//! | `GET /machines/getAvailability` | `region`, `machineType` | 200 `{"available":bool}` |
//! | `GET /templates/getTemplates` | filters `id`, `name`, `label`, `os`, `dtCreated`, `teamId`, `userId`, `region` | 200 array |
//!
//! Parameters: a GET's come from the query string (so `"true"` reads as a
//! boolean and `"50"` as a number), a POST's from a JSON body (which must
//! carry the right JSON types). Unknown parameters are ignored; a known one
//! of the wrong type, a missing required one or a malformed body is a 400
//! naming it. Unknown machines are 404 (`Not found. Please contact
//! support@paperspace.com for help.` for mutations); an unknown route or
//! method is a wrapped-JSON 404 or 405.
//!
//! # Faults and control
//!
//! See [`FaultSpec`] (standing rates) and [`OneShotFault`] (deterministic,
//! consumed first). Each request to a legacy route is handled as: count the
//! call → add latency → check the API key → pick a fault → run the handler
//! (unless the fault strikes before applying) → answer.
//!
//! Control routes live under `/_sim` (no auth, never faulted, not
//! counted): `GET|DELETE /_sim/calls`, `GET|PUT|DELETE /_sim/faults`,
//! `GET|POST /_sim/faults/oneshot`, `POST /_sim/machines/{id}/stuck`,
//! `POST /_sim/machines/{id}/fail`, `POST /_sim/machines/{id}/outside`,
//! `GET|PUT /_sim/standing`, `GET /_sim/usage`, `GET /_sim/machines`. The
//! control module documents their bodies.
//!
//! # Seeded account
//!
//! Ids, addresses and event handles come from an RNG seeded with
//! [`SimConfig::seed`]. With `seed_machines` the account starts with six
//! machines across the three regions (`dev-ny-1`, `dev-ny-2`, `gpu-train-1`,
//! `gpu-train-2`, `render-ams-1`, `render-ams-2`; half `ready`, half `off`).
//! Templates (`tkni3aa4` Ubuntu 22.04, `t0nspur5` Ubuntu 20.04, `tqqsxr6b`
//! ML-in-a-Box, `tvimtol9` Windows 10, `twnlo3zj` Windows Server 2016) and
//! users (`u1a2b3c4` the owner, `u5d6e7f8`, `u9g0h1j2`) are fixed.
//! Unavailable: `V100` and `GPU+` in `Europe (AMS1)`, `P6000` in
//! `West Coast (CA1)`.

mod account;
mod calls;
mod catalog;
mod control;
mod faults;
mod legacy_routes;
mod params;
mod v1_routes;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::clock::{SharedClock, SystemClock};
use crate::machine::{BillingMonth, MachineState};

pub use account::{OutsideAction, SimUsage};
pub use calls::CallCount;
pub use faults::{DEFAULT_HANG_MS, FaultKind, FaultSpec, OneShotFault};

use account::{Account, AccountError, Standing};
use calls::CallLog;
use faults::{Dialect, Faults, Strike};

/// The API key the simulator accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "sim-key";

/// How long each machine transition takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// `provisioning` → `ready`/`off` after create.
    pub provision: Duration,
    /// `starting` → `ready`.
    pub start: Duration,
    /// `stopping` → `off`.
    pub stop: Duration,
    /// `restarting` → `ready`.
    pub restart: Duration,
    /// From the destroy request until the machine is gone.
    pub destroy: Duration,
}

impl Timings {
    /// Every transition takes `d`.
    pub fn uniform(d: Duration) -> Self {
        Timings {
            provision: d,
            start: d,
            stop: d,
            restart: d,
            destroy: d,
        }
    }
}

impl Default for Timings {
    /// A few seconds each: slow enough to watch, quick enough for a demo.
    fn default() -> Self {
        Timings {
            provision: Duration::from_secs(8),
            start: Duration::from_secs(4),
            stop: Duration::from_secs(3),
            restart: Duration::from_secs(5),
            destroy: Duration::from_secs(2),
        }
    }
}

/// Everything that shapes a simulated account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Requests without exactly this `x-api-key` get 401.
    pub api_key: String,
    /// Transition durations.
    pub timings: Timings,
    /// Seeds ids, addresses and fault rolls, so runs repeat.
    pub seed: u64,
    /// Start with the seeded fleet of six machines.
    pub seed_machines: bool,
    /// Standing fault rates from the start.
    pub faults: FaultSpec,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_key: DEFAULT_API_KEY.to_string(),
            timings: Timings::default(),
            seed: 1,
            seed_machines: true,
            faults: FaultSpec::default(),
        }
    }
}

/// Why an in-process action on the simulated account was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// No such machine (or it is gone).
    #[error("machine {0} not found")]
    MachineNotFound(String),
    /// Not possible now: the machine's state, an unknown or unavailable
    /// type, history out of order; the message says which.
    #[error("{0}")]
    Refused(String),
}

impl From<AccountError> for SimError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::MachineNotFound(id) => SimError::MachineNotFound(id),
            other => SimError::Refused(other.to_string()),
        }
    }
}

/// A simulated account; cheap to clone (all clones share one account).
#[derive(Clone)]
pub struct Simulator {
    /// Shared by every clone and every request handler.
    inner: Arc<Shared>,
}

/// The state behind a [`Simulator`].
struct Shared {
    /// What requests must send as `x-api-key`.
    api_key: String,
    /// Where `now` comes from.
    clock: SharedClock,
    /// Machines and their history.
    account: Mutex<Account>,
    /// Standing and one-shot faults.
    faults: Mutex<Faults>,
    /// Call counts.
    calls: Mutex<CallLog>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// A lock that survives a panicked holder: the simulator's state stays
/// usable for the remaining requests of a test.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Simulator {
    /// A new account at the clock's current time.
    pub fn new(config: SimConfig, clock: SharedClock) -> Self {
        let account = Account::new(
            config.timings,
            config.seed,
            config.seed_machines,
            clock.now(),
        );
        Simulator {
            inner: Arc::new(Shared {
                api_key: config.api_key,
                clock,
                account: Mutex::new(account),
                faults: Mutex::new(Faults::new(config.faults, config.seed)),
                calls: Mutex::new(CallLog::default()),
            }),
        }
    }

    /// The legacy API, the v1 API under `/v1`, and the `/_sim` control routes.
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/_sim", control::router(self.clone()))
            .merge(legacy_routes::router(self.clone()))
            .merge(v1_routes::router(self.clone()))
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
    }

    /// How many requests reached `method route` (e.g. `"POST"`,
    /// `"/machines/:machineId/start"`; `{machineId}` and a trailing slash
    /// are accepted too). `machine_id: None` counts them whatever machine
    /// they named; `Some(id)` only those naming `id`.
    pub fn calls(&self, method: &str, route: &str, machine_id: Option<&str>) -> u64 {
        lock(&self.inner.calls).count(method, route, machine_id)
    }

    /// The total and every (method, route, machine) count so far.
    pub fn call_log(&self) -> (u64, Vec<CallCount>) {
        let calls = lock(&self.inner.calls);
        (calls.total(), calls.entries())
    }

    /// Starts counting from zero.
    pub fn reset_calls(&self) {
        lock(&self.inner.calls).reset();
    }

    /// Replaces the standing fault rates.
    pub fn set_faults(&self, faults: FaultSpec) {
        lock(&self.inner.faults).set_spec(faults);
    }

    /// The standing fault rates.
    pub fn faults(&self) -> FaultSpec {
        lock(&self.inner.faults).spec().clone()
    }

    /// Queues a one-shot fault (after those already queued). A fault with
    /// `count: 0` is ignored.
    pub fn inject(&self, fault: OneShotFault) {
        lock(&self.inner.faults).push(fault);
    }

    /// The one-shot faults not yet used up, oldest first.
    pub fn pending_oneshots(&self) -> Vec<OneShotFault> {
        lock(&self.inner.faults).pending().cloned().collect()
    }

    /// Drops the standing rates and every queued one-shot fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Freezes (or frees) a machine's pending transition; `false` if no
    /// such machine is visible.
    pub fn set_stuck(&self, machine_id: &str, stuck: bool) -> bool {
        let now = self.inner.clock.now();
        lock(&self.inner.account).set_stuck(machine_id, stuck, now)
    }

    /// Fails a machine's pending operation with `message` (its event ends in
    /// `error`, the machine stays in its transitional state); `false` if no
    /// such visible machine has an operation under way.
    pub fn fail_operation(&self, machine_id: &str, message: &str) -> bool {
        let now = self.inner.clock.now();
        lock(&self.inner.account).fail_pending(machine_id, message, now)
    }

    /// Ids of the machines now named `name`, including ones being destroyed
    /// (but not ones already gone), oldest first.
    pub fn machine_ids_named(&self, name: &str) -> Vec<String> {
        self.with_account(|acc, now| {
            acc.all_machines(now)
                .iter()
                .filter(|m| m.name == name && m.is_visible())
                .map(|m| m.id.clone())
                .collect()
        })
    }

    /// A visible machine's current state, or `None` if it does not exist (any more).
    pub fn machine_state(&self, machine_id: &str) -> Option<MachineState> {
        self.with_account(|acc, now| acc.machine(machine_id, now).ok().map(|m| m.state.clone()))
    }

    /// Does `action` to a machine as if from the Paperspace console, outside
    /// Machinist: recorded as its v1 event (`start`, `stop`, `restart`,
    /// `vm-shutdown-force`, `vm-upgrade`), never counted or faulted. `true`
    /// when something began, `false` for a no-op (already there).
    pub fn outside(&self, machine_id: &str, action: OutsideAction) -> Result<bool, SimError> {
        let outcome = self.with_account(|acc, now| acc.outside(machine_id, &action, now))?;
        Ok(outcome == account::Outcome::Began)
    }

    /// Switches the account's standing; while not in good standing v1
    /// creates and starts answer 403 `FORBIDDEN` with `messages` joined.
    pub fn set_standing(&self, in_good_standing: bool, messages: Vec<String>) {
        lock(&self.inner.account).set_standing(Standing {
            in_good_standing,
            messages,
        });
    }

    /// The ground truth of what every machine that existed in `month`
    /// (removed ones too) cost in it up to now, oldest first.
    pub fn usage(&self, month: BillingMonth) -> Vec<SimUsage> {
        self.with_account(|acc, now| acc.usage(month, now))
    }

    /// Adds a machine of `machine_type` created at `created_at` (before now
    /// by at least the provision timing) and `off` since: the start of a
    /// history given with [`Simulator::record_history`]. Returns its id.
    pub fn seed_machine(
        &self,
        name: &str,
        machine_type: &str,
        created_at: DateTime<Utc>,
    ) -> Result<String, SimError> {
        Ok(self
            .with_account(|acc, now| acc.add_past_machine(name, machine_type, created_at, now))?)
    }

    /// Records past actions on a machine at the given instants, each done
    /// after its timing, without waiting for transitions: fast enough to give
    /// a thousand machines a hundred events each. Instants must not go back
    /// before the machine's latest event, each action must have ended by now
    /// and be possible from the state the previous one left (start from
    /// `off`; stop, restart, forced shutdown from `ready`; upgrade from `off`).
    pub fn record_history(
        &self,
        machine_id: &str,
        actions: &[(DateTime<Utc>, OutsideAction)],
    ) -> Result<(), SimError> {
        Ok(self.with_account(|acc, now| acc.record_past(machine_id, actions, now))?)
    }

    /// Runs `f` on the account at the clock's current time.
    fn with_account<R>(&self, f: impl FnOnce(&mut Account, DateTime<Utc>) -> R) -> R {
        let now = self.inner.clock.now();
        f(&mut lock(&self.inner.account), now)
    }

    fn api_key(&self) -> &str {
        &self.inner.api_key
    }

    fn record_call(&self, route_key: &str, machine_id: Option<String>) {
        lock(&self.inner.calls).record(route_key, machine_id);
    }

    fn latency(&self) -> Duration {
        lock(&self.inner.faults).latency()
    }

    fn strike(&self, route_key: &str) -> Option<Strike> {
        lock(&self.inner.faults).strike(route_key)
    }
}

/// The error shapes of the API a path belongs to.
fn dialect_of(uri: &Uri) -> Dialect {
    if uri.path() == "/v1" || uri.path().starts_with("/v1/") {
        Dialect::V1
    } else {
        Dialect::Legacy
    }
}

/// Any path that is no route, answered like the API it is under would.
async fn no_route(method: Method, uri: Uri) -> Response {
    dialect_of(&uri).error(
        StatusCode::NOT_FOUND,
        &format!("There is no method to handle {method} {}", uri.path()),
    )
}

/// A known path asked with the wrong method: JSON, never an empty or HTML page.
async fn wrong_method(method: Method, uri: Uri) -> Response {
    dialect_of(&uri).error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("There is no method to handle {method} {}", uri.path()),
    )
}

/// A simulator serving on a loopback port; the server stops when this is dropped.
#[derive(Debug)]
pub struct SimHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The account behind the server, for assertions and fault injection.
    pub sim: Simulator,
    /// The server task, aborted on drop.
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a simulator on `127.0.0.1:0` in a tokio task.
pub async fn spawn(config: SimConfig, clock: SharedClock) -> std::io::Result<SimHandle> {
    let sim = Simulator::new(config, clock);
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let app = sim.router();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("simulator server stopped: {e}");
        }
    });
    Ok(SimHandle {
        url: format!("http://{addr}"),
        addr,
        sim,
        task,
    })
}

/// A probability flag value.
fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("{r} is not between 0 and 1"))
    }
}

/// Flags of `machinist sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7421")]
    pub listen: SocketAddr,
    /// The API key clients must send as `x-api-key`.
    #[arg(long, env = "MACHINIST_SIM_API_KEY", default_value = DEFAULT_API_KEY, hide_env_values = true)]
    pub api_key: String,
    /// Make every transition (provision, start, stop, restart, destroy) take this many milliseconds.
    #[arg(long)]
    pub transition_ms: Option<u64>,
    /// Seed for ids, addresses and fault rolls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start with an empty account instead of the six seeded machines.
    #[arg(long)]
    pub no_seed_machines: bool,
    /// Probability (0..=1) that a request fails with a 5xx.
    #[arg(long, default_value_t = 0.0, value_parser = rate)]
    pub error_rate: f64,
    /// Probability (0..=1) that a request is throttled with a 429.
    #[arg(long, default_value_t = 0.0, value_parser = rate)]
    pub throttle_rate: f64,
    /// `Retry-After` seconds sent with throttled answers.
    #[arg(long, default_value_t = 1)]
    pub retry_after_secs: u64,
    /// Latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Probability (0..=1) that a request hangs for --hang-ms before answering.
    #[arg(long, default_value_t = 0.0, value_parser = rate)]
    pub hang_rate: f64,
    /// How long a hanging request hangs, in milliseconds.
    #[arg(long, default_value_t = DEFAULT_HANG_MS)]
    pub hang_ms: u64,
}

impl SimArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            api_key: self.api_key.clone(),
            timings: self
                .transition_ms
                .map(|ms| Timings::uniform(Duration::from_millis(ms)))
                .unwrap_or_default(),
            seed: self.seed,
            seed_machines: !self.no_seed_machines,
            faults: FaultSpec {
                error_rate: self.error_rate,
                throttle_rate: self.throttle_rate,
                retry_after_secs: self.retry_after_secs,
                latency_ms: self.latency_ms,
                hang_rate: self.hang_rate,
                hang_ms: self.hang_ms,
            },
        }
    }
}

/// How long in-flight requests (a hang, say) may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs `machinist sim`: prints `listening on http://ADDR:PORT` as the first
/// line on stdout, then serves until SIGINT or SIGTERM.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.config();
    let seeded = config.seed_machines;
    let sim = Simulator::new(config, Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    eprintln!(
        "machinist sim: legacy Paperspace API at http://{addr}, v1 API at http://{addr}/v1 ({}); control routes under /_sim; Ctrl-C stops",
        if seeded {
            "6 seeded machines"
        } else {
            "no machines"
        }
    );

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, sim.router()).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let signalled = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served.context("server failed")?,
        () = signalled => tracing::warn!("requests still running after the shutdown grace; stopping anyway"),
    }
    Ok(())
}

/// Resolves on SIGINT or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
