//! `machinist machines`, `history` and `status` against a running daemon.

mod support;

use serde_json::{Value, json};
use support::{AppOptions, TestApp, spawn_app};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn cli(app: &TestApp, args: &[&str]) -> Out {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_machinist"))
        .args(args)
        .env("MACHINIST_URL", &app.url)
        .env("MACHINIST_ADMIN_TOKEN", app.token.unwrap())
        .env_remove("MACHINIST_CONFIG")
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn machines_history_and_status_read_the_daemon() {
    let app = spawn_app(AppOptions::default()).await;

    let none = cli(&app, &["machines"]).await;
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert!(
        none.stdout.contains("no machines seen yet"),
        "{}",
        none.stdout
    );

    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded");
    let (_, schedule) = app
        .post(
            "/v1/schedules",
            json!({"name": "evening", "cron": "0 19 * * *", "timezone": "UTC",
                   "template": {"kind": "stop"}, "targets": {"selector": {"name": "*"}}}),
        )
        .await;
    assert!(schedule["next_fire_at"].is_string(), "{schedule}");

    let list = cli(&app, &["machines", "--json"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let machines = list["machines"].as_array().unwrap();
    assert!(machines.len() >= 6);
    let id = machines[0]["id"].as_str().unwrap().to_string();
    let table = cli(&app, &["machines"]).await;
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains(&id));

    let one = cli(&app, &["machines", &id]).await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout.contains("evening"),
        "the selector `*` targets it: {}",
        one.stdout
    );
    let missing = cli(&app, &["machines", "psnothere1"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no machine psnothere1"),
        "{}",
        missing.stderr
    );

    let history = cli(&app, &["history", "--limit", "2", "--json"]).await;
    assert_eq!(history.code, 0, "{}", history.stderr);
    let page: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = cli(&app, &["history", "--limit", "2", "--cursor", cursor]).await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(next.stdout.contains("job 1"), "{}", next.stdout);
    let bad = cli(&app, &["history", "--cursor", "nope"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cursor"), "{}", bad.stderr);

    let status = cli(&app, &["status", "--json"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["ready"], true);
    assert_eq!(status["jobs"]["succeeded"], 1);
    assert_eq!(status["queue"]["due"], 0);
    assert_eq!(status["next_firings"][0]["schedule"], "evening");
    assert_eq!(status["next_firings"][0]["at"], schedule["next_fire_at"]);
    let text = cli(&app, &["status"]).await;
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("status ") && l.ends_with(" ready")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("next firings:"), "{}", text.stdout);

    // Not ready: Paperspace fails, nothing answered lately; exit 1 and why.
    let down = spawn_app(AppOptions::default()).await;
    down.sim.sim.set_faults(machinist::sim::FaultSpec {
        error_rate: 1.0,
        ..Default::default()
    });
    let status = cli(&down, &["status"]).await;
    assert_eq!(status.code, 1, "{}", status.stdout);
    assert!(
        status.stdout.contains("NOT READY (paperspace:"),
        "{}",
        status.stdout
    );
}
