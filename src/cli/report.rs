//! `machinist report`: a month's utilization and cost per machine, and what
//! Machinist's stops saved, through the daemon's admin API.
//!
//! Output is tables with totals; `--json` prints the API's JSON for
//! scripts. A server error prints one line `error: <message> (field:
//! <field>)` and exits 1; a usage error (a month not `YYYY-MM`) exits 2.

use std::process::ExitCode;

use super::connection::{DaemonArgs, print_json, print_table, report_errors, time};
use crate::http::{PullAnswer, SavingsView, UtilizationView};
use crate::machine::BillingMonth;

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
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hours machines stayed off after Machinist stopped them, and what that saved.
    Savings {
        /// The billing month, `YYYY-MM`.
        #[arg(long, value_name = "YYYY-MM")]
        month: BillingMonth,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
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
            json,
        } => {
            let jobs = client.pull_utilization(month).await?;
            if json {
                print_json(&PullAnswer { jobs })?;
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
            json,
        } => {
            let report = client.utilization_report(month).await?;
            if json {
                print_json(&report)?;
            } else {
                print_utilization(&report);
            }
        }
        ReportCommand::Savings { month, json } => {
            let report = client.savings_report(month).await?;
            if json {
                print_json(&report)?;
            } else {
                print_savings(&report);
            }
        }
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
                time(m.pulled_at),
            ]
        })
        .collect();
    let hours: f64 = report.machines.iter().map(|m| m.hours_used).sum();
    rows.push(vec![
        "total".into(),
        format!("{hours:.2}"),
        String::new(),
        String::new(),
        money(report.total_cost),
        String::new(),
    ]);
    println!("utilization {} (USD)", report.month);
    print_table(
        &[
            "MACHINE",
            "HOURS",
            "RATE/H",
            "STORAGE/MONTH",
            "COST",
            "PULLED",
        ],
        &rows,
    );
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
    println!("savings {} (USD)", report.month);
    print_table(&["MACHINE", "STOPS", "HOURS OFF", "RATE/H", "SAVED"], &rows);
    let missing = report
        .machines
        .iter()
        .filter(|m| m.hourly_rate.is_none())
        .count();
    if missing > 0 {
        println!(
            "? {missing} machine{} without a known rate (not in the total); \
             `machinist report utilization --month {} --pull` pulls rates",
            if missing == 1 { "" } else { "s" },
            report.month
        );
    }
}
