//! `machinist serve` as a service: the daemon's main loop with systemd
//! notifications, the watchdog, SIGHUP reloads and SIGTERM shutdown.
//!
//! The loop waits for a signal or the next watchdog tick. `READY=1` goes
//! out once [`Daemon::start`] has applied migrations and bound the admin
//! API; `WATCHDOG=1` at half of `WATCHDOG_USEC`, each time after the
//! database answered a read; `STOPPING=1` at SIGTERM or SIGINT.
//!
//! # What SIGHUP reloads
//!
//! The configuration is read again (same file, same environment). If it is
//! invalid, every problem is logged and the running configuration stays.
//! Otherwise each changed setting is either applied or named in a warning
//! as needing a restart:
//!
//! - `log.level` (unless `RUST_LOG` is set, which wins);
//! - `workers.count`, `prefetch`, `lease`, `poll_interval`, `backoff_base`,
//!   `backoff_max`: the workers are restarted (running steps finish within
//!   the grace period, waiting jobs are untouched);
//! - `schedule.utilization_pull`: the built-in schedule's cron is updated.
//!
//! Everything else (the listen address, the database, the backend, secrets,
//! calendars, …) needs a restart, and the warning says which keys changed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::clock::{OffsetClock, SharedClock, SystemClock};
use crate::config::{BackendChoice, Config, Env};
use crate::daemon::notify::{Notifier, NotifyEnv};
use crate::daemon::paperspace_client::paperspace_api;
use crate::daemon::{Daemon, DaemonSettings};
use crate::logging::{self, LevelChange};
use crate::worker::WorkerSettings;

/// Settings a reload applies by restarting the workers.
const WORKER_KEYS: [&str; 6] = [
    "workers.count",
    "workers.prefetch",
    "workers.lease",
    "workers.poll_interval",
    "workers.backoff_base",
    "workers.backoff_max",
];

/// How long the watchdog's database read may take before the tick is
/// skipped (and systemd, hearing nothing, eventually restarts us).
const WATCHDOG_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let secrets = config
        .secrets_for_serve(&Env::process())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if config.paperspace.backend == BackendChoice::Auto {
        config.resolve_backend(&secrets);
        tracing::info!(
            backend = %config.paperspace.backend,
            "paperspace.backend = \"auto\": {}",
            if secrets.api_key.is_some() {
                "an API key is configured, so jobs run against the Paperspace v1 API"
            } else {
                "no API key is configured, so jobs run against a simulated account"
            }
        );
    }
    for warning in &secrets.warnings {
        tracing::warn!("{warning}");
    }
    let notifier = Notifier::from_env(&NotifyEnv::process()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "systemd notifications are off");
        Notifier::disabled()
    });
    let mut signals = Signals::new().context("could not listen for signals")?;
    let (api, _sim) = paperspace_api(&config, secrets.api_key.clone()).await?;
    let mut settings = DaemonSettings::from_config(&config, secrets.admin_token.clone());
    settings.webhook_endpoints = secrets.webhook_endpoints.clone();
    settings.viewer_token = secrets.viewer_token.clone();
    // Daemons that share a database keep the database's time, so that
    // leases and due times mean one instant on every host (`leader.rs`).
    let clock: SharedClock = match settings.store.url {
        Some(_) => {
            let clock = Arc::new(OffsetClock::default());
            settings.database_clock = Some(clock.clone());
            clock
        }
        None => Arc::new(SystemClock),
    };
    let mut daemon = Daemon::start(settings, api, clock).await?;
    tracing::info!(url = %daemon.url(), "machinist is serving the admin API");
    notifier.ready(&format!("serving the admin API on {}", daemon.url()));

    let mut watchdog = notifier.watchdog_interval().map(|every| {
        tracing::info!(every = ?every, "sending the systemd watchdog");
        tokio::time::interval(every)
    });
    let mut running = config;
    loop {
        tokio::select! {
            signal = signals.next() => match signal {
                Signal::Hangup => {
                    notifier.reloading();
                    reload(&mut daemon, &mut running).await;
                    notifier.ready(&format!("serving the admin API on {}", daemon.url()));
                }
                Signal::Terminate => break,
            },
            _ = next_tick(&mut watchdog) => {
                let read = daemon.store().next_due_after(chrono::Utc::now());
                match tokio::time::timeout(WATCHDOG_READ_TIMEOUT, read).await {
                    Ok(Ok(_)) => notifier.watchdog(),
                    Ok(Err(e)) => tracing::warn!(error = %e, "watchdog: the database did not answer"),
                    Err(_) => tracing::warn!("watchdog: the database did not answer in {WATCHDOG_READ_TIMEOUT:?}"),
                }
            }
        }
    }
    tracing::info!("shutting down: no new jobs are claimed; running steps get a grace period");
    notifier.stopping("shutting down");
    daemon.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Reads the configuration again and applies what can be applied live.
async fn reload(daemon: &mut Daemon, running: &mut Config) {
    tracing::info!("SIGHUP: reloading the configuration");
    let mut new = match Config::load(running.file()) {
        Ok(new) => new,
        Err(errors) => {
            for error in errors.errors() {
                tracing::error!("{error}");
            }
            tracing::error!(
                "the new configuration is not valid; nothing was reloaded and the running configuration stays"
            );
            return;
        }
    };
    // `auto` means what it meant at start-up unless the key came or went.
    if let Ok(secrets) = new.secrets(&Env::process()) {
        new.resolve_backend(&secrets);
    }
    let changed = running.changed_keys(&new);
    if changed.is_empty() {
        tracing::info!("reloaded the configuration: nothing changed");
        return;
    }
    let mut reloaded = Vec::new();
    let mut needs_restart = Vec::new();
    let mut failed = Vec::new();
    let mut restart_workers = false;
    for key in changed {
        match key.as_str() {
            "log.level" => match logging::set_level(&new.log.level) {
                Ok(LevelChange::Set(level)) => {
                    running.log.level = new.log.level.clone();
                    reloaded.push(format!("log.level = {level:?}"));
                }
                Ok(LevelChange::OverriddenByRustLog) => {
                    failed.push("log.level (RUST_LOG is set and wins)".to_string())
                }
                Err(e) => failed.push(format!("log.level ({e})")),
            },
            "schedule.utilization_pull" => {
                let cron = new.schedule.utilization_pull.trim();
                if cron.is_empty() {
                    failed.push(format!(
                        "schedule.utilization_pull (empty; remove the schedule with `machinist schedules rm {}`)",
                        crate::daemon::UTILIZATION_SCHEDULE
                    ));
                    continue;
                }
                match daemon.set_utilization_pull(cron).await {
                    Ok(()) => {
                        running.schedule.utilization_pull = new.schedule.utilization_pull.clone();
                        reloaded.push(format!("schedule.utilization_pull = {cron:?}"));
                    }
                    Err(e) => failed.push(format!("schedule.utilization_pull ({e})")),
                }
            }
            key if WORKER_KEYS.contains(&key) => {
                restart_workers = true;
                reloaded.push(key.to_string());
            }
            _ => needs_restart.push(key),
        }
    }
    if restart_workers {
        running.workers.count = new.workers.count;
        running.workers.prefetch = new.workers.prefetch;
        running.workers.lease = new.workers.lease;
        running.workers.poll_interval = new.workers.poll_interval;
        running.workers.backoff_base = new.workers.backoff_base;
        running.workers.backoff_max = new.workers.backoff_max;
        let settings = WorkerSettings::from_config(&running.workers);
        tracing::info!(count = settings.count, "restarting the workers");
        daemon.restart_workers(settings).await;
    }
    if !reloaded.is_empty() {
        tracing::info!(reloaded = %reloaded.join(", "), "reloaded the configuration");
    }
    if !failed.is_empty() {
        tracing::warn!(not_reloaded = %failed.join("; "), "some settings could not be reloaded");
    }
    if !needs_restart.is_empty() {
        tracing::warn!(
            needs_restart = %needs_restart.join(", "),
            "these settings changed but take effect only after a restart"
        );
    }
}

/// The signals the main loop acts on.
enum Signal {
    /// SIGHUP: reload.
    Hangup,
    /// SIGTERM or SIGINT: shut down.
    Terminate,
}

/// The signal streams, registered once at start-up so that none is missed
/// between two turns of the loop.
struct Signals {
    /// SIGTERM (SIGINT is awaited through `ctrl_c`).
    term: tokio::signal::unix::Signal,
    /// SIGHUP.
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Terminate,
            _ = tokio::signal::ctrl_c() => Signal::Terminate,
            _ = self.hup.recv() => Signal::Hangup,
        }
    }
}
