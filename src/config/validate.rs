//! Range and cross-field checks on a whole [`Config`], all at once.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use super::Config;
use super::duration::human;
use super::error::{ConfigError, ConfigErrors};

/// No duration setting may exceed this (3650 days): past it, time arithmetic
/// elsewhere (SQLite timestamps, `chrono`) risks overflow, and no wait,
/// lease or retention needs more.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

/// The lower bound of a duration setting.
#[derive(Clone, Copy)]
enum Min {
    /// Zero is allowed.
    Zero,
    /// Must be more than zero.
    Positive,
    /// Must be at least this.
    AtLeast(Duration),
}

/// Checks `config`; keys in `skip` had a rejected value (already reported)
/// and are not checked again, nor is any rule that involves them.
pub(super) fn check(config: &Config, skip: &BTreeSet<String>) -> ConfigErrors {
    let mut c = Checker {
        config,
        skip,
        errors: ConfigErrors::default(),
    };
    // In the order of the example file, so that errors read top to bottom.
    let p = &config.paperspace;
    if !p.base_url.is_empty() {
        match reqwest::Url::parse(&p.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            Ok(_) => c.fail("paperspace.base_url", "must be an http:// or https:// URL"),
            Err(e) => c.fail("paperspace.base_url", format!("not a URL: {e}")),
        }
    }
    c.duration(
        "paperspace.request_timeout",
        p.request_timeout,
        Min::Positive,
    );
    c.duration("paperspace.sim_transition", p.sim_transition, Min::Zero);

    if !config.store.url.is_empty() {
        // Never echo the URL: it may hold a password.
        match url::Url::parse(&config.store.url) {
            Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => {}
            Ok(_) => c.fail(
                "store.url",
                "must be a postgres:// or postgresql:// URL (leave it empty for SQLite)",
            ),
            Err(e) => c.fail("store.url", format!("not a URL: {e}")),
        }
    }
    c.duration(
        "store.busy_timeout",
        config.store.busy_timeout,
        Min::Positive,
    );
    c.duration(
        "store.leader_lease",
        config.store.leader_lease,
        Min::AtLeast(Duration::from_secs(3)),
    );

    let w = &config.workers;
    c.between("workers.count", w.count, 1, 256);
    c.between("workers.prefetch", w.prefetch, 0, 1024);
    c.between("workers.max_attempts", w.max_attempts, 1, 100);
    c.duration(
        "workers.lease",
        w.lease,
        Min::AtLeast(Duration::from_secs(1)),
    );
    c.duration("workers.backoff_base", w.backoff_base, Min::Positive);
    c.duration("workers.backoff_max", w.backoff_max, Min::Positive);
    let (base, max) = ("workers.backoff_base", "workers.backoff_max");
    if w.backoff_base > w.backoff_max && !c.skipped(base) && !c.skipped(max) {
        // Blame whichever of the two the later layer set.
        let (key, rule) = if config.origin(max).rank() >= config.origin(base).rank() {
            (max, "at least workers.backoff_base")
        } else {
            (base, "at most workers.backoff_max")
        };
        let message = format!(
            "must be {rule} (backoff_base is {}, backoff_max is {})",
            human(w.backoff_base),
            human(w.backoff_max)
        );
        c.fail(key, message);
    }
    c.duration("workers.poll_interval", w.poll_interval, Min::Positive);

    let wait = &config.wait;
    c.duration("wait.ready", wait.ready, Min::Positive);
    c.duration("wait.serviceready", wait.serviceready, Min::Positive);
    c.duration("wait.off", wait.off, Min::Positive);
    c.duration("wait.gone", wait.gone, Min::Positive);

    let per_second = config.rate_limit.per_second;
    if !(per_second > 0.0 && per_second <= 1000.0) {
        c.fail(
            "rate_limit.per_second",
            format!("must be more than 0 and at most 1000 (got {per_second})"),
        );
    }
    if config.rate_limit.burst < 1 {
        c.fail("rate_limit.burst", "must be at least 1 (got 0)");
    }

    let http = &config.http;
    c.duration("http.request_timeout", http.request_timeout, Min::Positive);
    c.between("http.max_body_bytes", http.max_body_bytes, 1024, 16 << 20);
    c.duration("http.header_timeout", http.header_timeout, Min::Positive);
    c.duration("http.body_timeout", http.body_timeout, Min::Positive);
    c.duration("http.idle_timeout", http.idle_timeout, Min::Positive);
    c.between("http.max_connections", http.max_connections, 16, 65_536);
    c.duration(
        "http.session_ttl",
        http.session_ttl,
        Min::AtLeast(Duration::from_secs(60)),
    );
    if http.session_ttl > Duration::from_secs(30 * 86_400) {
        c.fail(
            "http.session_ttl",
            format!(
                "must be at most 30 days (got {})",
                humantime::format_duration(http.session_ttl)
            ),
        );
    }

    let retention = &config.retention;
    c.duration(
        "retention.finished_jobs",
        retention.finished_jobs,
        Min::Positive,
    );

    let cost = &config.cost;
    c.duration("cost.meter_interval", cost.meter_interval, Min::Positive);
    c.duration("cost.backfill", cost.backfill, Min::Positive);
    if cost.meter_interval < std::time::Duration::from_secs(10) {
        c.fail(
            "cost.meter_interval",
            "at least 10s: each run lists the whole account".to_string(),
        );
    }
    for id in &cost.monthly_billed {
        if !crate::machine::is_paperspace_id(id) {
            c.fail(
                "cost.monthly_billed",
                format!(
                    "`{}` is not a machine id (letters, digits, `-` and `_`)",
                    crate::text::escape(id)
                ),
            );
        }
    }

    let hooks = &config.webhooks;
    c.duration("webhooks.timeout", hooks.timeout, Min::Positive);
    c.between("webhooks.workers", hooks.workers, 1, 256);
    c.duration(
        "webhooks.left_running_after",
        hooks.left_running_after,
        Min::Positive,
    );
    c.duration(
        "webhooks.left_running_repeat",
        hooks.left_running_repeat,
        Min::Positive,
    );
    if hooks.retry_schedule.len() > 50 || hooks.retry_schedule.iter().any(|d| d.is_zero()) {
        c.fail(
            "webhooks.retry_schedule",
            "at most 50 delays, each above zero".to_string(),
        );
    }
    let policy = crate::webhook::DestinationPolicy {
        allow_http_loopback: hooks.allow_http_loopback,
        allow_private: hooks.allow_private,
    };
    let mut names = std::collections::BTreeSet::new();
    for e in &hooks.endpoints {
        let label = crate::text::escape(&e.name);
        if !names.insert(e.name.clone()) {
            c.fail(
                "webhooks.endpoints",
                format!("endpoint `{label}` is defined twice"),
            );
        }
        if let Err(problems) = e.spec().check() {
            for p in problems {
                c.fail("webhooks.endpoints", format!("endpoint `{label}`: {p}"));
            }
        }
        if let Err(err) = policy.check_url(&e.url) {
            c.fail(
                "webhooks.endpoints",
                format!("endpoint `{label}`: url: {err}"),
            );
        }
    }

    let schedule = &config.schedule;
    if let Err(e) = crate::schedule::timing::parse_zone(&schedule.default_timezone) {
        c.fail("schedule.default_timezone", e.to_string());
    } else if !schedule.utilization_pull.trim().is_empty()
        && let Err(e) = crate::schedule::timing::CronSchedule::parse(
            &schedule.utilization_pull,
            &schedule.default_timezone,
        )
    {
        c.fail("schedule.utilization_pull", e.to_string());
    }
    for name in schedule.calendars.keys() {
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            c.fail(
                "schedule.calendars",
                format!("calendar name `{name}`: use letters, digits, `-` and `_`"),
            );
        }
    }

    let level = config.log.level.trim();
    if level.is_empty() {
        c.fail("log.level", "must not be empty (e.g. `info`)");
    } else if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(level) {
        c.fail("log.level", format!("not a tracing filter: {e}"));
    }
    c.errors
}

struct Checker<'a> {
    /// The settings being checked.
    config: &'a Config,
    /// Keys whose value was already rejected while layering: their value is
    /// an earlier layer's, so a range error about it would mislead.
    skip: &'a BTreeSet<String>,
    /// Every problem found so far.
    errors: ConfigErrors,
}

impl Checker<'_> {
    fn skipped(&self, key: &str) -> bool {
        self.skip.contains(key)
    }

    fn fail(&mut self, key: &str, message: impl Into<String>) {
        if !self.skipped(key) {
            let origin = self.config.origin(key);
            self.errors
                .push(ConfigError::new(origin, Some(key), message));
        }
    }

    fn between<T: PartialOrd + Display>(&mut self, key: &str, value: T, lo: T, hi: T) {
        if value < lo || value > hi {
            self.fail(key, format!("must be between {lo} and {hi} (got {value})"));
        }
    }

    fn duration(&mut self, key: &str, value: Duration, min: Min) {
        match min {
            Min::Positive if value.is_zero() => self.fail(key, "must be more than 0s"),
            Min::AtLeast(min) if value < min => self.fail(
                key,
                format!("must be at least {} (got {})", human(min), human(value)),
            ),
            _ if value > MAX_DURATION => self.fail(
                key,
                format!(
                    "must be at most {} (got {})",
                    human(MAX_DURATION),
                    human(value)
                ),
            ),
            _ => {}
        }
    }
}
