//! The test harness: one entry, [`spawn_app`], that starts what a test
//! needs on a fresh temp database. [`AppOptions::default`] is the real daemon
//! (workers, scheduler, admin API on port 0) talking to its own in-process
//! simulated Paperspace account; [`Run::Router`] is the admin API alone on
//! the store (nothing moves unless the test moves it), [`Run::Nothing`] the
//! store and the schedule registry alone (the test drives a `Scheduler`).
//! A manual clock ([`AppOptions::clock`]) is shared by all of it and the
//! simulator.
//!
//! Waiting for something to be written never polls: [`until_committed`]
//! re-reads after each commit of the store ([`Store::commits`]).

mod answer;
pub mod browser;
mod cli;
mod clients;
pub mod dashboard;
pub mod database;
mod parts;
pub mod process;
pub mod receiver;
pub mod served;
pub mod upstream;
mod wait;

pub use answer::{Answer, Answering, answer};
pub use clients::{legacy_client_at, quick_wait, spawn_sim, v1_client_at};
pub use database::{Fixture, TestDatabase, on_postgres, open_store, sqlite_only};
use parts::Parts;
pub use wait::until_committed;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::clock::{ManualClock, SharedClock, SystemClock};
use machinist::config::AdminToken;
use machinist::config::RateLimitConfig;
use machinist::daemon::{Daemon, DaemonSettings, PaperspaceSettings};
use machinist::http::HttpLimits;
use machinist::job::Backoff;
use machinist::paperspace::legacy::LegacyClient;
use machinist::paperspace::{Backend, MachineApi};
use machinist::schedule::calendar::Calendars;
use machinist::sim::SimHandle;
use machinist::store::{JobFilter, Store, StoreOptions};
use machinist::worker::WorkerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What runs on the test's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// The whole daemon: workers, scheduler, pruner and the admin API.
    Daemon,
    /// The admin API's router alone, no workers and no scheduler: jobs stay
    /// queued and nothing fires unless the test moves them through the store.
    Router,
    /// Neither: the store and the schedule registry, for a test that drives
    /// a `Scheduler` itself.
    Nothing,
}

/// How a test wants its app.
pub struct AppOptions {
    pub token: Option<&'static str>,
    /// The read-only token (`http.viewer_token_file`); `None` by default.
    pub viewer_token: Option<&'static str>,
    /// How long each simulated state change takes.
    pub transition: Duration,
    pub workers: usize,
    pub request_timeout: Duration,
    /// Which API of the simulator the daemon speaks.
    pub backend: Backend,
    pub run: Run,
    /// `Some(start)`: a manual clock set at `start`, shared by the daemon (or
    /// router) and the simulator, moved only by the test. `None`: the system clock.
    pub clock: Option<DateTime<Utc>>,
    pub limits: HttpLimits,
    /// Holiday calendars schedules and windows may name.
    pub calendars: Calendars,
    /// The zone of schedules that name none.
    pub default_zone: &'static str,
    /// Machines the configuration lists as billed monthly (`cost.monthly_billed`).
    pub monthly_billed: &'static [&'static str],
    /// `[webhooks]`: the defaults refuse loopback receivers; [`AppOptions::receivers`]
    /// allows them, with quick retries.
    pub webhooks: machinist::delivery::WebhookSettings,
    /// Endpoints as `[[webhooks.endpoints]]` would give them.
    pub webhook_endpoints: Vec<(machinist::webhook::EndpointSpec, machinist::webhook::Secret)>,
}

impl AppOptions {
    /// Webhook settings for a receiver in the test: loopback allowed,
    /// retries after 200 ms, 300 ms and 400 ms, a 3 s timeout.
    pub fn receivers() -> machinist::delivery::WebhookSettings {
        machinist::delivery::WebhookSettings {
            policy: machinist::webhook::DestinationPolicy {
                allow_http_loopback: true,
                allow_private: false,
            },
            timeout: Duration::from_secs(3),
            retry_schedule: vec![
                Duration::from_millis(200),
                Duration::from_millis(300),
                Duration::from_millis(400),
            ],
            ..machinist::delivery::WebhookSettings::default()
        }
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            token: Some("test-admin-token-0123456789"),
            viewer_token: None,
            transition: Duration::from_millis(80),
            workers: 8,
            request_timeout: Duration::from_secs(2),
            backend: Backend::Legacy,
            run: Run::Daemon,
            clock: None,
            limits: HttpLimits::default(),
            calendars: Calendars::default(),
            default_zone: "UTC",
            monthly_billed: &[],
            webhooks: machinist::delivery::WebhookSettings::default(),
            webhook_endpoints: Vec::new(),
        }
    }
}

/// What a test talks to. The store is reached through [`TestApp::store`]:
/// with [`Run::Daemon`] the daemon holds the only handle, so that a test
/// that stops it may open the database again.
pub struct TestApp {
    /// With [`Run::Daemon`]; a test may take it out to stop it.
    pub daemon: Option<Daemon>,
    /// The store, registry and schedule context without a daemon.
    parts: Option<Parts>,
    clock: Option<ManualClock>,
    pub sim: SimHandle,
    /// `http://ADDR:PORT` of the admin API; empty with [`Run::Nothing`].
    pub url: String,
    pub token: Option<&'static str>,
    /// The API the daemon speaks.
    pub backend: Backend,
    pub http: reqwest::Client,
    /// A client of the simulator for setting up machines.
    pub api: LegacyClient,
    /// The daemon's own client of the simulator (rate limited like the real one).
    pub daemon_api: Arc<dyn MachineApi>,
    _dir: tempfile::TempDir,
    /// Dropped after the daemon (fields drop in order): a PostgreSQL
    /// database is dropped with it.
    _database: TestDatabase,
}

/// The simulator at `url` as `backend`, each call given `timeout`.
fn simulator(backend: Backend, url: &str, timeout: Duration) -> PaperspaceSettings {
    PaperspaceSettings {
        request_timeout: timeout,
        ..PaperspaceSettings::simulator(backend, url)
    }
}

/// A legacy client of the simulator's routes.
pub fn legacy_client(url: &str, timeout: Duration) -> LegacyClient {
    simulator(Backend::Legacy, url, timeout)
        .legacy_client()
        .unwrap()
}

/// The daemon's client of the simulator for `backend`, rate limited like the real one.
pub fn daemon_api(backend: Backend, url: &str, timeout: Duration) -> Arc<dyn MachineApi> {
    PaperspaceSettings {
        rate_limit: Some(RateLimitConfig {
            per_second: 1000.0,
            burst: 200,
        }),
        ..simulator(backend, url, timeout)
    }
    .client()
    .unwrap()
}

/// `METHOD /route` of `op` on `backend`, as a simulator fault names it.
pub fn fault_route(backend: Backend, op: &str) -> String {
    let (method, route) = route(backend, op);
    format!("{method} {route}")
}

/// `(method, route)` the simulator counts for a start/stop/show/create of `backend`.
pub fn route(backend: Backend, op: &str) -> (&'static str, &'static str) {
    match (backend, op) {
        (Backend::Legacy, "start") => ("POST", "/machines/:machineId/start"),
        (Backend::Legacy, "stop") => ("POST", "/machines/:machineId/stop"),
        (Backend::Legacy, "show") => ("GET", "/machines/getMachinePublic"),
        (Backend::Legacy, "create") => ("POST", "/machines/createSingleMachinePublic"),
        (Backend::V1, "start") => ("PATCH", "/v1/machines/:id/start"),
        (Backend::V1, "stop") => ("PATCH", "/v1/machines/:id/stop"),
        (Backend::V1, "show") => ("GET", "/v1/machines/:id"),
        (Backend::V1, "create") => ("POST", "/v1/machines"),
        (_, other) => panic!("no route for {other}"),
    }
}

/// The settings of a test daemon: quick polls, leases and backoff.
pub fn daemon_settings(db: impl Into<StoreOptions>, workers: usize) -> DaemonSettings {
    let mut settings = DaemonSettings::new(std::path::PathBuf::new());
    settings.store = db.into();
    settings.workers = WorkerSettings {
        count: workers,
        prefetch: WorkerSettings::default().prefetch,
        lease: Duration::from_secs(3),
        poll_interval: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        grace: Duration::from_secs(2),
        ..WorkerSettings::default()
    };
    settings
}

pub async fn spawn_app(options: AppOptions) -> TestApp {
    let manual = options.clock.map(ManualClock::new);
    let clock: SharedClock = match &manual {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    };
    let sim = spawn_sim(options.transition, clock.clone()).await;
    let api = daemon_api(options.backend, &sim.url, options.request_timeout);
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let db = database.options.clone();
    let token = options.token.map(|t| AdminToken::new(t).unwrap());
    let (daemon, parts, url) = match options.run {
        Run::Daemon => {
            let mut settings = daemon_settings(db, options.workers);
            settings.admin_token = token;
            settings.viewer_token = options.viewer_token.map(|t| AdminToken::new(t).unwrap());
            settings.http = options.limits;
            settings.calendars = options.calendars;
            settings.default_zone = options.default_zone.into();
            settings.cost.monthly_billed = options
                .monthly_billed
                .iter()
                .map(|m| m.to_string())
                .collect();
            settings.webhooks = options.webhooks.clone();
            settings.webhook_endpoints = options.webhook_endpoints.clone();
            let daemon = Daemon::start(settings, api.clone(), clock).await.unwrap();
            let url = daemon.url();
            (Some(daemon), None, url)
        }
        Run::Router | Run::Nothing => {
            let (parts, url) = Parts::start(&options, db, clock, token).await;
            (None, Some(parts), url)
        }
    };
    TestApp {
        daemon,
        parts,
        clock: manual,
        url,
        api: legacy_client(&sim.url, Duration::from_secs(5)),
        daemon_api: api,
        sim,
        token: options.token,
        backend: options.backend,
        http: reqwest::Client::new(),
        _dir: dir,
        _database: database,
    }
}

impl TestApp {
    /// The store: the daemon's, or the one the router or registry works on.
    pub fn store(&self) -> &Store {
        match (&self.daemon, &self.parts) {
            (Some(daemon), _) => daemon.store(),
            (None, Some(parts)) => &parts.store,
            (None, None) => panic!("the daemon was stopped"),
        }
    }

    /// How the test's database is opened (to start a second daemon on it).
    pub fn store_options(&self) -> StoreOptions {
        self._database.options.clone()
    }

    /// The manual clock ([`AppOptions::clock`]).
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("the app runs on the system clock")
    }

    /// The admin API's URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .authed(self.http.post(self.at(path)).json(&body))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .authed(self.http.get(self.at(path)))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Submits a job and returns its JSON; panics unless it was accepted.
    pub async fn submit(&self, body: Value) -> Value {
        let (status, job) = self.post("/v1/jobs", body.clone()).await;
        assert!(status.is_success(), "{body} → {status}: {job}");
        job
    }

    pub async fn job(&self, id: i64) -> Value {
        let (status, job) = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    /// Calls the simulator received on `op`'s route of this app's backend.
    pub fn calls(&self, op: &str, machine_id: Option<&str>) -> u64 {
        let (method, path) = route(self.backend, op);
        self.sim.sim.calls(method, path, machine_id)
    }

    /// Submits and waits for the end; returns the final job with its events.
    pub async fn run(&self, body: Value) -> Value {
        let id = self.submit(body).await["id"].as_i64().unwrap();
        self.finished(id).await
    }

    /// Ids of seeded machines in `state`.
    pub async fn machines_in(&self, state: &str) -> Vec<String> {
        use machinist::machine::{FilterField, MachineFilter};
        self.api
            .list_all(&MachineFilter::all().with(FilterField::State, state))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    /// How many jobs the store holds.
    pub async fn job_count(&self) -> usize {
        self.store()
            .jobs(&JobFilter::default(), None, 10_000)
            .await
            .unwrap()
            .len()
    }
}

/// The value of the sample `line_prefix` (metric name with labels) in the
/// Prometheus text `text`.
pub fn metric_sample(text: &str, line_prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix)?.strip_prefix(' ')?.parse().ok())
}

/// The messages of a job's events.
pub fn messages(job: &Value) -> Vec<String> {
    job["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["message"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn create_args(name: &str) -> Value {
    json!({"name": name, "region": "Europe (AMS1)", "machine_type": "C5", "disk_size_gb": 50, "template_id": "tkni3aa4"})
}
