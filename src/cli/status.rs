//! `machinist status`: is the daemon alive and ready, how many jobs are in
//! each state, how deep the queue is and how long its oldest due job has
//! waited, the next schedule firings, the account's standing and the
//! meter's last run. Read from `/healthz`, `/readyz`,
//! `/metrics` and `/v1/schedules`. `--json` prints one object; the exit
//! code is 0 when the daemon is ready, 1 otherwise.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::connection::{DaemonArgs, print_fields, print_table, report_errors, time};
use super::output::OutputArgs;
use crate::cli::admin_client::AdminError;
use crate::http::{MeterView, StandingView};
use crate::store::DaemonRecord;

/// Firings listed.
const NEXT_FIRINGS: usize = 5;

/// The daemon's health, queue and next firings.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    // -o table|wide|json|yaml and --json: one object (not a doc comment:
    // clap would show it).
    #[command(flatten)]
    output: OutputArgs,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl StatusArgs {
    /// Sets the config file (the top-level `--config`).
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

/// What `machinist status --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's admin API.
    pub url: String,
    /// `/readyz` answered 200.
    pub ready: bool,
    /// Why not, when not ready: `<check>: <reason>`.
    pub not_ready: Option<String>,
    /// The readiness checks when ready.
    pub checks: BTreeMap<String, String>,
    /// Jobs in the database by state.
    pub jobs: BTreeMap<String, u64>,
    /// Queue depth and the longest wait, from the metrics' gauges.
    pub queue: Queue,
    /// The soonest firings of enabled schedules (window edges included).
    pub next_firings: Vec<NextFiring>,
    /// The account's standing as the meter last checked it (when ready and
    /// checked: v1 only).
    pub account_standing: Option<StandingView>,
    /// Where the meter's ingestion stands (when ready).
    pub meter: Option<MeterView>,
    /// The daemons on the database (several on PostgreSQL), the running
    /// ones first; empty from a daemon older than `GET /v1/daemons`.
    pub daemons: Vec<DaemonRecord>,
}

/// Queue depth, from the metrics' gauges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// Queued jobs (due now or later).
    pub queued: u64,
    /// Jobs waiting for a machine state between polls.
    pub waiting: u64,
    /// Queued or waiting jobs that are due now.
    pub due: u64,
    /// How long the longest-due job has been due.
    pub oldest_due_age_seconds: f64,
}

/// One upcoming firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextFiring {
    /// The schedule's name.
    pub schedule: String,
    /// The job kind it submits.
    pub kind: String,
    /// When it fires next.
    pub at: DateTime<Utc>,
}

/// Runs `machinist status`.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    report_errors(async move {
        let client = args.daemon.client()?;
        client.health().await?;
        let (ready, not_ready, checks, account_standing, meter) = match client.ready().await {
            Ok(r) => (true, None, r.checks, r.account_standing, Some(r.meter)),
            Err(AdminError::Api {
                code,
                message,
                field,
                ..
            }) if code == "not_ready" => (
                false,
                Some(format!("{}: {message}", field.unwrap_or_default())),
                BTreeMap::new(),
                None,
                None,
            ),
            Err(e) => return Err(e.into()),
        };
        let daemons = match client.daemons().await {
            Ok(daemons) => daemons,
            // A daemon from before several daemons could share a database.
            Err(AdminError::Api { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let metrics = client.metrics().await?;
        let (jobs, queue) = read_gauges(&metrics);
        let mut next_firings: Vec<NextFiring> = client
            .schedules(true)
            .await?
            .into_iter()
            .filter_map(|s| {
                Some(NextFiring {
                    at: s.next_fire_at?,
                    kind: s.template.kind,
                    schedule: s.name,
                })
            })
            .collect();
        next_firings.sort_by(|a, b| a.at.cmp(&b.at).then(a.schedule.cmp(&b.schedule)));
        next_firings.truncate(NEXT_FIRINGS);
        let status = Status {
            url: client.base_url().to_string(),
            ready,
            not_ready,
            checks,
            jobs,
            queue,
            next_firings,
            account_standing,
            meter,
            daemons,
        };
        if args.output.structured() {
            args.output.print(&status)?;
        } else {
            print_status(&status);
        }
        Ok(if status.ready {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
    .await
}

/// Jobs by state and the queue, from the Prometheus text of `/metrics`.
pub fn read_gauges(text: &str) -> (BTreeMap<String, u64>, Queue) {
    let mut jobs = BTreeMap::new();
    let mut queue = Queue::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
            None => (series, BTreeMap::new()),
        };
        let label = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        match name {
            "machinist_jobs" => {
                *jobs.entry(label("state").to_string()).or_default() += value as u64
            }
            "machinist_queue_depth" => {
                match label("state") {
                    "queued" => queue.queued += value as u64,
                    "waiting" => queue.waiting += value as u64,
                    _ => {}
                }
                if label("due") == "true" {
                    queue.due += value as u64;
                }
            }
            "machinist_oldest_due_job_age_seconds" => queue.oldest_due_age_seconds = value,
            _ => {}
        }
    }
    (jobs, queue)
}

/// `a="x",b="y"` (values without escaped quotes, as Machinist's gauges are).
fn labels_of(s: &str) -> BTreeMap<String, String> {
    s.split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once("=\"")?;
            Some((k.to_string(), v.trim_end_matches('"').to_string()))
        })
        .collect()
}

fn print_status(s: &Status) {
    let readiness = match &s.not_ready {
        None => "ready".to_string(),
        Some(why) => format!("NOT READY ({why})"),
    };
    let mut fields = vec![("daemon", s.url.clone()), ("status", readiness)];
    for (check, what) in &s.checks {
        fields.push((check.as_str(), what.clone()));
    }
    let jobs = if s.jobs.is_empty() {
        "none".to_string()
    } else {
        s.jobs
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    fields.push(("jobs", jobs));
    fields.push((
        "queue",
        format!(
            "{} queued, {} waiting, {} due now; oldest due for {:.1}s",
            s.queue.queued, s.queue.waiting, s.queue.due, s.queue.oldest_due_age_seconds
        ),
    ));
    if let Some(a) = &s.account_standing {
        let mut line = if a.in_good_standing {
            "in good standing".to_string()
        } else {
            "NOT in good standing: Paperspace refuses starts and creates".to_string()
        };
        if !a.has_payment_method {
            line.push_str("; no payment method");
        }
        if a.admin_locked {
            line.push_str("; locked by Paperspace");
        }
        line.push_str(&format!(" (checked {})", time(a.checked_at)));
        fields.push(("account", line));
        for m in &a.messages {
            fields.push(("  message", m.clone()));
        }
    }
    if let Some(m) = &s.meter {
        fields.push((
            "meter",
            match m.ingested_at {
                Some(at) => format!(
                    "last run {}; {} events kept{}",
                    time(at),
                    m.events,
                    m.newest
                        .map(|n| format!(", newest from {}", time(n)))
                        .unwrap_or_default()
                ),
                None => format!("not run yet; {} events kept", m.events),
            },
        ));
    }
    print_fields(&fields);
    println!();
    if !s.daemons.is_empty() {
        println!("daemons:");
        let rows: Vec<Vec<String>> = s.daemons.iter().map(daemon_row).collect();
        print_table(
            &[
                "HOST",
                "PID",
                "VERSION",
                "LEADER",
                "HEARTBEAT",
                "STARTED",
                "ID",
            ],
            &rows,
        );
        println!();
    }
    if s.next_firings.is_empty() {
        println!("next firings: none (no enabled schedule)");
    } else {
        println!("next firings:");
        let rows: Vec<Vec<String>> = s
            .next_firings
            .iter()
            .map(|f| vec![time(f.at), f.schedule.clone(), f.kind.clone()])
            .collect();
        print_table(&["AT", "SCHEDULE", "KIND"], &rows);
    }
}

/// One daemon's row: where it runs, whether it leads, when it last beat
/// (or that it stopped).
fn daemon_row(d: &DaemonRecord) -> Vec<String> {
    vec![
        d.host.clone(),
        d.pid.to_string(),
        d.version.clone(),
        if d.leader { "yes" } else { "no" }.to_string(),
        match d.stopped_at {
            Some(at) => format!("stopped {}", time(at)),
            None => time(d.heartbeat_at),
        },
        time(d.started_at),
        d.id.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_read_from_the_metrics_text() {
        let text = "# HELP machinist_jobs x\n# TYPE machinist_jobs gauge\n\
            machinist_jobs{kind=\"start\",state=\"queued\"} 2\n\
            machinist_jobs{kind=\"stop\",state=\"queued\"} 1\n\
            machinist_jobs{kind=\"stop\",state=\"succeeded\"} 7\n\
            machinist_queue_depth{state=\"queued\",due=\"true\"} 2\n\
            machinist_queue_depth{state=\"queued\",due=\"false\"} 1\n\
            machinist_queue_depth{state=\"waiting\",due=\"false\"} 4\n\
            machinist_oldest_due_job_age_seconds 1.5\n\
            machinist_http_requests_total{method=\"GET\",route=\"/v1/jobs\",status=\"200\"} 9\n";
        let (jobs, queue) = read_gauges(text);
        assert_eq!(jobs["queued"], 3);
        assert_eq!(jobs["succeeded"], 7);
        assert_eq!(
            queue,
            Queue {
                queued: 3,
                waiting: 4,
                due: 2,
                oldest_due_age_seconds: 1.5
            }
        );
    }
}
