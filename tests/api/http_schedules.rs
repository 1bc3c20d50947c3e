//! The schedule, window and report routes over real HTTP: the router on
//! 127.0.0.1:0 with a temp store, a manual clock (Monday 2026-03-02 09:00Z,
//! winter in Amsterdam) and a registry whose calendars hold `nl`
//! (2026-12-25). No scheduler runs: nothing fires unless a test says so.
//! Also `machinist schedules`, `windows` and `report` against it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use machinist::config::AdminToken;
use machinist::machine::{Machine, MachineState, Utilization};
use machinist::schedule::calendar::Calendars;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Answering, AppOptions, Run, answer, spawn_app};

const TOKEN: &str = "test-admin-token-0123456789abcdef";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

/// The admin API alone ([`Run::Router`]) at [`t0`] on a manual clock, with
/// the calendar `nl`.
type App = Answering;

async fn start() -> App {
    Answering(
        spawn_app(AppOptions {
            token: Some(TOKEN),
            run: Run::Router,
            clock: Some(t0()),
            calendars: Calendars::new(BTreeMap::from([(
                "nl".to_string(),
                vec!["2026-12-25".parse().unwrap()],
            )])),
            ..AppOptions::default()
        })
        .await,
    )
}

impl App {
    async fn schedule_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .store()
            .schedules(true)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        names.sort();
        names
    }

    async fn new_window(&self, name: &str) -> i64 {
        self.post_json("/v1/windows", office(name))
            .await
            .expect(StatusCode::CREATED)["id"]
            .as_i64()
            .unwrap()
    }
}

fn nightly() -> Value {
    json!({
        "name": "nightly-stop",
        "cron": "0 19 * * MON-FRI",
        "timezone": "Europe/Amsterdam",
        "template": {"kind": "stop"},
        "targets": {"machine_ids": ["ps1", "ps2"]},
        "exclusions": {"calendars": ["nl"], "dates": ["2026-04-27"]},
        "jitter_seconds": 30
    })
}

fn office(name: &str) -> Value {
    json!({
        "name": name,
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00", "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": ["ps1", "ps2"]},
        "enforce": true,
        "exclusions": {"calendars": ["nl"]}
    })
}

/// `base` with `path` (dotted, one level or two) set to `value`, or removed for `Null`.
fn with(base: &Value, path: &str, value: Value) -> Value {
    let mut out = base.clone();
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut at = &mut out;
    for p in parts {
        at = &mut at[p];
    }
    if value.is_null() {
        at.as_object_mut().unwrap().remove(last);
    } else {
        at[last] = value;
    }
    out
}

#[tokio::test]
async fn schedules_are_created_listed_shown_replaced_paused_resumed_and_deleted() {
    let app = start().await;
    let created = app.post_json("/v1/schedules", nightly()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/schedules/{id}")
    );
    let s = &created.body;
    assert_eq!(s["name"], "nightly-stop");
    assert_eq!(s["timezone"], "Europe/Amsterdam");
    assert_eq!(s["enabled"], true);
    assert_eq!(s["misfire"], "run_once");
    assert_eq!(s["catch_up_seconds"], 86_400, "a stop catches up for a day");
    assert_eq!(s["overlap"], "skip");
    assert_eq!(s["jitter_seconds"], 30);
    assert_eq!(s["window_id"], Value::Null);
    // 19:00 in Amsterdam in winter is 18:00Z, today.
    assert_eq!(s["next_fire_at"], "2026-03-02T18:00:00Z");

    let list = app.get("/v1/schedules").await.expect(StatusCode::OK);
    assert_eq!(list["schedules"].as_array().unwrap().len(), 1);
    assert_eq!(list["schedules"][0]["id"], id);

    for key in ["nightly-stop", &id.to_string()] {
        let show = app
            .get(&format!("/v1/schedules/{key}"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(show["id"], id);
        assert_eq!(show["cron"], "0 19 * * MON-FRI");
        let next = show["next_fire_times"].as_array().unwrap();
        assert_eq!(next.len(), 5);
        assert_eq!(next[0]["utc"], "2026-03-02T18:00:00Z");
        assert_eq!(next[0]["local"], "2026-03-02T19:00:00+01:00");
        assert!(next[0].get("edge").is_none());
        assert_eq!(next[1]["utc"], "2026-03-03T18:00:00Z");
        assert_eq!(next[4]["utc"], "2026-03-06T18:00:00Z");
        assert_eq!(show["recent_firings"], json!([]));
    }

    // A full replace; a rename keeps the id.
    let mut replaced = with(&nightly(), "name", json!("evening-stop"));
    replaced = with(&replaced, "cron", json!("30 20 * * *"));
    replaced = with(&replaced, "misfire", json!("skip"));
    let updated = app
        .put_json("/v1/schedules/nightly-stop", replaced)
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["id"], id);
    assert_eq!(updated["name"], "evening-stop");
    assert_eq!(updated["misfire"], "skip");
    assert_eq!(updated["next_fire_at"], "2026-03-02T19:30:00Z");
    let gone = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.field().as_deref(), Some("key"));

    let paused = app
        .post("/v1/schedules/evening-stop/pause")
        .await
        .expect(StatusCode::OK);
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["next_fire_at"], Value::Null);
    let show = app
        .get(&format!("/v1/schedules/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        show["next_fire_times"],
        json!([]),
        "a paused schedule fires not"
    );
    // A preview still says when it would.
    let preview = app
        .get(&format!("/v1/schedules/{id}/preview?count=2"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(preview["fire_times"].as_array().unwrap().len(), 2);

    // Resumed two days later: from then on, not for the paused stretch.
    app.clock().advance(Duration::days(2));
    let resumed = app
        .post(&format!("/v1/schedules/{id}/resume"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resumed["enabled"], true);
    assert_eq!(resumed["next_fire_at"], "2026-03-04T19:30:00Z");

    let deleted = app.delete("/v1/schedules/evening-stop").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    let again = app.delete("/v1/schedules/evening-stop").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.field().as_deref(), Some("key"));
    let missing = app.get(&format!("/v1/schedules/{id}")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.message().contains(&format!("id {id}")),
        "{}",
        missing.message()
    );
    assert!(app.schedule_names().await.is_empty());
}

#[tokio::test]
async fn previews_of_stored_schedules_and_expressions() {
    let app = start().await;
    let expr = |body: Value| app.post_json("/v1/schedules/preview", body);

    let three =
        expr(json!({"cron": "0 9 * * MON-FRI", "timezone": "Europe/Amsterdam", "count": 3}))
            .await
            .expect(StatusCode::OK);
    let times = three["fire_times"].as_array().unwrap();
    assert_eq!(times.len(), 3);
    // 09:00 in Amsterdam in winter is 08:00Z; Monday's has passed at 09:00Z.
    assert_eq!(times[0]["utc"], "2026-03-03T08:00:00Z");
    assert_eq!(times[0]["local"], "2026-03-03T09:00:00+01:00");
    assert_eq!(times[2]["utc"], "2026-03-05T08:00:00Z");

    // Across the spring-forward of March 29: 07:00Z from then on.
    let twenty =
        expr(json!({"cron": "0 9 * * MON-FRI", "timezone": "Europe/Amsterdam", "count": 20}))
            .await
            .expect(StatusCode::OK);
    let last = &twenty["fire_times"][19];
    assert_eq!(last["utc"], "2026-03-30T07:00:00Z");
    assert_eq!(last["local"], "2026-03-30T09:00:00+02:00");

    // The default zone (UTC here) and the default count.
    let default = expr(json!({"cron": "0 9 * * *"}))
        .await
        .expect(StatusCode::OK);
    let times = default["fire_times"].as_array().unwrap();
    assert_eq!(times.len(), 10);
    assert_eq!(times[0]["utc"], "2026-03-03T09:00:00Z");
    assert_eq!(times[0]["local"], "2026-03-03T09:00:00+00:00");

    for (body, status, field) in [
        (json!({"cron": "61 * * * *"}), 422, "cron"),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
            422,
            "timezone",
        ),
        (json!({"cron": "0 9 * * *", "count": 0}), 422, "count"),
        (json!({"cron": "0 9 * * *", "count": 101}), 422, "count"),
        (json!({"cron": "0 9 * * *", "colour": 1}), 400, "colour"),
        (json!({"cron": 9}), 400, "cron"),
        (json!({}), 400, "cron"),
    ] {
        let a = expr(body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body} → {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{body}");
        if status == 422 {
            assert_eq!(a.error().0, "invalid_schedule");
        }
    }
    assert!(
        app.schedule_names().await.is_empty(),
        "previews store nothing"
    );

    app.post_json("/v1/schedules", nightly())
        .await
        .expect(StatusCode::CREATED);
    let stored = app
        .get("/v1/schedules/nightly-stop/preview?count=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        stored["fire_times"],
        json!([
            {"utc": "2026-03-02T18:00:00Z", "local": "2026-03-02T19:00:00+01:00"},
            {"utc": "2026-03-03T18:00:00Z", "local": "2026-03-03T19:00:00+01:00"}
        ])
    );
    let default = app
        .get("/v1/schedules/nightly-stop/preview")
        .await
        .expect(StatusCode::OK);
    assert_eq!(default["fire_times"].as_array().unwrap().len(), 10);
    let hundred = app
        .get("/v1/schedules/nightly-stop/preview?count=100")
        .await
        .expect(StatusCode::OK);
    assert_eq!(hundred["fire_times"].as_array().unwrap().len(), 100);
    for (query, field) in [
        ("count=0", "count"),
        ("count=101", "count"),
        ("count=ten", "count"),
        ("count=", "count"),
        ("count=1&count=2", "count"),
        ("limit=5", "limit"),
    ] {
        let a = app
            .get(&format!("/v1/schedules/nightly-stop/preview?{query}"))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{query}");
    }
    let missing = app.get("/v1/schedules/nope/preview").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_bad_schedule_names_its_field_and_writes_nothing() {
    let app = start().await;
    app.post_json("/v1/schedules", nightly())
        .await
        .expect(StatusCode::CREATED);
    let base = with(&nightly(), "name", json!("another"));
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            with(&base, "cron", json!("61 * * * *")),
            422,
            "invalid_schedule",
            "cron",
        ),
        (
            with(&base, "cron", json!("every day")),
            422,
            "invalid_schedule",
            "cron",
        ),
        (
            with(&base, "timezone", json!("Europe/Atlantis")),
            422,
            "invalid_schedule",
            "timezone",
        ),
        (
            with(&base, "template.kind", json!("reboot")),
            422,
            "invalid_schedule",
            "template.kind",
        ),
        (
            with(
                &base,
                "template",
                json!({"kind": "start", "args": {"x": 1}}),
            ),
            422,
            "invalid_schedule",
            "template.args.x",
        ),
        (
            with(&base, "template.wait", json!("gone")),
            422,
            "invalid_schedule",
            "template.wait",
        ),
        (
            with(&base, "targets", json!({})),
            422,
            "invalid_schedule",
            "targets",
        ),
        (
            with(&base, "targets", Value::Null),
            422,
            "invalid_schedule",
            "targets",
        ),
        (
            with(&base, "targets", json!({"machine_ids": ["ps1", "a/b"]})),
            422,
            "invalid_schedule",
            "targets.machine_ids[1]",
        ),
        (
            with(&base, "targets", json!({"selector": {"state": "sleeping"}})),
            422,
            "invalid_schedule",
            "targets.selector.state",
        ),
        (
            with(&base, "exclusions", json!({"calendars": ["atlantis"]})),
            422,
            "invalid_schedule",
            "exclusions",
        ),
        (
            with(&base, "jitter_seconds", json!(3601)),
            422,
            "invalid_schedule",
            "jitter_seconds",
        ),
        (
            with(&base, "name", json!("42")),
            422,
            "invalid_schedule",
            "name",
        ),
        (
            with(&base, "name", json!("window:x")),
            422,
            "invalid_schedule",
            "name",
        ),
        (
            with(&base, "name", json!("nightly\u{1b}[2J")),
            422,
            "invalid_schedule",
            "name",
        ),
        (
            with(&base, "name", json!("night\u{2066}ly")),
            422,
            "invalid_schedule",
            "name",
        ),
        (
            with(
                &base,
                "targets",
                json!({"selector": {"name": "gpu-\u{200d}*"}}),
            ),
            422,
            "invalid_schedule",
            "targets.selector.name",
        ),
        (
            with(
                &base,
                "targets",
                json!({"selector": {"region": "Europe\u{9b}"}}),
            ),
            422,
            "invalid_schedule",
            "targets.selector.region",
        ),
        (
            with(
                &base,
                "template",
                json!({"kind": "create", "args": {"name": "a\u{7f}", "region": "r", "machine_type": "C5", "disk_size_gb": 50, "template_id": "t1"}}),
            ),
            422,
            "invalid_schedule",
            "template.args.name",
        ),
        (
            with(&base, "template", json!({"kind": "wait"})),
            422,
            "invalid_schedule",
            "template.wait",
        ),
        (
            with(&base, "name", json!("")),
            422,
            "invalid_schedule",
            "name",
        ),
        (
            with(&base, "colour", json!("red")),
            400,
            "bad_request",
            "colour",
        ),
        (
            with(&base, "template.colour", json!(1)),
            400,
            "bad_request",
            "template.colour",
        ),
        (
            with(&base, "targets.colour", json!(1)),
            400,
            "bad_request",
            "targets.colour",
        ),
        (
            with(&base, "jitter_seconds", json!("soon")),
            400,
            "bad_request",
            "jitter_seconds",
        ),
        (
            with(&base, "jitter_seconds", json!(-1)),
            400,
            "bad_request",
            "jitter_seconds",
        ),
        (
            with(&base, "misfire", json!("later")),
            400,
            "bad_request",
            "misfire",
        ),
        (
            with(&base, "overlap", json!("both")),
            400,
            "bad_request",
            "overlap",
        ),
        (
            with(&base, "exclusions.dates", json!(["2026-02-30"])),
            400,
            "bad_request",
            "exclusions.dates[0]",
        ),
        (with(&base, "cron", Value::Null), 400, "bad_request", "cron"),
        (
            with(&base, "template", Value::Null),
            400,
            "bad_request",
            "template",
        ),
        // The name of the schedule that exists.
        (nightly(), 409, "conflict", "name"),
    ];
    for (body, status, code, field) in cases {
        let a = app.post_json("/v1/schedules", body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body} → {}", a.body);
        assert_eq!(
            a.error(),
            (code.to_string(), Some(field.to_string())),
            "{body}"
        );
    }

    // The same checks on a replace, which changes nothing when refused.
    let bad_cron = app
        .put_json(
            "/v1/schedules/nightly-stop",
            with(&base, "cron", json!("x")),
        )
        .await;
    assert_eq!(bad_cron.status.as_u16(), 422);
    assert_eq!(bad_cron.field().as_deref(), Some("cron"));
    let unknown = app.put_json("/v1/schedules/nope", base.clone()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.field().as_deref(), Some("key"));

    // Malformed bodies.
    let no_type = app
        .send(
            app.http
                .post(app.at("/v1/schedules"))
                .body(base.to_string()),
        )
        .await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for body in ["", "[1]", "{", "null", r#"{"name":"x"} extra"#] {
        let a = app
            .raw(reqwest::Method::POST, "/v1/schedules", body.to_string())
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body:?}: {}", a.body);
    }
    let huge = app
        .raw(
            reqwest::Method::POST,
            "/v1/schedules",
            format!(r#"{{"name":"{}"}}"#, "x".repeat(100_000)),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A key given twice, at any depth, is refused rather than the last kept.
    for (body, field) in [
        (
            r#"{"name":"twice","name":"thrice","cron":"0 9 * * *","template":{"kind":"stop"},"targets":{"machine_ids":["ps1"]}}"#,
            "name",
        ),
        (
            r#"{"name":"twice","cron":"0 9 * * *","template":{"kind":"stop"},"targets":{"machine_ids":["ps1"],"machine_ids":["ps2"]}}"#,
            "targets.machine_ids",
        ),
        (
            r#"{"name":"twice","cron":"0 9 * * *","template":{"kind":"update","args":{"name":"a","name":"b"}},"targets":{"machine_ids":["ps1"]}}"#,
            "template.args.name",
        ),
    ] {
        let a = app
            .raw(reqwest::Method::POST, "/v1/schedules", body.to_string())
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
        assert_eq!(
            a.error(),
            ("bad_request".to_string(), Some(field.to_string()))
        );
    }

    assert_eq!(app.schedule_names().await, ["nightly-stop"]);
    let stored = app.store().schedule("nightly-stop").await.unwrap().unwrap();
    assert_eq!(
        stored.cron, "0 19 * * MON-FRI",
        "the refused replace changed nothing"
    );
    assert_eq!(app.job_count().await, 0);
}

#[tokio::test]
async fn windows_are_created_shown_previewed_paused_and_deleted() {
    let app = start().await;
    let created = app.post_json("/v1/windows", office("office")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/windows/{id}")
    );
    assert_eq!(created.body["name"], "office");
    assert_eq!(
        created.body["hours"],
        json!({"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00", "zone": "Europe/Amsterdam"})
    );
    assert_eq!(created.body["enforce"], true);
    assert_eq!(created.body["enforce_interval_seconds"], 300);

    let list = app.get("/v1/windows").await.expect(StatusCode::OK);
    assert_eq!(list["windows"].as_array().unwrap().len(), 1);
    let bad_list = app.get("/v1/windows?limit=5").await;
    assert_eq!(bad_list.status, StatusCode::BAD_REQUEST);

    // Its two edges are schedules, listed only when asked for.
    let plain = app.get("/v1/schedules").await.expect(StatusCode::OK);
    assert_eq!(plain["schedules"], json!([]));
    let all = app
        .get("/v1/schedules?include_windows=true")
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = all["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["window:office:start", "window:office:stop"]);
    let bad_flag = app.get("/v1/schedules?include_windows=yes").await;
    assert_eq!(bad_flag.field().as_deref(), Some("include_windows"));
    let edge = app
        .get("/v1/schedules/window:office:start")
        .await
        .expect(StatusCode::OK);
    assert_eq!(edge["window_id"], id);
    assert_eq!(edge["window_edge"], "start");
    assert_eq!(edge["next_fire_times"][0]["edge"], "start");
    // …changed only through the window.
    let put = app
        .put_json("/v1/schedules/window:office:start", nightly())
        .await;
    assert_eq!(put.status, StatusCode::CONFLICT, "{}", put.body);
    let del = app.delete("/v1/schedules/window:office:stop").await;
    assert_eq!(del.status, StatusCode::CONFLICT);

    // Monday 10:00 in Amsterdam: open; it closes at 18:00 (17:00Z).
    let show = app.get("/v1/windows/office").await.expect(StatusCode::OK);
    assert_eq!(show["id"], id);
    let edges = show["next_edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6);
    assert_eq!(
        edges[0],
        json!({"utc": "2026-03-02T17:00:00Z", "local": "2026-03-02T18:00:00+01:00", "edge": "stop"})
    );
    assert_eq!(
        edges[1],
        json!({"utc": "2026-03-03T08:00:00Z", "local": "2026-03-03T09:00:00+01:00", "edge": "start"})
    );
    assert_eq!(edges[5]["edge"], "start");
    assert_eq!(show["overrides"], json!([]));
    assert_eq!(show["recent_firings"], json!([]));

    let preview = app
        .get(&format!("/v1/windows/{id}/preview?count=3"))
        .await
        .expect(StatusCode::OK);
    let kinds: Vec<&str> = preview["fire_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["edge"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["stop", "start", "stop"]);
    let bad_count = app.get("/v1/windows/office/preview?count=0").await;
    assert_eq!(bad_count.field().as_deref(), Some("count"));

    let paused = app
        .post("/v1/windows/office/pause")
        .await
        .expect(StatusCode::OK);
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["next_enforce_at"], Value::Null);
    for s in app.store().window_schedules(id).await.unwrap() {
        assert!(!s.enabled && s.next_fire_at.is_none(), "{}", s.name);
    }
    let show = app.get("/v1/windows/office").await.expect(StatusCode::OK);
    assert_eq!(show["next_edges"], json!([]));
    let resumed = app
        .post(&format!("/v1/windows/{id}/resume"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resumed["enabled"], true);

    // A full replace: evenings, another zone.
    let mut evening = office("office");
    evening["hours"] = json!({"days": ["sat", "sun"], "start": "22:00", "end": "06:00", "zone": "America/New_York"});
    let replaced = app
        .put_json("/v1/windows/office", evening)
        .await
        .expect(StatusCode::OK);
    assert_eq!(replaced["hours"]["zone"], "America/New_York");
    let edges = app
        .get("/v1/schedules/window:office:stop")
        .await
        .expect(StatusCode::OK);
    assert_eq!(edges["cron"], "0 6 * * MON,SUN");

    let deleted = app.delete("/v1/windows/office").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let missing = app.get("/v1/windows/office").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.field().as_deref(), Some("key"));
    assert!(
        app.schedule_names().await.is_empty(),
        "its edges went with it"
    );
}

#[tokio::test]
async fn each_bad_window_names_its_field_and_writes_nothing() {
    let app = start().await;
    app.new_window("office").await;
    let base = office("lab");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(&base, "hours.zone", json!("Europe/Atlantis")),
            422,
            "hours.zone",
        ),
        (with(&base, "hours.end", json!("09:00")), 422, "hours"),
        (with(&base, "hours.days", json!([])), 422, "hours"),
        (with(&base, "targets", json!({})), 422, "targets"),
        (
            with(&base, "targets", json!({"machine_ids": ["bad id"]})),
            422,
            "targets.machine_ids[0]",
        ),
        (
            with(&base, "exclusions", json!({"calendars": ["atlantis"]})),
            422,
            "exclusions",
        ),
        (
            with(&base, "enforce_interval_seconds", json!(5)),
            422,
            "enforce_interval_seconds",
        ),
        (with(&base, "name", json!("7")), 422, "name"),
        (with(&base, "name", json!("lab\u{61c}")), 422, "name"),
        (with(&base, "name", json!("\u{feff}lab")), 422, "name"),
        (
            with(
                &base,
                "targets",
                json!({"selector": {"machine_type": "C5\u{0}"}}),
            ),
            422,
            "targets.selector.machine_type",
        ),
        (
            with(&base, "hours.start", json!("25:00")),
            400,
            "hours.start",
        ),
        (with(&base, "hours.end", json!("24:00")), 400, "hours.end"),
        (
            with(&base, "hours.days", json!(["someday"])),
            400,
            "hours.days[0]",
        ),
        (with(&base, "hours.zone", Value::Null), 400, "hours.zone"),
        (with(&base, "targets", Value::Null), 400, "targets"),
        (with(&base, "colour", json!(1)), 400, "colour"),
        (with(&base, "enforce", json!("yes")), 400, "enforce"),
        (office("office"), 409, "name"),
    ];
    for (body, status, field) in cases {
        let a = app.post_json("/v1/windows", body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body} → {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{body}");
        if status == 422 {
            assert_eq!(a.error().0, "invalid_window");
        }
    }
    let names: Vec<String> = app
        .store()
        .windows()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["office"]);
    assert_eq!(
        app.schedule_names().await,
        ["window:office:start", "window:office:stop"]
    );
}

#[tokio::test]
async fn overrides_are_added_listed_and_deleted() {
    let app = start().await;
    let window = app.new_window("office").await;
    let added = app
        .post_json(
            "/v1/windows/office/overrides",
            json!({"machine_id": "ps1", "mode": "keep_on", "hours": 3, "reason": "late training"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(added["window_id"], window);
    assert_eq!(added["machine_id"], "ps1");
    assert_eq!(added["mode"], "keep_on");
    assert_eq!(added["until"], "2026-03-02T12:00:00Z");
    assert_eq!(added["reason"], "late training");
    assert_eq!(added["active"], true);
    let first = added["id"].as_i64().unwrap();
    let short = app
        .post_json(
            &format!("/v1/windows/{window}/overrides"),
            json!({"machine_id": "ps2", "mode": "keep_off", "until": "2026-03-02T10:00:00Z"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(short["reason"], Value::Null);
    let second = short["id"].as_i64().unwrap();

    let base = json!({"machine_id": "ps1", "mode": "keep_on", "hours": 2});
    let cases: Vec<(Value, u16, &str)> = vec![
        (with(&base, "hours", json!(0)), 422, "hours"),
        (with(&base, "hours", json!(-1)), 422, "hours"),
        (with(&base, "hours", json!(745)), 422, "hours"),
        (
            with(&base, "until", json!("2026-03-02T20:00:00Z")),
            422,
            "hours",
        ),
        (with(&base, "hours", Value::Null), 422, "until"),
        (
            json!({"machine_id": "ps1", "mode": "keep_on", "until": "2026-03-02T08:00:00Z"}),
            422,
            "until",
        ),
        (
            json!({"machine_id": "ps1", "mode": "keep_on", "until": "2026-05-01T00:00:00Z"}),
            422,
            "until",
        ),
        (with(&base, "machine_id", json!("ps/1")), 422, "machine_id"),
        (with(&base, "machine_id", json!("")), 422, "machine_id"),
        (with(&base, "reason", json!("x".repeat(501))), 422, "reason"),
        (
            with(&base, "reason", json!("\u{1b}[31mlate")),
            422,
            "reason",
        ),
        (with(&base, "reason", json!("late\u{202e}")), 422, "reason"),
        (with(&base, "mode", json!("keep_maybe")), 400, "mode"),
        (with(&base, "until", json!("tonight")), 400, "until"),
        (with(&base, "hours", json!("two")), 400, "hours"),
        (with(&base, "colour", json!(1)), 400, "colour"),
        (with(&base, "machine_id", Value::Null), 400, "machine_id"),
    ];
    for (body, status, field) in cases {
        let a = app
            .post_json("/v1/windows/office/overrides", body.clone())
            .await;
        assert_eq!(a.status.as_u16(), status, "{body} → {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{body}");
        if status == 422 {
            assert_eq!(a.error().0, "invalid_override");
        }
    }
    let unknown = app
        .post_json("/v1/windows/lab/overrides", base.clone())
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.field().as_deref(), Some("key"));
    assert_eq!(app.store().overrides(window, None).await.unwrap().len(), 2);

    // An hour and a half later, the short one has expired.
    app.clock().advance(Duration::minutes(90));
    let list = app
        .get("/v1/windows/office/overrides")
        .await
        .expect(StatusCode::OK);
    let flags: Vec<(i64, bool)> = list["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_i64().unwrap(), o["active"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [(first, true), (second, false)]);
    let show = app.get("/v1/windows/office").await.expect(StatusCode::OK);
    let active: Vec<i64> = show["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(active, [first], "show lists the overrides in force");

    let bad_id = app.delete("/v1/windows/office/overrides/first").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.field().as_deref(), Some("id"));
    let zero = app.delete("/v1/windows/office/overrides/0").await;
    assert_eq!(zero.field().as_deref(), Some("id"));
    let wrong_window = app
        .delete(&format!("/v1/windows/lab/overrides/{first}"))
        .await;
    assert_eq!(wrong_window.status, StatusCode::NOT_FOUND);
    assert_eq!(wrong_window.field().as_deref(), Some("key"));
    let deleted = app
        .delete(&format!("/v1/windows/office/overrides/{first}"))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = app
        .delete(&format!("/v1/windows/office/overrides/{first}"))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.field().as_deref(), Some("id"));
    let left = app.store().overrides(window, None).await.unwrap();
    assert_eq!(left.iter().map(|o| o.id).collect::<Vec<_>>(), [second]);
}

#[tokio::test]
async fn reports_need_a_month_and_answer_their_shape() {
    let app = start().await;
    for route in ["utilization", "savings"] {
        for (query, field) in [
            ("", "month"),
            ("?month=2026-13", "month"),
            ("?month=March", "month"),
            ("?month=2026-3", "month"),
            ("?month=", "month"),
            ("?month=2026-03&machine_id=ps1", "machine_id"),
        ] {
            let a = app.get(&format!("/v1/reports/{route}{query}")).await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{route}{query}: {}",
                a.body
            );
            assert_eq!(a.field().as_deref(), Some(field), "{route}{query}");
        }
    }
    let empty = app
        .get("/v1/reports/utilization?month=2026-03")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        empty,
        json!({"month": "2026-03", "backend": "v1", "machines": [], "total_cost": 0.0})
    );
    let savings = app
        .get("/v1/reports/savings?month=2026-03")
        .await
        .expect(StatusCode::OK);
    assert!(savings["method"].as_str().unwrap().contains("usageRate"));
    assert_eq!(
        savings,
        json!({"month": "2026-03", "backend": "v1", "method": savings["method"], "machines": [], "total_hours_off": 0.0, "total_saved": 0.0})
    );

    app.store()
        .save_utilization(
            vec![Utilization {
                machine_id: "ps1".into(),
                billing_month: "2026-02".parse().unwrap(),
                seconds_used: 36_000,
                hourly_rate: 0.51,
                storage_seconds_used: 0,
                storage_monthly_rate: 5.0,
            }],
            t0(),
        )
        .await
        .unwrap();
    let feb = app
        .get("/v1/reports/utilization?month=2026-02")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        feb,
        json!({
            "month": "2026-02",
            "backend": "v1",
            "machines": [{
                "machine_id": "ps1", "hours_used": 10.0, "hourly_rate": 0.51,
                "storage_monthly_rate": 5.0, "cost": 5.1, "pulled_at": "2026-03-02T09:00:00Z",
                "source": "paperspace"
            }],
            "total_cost": 5.1
        })
    );
}

#[tokio::test]
async fn utilization_pull_makes_one_job_per_known_machine() {
    let app = start().await;
    let pull = |body: Value| app.post_json("/v1/reports/utilization/pull", body);

    let none = pull(json!({"month": "2026-02"})).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.body);
    assert!(none.message().contains("refresh"), "{}", none.message());
    for (body, status, field) in [
        (json!({"month": "2026-13"}), 400, "month"),
        (json!({"month": 202602}), 400, "month"),
        (json!({}), 400, "month"),
        (
            json!({"month": "2026-02", "machine_id": "ps1"}),
            400,
            "machine_id",
        ),
        (json!({"month": "2026-04"}), 422, "month"),
    ] {
        let a = pull(body.clone()).await;
        assert_eq!(a.status.as_u16(), status, "{body} → {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{body}");
    }
    assert_eq!(app.job_count().await, 0);

    // Three machines seen, then one of them gone.
    let machine = |id: &str| Machine::new(id, format!("m-{id}"), MachineState::Off);
    app.store()
        .see_machines(
            vec![machine("ps1"), machine("ps2"), machine("ps3")],
            true,
            t0(),
        )
        .await
        .unwrap();
    app.store()
        .see_machines(vec![machine("ps1"), machine("ps2")], true, t0())
        .await
        .unwrap();

    let pulled = pull(json!({"month": "2026-02"}))
        .await
        .expect(StatusCode::ACCEPTED);
    let ids: Vec<i64> = pulled["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let mut machines = Vec::new();
    let minute = t0().timestamp() / 60;
    for id in &ids {
        let job = app.store().job(*id).await.unwrap().unwrap();
        assert_eq!(job.kind.as_str(), "utilization");
        assert_eq!(job.args, json!({"month": "2026-02"}));
        let machine = job.machine_id.clone().unwrap();
        assert_eq!(
            job.idempotency_key.as_deref(),
            Some(format!("utilization:{machine}:2026-02:{minute}").as_str())
        );
        machines.push(machine);
    }
    machines.sort();
    assert_eq!(machines, ["ps1", "ps2"]);

    // A double click within the minute returns the same jobs.
    let again = pull(json!({"month": "2026-02"}))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(again["jobs"], pulled["jobs"]);
    assert_eq!(app.job_count().await, 2);
    // The current month may be pulled too; a minute later, anew.
    app.clock().advance(Duration::minutes(1));
    let current = pull(json!({"month": "2026-03"}))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(current["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(app.job_count().await, 4);
}

#[tokio::test]
async fn unknown_and_malformed_keys_unknown_routes_and_auth() {
    let app = start().await;
    for path in [
        "/v1/schedules/nope",
        "/v1/schedules/12345",
        "/v1/windows/nope",
        "/v1/windows/12345/overrides",
    ] {
        let a = app.get(path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.field().as_deref(), Some("key"), "{path}");
    }
    let named = app.get("/v1/schedules/nope").await;
    assert!(named.message().contains("`nope`"), "{}", named.message());
    for path in ["/v1/schedules/nope/pause", "/v1/windows/nope/resume"] {
        assert_eq!(app.post(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        app.delete("/v1/windows/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let long = "n".repeat(129);
    for key in ["0", "007", "-3", "%2B3", "a%0Ab", "%FF", long.as_str()] {
        for prefix in ["/v1/schedules/", "/v1/windows/"] {
            let a = app.get(&format!("{prefix}{key}")).await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{prefix}{key}: {}",
                a.body
            );
            assert_eq!(a.field().as_deref(), Some("key"), "{prefix}{key}");
        }
    }

    // Names may hold anything printable, `/` included (percent-encoded).
    let odd = with(&nightly(), "name", json!("team a/nightly?"));
    app.post_json("/v1/schedules", odd)
        .await
        .expect(StatusCode::CREATED);
    let shown = app
        .get("/v1/schedules/team%20a%2Fnightly%3F")
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["name"], "team a/nightly?");
    // A schedule may be called `preview`: POST there is the expression
    // preview, the other methods reach the schedule.
    let preview_named = with(&nightly(), "name", json!("preview"));
    assert_eq!(
        app.get("/v1/schedules/preview").await.status,
        StatusCode::NOT_FOUND
    );
    app.post_json("/v1/schedules", preview_named.clone())
        .await
        .expect(StatusCode::CREATED);
    let shown = app
        .get("/v1/schedules/preview")
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["name"], "preview");
    app.put_json("/v1/schedules/preview", preview_named)
        .await
        .expect(StatusCode::OK);
    app.post("/v1/schedules/preview/pause")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        app.delete("/v1/schedules/preview").await.status,
        StatusCode::NO_CONTENT
    );

    // Methods and routes that do not exist answer JSON.
    for (method, path, status) in [
        (reqwest::Method::DELETE, "/v1/schedules", 405),
        (reqwest::Method::GET, "/v1/schedules/x/pause", 405),
        (reqwest::Method::GET, "/v1/reports/utilization/pull", 405),
        (reqwest::Method::POST, "/v1/reports/savings", 405),
        (reqwest::Method::PUT, "/v1/windows/x/overrides", 405),
        (reqwest::Method::GET, "/v1/schedules/x/firings", 404),
        (reqwest::Method::GET, "/v1/reports", 404),
    ] {
        let a = app
            .send(app.http.request(method.clone(), app.at(path)))
            .await;
        assert_eq!(a.status.as_u16(), status, "{method} {path}: {}", a.body);
        a.error();
    }

    // Every route wants the token; nothing is written without it.
    let before = app.schedule_names().await;
    for (method, path, body) in [
        (reqwest::Method::GET, "/v1/schedules", None),
        (reqwest::Method::POST, "/v1/schedules", Some(nightly())),
        (
            reqwest::Method::POST,
            "/v1/schedules/preview",
            Some(json!({"cron": "* * * * *"})),
        ),
        (
            reqwest::Method::DELETE,
            "/v1/schedules/team%20a%2Fnightly%3F",
            None,
        ),
        (reqwest::Method::POST, "/v1/windows", Some(office("office"))),
        (reqwest::Method::GET, "/v1/windows/office/overrides", None),
        (
            reqwest::Method::GET,
            "/v1/reports/savings?month=2026-03",
            None,
        ),
        (
            reqwest::Method::POST,
            "/v1/reports/utilization/pull",
            Some(json!({"month": "2026-02"})),
        ),
    ] {
        let mut request = app.http.request(method.clone(), app.at(path));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let a = answer(request.bearer_auth("wrong").send().await.unwrap()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(a.error().0, "unauthorized");
    }
    assert_eq!(app.schedule_names().await, before);
    assert!(app.store().windows().await.unwrap().is_empty());
    assert_eq!(app.job_count().await, 0);
}

#[tokio::test]
async fn the_typed_client_round_trips() {
    use machinist::cli::admin_client::AdminClient;
    use machinist::http::PreviewRequest;
    use machinist::schedule::window::{OverrideMode, OverrideRequest};

    let app = start().await;
    let client = AdminClient::new(&app.url, Some(AdminToken::new(TOKEN).unwrap())).unwrap();
    let spec = serde_json::from_value(with(&nightly(), "name", json!("a/b"))).unwrap();
    let schedule = client.create_schedule(&spec).await.unwrap();
    assert_eq!(schedule.name, "a/b");
    let detail = client.schedule("a/b").await.unwrap();
    assert_eq!(detail.schedule, schedule);
    assert_eq!(detail.next_fire_times.len(), 5);
    assert_eq!(
        client.schedules(false).await.unwrap(),
        std::slice::from_ref(&schedule)
    );
    assert!(!client.pause_schedule("a/b").await.unwrap().enabled);
    assert!(client.resume_schedule("a/b").await.unwrap().enabled);
    assert_eq!(
        client.preview_schedule("a/b", Some(3)).await.unwrap().len(),
        3
    );
    let times = client
        .preview_expression(&PreviewRequest {
            cron: "0 9 * * MON-FRI".into(),
            timezone: Some("Europe/Amsterdam".into()),
            count: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(
        times[0].utc,
        "2026-03-03T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let renamed = serde_json::from_value(with(&nightly(), "cron", json!("0 20 * * *"))).unwrap();
    let updated = client.update_schedule("a/b", &renamed).await.unwrap();
    assert_eq!(
        (updated.id, updated.name.as_str()),
        (schedule.id, "nightly-stop")
    );
    client.delete_schedule("nightly-stop").await.unwrap();
    let e = client.schedule("nightly-stop").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.to_string(), "there is no schedule named `nightly-stop`");

    let request = serde_json::from_value(office("office")).unwrap();
    let window = client.create_window(&request).await.unwrap();
    assert_eq!(
        client.windows().await.unwrap(),
        std::slice::from_ref(&window)
    );
    let detail = client.window("office").await.unwrap();
    assert_eq!(detail.next_edges.len(), 6);
    assert_eq!(
        client.preview_window("office", None).await.unwrap().len(),
        10
    );
    assert!(!client.pause_window("office").await.unwrap().enabled);
    assert!(client.resume_window("office").await.unwrap().enabled);
    client.update_window("office", &request).await.unwrap();
    let o = client
        .add_override(
            "office",
            &OverrideRequest {
                machine_id: "ps1".into(),
                mode: OverrideMode::KeepOff,
                until: None,
                hours: Some(1.5),
                reason: None,
                allow_unknown: false,
            },
        )
        .await
        .unwrap();
    assert!(o.active);
    assert_eq!(
        client.overrides("office").await.unwrap(),
        std::slice::from_ref(&o)
    );
    client.delete_override("office", o.rule.id).await.unwrap();
    client.delete_window("office").await.unwrap();

    let month = "2026-03".parse().unwrap();
    assert_eq!(
        client.utilization_report(month).await.unwrap().total_cost,
        0.0
    );
    assert_eq!(client.savings_report(month).await.unwrap().total_saved, 0.0);
    let e = client.pull_utilization(month).await.unwrap_err();
    assert_eq!(e.code(), Some("conflict"));
}

// ---- the CLI against the router ----

#[tokio::test]
async fn cli_adds_lists_shows_and_reports_errors() {
    let app = start().await;

    let add = app
        .cli(&[
            "schedules",
            "add",
            "nightly-stop",
            "--cron",
            "0 19 * * MON-FRI",
            "--timezone",
            "Europe/Amsterdam",
            "--kind",
            "stop",
            "--machine",
            "ps1",
            "--machine",
            "ps2",
            "--calendar",
            "nl",
            "--exclude-date",
            "2026-04-27",
            "--jitter",
            "30",
            "--overlap",
            "queue",
            "--json",
        ])
        .await;
    assert_eq!(add.code, 0, "{}", add.stderr);
    let schedule: Value = serde_json::from_str(&add.stdout).unwrap();
    assert_eq!(schedule["name"], "nightly-stop");
    assert_eq!(schedule["targets"], json!({"machine_ids": ["ps1", "ps2"]}));
    assert_eq!(
        schedule["exclusions"],
        json!({"dates": ["2026-04-27"], "calendars": ["nl"]})
    );
    assert_eq!(schedule["overlap"], "queue");
    assert_eq!(schedule["next_fire_at"], "2026-03-02T18:00:00Z");

    let pull = app
        .cli(&[
            "schedules",
            "add",
            "monthly-pull",
            "--cron",
            "@monthly",
            "--kind",
            "utilization",
            "--arg",
            "month=previous",
            "--select",
            "name=gpu-*,state=off",
            "--misfire",
            "skip",
            "--paused",
        ])
        .await;
    assert_eq!(pull.code, 0, "{}", pull.stderr);
    assert!(pull.stdout.starts_with("schedule "), "{}", pull.stdout);
    assert!(pull.stdout.contains("paused"), "{}", pull.stdout);
    let stored = app.store().schedule("monthly-pull").await.unwrap().unwrap();
    assert_eq!(stored.template.args, json!({"month": "previous"}));
    assert_eq!(
        stored.targets.selector.unwrap().name.as_deref(),
        Some("gpu-*")
    );
    assert!(!stored.enabled);

    let list = app.cli(&["schedules", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", list.stdout);
    for column in ["ID", "NAME", "CRON", "ZONE", "KIND", "TARGETS", "NEXT"] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    assert!(lines[1].contains("monthly-pull") && lines[1].contains("paused"));
    assert!(
        lines[2].contains("nightly-stop") && lines[2].contains("2026-03-02 19:00 CET"),
        "{}",
        lines[2]
    );

    let show = app.cli(&["schedules", "show", "nightly-stop"]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("next fire times:"), "{}", show.stdout);
    assert!(
        show.stdout
            .contains("2026-03-02 19:00 CET  (2026-03-02T18:00:00Z)"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("calendars nl"), "{}", show.stdout);
    assert!(show.stdout.contains("no firings yet"), "{}", show.stdout);

    let preview = app
        .cli(&[
            "schedules",
            "preview",
            "--cron",
            "0 9 * * MON-FRI",
            "--timezone",
            "Europe/Amsterdam",
            "--count",
            "2",
        ])
        .await;
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert_eq!(
        preview.stdout.lines().next(),
        Some("2026-03-03 09:00 CET  (2026-03-03T08:00:00Z)")
    );

    let bad = app
        .cli(&[
            "schedules",
            "add",
            "bad",
            "--cron",
            "61 * * * *",
            "--kind",
            "stop",
            "--machine",
            "ps1",
        ])
        .await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.starts_with("error: "), "{}", bad.stderr);
    assert!(
        bad.stderr.trim().ends_with("(field: cron)"),
        "{}",
        bad.stderr
    );
    let usage = app
        .cli(&["schedules", "add", "x", "--cron", "* * * * *"])
        .await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let window = app
        .cli(&[
            "windows",
            "add",
            "office",
            "--days",
            "mon-fri",
            "--start",
            "09:00",
            "--end",
            "18:00",
            "--timezone",
            "Europe/Amsterdam",
            "--machine",
            "ps1",
            "--enforce",
            "--calendar",
            "nl",
        ])
        .await;
    assert_eq!(window.code, 0, "{}", window.stderr);
    assert!(
        window
            .stdout
            .contains("added: office (mon-fri 09:00–18:00 Europe/Amsterdam)"),
        "{}",
        window.stdout
    );
    assert!(
        window
            .stdout
            .contains("next stop   2026-03-02 18:00 CET  (2026-03-02T17:00:00Z)"),
        "{}",
        window.stdout
    );
    let stored = app.store().window("office").await.unwrap().unwrap();
    assert_eq!(stored.hours.days.len(), 5);
    assert!(stored.enforce);

    let over = app
        .cli(&[
            "windows",
            "override",
            "office",
            "ps1",
            "--keep-on",
            "--hours",
            "2",
            "--reason",
            "demo",
        ])
        .await;
    assert_eq!(over.code, 0, "{}", over.stderr);
    assert!(
        over.stdout
            .contains("ps1 keep_on until 2026-03-02T11:00:00Z"),
        "{}",
        over.stdout
    );
    let overs = app.cli(&["windows", "overrides", "office"]).await;
    assert_eq!(overs.code, 0, "{}", overs.stderr);
    assert!(overs.stdout.contains("keep_on") && overs.stdout.contains("demo"));
    let past = app
        .cli(&[
            "windows",
            "override",
            "office",
            "ps1",
            "--keep-off",
            "--until",
            "2026-03-01T00:00:00Z",
        ])
        .await;
    assert_eq!(past.code, 1);
    assert!(
        past.stderr.trim().ends_with("(field: until)"),
        "{}",
        past.stderr
    );

    let wshow = app.cli(&["windows", "show", "office"]).await;
    assert_eq!(wshow.code, 0, "{}", wshow.stderr);
    assert!(wshow.stdout.contains("next edges:"), "{}", wshow.stdout);
    assert!(
        wshow.stdout.contains("overrides in force:"),
        "{}",
        wshow.stdout
    );

    let report = app
        .cli(&["report", "utilization", "--month", "2026-03", "--pull"])
        .await;
    assert_eq!(report.code, 1);
    assert!(report.stderr.contains("refresh"), "{}", report.stderr);
    let savings = app.cli(&["report", "savings", "--month", "2026-03"]).await;
    assert_eq!(savings.code, 0, "{}", savings.stderr);
    assert!(savings.stdout.contains("no stops"), "{}", savings.stdout);

    let rm = app.cli(&["schedules", "rm", "nightly-stop"]).await;
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    let gone = app.cli(&["schedules", "show", "nightly-stop"]).await;
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.stderr.trim(),
        "error: there is no schedule named `nightly-stop`"
    );
}
