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
            .env_remove("MACHINIST_CONTEXT")
            .env_remove("MACHINIST_CLIENT_CONFIG")
            // No client config of the person running the tests: a missing
            // file at the default path means no contexts.
            .env("XDG_CONFIG_HOME", "/nonexistent/machinist-tests")
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

    /// Runs `machinist ARGS…` expecting exit `code`; its stderr.
    pub async fn cli_fails(&self, args: &[&str], code: i32) -> String {
        let out = self.cli(args).await;
        assert_eq!(
            out.code, code,
            "{args:?}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stderr
    }
}
