//! The daemon wing: the store, the workers, the scheduler, the pruner and
//! the admin HTTP API, started together and stopped gracefully, and the
//! wiring that builds them from the configuration.
//!
//! # Design
//!
//! [`Daemon::start`] takes everything from outside: [`DaemonSettings`], the
//! Paperspace API and the clock. Tests give it a temp database, a listener
//! on port 0, a simulator and a clock of their own; `machinist serve` builds
//! the same from the configuration. So the wiring is in few places, each
//! with one job:
//!
//! - `settings.rs`: [`DaemonSettings::from_config`], the one translation of
//!   a [`Config`](crate::config::Config) into the parts' own settings;
//! - `paperspace_client.rs`: [`PaperspaceSettings`], the one place a
//!   Paperspace client is built (for `serve`, the demo, the walkthrough
//!   and the tests);
//! - `service.rs`: [`serve`], the main loop around a running daemon, with
//!   systemd notifications (`notify.rs`), the watchdog and SIGHUP reloads;
//! - `pruner.rs`: the hourly deletion of finished jobs past their retention;
//! - `meter.rs`: [`Meter`], the meter's ingestion of the account's machines,
//!   events and standing every `cost.meter_interval`.
//!
//! Nothing here depends on the command line module: the CLI calls in,
//! never the other way.

mod leader;
mod meter;
mod notify;
mod paperspace_client;
mod pruner;
mod rate_limit;
mod service;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::cost::{CostSettings, Ledger};
use crate::delivery::{LeftRunning, Webhooks};
use crate::http::HttpState;
use crate::job::Lane;
use crate::paperspace::MachineApi;
use crate::schedule::spec::{ScheduleContext, ScheduleSpec};
use crate::schedule::target::{Selector, Targets};
use crate::schedule::template::JobTemplate;
use crate::scheduler::Scheduler;
use crate::scheduler::registry::{Registry, RegistryError};
use crate::store::EndpointSaved;
use crate::store::{DaemonInfo, Store, StoreError};
use crate::webhook::catalogue;
use crate::worker::{WorkerHooks, WorkerSettings, Workers};

pub use meter::{Meter, MeterError, MeterRun};
pub use paperspace_client::PaperspaceSettings;
pub use service::serve;
pub use settings::DaemonSettings;

/// What to do about an address that could not be bound, in the settings'
/// own names.
fn listen_hint(cause: &std::io::Error) -> &'static str {
    match cause.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process is using that port: stop it, or listen elsewhere with MACHINIST_HTTP_LISTEN (http.listen in the configuration)"
        }
        _ => "listen elsewhere with MACHINIST_HTTP_LISTEN (http.listen in the configuration)",
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin API's address could not be bound.
    // The OS error is in the message and deliberately not a `source`: the
    // CLI prints the whole chain, which would say it twice.
    #[error("cannot listen on {addr}: {cause}; {}", listen_hint(.cause))]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why the system refused it.
        cause: std::io::Error,
    },
    /// An admin API reachable beyond this host must ask for a token.
    #[error(
        "refusing to serve the admin API on {0} without an admin token: set MACHINIST_ADMIN_TOKEN or http.admin_token_file, or listen on a loopback address"
    )]
    NoTokenOffLoopback(SocketAddr),
}

/// A running daemon.
pub struct Daemon {
    /// Where the admin API listens (the real port when port 0 was asked for).
    addr: SocketAddr,
    /// The database every part shares.
    store: Store,
    /// Cancelled to stop everything.
    shutdown: CancellationToken,
    /// The workers' task, awaited at shutdown and replaced by a restart.
    workers: JoinHandle<()>,
    /// Stops the workers alone (a child of `shutdown`), so that a reload can
    /// restart them with new settings.
    workers_stop: CancellationToken,
    /// What the workers were started with, kept to restart them.
    worker_parts: WorkerParts,
    /// Kept for reloads that change schedules (the utilization pull).
    registry: Registry,
    /// The work done by the leading daemon (`leader.rs`): the scheduler,
    /// the left-running watch, the pruner and the meter, while this daemon
    /// leads; ends after them at shutdown.
    led: JoinHandle<()>,
    /// The admin API's task, which drains its connections at shutdown.
    http: JoinHandle<()>,
    /// The webhooks lane's workers (deliveries, digests): stopped last, so
    /// that `daemon.stopping` can still go out.
    hook_workers: JoinHandle<()>,
    /// Stops them (not a child of `shutdown`).
    hook_workers_stop: CancellationToken,
    /// Publishes `daemon.stopping`.
    webhooks: Webhooks,
    /// `daemon.*` events' fields.
    identity: Identity,
}

/// Who this daemon is, for `daemon.started` and `daemon.stopping`.
#[derive(Clone)]
struct Identity {
    host: String,
    backend: String,
    /// For the time of `daemon.stopping`.
    clock: SharedClock,
}

/// A lease owner name unique to this process: host, pid and a random part.
fn owner_name() -> Arc<str> {
    let host = host_name();
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
        // The port first: a daemon that cannot serve must not have created
        // or migrated a database on its way to failing.
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|cause| DaemonError::Listen {
                addr: settings.listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| DaemonError::Listen {
            addr: settings.listen,
            cause,
        })?;
        // Named before the store opens: its connections carry the name
        // (`StoreOptions::daemon`).
        let owner = owner_name();
        let store = Store::open(&settings.store.for_daemon(owner.clone())).await?;
        if store.is_shared() {
            // Paperspace limits the account: one bucket for every daemon.
            api.share_rate_limit(Arc::new(rate_limit::StoreBucket(store.clone())));
        }
        let shutdown = CancellationToken::new();

        let context = Arc::new(ScheduleContext {
            defaults: settings.defaults.clone(),
            calendars: settings.calendars.clone(),
            default_zone: settings.default_zone.clone(),
        });
        let registry =
            Registry::new(store.clone(), clock.clone(), context.clone()).with_api(api.clone());
        // On v1 the pull closes the month's metering; on legacy it also
        // pulls getUtilization.
        if let Some(cron) = &settings.utilization_pull {
            install_utilization_pull(&registry, cron).await;
        }
        let hook_settings = Arc::new(settings.webhooks.clone());
        let webhooks = Webhooks::new(store.clone(), clock.clone(), hook_settings.clone());
        if !settings.webhook_endpoints.is_empty() {
            match store
                .sync_config_endpoints(settings.webhook_endpoints.clone(), clock.now())
                .await?
            {
                EndpointSaved::NameTaken(name) => tracing::error!(
                    name = %name,
                    "a webhook endpoint of the configuration has the name of one made over the API; rename one of them (the configuration's is not used)"
                ),
                _ => tracing::info!(
                    endpoints = settings.webhook_endpoints.len(),
                    "webhook endpoints of the configuration are in place"
                ),
            }
        }
        if let Err(e) = webhooks.publisher.refresh().await {
            tracing::error!(error = %e, "could not read the webhook endpoints; every event will be stored until they are");
        }
        let identity = Identity {
            host: host_name(),
            backend: api.backend().as_str().to_string(),
            clock: clock.clone(),
        };
        let cost = &settings.cost;
        let ledger = Ledger::new(
            store.clone(),
            CostSettings {
                backend: api.backend(),
                // Translated once, with the workers' (`settings.rs`).
                units: settings.workers.rate_units,
                monthly_billed: cost.monthly_billed.iter().cloned().collect(),
            },
        );
        if let Some(cron) = &settings.digest {
            install_digest(&registry, cron).await;
        }

        store
            .register(&DaemonInfo {
                id: owner.clone(),
                host: identity.host.clone(),
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .await?;
        tracing::info!(owner = %owner, db = %settings.store.describe(), "starting workers");
        let hooks = WorkerHooks {
            courier: webhooks.courier.clone(),
            publisher: webhooks.publisher.clone(),
            ledger: ledger.clone(),
        };
        let worker_parts = WorkerParts {
            store: store.clone(),
            api: api.clone(),
            clock: clock.clone(),
            settings: settings.workers.clone(),
            owner: owner.clone(),
            hooks: hooks.clone(),
        };
        let workers_stop = shutdown.child_token();
        let workers = worker_parts.spawn(workers_stop.clone());
        // The webhooks lane: workers of its own, claiming only deliveries
        // and digests, under an owner name of its own.
        let hook_parts = WorkerParts {
            settings: WorkerSettings {
                count: hook_settings.workers.max(1),
                prefetch: 0,
                lane: Lane::Webhooks,
                ..settings.workers.clone()
            },
            owner: format!("{owner}/webhooks").into(),
            ..worker_parts.clone()
        };
        let hook_workers_stop = CancellationToken::new();
        let hook_workers = hook_parts.spawn(hook_workers_stop.clone());
        // The work done once for all daemons on the database, in the one
        // that leads (`leader.rs`; on SQLite, this one, always).
        let singletons: leader::Start = {
            let (store, api, clock) = (store.clone(), api.clone(), clock.clone());
            let publisher = webhooks.publisher.clone();
            let (meter, meter_interval, backfill) =
                (settings.meter, cost.meter_interval, cost.backfill);
            let (hook_settings, rate_units) = (hook_settings.clone(), settings.workers.rate_units);
            let retention = settings.retention;
            Box::new(move |stop: CancellationToken| {
                let mut running = vec![
                    tokio::spawn(
                        Scheduler::new(store.clone(), api.clone(), clock.clone(), context.clone())
                            .with_publisher(publisher.clone())
                            .run(stop.clone()),
                    ),
                    tokio::spawn(
                        LeftRunning::new(
                            store.clone(),
                            publisher.clone(),
                            clock.clone(),
                            hook_settings.clone(),
                            rate_units,
                        )
                        .run(stop.clone()),
                    ),
                    tokio::spawn(pruner::prune_loop(
                        store.clone(),
                        clock.clone(),
                        retention,
                        stop.clone(),
                    )),
                ];
                if meter {
                    running.push(tokio::spawn(
                        Meter::new(
                            store.clone(),
                            api.clone(),
                            clock.clone(),
                            meter_interval,
                            backfill,
                        )
                        .with_publisher(publisher.clone())
                        .run(stop.clone()),
                    ));
                }
                running
            })
        };
        let led = tokio::spawn(leader::lead(
            leader::Leading {
                store: store.clone(),
                id: owner.clone(),
                lease: settings.leader_lease,
                clock: settings.database_clock.clone(),
            },
            singletons,
            shutdown.clone(),
        ));

        let router = crate::http::router(
            HttpState {
                store: store.clone(),
                clock: clock.clone(),
                defaults: settings.defaults.clone(),
                token: settings.admin_token.clone(),
                viewer_token: settings.viewer_token.clone(),
                registry: registry.clone(),
                api: Some(api),
                ledger,
                webhooks: webhooks.clone(),
                shutdown: shutdown.clone(),
            },
            &settings.http,
        );
        let http = tokio::spawn(crate::http::serve(
            listener,
            router,
            settings.http.clone(),
            shutdown.clone(),
        ));

        webhooks
            .publisher
            .publish(
                catalogue::daemon(
                    true,
                    &identity.host,
                    env!("CARGO_PKG_VERSION"),
                    &identity.backend,
                    clock.now(),
                ),
                None,
            )
            .await;
        Ok(Daemon {
            addr,
            store,
            shutdown,
            workers,
            workers_stop,
            worker_parts,
            registry,
            led,
            http,
            hook_workers,
            hook_workers_stop,
            webhooks,
            identity,
        })
    }

    /// `http://ADDR:PORT` of the admin API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The daemon's store, for the watchdog's read and for tests' assertions.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops claiming, lets running steps finish within the grace period,
    /// releases the rest, and stops the admin API. `daemon.stopping` is
    /// published first, and the webhooks lane stops last, after giving its
    /// deliveries a moment ([`STOPPING_GRACE`]); what it cannot deliver by
    /// then stays queued for the next start.
    pub async fn stop(self) {
        let now = self.identity.clock.now();
        let published = self
            .webhooks
            .publisher
            .publish(
                catalogue::daemon(
                    false,
                    &self.identity.host,
                    env!("CARGO_PKG_VERSION"),
                    &self.identity.backend,
                    now,
                ),
                None,
            )
            .await;
        self.shutdown.cancel();
        if let Some(published) = published {
            let _ = tokio::time::timeout(
                STOPPING_GRACE,
                delivered(&self.store, &published.deliveries),
            )
            .await;
        }
        self.wait().await;
    }

    /// Restarts the workers with new settings (a reload of `[workers]`):
    /// the running ones stop as at shutdown (running steps get the grace
    /// period, the rest go back to the queue without spending an attempt),
    /// then new ones start. Waiting jobs are parked in the database and do
    /// not notice.
    async fn restart_workers(&mut self, settings: WorkerSettings) {
        self.workers_stop.cancel();
        let old = std::mem::replace(&mut self.workers, tokio::spawn(async {}));
        let _ = old.await;
        self.worker_parts.settings = settings;
        self.workers_stop = self.shutdown.child_token();
        self.workers = self.worker_parts.spawn(self.workers_stop.clone());
    }

    /// Makes the built-in monthly utilization pull fire at `cron`: its
    /// schedule is updated (keeping any other edit) or installed.
    async fn set_utilization_pull(&self, cron: &str) -> Result<(), RegistryError> {
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
                    // Its targets were checked when they were stored.
                    allow_unknown: true,
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

    /// Waits until the daemon has stopped (after `shutdown` was cancelled).
    async fn wait(self) {
        self.hook_workers_stop.cancel();
        let _ = self.hook_workers.await;
        let _ = self.workers.await;
        let _ = self.led.await;
        let _ = self.http.await;
    }
}

/// How long a stopping daemon waits for `daemon.stopping` to be delivered.
const STOPPING_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Until every job of `ids` has finished (delivered, or failed and
/// waiting for a retry counts as not yet).
async fn delivered(store: &Store, ids: &[crate::job::JobId]) {
    let mut commits = store.commits();
    loop {
        let mut open = false;
        for id in ids {
            match store.job(*id).await {
                Ok(Some(job)) if !job.state.is_final() => open = true,
                Ok(_) => {}
                Err(_) => return,
            }
        }
        if !open || commits.changed().await.is_err() {
            return;
        }
    }
}

/// The host's name, for `daemon.*` events.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// What it takes to (re)start the workers.
#[derive(Clone)]
struct WorkerParts {
    /// Where the jobs are.
    store: Store,
    /// Where their calls go.
    api: Arc<dyn MachineApi>,
    /// The daemon's clock, a test's own in tests.
    clock: SharedClock,
    /// The latest settings; a reload replaces them before a restart.
    settings: WorkerSettings,
    /// The lease owner name; the same across restarts within one process.
    owner: Arc<str>,
    /// Webhooks: deliveries, digests and job events.
    hooks: WorkerHooks,
}

impl WorkerParts {
    fn spawn(&self, stop: CancellationToken) -> JoinHandle<()> {
        let workers = Workers::new(
            self.store.clone(),
            self.api.clone(),
            self.clock.clone(),
            self.settings.clone(),
            self.owner.clone(),
        )
        .with_hooks(self.hooks.clone());
        tokio::spawn(workers.run(stop))
    }
}

/// The name of the built-in weekly digest schedule.
pub const DIGEST_SCHEDULE: &str = "digest-weekly";

/// Installs the weekly digest unless a schedule of that name exists. Its
/// job composes the digest only when some endpoint takes `digest.weekly`.
async fn install_digest(registry: &Registry, cron: &str) {
    let template = builtin_template("digest", serde_json::json!({}));
    let spec = builtin(DIGEST_SCHEDULE, cron, template, Targets::default());
    install(registry, spec, "the weekly digest").await;
}

/// A built-in schedule's job: the kind's defaults.
fn builtin_template(kind: &str, args: serde_json::Value) -> JobTemplate {
    JobTemplate {
        kind: kind.into(),
        args,
        wait: None,
        wait_timeout_seconds: None,
        max_attempts: None,
        priority: None,
    }
}

/// A built-in schedule in the default zone, with the default policies.
fn builtin(name: &str, cron: &str, template: JobTemplate, targets: Targets) -> ScheduleSpec {
    ScheduleSpec {
        name: name.to_string(),
        cron: cron.to_string(),
        timezone: None,
        template,
        targets,
        enabled: true,
        jitter_seconds: 0,
        exclusions: Default::default(),
        misfire: None,
        catch_up_seconds: None,
        overlap: Default::default(),
        // From the configuration, perhaps before the first listing.
        allow_unknown: true,
    }
}

/// Creates a built-in schedule unless one of its name exists (so that
/// edits made over the API are kept).
async fn install(registry: &Registry, spec: ScheduleSpec, what: &str) {
    let cron = spec.cron.clone();
    match registry.create_schedule(spec).await {
        Ok(s) => tracing::info!(schedule = %s.name, cron, "installed {what}"),
        Err(RegistryError::NameTaken(_)) => {}
        Err(e) => tracing::warn!(error = %e, "could not install {what}"),
    }
}

/// The name of the built-in monthly utilization schedule.
pub const UTILIZATION_SCHEDULE: &str = "utilization-monthly";

/// Installs the monthly utilization pull unless a schedule of that name
/// exists (so that edits made over the API are kept).
async fn install_utilization_pull(registry: &Registry, cron: &str) {
    let template = builtin_template("utilization", serde_json::json!({"month": "previous"}));
    let targets = Targets {
        machine_ids: Vec::new(),
        selector: Some(Selector {
            name: Some("*".into()),
            ..Selector::default()
        }),
        group: None,
    };
    let spec = builtin(UTILIZATION_SCHEDULE, cron, template, targets);
    install(registry, spec, "the monthly utilization pull").await;
}
