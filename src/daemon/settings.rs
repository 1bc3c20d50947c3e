//! [`DaemonSettings`]: the one translation of a [`Config`] into what the
//! running parts take.
//!
//! Each section becomes its part's own settings here and nowhere else:
//! `[store]` the store's options (its `synchronous` already is the store's
//! [`Durability`](crate::store::Durability)), `[workers]` the workers'
//! settings ([`WorkerSettings::from_config`]), `[http]` the admin API's
//! limits ([`HttpLimits::from_config`]), `[wait]` and `workers.max_attempts`
//! the defaults of each job, `[retention]` and `[schedule]` as they are.
//! `[paperspace]` and `[rate_limit]` become a client instead
//! ([`PaperspaceSettings`](super::PaperspaceSettings)). Tests skip the configuration and start
//! from [`DaemonSettings::new`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{AdminToken, Config, CostConfig};
use crate::delivery::WebhookSettings;
use crate::http::HttpLimits;
use crate::job::JobDefaults;
use crate::meter::RateUnits;
use crate::schedule::calendar::Calendars;
use crate::store::{DatabaseUrl, StoreOptions};
use crate::webhook::{EndpointSpec, Secret};
use crate::worker::WorkerSettings;

/// The weekly digest's firing: Monday 08:00 in the default zone.
pub const DIGEST_CRON: &str = "0 8 * * 1";

/// Everything the daemon needs besides the Paperspace API and the clock.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where the database is and how durable its commits are.
    pub store: StoreOptions,
    /// How many jobs run at once, their leases and retries.
    pub workers: WorkerSettings,
    /// What a submitted job that says nothing gets: attempts and wait timeouts.
    pub(super) defaults: JobDefaults,
    /// Where the admin API listens; port 0 picks a free one.
    pub(super) listen: SocketAddr,
    /// Protection of the admin API against large, slow or many requests.
    pub http: HttpLimits,
    /// `None` disables auth, which is only allowed on a loopback address.
    pub admin_token: Option<AdminToken>,
    /// The read-only token: `GET` routes only (`http.viewer_token_file`).
    pub viewer_token: Option<AdminToken>,
    /// Finished jobs older than this are pruned.
    pub(super) retention: Duration,
    /// How long the leading daemon's lease on the scheduler lasts
    /// (`store.leader_lease`; PostgreSQL only): a dead leader is replaced
    /// within it.
    pub leader_lease: Duration,
    /// The daemon's clock when it follows the database's (several daemons
    /// on PostgreSQL): set to the database's time at every heartbeat.
    pub database_clock: Option<std::sync::Arc<crate::clock::OffsetClock>>,
    /// Holiday calendars schedules and windows may exclude.
    pub calendars: Calendars,
    /// The zone of schedules that name none.
    pub default_zone: String,
    /// The cron expression of the built-in monthly utilization pull, if installed.
    pub utilization_pull: Option<String>,
    /// Metering and pricing (`[cost]`).
    pub cost: CostConfig,
    /// Whether the meter's ingestion runs (`daemon/meter.rs`); off for
    /// tests and the demo, which list the account only when they say so.
    pub meter: bool,
    /// Webhooks: destinations, timeout, retries, alarms (`[webhooks]`).
    pub webhooks: WebhookSettings,
    /// The endpoints of `[[webhooks.endpoints]]`, with their secrets.
    pub webhook_endpoints: Vec<(EndpointSpec, Secret)>,
    /// The cron of the built-in weekly digest, if installed.
    pub digest: Option<String>,
}

impl DaemonSettings {
    /// The configuration's defaults around a database path, but listening
    /// on a free loopback port and without the utilization pull: what tests
    /// and the demo start from.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        DaemonSettings {
            store: StoreOptions::new(db_path),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            utilization_pull: None,
            meter: false,
            digest: None,
            ..DaemonSettings::from_config(&Config::default(), None)
        }
    }

    /// The settings a configuration asks for.
    pub fn from_config(config: &Config, admin_token: Option<AdminToken>) -> Self {
        DaemonSettings {
            store: StoreOptions {
                path: config.store.path.clone(),
                url: (!config.store.url.is_empty())
                    .then(|| DatabaseUrl::new(config.store.url.clone())),
                durability: config.store.synchronous,
                busy_timeout: config.store.busy_timeout,
                daemon: None,
            },
            workers: WorkerSettings {
                rate_units: RateUnits {
                    usage: config.cost.usage_rate_unit,
                    storage: config.cost.storage_rate_unit,
                },
                ..WorkerSettings::from_config(&config.workers)
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
            // Set by the caller with the secrets, as the admin token is.
            viewer_token: None,
            retention: config.retention.finished_jobs,
            leader_lease: config.store.leader_lease,
            database_clock: None,
            calendars: Calendars::new(config.schedule.calendars.clone()),
            default_zone: config.schedule.default_timezone.clone(),
            utilization_pull: Some(config.schedule.utilization_pull.trim().to_string())
                .filter(|c| !c.is_empty()),
            cost: config.cost.clone(),
            meter: true,
            webhooks: WebhookSettings::from_config(&config.webhooks),
            webhook_endpoints: Vec::new(),
            digest: config.webhooks.digest.then(|| DIGEST_CRON.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Durability;

    #[test]
    fn new_is_the_configured_defaults_on_a_free_loopback_port_without_the_pull() {
        let settings = DaemonSettings::new("/tmp/x.db");
        assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(settings.utilization_pull, None);
        assert_eq!(settings.admin_token.map(|_| ()), None);
        assert_eq!(settings.store.durability, Durability::Full);
        assert_eq!(settings.store.busy_timeout, Duration::from_secs(5));
        assert_eq!(settings.http, HttpLimits::default());
        assert_eq!(settings.retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(settings.default_zone, "UTC");
        assert_eq!(settings.workers.count, 8);
        assert_eq!(settings.workers.grace, Duration::from_secs(10));
        assert_eq!(settings.defaults.max_attempts, 5);
    }

    #[test]
    fn from_config_takes_each_section() {
        let mut config = Config::default();
        config.store.synchronous = Durability::Normal;
        config.workers.count = 3;
        config.workers.backoff_max = Duration::from_secs(7);
        config.http.max_body_bytes = 4096;
        config.schedule.utilization_pull = "  ".into();
        let settings = DaemonSettings::from_config(&config, None);
        assert_eq!(settings.store.durability, Durability::Normal);
        assert_eq!(settings.workers.count, 3);
        assert_eq!(settings.workers.backoff.max, Duration::from_secs(7));
        assert_eq!(settings.http.max_body_bytes, 4096);
        assert_eq!(settings.listen, config.http.listen);
        assert_eq!(settings.utilization_pull, None);
    }
}
