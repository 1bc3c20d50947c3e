//! What issue 18 asks of every command line: a closed stdout, durations as
//! people type them, a port already taken, messages in plain words. The real
//! binary, against a daemon in this process where one is needed.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::harness::{AppOptions, TestApp, spawn_app};

/// Runs the CLI; its stdout, after checking it exited 0.
async fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args).await;
    assert_eq!(
        out.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// `machinist jobs list | head -0`: the reader is gone before the first line
/// is written. The command ends quietly (as `ls` does: SIGPIPE, or exit 0),
/// with no panic and no `error:` line.
#[tokio::test]
async fn a_closed_stdout_ends_a_listing_quietly() {
    let app = spawn_app(AppOptions::default()).await;
    for _ in 0..3 {
        ok(&app, &["jobs", "submit", "show", "ps123abc"]).await;
    }
    for args in [&["jobs", "list"][..], &["history"][..], &["status"][..]] {
        let mut child = app
            .cli_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command has reached the daemon, let alone printed.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error:"), "{args:?}: {stderr}");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                status.success() || status.signal() == Some(libc::SIGPIPE),
                "{args:?}: {status:?}, {stderr}"
            );
        }
        #[cfg(not(unix))]
        assert!(status.success(), "{args:?}: {status:?}, {stderr}");
    }
}

/// `--delay 1h` and `--wait-timeout 2h30m` mean what they say; a bare number
/// is still seconds; a word that is no duration is a usage error (exit 2)
/// naming the forms.
#[tokio::test]
async fn durations_are_typed_as_people_write_them() {
    let app = spawn_app(AppOptions::default()).await;
    let before = chrono::Utc::now();
    ok(
        &app,
        &[
            "jobs",
            "submit",
            "start",
            "ps123abc",
            "--delay",
            "1h",
            "--wait-timeout",
            "2h30m",
        ],
    )
    .await;
    let job = app.job(1).await;
    assert_eq!(job["wait_timeout_seconds"], 9_000, "{job}");
    let run_at: chrono::DateTime<chrono::Utc> = job["run_at"].as_str().unwrap().parse().unwrap();
    let delay = (run_at - before).num_seconds();
    assert!((3_590..=3_610).contains(&delay), "{job}");

    ok(
        &app,
        &["jobs", "submit", "show", "ps123abc", "--delay", "90"],
    )
    .await;
    let run_at: chrono::DateTime<chrono::Utc> = app.job(2).await["run_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((80..=100).contains(&(run_at - before).num_seconds()));

    for args in [
        &["jobs", "submit", "show", "ps123abc", "--delay", "1x"][..],
        &[
            "schedules",
            "add",
            "x",
            "--cron",
            "0 9 * * *",
            "--jitter",
            "1x",
        ][..],
        &["windows", "add", "w", "--enforce", "--enforce-every", "1x"][..],
    ] {
        let out = app.cli(args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("`1x` is not a duration: use 30s, 15m, 1h or a number of seconds"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let help = ok(&app, &["jobs", "submit", "--help"]).await;
    assert!(help.contains("--delay <DURATION>"), "{help}");
}
