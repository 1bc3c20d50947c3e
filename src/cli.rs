//! The `machinist` command line.
//!
//! Each subcommand parses its flags here and calls into the library; errors
//! reach the user as one line on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Machinist automates Paperspace machines.
#[derive(Debug, Parser)]
#[command(name = "machinist", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated Paperspace account over HTTP (no API key, no cost).
    Sim(crate::sim::SimArgs),
    /// Start a simulated account in-process and walk through every machine
    /// operation with Machinist's own client, printing what happens.
    Demo(crate::walkthrough::DemoArgs),
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Sim(args) => crate::sim::run(args).await,
            Command::Demo(args) => crate::walkthrough::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so that stdout stays for the command's own output
/// (`machinist sim` promises its address as the first stdout line).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
