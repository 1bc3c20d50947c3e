//! `machinist history`: every job's events, newest first, a page at a time
//! (`--cursor` continues where the last page ended), through the daemon's
//! admin API. `-o json` or `-o yaml` (or `--json`) prints the API's answer.
//! `--follow` keeps printing new events as they happen ([`super::follow`]).

use std::process::ExitCode;

use super::connection::{DaemonArgs, report_errors};
use super::output::OutputArgs;
use crate::text::escape;

/// The history of every job, or of one machine's jobs.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only events of jobs on this machine.
    #[arg(long, value_name = "ID")]
    machine: Option<String>,
    /// Events per page, 1 to 500.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// The `next` cursor printed by the previous page.
    #[arg(long)]
    cursor: Option<String>,
    // -o table|wide|json|yaml and --json (not a doc comment: clap would
    // show it). With --follow, json prints one event per line.
    #[command(flatten)]
    output: OutputArgs,
    /// Keep printing: the last --limit events oldest first, then each new
    /// one as it happens, until Ctrl-C.
    #[arg(short = 'f', long, conflicts_with = "cursor")]
    follow: bool,
    // Where the daemon is and its token (not a doc comment: clap would show it).
    #[command(flatten)]
    daemon: DaemonArgs,
}

impl HistoryArgs {
    /// Sets the config file (the top-level `--config`).
    pub fn with_config(mut self, config: Option<std::path::PathBuf>) -> Self {
        self.daemon.config = config;
        self
    }
}

/// Runs `machinist history`; errors are printed as one line, exit 1.
pub async fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    report_errors(async move {
        let client = args.daemon.client()?;
        if args.follow {
            let Some(json) = args.output.stream() else {
                return Ok(super::connection::usage(super::output::NOT_A_STREAM));
            };
            return super::follow::history(&client, args.machine.as_deref(), args.limit, json)
                .await;
        }
        let page = client
            .history(
                args.machine.as_deref(),
                args.cursor.as_deref(),
                Some(args.limit),
            )
            .await?;
        if args.output.structured() {
            args.output.print(&page)?;
            return Ok(ExitCode::SUCCESS);
        }
        if page.events.is_empty() {
            println!("no events");
        }
        for event in &page.events {
            println!(
                "job {:<6} {}",
                event.job_id,
                escape(&super::jobs::event_line(event))
            );
        }
        if let Some(next) = &page.next_cursor {
            println!("more: machinist history --cursor {next}");
        }
        Ok(ExitCode::SUCCESS)
    })
    .await
}
