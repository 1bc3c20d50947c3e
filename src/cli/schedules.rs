//! `machinist schedules`: add, list, show, preview, update, pause, resume
//! and remove cron schedules through the daemon's admin API.
//!
//! `update` changes only what its flags say, although the API's `PUT
//! /v1/schedules/{key}` replaces the whole schedule: it reads the stored
//! schedule, applies the flags to it ([`spec_of`], then `UpdateArgs::apply`)
//! and puts the whole back. A flag given replaces that field (`--machine`,
//! `--select` and `--group` the targets, `--exclude-date` the dates,
//! `--calendar` the calendars); `--arg` sets one argument among the others;
//! `--no-args`, `--no-jitter` and `--no-exclusions` clear. No flag that
//! changes anything is a usage error, found before the daemon is asked.
//! What changed is printed field by field, `old → new` ([`changes`]: the
//! stored object against the answer, both as the API shows them, so a
//! default the daemon fills in shows as it will be stored); `--dry-run`
//! prints the same from the `?dry_run=true` answer and writes nothing.
//! Between the read and the write another client may change the schedule:
//! the last write wins, as with any `PUT`. A window's edge schedules are
//! refused by the daemon (409), which says to change the window instead.
//!
//! Output is for people; `-o json`/`-o yaml` (or `--json`) prints the
//! API's answer for scripts (see [`super::output`]). A
//! server error prints one line `error: <message> (field: <field>)` and
//! exits 1; a usage error exits 2.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::connection::{
    DaemonArgs, KeyArgs, build_args, compact, local_time, one_line, print_fields, print_table,
    report_errors, time, truncate, usage,
};
use super::output::{OutputArgs, relative};
use crate::cli::admin_client::AdminClient;
use crate::cost::Plan;
use crate::http::{FireTimeView, PreviewRequest};
use crate::machine::BillingMonth;
use crate::schedule::calendar::Exclusions;
use crate::schedule::firing::Firing;
use crate::schedule::spec::{MisfirePolicy, OverlapPolicy, Schedule, ScheduleSpec};
use crate::schedule::target::{Selector, Targets};
use crate::schedule::template::JobTemplate;
use crate::text::escape;

/// Manage cron schedules through the daemon's admin API.
#[derive(Debug, clap::Args)]
pub struct SchedulesArgs {
    // What to do (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: SchedulesCommand,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl SchedulesArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum SchedulesCommand {
    /// Add a schedule, e.g. `machinist schedules add nightly-stop --cron '0 19 * * MON-FRI'
    /// --timezone Europe/Amsterdam --kind stop --select name=gpu-*`.
    Add(Box<AddArgs>),
    /// List schedules by name.
    List {
        /// Also list the start and stop schedules of windows.
        #[arg(long)]
        include_windows: bool,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a schedule: its definition, next fire times, recent firings.
    Show {
        /// The schedule's id or name.
        key: String,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The next fire times of a schedule, or of an expression before saving
    /// it; with --cost, what it would make its machines cost in a month.
    Preview(Box<PreviewArgs>),
    /// Pause a schedule: it fires no more until resumed.
    Pause(KeyArgs),
    /// Resume a paused schedule from its next time (missed times are not made up).
    Resume(KeyArgs),
    /// Change some fields of a schedule, e.g. `machinist schedules update
    /// nightly-stop --cron '0 20 * * MON-FRI'`; the others stay as they are.
    Update(Box<UpdateArgs>),
    /// Delete a schedule (its jobs stay).
    Rm { key: String },
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// A unique name (not a number).
    name: String,
    /// 5 fields (`0 9 * * MON-FRI`), 6 with seconds first, or @hourly,
    /// @daily, @weekly, @monthly.
    #[arg(long, value_name = "EXPR")]
    cron: String,
    /// IANA zone of the expression, e.g. Europe/Amsterdam. Default: the
    /// daemon's `schedule.default_timezone` (UTC unless configured).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// The job to make: start, stop, restart, refresh, utilization, …
    #[arg(long)]
    kind: String,
    /// The job's arguments as one JSON object, e.g. '{"month":"previous"}'.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// One argument, `--arg month=previous` (the value read as JSON when it
    /// parses, else as a string). Overrides the same key in --args.
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    arg: Vec<String>,
    /// A machine to act on; repeat for more.
    #[arg(long = "machine", value_name = "ID", conflicts_with = "select")]
    machines: Vec<String>,
    /// The machines matching this when the schedule fires:
    /// `name=GLOB,region=R,machine_type=T,state=S` (one or more; a machine must match all).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector)]
    select: Option<Selector>,
    /// A machine group (`machinist groups add`), run stage by stage: a
    /// start starts its stages in order, a stop stops them in reverse.
    /// For start, stop and restart; not with --machine or --select.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["machines", "select"])]
    group: Option<String>,
    /// Spread the jobs over this long after each fire time: 30s, 15m, 1h
    /// or a number of seconds.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::seconds_arg_u32)]
    jitter: Option<u32>,
    /// A local date on which not to fire; repeat for more.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD")]
    exclude_dates: Vec<NaiveDate>,
    /// A holiday calendar of the daemon's configuration; repeat for more.
    #[arg(long = "calendar", value_name = "NAME")]
    calendars: Vec<String>,
    /// Fire times missed while the daemon was down: run the latest once
    /// (within --catch-up) or skip them all. Default: run_once.
    #[arg(long, value_enum)]
    misfire: Option<MisfireArg>,
    /// How late a missed fire time may still run: 30s, 15m, 1h or a number
    /// of seconds. Default per kind.
    #[arg(long = "catch-up", value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    catch_up: Option<u64>,
    /// When the previous job for a machine has not finished: skip this one
    /// (default) or queue it behind.
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
    /// The state each job waits for: none, ready, serviceready, off or gone.
    /// Default: the kind's own.
    #[arg(long, value_name = "STATE")]
    wait_for: Option<String>,
    /// How long that wait may last: 30s, 15m, 1h, 2h30m or a number of
    /// seconds.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    wait_timeout: Option<u64>,
    /// The jobs' priority, -1000..=1000.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// The jobs' attempts before failing, 1..=100.
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Add it paused; `machinist schedules resume` starts it.
    #[arg(long)]
    paused: bool,
    /// Accept machine ids missing from the daemon's last listing of the
    /// account (machines created since).
    #[arg(long)]
    allow_unknown: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
    /// Show the schedule the daemon would store and its next fire times,
    /// checked as the real add (the same errors), and add nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct UpdateArgs {
    /// The schedule's id or name.
    key: String,
    /// A new name (not a number).
    #[arg(long, value_name = "NAME")]
    rename: Option<String>,
    /// A new expression: 5 fields, 6 with seconds first, or @hourly, @daily,
    /// @weekly, @monthly.
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// A new IANA zone of the expression, e.g. Europe/Amsterdam.
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// A new job kind: start, stop, restart, refresh, utilization, …
    #[arg(long)]
    kind: Option<String>,
    /// New job arguments as one JSON object, replacing all the current ones.
    #[arg(long, value_name = "JSON", conflicts_with = "no_args")]
    args: Option<String>,
    /// Set one argument, `--arg month=previous`, keeping the others (the
    /// value read as JSON when it parses, else as a string).
    #[arg(long = "arg", value_name = "KEY=VALUE")]
    arg: Vec<String>,
    /// Drop every job argument.
    #[arg(long, conflicts_with = "arg")]
    no_args: bool,
    /// Act on these machines instead (repeat for more); replaces the targets.
    #[arg(long = "machine", value_name = "ID", conflicts_with = "select")]
    machines: Vec<String>,
    /// Act on the machines matching this instead
    /// (`name=GLOB,region=R,machine_type=T,state=S`); replaces the targets.
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector)]
    select: Option<Selector>,
    /// Act on this machine group instead; replaces the targets.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["machines", "select"])]
    group: Option<String>,
    /// A new spread of the jobs after each fire time: 30s, 15m, 1h or a
    /// number of seconds.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::seconds_arg_u32, conflicts_with = "no_jitter")]
    jitter: Option<u32>,
    /// No spread: every job at the fire time.
    #[arg(long)]
    no_jitter: bool,
    /// The local dates on which not to fire (repeat for more); replaces the
    /// excluded dates.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD")]
    exclude_dates: Vec<NaiveDate>,
    /// The holiday calendars of the daemon's configuration (repeat for
    /// more); replaces the excluded calendars.
    #[arg(long = "calendar", value_name = "NAME")]
    calendars: Vec<String>,
    /// Exclude no dates and no calendars.
    #[arg(long, conflicts_with_all = ["exclude_dates", "calendars"])]
    no_exclusions: bool,
    /// Fire times missed while the daemon was down: run the latest once
    /// (within --catch-up) or skip them all.
    #[arg(long, value_enum)]
    misfire: Option<MisfireArg>,
    /// How late a missed fire time may still run: 30s, 15m, 1h or a number
    /// of seconds.
    #[arg(long = "catch-up", value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    catch_up: Option<u64>,
    /// When the previous job for a machine has not finished: skip this one
    /// or queue it behind.
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
    /// The state each job waits for: none, ready, serviceready, off or gone.
    #[arg(long, value_name = "STATE")]
    wait_for: Option<String>,
    /// How long that wait may last: 30s, 15m, 1h, 2h30m or a number of
    /// seconds.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    wait_timeout: Option<u64>,
    /// The jobs' priority, -1000..=1000.
    #[arg(long, allow_negative_numbers = true)]
    priority: Option<i32>,
    /// The jobs' attempts before failing, 1..=100.
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Pause it; `machinist schedules resume` starts it again.
    #[arg(long)]
    paused: bool,
    /// Accept machine ids missing from the daemon's last listing of the
    /// account (machines created since).
    #[arg(long)]
    allow_unknown: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
    /// Show what would change and the next fire times, checked as the real
    /// update (the same errors), and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The flags of `schedules update` that change something, as the usage
/// error lists them.
const UPDATE_FLAGS: &str = "--rename, --cron, --timezone, --kind, --args, --arg, --no-args, \
     --machine, --select, --group, --jitter, --no-jitter, --exclude-date, --calendar, \
     --no-exclusions, --misfire, --catch-up, --overlap, --wait-for, --wait-timeout, \
     --priority, --max-attempts, --paused";

impl UpdateArgs {
    /// Whether any flag asks for a change (`--allow-unknown`, `--dry-run`
    /// and the output flags do not).
    fn changes_something(&self) -> bool {
        self.rename.is_some()
            || self.cron.is_some()
            || self.timezone.is_some()
            || self.kind.is_some()
            || self.args.is_some()
            || !self.arg.is_empty()
            || self.no_args
            || !self.machines.is_empty()
            || self.select.is_some()
            || self.group.is_some()
            || self.jitter.is_some()
            || self.no_jitter
            || !self.exclude_dates.is_empty()
            || !self.calendars.is_empty()
            || self.no_exclusions
            || self.misfire.is_some()
            || self.catch_up.is_some()
            || self.overlap.is_some()
            || self.wait_for.is_some()
            || self.wait_timeout.is_some()
            || self.priority.is_some()
            || self.max_attempts.is_some()
            || self.paused
    }

    /// `spec` (the stored schedule's) with the given flags applied.
    fn apply(self, mut spec: ScheduleSpec) -> anyhow::Result<ScheduleSpec> {
        if let Some(name) = self.rename {
            spec.name = name;
        }
        if let Some(cron) = self.cron {
            spec.cron = cron;
        }
        if self.timezone.is_some() {
            spec.timezone = self.timezone;
        }
        let template = &mut spec.template;
        if let Some(kind) = self.kind {
            // A catch-up that is the old kind's default goes with the old
            // kind: the daemon gives the new kind its own (a start caught
            // up for the 24 h of a stop would start machines hours late).
            let old_default = template
                .kind()
                .ok()
                .map(|k| JobTemplate::default_catch_up(k).as_secs());
            if self.catch_up.is_none() && spec.catch_up_seconds == old_default {
                spec.catch_up_seconds = None;
            }
            template.kind = kind;
        }
        if self.no_args {
            template.args = serde_json::Value::Null;
        } else if self.args.is_some() {
            template.args = build_args(self.args.as_deref(), &self.arg)?;
        } else if !self.arg.is_empty() {
            // Set on top of the current arguments: they go back as JSON.
            let current = match &template.args {
                serde_json::Value::Null => "{}".to_string(),
                other => other.to_string(),
            };
            template.args = build_args(Some(&current), &self.arg)?;
        }
        if self.wait_for.is_some() {
            template.wait = self.wait_for;
        }
        if self.wait_timeout.is_some() {
            template.wait_timeout_seconds = self.wait_timeout;
        }
        if self.priority.is_some() {
            template.priority = self.priority;
        }
        if self.max_attempts.is_some() {
            template.max_attempts = self.max_attempts;
        }
        if !self.machines.is_empty() || self.select.is_some() || self.group.is_some() {
            spec.targets = Targets {
                machine_ids: self.machines,
                selector: self.select,
                group: self.group,
            };
        }
        if let Some(jitter) = self.jitter {
            spec.jitter_seconds = jitter;
        }
        if self.no_jitter {
            spec.jitter_seconds = 0;
        }
        if self.no_exclusions {
            spec.exclusions = Exclusions::default();
        }
        if !self.exclude_dates.is_empty() {
            spec.exclusions.dates = self.exclude_dates;
        }
        if !self.calendars.is_empty() {
            spec.exclusions.calendars = self.calendars;
        }
        if let Some(misfire) = self.misfire {
            spec.misfire = Some(misfire.policy());
        }
        if self.catch_up.is_some() {
            spec.catch_up_seconds = self.catch_up;
        }
        if let Some(overlap) = self.overlap {
            spec.overlap = overlap.policy();
        }
        if self.paused {
            spec.enabled = false;
        }
        spec.allow_unknown = self.allow_unknown;
        Ok(spec)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MisfireArg {
    Skip,
    #[value(name = "run_once", alias = "run-once")]
    RunOnce,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OverlapArg {
    Skip,
    Queue,
}

impl MisfireArg {
    fn policy(self) -> MisfirePolicy {
        match self {
            MisfireArg::Skip => MisfirePolicy::Skip,
            MisfireArg::RunOnce => MisfirePolicy::RunOnce,
        }
    }
}

impl OverlapArg {
    fn policy(self) -> OverlapPolicy {
        match self {
            OverlapArg::Skip => OverlapPolicy::Skip,
            OverlapArg::Queue => OverlapPolicy::Queue,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["key", "cron"])))]
struct PreviewArgs {
    /// A stored schedule's id or name.
    key: Option<String>,
    /// An expression to try instead, nothing stored.
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// The expression's IANA zone. Default: the daemon's.
    #[arg(long, value_name = "ZONE", requires = "cron")]
    timezone: Option<String>,
    /// How many, 1..=100 (default 10).
    #[arg(long, value_name = "N", conflicts_with = "cost")]
    count: Option<u32>,
    /// Forecast instead: the hours and cost the schedule would make its
    /// machines run in a month, against always on and their last 30 days.
    #[arg(long)]
    cost: bool,
    /// With --cost and --cron: the job the schedule makes, start or stop.
    #[arg(long, requires = "cron")]
    kind: Option<String>,
    /// With --cost and --cron: a machine it acts on; repeat for more.
    #[arg(
        long = "machine",
        value_name = "ID",
        requires = "cron",
        conflicts_with = "select"
    )]
    machines: Vec<String>,
    /// With --cost and --cron: the machines matching this
    /// (`name=GLOB,region=R,machine_type=T,state=S`).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector, requires = "cron")]
    select: Option<Selector>,
    /// With --cost and --cron: a local date on which not to fire; repeat for more.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD", requires = "cron")]
    exclude_dates: Vec<NaiveDate>,
    /// With --cost and --cron: a holiday calendar of the daemon's configuration.
    #[arg(long = "calendar", value_name = "NAME", requires = "cron")]
    calendars: Vec<String>,
    /// With --cost: the month to forecast, `YYYY-MM`. Default: next month.
    #[arg(long, value_name = "YYYY-MM", requires = "cost")]
    month: Option<BillingMonth>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `machinist schedules …`; errors are printed as one line, exit 1.
pub async fn run(args: SchedulesArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: SchedulesArgs) -> anyhow::Result<ExitCode> {
    // A usage error before the daemon is looked for, as clap's own are.
    if let SchedulesCommand::Update(update) = &args.command
        && !update.changes_something()
    {
        return Ok(usage(&format!(
            "nothing to change: give at least one of {UPDATE_FLAGS}"
        )));
    }
    let client = args.daemon.client()?;
    match args.command {
        SchedulesCommand::Add(add) => run_add(&client, *add).await?,
        SchedulesCommand::Update(update) => run_update(&client, *update).await?,
        SchedulesCommand::List {
            include_windows,
            output,
        } => {
            let schedules = client.schedules(include_windows).await?;
            if output.structured() {
                output.print(&serde_json::json!({ "schedules": schedules }))?;
            } else if schedules.is_empty() {
                println!("no schedules");
            } else {
                print_list(&schedules, output.wide());
            }
        }
        SchedulesCommand::Show { key, output } => {
            let detail = client.schedule(&key).await?;
            if output.structured() {
                output.print(&detail)?;
            } else {
                print_schedule(&detail.schedule);
                print_fire_times(
                    "next fire times",
                    &detail.next_fire_times,
                    &detail.schedule.timezone,
                    has_seconds(&detail.schedule.cron),
                );
                if !detail.schedule.enabled {
                    println!();
                    println!(
                        "paused; `machinist schedules preview {key}` shows when it would fire"
                    );
                }
                print_firings(&detail.recent_firings);
            }
        }
        SchedulesCommand::Preview(preview) if preview.cost => {
            run_forecast(&client, *preview).await?
        }
        SchedulesCommand::Preview(preview) => {
            let (times, zone, seconds) = match (&preview.key, preview.cron) {
                (Some(key), _) => {
                    let times = client.preview_schedule(key, preview.count).await?;
                    // The zone's name reads better than the offset in `local`.
                    let (zone, seconds) = if preview.output.structured() {
                        (None, false)
                    } else {
                        let schedule = client.schedule(key).await?.schedule;
                        (Some(schedule.timezone), has_seconds(&schedule.cron))
                    };
                    (times, zone, seconds)
                }
                (None, Some(cron)) => {
                    let request = PreviewRequest {
                        cron,
                        timezone: preview.timezone,
                        count: preview.count,
                    };
                    let times = client.preview_expression(&request).await?;
                    let seconds = has_seconds(&request.cron);
                    (times, request.timezone, seconds)
                }
                (None, None) => unreachable!("clap requires a key or --cron"),
            };
            if preview.output.structured() {
                preview
                    .output
                    .print(&serde_json::json!({ "fire_times": times }))?;
            } else if times.is_empty() {
                println!("never fires");
            } else {
                for t in &times {
                    println!("{}", escape(&fire_line(t, zone.as_deref(), seconds)));
                }
            }
        }
        SchedulesCommand::Pause(KeyArgs { key, output }) => {
            let schedule = client.pause_schedule(&key).await?;
            finish(&schedule, output, "paused")?;
        }
        SchedulesCommand::Resume(KeyArgs { key, output }) => {
            let schedule = client.resume_schedule(&key).await?;
            finish(&schedule, output, "resumed")?;
        }
        SchedulesCommand::Rm { key } => {
            client.delete_schedule(&key).await?;
            println!("schedule {key} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `schedules preview --cost`: a stored schedule's forecast, or a draft's.
async fn run_forecast(client: &AdminClient, p: PreviewArgs) -> anyhow::Result<()> {
    let spec = match (&p.key, p.cron) {
        (Some(key), _) => ScheduleSpec {
            // The forecast is of the schedule firing, paused or not.
            enabled: true,
            ..spec_of(client.schedule(key).await?.schedule)
        },
        (None, Some(cron)) => {
            let Some(kind) = p.kind else {
                anyhow::bail!(
                    "a draft schedule's cost needs its job: add --kind start or --kind stop"
                );
            };
            if p.machines.is_empty() && p.select.is_none() {
                anyhow::bail!(
                    "a draft schedule's cost needs its machines: add --machine ID (repeatable) or --select SELECTOR"
                );
            }
            ScheduleSpec {
                name: "draft".into(),
                cron,
                timezone: p.timezone,
                template: JobTemplate {
                    kind,
                    args: serde_json::Value::Null,
                    wait: None,
                    wait_timeout_seconds: None,
                    max_attempts: None,
                    priority: None,
                },
                targets: Targets {
                    machine_ids: p.machines,
                    selector: p.select,
                    group: None,
                },
                enabled: true,
                jitter_seconds: 0,
                exclusions: Exclusions {
                    dates: p.exclude_dates,
                    calendars: p.calendars,
                },
                misfire: None,
                catch_up_seconds: None,
                overlap: OverlapPolicy::Skip,
                allow_unknown: false,
            }
        }
        (None, None) => unreachable!("clap requires a key or --cron"),
    };
    let plan = Plan {
        schedule: Some(spec),
        window: None,
        month: p.month,
    };
    super::report::show_forecast(client, &plan, p.output).await
}

async fn run_add(client: &AdminClient, args: AddArgs) -> anyhow::Result<()> {
    let spec = ScheduleSpec {
        name: args.name,
        cron: args.cron,
        timezone: args.timezone,
        template: JobTemplate {
            kind: args.kind,
            args: build_args(args.args.as_deref(), &args.arg)?,
            wait: args.wait_for,
            wait_timeout_seconds: args.wait_timeout,
            max_attempts: args.max_attempts,
            priority: args.priority,
        },
        targets: Targets {
            machine_ids: args.machines,
            selector: args.select,
            group: args.group,
        },
        enabled: !args.paused,
        jitter_seconds: args.jitter.unwrap_or(0),
        exclusions: Exclusions {
            dates: args.exclude_dates,
            calendars: args.calendars,
        },
        misfire: args.misfire.map(MisfireArg::policy),
        catch_up_seconds: args.catch_up,
        overlap: args.overlap.map_or(OverlapPolicy::Skip, OverlapArg::policy),
        allow_unknown: args.allow_unknown,
    };
    if args.dry_run {
        let answer = client.dry_run_schedule(None, &spec).await?;
        if args.output.structured() {
            return args.output.print(&answer);
        }
        let field = |name: &str| {
            answer.schedule[name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let zone = field("timezone");
        println!(
            "dry run: would create schedule {}",
            escape(&format!(
                "{} ({} in {zone}): {} on {}",
                spec.name,
                field("cron"),
                spec.template.kind,
                targets_summary(&spec.targets, 5)
            ))
        );
        for t in &answer.next_fire_times {
            println!(
                "next: {}",
                escape(&fire_line(t, Some(&zone), has_seconds(&field("cron"))))
            );
        }
        if !spec.enabled {
            println!("paused: it would not fire until resumed");
        }
        println!("nothing was created");
        return Ok(());
    }
    let schedule = client.create_schedule(&spec).await?;
    if args.output.structured() {
        return args.output.print(&schedule);
    }
    print_saved(&schedule, "added", &[]);
    Ok(())
}

/// `schedules update`: the stored schedule with the given flags applied,
/// put back whole (the API replaces, it does not patch).
async fn run_update(client: &AdminClient, args: UpdateArgs) -> anyhow::Result<()> {
    let key = args.key.clone();
    let (dry_run, output) = (args.dry_run, args.output);
    let current = client.schedule(&key).await?.schedule;
    let spec = args.apply(spec_of(current.clone()))?;
    let old = serde_json::to_value(&current)?;
    if dry_run {
        let answer = client.dry_run_schedule(Some(&key), &spec).await?;
        if output.structured() {
            return output.print(&answer);
        }
        println!("dry run: would change schedule {}:", escape(&current.name));
        print_changes(&old, &answer.schedule);
        let field = |name: &str| {
            answer.schedule[name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let (zone, cron) = (field("timezone"), field("cron"));
        for t in &answer.next_fire_times {
            println!(
                "next: {}",
                escape(&fire_line(t, Some(&zone), has_seconds(&cron)))
            );
        }
        if answer.schedule["enabled"] == false {
            println!("paused: it would not fire until resumed");
        }
        println!("nothing was changed");
        return Ok(());
    }
    let schedule = client.update_schedule(&key, &spec).await?;
    if output.structured() {
        return output.print(&schedule);
    }
    let changed = changes(&old, &serde_json::to_value(&schedule)?);
    print_saved(&schedule, "updated", &changed);
    Ok(())
}

/// The spec that stores `s` again as it is: what `schedules update`
/// changes, and what `preview --cost` prices.
fn spec_of(s: Schedule) -> ScheduleSpec {
    ScheduleSpec {
        name: s.name,
        cron: s.cron,
        timezone: Some(s.timezone),
        template: s.template,
        targets: s.targets,
        enabled: s.enabled,
        jitter_seconds: s.jitter_seconds,
        exclusions: s.exclusions,
        misfire: Some(s.misfire),
        catch_up_seconds: Some(s.catch_up_seconds),
        overlap: s.overlap,
        allow_unknown: false,
    }
}

/// `schedule 3 added: nightly (0 19 * * * in UTC)`, the `changed` lines
/// under it, then its next fire time (or why there is none).
fn print_saved(schedule: &Schedule, verb: &str, changed: &[String]) {
    let seconds = has_seconds(&schedule.cron);
    println!(
        "schedule {} {verb}: {}",
        schedule.id,
        escape(&format!(
            "{} ({} in {})",
            schedule.name, schedule.cron, schedule.timezone
        ))
    );
    for line in changed {
        println!("  {}", escape(line));
    }
    match schedule.next_fire_at {
        Some(next) => println!(
            "next: {}  ({})",
            zone_time(next, &schedule.timezone, seconds),
            time(next)
        ),
        None if !schedule.enabled => {
            println!(
                "paused; `machinist schedules resume {}` starts it",
                escape(&schedule.name)
            )
        }
        None => println!("it never fires"),
    }
}

/// The bookkeeping of a stored schedule or window, left out of
/// [`changes`]: the store and the scheduler set them, no flag does.
const UNCHANGEABLE: [&str; 7] = [
    "id",
    "created_at",
    "updated_at",
    "next_fire_at",
    "next_enforce_at",
    "window_id",
    "window_edge",
];

/// What differs between `old` and `new` (a schedule or a window as the API
/// shows it): one `field: old → new` line each, a nested field by its
/// dotted path (`template.kind`, `hours.start`), in field name order.
pub(super) fn changes(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    flatten("", old, &mut before);
    flatten("", new, &mut after);
    let fields: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    fields
        .into_iter()
        .filter(|field| !UNCHANGEABLE.contains(&field.as_str()))
        .filter(|field| before.get(*field) != after.get(*field))
        .map(|field| {
            format!(
                "{field}: {} → {}",
                shown(before.get(field)),
                shown(after.get(field))
            )
        })
        .collect()
}

/// [`changes`], printed one per line under the heading, or that there are
/// none.
pub(super) fn print_changes(old: &serde_json::Value, new: &serde_json::Value) {
    let changed = changes(old, new);
    if changed.is_empty() {
        println!("  no field would change");
    }
    for line in changed {
        println!("  {}", escape(&line));
    }
}

/// The leaves of `value` by dotted path; an array or a null is a leaf.
fn flatten(path: &str, value: &serde_json::Value, into: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() || path.is_empty() => {
            for (key, value) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten(&path, value, into);
            }
        }
        _ => {
            into.insert(path.to_string(), value.clone());
        }
    }
}

/// A value as a person reads it: a string bare, a list comma-separated,
/// nothing as `-`.
fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Array(items)) if items.is_empty() => "none".to_string(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| shown(Some(item)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => compact(other),
    }
}

/// Parses `name=GLOB,region=R,machine_type=T,state=S`.
pub(super) fn parse_selector(text: &str) -> Result<Selector, String> {
    let mut selector = Selector::default();
    for part in text.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "`{part}` is not KEY=VALUE; use name=GLOB,region=R,machine_type=T,state=S"
            ));
        };
        let (key, value) = (key.trim(), value.trim().to_string());
        if value.is_empty() {
            return Err(format!("`{key}` has no value"));
        }
        let slot = match key {
            "name" => &mut selector.name,
            "region" => &mut selector.region,
            "machine_type" | "type" => &mut selector.machine_type,
            "state" => &mut selector.state,
            _ => {
                return Err(format!(
                    "unknown selector key `{key}`; use name, region, machine_type or state"
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(format!("`{key}` is given more than once"));
        }
    }
    Ok(selector)
}

fn finish(schedule: &Schedule, output: OutputArgs, what: &str) -> anyhow::Result<()> {
    if output.structured() {
        return output.print(schedule);
    }
    let next = match schedule.next_fire_at {
        Some(next) => format!(
            "; next: {}",
            zone_time(next, &schedule.timezone, has_seconds(&schedule.cron))
        ),
        None => String::new(),
    };
    println!(
        "schedule {} ({}) {what}{next}",
        schedule.id,
        escape(&schedule.name)
    );
    Ok(())
}

/// "ps1, ps2", "name=gpu-*, state=ready", "group shop", or "-".
pub(super) fn targets_summary(targets: &Targets, max: usize) -> String {
    if let Some(group) = &targets.group {
        return format!("group {group}");
    }
    if let Some(s) = &targets.selector {
        let parts: Vec<String> = [
            ("name", &s.name),
            ("region", &s.region),
            ("machine_type", &s.machine_type),
            ("state", &s.state),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
        return format!("select {}", parts.join(","));
    }
    match targets.machine_ids.len() {
        0 => "-".to_string(),
        n if n <= max => targets.machine_ids.join(", "),
        n => format!("{} +{}", targets.machine_ids[..max].join(", "), n - max),
    }
}

/// "dates 2026-12-25; calendars nl", or "none".
pub(super) fn exclusions_summary(exclusions: &Exclusions) -> String {
    let mut parts = Vec::new();
    if !exclusions.dates.is_empty() {
        let dates: Vec<String> = exclusions.dates.iter().map(|d| d.to_string()).collect();
        parts.push(format!("dates {}", dates.join(", ")));
    }
    if !exclusions.calendars.is_empty() {
        parts.push(format!("calendars {}", exclusions.calendars.join(", ")));
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join("; ")
    }
}

/// The schedules' table; with `wide`, also every target (the table cuts
/// them to 40 characters), the job's arguments, the jitter and the
/// exclusions.
fn print_list(schedules: &[Schedule], wide: bool) {
    let now = Utc::now();
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| {
            let targets = targets_summary(&s.targets, if wide { usize::MAX } else { 3 });
            let mut row = vec![
                s.id.to_string(),
                s.name.clone(),
                s.cron.clone(),
                s.timezone.clone(),
                s.template.kind.clone(),
                if wide {
                    targets
                } else {
                    truncate(&targets, 40)
                },
            ];
            if wide {
                row.extend([
                    // No arguments, or an empty object: nothing to show.
                    if s.template.args.as_object().is_none_or(|a| a.is_empty()) {
                        "-".to_string()
                    } else {
                        compact(&s.template.args)
                    },
                    span(u64::from(s.jitter_seconds)),
                    exclusions_summary(&s.exclusions),
                ]);
            }
            row.push(match s.next_fire_at {
                Some(next) => format!(
                    "{} ({})",
                    zone_time(next, &s.timezone, has_seconds(&s.cron)),
                    relative(next, now)
                ),
                None if !s.enabled => "paused".to_string(),
                None => "never".to_string(),
            });
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME", "CRON", "ZONE", "KIND", "TARGETS"];
    if wide {
        header.extend(["ARGS", "JITTER", "EXCLUSIONS"]);
    }
    header.push("NEXT");
    print_table(&header, &rows);
}

/// True for a cron expression with a seconds field (6 or 7 fields, seconds
/// first): its times are shown to the second, not the minute.
pub(super) fn has_seconds(cron: &str) -> bool {
    !cron.trim_start().starts_with('@') && cron.split_whitespace().count() >= 6
}

/// [`local_time`], or with `seconds` the same to the second:
/// `2026-03-02 10:00:30 CET`.
pub(super) fn zone_time(at: DateTime<Utc>, zone: &str, seconds: bool) -> String {
    if !seconds {
        return local_time(at, zone);
    }
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => time(at),
    }
}

fn print_schedule(s: &Schedule) {
    let mut job = s.template.kind.clone();
    if !s.template.args.is_null() {
        job.push_str(&format!(" {}", compact(&s.template.args)));
    }
    if let Some(wait) = &s.template.wait {
        job.push_str(&format!(" (wait {wait})"));
    }
    let mut fields: Vec<(&str, String)> = vec![
        ("schedule", format!("{}: {}", s.id, s.name)),
        ("cron", format!("{} in {}", s.cron, s.timezone)),
        ("job", job),
        ("targets", targets_summary(&s.targets, 20)),
        (
            "status",
            if s.enabled { "enabled" } else { "paused" }.to_string(),
        ),
    ];
    if let (Some(window), Some(edge)) = (s.window_id, s.window_edge) {
        fields.push(("window", format!("{window} ({} edge)", edge.as_str())));
    }
    if s.jitter_seconds > 0 {
        fields.push(("jitter", format!("{}s", s.jitter_seconds)));
    }
    fields.push(("exclusions", exclusions_summary(&s.exclusions)));
    fields.push((
        "misfire",
        match s.misfire {
            MisfirePolicy::Skip => "skip".to_string(),
            MisfirePolicy::RunOnce => {
                format!("run_once within {}", span(s.catch_up_seconds))
            }
        },
    ));
    fields.push(("overlap", s.overlap.as_str().to_string()));
    fields.push(("created", time(s.created_at)));
    fields.push(("updated", time(s.updated_at)));
    print_fields(&fields);
}

/// `7d`, `24h`, `15m`, `90s`: the largest whole unit.
fn span(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `2026-03-03 09:00 CET  (2026-03-03T08:00:00Z)`, with the edge for
/// windows; with `seconds` (a cron with a seconds field) `09:00:30`.
pub(super) fn fire_line(t: &FireTimeView, zone: Option<&str>, seconds: bool) -> String {
    // The `local` string carries the zone's offset; a named zone reads better.
    let local = match zone {
        Some(zone) => zone_time(t.utc, zone, seconds),
        None => t.local.clone(),
    };
    match t.edge {
        Some(edge) => format!("{:<5}  {local}  ({})", edge.as_str(), time(t.utc)),
        None => format!("{local}  ({})", time(t.utc)),
    }
}

pub(super) fn print_fire_times(title: &str, times: &[FireTimeView], zone: &str, seconds: bool) {
    if times.is_empty() {
        return;
    }
    println!();
    println!("{title}:");
    for t in times {
        println!("  {}", escape(&fire_line(t, Some(zone), seconds)));
    }
}

/// One firing: when, which target, what became of it.
pub(super) fn firing_line(f: &Firing) -> String {
    let mut line = format!(
        "{}  {:<12}  {:<9}",
        time(f.fire_at),
        f.target,
        f.outcome.as_str()
    );
    if let Some(job) = f.job_id {
        line.push_str(&format!("  job {job}"));
    }
    if let Some(reason) = &f.reason {
        line.push_str(&format!("  {}", one_line(reason)));
    }
    line.trim_end().to_string()
}

fn print_firings(firings: &[Firing]) {
    println!();
    if firings.is_empty() {
        println!("no firings yet");
        return;
    }
    println!("recent firings (newest first):");
    for f in firings {
        println!("  {}", escape(&firing_line(f)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        let s = parse_selector("name=gpu-*,region=Europe (AMS1),state=ready").unwrap();
        assert_eq!(s.name.as_deref(), Some("gpu-*"));
        assert_eq!(s.region.as_deref(), Some("Europe (AMS1)"));
        assert_eq!(s.state.as_deref(), Some("ready"));
        assert_eq!(
            parse_selector("machine_type=P4000")
                .unwrap()
                .machine_type
                .as_deref(),
            Some("P4000")
        );
        for bad in ["name", "colour=red", "name=", "name=a,name=b"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_only_for_a_cron_with_a_seconds_field() {
        assert!(has_seconds("30 0 9 * * *"));
        assert!(has_seconds("0 0 9 * * * 2027"));
        assert!(!has_seconds("0 9 * * MON-FRI"));
        assert!(!has_seconds("@daily"));
        let at: DateTime<Utc> = "2026-01-05T08:00:30Z".parse().unwrap();
        assert_eq!(
            zone_time(at, "Europe/Amsterdam", true),
            "2026-01-05 09:00:30 CET"
        );
        assert_eq!(
            zone_time(at, "Europe/Amsterdam", false),
            "2026-01-05 09:00 CET"
        );
        assert_eq!(zone_time(at, "Nowhere/Else", true), "2026-01-05T08:00:30Z");
    }

    #[test]
    fn spans_use_the_largest_whole_unit() {
        assert_eq!(span(86_400), "1d");
        assert_eq!(span(7 * 86_400), "7d");
        assert_eq!(span(3_600 * 25), "25h");
        assert_eq!(span(900), "15m");
        assert_eq!(span(90), "90s");
        assert_eq!(span(0), "0s");
    }

    #[test]
    fn changes_name_each_field_that_differs_by_its_path() {
        let old = serde_json::json!({
            "id": 1, "name": "nightly", "cron": "0 3 * * *",
            "template": {"kind": "stop"},
            "targets": {"machine_ids": ["ps1", "ps2"]},
            "exclusions": {"dates": [], "calendars": ["nl"]},
            "updated_at": "2026-12-06T07:00:00Z",
        });
        let new = serde_json::json!({
            "id": 1, "name": "nightly", "cron": "0 4 * * *",
            "template": {"kind": "stop", "args": {"month": "previous"}},
            "targets": {"selector": {"name": "gpu-*"}},
            "exclusions": {"dates": [], "calendars": []},
            "updated_at": "2026-12-06T08:00:00Z",
        });
        assert_eq!(
            changes(&old, &new),
            [
                "cron: 0 3 * * * → 0 4 * * *",
                "exclusions.calendars: nl → none",
                "targets.machine_ids: ps1, ps2 → -",
                "targets.selector.name: - → gpu-*",
                "template.args.month: - → previous",
            ]
        );
        assert!(changes(&old, &old).is_empty());
    }

    #[test]
    fn targets_read_shortly() {
        let ids = |n: usize| Targets {
            machine_ids: (1..=n).map(|i| format!("ps{i}")).collect(),
            selector: None,
            group: None,
        };
        assert_eq!(targets_summary(&ids(0), 3), "-");
        assert_eq!(targets_summary(&ids(2), 3), "ps1, ps2");
        assert_eq!(targets_summary(&ids(5), 3), "ps1, ps2, ps3 +2");
        let select = Targets {
            machine_ids: vec![],
            selector: Some(parse_selector("name=gpu-*,state=off").unwrap()),
            group: None,
        };
        assert_eq!(targets_summary(&select, 3), "select name=gpu-*,state=off");
        let group = Targets {
            group: Some("shop".into()),
            ..Targets::default()
        };
        assert_eq!(targets_summary(&group, 3), "group shop");
    }
}
