//! `machinist` CLI runs against a test's app, as child processes.

use super::{TestApp, process};

/// What a CLI run printed, and its exit code.
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TestApp {
    /// `machinist ARGS…` as a child process pointed at this app (its URL and
    /// token in the environment, none of the caller's configuration).
    pub fn cli_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(process::BIN);
        cmd.args(args)
            .env("MACHINIST_URL", &self.url)
            .env_remove("MACHINIST_ADMIN_TOKEN")
            .env_remove("MACHINIST_CONFIG")
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        if let Some(token) = self.token {
            cmd.env("MACHINIST_ADMIN_TOKEN", token);
        }
        cmd
    }

    /// Runs `machinist ARGS…` against this app to its end.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        let out = self.cli_command(args).output().await.unwrap();
        CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
