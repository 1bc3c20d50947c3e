//! The test harness: a real daemon on port 0 with a fresh temp database,
//! talking to its own in-process simulated Paperspace account.

#![allow(dead_code)]

pub mod process;
pub mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use machinist::clock::SystemClock;
use machinist::config::AdminToken;
use machinist::config::RateLimitConfig;
use machinist::daemon::{Daemon, DaemonSettings, PaperspaceSettings};
use machinist::job::Backoff;
use machinist::paperspace::legacy::LegacyClient;
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::{self, SimConfig, SimHandle, Timings};
use machinist::worker::WorkerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How a test wants its app.
pub struct AppOptions {
    pub token: Option<&'static str>,
    pub transition: Duration,
    pub workers: usize,
    pub request_timeout: Duration,
    /// Which API of the simulator the daemon speaks.
    pub backend: Backend,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            token: Some("test-admin-token-0123456789"),
            transition: Duration::from_millis(80),
            workers: 8,
            request_timeout: Duration::from_secs(2),
            backend: Backend::Legacy,
        }
    }
}

pub struct TestApp {
    pub daemon: Daemon,
    pub sim: SimHandle,
    pub url: String,
    pub token: Option<&'static str>,
    /// The API the daemon speaks.
    pub backend: Backend,
    pub http: reqwest::Client,
    /// A client of the simulator for setting up machines.
    pub api: LegacyClient,
    _dir: tempfile::TempDir,
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

/// A v1 client of the simulator's `/v1` routes.
pub fn v1_client(url: &str, timeout: Duration) -> V1Client {
    simulator(Backend::V1, url, timeout).v1_client().unwrap()
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

pub async fn spawn_app(options: AppOptions) -> TestApp {
    let sim = sim::spawn(
        SimConfig {
            timings: Timings::uniform(options.transition),
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let api = daemon_api(options.backend, &sim.url, options.request_timeout);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = DaemonSettings::new(dir.path().join("machinist.db"));
    settings.workers = WorkerSettings {
        count: options.workers,
        prefetch: WorkerSettings::default().prefetch,
        lease: Duration::from_secs(3),
        poll_interval: Duration::from_millis(20),
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        grace: Duration::from_secs(2),
    };
    settings.admin_token = options.token.map(|t| AdminToken::new(t).unwrap());
    let daemon = Daemon::start(settings, api, Arc::new(SystemClock))
        .await
        .unwrap();
    TestApp {
        url: daemon.url(),
        daemon,
        api: legacy_client(&sim.url, Duration::from_secs(5)),
        sim,
        token: options.token,
        backend: options.backend,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestApp {
    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .authed(self.http.post(format!("{}{path}", self.url)).json(&body))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .authed(self.http.get(format!("{}{path}", self.url)))
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

    /// Polls the job until it is final (the workers run on their own; this
    /// only watches), for at most 30 s.
    pub async fn finished(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.job(id).await;
            if matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not finish: {job:#}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
