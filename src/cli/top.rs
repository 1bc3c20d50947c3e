//! `machinist top`: a live view of the fleet on any daemon, the table that
//! `machinist demo` draws, for a daemon already running: the machines as
//! the daemon last saw them, how many jobs are in each state, and the jobs
//! running, waiting or queued.
//!
//! It is read again whenever the history says something happened (a long
//! poll, see [`super::follow`]) and at least every [`REFRESH`], since a
//! machine's state also changes when the meter or a refresh sees it, which
//! writes no job event. On a terminal the view is redrawn in place with
//! plain ANSI escapes, as `demo` does; otherwise (a pipe, a log) the first
//! view is printed whole and then each change is one line. `--once` prints
//! one view and exits. Ctrl-C ends it with exit 0.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;

use super::connection::{DaemonArgs, report_errors, table, time};
use super::follow::{Follower, until_ctrl_c};
use crate::cli::admin_client::AdminClient;
use crate::http::MachineView;
use crate::job::{Job, JobId, JobState};
use crate::store::JobFilter;
use crate::text::escape;

/// The longest the view goes without being read again.
const REFRESH: Duration = Duration::from_secs(2);
/// The shortest time between two reads, however busy the history.
const SETTLE: Duration = Duration::from_millis(250);
/// Jobs shown of each active state (running, waiting, queued).
const SHOWN_JOBS: u32 = 20;
/// The states whose jobs the view lists.
const ACTIVE: [JobState; 3] = [JobState::Running, JobState::Waiting, JobState::Queued];

/// A live table of the daemon's machines and jobs.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Print the view once and exit.
    #[arg(long)]
    once: bool,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl TopArgs {
    /// Sets the config file (the top-level `--config`).
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

/// What one view shows.
struct Snapshot {
    /// Every machine the daemon knows.
    machines: Vec<MachineView>,
    /// Jobs per state, from the daemon's metrics.
    counts: BTreeMap<String, u64>,
    /// The active jobs, running first, then waiting, then queued.
    jobs: Vec<Job>,
}

/// Runs `machinist top`; errors are printed as one line, exit 1.
pub async fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    report_errors(async move {
        let client = args.daemon.client()?;
        let terminal = std::io::stdout().is_terminal();
        // Where the history stands before the first read: whatever happens
        // after it wakes the view.
        let after = if args.once {
            0
        } else {
            client.history(None, None, Some(1)).await?.next_after
        };
        let mut follower = Follower::new(&client, None, None, after, true);
        let mut view = View::new(terminal && !args.once, terminal);
        if args.once {
            let snapshot = read(&mut follower, &client).await?;
            view.draw(client.base_url(), &snapshot);
            return Ok(ExitCode::SUCCESS);
        }
        until_ctrl_c(async {
            loop {
                let snapshot = read(&mut follower, &client).await?;
                view.show(&mut follower, &client, &snapshot).await?;
                tokio::time::sleep(SETTLE).await;
                follower.next(REFRESH.as_secs()).await?;
            }
        })
        .await
    })
    .await
}

/// Reads the machines, the job counts and the active jobs.
async fn read(follower: &mut Follower, client: &AdminClient) -> anyhow::Result<Snapshot> {
    let machines = follower.call(|| client.machines()).await?;
    let metrics = follower.call(|| client.metrics()).await?;
    let (counts, _) = super::status::read_gauges(&metrics);
    let mut jobs = Vec::new();
    for state in ACTIVE {
        let filter = JobFilter {
            state: Some(state),
            ..JobFilter::default()
        };
        let page = follower
            .call(|| client.list(&filter, None, Some(SHOWN_JOBS)))
            .await?;
        jobs.extend(page.jobs);
    }
    Ok(Snapshot {
        machines,
        counts,
        jobs,
    })
}

/// What is on the screen, or was last printed.
struct View {
    /// Redraw in place (a terminal) or print a line per change.
    redraw: bool,
    /// Bold headings (a terminal).
    styled: bool,
    /// The view on a terminal, each one over the last.
    screen: super::output::Redrawn,
    /// The active jobs last shown, with their state (for lines).
    jobs: BTreeMap<JobId, (String, JobState)>,
    /// The machines last shown, with their state (for lines).
    machines: BTreeMap<String, String>,
    /// Whether a first view has been printed (for lines).
    started: bool,
}

impl View {
    fn new(redraw: bool, styled: bool) -> Self {
        View {
            redraw,
            styled,
            screen: super::output::Redrawn::default(),
            jobs: BTreeMap::new(),
            machines: BTreeMap::new(),
            started: false,
        }
    }

    /// Shows a new snapshot: redrawn, or as lines of what changed.
    async fn show(
        &mut self,
        follower: &mut Follower,
        client: &AdminClient,
        snapshot: &Snapshot,
    ) -> anyhow::Result<()> {
        if self.redraw || !self.started {
            self.draw(client.base_url(), snapshot);
            self.started = true;
            self.remember(snapshot);
            return Ok(());
        }
        let mut lines = Vec::new();
        let now = time(Utc::now());
        let active: BTreeMap<JobId, &Job> = snapshot.jobs.iter().map(|j| (j.id, j)).collect();
        for job in snapshot.jobs.iter().rev() {
            let before = self.jobs.get(&job.id).map(|(_, s)| *s);
            match before {
                Some(state) if state == job.state => {}
                Some(state) => lines.push(format!(
                    "{now} job {} {state} → {}",
                    job_label(job),
                    job.state
                )),
                None => lines.push(format!("{now} job {} {}", job_label(job), job.state)),
            }
        }
        // A job that left the active list ended (or was blocked again):
        // its state now is read once.
        for (id, (label, state)) in &self.jobs {
            if active.contains_key(id) {
                continue;
            }
            let now_state = match follower.call(|| client.show(*id)).await {
                Ok((job, _)) => job.state.to_string(),
                Err(_) => "gone".to_string(),
            };
            lines.push(format!("{now} job {label} {state} → {now_state}"));
        }
        for m in &snapshot.machines {
            let state = machine_state(m);
            match self.machines.get(&m.machine.id) {
                Some(before) if *before == state => {}
                Some(before) => lines.push(format!(
                    "{now} machine {} {before} → {state}",
                    machine_label(m)
                )),
                None => lines.push(format!("{now} machine {} {state}", machine_label(m))),
            }
        }
        self.remember(snapshot);
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        Ok(())
    }

    /// Keeps what a snapshot showed, to tell the next one's changes.
    fn remember(&mut self, snapshot: &Snapshot) {
        self.jobs = snapshot
            .jobs
            .iter()
            .map(|j| (j.id, (job_label(j), j.state)))
            .collect();
        self.machines = snapshot
            .machines
            .iter()
            .map(|m| (m.machine.id.clone(), machine_state(m)))
            .collect();
    }

    /// The whole view, over the previous one when redrawing.
    fn draw(&mut self, url: &str, snapshot: &Snapshot) {
        let frame = frame(url, snapshot, self.styled, self.redraw);
        self.screen.draw(&frame);
    }
}

/// `start  ps123abc` of a job (escaped).
fn job_label(job: &Job) -> String {
    escape(&format!(
        "{} {} {}",
        job.id,
        job.kind,
        job.machine_id.as_deref().unwrap_or("-")
    ))
}

/// `ps123abc (train)` of a machine (escaped).
fn machine_label(m: &MachineView) -> String {
    escape(&if m.machine.name.is_empty() {
        m.machine.id.clone()
    } else {
        format!("{} ({})", m.machine.id, m.machine.name)
    })
}

/// A machine's state as the view shows it: `gone` once Paperspace said so.
fn machine_state(m: &MachineView) -> String {
    if m.gone_at.is_some() {
        "gone".to_string()
    } else {
        m.machine.state.to_string()
    }
}

/// The lines of one view; headings in bold when `styled`.
fn frame(url: &str, snapshot: &Snapshot, styled: bool, live: bool) -> Vec<String> {
    let bold = |s: &str| {
        if styled {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut lines = vec![format!(
        "{}  {}  {}{}",
        bold("machinist top"),
        escape(url),
        time(Utc::now()),
        if live { "  (Ctrl-C to stop)" } else { "" }
    )];
    let counts: Vec<String> = JobState::ALL
        .iter()
        .map(|s| {
            let n = snapshot.counts.get(s.as_str()).copied().unwrap_or(0);
            format!("{s} {n}")
        })
        .collect();
    lines.push(format!("{}  {}", bold("jobs"), counts.join("  ")));
    lines.push(String::new());
    lines.push(bold(&format!("machines ({})", snapshot.machines.len())));
    if snapshot.machines.is_empty() {
        lines.push("none seen yet (a job that lists machines, such as refresh, shows them)".into());
    } else {
        let rows: Vec<Vec<String>> = snapshot
            .machines
            .iter()
            .map(|m| {
                vec![
                    m.machine.id.clone(),
                    m.machine.name.clone(),
                    machine_state(m),
                    m.machine.machine_type.clone().unwrap_or_default(),
                    m.machine.region.clone().unwrap_or_default(),
                ]
            })
            .collect();
        lines.extend(
            table(&["ID", "NAME", "STATE", "TYPE", "REGION"], &rows)
                .lines()
                .map(str::to_string),
        );
    }
    lines.push(String::new());
    lines.push(bold("running, waiting and queued jobs"));
    if snapshot.jobs.is_empty() {
        lines.push("none".into());
    } else {
        let rows: Vec<Vec<String>> = snapshot
            .jobs
            .iter()
            .map(|job| {
                let when = if job.state == JobState::Running {
                    job.updated_at
                } else {
                    job.run_at
                };
                vec![
                    job.id.to_string(),
                    job.kind.to_string(),
                    job.machine_id.clone().unwrap_or_else(|| "-".into()),
                    job.state.to_string(),
                    format!("{}/{}", job.attempt, job.max_attempts),
                    time(when),
                ]
            })
            .collect();
        lines.extend(
            table(
                &["ID", "KIND", "MACHINE", "STATE", "ATTEMPT", "RUN AT/SINCE"],
                &rows,
            )
            .lines()
            .map(str::to_string),
        );
    }
    lines
}
