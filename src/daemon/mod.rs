//! The daemon: the store, the workers and the admin HTTP API, started
//! together and stopped gracefully.
//!
//! [`Daemon::start`] is what `machinist serve` and the integration tests run:
//! tests give it a temp database, a listener on port 0, a simulator and a
//! clock of their own; `serve` builds the same from the configuration.

mod notify;
pub mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{AdminToken, Backend as ConfiguredBackend, Config};
use crate::http::{HttpLimits, HttpState};
use crate::job::{Backoff, JobDefaults};
use crate::paperspace::legacy::{LegacyClient, LegacyConfig};
use crate::paperspace::throttle::{Throttled, TokenBucket};
use crate::paperspace::v1::{V1Client, V1Config};
use crate::paperspace::{ApiKey, MachineApi};
use crate::schedule::calendar::Calendars;
use crate::schedule::spec::{ScheduleContext, ScheduleSpec};
use crate::schedule::target::{Selector, Targets};
use crate::schedule::template::JobTemplate;
use crate::scheduler::Scheduler;
use crate::scheduler::registry::{Registry, RegistryError};
use crate::sim::{self, SimConfig, SimHandle, Timings};
use crate::store::{Durability, Store, StoreError, StoreOptions};
use crate::worker::{WorkerSettings, Workers};

/// Everything the daemon needs besides the Paperspace API and the clock.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub store: StoreOptions,
    pub workers: WorkerSettings,
    pub defaults: JobDefaults,
    /// Where the admin API listens; port 0 picks a free one.
    pub listen: SocketAddr,
    pub http: HttpLimits,
    /// `None` disables auth, which is only allowed on a loopback address.
    pub admin_token: Option<AdminToken>,
    /// Finished jobs older than this are pruned.
    pub retention: Duration,
    /// Holiday calendars schedules and windows may exclude.
    pub calendars: Calendars,
    /// The zone of schedules that name none.
    pub default_zone: String,
    /// The cron expression of the built-in monthly utilization pull, if installed.
    pub utilization_pull: Option<String>,
}

impl DaemonSettings {
    /// Defaults around a database path: loopback port 0, no token.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        DaemonSettings {
            store: StoreOptions::new(db_path),
            workers: WorkerSettings::default(),
            defaults: JobDefaults::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: HttpLimits::default(),
            admin_token: None,
            retention: Duration::from_secs(30 * 24 * 3600),
            calendars: Calendars::default(),
            default_zone: "UTC".to_string(),
            utilization_pull: None,
        }
    }

    /// The settings a configuration asks for.
    pub fn from_config(config: &Config, admin_token: Option<AdminToken>) -> Self {
        DaemonSettings {
            store: StoreOptions {
                path: config.store.path.clone(),
                durability: match config.store.synchronous {
                    crate::config::Synchronous::Full => Durability::Full,
                    crate::config::Synchronous::Normal => Durability::Normal,
                },
                busy_timeout: config.store.busy_timeout,
            },
            workers: WorkerSettings {
                count: config.workers.count,
                prefetch: config.workers.prefetch,
                lease: config.workers.lease,
                poll_interval: config.workers.poll_interval,
                backoff: Backoff {
                    base: config.workers.backoff_base,
                    max: config.workers.backoff_max,
                },
                grace: Duration::from_secs(10),
            },
            defaults: JobDefaults {
                max_attempts: config.workers.max_attempts,
                wait_ready: config.wait.ready,
                wait_serviceready: config.wait.serviceready,
                wait_off: config.wait.off,
                wait_gone: config.wait.gone,
            },
            listen: config.http.listen,
            http: HttpLimits::from_config(&config.http),
            admin_token,
            retention: config.retention.finished_jobs,
            calendars: Calendars::new(config.schedule.calendars.clone()),
            default_zone: config.schedule.default_timezone.clone(),
            utilization_pull: Some(config.schedule.utilization_pull.trim().to_string())
                .filter(|c| !c.is_empty()),
        }
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve the admin API on {0} without an admin token: set MACHINIST_ADMIN_TOKEN or http.admin_token_file, or listen on a loopback address"
    )]
    NoTokenOffLoopback(SocketAddr),
}

/// A running daemon.
pub struct Daemon {
    addr: SocketAddr,
    store: Store,
    /// Cancelled to stop everything.
    shutdown: CancellationToken,
    workers: JoinHandle<()>,
    /// Stops the workers alone (a child of `shutdown`), so that a reload can
    /// restart them with new settings.
    workers_stop: CancellationToken,
    /// What the workers were started with, kept to restart them.
    worker_parts: WorkerParts,
    /// Kept for reloads that change schedules (the utilization pull).
    registry: Registry,
    scheduler: JoinHandle<()>,
    http: JoinHandle<()>,
    pruner: JoinHandle<()>,
}

/// A lease owner name unique to this process: host, pid and a random part.
fn owner_name() -> Arc<str> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string());
    let nonce: u32 = rand::random();
    format!("{host}:{}:{nonce:08x}", std::process::id()).into()
}

impl Daemon {
    /// Opens the store (applying migrations), binds the admin API and starts
    /// the workers.
    pub async fn start(
        settings: DaemonSettings,
        api: Arc<dyn MachineApi>,
        clock: SharedClock,
    ) -> Result<Daemon, DaemonError> {
        if settings.admin_token.is_none() && !settings.listen.ip().is_loopback() {
            return Err(DaemonError::NoTokenOffLoopback(settings.listen));
        }
        let store = Store::open(&settings.store).await?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: settings.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DaemonError::Listen {
                addr: settings.listen,
                source,
            })?;
        let shutdown = CancellationToken::new();

        let context = Arc::new(ScheduleContext {
            defaults: settings.defaults.clone(),
            calendars: settings.calendars.clone(),
            default_zone: settings.default_zone.clone(),
        });
        let registry = Registry::new(store.clone(), clock.clone(), context.clone());
        match &settings.utilization_pull {
            // The v1 API has no utilization route: such a schedule could only fail.
            Some(_) if api.backend() == crate::paperspace::Backend::V1 => tracing::info!(
                "the v1 Paperspace API has no utilization route; not installing the monthly utilization pull"
            ),
            Some(cron) => install_utilization_pull(&registry, cron).await,
            None => {}
        }
        let scheduler = Scheduler::new(store.clone(), api.clone(), clock.clone(), context);
        let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));

        let owner = owner_name();
        tracing::info!(owner = %owner, db = %settings.store.path.display(), "starting workers");
        let worker_parts = WorkerParts {
            store: store.clone(),
            api: api.clone(),
            clock: clock.clone(),
            settings: settings.workers.clone(),
            owner,
        };
        let workers_stop = shutdown.child_token();
        let workers = worker_parts.spawn(workers_stop.clone());

        let router = crate::http::router(
            HttpState {
                store: store.clone(),
                clock: clock.clone(),
                defaults: settings.defaults.clone(),
                token: settings.admin_token.clone(),
                registry: registry.clone(),
                api: Some(api),
            },
            &settings.http,
        );
        let http = tokio::spawn(crate::http::serve(
            listener,
            router,
            settings.http.clone(),
            shutdown.clone(),
        ));

        let pruner = tokio::spawn(prune_loop(
            store.clone(),
            clock,
            settings.retention,
            shutdown.clone(),
        ));
        Ok(Daemon {
            addr,
            store,
            shutdown,
            workers,
            workers_stop,
            worker_parts,
            registry,
            scheduler,
            http,
            pruner,
        })
    }

    /// Where the admin API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR:PORT` of the admin API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes the workers look for due jobs now (after a test moved its clock).
    pub fn nudge(&self) {
        self.store.poke();
    }

    /// A token that stops the daemon when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops claiming, lets running steps finish within the grace period,
    /// releases the rest, and stops the admin API.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Restarts the workers with new settings (a reload of `[workers]`):
    /// the running ones stop as at shutdown (running steps get the grace
    /// period, the rest go back to the queue without spending an attempt),
    /// then new ones start. Waiting jobs are parked in the database and do
    /// not notice.
    pub async fn restart_workers(&mut self, settings: WorkerSettings) {
        self.workers_stop.cancel();
        let old = std::mem::replace(&mut self.workers, tokio::spawn(async {}));
        let _ = old.await;
        self.worker_parts.settings = settings;
        self.workers_stop = self.shutdown.child_token();
        self.workers = self.worker_parts.spawn(self.workers_stop.clone());
    }

    /// Makes the built-in monthly utilization pull fire at `cron`: its
    /// schedule is updated (keeping any other edit) or installed.
    pub async fn set_utilization_pull(&self, cron: &str) -> Result<(), RegistryError> {
        match self.registry.schedule(UTILIZATION_SCHEDULE).await {
            Ok(existing) => {
                let spec = ScheduleSpec {
                    name: existing.name,
                    cron: cron.to_string(),
                    timezone: Some(existing.timezone),
                    template: existing.template,
                    targets: existing.targets,
                    enabled: existing.enabled,
                    jitter_seconds: existing.jitter_seconds,
                    exclusions: existing.exclusions,
                    misfire: Some(existing.misfire),
                    catch_up_seconds: Some(existing.catch_up_seconds),
                    overlap: existing.overlap,
                };
                self.registry
                    .update_schedule(UTILIZATION_SCHEDULE, spec)
                    .await
                    .map(|_| ())
            }
            Err(RegistryError::NotFound { .. }) => {
                install_utilization_pull(&self.registry, cron).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the daemon has stopped (after its shutdown token was cancelled).
    pub async fn wait(self) {
        let _ = self.workers.await;
        let _ = self.scheduler.await;
        let _ = self.http.await;
        let _ = self.pruner.await;
    }
}

/// What it takes to (re)start the workers.
struct WorkerParts {
    store: Store,
    api: Arc<dyn MachineApi>,
    clock: SharedClock,
    settings: WorkerSettings,
    /// The lease owner name; the same across restarts within one process.
    owner: Arc<str>,
}

impl WorkerParts {
    fn spawn(&self, stop: CancellationToken) -> JoinHandle<()> {
        let workers = Workers::new(
            self.store.clone(),
            self.api.clone(),
            self.clock.clone(),
            self.settings.clone(),
            self.owner.clone(),
        );
        tokio::spawn(workers.run(stop))
    }
}

/// The name of the built-in monthly utilization schedule.
pub const UTILIZATION_SCHEDULE: &str = "utilization-monthly";

/// Installs the monthly utilization pull unless a schedule of that name
/// exists (so that edits made over the API are kept).
async fn install_utilization_pull(registry: &Registry, cron: &str) {
    let spec = ScheduleSpec {
        name: UTILIZATION_SCHEDULE.to_string(),
        cron: cron.to_string(),
        timezone: None,
        template: JobTemplate {
            kind: "utilization".into(),
            args: serde_json::json!({"month": "previous"}),
            wait: None,
            wait_timeout_seconds: None,
            max_attempts: None,
            priority: None,
        },
        targets: Targets {
            machine_ids: Vec::new(),
            selector: Some(Selector {
                name: Some("*".into()),
                ..Selector::default()
            }),
        },
        enabled: true,
        jitter_seconds: 0,
        exclusions: Default::default(),
        misfire: None,
        catch_up_seconds: None,
        overlap: Default::default(),
    };
    match registry.create_schedule(spec).await {
        Ok(s) => tracing::info!(schedule = %s.name, cron, "installed the monthly utilization pull"),
        Err(RegistryError::NameTaken(_)) => {}
        Err(e) => tracing::warn!(error = %e, "could not install the monthly utilization pull"),
    }
}

async fn prune_loop(
    store: Store,
    clock: SharedClock,
    retention: Duration,
    shutdown: CancellationToken,
) {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    loop {
        match store.prune(clock.now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "pruned finished jobs past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not prune old jobs"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The Paperspace API the configuration asks for, rate limited; with the
/// `sim` backend, also the in-process simulator (keep it alive).
pub async fn paperspace_api(
    config: &Config,
    api_key: Option<ApiKey>,
) -> anyhow::Result<(Arc<dyn MachineApi>, Option<SimHandle>)> {
    let bucket = TokenBucket::new(config.rate_limit.per_second, config.rate_limit.burst);
    let timeout = config.paperspace.request_timeout;
    let needs_key = |backend: &str| {
        api_key.clone().with_context(|| {
            format!(
                "the {backend} backend needs a Paperspace API key: set PAPERSPACE_API_KEY or paperspace.api_key_file"
            )
        })
    };
    // `auto` is `v1` with a key and `sim` without (serve resolves it first;
    // this is for callers that did not).
    let mut paperspace = config.paperspace.clone();
    paperspace.backend = paperspace.backend.resolve(api_key.is_some());
    match paperspace.backend {
        ConfiguredBackend::Auto | ConfiguredBackend::Sim => {
            let sim_config = SimConfig {
                timings: Timings::uniform(config.paperspace.sim_transition),
                ..SimConfig::default()
            };
            let key = ApiKey::new(sim_config.api_key.clone())?;
            let handle = sim::spawn(sim_config, Arc::new(SystemClock))
                .await
                .context("could not start the simulated Paperspace account")?;
            tracing::warn!(
                url = %handle.url,
                "paperspace.backend = \"sim\": jobs run against a simulated account in this process; \
                 set paperspace.backend = \"v1\" and an API key to manage real machines"
            );
            // The legacy routes of the simulator: the only ones with utilization, which demos show.
            let mut legacy = LegacyConfig::new(key);
            legacy.base_url = handle.url.clone();
            legacy.request_timeout = timeout;
            let client = LegacyClient::new(legacy)?;
            Ok((Arc::new(Throttled::new(client, bucket)), Some(handle)))
        }
        ConfiguredBackend::Legacy => {
            let mut legacy = LegacyConfig::new(needs_key("legacy")?);
            legacy.base_url = paperspace
                .base_url()
                .unwrap_or(crate::paperspace::legacy::DEFAULT_BASE_URL)
                .to_string();
            legacy.request_timeout = timeout;
            let client = LegacyClient::new(legacy)?;
            Ok((Arc::new(Throttled::new(client, bucket)), None))
        }
        ConfiguredBackend::V1 => {
            let mut v1 = V1Config::new(needs_key("v1")?);
            v1.base_url = paperspace
                .base_url()
                .unwrap_or(crate::paperspace::v1::DEFAULT_BASE_URL)
                .to_string();
            v1.request_timeout = timeout;
            let client = V1Client::new(v1)?;
            Ok((Arc::new(Throttled::new(client, bucket)), None))
        }
    }
}

/// `machinist serve`: runs the daemon until SIGTERM or SIGINT, with systemd
/// notifications and SIGHUP reloads ([`crate::daemon::service`]).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::daemon::service::serve(config).await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
