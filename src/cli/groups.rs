//! `machinist groups`: machine groups (ordered stages of machines) and
//! their runs, through the daemon's admin API.
//!
//! A group is started stage by stage, first to last, each stage's machines
//! ready before the next stage starts; stopped in reverse. `machinist jobs
//! submit start --group NAME` makes a run; `groups run ID` shows one,
//! follows it (`--follow`) or resumes a failed one from its failed step
//! (`--resume`).
//!
//! Output is for people; `-o json`/`-o yaml` (or `--json`) prints the
//! API's answer for scripts (see [`super::output`]). A
//! server error prints one line `error: …` and exits 1 (an unknown group or
//! run is said in the CLI's words, with where to look); a usage error
//! (a `--stage` that is not `NAME=MACHINES`) exits 2. Everything typed or
//! sent back (names, machine ids, globs, reasons) is escaped before it
//! reaches the terminal.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::connection::{
    DaemonArgs, field_lines, one_line, report_errors, state_table, table, time, truncate,
};
use super::output::{OutputArgs, Style, time_ago};
use crate::cli::admin_client::{AdminClient, AdminError};
use crate::group::{
    Group, GroupPatch, GroupRun, GroupSpec, RunId, RunState, RunView, Stage, StepView,
};
use crate::http::{GroupDetail, GroupList};
use crate::schedule::target::Selector;
use crate::text::escape;

/// How often `--follow` asks for news: a stage takes tens of seconds to
/// minutes, so once a second shows each change promptly at little cost.
const POLL: Duration = Duration::from_secs(1);
/// How long `--follow` keeps trying while the daemon cannot be reached
/// (a restart of the daemon takes a few seconds).
const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);

/// The long help's examples of `groups add`.
const ADD_EXAMPLES: &str = "\
Examples:
  machinist groups add shop --stage db=psA --stage app=psB,psC --stage web=psD
  machinist groups add web --stage 'web=name:web-*'
  machinist jobs submit start --group shop --wait";

/// Manage machine groups and their runs through the daemon's admin API.
#[derive(Debug, clap::Args)]
pub struct GroupsArgs {
    // What to do (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: GroupsCommand,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl GroupsArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum GroupsCommand {
    /// Add a group: its stages in start order (a stop goes in reverse).
    #[command(after_long_help = ADD_EXAMPLES)]
    Add(AddArgs),
    /// List groups: name, stages and when each last changed.
    List {
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a group's stages and its recent runs.
    Show(NameArgs),
    /// Rename a group or replace its stages.
    Update(UpdateArgs),
    /// Remove a group (refused while a schedule or window uses it).
    #[command(visible_alias = "rm")]
    Remove(NameArgs),
    /// Show a run step by step; --follow it to its end, --resume a failed one.
    Run(RunArgs),
    /// List runs, newest first: of one group, or of all.
    Runs(RunsArgs),
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// 1 to 64 letters, digits, `-`, `_` or `.`.
    name: String,
    /// A stage, in start order: NAME=ID,ID… (machine ids) or NAME=name:GLOB
    /// (the machines whose name matches when a run is made); repeat for
    /// each stage.
    #[arg(long = "stage", value_name = "NAME=MACHINES", value_parser = parse_stage, required = true)]
    stages: Vec<Stage>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["stages", "rename"])
))]
struct UpdateArgs {
    /// The group's name (see `machinist groups list`).
    name: String,
    /// The stages from now on, replacing them all: NAME=ID,ID… or
    /// NAME=name:GLOB; repeat for each stage, in start order.
    #[arg(long = "stage", value_name = "NAME=MACHINES", value_parser = parse_stage)]
    stages: Vec<Stage>,
    /// A new name for the group.
    #[arg(long, value_name = "NEW")]
    rename: Option<String>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

// The arguments of a subcommand that acts on one group. Plain comments,
// not doc comments: clap would take those for the help text.
#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The group's name (see `machinist groups list`).
    name: String,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The run's id (printed when it was started; see `machinist groups runs`).
    #[arg(value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    id: RunId,
    /// Print each change as it happens until the run ends; exit 0 if it
    /// succeeded, 1 if it failed. Ctrl-C stops following, not the run.
    #[arg(long)]
    follow: bool,
    /// Resume a failed run from the step that failed (its machines that did
    /// not get there), then show it.
    #[arg(long)]
    resume: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, clap::Args)]
struct RunsArgs {
    /// Only this group's runs.
    group: Option<String>,
    /// Runs per page (the daemon's default when not given).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Continue after a previous page (its `next cursor`).
    #[arg(long)]
    cursor: Option<String>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `machinist groups …`; errors are printed as one line, exit 1.
pub async fn run(args: GroupsArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: GroupsArgs) -> anyhow::Result<ExitCode> {
    let client = args.daemon.client()?;
    match args.command {
        GroupsCommand::Add(add) => {
            let spec = GroupSpec {
                name: add.name,
                stages: add.stages,
            };
            let group = client.create_group(&spec).await.map_err(unknown_route)?;
            if add.output.structured() {
                add.output.print(&group)?;
            } else {
                println!("group {} added", escape(&group.name));
                print!("{}", stages_text(&group.stages));
            }
        }
        GroupsCommand::List { output } => {
            let groups = client.groups().await.map_err(unknown_route)?;
            if output.structured() {
                output.print(&GroupList { groups })?;
            } else {
                print!("{}", list_text(&groups));
            }
        }
        GroupsCommand::Show(NameArgs { name, output }) => {
            let detail = client.group(&name).await.map_err(no_group(&name))?;
            if output.structured() {
                output.print(&detail)?;
            } else {
                print!("{}", detail_text(&detail));
            }
        }
        GroupsCommand::Update(update) => {
            let patch = GroupPatch {
                name: update.rename,
                stages: (!update.stages.is_empty()).then_some(update.stages),
            };
            let group = client
                .update_group(&update.name, &patch)
                .await
                .map_err(no_group(&update.name))?;
            if update.output.structured() {
                update.output.print(&group)?;
            } else {
                println!("group {} updated", escape(&group.name));
                print!("{}", stages_text(&group.stages));
            }
        }
        GroupsCommand::Remove(NameArgs { name, output }) => {
            client.delete_group(&name).await.map_err(no_group(&name))?;
            if output.structured() {
                output.print(&serde_json::json!({ "name": name, "removed": true }))?;
            } else {
                println!("group {} removed", escape(&name));
            }
        }
        GroupsCommand::Run(run) => return run_show(&client, run).await,
        GroupsCommand::Runs(runs) => run_list(&client, runs).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_show(client: &AdminClient, args: RunArgs) -> anyhow::Result<ExitCode> {
    let id = args.id;
    let view = if args.resume {
        let view = client.resume_group_run(id).await.map_err(no_run(id))?;
        if !args.output.structured() {
            println!("group run {id} resumed (resume {})", view.run.resumes);
        }
        view
    } else {
        client.group_run(id).await.map_err(no_run(id))?
    };
    if args.follow {
        if !args.output.structured() {
            println!("{}", escape(&header_line(&view)));
            eprintln!("following group run {id}; Ctrl-C stops following, not the run");
        }
        return follow(client, view, args.output).await;
    }
    if args.output.structured() {
        args.output.print(&view)?;
    } else {
        print!("{}", run_text(&view));
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_list(client: &AdminClient, args: RunsArgs) -> anyhow::Result<()> {
    let page = client
        .group_runs(args.group.as_deref(), args.cursor.as_deref(), args.limit)
        .await
        .map_err(|e| match &args.group {
            Some(name) => no_group(name)(e),
            None => unknown_route(e),
        })?;
    if args.output.structured() {
        return args.output.print(&page);
    }
    if page.runs.is_empty() {
        match &args.group {
            Some(name) => println!("no runs of group {}", escape(name)),
            None => println!("no group runs"),
        }
    } else {
        print!("{}", runs_text(&page.runs));
    }
    if let Some(cursor) = &page.next_cursor {
        let mut hint = String::from("machinist groups runs");
        if let Some(name) = &args.group {
            hint.push_str(&format!(" {name}"));
        }
        if let Some(limit) = args.limit {
            hint.push_str(&format!(" --limit {limit}"));
        }
        println!("more: {} --cursor {}", escape(&hint), escape(cursor));
    }
    Ok(())
}

/// Starts `group`'s `action` for `machinist jobs submit … --group`: prints
/// the run and how to follow it, or with `wait` follows it to its end.
pub(super) async fn start_run(
    client: &AdminClient,
    group: &str,
    request: &crate::group::RunRequest,
    wait: bool,
    output: OutputArgs,
) -> anyhow::Result<ExitCode> {
    let view = client
        .run_group(group, request)
        .await
        .map_err(no_group(group))?;
    let id = view.run.id;
    let json = output.structured();
    if !json {
        println!("{}", escape(&started_line(&view.run)));
    }
    if wait {
        if !json {
            eprintln!("following group run {id}; Ctrl-C stops following, not the run");
        }
        return follow(client, view, output).await;
    }
    if json {
        output.print(&view)?;
    } else {
        println!("follow it: machinist groups run {id} --follow");
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a run to its end, printing a step's line each time it changes;
/// exit 0 when the run succeeded, 1 when it failed.
async fn follow(
    client: &AdminClient,
    first: RunView,
    output: OutputArgs,
) -> anyhow::Result<ExitCode> {
    let json = output.structured();
    let id = first.run.id;
    let mut shown: Vec<String> = Vec::new();
    let mut view = first;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        if !json {
            for (i, step) in view.progress.iter().enumerate() {
                let line = step_line(i, step, &view.run);
                if shown.get(i) != Some(&line) {
                    println!("{}", escape(&line));
                    if i < shown.len() {
                        shown[i] = line;
                    } else {
                        shown.push(line);
                    }
                }
            }
        }
        if view.state != RunState::Running {
            if json {
                output.print(&view)?;
            }
            return Ok(match view.state {
                RunState::Succeeded => {
                    if !json {
                        println!(
                            "group run {id} succeeded: {} of {} steps done",
                            view.steps_done,
                            view.progress.len()
                        );
                    }
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("error: group run {id} {}", escape(&failure_text(&view)));
                    eprintln!("{}", resume_hint(id));
                    ExitCode::FAILURE
                }
            });
        }
        tokio::time::sleep(POLL).await;
        view = loop {
            match client.group_run(id).await {
                Ok(v) => {
                    if unreachable_since.take().is_some() && !json {
                        eprintln!("reached the daemon again");
                    }
                    break v;
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
                }
                Err(e) => return Err(no_run(id)(e)),
            }
        };
    }
}

// ---- arguments ----

/// One `--stage`: `db=psA,psB` (machine ids) or `web=name:web-*` (the
/// machines whose name matches the glob when a run is made).
fn parse_stage(text: &str) -> Result<Stage, String> {
    let example = "e.g. --stage db=psA,psB or --stage 'web=name:web-*'";
    let Some((name, machines)) = text.split_once('=') else {
        return Err(format!(
            "`{}` is not NAME=MACHINES; {example}",
            escape(text)
        ));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!(
            "`{}` has no stage name before `=`; {example}",
            escape(text)
        ));
    }
    if let Some(glob) = machines.strip_prefix("name:") {
        if glob.trim().is_empty() {
            return Err(format!(
                "stage `{}` has no glob after `name:`; {example}",
                escape(name)
            ));
        }
        return Ok(Stage {
            name: name.to_string(),
            machine_ids: Vec::new(),
            selector: Some(Selector {
                name: Some(glob.trim().to_string()),
                ..Selector::default()
            }),
        });
    }
    let ids: Vec<String> = machines.split(',').map(|m| m.trim().to_string()).collect();
    if ids.iter().any(String::is_empty) {
        return Err(format!(
            "stage `{}` needs machine ids separated by commas, without empty ones; {example}",
            escape(name)
        ));
    }
    Ok(Stage {
        name: name.to_string(),
        machine_ids: ids,
        selector: None,
    })
}

// ---- errors in the CLI's words ----

/// True for the daemon's answer to a route it does not have (its 404 `no
/// route …`, or a 405 where another method shares the path): a daemon
/// older than this CLI.
fn is_unknown_route(e: &AdminError) -> bool {
    match e {
        AdminError::Api {
            status, message, ..
        } => (*status == 404 && message.starts_with("no route ")) || *status == 405,
        _ => false,
    }
}

/// A daemon without the routes of `what` (`machine groups`, `job
/// batches`) said as such; other errors as they are.
pub(super) fn older_daemon(what: &str, e: AdminError) -> anyhow::Error {
    if is_unknown_route(&e) {
        anyhow::anyhow!(
            "the daemon does not know {what} ({e}); it is older than this machinist: \
             upgrade it and restart `machinist serve`"
        )
    } else {
        e.into()
    }
}

/// [`older_daemon`] for the group routes.
fn unknown_route(e: AdminError) -> anyhow::Error {
    older_daemon("machine groups", e)
}

/// A 404 about group `name` in the CLI's words.
fn no_group(name: &str) -> impl FnOnce(AdminError) -> anyhow::Error + '_ {
    move |e| match &e {
        AdminError::Api { status: 404, .. } if !is_unknown_route(&e) => {
            anyhow::anyhow!("there is no group named {name}; `machinist groups list` shows them")
        }
        _ => unknown_route(e),
    }
}

/// A 404 about run `id` in the CLI's words.
fn no_run(id: RunId) -> impl FnOnce(AdminError) -> anyhow::Error {
    move |e| match &e {
        AdminError::Api { status: 404, .. } if !is_unknown_route(&e) => {
            anyhow::anyhow!("there is no group run {id}; `machinist groups runs` lists them")
        }
        _ => unknown_route(e),
    }
}

// ---- text (unescaped; escaped where printed, or by `table` and `field_lines`) ----

/// `db(1) → app(2) → web(name:web-*)`: each stage with its machine count or
/// its glob.
fn stages_summary(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| format!("{}({})", s.name, stage_size(s)))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// A stage's machines in a few characters: how many, or the glob.
fn stage_size(stage: &Stage) -> String {
    match (&stage.selector, stage.machine_ids.len()) {
        (Some(selector), 0) => selector_text(selector),
        (Some(selector), n) => format!("{n} + {}", selector_text(selector)),
        (None, n) => n.to_string(),
    }
}

/// `name:web-*`, with any other condition as `key:value`.
fn selector_text(selector: &Selector) -> String {
    let mut parts = Vec::new();
    for (key, value) in [
        ("name", &selector.name),
        ("region", &selector.region),
        ("type", &selector.machine_type),
        ("state", &selector.state),
    ] {
        if let Some(v) = value {
            parts.push(format!("{key}:{v}"));
        }
    }
    parts.join(" ")
}

/// The stages as `add`, `update` and `show` print them, one a line.
fn stages_text(stages: &[Stage]) -> String {
    let mut out = String::from("stages (start order; a stop goes in reverse):\n");
    for (i, stage) in stages.iter().enumerate() {
        let mut machines: Vec<String> = stage.machine_ids.clone();
        if let Some(selector) = &stage.selector {
            machines.push(format!("machines matching {}", selector_text(selector)));
        }
        let line = format!("{}. {}: {}", i + 1, stage.name, machines.join(", "));
        out.push_str(&format!("  {}\n", escape(&line)));
    }
    out
}

fn list_text(groups: &[Group]) -> String {
    if groups.is_empty() {
        return "no groups; add one with `machinist groups add NAME --stage db=psA …`\n".into();
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                stages_summary(&g.stages),
                time(g.updated_at),
            ]
        })
        .collect();
    table(&["NAME", "STAGES", "UPDATED"], &rows)
}

fn detail_text(detail: &GroupDetail) -> String {
    let group = &detail.group;
    let mut out = field_lines(&[
        ("group", group.name.clone()),
        ("id", group.id.to_string()),
        ("created", time(group.created_at)),
        ("updated", time(group.updated_at)),
    ]);
    out.push_str(&stages_text(&group.stages));
    if detail.recent_runs.is_empty() {
        out.push_str(&format!(
            "no runs yet; start one with `machinist jobs submit start --group {}`\n",
            escape(&group.name)
        ));
    } else {
        out.push_str("recent runs:\n");
        for line in runs_text(&detail.recent_runs).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn runs_text(runs: &[RunView]) -> String {
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|v| {
            vec![
                v.run.id.to_string(),
                v.run.group.clone(),
                v.run.action.to_string(),
                v.state.as_str().to_string(),
                format!("{}/{}", v.steps_done, v.progress.len()),
                time_ago(v.run.created_at, now),
                v.failure
                    .as_ref()
                    .map(|f| truncate(&one_line(&format!("{}: {}", f.machine_id, f.reason)), 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    state_table(
        &[
            "ID", "GROUP", "ACTION", "STATE", "STEPS", "CREATED", "FAILURE",
        ],
        &rows,
        Some((3, Style::detect())),
    )
}

/// `group run 3 started: start db (psA) → start app (psB, psC) → start web (psD)`.
fn started_line(run: &GroupRun) -> String {
    let steps = if run.steps.is_empty() {
        "no steps: no machine of the group is left to act on".to_string()
    } else {
        run.steps
            .iter()
            .map(|s| {
                format!(
                    "{} {} ({})",
                    s.action.as_str(),
                    s.stage,
                    s.machine_ids.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(" → ")
    };
    format!("group run {} started: {steps}", run.id)
}

/// `group run 3: start shop, running, 1 of 3 steps done`.
fn header_line(view: &RunView) -> String {
    format!(
        "group run {}: {} {}, {}, {} of {} steps done",
        view.run.id,
        view.run.action,
        view.run.group,
        view.state.as_str(),
        view.steps_done,
        view.progress.len()
    )
}

/// `2. start app: running — psB job 13 running, psC job 14 waiting`; steps
/// are counted from 1.
fn step_line(index: usize, step: &StepView, run: &GroupRun) -> String {
    let jobs = if step.jobs.is_empty() {
        // No job (yet) for this step: name its machines.
        let machines = run
            .steps
            .get(index)
            .map(|s| s.machine_ids.join(", "))
            .unwrap_or_default();
        format!("{machines} (no jobs)")
    } else {
        step.jobs
            .iter()
            .map(|j| format!("{} job {} {}", j.machine_id, j.job_id, j.state))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}. {} {}: {} — {jobs}",
        index + 1,
        step.action.as_str(),
        step.stage,
        step.state
    )
}

/// What ended a failed run: `failed at step 2 (start app): psC, job 14: …`.
fn failure_text(view: &RunView) -> String {
    if let Some(f) = &view.failure {
        let action = view
            .progress
            .get(f.step as usize)
            .map(|s| s.action.as_str())
            .unwrap_or("");
        return format!(
            "failed at step {} ({action} {}): {}, job {}: {}",
            f.step + 1,
            f.stage,
            f.machine_id,
            f.job_id,
            one_line(&f.reason)
        );
    }
    // No job failed: one was cancelled by hand.
    match view.progress.iter().position(|s| s.state == "cancelled") {
        Some(i) => format!(
            "failed: a job of step {} ({} {}) was cancelled",
            i + 1,
            view.progress[i].action.as_str(),
            view.progress[i].stage
        ),
        None => "failed".to_string(),
    }
}

fn resume_hint(id: RunId) -> String {
    format!(
        "hint: once the cause is fixed, `machinist groups run {id} --resume` retries from the failed step"
    )
}

/// A run as `groups run ID` shows it: its header, each step, what failed.
fn run_text(view: &RunView) -> String {
    let run = &view.run;
    let mut fields = vec![
        (
            "group run",
            format!("{} ({} {})", run.id, run.action, run.group),
        ),
        (
            "state",
            format!(
                "{}, {} of {} steps done",
                view.state.as_str(),
                view.steps_done,
                view.progress.len()
            ),
        ),
        ("starts wait", format!("for {}", run.wait)),
        ("created", time(run.created_at)),
    ];
    if run.resumes > 0 {
        fields.push((
            "resumed",
            format!("{} times, last {}", run.resumes, time(run.updated_at)),
        ));
    }
    if let Some(schedule) = run.schedule_id {
        fields.push(("schedule", schedule.to_string()));
    }
    let mut out = field_lines(&fields);
    out.push_str("steps:\n");
    for (i, step) in view.progress.iter().enumerate() {
        out.push_str(&format!("  {}\n", escape(&step_line(i, step, run))));
    }
    if view.state == RunState::Failed {
        out.push_str(&format!("{}\n", escape(&failure_text(view))));
        out.push_str(&format!("{}\n", resume_hint(run.id)));
    } else if let Some(f) = &view.failure {
        // Failed but other jobs still running: the run ends once they do.
        out.push_str(&format!(
            "{} (the run ends when its other jobs do)\n",
            escape(&format!(
                "failing: {}, job {}: {}",
                f.machine_id,
                f.job_id,
                one_line(&f.reason)
            ))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{GroupAction, RunFailure, RunJob, Step, StepAction};
    use crate::job::JobState;
    use crate::machine::WaitTarget;

    fn at() -> chrono::DateTime<chrono::Utc> {
        "2026-03-02T09:00:00Z".parse().unwrap()
    }

    fn run(steps: &[(&str, &[&str])]) -> GroupRun {
        GroupRun {
            id: 3,
            group: "shop".into(),
            action: GroupAction::Start,
            wait: WaitTarget::Ready,
            steps: steps
                .iter()
                .map(|(stage, ids)| Step {
                    stage: stage.to_string(),
                    action: StepAction::Start,
                    machine_ids: ids.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            schedule_id: None,
            resumes: 0,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn job(machine: &str, id: i64, state: JobState, error: Option<&str>) -> RunJob {
        RunJob {
            machine_id: machine.into(),
            job_id: id,
            state,
            error: error.map(str::to_string),
        }
    }

    fn step(stage: &str, state: &str, jobs: Vec<RunJob>) -> StepView {
        StepView {
            stage: stage.into(),
            action: StepAction::Start,
            state: state.into(),
            jobs,
        }
    }

    #[test]
    fn stages_parse_as_ids_or_a_name_glob() {
        let db = parse_stage("db=psA").unwrap();
        assert_eq!(
            (db.name.as_str(), db.machine_ids),
            ("db", vec!["psA".into()])
        );
        let app = parse_stage("app=psB, psC").unwrap();
        assert_eq!(app.machine_ids, ["psB", "psC"]);
        assert!(app.selector.is_none());
        let web = parse_stage("web=name:web-*").unwrap();
        assert!(web.machine_ids.is_empty());
        assert_eq!(web.selector.unwrap().name.as_deref(), Some("web-*"));
        for bad in ["db", "=psA", "db=", "db=psA,,psB", "web=name:"] {
            assert!(parse_stage(bad).is_err(), "{bad}");
        }
        assert!(parse_stage("db\u{1b}[31m").unwrap_err().contains("\\u{1b}"));
    }

    #[test]
    fn a_run_reads_step_by_step() {
        let r = run(&[
            ("db", &["psA"]),
            ("app", &["psB", "psC"]),
            ("web", &["psD"]),
        ]);
        assert_eq!(
            started_line(&r),
            "group run 3 started: start db (psA) → start app (psB, psC) → start web (psD)"
        );
        let view = RunView {
            run: r,
            state: RunState::Failed,
            steps_done: 1,
            progress: vec![
                step(
                    "db",
                    "succeeded",
                    vec![job("psA", 12, JobState::Succeeded, None)],
                ),
                step(
                    "app",
                    "failed",
                    vec![
                        job("psB", 13, JobState::Succeeded, None),
                        job("psC", 14, JobState::Failed, Some("machine psC\nnot found")),
                    ],
                ),
                step(
                    "web",
                    "cancelled",
                    vec![job(
                        "psD",
                        15,
                        JobState::Cancelled,
                        Some("not run: job 14 failed"),
                    )],
                ),
            ],
            failure: Some(RunFailure {
                step: 1,
                stage: "app".into(),
                machine_id: "psC".into(),
                job_id: 14,
                reason: "machine psC\nnot found".into(),
            }),
        };
        let text = run_text(&view);
        assert!(text.starts_with("group run    3 (start shop)\n"), "{text}");
        assert!(
            text.contains("state        failed, 1 of 3 steps done\n"),
            "{text}"
        );
        assert!(
            text.contains("  1. start db: succeeded — psA job 12 succeeded\n"),
            "{text}"
        );
        assert!(
            text.contains("  2. start app: failed — psB job 13 succeeded, psC job 14 failed\n"),
            "{text}"
        );
        assert!(
            text.contains("failed at step 2 (start app): psC, job 14: machine psC not found\n"),
            "{text}"
        );
        assert!(text.contains("machinist groups run 3 --resume"), "{text}");
        assert_eq!(
            header_line(&view),
            "group run 3: start shop, failed, 1 of 3 steps done"
        );
    }

    #[test]
    fn groups_list_with_their_stages_summarized() {
        let stage = |s: &str| parse_stage(s).unwrap();
        let group = Group {
            id: 1,
            name: "shop".into(),
            stages: vec![
                stage("db=psA"),
                stage("app=psB,psC"),
                stage("web=name:web-*"),
            ],
            created_at: at(),
            updated_at: at(),
        };
        assert_eq!(
            stages_summary(&group.stages),
            "db(1) → app(2) → web(name:web-*)"
        );
        let list = list_text(&[group]);
        assert_eq!(
            list,
            "NAME  STAGES                            UPDATED\n\
             shop  db(1) → app(2) → web(name:web-*)  2026-03-02T09:00:00Z\n"
        );
        assert!(list_text(&[]).starts_with("no groups"));
    }

    #[test]
    fn what_the_daemon_sends_is_escaped() {
        let mut r = run(&[("db", &["ps\u{1b}[2J"])]);
        r.group = "\u{202e}shop".into();
        let view = RunView {
            run: r,
            state: RunState::Running,
            steps_done: 0,
            progress: vec![step(
                "db",
                "running",
                vec![job("ps\u{1b}[2J", 1, JobState::Running, None)],
            )],
            failure: None,
        };
        let text = run_text(&view);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("ps\\u{1b}[2J job 1 running"), "{text}");
    }
}
