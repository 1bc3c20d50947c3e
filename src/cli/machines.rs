//! `machinist machines [ID]`: the last known state of every machine, or one
//! machine with its recent jobs and the schedules aimed at it, through the
//! daemon's admin API. `--json` prints the API's JSON.

use std::process::ExitCode;

use super::connection::{DaemonArgs, print_fields, print_json, print_table, report_errors, time};
use crate::http::{Billing, MachineDetail, MachineView};
use crate::text::escape;

/// Machines as the daemon last saw them.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MachinesArgs {
    // `billing` (not a doc comment: clap would show it).
    #[command(subcommand)]
    command: Option<MachinesCommand>,
    /// One machine's id; without it, every machine.
    id: Option<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum MachinesCommand {
    /// Show whether a machine is billed monthly or hourly, or set it:
    /// a machine billed monthly saves nothing when stopped.
    Billing {
        /// The machine's id.
        id: String,
        /// `monthly` or `hourly`; without it, show.
        #[arg(value_enum)]
        billing: Option<BillingArg>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
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
        if let Some(MachinesCommand::Billing { id, billing, json }) = &args.command {
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
            if *json {
                print_json(&view)?;
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
        match &args.id {
            None => {
                let machines = client.machines().await?;
                if args.json {
                    print_json(&crate::http::MachineList { machines })?;
                } else {
                    print_list(&machines);
                }
            }
            Some(id) => {
                let detail = client.machine(id).await?;
                if args.json {
                    print_json(&detail)?;
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

fn print_list(machines: &[MachineView]) {
    if machines.is_empty() {
        println!("no machines seen yet; `machinist jobs submit refresh` lists the account");
        return;
    }
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|m| {
            vec![
                m.machine.id.clone(),
                m.machine.name.clone(),
                if m.gone_at.is_some() {
                    "gone".into()
                } else {
                    m.machine.state.to_string()
                },
                opt(&m.machine.machine_type),
                opt(&m.machine.region),
                time(m.seen_at),
            ]
        })
        .collect();
    print_table(&["ID", "NAME", "STATE", "TYPE", "REGION", "SEEN"], &rows);
}

fn print_detail(d: &MachineDetail) {
    let m = &d.machine.machine;
    let mut fields = vec![
        ("id", m.id.clone()),
        ("name", m.name.clone()),
        ("state", m.state.to_string()),
        ("type", opt(&m.machine_type)),
        ("region", opt(&m.region)),
        ("public ip", opt(&m.public_ip)),
        ("seen", time(d.machine.seen_at)),
    ];
    if let Some(gone) = d.machine.gone_at {
        fields.push(("gone", time(gone)));
    }
    print_fields(&fields);
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
