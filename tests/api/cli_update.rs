//! `machinist schedules update` and `machinist windows update`: the stored
//! definition read, the given flags applied, the whole put back; the rest
//! stays as it was. `--dry-run` shows the change and writes nothing; a
//! window whose enforcement is turned on names the running machines it is
//! about to stop. The real binary against a daemon in this process.

use std::time::Duration;

use chrono::{Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{AppOptions, TestApp, spawn_app};

/// Fails unless a command exited 0, with what it printed.
fn ok(code: i32, stdout: &str, stderr: &str, what: &str) {
    assert_eq!(code, 0, "{what}\nstdout: {stdout}\nstderr: {stderr}");
}

/// `WHAT show KEY --json`: the fields of the schedule or window.
async fn show(app: &TestApp, what: &str, key: &str) -> Value {
    let out = app.cli(&[what, "show", key, "--json"]).await;
    ok(out.code, &out.stdout, &out.stderr, "show");
    serde_json::from_str(&out.stdout).unwrap()
}

/// A daemon with schedule `nightly` (a stop of one machine on 1 January at
/// 03:00 UTC, far from any test run); that machine's id.
async fn with_schedule() -> (TestApp, String) {
    let app = spawn_app(AppOptions::default()).await;
    let machine = app.machines_in("off").await[0].clone();
    let (status, body) = app
        .post(
            "/v1/schedules",
            json!({"name": "nightly", "cron": "0 3 1 1 *", "timezone": "UTC",
                   "template": {"kind": "stop"}, "targets": {"machine_ids": [machine]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (app, machine)
}

#[tokio::test]
async fn schedules_update_changes_only_the_given_fields() {
    let (app, machine) = with_schedule().await;
    let before = show(&app, "schedules", "nightly").await;

    let out = app
        .cli(&["schedules", "update", "nightly", "--cron", "30 4 2 2 *"])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "schedules update --cron",
    );
    assert!(
        out.stdout
            .starts_with("schedule 1 updated: nightly (30 4 2 2 * in UTC)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  cron: 0 3 1 1 * → 30 4 2 2 *\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("next: "), "{}", out.stdout);

    // `show` has the new expression and its next firing; the rest is as it was.
    let shown = app.cli(&["schedules", "show", "nightly"]).await;
    ok(shown.code, &shown.stdout, &shown.stderr, "schedules show");
    assert!(
        shown.stdout.contains("30 4 2 2 * in UTC"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("-02-02 04:30 UTC"),
        "{}",
        shown.stdout
    );
    let after = show(&app, "schedules", "nightly").await;
    assert_eq!(after["targets"], json!({"machine_ids": [machine]}));
    for field in [
        "name",
        "timezone",
        "template",
        "jitter_seconds",
        "misfire",
        "overlap",
    ] {
        assert_eq!(before[field], after[field], "{field}");
    }

    // --rename: the new name finds it, the old one no more.
    let out = app
        .cli(&["schedules", "update", "nightly", "--rename", "early"])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "schedules update --rename",
    );
    assert!(
        out.stdout.contains("  name: nightly → early\n"),
        "{}",
        out.stdout
    );
    let renamed = show(&app, "schedules", "early").await;
    assert_eq!(renamed["id"], before["id"]);
    assert_eq!(renamed["cron"], "30 4 2 2 *");
    assert_eq!(renamed["targets"], json!({"machine_ids": [machine]}));
    app.cli_fails(&["schedules", "show", "nightly"], 1).await;

    // Structured output is the API's answer.
    let out = app
        .cli(&["schedules", "update", "1", "--jitter", "90", "--json"])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "schedules update --json",
    );
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["jitter_seconds"], 90);
    assert_eq!(answer["name"], "early");
}

#[tokio::test]
async fn schedules_update_dry_run_shows_the_change_and_changes_nothing() {
    let (app, _) = with_schedule().await;
    let before = app.cli(&["schedules", "show", "nightly", "--json"]).await;
    let out = app
        .cli(&[
            "schedules",
            "update",
            "nightly",
            "--cron",
            "0 6 * * MON",
            "--kind",
            "start",
            "--dry-run",
        ])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "schedules update --dry-run",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "dry run: would change schedule nightly:");
    assert!(
        lines.contains(&"  cron: 0 3 1 1 * → 0 6 * * MON"),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"  template.kind: stop → start"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("next: ") && l.contains("06:00 UTC")),
        "{lines:?}"
    );
    assert_eq!(lines.last(), Some(&"nothing was changed"));
    let after = app.cli(&["schedules", "show", "nightly", "--json"]).await;
    assert_eq!(before.stdout, after.stdout);

    // --json: the API's dry-run answer.
    let out = app
        .cli(&[
            "schedules",
            "update",
            "nightly",
            "--paused",
            "--dry-run",
            "--json",
        ])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "schedules update --dry-run --json",
    );
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["dry_run"], true);
    assert_eq!(answer["schedule"]["enabled"], false);
    assert_eq!(show(&app, "schedules", "nightly").await["enabled"], true);
}

#[tokio::test]
async fn updates_without_a_change_or_of_an_unknown_key_are_refused() {
    let (app, _) = with_schedule().await;
    for what in ["schedules", "windows"] {
        let stderr = app.cli_fails(&[what, "update", "nightly"], 2).await;
        assert!(
            stderr.starts_with("error: nothing to change: give at least one of --rename, "),
            "{stderr}"
        );
        // The output flags change nothing either.
        let stderr = app
            .cli_fails(&[what, "update", "nightly", "--json", "--dry-run"], 2)
            .await;
        assert!(stderr.contains("nothing to change"), "{stderr}");
    }

    // An unknown key: the daemon's answer, as `show` prints it.
    for what in ["schedules", "windows"] {
        let shown = app.cli_fails(&[what, "show", "nope"], 1).await;
        let stderr = app
            .cli_fails(&[what, "update", "nope", "--rename", "other"], 1)
            .await;
        assert_eq!(stderr, shown, "{what}");
        assert!(stderr.contains("nope"), "{stderr}");
    }

    // A window's edge schedule is changed through its window (409).
    let (status, body) = app
        .post(
            "/v1/windows",
            json!({"name": "office", "hours": {"days": ["mon"], "start": "09:00",
                   "end": "18:00", "zone": "UTC"}, "targets": {"machine_ids": ["psnone1"]},
                   "allow_unknown": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stderr = app
        .cli_fails(
            &[
                "schedules",
                "update",
                "window:office:start",
                "--cron",
                "0 8 * * MON",
            ],
            1,
        )
        .await;
    assert!(
        stderr.contains("belongs to a window; change the window instead"),
        "{stderr}"
    );
}

/// A daemon that has listed the account after starting two machines; their ids.
async fn two_running() -> (TestApp, Vec<String>) {
    let app = spawn_app(AppOptions::default()).await;
    let off = app.machines_in("off").await;
    assert!(off.len() >= 2, "{off:?}");
    let started: Vec<String> = off[..2].to_vec();
    for id in &started {
        let job = app.run(json!({"kind": "start", "machine_id": id})).await;
        assert_eq!(job["state"], "succeeded", "{job:#}");
    }
    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded", "{refresh:#}");
    (app, started)
}

/// A window `office` of both machines, not enforced, over hours that do not
/// hold now: every day, an hour that begins two hours from now (UTC).
async fn closed_window(app: &TestApp, ids: &[String]) {
    let hour = Utc::now().hour();
    let (start, end) = (
        format!("{:02}:00", (hour + 2) % 24),
        format!("{:02}:00", (hour + 3) % 24),
    );
    let (status, body) = app
        .post(
            "/v1/windows",
            json!({"name": "office", "hours": {"days": ["mon", "tue", "wed", "thu", "fri",
                   "sat", "sun"], "start": start, "end": end, "zone": "UTC"},
                   "targets": {"machine_ids": ids}, "enforce": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn windows_update_dry_run_names_what_enforcement_would_stop() {
    let (app, running) = two_running().await;
    closed_window(&app, &running).await;
    let before = app.cli(&["windows", "show", "office", "--json"]).await;
    let out = app
        .cli(&["windows", "update", "office", "--enforce", "--dry-run"])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "windows update --dry-run",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "dry run: would change window office:");
    assert!(lines.contains(&"  enforce: false → true"), "{lines:?}");
    let stops = lines
        .iter()
        .find(|l| l.starts_with("would stop now: "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    for id in &running {
        assert!(stops.contains(id.as_str()), "{stops}");
    }
    assert_eq!(lines.last(), Some(&"nothing was changed"));
    let after = app.cli(&["windows", "show", "office", "--json"]).await;
    assert_eq!(before.stdout, after.stdout);

    // Targets that are not running: nothing to stop.
    let out = app
        .cli(&[
            "windows",
            "update",
            "office",
            "--enforce",
            "--machine",
            "psnone1",
            "--allow-unknown",
            "--dry-run",
        ])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "windows update --dry-run",
    );
    assert!(
        out.stdout.contains("\nwould stop nothing now\n"),
        "{}",
        out.stdout
    );
    // A dry run stops nothing.
    let ready = app.machines_in("ready").await;
    assert!(running.iter().all(|id| ready.contains(id)), "{ready:?}");
}

#[tokio::test]
async fn windows_update_enforce_without_a_terminal_names_what_it_stops_and_stops_them() {
    let (app, running) = two_running().await;
    closed_window(&app, &running).await;
    let out = app
        .cli(&[
            "windows",
            "update",
            "office",
            "--enforce",
            "--enforce-every",
            "30s",
        ])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "windows update --enforce",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("enforcement will stop 2 running machines now: "),
        "{lines:?}"
    );
    for id in &running {
        assert!(lines[0].contains(id.as_str()), "{lines:?}");
    }
    assert!(
        lines[1].starts_with("window 1 updated: office ("),
        "{lines:?}"
    );
    assert!(lines.contains(&"  enforce: false → true"), "{lines:?}");
    assert!(
        lines.contains(&"  enforce_interval_seconds: 300 → 30"),
        "{lines:?}"
    );
    // Nothing asked: standard input is not a terminal.
    assert!(!out.stderr.contains("[y/N]"), "{}", out.stderr);
    let window = show(&app, "windows", "office").await;
    assert_eq!(window["enforce"], true);

    // Enforcement stops them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let off = app.machines_in("off").await;
        if running.iter().all(|id| off.contains(id)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running: {running:?} (off: {off:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A change that does not touch what is enforced asks nothing and says nothing.
    let out = app
        .cli(&["windows", "update", "office", "--rename", "shop"])
        .await;
    ok(
        out.code,
        &out.stdout,
        &out.stderr,
        "windows update --rename",
    );
    assert!(
        out.stdout.starts_with("window 1 updated: shop ("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  name: office → shop\n"),
        "{}",
        out.stdout
    );
}
