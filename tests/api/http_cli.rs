//! `machinist machines`, `history` and `status` against a running daemon.

use crate::harness::{AppOptions, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn machines_history_and_status_read_the_daemon() {
    let app = spawn_app(AppOptions::default()).await;

    let none = app.cli(&["machines"]).await;
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

    let list = app.cli(&["machines", "--json"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let machines = list["machines"].as_array().unwrap();
    assert!(machines.len() >= 6);
    let id = machines[0]["id"].as_str().unwrap().to_string();
    let table = app.cli(&["machines"]).await;
    assert!(table.stdout.starts_with("ID"), "{}", table.stdout);
    assert!(table.stdout.contains(&id));

    let one = app.cli(&["machines", &id]).await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout.contains("evening"),
        "the selector `*` targets it: {}",
        one.stdout
    );
    let missing = app.cli(&["machines", "psnothere1"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no machine psnothere1"),
        "{}",
        missing.stderr
    );

    let history = app.cli(&["history", "--limit", "2", "--json"]).await;
    assert_eq!(history.code, 0, "{}", history.stderr);
    let page: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .cli(&["history", "--limit", "2", "--cursor", cursor])
        .await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(next.stdout.contains("job 1"), "{}", next.stdout);
    let bad = app.cli(&["history", "--cursor", "nope"]).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cursor"), "{}", bad.stderr);

    let status = app.cli(&["status", "--json"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["ready"], true);
    assert_eq!(status["jobs"]["succeeded"], 1);
    assert_eq!(status["queue"]["due"], 0);
    assert_eq!(status["next_firings"][0]["schedule"], "evening");
    assert_eq!(status["next_firings"][0]["at"], schedule["next_fire_at"]);
    let text = app.cli(&["status"]).await;
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
    let status = down.cli(&["status"]).await;
    assert_eq!(status.code, 1, "{}", status.stdout);
    assert!(
        status.stdout.contains("NOT READY (paperspace:"),
        "{}",
        status.stdout
    );
}

/// True when `s` holds a character that would act on a terminal instead of
/// being shown: an escape, a C1 control, a bidi override.
fn raw_controls(s: &str) -> bool {
    s.chars()
        .any(|c| c != '\n' && machinist::text::is_refused(c))
}

#[tokio::test]
async fn the_cli_escapes_what_the_daemon_sends() {
    use machinist::machine::CreateMachine;
    use machinist::paperspace::MachineApi;
    let app = spawn_app(AppOptions::default()).await;
    // A machine named in the Paperspace console (not through Machinist),
    // with colours and a bidi override in its name.
    let evil = "\u{1b}[31mred\u{202e}txt.exe";
    let made = app
        .api
        .create(&CreateMachine::new(
            evil,
            "Europe (AMS1)",
            "C5",
            50,
            "tkni3aa4",
        ))
        .await
        .unwrap();
    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded");

    let table = app.cli(&["machines"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(!raw_controls(&table.stdout), "{:?}", table.stdout);
    assert!(
        table.stdout.contains("\\u{1b}[31mred\\u{202e}txt.exe"),
        "{}",
        table.stdout
    );
    let one = app.cli(&["machines", &made.id]).await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(!raw_controls(&one.stdout), "{:?}", one.stdout);
    assert!(one.stdout.contains("\\u{1b}[31mred"), "{}", one.stdout);

    // An override reason stored before the API refused such text.
    let (status, window) = app
        .post(
            "/v1/windows",
            json!({"name": "office", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00", "zone": "UTC"},
                   "targets": {"machine_ids": [made.id]}}),
        )
        .await;
    assert!(status.is_success(), "{window}");
    let (status, refused) = app
        .post(
            "/v1/windows/office/overrides",
            json!({"machine_id": made.id, "mode": "keep_on", "hours": 2, "reason": "\u{1b}[31mlate"}),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{refused}");
    assert_eq!(refused["error"]["field"], "reason");
    let now = chrono::Utc::now();
    app.store()
        .add_override(
            window["id"].as_i64().unwrap(),
            made.id.clone(),
            machinist::schedule::window::OverrideMode::KeepOn,
            now + chrono::Duration::hours(2),
            Some("\u{1b}[31mlate\u{200b}".into()),
            now,
        )
        .await
        .unwrap();
    let shown = app.cli(&["windows", "show", "office"]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(!raw_controls(&shown.stdout), "{:?}", shown.stdout);
    assert!(
        shown.stdout.contains("\\u{1b}[31mlate\\u{200b}"),
        "{}",
        shown.stdout
    );

    // Error messages echo what was asked for; they are escaped too.
    let missing = app.cli(&["windows", "show", "ghost\u{202e}"]).await;
    assert_eq!(missing.code, 1);
    assert!(!raw_controls(&missing.stderr), "{:?}", missing.stderr);
    assert!(
        missing.stderr.contains("ghost\\u{202e}"),
        "{}",
        missing.stderr
    );
}
