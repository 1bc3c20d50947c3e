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

/// `machinist serve` on a port another process holds: one line that says so
/// (the OS's words once), how to listen elsewhere, exit 1, and no database
/// left behind, since the port is bound before the store is opened.
#[test]
fn serve_on_a_taken_port_says_so_once_and_creates_no_database() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("machinist.toml");
    std::fs::write(&config, "").unwrap();
    let db = dir.path().join("machinist.db");
    let out = std::process::Command::new(crate::harness::process::BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("MACHINIST_STORE_PATH", &db)
        .env("MACHINIST_HTTP_LISTEN", &addr)
        .env_remove("MACHINIST_ADMIN_TOKEN")
        .env_remove("PAPERSPACE_API_KEY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let error = errors[0];
    assert!(
        error.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert_eq!(error.matches("in use").count(), 1, "{stderr}");
    assert!(error.contains("MACHINIST_HTTP_LISTEN"), "{stderr}");
    assert!(!db.exists(), "a database was created: {stderr}");
    drop(taken);
}

/// Conflicts read as English ("has already succeeded"), and a month that has
/// the right form but does not exist is called invalid, not malformed.
#[tokio::test]
async fn messages_say_what_happened_in_plain_words() {
    let app = spawn_app(AppOptions::default()).await;
    let done = app
        .run(serde_json::json!({"kind": "availability", "args": {"region": "Europe (AMS1)", "machine_type": "C5"}}))
        .await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    let id = done["id"].to_string();

    let cancel = app.cli(&["jobs", "cancel", &id]).await;
    assert_eq!(cancel.code, 1, "{}", cancel.stderr);
    assert!(
        cancel.stderr.contains(&format!(
            "job {id} has already succeeded; only blocked, queued"
        )),
        "{}",
        cancel.stderr
    );
    let retry = app.cli(&["jobs", "retry", &id]).await;
    assert_eq!(retry.code, 1, "{}", retry.stderr);
    assert!(
        retry.stderr.contains(&format!(
            "job {id} has succeeded; only failed jobs can be retried"
        )),
        "{}",
        retry.stderr
    );

    let month = app
        .cli(&[
            "jobs",
            "submit",
            "utilization",
            "ps1",
            "--arg",
            "month=2026-13",
        ])
        .await;
    assert_ne!(month.code, 0, "{}", month.stdout);
    assert!(
        month
            .stderr
            .contains("billing month `2026-13` is invalid: month 13 does not exist"),
        "{}",
        month.stderr
    );
    assert!(!month.stderr.contains("YYYY-MM"), "{}", month.stderr);
}

/// `machines list` and `machines show ID` are `machines` and `machines ID`,
/// as `jobs list` and `jobs show ID` are: "list" is not taken for a machine
/// id.
#[tokio::test]
async fn machines_list_and_show_are_the_bare_forms() {
    let app = spawn_app(AppOptions::default()).await;
    ok(&app, &["jobs", "submit", "refresh", "--wait"]).await;
    let bare = ok(&app, &["machines", "-o", "json"]).await;
    let list = ok(&app, &["machines", "list", "-o", "json"]).await;
    assert_eq!(bare, list);
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = listed["machines"][0]["id"].as_str().unwrap().to_string();
    let shown = ok(&app, &["machines", "show", &id, "-o", "json"]).await;
    let detail: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(detail["id"], id.as_str(), "{shown}");
    assert!(ok(&app, &["machines", "list"]).await.starts_with("ID "));
}
