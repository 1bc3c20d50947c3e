//! Issue 18's usage errors and confirmations, through the real binary
//! against a daemon in this process: a misspelt job kind or state is a usage
//! error (exit 2, "did you mean", nothing sent); `jobs submit destroy`
//! asks first only on a terminal, never through a pipe, and not with
//! `--yes`. (The question and its answers on a terminal are unit tests of
//! `confirm_destroy` in src/cli/jobs.rs.)

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::harness::{AppOptions, spawn_app};

/// `jobs submit strat ps1`: exit 2 with clap's kind of suggestion, and the
/// daemon never asked: no job stored.
#[tokio::test]
async fn cli_usage_misspelt_kind_exits_2_with_a_suggestion() {
    let app = spawn_app(AppOptions::default()).await;
    let before = app.job_count().await;
    let stderr = app
        .cli_fails(&["jobs", "submit", "strat", "ps123abc"], 2)
        .await;
    assert!(
        stderr.contains("`strat` is not a job kind; did you mean `start`?"),
        "{stderr}"
    );
    assert!(stderr.contains("one of create, start"), "{stderr}");
    // `deliver` is the daemon's own: never offered for a submission.
    assert!(!stderr.contains("deliver"), "{stderr}");
    // Nothing close: no suggestion, still exit 2.
    let stderr = app
        .cli_fails(&["jobs", "submit", "teleport", "ps123abc"], 2)
        .await;
    assert!(stderr.contains("`teleport` is not a job kind"), "{stderr}");
    assert!(!stderr.contains("did you mean"), "{stderr}");
    // With --group too: the kind is checked before the group's rules.
    let stderr = app
        .cli_fails(&["jobs", "submit", "stpo", "--group", "shop"], 2)
        .await;
    assert!(stderr.contains("did you mean `stop`?"), "{stderr}");
    assert_eq!(app.job_count().await, before);
}

/// `jobs list --state runing` and `--kind delivr`: exit 2 with the closest
/// value; listing `deliver` jobs is allowed.
#[tokio::test]
async fn cli_usage_misspelt_state_exits_2_with_a_suggestion() {
    let app = spawn_app(AppOptions::default()).await;
    let stderr = app
        .cli_fails(&["jobs", "list", "--state", "runing"], 2)
        .await;
    assert!(
        stderr.contains("`runing` is not a job state; did you mean `running`?"),
        "{stderr}"
    );
    let stderr = app
        .cli_fails(&["jobs", "list", "--kind", "delivr"], 2)
        .await;
    assert!(stderr.contains("did you mean `deliver`?"), "{stderr}");
    let out = app.cli(&["jobs", "list", "--state", "running"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = app.cli(&["jobs", "list", "--kind", "deliver"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Standard input a pipe (not a terminal): `destroy` asks nothing and is
/// submitted, even with a "no" waiting in the pipe.
#[tokio::test]
async fn cli_usage_destroy_through_a_pipe_proceeds_without_asking() {
    let app = spawn_app(AppOptions::default()).await;
    let before = app.job_count().await;
    let mut child = app
        .cli_command(&["jobs", "submit", "destroy", "ps123abc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The pipe may already be closed by an exit: that is the point.
    let _ = stdin.write_all(b"n\n").await;
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("submitted: destroy ps123abc"), "{stdout}");
    assert!(!stderr.contains("Destroy machine"), "{stderr}");
    assert!(!stderr.contains("not destroyed"), "{stderr}");
    assert_eq!(app.job_count().await, before + 1);
}

/// `--yes` and `-y` are accepted and skip the question.
#[tokio::test]
async fn cli_usage_destroy_yes_is_accepted() {
    let app = spawn_app(AppOptions::default()).await;
    let before = app.job_count().await;
    for flag in ["--yes", "-y"] {
        let out = app
            .cli(&["jobs", "submit", "destroy", "ps123abc", flag])
            .await;
        assert_eq!(out.code, 0, "{flag}\n{}\n{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("submitted: destroy ps123abc"),
            "{}",
            out.stdout
        );
        assert!(!out.stderr.contains("Destroy machine"), "{}", out.stderr);
    }
    assert_eq!(app.job_count().await, before + 2);
    let help = app.cli(&["jobs", "submit", "--help"]).await.stdout;
    assert!(help.contains("-y, --yes"), "{help}");
    assert!(help.contains("not a terminal"), "{help}");
}
