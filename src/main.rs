//! The `machinist` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use machinist::cli::Command;

fn main() -> ExitCode {
    let cli = machinist::cli::Cli::parse();
    if !matches!(cli.command, Command::Serve | Command::Sim(_)) {
        default_sigpipe();
    }
    machinist::cli::run(cli)
}

/// Lets a closed stdout end a printing command the way it ends `ls | head`:
/// killed by SIGPIPE, silently, instead of `println!` panicking on EPIPE
/// (Rust starts every program with SIGPIPE ignored). The long-running
/// servers keep it ignored: a log reader going away must not kill the
/// daemon. Sockets are unaffected either way, as std sends with
/// MSG_NOSIGNAL.
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn default_sigpipe() {}
