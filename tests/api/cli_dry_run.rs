//! Issue 18, items 10, 11, 12 and 8: `--dry-run` (`?dry_run=true`) checks
//! a request as the real one and writes nothing; `windows add --enforce`
//! says what enforcement is about to stop; an explicit machine id the last
//! listing lacks is asked of Paperspace; a typo in `--wait-for` is a usage
//! error with a suggestion. The real binary against a daemon in this
//! process; "nothing written" is checked on a dump of every table.

use chrono::{Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{AppOptions, TestApp, spawn_app};

/// Every row of every table of the app's database, as text, table by table.
fn dump(app: &TestApp) -> Vec<(String, Vec<String>)> {
    let db = rusqlite::Connection::open_with_flags(
        app.store().path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|table| {
            let mut statement = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = statement.column_count();
            let mut rows: Vec<String> = statement
                .query_map([], |r| {
                    let cells: Vec<String> = (0..columns)
                        .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                        .collect();
                    Ok(cells.join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort();
            (table, rows)
        })
        .collect()
}

/// Fails naming the tables whose rows changed.
fn assert_unchanged(before: &[(String, Vec<String>)], after: &[(String, Vec<String>)]) {
    let changed: Vec<&str> = before
        .iter()
        .zip(after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0.as_str())
        .collect();
    assert_eq!(before.len(), after.len(), "tables came or went");
    assert!(changed.is_empty(), "a dry run changed {changed:?}");
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

/// Window hours that do not hold now: every day, an hour that begins two
/// hours from now (UTC).
fn closed_hours() -> (String, String) {
    let hour = Utc::now().hour();
    (
        format!("{:02}:00", (hour + 2) % 24),
        format!("{:02}:00", (hour + 3) % 24),
    )
}

fn window_body(name: &str, ids: &[String], enforce: bool) -> Value {
    let (start, end) = closed_hours();
    json!({"name": name, "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
           "start": start, "end": end, "zone": "UTC"},
           "targets": {"machine_ids": ids}, "enforce": enforce})
}

async fn put(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let mut req = app.http.put(app.at(path)).json(&body);
    if let Some(token) = app.token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Fails unless a command exited 0, with what it printed.
fn ok(code: i32, stdout: &str, stderr: &str, what: &str) {
    assert_eq!(code, 0, "{what}\nstdout: {stdout}\nstderr: {stderr}");
}

fn ids_of(stops: &Value) -> Vec<String> {
    let mut ids: Vec<String> = stops
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["machine_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn dry_runs_show_what_would_be_made_and_leave_every_table_unchanged() {
    let (app, running) = two_running().await;
    let (start, end) = closed_hours();
    // Something to replace and to override.
    let (status, body) = app
        .post("/v1/windows", window_body("office", &running, false))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/schedules",
            json!({"name": "nightly", "cron": "0 19 * * *", "timezone": "UTC",
                   "template": {"kind": "stop"}, "targets": {"machine_ids": [running[0]]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = dump(&app);

    let job = app
        .cli(&["jobs", "submit", "stop", &running[0], "--dry-run"])
        .await;
    ok(job.code, &job.stdout, &job.stderr, "jobs submit --dry-run");
    assert!(
        job.stdout
            .starts_with(&format!("dry run: would submit stop {}\n", running[0])),
        "{}",
        job.stdout
    );
    assert!(
        job.stdout.contains("nothing was submitted"),
        "{}",
        job.stdout
    );

    let schedule = app
        .cli(&[
            "schedules",
            "add",
            "morning",
            "--cron",
            "0 9 * * MON-FRI",
            "--timezone",
            "UTC",
            "--kind",
            "start",
            "--machine",
            &running[1],
            "--dry-run",
        ])
        .await;
    ok(
        schedule.code,
        &schedule.stdout,
        &schedule.stderr,
        "schedules add --dry-run",
    );
    assert!(
        schedule
            .stdout
            .starts_with("dry run: would create schedule morning (0 9 * * MON-FRI in UTC)"),
        "{}",
        schedule.stdout
    );
    assert_eq!(
        schedule.stdout.matches("\nnext: ").count(),
        5,
        "{}",
        schedule.stdout
    );

    let window = app
        .cli(&[
            "windows",
            "add",
            "late",
            "--days",
            "all",
            "--start",
            &start,
            "--end",
            &end,
            "--timezone",
            "UTC",
            "--machine",
            &running[0],
            "--machine",
            &running[1],
            "--enforce",
            "--dry-run",
        ])
        .await;
    ok(
        window.code,
        &window.stdout,
        &window.stderr,
        "windows add --dry-run",
    );
    assert!(
        window
            .stdout
            .starts_with("dry run: would create window late ("),
        "{}",
        window.stdout
    );
    let stop_line = window
        .stdout
        .lines()
        .find(|l| l.starts_with("would stop now: "))
        .unwrap_or_else(|| panic!("{}", window.stdout));
    for id in &running {
        assert!(stop_line.contains(id.as_str()), "{stop_line}");
    }

    let json_out = app
        .cli(&[
            "windows",
            "add",
            "quiet",
            "--days",
            "all",
            "--start",
            &start,
            "--end",
            &end,
            "--timezone",
            "UTC",
            "--machine",
            &running[0],
            "--dry-run",
            "--json",
        ])
        .await;
    ok(
        json_out.code,
        &json_out.stdout,
        &json_out.stderr,
        "windows add --dry-run --json",
    );
    let answer: Value = serde_json::from_str(&json_out.stdout).unwrap();
    assert_eq!(answer["dry_run"], true);
    assert_eq!(answer["window"]["id"], Value::Null, "{answer}");
    assert_eq!(answer["window"]["name"], "quiet");
    // Without enforcement, nothing is stopped.
    assert_eq!(answer["would_stop"], json!([]));

    let over = app
        .cli(&[
            "windows",
            "override",
            "office",
            &running[0],
            "--keep-on",
            "--hours",
            "2",
            "--dry-run",
        ])
        .await;
    ok(
        over.code,
        &over.stdout,
        &over.stderr,
        "windows override --dry-run",
    );
    assert!(
        over.stdout.starts_with(&format!(
            "dry run: would add an override to window office: {} keep_on until ",
            running[0]
        )),
        "{}",
        over.stdout
    );

    // Over HTTP: the replaces too, with the object as it would be stored.
    let (status, body) = put(
        &app,
        "/v1/windows/office?dry_run=true",
        window_body("office", &running, true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids_of(&body["would_stop"]), {
        let mut r = running.clone();
        r.sort();
        r
    });
    assert!(
        body["window"]["id"].is_i64(),
        "a replace keeps its id: {body}"
    );
    assert_eq!(body["window"]["enforce"], true);
    assert_eq!(body["next_edges"].as_array().unwrap().len(), 5, "{body}");
    let (status, body) = put(
        &app,
        "/v1/schedules/nightly?dry_run=true",
        json!({"name": "nightly", "cron": "0 20 * * *", "timezone": "UTC",
               "template": {"kind": "stop"}, "targets": {"machine_ids": [running[0]]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["schedule"]["cron"], "0 20 * * *", "{body}");
    let (status, body) = app
        .post(
            "/v1/jobs?dry_run=true",
            json!({"kind": "start", "machine_id": running[0], "priority": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["job"]["id"], Value::Null);
    assert_eq!(body["job"]["priority"], 7);
    assert_eq!(body["job"]["state"], "queued");
    let (status, body) = app
        .post(
            "/v1/windows/office/overrides?dry_run=true",
            json!({"machine_id": running[0], "mode": "keep_on", "hours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["override"]["active"], true, "{body}");

    assert_unchanged(&before, &dump(&app));
}

#[tokio::test]
async fn an_override_keeping_a_machine_on_leaves_it_out_of_would_stop() {
    let (app, running) = two_running().await;
    let (status, body) = app
        .post("/v1/windows", window_body("office", &running, false))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/windows/office/overrides",
            json!({"machine_id": running[0], "mode": "keep_on", "hours": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = put(
        &app,
        "/v1/windows/office?dry_run=true",
        window_body("office", &running, true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids_of(&body["would_stop"]), vec![running[1].clone()]);
    let reason = body["would_stop"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("while window office is closed"), "{reason}");
}

#[tokio::test]
async fn windows_add_enforce_without_a_terminal_names_what_it_stops_and_goes_ahead() {
    let (app, running) = two_running().await;
    let (start, end) = closed_hours();
    let out = app
        .cli(&[
            "windows",
            "add",
            "office",
            "--days",
            "all",
            "--start",
            &start,
            "--end",
            &end,
            "--timezone",
            "UTC",
            "--machine",
            &running[0],
            "--machine",
            &running[1],
            "--enforce",
        ])
        .await;
    ok(out.code, &out.stdout, &out.stderr, "windows add --enforce");
    let notice = out.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        notice.starts_with("enforcement will stop 2 running machines now: "),
        "{}",
        out.stdout
    );
    for id in &running {
        assert!(notice.contains(id.as_str()), "{notice}");
    }
    assert!(
        out.stdout.contains("window 1 added: office"),
        "{}",
        out.stdout
    );
    // Nothing asked: standard input is not a terminal.
    assert!(!out.stderr.contains("[y/N]"), "{}", out.stderr);

    // A window that would stop nothing says nothing of it.
    let quiet = app
        .cli(&[
            "windows",
            "add",
            "other",
            "--days",
            "all",
            "--start",
            &start,
            "--end",
            &end,
            "--timezone",
            "UTC",
            "--machine",
            "psnone1",
            "--allow-unknown",
            "--enforce",
        ])
        .await;
    ok(
        quiet.code,
        &quiet.stdout,
        &quiet.stderr,
        "windows add --enforce, nothing to stop",
    );
    assert!(
        !quiet.stdout.contains("enforcement will stop"),
        "{}",
        quiet.stdout
    );
}

#[tokio::test]
async fn a_dry_run_is_refused_as_the_real_request_is() {
    let app = spawn_app(AppOptions::default()).await;
    // The CLI: the same error line, exit 1, for the real submit and the dry run.
    let bad = ["jobs", "submit", "start", "ps 1"];
    let real = app.cli_fails(&bad, 1).await;
    let mut dry_args = bad.to_vec();
    dry_args.push("--dry-run");
    let dry = app.cli_fails(&dry_args, 1).await;
    assert_eq!(dry, real);
    assert!(dry.contains("(field: machine_id)"), "{dry}");

    // HTTP: the same status and body, for each route.
    let window = json!({"name": "w", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00",
                        "zone": "Mars/Olympus"}, "targets": {"machine_ids": ["ps1"]}});
    for (path, body) in [
        ("/v1/windows", window.clone()),
        (
            "/v1/schedules",
            json!({"name": "s", "cron": "61 * * * *", "template": {"kind": "refresh"}}),
        ),
        ("/v1/jobs", json!({"kind": "start"})),
    ] {
        let real = app.post(path, body.clone()).await;
        let dry = app.post(&format!("{path}?dry_run=true"), body).await;
        assert_eq!(
            real.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            real.1
        );
        assert_eq!(dry, real, "{path}");
    }
    // A name taken is a 409 in a dry run too.
    let (status, body) = app
        .post(
            "/v1/schedules",
            json!({"name": "taken", "cron": "0 9 * * *", "template": {"kind": "refresh"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post(
            "/v1/windows?dry_run=true",
            json!({"name": "taken", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00",
                   "zone": "UTC"}, "targets": {"machine_ids": ["ps1"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // `dry_run` is true or false, nothing else.
    let (status, body) = app
        .post("/v1/jobs?dry_run=maybe", json!({"kind": "refresh"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "dry_run");
    let (status, body) = app
        .post("/v1/jobs?dry_run=false", json!({"kind": "refresh"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "dry_run=false submits: {body}");
}

#[tokio::test]
async fn a_typo_in_wait_for_is_a_usage_error_with_a_suggestion() {
    let app = spawn_app(AppOptions::default()).await;
    let stderr = app
        .cli_fails(
            &["jobs", "submit", "start", "ps123abc", "--wait-for", "redy"],
            2,
        )
        .await;
    assert!(stderr.contains("did you mean `ready`?"), "{stderr}");
    assert_eq!(app.job_count().await, 0);
}

#[tokio::test]
async fn a_machine_paperspace_knows_but_the_listing_lacks_is_accepted() {
    let app = spawn_app(AppOptions::default()).await;
    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded", "{refresh:#}");
    // Created at Paperspace after the daemon's listing.
    let created = Utc::now() - chrono::Duration::hours(1);
    let fresh = app.sim.sim.seed_machine("fresh", "C5", created).unwrap();
    let (_, machines) = app.get("/v1/machines").await;
    assert!(
        !machines.to_string().contains(&fresh),
        "listed already: {machines}"
    );

    let schedule = json!({"name": "s", "cron": "0 19 * * *", "timezone": "UTC",
                          "template": {"kind": "stop"}, "targets": {"machine_ids": [fresh]}});
    // A dry run accepts it too, and records nothing of it.
    let (status, body) = app
        .post("/v1/schedules?dry_run=true", schedule.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, shown) = app.get(&format!("/v1/machines/{fresh}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{shown}");

    let (status, body) = app.post("/v1/schedules", schedule).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Seen now: the show call is recorded like a listing's sight.
    let (status, shown) = app.get(&format!("/v1/machines/{fresh}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");

    // An id Paperspace does not know is still refused, with the hint.
    let (status, body) = app
        .post(
            "/v1/windows",
            json!({"name": "w", "hours": {"days": ["mon"], "start": "09:00", "end": "18:00",
                   "zone": "UTC"}, "targets": {"machine_ids": ["psnotthere"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("nor at Paperspace"), "{message}");
    assert!(
        message.contains("machinist jobs submit refresh"),
        "{message}"
    );
}

#[tokio::test]
async fn several_bad_fields_are_named_at_once_one_line_each() {
    let app = spawn_app(AppOptions::default()).await;
    let args = [
        "jobs",
        "submit",
        "create",
        "--arg",
        "name=",
        "--arg",
        "region=Europe (AMS1)",
        "--arg",
        "machine_type=",
        "--arg",
        "disk_size_gb=0",
        "--arg",
        "template_id=t1",
        "--priority",
        "5000",
    ];
    let stderr = app.cli_fails(&args, 1).await;
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "error: must not be empty (field: args.name)",
            "error: must not be empty (field: args.machine_type)",
            "error: must be between 1 and 16384 (GB) (field: args.disk_size_gb)",
            "error: must be between -1000 and 1000 (field: priority)",
        ],
        "{stderr}"
    );
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    assert_eq!(app.cli_fails(&dry, 1).await, stderr);

    // Over HTTP: one 422, `field` joining the fields with commas.
    let (status, body) = app
        .post(
            "/v1/jobs",
            json!({"kind": "create", "priority": 5000, "args": {"name": "", "region": "r",
                   "machine_type": "", "disk_size_gb": 0, "template_id": "t1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["field"],
        "args.name,args.machine_type,args.disk_size_gb,priority"
    );
    assert_eq!(app.job_count().await, 0);
}
