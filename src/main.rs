//! The `machinist` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = machinist::cli::Cli::parse();
    machinist::cli::run(cli)
}
