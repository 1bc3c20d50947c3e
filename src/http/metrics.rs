//! Prometheus metrics of one daemon, rendered in the text format for
//! `GET /metrics`.
//!
//! Two sources, so that no hot path needs a hook:
//!
//! - gauges are read from the database at scrape time with cheap queries
//!   (jobs by kind and state, queue depth, the oldest due job, machines by
//!   state: `Store::gauges`);
//! - counters and histograms are kept in process, fed by reading the rows the
//!   daemon writes anyway, since the last scrape: `job_events` (every state
//!   change and every Paperspace call a job made, with status and latency)
//!   and `firings` (every schedule firing, with its due time), read with
//!   `Store::event_facts` and `Store::firing_facts`. Ids only grow,
//!   so each row is counted once. At the first scrape the last
//!   [`SEED_EVENTS`] events seed the counters, so a restarted daemon does not
//!   start blind; Prometheus sees that as the usual counter reset.
//!
//! Several daemons on one PostgreSQL database each count only the rows
//! they wrote (each row names its daemon), so that a sum over the daemons
//! counts every job, call and firing once. A daemon that restarts is a new
//! daemon there: it starts from zero, the same counter reset. The gauges
//! are the shared queue's, the same on every daemon.
//!
//! The admin API's own requests are counted by the HTTP layer
//! ([`Metrics::admin_request`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::store::rows::{from_ms, to_ms};
use crate::store::{EventFact, Store, StoreError};

/// Events read at the first scrape to seed the counters.
pub(super) const SEED_EVENTS: i64 = 50_000;
/// Rows read per query while catching up.
const BATCH: i64 = 5_000;

/// Buckets (seconds) of job durations and waits: jobs take from milliseconds
/// (a refused request) to many minutes (a machine that boots slowly).
const LONG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Buckets (seconds) of Paperspace call latency.
const CALL_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets (seconds) of how late a schedule fired after its due time.
const LATENESS_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
];

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug, Clone)]
struct Histogram {
    /// Upper bounds, ascending; `+Inf` is implied.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative; summed when rendered).
    counts: Vec<u64>,
    /// The sum of all observations (`_sum`).
    sum: f64,
    /// How many observations (`_count`).
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        let value = value.max(0.0);
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

/// Label values, in the order of the metric's label names.
type Labels = Vec<String>;

/// What the in-process part holds.
#[derive(Debug, Default)]
struct Counters {
    /// Last `job_events.id` read; `None` until the first scrape seeds it.
    event_cursor: Option<i64>,
    /// Last `firings.rowid` read.
    firing_cursor: Option<i64>,
    /// Paperspace calls by method, route and status (`none` without answer).
    api_calls: BTreeMap<Labels, u64>,
    /// Paperspace call latency by route.
    api_latency: BTreeMap<Labels, Histogram>,
    /// Jobs that reached a final state, by kind and state: from submission to the end.
    job_duration: BTreeMap<Labels, Histogram>,
    /// Jobs put back in the queue, by kind and why (`backoff` after a
    /// transient error or an expired lease, `manual` by the retry route).
    retries: BTreeMap<Labels, u64>,
    /// Wait-for-state durations (first wait to the end), by kind and final state.
    wait_duration: BTreeMap<Labels, Histogram>,
    /// Schedule firing lateness (recorded minus due), by outcome.
    fire_lateness: BTreeMap<Labels, Histogram>,
    /// Admin API requests by method, route template and status.
    admin_requests: BTreeMap<Labels, u64>,
    /// The latest time Paperspace answered a job's call (any HTTP status
    /// below 500), for readiness.
    last_api_answer: Option<DateTime<Utc>>,
}

/// Paperspace calls the jobs made, as counted from their events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ApiCalls {
    /// Every call.
    pub total: u64,
    /// Calls Paperspace throttled (429).
    pub throttled: u64,
    /// Calls that failed on Paperspace's side (5xx) or got no answer.
    pub failed: u64,
}

/// One daemon's metrics. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub(super) struct Metrics {
    /// Everything counted so far, and how far the catch-up has read.
    counters: Mutex<Counters>,
    /// Serialises catch-up so two scrapes do not count rows twice.
    catching_up: tokio::sync::Mutex<()>,
}

const FINAL: [&str; 3] = ["succeeded", "failed", "cancelled"];

impl Metrics {
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding the lock leaves plain counters: still usable.
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one admin API request (`route` is the matched template, or
    /// `unmatched`, so that random paths cannot grow the label set).
    pub(super) fn admin_request(&self, method: &str, route: &str, status: u16) {
        // Clients may invent methods; only the standard ones become labels.
        const KNOWN: [&str; 9] = [
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
        ];
        let method = if KNOWN.contains(&method) {
            method
        } else {
            "OTHER"
        };
        let key = vec![method.to_string(), route.to_string(), status.to_string()];
        *self.lock().admin_requests.entry(key).or_default() += 1;
    }

    /// When Paperspace last answered one of the jobs' calls, as far as the
    /// rows read so far tell.
    pub(super) fn last_api_answer(&self) -> Option<DateTime<Utc>> {
        self.lock().last_api_answer
    }

    /// The Paperspace calls counted so far (since the first scrape's seed):
    /// for the dashboard's health page.
    pub(super) fn api_call_summary(&self) -> ApiCalls {
        let c = self.lock();
        let mut calls = ApiCalls::default();
        for (labels, n) in &c.api_calls {
            calls.total += n;
            match labels.get(2).map(String::as_str) {
                Some("429") => calls.throttled += n,
                Some("none") => calls.failed += n,
                Some(s) if s.starts_with('5') => calls.failed += n,
                _ => {}
            }
        }
        calls
    }

    /// Reads the rows written since the last call into the counters.
    pub(super) async fn catch_up(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.catching_up.lock().await;
        let (events, firings) = {
            let c = self.lock();
            (c.event_cursor, c.firing_cursor)
        };
        let events = match events {
            Some(id) => id,
            None => (store.last_event_id().await?.unwrap_or(0) - SEED_EVENTS).max(0),
        };
        self.catch_up_events(store, events).await?;
        self.catch_up_firings(store, firings.unwrap_or(0)).await
    }

    /// Counts the job events after `events`, in batches.
    async fn catch_up_events(&self, store: &Store, mut events: i64) -> Result<(), StoreError> {
        loop {
            let batch = store.event_facts(events, BATCH).await?;
            let Some(last) = batch.last() else { break };
            events = last.id;
            let full = batch.len() as i64 == BATCH;
            let mut c = self.lock();
            // Past the others' rows too, counting this daemon's own.
            for fact in batch.into_iter().filter(|f| f.mine) {
                c.count_event(fact);
            }
            c.event_cursor = Some(events);
            if !full {
                break;
            }
        }
        self.lock().event_cursor = Some(events);
        Ok(())
    }

    /// Counts the firings after `firings`, in batches.
    async fn catch_up_firings(&self, store: &Store, mut firings: i64) -> Result<(), StoreError> {
        loop {
            let batch = store.firing_facts(firings, BATCH).await?;
            let Some(last) = batch.last() else { break };
            firings = last.rowid;
            let full = batch.len() as i64 == BATCH;
            let mut c = self.lock();
            for f in batch.into_iter().filter(|f| f.mine) {
                if f.outcome != "skipped" {
                    let late = (f.recorded_at - f.fire_at) as f64 / 1000.0;
                    c.fire_lateness
                        .entry(vec![f.outcome])
                        .or_insert_with(|| Histogram::new(LATENESS_BUCKETS))
                        .observe(late);
                }
            }
            if !full {
                break;
            }
        }
        self.lock().firing_cursor = Some(firings);
        Ok(())
    }

    /// Catches up, reads the gauges and renders everything in the
    /// Prometheus text format (version 0.0.4).
    pub(super) async fn render(
        &self,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        self.catch_up(store).await?;
        let gauges = store.gauges(now).await?;
        let daemons = store.daemons().await?;
        let oldest_due_age = gauges
            .oldest_due
            .map_or(0.0, |at| ((to_ms(now) - to_ms(at)).max(0)) as f64 / 1000.0);
        let c = self.lock();
        let mut out = String::with_capacity(8 * 1024);
        gauge(
            &mut out,
            "machinist_jobs",
            "Jobs in the database by kind and state.",
            &["kind", "state"],
            gauges
                .jobs
                .iter()
                .map(|(k, s, n)| (vec![k.clone(), s.clone()], *n as f64)),
        );
        gauge(
            &mut out,
            "machinist_queue_depth",
            "Queued or waiting jobs; `due` ones could run now.",
            &["state", "due"],
            gauges
                .depth
                .iter()
                .map(|(s, due, n)| (vec![s.clone(), due.to_string()], *n as f64)),
        );
        gauge(
            &mut out,
            "machinist_oldest_due_job_age_seconds",
            "How long the longest-due queued or waiting job has been due (0 when none).",
            &[],
            std::iter::once((vec![], oldest_due_age)),
        );
        gauge(
            &mut out,
            "machinist_machines",
            "Machines last seen in each state (gone machines as `gone`).",
            &["state"],
            gauges
                .machines
                .iter()
                .map(|(s, n)| (vec![s.clone()], *n as f64)),
        );
        gauge(
            &mut out,
            "machinist_schedules",
            "Schedules (window edges included) by whether they are enabled.",
            &["enabled"],
            gauges
                .schedules
                .iter()
                .map(|(e, n)| (vec![e.to_string()], *n as f64)),
        );
        gauge(
            &mut out,
            "machinist_daemon_heartbeat_age_seconds",
            "Seconds since each running daemon on the database last beat, and whether it leads.",
            &["daemon", "host", "version", "leader"],
            daemons.iter().filter(|d| d.stopped_at.is_none()).map(|d| {
                (
                    vec![
                        d.id.clone(),
                        d.host.clone(),
                        d.version.clone(),
                        d.leader.to_string(),
                    ],
                    secs(now - d.heartbeat_at).max(0.0),
                )
            }),
        );
        if let Some(at) = c.last_api_answer {
            gauge(
                &mut out,
                "machinist_paperspace_last_answer_age_seconds",
                "Seconds since Paperspace last answered a job's call.",
                &[],
                std::iter::once((vec![], secs(now - at))),
            );
        }
        counter(
            &mut out,
            "machinist_paperspace_calls_total",
            "Paperspace API calls made by jobs, by method, route and HTTP status (`none`: no answer).",
            &["method", "route", "status"],
            &c.api_calls,
        );
        histogram(
            &mut out,
            "machinist_paperspace_call_seconds",
            "Paperspace API call latency by route.",
            &["route"],
            &c.api_latency,
        );
        histogram(
            &mut out,
            "machinist_job_duration_seconds",
            "Time from submission to a final state, by kind and final state.",
            &["kind", "state"],
            &c.job_duration,
        );
        counter(
            &mut out,
            "machinist_job_retries_total",
            "Jobs put back in the queue: `backoff` after a transient error or lost lease, `manual` by the retry route.",
            &["kind", "reason"],
            &c.retries,
        );
        histogram(
            &mut out,
            "machinist_job_wait_seconds",
            "Wait-for-state time, from the first wait to the end of the job, by kind and final state.",
            &["kind", "state"],
            &c.wait_duration,
        );
        histogram(
            &mut out,
            "machinist_schedule_fire_lateness_seconds",
            "How long after its due time a schedule firing was recorded, by outcome.",
            &["outcome"],
            &c.fire_lateness,
        );
        counter(
            &mut out,
            "machinist_http_requests_total",
            "Admin API requests by method, route template and status.",
            &["method", "route", "status"],
            &c.admin_requests,
        );
        Ok(out)
    }
}

impl Counters {
    fn count_event(&mut self, e: EventFact) {
        match e.kind.as_str() {
            "api_call" => {
                let route = e.route.unwrap_or_else(|| "unknown".into());
                let status = e.status.map_or("none".to_string(), |s| s.to_string());
                let key = vec![
                    e.method.unwrap_or_else(|| "unknown".into()),
                    route.clone(),
                    status,
                ];
                *self.api_calls.entry(key).or_default() += 1;
                if let Some(ms) = e.latency_ms {
                    self.api_latency
                        .entry(vec![route])
                        .or_insert_with(|| Histogram::new(CALL_BUCKETS))
                        .observe(ms as f64 / 1000.0);
                }
                if e.status.is_some_and(|s| s < 500) {
                    let at = from_ms(e.at);
                    if self.last_api_answer.is_none_or(|last| last < at) {
                        self.last_api_answer = Some(at);
                    }
                }
            }
            "state" => {
                let to = e.to_state.as_deref().unwrap_or("");
                let from = e.from_state.as_deref().unwrap_or("");
                if FINAL.contains(&to) {
                    let key = vec![e.job_kind.clone(), to.to_string()];
                    self.job_duration
                        .entry(key.clone())
                        .or_insert_with(|| Histogram::new(LONG_BUCKETS))
                        .observe((e.at - e.job_created_at) as f64 / 1000.0);
                    if let Some(waited) = e.first_wait_at {
                        self.wait_duration
                            .entry(key)
                            .or_insert_with(|| Histogram::new(LONG_BUCKETS))
                            .observe((e.at - waited) as f64 / 1000.0);
                    }
                } else if to == "queued" {
                    let reason = match from {
                        "running" | "waiting" => Some("backoff"),
                        "failed" => Some("manual"),
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        *self
                            .retries
                            .entry(vec![e.job_kind, reason.to_string()])
                            .or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds().max(0) as f64 / 1000.0
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn gauge(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    samples: impl Iterator<Item = (Labels, f64)>,
) {
    header(out, name, help, "gauge");
    for (values, v) in samples {
        let _ = writeln!(out, "{name}{} {v}", labels(names, &values, None));
    }
}

fn counter(out: &mut String, name: &str, help: &str, names: &[&str], map: &BTreeMap<Labels, u64>) {
    header(out, name, help, "counter");
    for (values, v) in map {
        let _ = writeln!(out, "{name}{} {v}", labels(names, values, None));
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    map: &BTreeMap<Labels, Histogram>,
) {
    header(out, name, help, "histogram");
    for (values, h) in map {
        let mut cumulative = 0;
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            let le = bound.to_string();
            let _ = writeln!(
                out,
                "{name}_bucket{} {cumulative}",
                labels(names, values, Some(("le", &le)))
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            labels(names, values, Some(("le", "+Inf"))),
            h.count
        );
        let _ = writeln!(out, "{name}_sum{} {}", labels(names, values, None), h.sum);
        let _ = writeln!(
            out,
            "{name}_count{} {}",
            labels(names, values, None),
            h.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let mut h = Histogram::new(&[1.0, 5.0]);
        h.observe(0.5);
        h.observe(3.0);
        h.observe(9.0);
        let mut map = BTreeMap::new();
        map.insert(vec!["start".to_string()], h);
        let mut out = String::new();
        histogram(&mut out, "x_seconds", "help", &["kind"], &map);
        assert!(
            out.contains("x_seconds_bucket{kind=\"start\",le=\"1\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{kind=\"start\",le=\"5\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{kind=\"start\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_sum{kind=\"start\"} 12.5\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{kind=\"start\"} 3\n"), "{out}");
        assert!(out.starts_with("# HELP x_seconds help\n# TYPE x_seconds histogram\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels(&["a"], &["q\"b\\n\nx".to_string()], None),
            "{a=\"q\\\"b\\\\n\\nx\"}"
        );
        assert_eq!(labels(&[], &[], None), "");
    }

    #[test]
    fn events_feed_counters() {
        let mut c = Counters::default();
        let fact =
            |kind: &str, from: Option<&str>, to: Option<&str>, status: Option<i64>| EventFact {
                id: 1,
                at: 10_000,
                kind: kind.into(),
                from_state: from.map(Into::into),
                to_state: to.map(Into::into),
                method: Some("POST".into()),
                route: Some("/machines/:machineId/start".into()),
                status,
                latency_ms: Some(30),
                job_kind: "start".into(),
                job_created_at: 4_000,
                first_wait_at: Some(7_000),
                mine: true,
            };
        c.count_event(fact("api_call", None, None, Some(200)));
        c.count_event(fact("api_call", None, None, Some(503)));
        c.count_event(fact("state", Some("running"), Some("queued"), None));
        c.count_event(fact("state", Some("failed"), Some("queued"), None));
        c.count_event(fact("state", Some("waiting"), Some("succeeded"), None));
        assert_eq!(c.api_calls.values().sum::<u64>(), 2);
        assert_eq!(c.last_api_answer, Some(from_ms(10_000)));
        assert_eq!(
            c.retries[&vec!["start".to_string(), "backoff".to_string()]],
            1
        );
        assert_eq!(
            c.retries[&vec!["start".to_string(), "manual".to_string()]],
            1
        );
        let key = vec!["start".to_string(), "succeeded".to_string()];
        assert_eq!(c.job_duration[&key].sum, 6.0);
        assert_eq!(c.wait_duration[&key].sum, 3.0);
    }
}
