//! `machinist completions SHELL` and `machinist man`: shell completion
//! scripts (clap_complete) and the roff manual page (clap_mangen), both made
//! from the same clap definition as the parser, so they cannot name a flag
//! the binary does not take. packaging/gen-assets.sh writes them to files for
//! the .deb.

use std::io::Write;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// `machinist completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    // Into memory first: `generate` panics on a write error, and stdout may
    // be a closed pipe (`| head`).
    clap_complete::generate(shell, &mut command, "machinist", &mut out);
    out
}

/// The top-level manual page, roff.
pub fn man_page() -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the manual page")?;
    Ok(out)
}

/// Writes `bytes` to stdout. A reader that stopped early (`| head`) is no
/// failure, as for `cat`.
pub fn print(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
