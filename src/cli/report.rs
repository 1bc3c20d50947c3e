//! `machinist report`: a month's utilization and cost per machine, and what
//! Machinist's stops saved, through the daemon's admin API; and the table of
//! a forecast (`schedules preview --cost`, `windows preview --cost`).
//!
//! Output is tables with totals; `-o json` or `-o yaml` (or `--json`, but
//! not for `report cost`) prints the API's answer for scripts (see
//! [`super::output`]), `-o csv` the server's CSV as sent. A server error
//! prints one line `error: <message> (field: <field>)` and exits 1; a
//! usage error (a month not `YYYY-MM`) exits 2.

use std::process::ExitCode;

use super::admin_client::AdminClient;
use super::connection::{DaemonArgs, print_table, report_errors, time};
use super::output::{Format, OutputArgs, print_structured};
use crate::cost::{Forecast, Plan};
use crate::http::{CostReportView, PullAnswer, SavingsView, UtilizationView};
use crate::machine::BillingMonth;
use crate::text::escape;

/// Utilization and savings reports.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    // Which report (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: ReportCommand,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl ReportArgs {
    /// Sets the config file (the top-level `--config`) to read the daemon's
    /// address and the token file from.
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

#[derive(Debug, clap::Subcommand)]
enum ReportCommand {
    /// Hours used and cost per machine in a month, as last pulled from Paperspace.
    Utilization {
        /// The billing month, `YYYY-MM`.
        #[arg(long, value_name = "YYYY-MM")]
        month: BillingMonth,
        /// Pull the month's utilization from Paperspace first: one job per
        /// known machine; run the report again once they finish.
        #[arg(long)]
        pull: bool,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Hours machines stayed off after Machinist stopped them, and what that saved.
    Savings {
        /// The billing month, `YYYY-MM`.
        #[arg(long, value_name = "YYYY-MM")]
        month: BillingMonth,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// What each machine ran and cost in a month (metered), and what
    /// Machinist's stops saved, with how each figure was derived.
    Cost {
        /// The billing month, `YYYY-MM` (UTC). Default: the current one.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<BillingMonth>,
        /// `table` (default; `wide` is the same), `json` (the API's JSON),
        /// `yaml` (the same as YAML) or `csv` (for a spreadsheet, as the
        /// daemon writes it).
        #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
        output: Output,
    },
}

/// `report cost -o`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Output {
    Table,
    Wide,
    Json,
    Yaml,
    Csv,
}

/// Runs `machinist report …`; errors are printed as one line, exit 1.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    report_errors(run_inner(args)).await
}

async fn run_inner(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let client = args.daemon.client()?;
    match args.command {
        ReportCommand::Utilization {
            month,
            pull: true,
            output,
        } => {
            let jobs = client.pull_utilization(month).await?;
            if output.structured() {
                output.print(&PullAnswer { jobs })?;
            } else {
                let ids: Vec<String> = jobs.iter().map(|id| id.to_string()).collect();
                println!(
                    "queued {} utilization job{} for {month}: {}",
                    jobs.len(),
                    if jobs.len() == 1 { "" } else { "s" },
                    ids.join(", ")
                );
                println!(
                    "when they finish (`machinist jobs list --kind utilization`), \
                     run `machinist report utilization --month {month}`"
                );
            }
        }
        ReportCommand::Utilization {
            month,
            pull: false,
            output,
        } => {
            let report = client.utilization_report(month).await?;
            if output.structured() {
                output.print(&report)?;
            } else {
                print_utilization(&report);
            }
        }
        ReportCommand::Savings { month, output } => {
            let report = client.savings_report(month).await?;
            if output.structured() {
                output.print(&report)?;
            } else {
                print_savings(&report);
            }
        }
        ReportCommand::Cost { month, output } => match output {
            Output::Table | Output::Wide => print_cost(&client.cost_report(month).await?),
            Output::Json => print_structured(&client.cost_report(month).await?, Format::Json)?,
            Output::Yaml => print_structured(&client.cost_report(month).await?, Format::Yaml)?,
            // The server defused formulas; the terminal gets it as sent.
            Output::Csv => print!("{}", client.cost_report_csv(month).await?),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn money(x: f64) -> String {
    format!("{x:.2}")
}

fn print_utilization(report: &UtilizationView) {
    if report.machines.is_empty() {
        println!(
            "no utilization pulled for {}; `machinist report utilization --month {} --pull` pulls it",
            report.month, report.month
        );
        return;
    }
    let mut rows: Vec<Vec<String>> = report
        .machines
        .iter()
        .map(|m| {
            vec![
                m.machine_id.clone(),
                format!("{:.2}", m.hours_used),
                money(m.hourly_rate),
                money(m.storage_monthly_rate),
                money(m.cost),
                m.source.clone(),
                time(m.pulled_at),
            ]
        })
        .collect();
    rows.push(vec![
        "total".into(),
        String::new(),
        String::new(),
        String::new(),
        money(report.total_cost),
        String::new(),
        String::new(),
    ]);
    println!(
        "utilization {} (USD; {} backend)",
        report.month,
        escape(&report.backend)
    );
    print_table(
        &[
            "MACHINE",
            "HOURS",
            "RATE/H",
            "STORAGE/MONTH",
            "COST",
            "SOURCE",
            "AT",
        ],
        &rows,
    );
    println!("a machine with both sources counts once in the total, by Paperspace's figures");
}

fn print_savings(report: &SavingsView) {
    if report.machines.is_empty() {
        println!("no stops by Machinist in {}", report.month);
        return;
    }
    let unknown = |x: Option<f64>| x.map(money).unwrap_or_else(|| "?".into());
    let mut rows: Vec<Vec<String>> = report
        .machines
        .iter()
        .map(|m| {
            vec![
                m.machine_id.clone(),
                m.stops.to_string(),
                format!("{:.2}", m.hours_off),
                unknown(m.hourly_rate),
                unknown(m.saved),
            ]
        })
        .collect();
    let stops: u32 = report.machines.iter().map(|m| m.stops).sum();
    rows.push(vec![
        "total".into(),
        stops.to_string(),
        format!("{:.2}", report.total_hours_off),
        String::new(),
        money(report.total_saved),
    ]);
    println!(
        "savings {} (USD; {} backend)",
        report.month,
        escape(&report.backend)
    );
    print_table(&["MACHINE", "STOPS", "HOURS OFF", "RATE/H", "SAVED"], &rows);
    println!("how: {}", escape(&report.method));
    let missing = report
        .machines
        .iter()
        .filter(|m| m.hourly_rate.is_none())
        .count();
    if missing > 0 {
        println!(
            "? {missing} machine{} without a known rate (not in the total); \
             `machinist report utilization --month {} --pull` pulls rates, and on v1 \
             `machinist jobs submit refresh` records them",
            if missing == 1 { "" } else { "s" },
            report.month
        );
    }
}

/// `report cost`'s table: a row per machine, the totals, then the derivation.
fn print_cost(r: &CostReportView) {
    let state = if r.complete {
        "complete".to_string()
    } else {
        format!("until {}", time(r.until))
    };
    println!(
        "cost {} (USD; {} backend; {state})",
        r.month,
        escape(&r.backend)
    );
    if r.machines.is_empty() {
        println!(
            "no machine existed or ran in {} as far as the daemon knows",
            r.month
        );
    } else {
        let unknown = |x: Option<f64>| x.map(money).unwrap_or_else(|| "?".into());
        let mut rows: Vec<Vec<String>> = r
            .machines
            .iter()
            .map(|m| {
                vec![
                    if m.name.is_empty() {
                        m.machine_id.clone()
                    } else {
                        m.name.clone()
                    },
                    m.machine_type.clone().unwrap_or_else(|| "-".into()),
                    if m.hours_bound > 0.0 {
                        format!("{:.2} ±{:.2}", m.hours, m.hours_bound)
                    } else {
                        format!("{:.2}", m.hours)
                    },
                    m.method.as_str().to_string(),
                    m.hourly_rate
                        .map(|x| format!("{x}"))
                        .unwrap_or_else(|| "?".into()),
                    unknown(m.compute),
                    unknown(m.storage),
                    unknown(m.total),
                    if m.monthly_billed {
                        "monthly".into()
                    } else {
                        unknown(m.saved)
                    },
                    if m.monthly_billed {
                        "monthly".into()
                    } else {
                        unknown(m.saved_vs_always_on)
                    },
                ]
            })
            .collect();
        let t = &r.totals;
        let vs_always_on: f64 = r
            .machines
            .iter()
            .filter(|m| !m.monthly_billed)
            .filter_map(|m| m.saved_vs_always_on)
            .sum();
        rows.push(vec![
            "total".into(),
            String::new(),
            format!("{:.2}", t.hours),
            String::new(),
            String::new(),
            money(t.compute),
            money(t.storage),
            money(t.total),
            money(t.saved),
            money(vs_always_on),
        ]);
        print_table(
            &[
                "MACHINE",
                "TYPE",
                "HOURS",
                "METHOD",
                "RATE/H",
                "COMPUTE",
                "STORAGE",
                "TOTAL",
                "SAVED",
                "VS ALWAYS ON",
            ],
            &rows,
        );
        println!(
            "SAVED: hours off after Machinist's stops, at the rate then; VS ALWAYS ON: running \
             whenever the machine existed, less what it ran (Paperspace's hours where pulled)"
        );
        if t.unpriced > 0 {
            println!(
                "? {} machine{} without a known price (not in the money totals)",
                t.unpriced,
                if t.unpriced == 1 { "" } else { "s" }
            );
        }
    }
    let pulled: Vec<Vec<String>> = r
        .machines
        .iter()
        .filter_map(|m| {
            let p = m.pulled.as_ref()?;
            Some(vec![
                if m.name.is_empty() {
                    m.machine_id.clone()
                } else {
                    m.name.clone()
                },
                format!("{:.2}", m.hours),
                format!("{:.2}", p.hours),
                format!("{:+.2}", p.hours_difference),
                money(p.total),
                time(p.pulled_at),
            ])
        })
        .collect();
    if !pulled.is_empty() {
        println!();
        println!("Paperspace's getUtilization beside the meter:");
        print_table(
            &[
                "MACHINE",
                "METERED H",
                "PULLED H",
                "DIFFERENCE",
                "PULLED TOTAL",
                "PULLED AT",
            ],
            &pulled,
        );
    }
    for gap in &r.gaps {
        println!(
            "gap: the meter did not run from {} to {}; {} events back-filled{}",
            time(gap.from),
            time(gap.to),
            gap.backfilled,
            if gap.complete {
                ""
            } else {
                " (Paperspace no longer lists all of them: hours across it are inferred)"
            }
        );
    }
    println!();
    println!("how these figures were derived:");
    for line in &r.derivation {
        println!("  - {}", escape(line));
    }
}

/// Asks the daemon to forecast `plan` and prints its JSON or its table:
/// `schedules preview --cost` and `windows preview --cost`.
pub(super) async fn show_forecast(
    client: &AdminClient,
    plan: &Plan,
    output: OutputArgs,
) -> anyhow::Result<()> {
    let forecast = client.forecast(plan).await?;
    if output.structured() {
        output.print(&forecast)
    } else {
        print_forecast(&forecast);
        Ok(())
    }
}

/// A forecast's table: a row per machine, then the totals and assumptions.
fn print_forecast(f: &Forecast) {
    println!(
        "forecast {} (USD): {} start{}, {} stop{} in the month",
        f.month,
        f.starts,
        if f.starts == 1 { "" } else { "s" },
        f.stops,
        if f.stops == 1 { "" } else { "s" }
    );
    let unknown = |x: Option<f64>| x.map(money).unwrap_or_else(|| "?".into());
    let hours = |s: i64| format!("{:.2}", s as f64 / 3600.0);
    let mut rows: Vec<Vec<String>> = f
        .machines
        .iter()
        .map(|l| {
            let m = &l.forecast;
            vec![
                if l.name.is_empty() {
                    m.machine_id.clone()
                } else {
                    l.name.clone()
                },
                hours(m.planned_seconds),
                unknown(m.planned_cost),
                unknown(m.always_on_cost),
                if m.pattern_known {
                    format!(
                        "{} ({}h)",
                        unknown(m.pattern_cost),
                        hours(m.pattern_seconds)
                    )
                } else {
                    format!("{} (no history)", unknown(m.pattern_cost))
                },
                m.hourly_rate
                    .map(|x| format!("{x}"))
                    .unwrap_or_else(|| "?".into()),
            ]
        })
        .collect();
    let t = &f.totals;
    rows.push(vec![
        "total".into(),
        format!("{:.2}", t.planned_hours),
        money(t.planned_cost),
        money(t.always_on_cost),
        money(t.pattern_cost),
        String::new(),
    ]);
    print_table(
        &[
            "MACHINE",
            "HOURS",
            "COST",
            "ALWAYS ON",
            "LAST 30 DAYS",
            "RATE/H",
        ],
        &rows,
    );
    println!(
        "saves {} against always on, {} against the last 30 days",
        money(t.saved_vs_always_on),
        money(t.saved_vs_pattern)
    );
    if t.unpriced > 0 {
        println!(
            "? {} machine{} without a known price (not in the totals)",
            t.unpriced,
            if t.unpriced == 1 { "" } else { "s" }
        );
    }
    println!("assuming:");
    for a in &f.assumptions {
        println!("  - {}", escape(a));
    }
}
