//! `machinist windows`: office hours (a start at each opening, a stop at
//! each closing, optionally enforced) and per-machine overrides, through the
//! daemon's admin API.
//!
//! `update` reads the stored window, applies the given flags and puts the
//! whole back (`PUT /v1/windows/{key}` replaces), as `schedules update`
//! does, printing each change with [`super::schedules::changes`].
//! Enforcement looks at once when a window is added with it, or when an
//! update turns it on or changes what it enforces (the hours, the targets,
//! the exclusions): both first ask for a dry run and, when it would stop
//! running machines, name them, and on a terminal without `--yes` ask
//! ([`warn_of_stops`], one code for `add` and `update`). An update that
//! leaves all that alone (a rename, say) asks nothing: what enforcement
//! would stop now, it stops at its next look whether or not the window is
//! updated; one that turns enforcement off stops nothing.
//!
//! Output is for people; `-o json`/`-o yaml` (or `--json`) prints the
//! API's answer for scripts (see [`super::output`]). A
//! server error prints one line `error: <message> (field: <field>)` and
//! exits 1; a usage error exits 2.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::connection::{
    DaemonArgs, KeyArgs, local_time, one_line, print_fields, print_table, report_errors, time,
    truncate, usage,
};
use super::output::OutputArgs;
use super::schedules::{
    exclusions_summary, fire_line, firing_line, parse_selector, print_fire_times, targets_summary,
};
use crate::cli::admin_client::AdminClient;
use crate::cost::Plan;
use crate::http::{OverrideView, WindowDetail, WindowDryRun};
use crate::machine::BillingMonth;
use crate::schedule::calendar::Exclusions;
use crate::schedule::hours::{Day, WindowSpec};
use crate::schedule::target::{Selector, Targets};
use crate::schedule::window::{OverrideMode, OverrideRequest, Window, WindowRequest};
use crate::scheduler::registry::WouldStop;
use crate::text::escape;

/// Manage office-hours windows through the daemon's admin API.
#[derive(Debug, clap::Args)]
pub struct WindowsArgs {
    // What to do (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: WindowsCommand,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl WindowsArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum WindowsCommand {
    /// Add a window, e.g. `machinist windows add office --days mon-fri
    /// --start 09:00 --end 18:00 --timezone Europe/Amsterdam --machine ps123`.
    Add(Box<AddArgs>),
    /// List windows by name.
    List {
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a window: its hours, next openings and closings, overrides, firings.
    Show {
        /// The window's id or name.
        key: String,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The next openings and closings of a window; with --cost, what it
    /// (or a draft given by the flags of `windows add`) would make its
    /// machines cost in a month.
    Preview(Box<PreviewArgs>),
    /// Pause a window: no starts, stops or enforcement until resumed.
    Pause(KeyArgs),
    /// Resume a paused window.
    Resume(KeyArgs),
    /// Change some fields of a window, e.g. `machinist windows update office
    /// --end 19:00`; the others stay as they are.
    Update(Box<UpdateArgs>),
    /// Delete a window with its start and stop schedules and its overrides.
    Rm { key: String },
    /// Keep one machine on past the window (--keep-on) or off inside it
    /// (--keep-off) for a while.
    Override(OverrideArgs),
    /// List a window's overrides, expired ones too.
    Overrides(KeyArgs),
    /// Remove an override before it expires.
    Unoverride {
        key: String,
        /// The override's id (see `machinist windows overrides`).
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).args(["machines", "select", "group"])))]
struct AddArgs {
    /// A unique name (not a number).
    name: String,
    /// The days the window opens: `mon-fri`, `mon,wed,fri`, `sat-sun`, `all`.
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    days: Days,
    /// Local opening time, 24-hour `HH:MM`.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time)]
    start: NaiveTime,
    /// Local closing time; before --start means the next day (22:00–06:00),
    /// 00:00 means midnight at the day's end.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time)]
    end: NaiveTime,
    /// IANA zone of the times, e.g. Europe/Amsterdam.
    #[arg(long, value_name = "ZONE")]
    timezone: String,
    /// A machine the window starts and stops; repeat for more.
    #[arg(long = "machine", value_name = "ID")]
    machines: Vec<String>,
    /// The machines matching this at each edge:
    /// `name=GLOB,region=R,machine_type=T,state=S` (one or more; a machine must match all).
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector)]
    select: Option<Selector>,
    /// A machine group (`machinist groups add`): the opening starts its
    /// stages in order, the closing (and enforcement) stops them in reverse.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Also stop targets found running while the window is closed.
    #[arg(long)]
    enforce: bool,
    /// How often enforcement looks: 30s, 15m, 1h or a number of seconds
    /// (default 5m).
    #[arg(long = "enforce-every", value_name = "DURATION", requires = "enforce", value_parser = crate::config::duration::seconds_arg)]
    enforce_every: Option<u64>,
    /// A local date on which the window stays closed; repeat for more.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD")]
    exclude_dates: Vec<NaiveDate>,
    /// A holiday calendar of the daemon's configuration; repeat for more.
    #[arg(long = "calendar", value_name = "NAME")]
    calendars: Vec<String>,
    /// Add it paused; `machinist windows resume` starts it.
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
    /// Show the window the daemon would store, its next edges and, with
    /// --enforce, the running machines enforcement would stop now; checked
    /// as the real add (the same errors), and add nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --enforce: add it without asking. On a terminal, a window whose
    /// enforcement would stop running machines at once first names them
    /// and asks; when standard input is not a terminal it names them and
    /// goes ahead.
    #[arg(short = 'y', long, conflicts_with = "dry_run")]
    yes: bool,
}

#[derive(Debug, clap::Args)]
struct UpdateArgs {
    /// The window's id or name.
    key: String,
    /// A new name (not a number).
    #[arg(long, value_name = "NAME")]
    rename: Option<String>,
    /// New days the window opens: `mon-fri`, `mon,wed,fri`, `sat-sun`, `all`.
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    days: Option<Days>,
    /// A new local opening time, 24-hour `HH:MM`.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time)]
    start: Option<NaiveTime>,
    /// A new local closing time; before the opening means the next day,
    /// 00:00 means midnight at the day's end.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time)]
    end: Option<NaiveTime>,
    /// A new IANA zone of the times, e.g. Europe/Amsterdam.
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// Start and stop these machines instead (repeat for more); replaces
    /// the targets.
    #[arg(long = "machine", value_name = "ID")]
    machines: Vec<String>,
    /// Start and stop the machines matching this instead
    /// (`name=GLOB,region=R,machine_type=T,state=S`); replaces the targets.
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector)]
    select: Option<Selector>,
    /// Start and stop this machine group instead; replaces the targets.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Also stop targets found running while the window is closed.
    #[arg(long, conflicts_with = "no_enforce")]
    enforce: bool,
    /// Stop enforcing: only the opening and the closing act.
    #[arg(long)]
    no_enforce: bool,
    /// How often enforcement looks: 30s, 15m, 1h or a number of seconds.
    #[arg(long = "enforce-every", value_name = "DURATION", value_parser = crate::config::duration::seconds_arg)]
    enforce_every: Option<u64>,
    /// The local dates on which the window stays closed (repeat for more);
    /// replaces the excluded dates.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD")]
    exclude_dates: Vec<NaiveDate>,
    /// The holiday calendars of the daemon's configuration (repeat for
    /// more); replaces the excluded calendars.
    #[arg(long = "calendar", value_name = "NAME")]
    calendars: Vec<String>,
    /// Exclude no dates and no calendars.
    #[arg(long, conflicts_with_all = ["exclude_dates", "calendars"])]
    no_exclusions: bool,
    /// Pause it; `machinist windows resume` starts it again.
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
    /// Show what would change, the next edges and, for an enforcing window,
    /// the running machines enforcement would stop now; checked as the real
    /// update (the same errors), and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Update it without asking when the change makes enforcement stop
    /// running machines at once (see `windows add --yes`).
    #[arg(short = 'y', long, conflicts_with = "dry_run")]
    yes: bool,
}

/// The flags of `windows update` that change something, as the usage
/// error lists them.
const UPDATE_FLAGS: &str = "--rename, --days, --start, --end, --timezone, --machine, \
     --select, --group, --enforce, --no-enforce, --enforce-every, --exclude-date, --calendar, \
     --no-exclusions, --paused";

impl UpdateArgs {
    /// Whether any flag asks for a change (`--allow-unknown`, `--dry-run`,
    /// `--yes` and the output flags do not).
    fn changes_something(&self) -> bool {
        self.rename.is_some()
            || self.days.is_some()
            || self.start.is_some()
            || self.end.is_some()
            || self.timezone.is_some()
            || !self.machines.is_empty()
            || self.select.is_some()
            || self.group.is_some()
            || self.enforce
            || self.no_enforce
            || self.enforce_every.is_some()
            || !self.exclude_dates.is_empty()
            || !self.calendars.is_empty()
            || self.no_exclusions
            || self.paused
    }

    /// `request` (the stored window's) with the given flags applied.
    fn apply(self, mut request: WindowRequest) -> WindowRequest {
        if let Some(name) = self.rename {
            request.name = name;
        }
        let hours = &mut request.hours;
        if let Some(days) = self.days {
            hours.days = days.0;
        }
        if let Some(start) = self.start {
            hours.start = start;
        }
        if let Some(end) = self.end {
            hours.end = end;
        }
        if let Some(zone) = self.timezone {
            hours.zone = zone;
        }
        if !self.machines.is_empty() || self.select.is_some() || self.group.is_some() {
            request.targets = Targets {
                machine_ids: self.machines,
                selector: self.select,
                group: self.group,
            };
        }
        if self.enforce {
            request.enforce = true;
        }
        if self.no_enforce {
            request.enforce = false;
        }
        if self.enforce_every.is_some() {
            request.enforce_interval_seconds = self.enforce_every;
        }
        if self.no_exclusions {
            request.exclusions = Exclusions::default();
        }
        if !self.exclude_dates.is_empty() {
            request.exclusions.dates = self.exclude_dates;
        }
        if !self.calendars.is_empty() {
            request.exclusions.calendars = self.calendars;
        }
        if self.paused {
            request.enabled = false;
        }
        request.allow_unknown = self.allow_unknown;
        request
    }
}

#[derive(Debug, clap::Args)]
struct PreviewArgs {
    /// A stored window's id or name; with --cost, leave it out to price a
    /// draft given by --days, --start, --end, --timezone and its machines.
    key: Option<String>,
    /// How many edges, 1..=100 (default 10).
    #[arg(long, value_name = "N", conflicts_with = "cost")]
    count: Option<u32>,
    /// Forecast instead: the hours and cost the window would make its
    /// machines run in a month, against always on and their last 30 days.
    #[arg(long)]
    cost: bool,
    /// Draft: the days the window opens (`mon-fri`, `mon,wed,fri`, `all`).
    #[arg(long, value_name = "DAYS", value_parser = parse_days, requires = "cost", conflicts_with = "key")]
    days: Option<Days>,
    /// Draft: local opening time, `HH:MM`.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time, requires = "days")]
    start: Option<NaiveTime>,
    /// Draft: local closing time, `HH:MM`.
    #[arg(long, value_name = "HH:MM", value_parser = parse_wall_time, requires = "days")]
    end: Option<NaiveTime>,
    /// Draft: IANA zone of the times.
    #[arg(long, value_name = "ZONE", requires = "days")]
    timezone: Option<String>,
    /// Draft: a machine the window starts and stops; repeat for more.
    #[arg(long = "machine", value_name = "ID", requires = "days")]
    machines: Vec<String>,
    /// Draft: the machines matching this at each edge.
    #[arg(long, value_name = "SELECTOR", value_parser = parse_selector, requires = "days")]
    select: Option<Selector>,
    /// Draft: a local date on which the window stays closed; repeat for more.
    #[arg(long = "exclude-date", value_name = "YYYY-MM-DD", requires = "days")]
    exclude_dates: Vec<NaiveDate>,
    /// Draft: a holiday calendar of the daemon's configuration.
    #[arg(long = "calendar", value_name = "NAME", requires = "days")]
    calendars: Vec<String>,
    /// With --cost: the month to forecast, `YYYY-MM`. Default: next month.
    #[arg(long, value_name = "YYYY-MM", requires = "cost")]
    month: Option<BillingMonth>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
}

/// Parsed `--days`.
#[derive(Debug, Clone)]
struct Days(Vec<Day>);

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["keep_on", "keep_off"])))]
#[command(group(clap::ArgGroup::new("length").required(true).args(["hours", "until"])))]
struct OverrideArgs {
    /// The window's id or name.
    key: String,
    /// The machine the override is for.
    machine: String,
    /// Not stopped at the closing nor by enforcement until it expires.
    #[arg(long)]
    keep_on: bool,
    /// Not started at the opening, and stopped by enforcement, until it expires.
    #[arg(long)]
    keep_off: bool,
    /// For this many hours from now (fractions allowed, at most 744).
    #[arg(long, value_name = "H")]
    hours: Option<f64>,
    /// Until this instant (RFC 3339, e.g. 2026-03-02T21:00:00Z).
    #[arg(long, value_name = "TIME")]
    until: Option<DateTime<Utc>>,
    /// Why, for whoever wonders later.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Accept machine ids missing from the daemon's last listing of the
    /// account (machines created since).
    #[arg(long)]
    allow_unknown: bool,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
    /// Show the override the daemon would add, checked as the real one
    /// (the same errors), and add nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `machinist windows …`; errors are printed as one line, exit 1.
pub async fn run(args: WindowsArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: WindowsArgs) -> anyhow::Result<ExitCode> {
    // A usage error before the daemon is looked for, as clap's own are.
    if let WindowsCommand::Update(update) = &args.command
        && !update.changes_something()
    {
        return Ok(usage(&format!(
            "nothing to change: give at least one of {UPDATE_FLAGS}"
        )));
    }
    let client = args.daemon.client()?;
    match args.command {
        WindowsCommand::Add(add) => run_add(&client, *add).await?,
        WindowsCommand::Update(update) => run_update(&client, *update).await?,
        WindowsCommand::List { output } => {
            let windows = client.windows().await?;
            if output.structured() {
                output.print(&serde_json::json!({ "windows": windows }))?;
            } else if windows.is_empty() {
                println!("no windows");
            } else {
                print_list(&windows);
            }
        }
        WindowsCommand::Show { key, output } => {
            let detail = client.window(&key).await?;
            if output.structured() {
                output.print(&detail)?;
            } else {
                print_detail(&detail, &key);
            }
        }
        WindowsCommand::Preview(p) if p.cost => run_forecast(&client, *p).await?,
        WindowsCommand::Preview(p) => {
            let PreviewArgs {
                key, count, output, ..
            } = *p;
            let Some(key) = key else {
                anyhow::bail!(
                    "name the window to preview (`machinist windows preview office`), \
                     or price a draft with --cost and the flags of `windows add`"
                );
            };
            let times = client.preview_window(&key, count).await?;
            if output.structured() {
                output.print(&serde_json::json!({ "fire_times": times }))?;
            } else {
                // The zone's name reads better than the offset in `local`.
                let zone = client.window(&key).await?.window.hours.zone;
                for t in &times {
                    println!("{}", escape(&fire_line(t, Some(&zone), false)));
                }
            }
        }
        WindowsCommand::Pause(KeyArgs { key, output }) => {
            let window = client.pause_window(&key).await?;
            finish(&window, output, "paused")?;
        }
        WindowsCommand::Resume(KeyArgs { key, output }) => {
            let window = client.resume_window(&key).await?;
            finish(&window, output, "resumed")?;
        }
        WindowsCommand::Rm { key } => {
            client.delete_window(&key).await?;
            println!("window {key} deleted");
        }
        WindowsCommand::Override(o) => run_override(&client, o).await?,
        WindowsCommand::Overrides(KeyArgs { key, output }) => {
            let overrides = client.overrides(&key).await?;
            if output.structured() {
                output.print(&serde_json::json!({ "overrides": overrides }))?;
            } else if overrides.is_empty() {
                println!("no overrides");
            } else {
                print_overrides(&overrides);
            }
        }
        WindowsCommand::Unoverride { key, id } => {
            client.delete_override(&key, id).await?;
            println!("override {id} of window {key} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_add(client: &AdminClient, args: AddArgs) -> anyhow::Result<()> {
    let request = WindowRequest {
        name: args.name,
        hours: WindowSpec {
            days: args.days.0,
            start: args.start,
            end: args.end,
            zone: args.timezone,
        },
        targets: Targets {
            machine_ids: args.machines,
            selector: args.select,
            group: args.group,
        },
        enforce: args.enforce,
        enforce_interval_seconds: args.enforce_every,
        exclusions: Exclusions {
            dates: args.exclude_dates,
            calendars: args.calendars,
        },
        enabled: !args.paused,
        allow_unknown: args.allow_unknown,
    };
    if args.dry_run {
        let answer = client.dry_run_window(None, &request).await?;
        if args.output.structured() {
            return args.output.print(&answer);
        }
        print_window_dry_run(&request, &answer);
        return Ok(());
    }
    // Enforcement looks at once when the window is added.
    if request.enforce && request.enabled {
        let answer = client.dry_run_window(None, &request).await?;
        let name = escape(&request.name);
        warn_of_stops(
            &answer,
            args.output,
            args.yes,
            &format!("Add window {name} and stop them?"),
            &format!("window {name} not added"),
        )?;
    }
    let window = client.create_window(&request).await?;
    if args.output.structured() {
        return args.output.print(&window);
    }
    print_saved(client, &window, "added", &[]).await
}

/// `windows update`: the stored window with the given flags applied, put
/// back whole (the API replaces, it does not patch).
async fn run_update(client: &AdminClient, args: UpdateArgs) -> anyhow::Result<()> {
    let key = args.key.clone();
    let (dry_run, output, yes) = (args.dry_run, args.output, args.yes);
    let current = client.window(&key).await?.window;
    let request = args.apply(request_of(current.clone()));
    let old = serde_json::to_value(&current)?;
    if dry_run {
        let answer = client.dry_run_window(Some(&key), &request).await?;
        if output.structured() {
            return output.print(&answer);
        }
        println!("dry run: would change window {}:", escape(&current.name));
        super::schedules::print_changes(&old, &answer.window);
        for t in &answer.next_edges {
            println!(
                "next {}",
                escape(&fire_line(t, Some(&request.hours.zone), false))
            );
        }
        if !request.enabled {
            println!("paused: it would neither open, close nor enforce until resumed");
        } else if request.enforce {
            print_would_stop(&answer.would_stop);
        }
        println!("nothing was changed");
        return Ok(());
    }
    // Enforcement looks at once when it is turned on, or when what it
    // enforces (the hours, the machines, the days off) changes: the same
    // notice and question as `windows add --enforce`.
    let enforcement_changes = !(current.enforce && current.enabled)
        || current.hours != request.hours
        || current.targets != request.targets
        || current.exclusions != request.exclusions;
    if request.enforce && request.enabled && enforcement_changes {
        let answer = client.dry_run_window(Some(&key), &request).await?;
        let name = escape(&current.name);
        warn_of_stops(
            &answer,
            output,
            yes,
            &format!("Update window {name} and stop them?"),
            &format!("window {name} not updated"),
        )?;
    }
    let window = client.update_window(&key, &request).await?;
    if output.structured() {
        return output.print(&window);
    }
    let changed = super::schedules::changes(&old, &serde_json::to_value(&window)?);
    print_saved(client, &window, "updated", &changed).await
}

/// The request that stores `w` again as it is: what `windows update`
/// changes, and what `preview --cost` prices.
fn request_of(w: Window) -> WindowRequest {
    WindowRequest {
        name: w.name,
        hours: w.hours,
        targets: w.targets,
        enforce: w.enforce,
        enforce_interval_seconds: Some(w.enforce_interval_seconds),
        exclusions: w.exclusions,
        enabled: w.enabled,
        allow_unknown: false,
    }
}

/// Before enforcement looks at once (a window added or changed with
/// enforcement on): names the running machines the dry run says it would
/// stop, so that nobody is surprised by machines going down, and on a
/// terminal without `--yes` asks `question`; a no is an error saying
/// `refused`. Nothing to stop, nothing said.
fn warn_of_stops(
    answer: &WindowDryRun,
    output: OutputArgs,
    yes: bool,
    question: &str,
    refused: &str,
) -> anyhow::Result<()> {
    if answer.would_stop.is_empty() {
        return Ok(());
    }
    let notice = format!(
        "enforcement will stop {} now: {}",
        running_machines(answer.would_stop.len()),
        stop_list(&answer.would_stop)
    );
    // On stdout for people; with --json, stdout is the window's JSON.
    if output.structured() {
        eprintln!("{notice}");
    } else {
        println!("{notice}");
    }
    if !yes && std::io::stdin().is_terminal() {
        let confirmed = super::confirm::confirm(
            question,
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )
        .context("cannot read the answer from standard input")?;
        if !confirmed {
            anyhow::bail!("{refused}");
        }
    }
    Ok(())
}

/// `window 1 added: office (mon-fri 09:00–18:00 Europe/Amsterdam)`, the
/// `changed` lines under it, then its next two edges (or that it is paused).
async fn print_saved(
    client: &AdminClient,
    window: &Window,
    verb: &str,
    changed: &[String],
) -> anyhow::Result<()> {
    println!(
        "window {} {verb}: {}",
        window.id,
        escape(&format!("{} ({})", window.name, hours_summary(window)))
    );
    for line in changed {
        println!("  {}", escape(line));
    }
    if window.enabled {
        let edges = client
            .preview_window(&window.id.to_string(), Some(2))
            .await?;
        for t in &edges {
            println!(
                "next {}",
                escape(&fire_line(t, Some(&window.hours.zone), false))
            );
        }
    } else {
        println!(
            "paused; `machinist windows resume {}` starts it",
            escape(&window.name)
        );
    }
    Ok(())
}

/// `windows preview --cost`: a stored window's forecast, or a draft's.
async fn run_forecast(client: &AdminClient, p: PreviewArgs) -> anyhow::Result<()> {
    let request = match (&p.key, p.days) {
        (Some(key), _) => WindowRequest {
            // The forecast is of the window opening, paused or not.
            enabled: true,
            ..request_of(client.window(key).await?.window)
        },
        (None, Some(days)) => {
            let (Some(start), Some(end), Some(zone)) = (p.start, p.end, p.timezone) else {
                anyhow::bail!(
                    "a draft window's cost needs its hours: give --start HH:MM, --end HH:MM and --timezone ZONE with --days"
                );
            };
            if p.machines.is_empty() && p.select.is_none() {
                anyhow::bail!(
                    "a draft window's cost needs its machines: add --machine ID (repeatable) or --select SELECTOR"
                );
            }
            WindowRequest {
                name: "draft".into(),
                hours: WindowSpec {
                    days: days.0,
                    start,
                    end,
                    zone,
                },
                targets: Targets {
                    machine_ids: p.machines,
                    selector: p.select,
                    group: None,
                },
                enforce: false,
                enforce_interval_seconds: None,
                exclusions: Exclusions {
                    dates: p.exclude_dates,
                    calendars: p.calendars,
                },
                enabled: true,
                allow_unknown: false,
            }
        }
        (None, None) => anyhow::bail!(
            "name the window to price (`machinist windows preview office --cost`), or give a \
             draft's --days, --start, --end, --timezone and --machine or --select"
        ),
    };
    let plan = Plan {
        schedule: None,
        window: Some(request),
        month: p.month,
    };
    super::report::show_forecast(client, &plan, p.output).await
}

async fn run_override(client: &AdminClient, args: OverrideArgs) -> anyhow::Result<()> {
    let request = OverrideRequest {
        machine_id: args.machine,
        mode: if args.keep_off {
            OverrideMode::KeepOff
        } else {
            OverrideMode::KeepOn
        },
        until: args.until,
        hours: args.hours,
        reason: args.reason,
        allow_unknown: args.allow_unknown,
    };
    if args.dry_run {
        let answer = client.dry_run_override(&args.key, &request).await?;
        if args.output.structured() {
            return args.output.print(&answer);
        }
        let until = answer.rule["until"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .map(time)
            .unwrap_or_default();
        println!(
            "dry run: would add an override to window {}: {} {} until {until}",
            escape(&args.key),
            escape(&request.machine_id),
            request.mode.as_str(),
        );
        println!("nothing was added");
        return Ok(());
    }
    let view = client.add_override(&args.key, &request).await?;
    if args.output.structured() {
        return args.output.print(&view);
    }
    let o = &view.rule;
    println!(
        "override {} of window {}: {} {} until {}",
        o.id,
        escape(&args.key),
        escape(&o.machine_id),
        o.mode.as_str(),
        time(o.until)
    );
    Ok(())
}

/// `windows add --dry-run`: the window, its next edges, and what its
/// enforcement would stop now.
fn print_window_dry_run(request: &WindowRequest, answer: &WindowDryRun) {
    let hours = &request.hours;
    let enforce = if request.enforce {
        let every = answer.window["enforce_interval_seconds"]
            .as_u64()
            .unwrap_or_default();
        format!(", enforced every {every}s")
    } else {
        String::new()
    };
    println!(
        "dry run: would create window {}",
        escape(&format!(
            "{} ({} {}–{} {}) for {}{enforce}",
            request.name,
            days_summary(&hours.days),
            wall(hours.start),
            wall(hours.end),
            hours.zone,
            targets_summary(&request.targets, 5),
        ))
    );
    for t in &answer.next_edges {
        println!("next {}", escape(&fire_line(t, Some(&hours.zone), false)));
    }
    if !request.enabled {
        println!("paused: it would neither open, close nor enforce until resumed");
    } else if request.enforce {
        print_would_stop(&answer.would_stop);
    }
    println!("nothing was created");
}

/// A dry run's `would stop now: …`, or `would stop nothing now`.
fn print_would_stop(stops: &[WouldStop]) {
    if stops.is_empty() {
        println!("would stop nothing now");
    } else {
        println!("would stop now: {}", stop_list(stops));
    }
}

/// `2 running machines`.
fn running_machines(n: usize) -> String {
    if n == 1 {
        "1 running machine".to_string()
    } else {
        format!("{n} running machines")
    }
}

/// `psA (train), psB`: each machine with its name when it has one.
fn stop_list(stops: &[WouldStop]) -> String {
    let each: Vec<String> = stops
        .iter()
        .map(|s| {
            if s.name.is_empty() {
                escape(&s.machine_id)
            } else {
                escape(&format!("{} ({})", s.machine_id, s.name))
            }
        })
        .collect();
    each.join(", ")
}

/// Parses `mon-fri`, `mon,wed,fri`, `fri-mon` (wrapping), `weekdays`, `all`.
fn parse_days(text: &str) -> Result<Days, String> {
    let mut days = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "all" | "daily" | "every" => days.extend(Day::ALL),
            "weekdays" => days.extend(Day::WORKWEEK),
            "weekend" => days.extend([Day::Sat, Day::Sun]),
            lower => match lower.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from)?, day(to)?);
                    let start = from.weekday().num_days_from_monday() as usize;
                    let end = to.weekday().num_days_from_monday() as usize;
                    let len = (end + 7 - start) % 7 + 1;
                    days.extend((0..len).map(|i| Day::ALL[(start + i) % 7]));
                }
                None => days.push(day(lower)?),
            },
        }
    }
    days.sort();
    days.dedup();
    Ok(Days(days))
}

fn day(text: &str) -> Result<Day, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        format!("`{text}` is not a day; use mon, tue, wed, thu, fri, sat or sun (or mon-fri)")
    })
}

/// `HH:MM` or `HH:MM:SS`, 24-hour.
fn parse_wall_time(text: &str) -> Result<NaiveTime, String> {
    if text.starts_with("24:") {
        return Err("24:00 is not a time of day; use 00:00 for midnight at the day's end".into());
    }
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| format!("`{text}` is not a time of day; write 24-hour HH:MM, e.g. 09:00"))
}

/// `mon-fri`, `mon,wed,fri`, `daily`.
fn days_summary(days: &[Day]) -> String {
    let mut on = [false; 7];
    for d in days {
        on[d.weekday().num_days_from_monday() as usize] = true;
    }
    if on.iter().all(|d| *d) {
        return "daily".into();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !on[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < 7 && on[j + 1] {
            j += 1;
        }
        parts.push(match j - i {
            0 => Day::ALL[i].to_string(),
            1 => format!("{},{}", Day::ALL[i], Day::ALL[j]),
            _ => format!("{}-{}", Day::ALL[i], Day::ALL[j]),
        });
        i = j + 1;
    }
    parts.join(",")
}

fn wall(t: NaiveTime) -> String {
    if t.format("%S").to_string() == "00" {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// `mon-fri 09:00–18:00 Europe/Amsterdam`.
fn hours_summary(w: &Window) -> String {
    format!(
        "{} {}–{} {}",
        days_summary(&w.hours.days),
        wall(w.hours.start),
        wall(w.hours.end),
        w.hours.zone
    )
}

fn finish(window: &Window, output: OutputArgs, what: &str) -> anyhow::Result<()> {
    if output.structured() {
        return output.print(window);
    }
    println!("window {} ({}) {what}", window.id, escape(&window.name));
    Ok(())
}

fn print_list(windows: &[Window]) {
    let rows: Vec<Vec<String>> = windows
        .iter()
        .map(|w| {
            vec![
                w.id.to_string(),
                w.name.clone(),
                days_summary(&w.hours.days),
                format!("{}–{}", wall(w.hours.start), wall(w.hours.end)),
                w.hours.zone.clone(),
                truncate(&targets_summary(&w.targets, 3), 40),
                if w.enforce {
                    format!("every {}s", w.enforce_interval_seconds)
                } else {
                    "no".into()
                },
                if w.enabled { "enabled" } else { "paused" }.into(),
            ]
        })
        .collect();
    print_table(
        &[
            "ID", "NAME", "DAYS", "HOURS", "ZONE", "TARGETS", "ENFORCE", "STATUS",
        ],
        &rows,
    );
}

fn print_detail(detail: &WindowDetail, key: &str) {
    let w = &detail.window;
    let fields: Vec<(&str, String)> = vec![
        ("window", format!("{}: {}", w.id, w.name)),
        ("hours", hours_summary(w)),
        ("targets", targets_summary(&w.targets, 20)),
        (
            "enforce",
            if w.enforce {
                format!("every {}s", w.enforce_interval_seconds)
            } else {
                "no".into()
            },
        ),
        ("exclusions", exclusions_summary(&w.exclusions)),
        (
            "status",
            if w.enabled { "enabled" } else { "paused" }.into(),
        ),
        ("created", time(w.created_at)),
        ("updated", time(w.updated_at)),
    ];
    print_fields(&fields);
    print_fire_times("next edges", &detail.next_edges, &w.hours.zone, false);
    if !w.enabled {
        println!();
        println!("paused; `machinist windows preview {key}` shows its hours");
    }
    if !detail.overrides.is_empty() {
        println!();
        println!("overrides in force:");
        for o in &detail.overrides {
            println!("  {}", escape(&override_line(o, &w.hours.zone)));
        }
    }
    println!();
    if detail.recent_firings.is_empty() {
        println!("no firings yet");
    } else {
        println!("recent firings (newest first):");
        for f in &detail.recent_firings {
            let edge = f.edge.map(|e| e.as_str()).unwrap_or("-");
            println!("  {edge:<5}  {}", escape(&firing_line(&f.firing)));
        }
    }
}

fn override_line(o: &OverrideView, zone: &str) -> String {
    let r = &o.rule;
    let mut line = format!(
        "{}  {}  {}  until {}",
        r.id,
        r.machine_id,
        r.mode.as_str(),
        local_time(r.until, zone)
    );
    if let Some(reason) = &r.reason {
        line.push_str(&format!("  ({})", one_line(reason)));
    }
    line
}

fn print_overrides(overrides: &[OverrideView]) {
    let rows: Vec<Vec<String>> = overrides
        .iter()
        .map(|o| {
            let r = &o.rule;
            vec![
                r.id.to_string(),
                r.machine_id.clone(),
                r.mode.as_str().to_string(),
                time(r.until),
                if o.active { "yes" } else { "expired" }.to_string(),
                r.reason
                    .as_deref()
                    .map(|t| truncate(&one_line(t), 50))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &["ID", "MACHINE", "MODE", "UNTIL", "ACTIVE", "REASON"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(s: &str) -> Vec<Day> {
        parse_days(s).unwrap().0
    }

    #[test]
    fn days_parse_and_print() {
        assert_eq!(days("mon-fri"), Day::WORKWEEK);
        assert_eq!(days("Mon,Wed,friday"), [Day::Mon, Day::Wed, Day::Fri]);
        assert_eq!(days("fri-mon"), [Day::Mon, Day::Fri, Day::Sat, Day::Sun]);
        assert_eq!(days("all"), Day::ALL);
        assert_eq!(days("sat"), [Day::Sat]);
        assert!(parse_days("mon-xyz").is_err());
        assert!(parse_days("").is_err());
        assert_eq!(days_summary(&days("mon-fri")), "mon-fri");
        assert_eq!(days_summary(&days("all")), "daily");
        assert_eq!(days_summary(&days("mon,tue,thu")), "mon,tue,thu");
        assert_eq!(days_summary(&days("fri-mon")), "mon,fri-sun");
    }

    #[test]
    fn wall_times_parse() {
        assert_eq!(wall(parse_wall_time("09:00").unwrap()), "09:00");
        assert_eq!(wall(parse_wall_time("17:30:15").unwrap()), "17:30:15");
        assert!(parse_wall_time("24:00").is_err());
        assert!(parse_wall_time("9am").is_err());
    }
}
