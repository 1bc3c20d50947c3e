//! Issue 18, item 12: explicit machine ids in schedules, windows and
//! overrides are checked against the daemon's last listing of the account;
//! an unknown (or gone) id is refused with 422 naming the field, unless
//! `allow_unknown`.

use crate::harness::{AppOptions, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HINT: &str = "run `machinist jobs submit refresh` if it is new, or pass --allow-unknown (allow_unknown: true) for a machine created later";

/// A daemon that has listed the simulated account; its first machine's id.
async fn listed() -> (TestApp, String) {
    let app = spawn_app(AppOptions::default()).await;
    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded", "{refresh:#}");
    let (status, list) = app.get("/v1/machines").await;
    assert_eq!(status, StatusCode::OK);
    let id = list["machines"][0]["id"].as_str().unwrap().to_string();
    (app, id)
}

fn schedule(name: &str, ids: &[&str]) -> Value {
    json!({"name": name, "cron": "0 19 * * MON-FRI", "timezone": "UTC",
           "template": {"kind": "stop"}, "targets": {"machine_ids": ids}})
}

fn window(name: &str, ids: &[&str]) -> Value {
    json!({"name": name, "hours": {"days": ["mon"], "start": "09:00", "end": "18:00", "zone": "UTC"},
           "targets": {"machine_ids": ids}})
}

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let mut req = app.http.put(format!("{}{path}", app.url)).json(&body);
    if let Some(token) = app.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn allowed(mut body: Value) -> Value {
    body["allow_unknown"] = json!(true);
    body
}

async fn count(app: &TestApp, path: &str, key: &str) -> usize {
    let (status, list) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list[key].as_array().unwrap().len()
}

fn assert_refused(status: StatusCode, body: &Value, field: &str, id: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(id), "{message}");
    assert!(message.contains(HINT), "{message}");
}

#[tokio::test]
async fn an_unknown_machine_id_is_refused_with_its_field_and_a_hint_and_nothing_is_stored() {
    let (app, known) = listed().await;
    let schedules_before = count(&app, "/v1/schedules", "schedules").await;

    let (status, body) = app
        .post("/v1/schedules", schedule("s", &[&known, "psnothere1"]))
        .await;
    assert_refused(status, &body, "targets.machine_ids[1]", "psnothere1");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no machine psnothere1 in the daemon's last listing of the account"),
        "{body}"
    );
    assert_eq!(
        count(&app, "/v1/schedules", "schedules").await,
        schedules_before
    );

    let (status, body) = app.post("/v1/windows", window("w", &["psnothere2"])).await;
    assert_refused(status, &body, "targets.machine_ids[0]", "psnothere2");
    assert_eq!(count(&app, "/v1/windows", "windows").await, 0);

    // An update is checked too, and leaves the stored targets alone.
    let (status, body) = app.post("/v1/windows", window("w", &[&known])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = put(&app, "/v1/windows/w", window("w", &[&known, "psnothere3"])).await;
    assert_refused(status, &body, "targets.machine_ids[1]", "psnothere3");
    let (_, shown) = app.get("/v1/windows/w").await;
    assert_eq!(shown["targets"]["machine_ids"], json!([known]));

    let (status, body) = app
        .post(
            "/v1/windows/w/overrides",
            json!({"machine_id": "psnothere4", "mode": "keep_on", "hours": 2}),
        )
        .await;
    assert_refused(status, &body, "machine_id", "psnothere4");
    assert_eq!(count(&app, "/v1/windows/w/overrides", "overrides").await, 0);
}

#[tokio::test]
async fn allow_unknown_accepts_an_unknown_machine_id_and_known_ids_need_nothing() {
    let (app, known) = listed().await;

    let (status, body) = app
        .post("/v1/schedules", schedule("known", &[&known]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post("/v1/windows", window("w", &[&known])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/windows/w/overrides",
            json!({"machine_id": known, "mode": "keep_on", "hours": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = app
        .post("/v1/schedules", allowed(schedule("later", &["pslater1"])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["targets"]["machine_ids"], json!(["pslater1"]));
    // Not stored: it is a switch of the request, not of the schedule.
    assert!(body.get("allow_unknown").is_none(), "{body}");
    let (status, body) = app
        .post("/v1/windows", allowed(window("w2", &["pslater2"])))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/windows/w2/overrides",
            json!({"machine_id": "pslater2", "mode": "keep_off", "hours": 1, "allow_unknown": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // An edit of other fields keeps ids already stored without the switch.
    let mut edit = schedule("later", &["pslater1"]);
    edit["jitter_seconds"] = json!(5);
    let (status, body) = put(&app, "/v1/schedules/later", edit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn with_no_machine_listed_yet_nothing_is_refused() {
    let app = spawn_app(AppOptions::default()).await;
    let (status, body) = app.post("/v1/schedules", schedule("s", &["ps1"])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post("/v1/windows", window("w", &["ps1"])).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_machine_gone_from_the_account_counts_as_unknown() {
    let (app, known) = listed().await;
    let destroyed = app
        .run(json!({"kind": "destroy", "machine_id": known, "args": {"release_public_ip": true}}))
        .await;
    assert_eq!(destroyed["state"], "succeeded", "{destroyed:#}");
    let (_, shown) = app.get(&format!("/v1/machines/{known}")).await;
    assert!(shown["gone_at"].is_string(), "{shown}");

    let (status, body) = app.post("/v1/schedules", schedule("s", &[&known])).await;
    assert_refused(status, &body, "targets.machine_ids[0]", &known);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{known} is gone since ")),
        "{body}"
    );
}

#[tokio::test]
async fn cli_allow_unknown_passes_the_switch() {
    let (app, _) = listed().await;
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "schedules",
            "add",
            "later",
            "--cron",
            "0 19 * * MON-FRI",
            "--kind",
            "stop",
            "--machine",
            "pslater9",
        ];
        a.extend_from_slice(extra);
        a
    };
    let refused = app.cli(&args(&[])).await;
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("targets.machine_ids[0]")
            && refused.stderr.contains("--allow-unknown"),
        "{}",
        refused.stderr
    );
    let added = app.cli(&args(&["--allow-unknown", "--json"])).await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    let schedule: Value = serde_json::from_str(&added.stdout).unwrap();
    assert_eq!(schedule["targets"]["machine_ids"], json!(["pslater9"]));

    let window = app
        .cli(&[
            "windows",
            "add",
            "late",
            "--days",
            "mon-fri",
            "--start",
            "09:00",
            "--end",
            "18:00",
            "--timezone",
            "UTC",
            "--machine",
            "pslater9",
            "--allow-unknown",
        ])
        .await;
    assert_eq!(window.code, 0, "{}", window.stderr);
    let over = app
        .cli(&[
            "windows",
            "override",
            "late",
            "pslater9",
            "--keep-on",
            "--hours",
            "2",
            "--allow-unknown",
        ])
        .await;
    assert_eq!(over.code, 0, "{}", over.stderr);
}
