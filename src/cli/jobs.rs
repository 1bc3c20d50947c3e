//! `machinist jobs`: submit, list, show, cancel and retry jobs through the
//! daemon's admin API; submit jobs that wait for others (`--after`), a
//! batch of jobs that depend on each other (`jobs batch`), and a start,
//! stop or restart of a machine group (`--group`, see [`super::groups`]).
//!
//! The daemon and its admin token are found as [`super::connection`] says
//! (`--url`, `$MACHINIST_URL` or the config; `$MACHINIST_ADMIN_TOKEN` or the
//! daemon's own token source).
//!
//! Output is for people (tables, aligned fields); `--json` prints the API's
//! JSON for scripts. A server error prints one line `error: <message>
//! (field: <field>)` and exits 1; a usage error exits 2.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::connection::{
    DaemonArgs, build_args, compact, one_line, print_json, report_errors, table, time, truncate,
    usage,
};
use crate::cli::admin_client::AdminClient;
use crate::group::RunRequest;
use crate::http::{BatchAnswer, JobPreview};
use crate::job::{
    BatchRequest, DependencyRef, EventKind, Job, JobEvent, JobId, JobKind, JobRequest, JobState,
};
use crate::store::JobFilter;
use crate::text::escape;
/// How often `--wait` asks for news.
const POLL: Duration = Duration::from_millis(500);
/// How long `--wait` keeps trying while the daemon cannot be reached
/// (a restart of the daemon takes a few seconds).
const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);

/// Manage jobs through the daemon's admin API.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    // What to do (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: JobsCommand,
    /// Where the daemon is and how to sign in, as for every client command.
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl JobsArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum JobsCommand {
    /// Submit a job, e.g. `machinist jobs submit start ps123abc --wait`, or
    /// start, stop or restart a group: `machinist jobs submit start --group shop`.
    Submit(Box<SubmitArgs>),
    /// Submit several jobs at once from a JSON file (`-`: standard input):
    /// {"jobs":[{"kind":"start","machine_id":"psA","ref":"db"},
    /// {"kind":"start","machine_id":"psB","depends_on":["db"]}]}.
    /// All are stored or none; a job may depend on another's `ref`.
    Batch {
        /// The batch's JSON file, or `-` for standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the API's JSON (the jobs in file order, and each ref's id).
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first.
    List(ListArgs),
    /// Show a job with its history.
    Show {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued, running or waiting job.
    Cancel {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a failed job again.
    Retry {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SubmitArgs {
    /// create, start, stop, restart, destroy, update, set_access, show,
    /// refresh, utilization, availability, wait or digest (the weekly
    /// digest of the webhooks, sent now). With --group: start, stop or
    /// restart.
    kind: String,
    /// The machine to act on (not for create, refresh, availability, digest).
    machine_id: Option<String>,
    /// Act on this machine group instead of one machine: its stages in
    /// order for a start, in reverse for a stop, both for a restart (see
    /// `machinist groups`).
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = [
            "machine_id", "args", "arg", "wait_timeout", "delay", "run_at", "priority",
            "max_attempts", "idempotency_key", "after", "on_dependency_failure",
        ]
    )]
    group: Option<String>,
    /// Run only after this job succeeded; repeat, or give a comma list, for
    /// several. The job is `blocked` until then.
    #[arg(long, value_name = "ID,…", value_delimiter = ',', value_parser = clap::value_parser!(i64).range(1..))]
    after: Vec<JobId>,
    /// If a job of --after fails or is cancelled: cancel this one too
    /// (the default), or run it anyway once they have all finished.
    #[arg(long, value_enum, value_name = "WHAT", requires = "after")]
    on_dependency_failure: Option<DependencyFailure>,
    /// The arguments as one JSON object, e.g. '{"month":"2026-03"}'.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// One argument; the value is read as JSON when it parses (numbers,
    /// true/false, quoted strings), else as a string: `--arg disk_size_gb=100
    /// --arg name=train`. Overrides the same key in --args.
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    arg: Vec<String>,
    /// The state to wait for after the request: none, ready, serviceready,
    /// off or gone. Default: the kind's natural end state. With --group:
    /// what each started machine reaches before the next stage starts,
    /// ready (the default) or serviceready.
    #[arg(long, value_name = "STATE")]
    wait_for: Option<String>,
    /// How long that wait may last: 30s, 15m, 1h, 2h30m or a number of
    /// seconds.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    wait_timeout: Option<u64>,
    /// Run no earlier than this long from now: 30s, 15m, 1h, 2h30m or a
    /// number of seconds.
    #[arg(long, value_name = "DURATION", conflicts_with = "run_at", value_parser = crate::config::duration::seconds_arg)]
    delay: Option<u64>,
    /// Run no earlier than this instant (RFC 3339, e.g. 2026-03-02T09:00:00Z).
    #[arg(long, value_name = "TIME")]
    run_at: Option<DateTime<Utc>>,
    /// -1000..=1000; higher runs first.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// Attempts before the job fails, 1..=100.
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Submitting the same key again returns the first job instead of a new one.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Follow the job (or the group run) to its end, printing its history
    /// as it happens; exit 0 if it succeeded, 1 if it failed or was
    /// cancelled.
    #[arg(long)]
    wait: bool,
    /// Print the API's JSON (with --wait: the finished job with its events,
    /// or the run as it ended).
    #[arg(long)]
    json: bool,
    /// Show what would be submitted, checked by the daemon as the real
    /// submission (the same errors), and submit nothing.
    #[arg(long, conflicts_with_all = ["group", "wait"])]
    dry_run: bool,
    /// Destroy without asking. On a terminal, `destroy` first asks "Destroy
    /// machine …? [y/N]"; when standard input is not a terminal (a script,
    /// a pipe, cron) it never asks and goes ahead.
    #[arg(short = 'y', long)]
    yes: bool,
}

/// `--on-dependency-failure` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DependencyFailure {
    Cancel,
    Run,
}

impl DependencyFailure {
    fn as_str(self) -> &'static str {
        match self {
            DependencyFailure::Cancel => "cancel",
            DependencyFailure::Run => "run",
        }
    }
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// blocked (waiting for the jobs it depends on), queued, running,
    /// waiting, succeeded, failed or cancelled.
    #[arg(long)]
    state: Option<String>,
    /// A job kind (start, stop, …).
    #[arg(long)]
    kind: Option<String>,
    /// Only jobs of this machine.
    #[arg(long = "machine", value_name = "MACHINE_ID")]
    machine: Option<String>,
    /// Jobs per page, 1..=500 (default 50).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Continue after a previous page (its `next cursor`).
    #[arg(long)]
    cursor: Option<String>,
    /// Print the API's JSON page.
    #[arg(long)]
    json: bool,
}

/// Runs `machinist jobs …`. Errors are printed here, as one line; the exit
/// code is 0 on success, 1 on any failure (a failed or cancelled job
/// under `--wait` included) and 2 on a usage error (an unknown kind or
/// state).
pub async fn run(args: JobsArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: JobsArgs) -> anyhow::Result<ExitCode> {
    let client = args.daemon.client()?;
    match args.command {
        JobsCommand::Submit(submit) => run_submit(&client, *submit).await,
        JobsCommand::Batch { file, json } => run_batch(&client, &file, json).await,
        JobsCommand::List(list) => run_list(&client, list).await,
        JobsCommand::Show { id, json } => {
            let (job, events) = client.show(id).await?;
            if json {
                print_json(&detail_json(&job, &events))?;
            } else {
                print_job(&job);
                print_events(&events);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Cancel { id, json } => {
            let job = client.cancel(id).await?;
            finish_action(&job, json, "cancelled")
        }
        JobsCommand::Retry { id, json } => {
            let job = client.retry(id).await?;
            finish_action(&job, json, "queued again")
        }
    }
}

async fn run_submit(client: &AdminClient, args: SubmitArgs) -> anyhow::Result<ExitCode> {
    // A kind the daemon would refuse is a usage error, caught before
    // anything is sent (exit 2, with the closest kind as clap suggests).
    let submittable = JobKind::ALL
        .iter()
        .filter(|k| k.submittable())
        .map(|k| k.as_str());
    if let Err(message) = known_value("job kind", &args.kind, submittable) {
        return Ok(usage(&message));
    }
    if let Some(group) = &args.group {
        return submit_group(client, group, &args).await;
    }
    // Likewise a state to wait for: the daemon's list, checked here for
    // the "did you mean" of a typo.
    if let Some(wait) = args.wait_for.as_deref()
        && let Err(message) = known_value("state to wait for", wait, WAIT_STATES)
    {
        return Ok(usage(&format!("--wait-for: {message}")));
    }
    if args.kind == JobKind::Destroy.as_str()
        && !args.yes
        && !args.dry_run
        && let Some(machine) = args.machine_id.as_deref()
        && std::io::stdin().is_terminal()
    {
        // The name helps to tell machines apart; a daemon that does not
        // know the machine (or cannot be asked) leaves it out.
        let name = client
            .machine(machine)
            .await
            .ok()
            .map(|detail| detail.machine.machine.name)
            .filter(|name| !name.is_empty());
        let confirmed = confirm_destroy(
            machine,
            name.as_deref(),
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )
        .context("cannot read the answer from standard input")?;
        if !confirmed {
            eprintln!("error: machine {} not destroyed", escape(machine));
            return Ok(ExitCode::FAILURE);
        }
    }
    let request = JobRequest {
        kind: args.kind,
        machine_id: args.machine_id,
        args: build_args(args.args.as_deref(), &args.arg)?,
        run_at: args.run_at,
        delay_seconds: args.delay,
        priority: args.priority,
        max_attempts: args.max_attempts,
        wait: args.wait_for,
        wait_timeout_seconds: args.wait_timeout,
        idempotency_key: args.idempotency_key,
        depends_on: args
            .after
            .iter()
            .map(|&id| DependencyRef::Job(id))
            .collect(),
        on_dependency_failure: args.on_dependency_failure.map(|p| p.as_str().to_string()),
        ..JobRequest::default()
    };
    if args.dry_run {
        let answer = client.dry_run_submit(&request).await?;
        if args.json {
            print_json(&answer)?;
        } else {
            print_dry_run(&answer.job);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (job, created) = client.submit(&request).await?;
    if !args.wait {
        if args.json {
            print_json(&job)?;
        } else {
            let how = if created {
                "submitted"
            } else {
                "already submitted with this idempotency key"
            };
            println!(
                "job {} {how}: {} ({})",
                job.id,
                escape(&describe(&job)),
                state_note(&job)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        let how = if created {
            "submitted"
        } else {
            "exists (idempotency key)"
        };
        println!("job {} {how}: {}", job.id, escape(&describe(&job)));
        if job.state == JobState::Blocked {
            println!("{}", state_note(&job));
        }
        eprintln!(
            "following job {}; Ctrl-C stops following, not the job",
            job.id
        );
    }
    follow(client, job.id, args.json).await
}

/// What `--wait-for` takes: the daemon's wait targets, and `none`.
const WAIT_STATES: [&str; 5] = ["none", "ready", "serviceready", "off", "gone"];

/// `jobs submit --dry-run`: the job the daemon would queue.
fn print_dry_run(job: &JobPreview) {
    let what = match &job.machine_id {
        Some(m) => format!("{} {m}", job.kind),
        None => job.kind.clone(),
    };
    println!("dry run: would submit {}", escape(&what));
    let wait = match &job.wait {
        Some(target) => format!("{target} (up to {}s)", job.wait_timeout_seconds),
        None => "none".to_string(),
    };
    let mut fields: Vec<(&str, String)> = vec![
        ("state", job.state.clone()),
        ("run at", time(job.run_at)),
        ("wait for", wait),
        ("priority", job.priority.to_string()),
        ("attempts", format!("at most {}", job.max_attempts)),
    ];
    if job.args.as_object().is_some_and(|a| !a.is_empty()) {
        fields.push(("args", compact(&job.args)));
    }
    if !job.depends_on.is_empty() {
        fields.push(("after", ids(&job.depends_on)));
    }
    if let Some(key) = &job.idempotency_key {
        fields.push(("idempotency key", key.clone()));
    }
    super::connection::print_fields(&fields);
    println!("nothing was submitted");
}

/// Asks on `output` whether to destroy `machine` and reads the answer from
/// `input` ([`super::confirm::confirm`]).
fn confirm_destroy(
    machine: &str,
    name: Option<&str>,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> std::io::Result<bool> {
    let who = match name {
        Some(name) => format!("{machine} ({name})"),
        None => machine.to_string(),
    };
    let question = format!("Destroy machine {}? This deletes its disk.", escape(&who));
    super::confirm::confirm(&question, input, output)
}

/// `start|stop|restart --group NAME`: a group run, checked here first so
/// that a kind a group cannot take, or a wait its starts cannot have, is a
/// usage error (exit 2) like the flags clap refuses.
async fn submit_group(
    client: &AdminClient,
    group: &str,
    args: &SubmitArgs,
) -> anyhow::Result<ExitCode> {
    if !matches!(args.kind.as_str(), "start" | "stop" | "restart") {
        return Ok(usage(&format!(
            "--group runs start, stop or restart; `{}` acts on one machine at a time: \
             give its MACHINE instead of --group",
            args.kind
        )));
    }
    if let Some(wait) = args.wait_for.as_deref()
        && !matches!(wait, "ready" | "serviceready")
    {
        return Ok(usage(&format!(
            "--wait-for `{wait}` cannot be a group's: with --group, a started machine waits \
             for ready (the default) or serviceready before the next stage starts"
        )));
    }
    let request = RunRequest {
        action: args.kind.clone(),
        wait: args.wait_for.clone(),
    };
    super::groups::start_run(client, group, &request, args.wait, args.json).await
}

/// `jobs batch FILE`: the jobs of the file, stored together or not at all.
async fn run_batch(client: &AdminClient, file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (name, text) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the batch from standard input")?;
        ("standard input".to_string(), text)
    } else {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the batch file {}", file.display()))?;
        (file.display().to_string(), text)
    };
    let batch: BatchRequest = serde_json::from_str(&text).with_context(|| {
        format!(
            "{name} is not a batch: give {{\"jobs\":[{{\"kind\":\"start\",\"machine_id\":\"psA\",\"ref\":\"db\"}}, …]}}"
        )
    })?;
    let created = client
        .submit_batch(&batch)
        .await
        .map_err(|e| super::groups::older_daemon("job batches", e))?;
    if json {
        print_json(&created)?;
    } else {
        print!("{}", batch_text(&created));
    }
    Ok(ExitCode::SUCCESS)
}

/// The jobs of a batch, in file order, with their refs and dependencies.
fn batch_text(created: &BatchAnswer) -> String {
    let refs: std::collections::HashMap<JobId, &str> = created
        .refs
        .iter()
        .map(|(r, id)| (*id, r.as_str()))
        .collect();
    let rows: Vec<Vec<String>> = created
        .jobs
        .iter()
        .map(|job| {
            vec![
                job.id.to_string(),
                refs.get(&job.id).unwrap_or(&"-").to_string(),
                job.kind.to_string(),
                job.machine_id.clone().unwrap_or_else(|| "-".to_string()),
                job.state.to_string(),
                ids(&job.depends_on),
            ]
        })
        .collect();
    let n = created.jobs.len();
    format!(
        "{n} job{} submitted\n{}",
        if n == 1 { "" } else { "s" },
        table(
            &["ID", "REF", "KIND", "MACHINE", "STATE", "DEPENDS ON"],
            &rows
        )
    )
}

/// `10, 11`, or `-` for none.
fn ids(ids: &[JobId]) -> String {
    if ids.is_empty() {
        return "-".to_string();
    }
    ids.iter()
        .map(JobId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state as a submission reports it: `queued`, or `blocked: waits for
/// jobs 10, 11`.
fn state_note(job: &Job) -> String {
    if job.state != JobState::Blocked {
        return job.state.to_string();
    }
    if job.depends_on.is_empty() {
        return "blocked".to_string();
    }
    format!("blocked: waits for {}", jobs_phrase(&job.depends_on))
}

/// `job 10` or `jobs 10, 11`.
fn jobs_phrase(list: &[JobId]) -> String {
    match list {
        [one] => format!("job {one}"),
        many => format!("jobs {}", ids(many)),
    }
}

/// Follows a job to its end, printing each new event once.
async fn follow(client: &AdminClient, id: JobId, json: bool) -> anyhow::Result<ExitCode> {
    let mut last_event = 0_i64;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let (job, events) = match client.show(id).await {
            Ok(answer) => {
                if unreachable_since.take().is_some() && !json {
                    eprintln!("reached the daemon again");
                }
                answer
            }
            Err(e) if e.is_unreachable() => {
                let since = *unreachable_since.get_or_insert_with(|| {
                    eprintln!("{e}; still trying");
                    Instant::now()
                });
                if since.elapsed() > UNREACHABLE_GRACE {
                    return Err(e.into());
                }
                tokio::time::sleep(POLL * 2).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !json {
            for event in events.iter().filter(|e| e.id > last_event) {
                println!("{}", escape(&event_line(event)));
            }
        }
        last_event = events.iter().map(|e| e.id).max().unwrap_or(last_event);
        if job.state.is_final() {
            if json {
                print_json(&detail_json(&job, &events))?;
            }
            return Ok(match job.state {
                JobState::Succeeded => {
                    if !json {
                        println!("job {id} succeeded");
                        if let Some(result) = &job.result {
                            // The whole result is in `show` and `--json`.
                            println!("result: {}", escape(&truncate(&compact(result), 160)));
                        }
                    }
                    ExitCode::SUCCESS
                }
                JobState::Failed => {
                    eprintln!(
                        "error: job {id} failed: {}",
                        escape(job.last_error.as_deref().unwrap_or("no error recorded"))
                    );
                    ExitCode::FAILURE
                }
                _ => {
                    eprintln!("error: job {id} was cancelled");
                    ExitCode::FAILURE
                }
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn run_list(client: &AdminClient, args: ListArgs) -> anyhow::Result<ExitCode> {
    // A state or kind that names none is a usage error (exit 2, with the
    // closest name as clap suggests); every kind may be listed, `deliver`
    // included.
    let state = match &args.state {
        Some(s) => match known_value("job state", s, JobState::ALL.map(JobState::as_str)) {
            Ok(()) => s.parse::<JobState>().ok(),
            Err(message) => return Ok(usage(&message)),
        },
        None => None,
    };
    let kind = match &args.kind {
        Some(k) => match known_value("job kind", k, JobKind::ALL.map(JobKind::as_str)) {
            Ok(()) => k.parse::<JobKind>().ok(),
            Err(message) => return Ok(usage(&message)),
        },
        None => None,
    };
    let filter = JobFilter {
        state,
        kind,
        machine_id: args.machine.clone(),
    };
    let page = client
        .list(&filter, args.cursor.as_deref(), args.limit)
        .await?;
    if args.json {
        print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.jobs.is_empty() {
        println!("no jobs");
    } else {
        print_table(&page.jobs);
    }
    if let Some(cursor) = &page.next_cursor {
        let mut hint = String::from("machinist jobs list");
        if let Some(s) = &args.state {
            hint.push_str(&format!(" --state {s}"));
        }
        if let Some(k) = &args.kind {
            hint.push_str(&format!(" --kind {k}"));
        }
        if let Some(m) = &args.machine {
            hint.push_str(&format!(" --machine {m}"));
        }
        if let Some(l) = args.limit {
            hint.push_str(&format!(" --limit {l}"));
        }
        println!("more: {hint} --cursor {cursor}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `Ok` when `value` is one of `valid`; else the usage message, worded as
/// clap words an invalid value: the value, the closest valid one when one
/// is close ("did you mean `running`?"), and all of them, on one line.
fn known_value<'a>(
    what: &str,
    value: &str,
    valid: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let valid: Vec<&str> = valid.into_iter().collect();
    if valid.contains(&value) {
        return Ok(());
    }
    let mut message = format!("`{value}` is not a {what}");
    if let Some(close) = closest(value, &valid) {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message.push_str(&format!(" (one of {})", valid.join(", ")));
    Err(message)
}

/// The valid value most like `value`, if any is alike enough: clap's own
/// measure and threshold (Jaro-Winkler above 0.7).
fn closest<'a>(value: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::jaro_winkler(value, v), *v))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

fn print_table(jobs: &[Job]) {
    let header = [
        "ID",
        "KIND",
        "MACHINE",
        "STATE",
        "AFTER",
        "ATTEMPT",
        "RUN AT/UPDATED",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 8]> = jobs
        .iter()
        .map(|job| {
            let when = if matches!(job.state, JobState::Queued | JobState::Waiting) {
                job.run_at
            } else {
                job.updated_at
            };
            [
                job.id.to_string(),
                job.kind.to_string(),
                job.machine_id.clone().unwrap_or_else(|| "-".to_string()),
                job.state.to_string(),
                // Comma-separated without spaces: the cell stays one word.
                truncate(&ids(&job.depends_on).replace(' ', ""), 24),
                format!("{}/{}", job.attempt, job.max_attempts),
                time(when),
                job.last_error
                    .as_deref()
                    .map(|e| truncate(&one_line(e), 50))
                    .unwrap_or_default(),
            ]
            .map(|cell| escape(&cell))
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&header.map(str::to_string));
    for row in &rows {
        line(row);
    }
}

fn finish_action(job: &Job, json: bool, what: &str) -> anyhow::Result<ExitCode> {
    if json {
        print_json(job)?;
    } else {
        println!("job {} {what}", job.id);
        print_job(job);
    }
    Ok(ExitCode::SUCCESS)
}

/// "start ps123abc", "create", …
fn describe(job: &Job) -> String {
    match &job.machine_id {
        Some(m) => format!("{} {m}", job.kind),
        None => job.kind.to_string(),
    }
}

fn print_job(job: &Job) {
    let mut fields: Vec<(&str, String)> = vec![
        ("job", format!("{}: {}", job.id, describe(job))),
        ("state", job.state.to_string()),
        (
            "attempt",
            format!("{} of {}", job.attempt, job.max_attempts),
        ),
        ("priority", job.priority.to_string()),
        ("run at", time(job.run_at)),
    ];
    if !job.depends_on.is_empty() {
        let policy = job.on_dependency_failure.unwrap_or_default().as_str();
        fields.push((
            "depends on",
            format!(
                "{} (if one fails or is cancelled: {policy})",
                jobs_phrase(&job.depends_on)
            ),
        ));
    }
    if let Some(run) = job.group_run {
        let step = job
            .group_step
            .map(|s| format!(", step {}", s + 1))
            .unwrap_or_default();
        fields.push((
            "group run",
            format!("{run}{step} (machinist groups run {run})"),
        ));
    }
    if let Some(wait) = job.wait {
        fields.push((
            "wait",
            format!(
                "{wait} (timeout {})",
                humantime::format_duration(job.wait_timeout)
            ),
        ));
    }
    if !job.args.is_null() && job.args.as_object().is_none_or(|o| !o.is_empty()) {
        fields.push(("args", compact(&job.args)));
    }
    if let Some(key) = &job.idempotency_key {
        fields.push(("idempotency key", key.clone()));
    }
    if let Some(checkpoint) = &job.checkpoint
        && let Ok(value) = serde_json::to_value(checkpoint)
    {
        fields.push(("checkpoint", compact(&value)));
    }
    if let Some(result) = &job.result {
        fields.push(("result", compact(result)));
    }
    if let Some(error) = &job.last_error {
        fields.push(("last error", one_line(error)));
    }
    if let Some(owner) = &job.lease_owner {
        let until = job.lease_expires_at.map(time).unwrap_or_default();
        fields.push(("lease", format!("{owner} until {until}")));
    }
    fields.push(("created", time(job.created_at)));
    fields.push(("updated", time(job.updated_at)));
    if let Some(finished) = job.finished_at {
        fields.push(("finished", time(finished)));
    }
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in fields {
        println!("{key:<width$}  {}", escape(&value));
    }
}

fn print_events(events: &[JobEvent]) {
    if events.is_empty() {
        return;
    }
    println!();
    println!("events:");
    for event in events {
        println!("  {}", escape(&event_line(event)));
    }
}

/// `time  state/api_call/note  message`.
pub(crate) fn event_line(event: &JobEvent) -> String {
    let e = &event.event;
    let text = match (e.kind, e.from_state, e.to_state) {
        (EventKind::State, Some(from), Some(to)) => format!("{from} → {to}: {}", e.message),
        (EventKind::State, None, Some(to)) => format!("{to}: {}", e.message),
        _ => e.message.clone(),
    };
    let text = match (&e.error, e.kind) {
        (Some(error), EventKind::ApiCall) => format!("{text} ({})", one_line(error)),
        _ => text,
    };
    format!(
        "{}  {:<8}  {}",
        time(event.at),
        e.kind.as_str(),
        one_line(&text)
    )
}

fn detail_json(job: &Job, events: &[JobEvent]) -> Value {
    let mut value = serde_json::to_value(job).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert(
            "events".to_string(),
            serde_json::to_value(events).unwrap_or(Value::Null),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prompt a terminal shows, and the answer it reads.
    fn ask(name: Option<&str>, answer: &str) -> (bool, String) {
        let mut output = Vec::new();
        let confirmed =
            confirm_destroy("ps123abc", name, &mut answer.as_bytes(), &mut output).unwrap();
        (confirmed, String::from_utf8(output).unwrap())
    }

    #[test]
    fn destroy_asks_and_proceeds_only_on_yes() {
        let (confirmed, prompt) = ask(Some("train"), "y\n");
        assert!(confirmed);
        assert_eq!(
            prompt,
            "Destroy machine ps123abc (train)? This deletes its disk. [y/N] "
        );
        let (_, prompt) = ask(None, "yes\n");
        assert_eq!(
            prompt,
            "Destroy machine ps123abc? This deletes its disk. [y/N] "
        );
        for yes in ["y\n", "yes\n", "Y\n", " YES \n", "y"] {
            assert!(ask(None, yes).0, "{yes:?}");
        }
        for no in ["\n", "n\n", "no\n", "yess\n", "sure\n", ""] {
            assert!(!ask(None, no).0, "{no:?}");
        }
    }
}
