//! `machinist jobs`: submit, list, show, cancel and retry jobs through the
//! daemon's admin API; submit jobs that wait for others (`--after`), a
//! batch of jobs that depend on each other (`jobs batch`), and a start,
//! stop or restart of a machine group (`--group`, see [`super::groups`]).
//!
//! The daemon and its admin token are found as [`super::connection`] says
//! (`--url`, `$MACHINIST_URL` or the config; `$MACHINIST_ADMIN_TOKEN` or the
//! daemon's own token source).
//!
//! Output is for people (tables, aligned fields, a result as indented
//! lines); `-o json`/`-o yaml` (or `--json`) prints the API's answer for
//! scripts and `-o wide` adds columns to the list (see [`super::output`]).
//! A server error prints one line `error: <message>
//! (field: <field>)` and exits 1; a usage error exits 2.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::connection::{
    DaemonArgs, build_args, one_line, report_errors, state_table, table, time, truncate, usage,
};
use super::follow::{Follower, WAIT_SECONDS, ends_the_job};
use super::output::{
    Format, OutputArgs, Style, field_value, print_structured, time_ago, value_lines,
};
use crate::cli::admin_client::AdminClient;
use crate::group::RunRequest;
use crate::http::{BatchAnswer, JobPreview};
use crate::job::{
    BatchRequest, DependencyRef, EventKind, Job, JobEvent, JobId, JobKind, JobRequest, JobState,
};
use crate::machine::Machine;
use crate::store::JobFilter;
use crate::text::escape;

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
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List jobs, newest first.
    List(ListArgs),
    /// Show a job with its history.
    Show {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
        /// Keep printing the job's events as they happen, until it ends;
        /// exit 0 if it succeeded, 1 if it failed or was cancelled.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Cancel a queued, running or waiting job.
    Cancel {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Queue a failed job again.
    Retry {
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: JobId,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
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
    #[arg(short = 'w', long)]
    wait: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
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
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it). With --watch, json prints one job per line.
    #[command(flatten)]
    output: OutputArgs,
    /// Keep printing: after the list, a row for each job that changes or
    /// appears (and matches the filters), until Ctrl-C.
    #[arg(short = 'w', long, conflicts_with = "cursor")]
    watch: bool,
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
        JobsCommand::Batch { file, output } => run_batch(&client, &file, output).await,
        JobsCommand::List(list) => run_list(&client, list).await,
        JobsCommand::Show {
            id,
            output,
            follow: true,
        } => {
            let (job, _) = client.show(id).await?;
            if !output.structured() {
                print_job(&job);
                println!();
                println!("events:");
                eprintln!("following job {id}; Ctrl-C stops following, not the job");
            }
            follow(&client, id, output.format(), "  ").await
        }
        JobsCommand::Show { id, output, .. } => {
            let (job, events) = client.show(id).await?;
            if output.structured() {
                output.print(&detail_json(&job, &events))?;
            } else {
                print_job(&job);
                print_events(&events);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Cancel { id, output } => {
            let job = client.cancel(id).await?;
            finish_action(&job, output, "cancelled")
        }
        JobsCommand::Retry { id, output } => {
            let job = client.retry(id).await?;
            finish_action(&job, output, "queued again")
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
        if args.output.structured() {
            args.output.print(&answer)?;
        } else {
            print_dry_run(&answer.job);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (job, created) = client.submit(&request).await?;
    if !args.wait {
        if args.output.structured() {
            args.output.print(&job)?;
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
    if !args.output.structured() {
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
    follow(client, job.id, args.output.format(), "").await
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
    if !job.depends_on.is_empty() {
        fields.push(("after", ids(&job.depends_on)));
    }
    if let Some(key) = &job.idempotency_key {
        fields.push(("idempotency key", key.clone()));
    }
    super::connection::print_fields(&fields);
    // The arguments as the job would hold them, one per line; those left
    // to Paperspace's defaults (null) are not worth a line.
    if let Some(args) = job.args.as_object() {
        let given: serde_json::Map<String, Value> = args
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !given.is_empty() {
            print!("{}", field_value("args", &Value::Object(given), 2));
        }
    }
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
    super::groups::start_run(client, group, &request, args.wait, args.output).await
}

/// `jobs batch FILE`: the jobs of the file, stored together or not at all.
async fn run_batch(
    client: &AdminClient,
    file: &Path,
    output: OutputArgs,
) -> anyhow::Result<ExitCode> {
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
    if output.structured() {
        output.print(&created)?;
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

/// Follows a job to its end, printing each of its events once (each line
/// after `indent`), from the first: the history read forward by long
/// polling (see [`super::follow`]), which also rides out a daemon restart.
async fn follow(
    client: &AdminClient,
    id: JobId,
    format: Format,
    indent: &str,
) -> anyhow::Result<ExitCode> {
    // JSON or YAML: nothing but the job as it ended, with its events.
    let structured = matches!(format, Format::Json | Format::Yaml);
    let mut follower = Follower::new(client, None, Some(id), 0, !structured);
    loop {
        let events = follower.next(WAIT_SECONDS).await?;
        if !structured {
            for event in &events {
                println!("{indent}{}", escape(&event_line(event)));
            }
        }
        // The job is read when it may have ended: when an event says so, or
        // when a whole wait brought nothing (a job pruned or changed by hand).
        if !(events.is_empty() || events.iter().any(ends_the_job)) {
            continue;
        }
        let (job, events) = follower.call(|| client.show(id)).await?;
        if !job.state.is_final() {
            continue;
        }
        if !structured {
            for event in events.iter().filter(|e| e.id > follower.after()) {
                println!("{indent}{}", escape(&event_line(event)));
            }
        }
        if structured {
            print_structured(&detail_json(&job, &events), format)?;
        }
        return Ok(match job.state {
            JobState::Succeeded => {
                if !structured {
                    println!("job {id} succeeded");
                    if let Some(result) = &job.result {
                        print!("{}", wait_result(id, result));
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
}

/// The result `--wait` ends with: a machine (what start, stop, show,
/// create… return) as its id, name, state, type, region and public
/// address, the fields one looks for after a start (`jobs show` prints
/// them all); any other result whole, on indented lines.
fn wait_result(id: JobId, result: &Value) -> String {
    let machine = result
        .get("machine_type")
        .and(result.get("region"))
        .and_then(|_| serde_json::from_value::<Machine>(result.clone()).ok());
    let Some(m) = machine else {
        return field_value("result", result, 2);
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
    let style = Style::detect();
    let fields = [
        ("machine", escape(&format!("{} ({})", m.id, m.name))),
        ("state", style.state(&escape(m.state.as_str()))),
        ("type", escape(&opt(&m.machine_type))),
        ("region", escape(&opt(&m.region))),
        ("public ip", escape(&opt(&m.public_ip))),
    ];
    let mut text = String::from("result:\n");
    for (key, value) in fields {
        text.push_str(&format!("  {key:<9}  {value}\n"));
    }
    text.push_str(&format!("  (every field: machinist jobs show {id})\n"));
    text
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
        ..JobFilter::default()
    };
    if args.watch {
        let Some(json) = args.output.stream() else {
            return Ok(usage(super::output::NOT_A_STREAM));
        };
        return super::follow::watch_jobs(client, &filter, args.limit, json).await;
    }
    let page = client
        .list(&filter, args.cursor.as_deref(), args.limit)
        .await?;
    if args.output.structured() {
        args.output.print(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.jobs.is_empty() {
        println!("no jobs");
    } else {
        print_table(&page.jobs, args.output.wide());
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

/// The jobs' table: with `wide`, also the priority, when each was created,
/// its idempotency key and the whole last error (the table cuts it to 50
/// characters on one line). Times carry their age; the state its colour.
fn print_table(jobs: &[Job], wide: bool) {
    let now = Utc::now();
    let mut header = vec![
        "ID",
        "KIND",
        "MACHINE",
        "STATE",
        "AFTER",
        "ATTEMPT",
        "RUN AT/UPDATED",
    ];
    if wide {
        header.extend(["PRIORITY", "CREATED", "IDEMPOTENCY KEY"]);
    }
    header.push("LAST ERROR");
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            let when = if matches!(job.state, JobState::Queued | JobState::Waiting) {
                job.run_at
            } else {
                job.updated_at
            };
            let mut row = vec![
                job.id.to_string(),
                job.kind.to_string(),
                job.machine_id.clone().unwrap_or_else(|| "-".to_string()),
                job.state.to_string(),
                // Comma-separated without spaces: the cell stays one word.
                truncate(&ids(&job.depends_on).replace(' ', ""), 24),
                format!("{}/{}", job.attempt, job.max_attempts),
                time_ago(when, now),
            ];
            let error = job.last_error.as_deref().map(one_line).unwrap_or_default();
            if wide {
                row.extend([
                    job.priority.to_string(),
                    time_ago(job.created_at, now),
                    job.idempotency_key
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                    error,
                ]);
            } else {
                row.push(truncate(&error, 50));
            }
            row
        })
        .collect();
    print!(
        "{}",
        state_table(&header, &rows, Some((3, Style::detect())))
    );
}

fn finish_action(job: &Job, output: OutputArgs, what: &str) -> anyhow::Result<ExitCode> {
    if output.structured() {
        output.print(job)?;
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

/// A job's fields, aligned; its arguments, checkpoint and result, when
/// they have fields of their own, after them as indented lines.
fn print_job(job: &Job) {
    let now = Utc::now();
    // What prints as a block of lines after the aligned fields.
    let mut blocks: Vec<(&str, Value)> = Vec::new();
    let mut fields: Vec<(&str, String)> = vec![
        ("job", format!("{}: {}", job.id, describe(job))),
        ("state", job.state.to_string()),
        (
            "attempt",
            format!("{} of {}", job.attempt, job.max_attempts),
        ),
        ("priority", job.priority.to_string()),
        ("run at", time_ago(job.run_at, now)),
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
        blocks.push(("args", job.args.clone()));
    }
    if let Some(key) = &job.idempotency_key {
        fields.push(("idempotency key", key.clone()));
    }
    if let Some(checkpoint) = &job.checkpoint
        && let Ok(value) = serde_json::to_value(checkpoint)
    {
        blocks.push(("checkpoint", value));
    }
    if let Some(result) = &job.result {
        blocks.push(("result", result.clone()));
    }
    if let Some(error) = &job.last_error {
        fields.push(("last error", one_line(error)));
    }
    if let Some(owner) = &job.lease_owner {
        let until = job.lease_expires_at.map(time).unwrap_or_default();
        fields.push(("lease", format!("{owner} until {until}")));
    }
    fields.push(("created", time_ago(job.created_at, now)));
    fields.push(("updated", time_ago(job.updated_at, now)));
    if let Some(finished) = job.finished_at {
        fields.push(("finished", time_ago(finished, now)));
    }
    // A scalar (a string, a number) reads best in line with the rest.
    let (nested, scalars): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .partition(|(_, v)| matches!(v, Value::Object(_) | Value::Array(_)));
    let width = fields
        .iter()
        .map(|(k, _)| k.len())
        .chain(scalars.iter().map(|(k, _)| k.len()))
        .max()
        .unwrap_or(0);
    super::output::print_state_fields(&fields, width);
    for (key, value) in scalars {
        println!("{key:<width$}  {}", value_lines(&value).join(" "));
    }
    for (key, value) in nested {
        print!("{}", field_value(key, &value, 2));
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
