//! `machinist machines [ID]`: the last known state of every machine, or one
//! machine with its recent jobs and the schedules aimed at it, through the
//! daemon's admin API. `-o json` or `-o yaml` (or `--json`) prints the
//! API's answer; `-o wide` adds the addresses and sizes to the list.

use std::process::ExitCode;

use chrono::Utc;

use super::connection::{DaemonArgs, print_table, report_errors, state_table, time};
use super::output::{OutputArgs, Style, time_ago};
use crate::http::{Billing, MachineDetail, MachineView};
use crate::text::escape;

/// Machines as the daemon last saw them.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MachinesArgs {
    // `list`, `show`, `billing` (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: Option<MachinesCommand>,
    /// One machine's id; without it, every machine.
    id: Option<String>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it).
    #[command(flatten)]
    output: OutputArgs,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum MachinesCommand {
    /// Every machine, as the daemon last saw it (the same as no ID).
    List {
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One machine, with its recent jobs and the schedules aimed at it
    /// (the same as `machinist machines ID`).
    Show {
        /// The machine's id.
        id: String,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show whether a machine is billed monthly or hourly, or set it:
    /// a machine billed monthly saves nothing when stopped.
    Billing {
        /// The machine's id.
        id: String,
        /// `monthly` or `hourly`; without it, show.
        #[arg(value_enum)]
        billing: Option<BillingArg>,
        // -o table|wide|json|yaml and --json (not a doc comment: clap would
        // show it).
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BillingArg {
    Monthly,
    Hourly,
}

impl MachinesArgs {
    /// Sets the config file (the top-level `--config`).
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

/// Runs `machinist machines …`; errors are printed as one line, exit 1.
pub async fn run(args: MachinesArgs) -> anyhow::Result<ExitCode> {
    report_errors(async move {
        let client = args.daemon.client()?;
        if let Some(MachinesCommand::Billing {
            id,
            billing,
            output,
        }) = &args.command
        {
            let view = match billing {
                None => client.billing(id).await?,
                Some(b) => {
                    let b = match b {
                        BillingArg::Monthly => Billing::Monthly,
                        BillingArg::Hourly => Billing::Hourly,
                    };
                    client.set_billing(id, b).await?
                }
            };
            if output.structured() {
                output.print(&view)?;
            } else {
                let why = match view.source.as_str() {
                    "config" => " (cost.monthly_billed in the configuration)",
                    "api" => " (set with `machinist machines billing`)",
                    _ => " (the default)",
                };
                println!(
                    "{} is billed {}{why}",
                    escape(&view.machine_id),
                    view.billing.as_str()
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        // `machines list` and `machines show ID` say what `machines` and
        // `machines ID` do, as `jobs list` and `jobs show` do.
        let (id, output) = match &args.command {
            Some(MachinesCommand::List { output }) => (None, output),
            Some(MachinesCommand::Show { id, output }) => (Some(id), output),
            _ => (args.id.as_ref(), &args.output),
        };
        match id {
            None => {
                let machines = client.machines().await?;
                if output.structured() {
                    output.print(&crate::http::MachineList { machines })?;
                } else {
                    print_list(&machines, output.wide());
                }
            }
            Some(id) => {
                let detail = client.machine(id).await?;
                if output.structured() {
                    output.print(&detail)?;
                } else {
                    print_detail(&detail);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// The machines' table; with `wide`, also their addresses, CPUs, memory
/// and GPU.
fn print_list(machines: &[MachineView], wide: bool) {
    let now = Utc::now();
    if machines.is_empty() {
        println!("no machines seen yet; `machinist jobs submit refresh` lists the account");
        return;
    }
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|m| {
            let mut row = vec![
                m.machine.id.clone(),
                m.machine.name.clone(),
                if m.gone_at.is_some() {
                    "gone".into()
                } else {
                    m.machine.state.to_string()
                },
                opt(&m.machine.machine_type),
                opt(&m.machine.region),
            ];
            if wide {
                let m = &m.machine;
                row.extend([
                    opt(&m.public_ip),
                    opt(&m.private_ip),
                    m.cpus.map_or("-".into(), |c| c.to_string()),
                    m.ram_bytes.map_or("-".into(), gib),
                    opt(&m.gpu),
                ]);
            }
            row.push(time_ago(m.seen_at, now));
            row
        })
        .collect();
    let mut header = vec!["ID", "NAME", "STATE", "TYPE", "REGION"];
    if wide {
        header.extend(["PUBLIC IP", "PRIVATE IP", "CPUS", "RAM", "GPU"]);
    }
    header.push("SEEN");
    print!(
        "{}",
        state_table(&header, &rows, Some((2, Style::detect())))
    );
}

/// `30 GiB`, `0.5 GiB`: memory as Paperspace sizes it.
fn gib(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib.fract() == 0.0 {
        format!("{gib:.0} GiB")
    } else {
        format!("{gib:.1} GiB")
    }
}

fn print_detail(d: &MachineDetail) {
    let m = &d.machine.machine;
    let now = Utc::now();
    let mut fields = vec![
        ("id", m.id.clone()),
        ("name", m.name.clone()),
        ("state", m.state.to_string()),
        ("type", opt(&m.machine_type)),
        ("region", opt(&m.region)),
        ("public ip", opt(&m.public_ip)),
        ("seen", time_ago(d.machine.seen_at, now)),
    ];
    if let Some(gone) = d.machine.gone_at {
        fields.push(("gone", time_ago(gone, now)));
    }
    // As print_fields prints them, with the state in its colour.
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    super::output::print_state_fields(&fields, width);
    println!();
    if d.schedules.is_empty() {
        println!("schedules: none target it");
    } else {
        println!("schedules:");
        let rows: Vec<Vec<String>> = d
            .schedules
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.template.kind.to_string(),
                    format!("{} {}", s.cron, s.timezone),
                    s.next_fire_at.map_or("paused".into(), time),
                ]
            })
            .collect();
        print_table(&["NAME", "KIND", "CRON", "NEXT"], &rows);
    }
    println!();
    if d.recent_jobs.is_empty() {
        println!("recent jobs: none");
    } else {
        println!("recent jobs:");
        let rows: Vec<Vec<String>> = d
            .recent_jobs
            .iter()
            .map(|j| {
                vec![
                    j.id.to_string(),
                    j.kind.to_string(),
                    j.state.to_string(),
                    time(j.created_at),
                ]
            })
            .collect();
        print_table(&["ID", "KIND", "STATE", "CREATED"], &rows);
    }
}
