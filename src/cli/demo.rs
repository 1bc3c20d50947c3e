//! `machinist demo`: the daemon on a fresh temp database against a simulated
//! account started in this process, with example schedules installed and a
//! handful of jobs submitted over the admin API, shown on the terminal as
//! jobs move through their states and machines change state. No API key, no
//! money; it runs until Ctrl-C (or `--seconds`).
//!
//! The schedules: a one-minute "window" (a start of the account's off
//! machines a few seconds from now, repeated every minute, and a stop 30 s
//! after each start), and the built-in monthly utilization pull.
//!
//! On a terminal the display is a table redrawn in place (plain ANSI
//! escapes); otherwise, for a pipe or a log, each change is one line.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Timelike;
use serde_json::json;

use crate::cli::admin_client::AdminClient;
use crate::clock::SystemClock;
use crate::config::RateLimitConfig;
use crate::daemon::{Daemon, DaemonSettings, PaperspaceSettings, UTILIZATION_SCHEDULE};
use crate::job::{Job, JobRequest};
use crate::machine::{FilterField, Machine, MachineFilter};
use crate::paperspace::{Backend, MachineApi};
use crate::schedule::spec::{Schedule, ScheduleSpec};
use crate::sim::{self, SimConfig, Timings};
use crate::store::JobFilter;

/// Flags of `machinist demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Walk every machine operation with the client alone, without the daemon.
    #[arg(long)]
    pub client: bool,

    /// How long each simulated state change takes, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub transition_ms: u64,

    /// Stop after this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// How often the display is refreshed.
const REFRESH: Duration = Duration::from_millis(250);
/// How many of the newest jobs the table shows.
const SHOWN_JOBS: u32 = 14;
/// Seconds from now to the window's first opening: soon, but after the
/// submitted jobs have had a moment.
const FIRST_OPENING: u32 = 8;

/// Runs `machinist demo`.
pub async fn run(args: DemoArgs) -> Result<()> {
    let transition = Duration::from_millis(args.transition_ms);
    if args.client {
        return crate::cli::walkthrough::run(transition).await;
    }
    let sim = sim::spawn(
        SimConfig {
            timings: Timings::uniform(transition),
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .context("could not start the simulated account")?;
    let paperspace = PaperspaceSettings {
        rate_limit: Some(RateLimitConfig {
            per_second: 20.0,
            burst: 20,
        }),
        ..PaperspaceSettings::simulator(Backend::Legacy, &sim.url)
    };
    // The daemon's client is rate limited; the display's own is not.
    let client = paperspace.legacy_client()?;
    let api = paperspace.limited(client.clone());

    let dir = tempfile_dir()?;
    let db = dir.join("machinist.db");
    let mut settings = DaemonSettings::new(&db);
    settings.workers.poll_interval = (transition / 4).max(Duration::from_millis(50));
    settings.utilization_pull = Some("0 2 1 * *".to_string());
    let daemon = Daemon::start(settings, api, Arc::new(SystemClock)).await?;
    println!("Machinist daemon   {}  (admin API)", daemon.url());
    println!(
        "dashboard          {}/ui/  (open in a browser)",
        daemon.url()
    );
    println!("database           {}", db.display());
    println!("simulated account  {}  (legacy Paperspace API)", sim.url);

    let admin = AdminClient::new(&daemon.url(), None)?;
    let off = client
        .list_all(&MachineFilter::all().with(FilterField::State, "off"))
        .await?;
    let ready = client
        .list_all(&MachineFilter::all().with(FilterField::State, "ready"))
        .await?;
    let (first_off, first_ready) = (
        off.first()
            .context("the simulated account has no off machine")?,
        ready
            .first()
            .context("the simulated account has no ready machine")?,
    );

    // The one-minute window over the off machines but the first (which the
    // jobs below start).
    let window_targets: Vec<&str> = off.iter().skip(1).map(|m| m.id.as_str()).collect();
    let targets: Vec<&str> = if window_targets.is_empty() {
        vec![first_off.id.as_str()]
    } else {
        window_targets
    };
    let opening = (chrono::Utc::now().second() + FIRST_OPENING) % 60;
    let closing = (opening + 30) % 60;
    for (name, second, kind) in [
        ("demo-window-open", opening, "start"),
        ("demo-window-close", closing, "stop"),
    ] {
        let spec: ScheduleSpec = serde_json::from_value(json!({
            "name": name,
            "cron": format!("{second} * * * * *"),
            "template": {"kind": kind},
            "targets": {"machine_ids": targets},
        }))?;
        admin.create_schedule(&spec).await?;
    }
    println!(
        "schedules          demo-window-open/close: {} started at :{opening:02} of every minute, \
         stopped at :{closing:02}; {UTILIZATION_SCHEDULE}: 02:00 on the 1st",
        targets.join(", ")
    );
    println!("Ctrl-C stops the demo.\n");

    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let requests = [
        json!({"kind": "refresh"}),
        json!({"kind": "start", "machine_id": first_off.id}),
        json!({"kind": "stop", "machine_id": first_ready.id}),
        json!({"kind": "create", "args": {"name": "demo-train-1", "region": "Europe (AMS1)",
               "machine_type": "P4000", "disk_size_gb": 100, "template_id": "tkni3aa4"}}),
        json!({"kind": "start", "machine_id": first_off.id}),
        json!({"kind": "utilization", "machine_id": first_ready.id, "args": {"month": month}}),
        json!({"kind": "availability", "args": {"region": "West Coast (CA1)", "machine_type": "V100"}}),
    ];
    for body in requests {
        let request: JobRequest = serde_json::from_value(body)?;
        admin.submit(&request).await?;
    }

    let started = Instant::now();
    let mut display = Display::new(std::io::stdout().is_terminal());
    let deadline = args.seconds.map(|s| started + Duration::from_secs(s));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let jobs = admin
            .list(&JobFilter::default(), None, Some(SHOWN_JOBS))
            .await?
            .jobs;
        let machines = client.list_all(&MachineFilter::all()).await?;
        let schedules = admin.schedules(false).await?;
        display.update(started.elapsed(), &jobs, &machines, &schedules);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = tokio::time::sleep(REFRESH) => {}
        }
    }

    daemon.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nThe daemon stopped cleanly. Run `machinist serve` to keep one running.");
    Ok(())
}

/// What is on the terminal.
struct Display {
    /// Redraw a table in place (a terminal) or print a line per change.
    redraw: bool,
    /// The table on a terminal, each frame over the last.
    screen: super::output::Redrawn,
    /// The last state seen of each job (for lines).
    jobs: BTreeMap<i64, String>,
    /// The last state seen of each machine (for lines).
    machines: BTreeMap<String, String>,
}

impl Display {
    fn new(redraw: bool) -> Self {
        Display {
            redraw,
            screen: super::output::Redrawn::default(),
            jobs: BTreeMap::new(),
            machines: BTreeMap::new(),
        }
    }

    fn update(
        &mut self,
        elapsed: Duration,
        jobs: &[Job],
        machines: &[Machine],
        schedules: &[Schedule],
    ) {
        if self.redraw {
            self.draw(elapsed, jobs, machines, schedules);
        } else {
            self.lines(elapsed, jobs, machines);
        }
    }

    fn job_label(job: &Job) -> String {
        format!(
            "job {:<3} {:<12} {:<10}",
            job.id,
            job.kind.as_str(),
            job.machine_id.as_deref().unwrap_or("")
        )
    }

    /// One line per change of a job's or a machine's state.
    fn lines(&mut self, elapsed: Duration, jobs: &[Job], machines: &[Machine]) {
        let at = format!("[{:>6.1}s]", elapsed.as_secs_f64());
        let mut out = std::io::stdout().lock();
        for job in jobs.iter().rev() {
            let state = job.state.as_str().to_string();
            let before = self.jobs.insert(job.id, state.clone());
            if before.as_deref() != Some(state.as_str()) {
                let from = before.map(|b| format!("{b} → ")).unwrap_or_default();
                let _ = writeln!(out, "{at} {} {from}{state}", Self::job_label(job));
            }
        }
        for m in machines {
            let state = m.state.as_str().to_string();
            let before = self.machines.insert(m.id.clone(), state.clone());
            match before {
                Some(before) if before != state => {
                    let _ = writeln!(
                        out,
                        "{at} machine {:<10} {:<14} {before} → {state}",
                        m.id, m.name
                    );
                }
                None => {
                    let _ = writeln!(out, "{at} machine {:<10} {:<14} {state}", m.id, m.name);
                }
                _ => {}
            }
        }
        let _ = out.flush();
    }

    /// The whole picture, redrawn over the previous one.
    fn draw(
        &mut self,
        elapsed: Duration,
        jobs: &[Job],
        machines: &[Machine],
        schedules: &[Schedule],
    ) {
        let mut frame = Vec::new();
        frame.push(format!(
            "\x1b[1mmachinist demo\x1b[0m  {:.0}s  (Ctrl-C to stop)",
            elapsed.as_secs_f64()
        ));
        frame.push(String::new());
        frame.push(format!(
            "\x1b[1m{:<28} {:<11} {:<7} {}\x1b[0m",
            "JOB", "STATE", "ATTEMPT", "LAST ERROR"
        ));
        for job in jobs {
            let state = job.state.as_str();
            let colour = match state {
                "succeeded" => "32",
                "failed" => "31",
                "running" | "waiting" => "33",
                _ => "0",
            };
            let error: String = job
                .last_error
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect();
            frame.push(format!(
                "{} \x1b[{colour}m{state:<11}\x1b[0m {:<7} {error}",
                Self::job_label(job),
                format!("{}/{}", job.attempt, job.max_attempts),
            ));
        }
        frame.push(String::new());
        frame.push(format!(
            "\x1b[1m{:<10} {:<16} {:<14} {}\x1b[0m",
            "MACHINE", "NAME", "STATE", "TYPE"
        ));
        for m in machines {
            frame.push(format!(
                "{:<10} {:<16} {:<14} {}",
                m.id,
                m.name,
                m.state.as_str(),
                m.machine_type.as_deref().unwrap_or("")
            ));
        }
        frame.push(String::new());
        frame.push(format!(
            "\x1b[1m{:<20} {:<16} {}\x1b[0m",
            "SCHEDULE", "CRON", "NEXT (UTC)"
        ));
        for s in schedules {
            let next = s
                .next_fire_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "paused".to_string());
            frame.push(format!("{:<20} {:<16} {next}", s.name, s.cron));
        }
        self.screen.draw(&frame);
    }
}

/// A fresh private directory under the system temp dir.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "machinist-demo-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    Ok(dir)
}
