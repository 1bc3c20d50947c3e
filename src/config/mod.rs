//! Typed settings, layered from defaults, a TOML file and the environment,
//! validated once.
//!
//! # Layers
//!
//! Later layers win:
//!
//! 1. the built-in defaults ([`Config::default`]); every setting has one, so
//!    no file and an empty file are both valid;
//! 2. the TOML file: the one given to [`Config::load`] (it must exist), else
//!    [`DEFAULT_PATH`] if it exists, else none;
//! 3. environment variables `MACHINIST_<SECTION>_<KEY>`, e.g.
//!    `MACHINIST_WORKERS_COUNT=4` or `MACHINIST_RATE_LIMIT_PER_SECOND=2.5`,
//!    each parsed as its setting's type. A variable that starts with a
//!    section's prefix but names no key of it (`MACHINIST_WORKERS_CONUT`) is
//!    an error, so a typo in a unit file is not silently ignored; other
//!    `MACHINIST_*` variables (`MACHINIST_ADMIN_TOKEN`) are not settings and
//!    are left alone.
//!
//! Then two values are derived: an empty `store.path` becomes
//! `$STATE_DIRECTORY/machinist.db` (systemd's `StateDirectory=`) or
//! `./machinist.db`, and an empty `paperspace.base_url` becomes the backend's
//! own ([`BackendChoice::default_base_url`]).
//!
//! # Validation
//!
//! [`Config::load`] reports every problem at once in [`ConfigErrors`]: TOML
//! syntax (file and line), unknown sections and keys, values of the wrong
//! type (a bad duration), bad environment values (naming the variable), and
//! out-of-range values, each with where it came from ([`Origin`]), the key and
//! why. What needs the secrets too (an API key for a real backend, an admin
//! token for a non-loopback listen address) is checked by
//! [`Config::secrets_for_serve`], which `serve` and `check-config` call.
//!
//! # Secrets
//!
//! The API key and the admin token never live in [`Config`]: it holds only
//! the paths of the files they may come from. [`Config::secrets`] reads them
//! into [`Secrets`], whose types ([`ApiKey`](crate::paperspace::ApiKey), [`AdminToken`]) print as a mask.
//! [`Config::to_toml_masked`] prints the effective configuration with each
//! secret as `"****"`.
//!
//! # From settings to running parts
//!
//! The sections describe the file; the running parts keep settings of their
//! own shape, and each section reaches them in one step, in one place:
//! where a part's type fits the file it is used directly (`store.synchronous`
//! is the store's [`Durability`]), otherwise the part translates its section
//! itself (`WorkerSettings::from_config`, `HttpLimits::from_config`), and
//! `daemon::DaemonSettings::from_config` gathers them. `[paperspace]` and
//! `[rate_limit]` become a client through `daemon::PaperspaceSettings`.
//! [`BackendChoice`] is what the operator chose (`auto`, `sim`, `legacy`,
//! `v1`), not the API a client speaks ([`Backend`]): it maps to one with
//! [`BackendChoice::api`].

pub(crate) mod duration;
mod error;
mod layer;
mod secrets;
mod sources;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::machine::WaitTarget;
use crate::meter::{StorageUnit, UsageUnit};
use crate::paperspace::Backend;
use crate::store::Durability;

pub use error::{ConfigError, ConfigErrors, Origin};
pub use secrets::{AdminToken, BadAdminToken, Secrets};
pub use sources::{DEFAULT_PATH, Env, Sources};

/// Machinist's whole configuration.
///
/// Build one with [`Config::load`] (or [`Config::load_from`] in tests), or
/// start from [`Config::default`] and change fields. It also remembers where
/// each value came from ([`Config::origin`]); that is not a setting, and two
/// configs with the same settings compare equal whatever their sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which Paperspace API to speak and how.
    pub paperspace: PaperspaceConfig,
    /// The SQLite database that holds jobs, schedules and history.
    pub store: StoreConfig,
    /// The workers that run jobs, and their retry policy.
    pub workers: WorkersConfig,
    /// Default timeouts of waits for a machine state.
    pub wait: WaitConfig,
    /// The client-side rate limit on Paperspace calls.
    pub rate_limit: RateLimitConfig,
    /// The HTTP admin API.
    pub http: HttpConfig,
    /// How long history is kept.
    pub retention: RetentionConfig,
    /// Schedules and windows.
    pub schedule: ScheduleConfig,
    /// Metering: what machines cost, how it is measured and priced.
    pub cost: CostConfig,
    /// Webhooks: where deliveries may go, their timeout and retries, the
    /// alarms, and endpoints defined here.
    pub webhooks: WebhooksConfig,
    /// Logging.
    pub log: LogConfig,
    /// Where each value came from, for messages; not a setting.
    #[serde(skip)]
    provenance: Provenance,
}

/// `[paperspace]`: which API the daemon speaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaperspaceConfig {
    /// `auto` (the default) is `v1` when a Paperspace API key is configured
    /// and `sim` otherwise, so a fresh install can be tried safely and a real
    /// account speaks the current API; `sim` runs against an in-process
    /// simulated account (no key, no cost); `legacy` and `v1` are real.
    pub backend: BackendChoice,
    /// The API's base URL; empty means the backend's own
    /// ([`BackendChoice::default_base_url`]). For a proxy or a test server. Ignored
    /// by `sim`. [`Config::load`] fills in the default.
    pub base_url: String,
    /// A file holding the API key (systemd `LoadCredential=` or a 0600 file).
    /// Empty: the `PAPERSPACE_API_KEY` variable, then the credential
    /// `paperspace-api-key` in `$CREDENTIALS_DIRECTORY`.
    pub api_key_file: PathBuf,
    /// How long one API call may take before it counts as a (transient) timeout.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// How long the simulated account takes for a state change (`sim` only);
    /// long enough to watch a wait happen, short enough for a demo.
    #[serde(with = "duration")]
    pub sim_transition: Duration,
}

/// Which Paperspace API the daemon is to speak, as the operator chose it
/// (`paperspace.backend`).
///
/// A choice, not yet a client: `auto` is resolved once the secrets are read
/// ([`Config::resolve_backend`]), and `sim` means a simulator started in
/// this process. Either way the client that gets built speaks one
/// [`paperspace::Backend`](crate::paperspace::Backend) ([`BackendChoice::api`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// `v1` when an API key is configured, else `sim`; resolved once the
    /// secrets are read ([`Config::resolve_backend`]).
    #[default]
    Auto,
    /// An in-process simulated account: no key, no cost.
    Sim,
    /// `api.paperspace.io`, authenticated with `x-api-key`.
    Legacy,
    /// `api.paperspace.com/v1`, authenticated with a Bearer token.
    V1,
}

impl BackendChoice {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Sim => "sim",
            BackendChoice::Legacy => "legacy",
            BackendChoice::V1 => "v1",
        }
    }

    /// The real Paperspace API this choice names; `None` for the simulator
    /// (and for `auto` until it is resolved).
    pub fn api(self) -> Option<Backend> {
        match self {
            BackendChoice::Auto | BackendChoice::Sim => None,
            BackendChoice::Legacy => Some(Backend::Legacy),
            BackendChoice::V1 => Some(Backend::V1),
        }
    }

    /// The real API's base URL; `None` for the simulator (and for `auto`
    /// until it is resolved).
    pub fn default_base_url(self) -> Option<&'static str> {
        self.api().map(Backend::default_base_url)
    }

    /// Whether this backend calls Paperspace and so needs an API key.
    pub(crate) fn needs_api_key(self) -> bool {
        self.api().is_some()
    }

    /// What `auto` means given whether an API key is configured; any other
    /// backend is itself.
    pub fn resolve(self, has_api_key: bool) -> BackendChoice {
        match self {
            BackendChoice::Auto if has_api_key => BackendChoice::V1,
            BackendChoice::Auto => BackendChoice::Sim,
            backend => backend,
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PaperspaceConfig {
    /// The base URL to use: the configured one, else the backend's default;
    /// `None` for the simulator (and for `auto` until it is resolved).
    pub fn base_url(&self) -> Option<&str> {
        self.backend.api().map(|backend| self.base_url_for(backend))
    }

    /// The base URL to use for `backend` (what `auto` resolved to): the
    /// configured one, else the backend's own.
    pub(crate) fn base_url_for(&self, backend: Backend) -> &str {
        if self.base_url.is_empty() {
            backend.default_base_url()
        } else {
            &self.base_url
        }
    }

    /// The configured key file, if any.
    pub fn api_key_file(&self) -> Option<&Path> {
        non_empty_path(&self.api_key_file)
    }
}

impl Default for PaperspaceConfig {
    fn default() -> Self {
        PaperspaceConfig {
            backend: BackendChoice::Auto,
            base_url: String::new(),
            api_key_file: PathBuf::new(),
            request_timeout: Duration::from_secs(30),
            sim_transition: Duration::from_secs(3),
        }
    }
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The database file. Empty means `$STATE_DIRECTORY/machinist.db` when
    /// systemd sets `STATE_DIRECTORY`, else `./machinist.db`;
    /// [`Config::load`] fills that in.
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://…`) that several daemons may share;
    /// empty means the SQLite file at `path`. A password in it is masked
    /// wherever it is shown (`StoreOptions`'s `DatabaseUrl`).
    pub url: String,
    /// SQLite's `PRAGMA synchronous`: `full` survives power loss, `normal`
    /// (with WAL) may lose the last commits on power loss but not on a crash.
    /// The store's own type, so the setting needs no translation.
    pub synchronous: Durability,
    /// How long a connection waits for a lock before SQLite reports busy.
    #[serde(with = "duration")]
    pub busy_timeout: Duration,
    /// PostgreSQL: how long the leading daemon's lease on the scheduler
    /// lasts; every daemon beats every third of it, and a dead leader is
    /// replaced within it.
    #[serde(with = "duration")]
    pub leader_lease: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::new(),
            url: String::new(),
            synchronous: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            leader_lease: Duration::from_secs(15),
        }
    }
}

/// `[workers]`: how jobs are run and retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// How many jobs run at once (waits do not hold a worker), 1 to 256.
    pub count: usize,
    /// Jobs claimed ahead of a free worker, 0 to 1024: each starts the
    /// moment a worker frees up, without waiting for the next commit. They
    /// show as `running` meanwhile; a cancel still stops them before their
    /// call goes out.
    pub prefetch: usize,
    /// Attempts per job unless the job says otherwise, 1 to 100; bounds the
    /// retries of a transient failure.
    pub max_attempts: u32,
    /// A running job's lease; renewed at a third of it. A lease that runs
    /// out (the process died) puts the job back in the queue. At least 1s.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// The first retry delay; doubled per attempt, with jitter.
    #[serde(with = "duration")]
    pub backoff_base: Duration,
    /// The cap on the retry delay; at least `backoff_base`.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// How often a waiting job polls its machine.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            count: 8,
            prefetch: 8,
            max_attempts: 5,
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// `[wait]`: how long a wait for each target state may take unless a job
/// says otherwise; a machine stuck past it fails its job with a message
/// naming the state it was stuck in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaitConfig {
    /// For `ready` (after start or restart).
    #[serde(with = "duration")]
    pub ready: Duration,
    /// For `serviceready`.
    #[serde(with = "duration")]
    pub serviceready: Duration,
    /// For `off` (after stop).
    #[serde(with = "duration")]
    pub off: Duration,
    /// For `gone` (after destroy).
    #[serde(with = "duration")]
    pub gone: Duration,
}

impl WaitConfig {
    /// The default timeout of a wait for `target`.
    pub fn timeout_for(&self, target: WaitTarget) -> Duration {
        match target {
            WaitTarget::Ready => self.ready,
            WaitTarget::ServiceReady => self.serviceready,
            WaitTarget::Off => self.off,
            WaitTarget::Gone => self.gone,
        }
    }
}

impl Default for WaitConfig {
    fn default() -> Self {
        WaitConfig {
            ready: Duration::from_secs(15 * 60),
            serviceready: Duration::from_secs(15 * 60),
            off: Duration::from_secs(10 * 60),
            gone: Duration::from_secs(10 * 60),
        }
    }
}

/// `[rate_limit]`: a token bucket shared by every Paperspace call, so that
/// a burst of jobs does not get the account throttled (429).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Tokens added per second: the sustained call rate, above 0 and at most 1000.
    pub per_second: f64,
    /// The bucket's size: how many calls may go at once after a quiet spell; at least 1.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 5.0,
            burst: 10,
        }
    }
}

/// `[http]`: the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Where the admin API listens. Loopback by default; any other address
    /// needs an admin token.
    pub listen: SocketAddr,
    /// A file holding the admin bearer token. Empty: the
    /// `MACHINIST_ADMIN_TOKEN` variable, then the credential `admin-token`
    /// in `$CREDENTIALS_DIRECTORY`.
    pub admin_token_file: PathBuf,
    /// A file holding a read-only bearer token: it may call every `GET`
    /// route (jobs, history, machines, reports…) and nothing that acts.
    /// Empty: the `MACHINIST_VIEWER_TOKEN` variable, then the credential
    /// `viewer-token`; none of them: no viewer token. Needs an admin token.
    pub viewer_token_file: PathBuf,
    /// How long one admin request may take before it is answered with a timeout.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// The largest request body accepted, 1 KiB to 16 MiB; requests are small JSON.
    pub max_body_bytes: usize,
    /// How long a request head may take to arrive, from its first byte; a
    /// connection that is slower is closed.
    #[serde(with = "duration")]
    pub header_timeout: Duration,
    /// How long a request body may take to arrive; slower is answered 408.
    #[serde(with = "duration")]
    pub body_timeout: Duration,
    /// How long a connection may stay open with no request in progress and
    /// no byte moving; then it is closed.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Connections open at once, 16 to 65536. At the cap a new connection
    /// closes the oldest one that has no request being handled. Keep it
    /// well below the open-file limit (the unit sets `LimitNOFILE=8192`).
    pub max_connections: usize,
    /// How long a dashboard sign-in (`/ui`) lasts before the browser must
    /// sign in again, 1 minute to 30 days.
    #[serde(with = "duration")]
    pub session_ttl: Duration,
}

impl HttpConfig {
    /// The configured token file, if any.
    pub fn admin_token_file(&self) -> Option<&Path> {
        non_empty_path(&self.admin_token_file)
    }

    /// The configured viewer token file, if any.
    pub fn viewer_token_file(&self) -> Option<&Path> {
        non_empty_path(&self.viewer_token_file)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7420)),
            admin_token_file: PathBuf::new(),
            viewer_token_file: PathBuf::new(),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 64 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

/// `[retention]`: what is pruned, so the database does not grow forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Finished jobs (and their events) older than this are deleted.
    #[serde(with = "duration")]
    pub finished_jobs: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            finished_jobs: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// `[schedule]`: schedules and windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The IANA zone of schedules that name none.
    pub default_timezone: String,
    /// When the built-in `utilization-monthly` schedule pulls the previous
    /// month's utilization of every machine; empty to not install it. Edits
    /// to the installed schedule (over the API) are kept.
    pub utilization_pull: String,
    /// Named holiday calendars that schedules and windows can exclude:
    /// `nl = ["2026-12-25", "2026-12-26"]`.
    pub calendars: BTreeMap<String, Vec<chrono::NaiveDate>>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            default_timezone: "UTC".to_string(),
            utilization_pull: "0 2 1 * *".to_string(),
            calendars: BTreeMap::new(),
        }
    }
}

/// `[cost]`: metering machines and pricing what they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// How often the meter lists the account: its machines (states and
    /// rates) and, on v1, one paged listing of the machine events since the
    /// last run; also how often the account standing is checked.
    #[serde(with = "duration")]
    pub meter_interval: Duration,
    /// On the first run (an empty database), how far back the meter reads
    /// v1's machine events: the history savings compare against.
    #[serde(with = "duration")]
    pub backfill: Duration,
    /// What one unit of v1's `usageRate` buys: `hour`, `minute` or `second`
    /// of running. Paperspace does not document it; the legacy `hourlyRate`
    /// was per hour.
    pub usage_rate_unit: UsageUnit,
    /// What one unit of v1's `storageRate` buys: `month`, `day` or `hour`.
    pub storage_rate_unit: StorageUnit,
    /// Machines billed monthly (v1 machines do not say): stopping them saves
    /// nothing, and reports show them as such. More can be marked with
    /// `PUT /v1/machines/{id}/billing`.
    pub monthly_billed: Vec<String>,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            meter_interval: Duration::from_secs(5 * 60),
            backfill: Duration::from_secs(62 * 24 * 3600),
            usage_rate_unit: UsageUnit::Hour,
            storage_rate_unit: StorageUnit::Month,
            monthly_billed: Vec::new(),
        }
    }
}

/// `[webhooks]`: delivering events to receivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow `http://` to loopback addresses, and loopback addresses at
    /// all (a receiver on this host; tests).
    pub allow_http_loopback: bool,
    /// Allow private, link-local and unique-local addresses (a receiver
    /// inside your network). The cloud metadata address is among them.
    pub allow_private: bool,
    /// How long one attempt may take, connection to the answer's end.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// The delay before each retry; a delivery gets one attempt more than
    /// this list has entries. The default is the Standard Webhooks
    /// example (5s to 10h), then twice 24h: about three days in all.
    #[serde(with = "duration::list")]
    pub retry_schedule: Vec<Duration>,
    /// Deliveries (and digests) sent at once, on workers of their own.
    pub workers: usize,
    /// How long after Machinist was asked to stop a machine that is still
    /// running `machine.left_running` goes out.
    #[serde(with = "duration")]
    pub left_running_after: Duration,
    /// The least time between two `machine.left_running` of one machine.
    #[serde(with = "duration")]
    pub left_running_repeat: Duration,
    /// How long the previous secret keeps signing after a rotation.
    #[serde(with = "duration")]
    pub rotation_overlap: Duration,
    /// Install the built-in weekly digest schedule (Monday 08:00 in
    /// `schedule.default_timezone`); endpoints opt in to `digest.weekly`.
    pub digest: bool,
    /// Endpoints defined here (`[[webhooks.endpoints]]`), kept in the
    /// database under their name and changed only here.
    pub endpoints: Vec<WebhookEndpointConfig>,
}

/// The Standard Webhooks specification's example schedule (5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h), then twice a day more: the last attempt
/// comes about three days after the first.
const DEFAULT_RETRY_SCHEDULE: [u64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    24 * 3600,
    24 * 3600,
];

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_http_loopback: false,
            allow_private: false,
            timeout: Duration::from_secs(15),
            retry_schedule: DEFAULT_RETRY_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            workers: 8,
            left_running_after: Duration::from_secs(15 * 60),
            left_running_repeat: Duration::from_secs(3 * 3600),
            rotation_overlap: Duration::from_secs(24 * 3600),
            digest: true,
            endpoints: Vec::new(),
        }
    }
}

/// One `[[webhooks.endpoints]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointConfig {
    /// Its name: how the database knows it across restarts, and the name
    /// of its secret's credential (`webhook-NAME`).
    pub name: String,
    /// Where deliveries go.
    pub url: String,
    /// `standard` (signed JSON) or `slack`.
    #[serde(default)]
    pub format: crate::webhook::Format,
    /// Event types; absent: every type but the opt-in ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<crate::webhook::EventType>>,
    /// Only events about these machines, schedules, windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<String>,
    /// A file holding its `whsec_` secret. Without it the secret is read
    /// from `MACHINIST_WEBHOOK_SECRET_<NAME>` (upper case, `-` as `_`) or
    /// the systemd credential `webhook-NAME`; a `slack` endpoint may have
    /// none (Slack does not verify signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
}

impl WebhookEndpointConfig {
    /// The endpoint as the store keeps it.
    pub fn spec(&self) -> crate::webhook::EndpointSpec {
        crate::webhook::EndpointSpec {
            url: self.url.clone(),
            name: Some(self.name.clone()),
            format: self.format,
            events: self.events.clone(),
            machines: self.machines.clone(),
            schedules: self.schedules.clone(),
            windows: self.windows.clone(),
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `machinist=debug,warn`); `RUST_LOG`, when
    /// set, wins over it.
    pub level: String,
    /// `text` for people, `json` for a log collector.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// Where each value came from, and which file was read. Not a setting: it
/// compares equal always, so that configs compare by their settings alone.
#[derive(Clone, Default)]
struct Provenance {
    /// The config file read, if any: what a reload reads again.
    file: Option<PathBuf>,
    /// `section.key` → where its value came from; keys left out kept their default.
    origins: BTreeMap<String, Origin>,
}

impl PartialEq for Provenance {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provenance")
            .field("file", &self.file)
            .field("set", &self.origins.len())
            .finish()
    }
}

impl Config {
    /// Loads the configuration of the real process: `explicit` if given (it
    /// must exist), else [`DEFAULT_PATH`] if it exists, else the defaults;
    /// then the `MACHINIST_*` variables of the process environment.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigErrors> {
        Config::load_from(Sources::process(explicit.map(Path::to_path_buf)))
    }

    /// Like [`Config::load`], but returns the configuration as far as it is
    /// valid (a rejected value keeps the default or the file's value) along
    /// with every problem, so that a caller can add the problems of the
    /// secrets and report all of them in one go.
    pub fn load_with_problems(explicit: Option<&Path>) -> (Config, ConfigErrors) {
        layer::load_lenient(&Sources::process(explicit.map(Path::to_path_buf)))
    }

    /// Loads from the given sources; the process environment is not read.
    pub fn load_from(sources: Sources) -> Result<Config, ConfigErrors> {
        layer::load(&sources)
    }

    /// Checks the settings alone (ranges, cross-field rules), reporting every
    /// problem. [`Config::load`] already did this; it is for a config built
    /// or changed in code.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        validate::check(self, &Default::default()).into_result(())
    }

    /// The file the settings were read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.provenance.file.as_deref()
    }

    /// Where the value of `key` (`workers.count`) came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.provenance
            .origins
            .get(key)
            .cloned()
            .unwrap_or(Origin::Default)
    }

    /// Reads the secrets: for each, the configured file, else its
    /// environment variable, else its systemd credential. Problems with a
    /// file (unreadable, empty, not a valid key) are errors naming the file,
    /// never its content; a file readable by group or others is a warning
    /// in [`Secrets::warnings`] for the caller to log.
    pub fn secrets(&self, env: &Env) -> Result<Secrets, ConfigErrors> {
        secrets::resolve(self, env)
    }

    /// Checks what `serve` needs beyond valid settings: an API key for a real
    /// backend, an admin token when listening beyond loopback.
    pub fn validate_for_serve(&self, secrets: &Secrets) -> Result<(), ConfigErrors> {
        secrets::check_for_serve(self, secrets).into_result(())
    }

    /// Replaces `paperspace.backend = "auto"` with what it means for these
    /// secrets (`v1` with an API key, else `sim`) and fills in that
    /// backend's base URL when none is set.
    pub fn resolve_backend(&mut self, secrets: &Secrets) {
        let resolved = self.paperspace.backend.resolve(secrets.api_key.is_some());
        self.paperspace.backend = resolved;
        if self.paperspace.base_url.is_empty()
            && let Some(url) = resolved.default_base_url()
        {
            self.paperspace.base_url = url.to_string();
        }
    }

    /// [`Config::secrets`] and [`Config::validate_for_serve`] in one, with the
    /// problems of both reported together: what `serve` and `check-config` call.
    pub fn secrets_for_serve(&self, env: &Env) -> Result<Secrets, ConfigErrors> {
        secrets::resolve_for_serve(self, env)
    }

    /// The effective configuration as TOML, with `paperspace.api_key` and
    /// `http.admin_token` and `http.viewer_token` shown as `"****"` when set
    /// and left out when not.
    /// The output is for people (`check-config`); it does not load back as
    /// is, since secrets never go in the config file.
    pub fn to_toml_masked(&self, secrets: &Secrets) -> String {
        let mut table = match toml::Table::try_from(self) {
            Ok(table) => table,
            // Only a non-UTF-8 path set in code can get here.
            Err(e) => return format!("# the configuration cannot be printed as TOML: {e}\n"),
        };
        let mask = |table: &mut toml::Table, section: &str, key: &str, set: bool| {
            if let (true, Some(toml::Value::Table(section))) = (set, table.get_mut(section)) {
                section.insert(key.to_string(), toml::Value::String("****".to_string()));
            }
        };
        mask(
            &mut table,
            "paperspace",
            "api_key",
            secrets.api_key.is_some(),
        );
        mask(
            &mut table,
            "http",
            "admin_token",
            secrets.admin_token.is_some(),
        );
        mask(
            &mut table,
            "http",
            "viewer_token",
            secrets.viewer_token.is_some(),
        );
        // A database URL may carry a password: shown with it masked.
        if !self.store.url.is_empty()
            && let Some(toml::Value::Table(store)) = table.get_mut("store")
        {
            let shown = crate::store::DatabaseUrl::new(self.store.url.clone()).redacted();
            store.insert("url".to_string(), toml::Value::String(shown));
        }
        toml::to_string(&table)
            .unwrap_or_else(|e| format!("# the configuration cannot be printed as TOML: {e}\n"))
    }
}

impl Config {
    /// The settings (`section.key`) whose values differ between `self` and
    /// `other`, in file order: what a reload (SIGHUP) has to act on.
    pub(crate) fn changed_keys(&self, other: &Config) -> Vec<String> {
        let (Ok(old), Ok(new)) = (toml::Table::try_from(self), toml::Table::try_from(other)) else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        for (section, keys) in &new {
            let (Some(keys), Some(old_keys)) = (
                keys.as_table(),
                old.get(section).and_then(toml::Value::as_table),
            ) else {
                continue;
            };
            for (key, value) in keys {
                if old_keys.get(key) != Some(value) {
                    changed.push(format!("{section}.{key}"));
                }
            }
        }
        changed
    }
}

fn non_empty_path(path: &Path) -> Option<&Path> {
    (!path.as_os_str().is_empty()).then_some(path)
}
