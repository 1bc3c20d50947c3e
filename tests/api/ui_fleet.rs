//! The dashboard's fleet page (`/ui/`) and health page (`/ui/health`) over
//! plain HTTP: what a machine's row shows, that names are escaped, that the
//! start, stop and keep-on buttons do what the API routes do (and nothing
//! for a viewer or a post without its CSRF token), and the queue counts of
//! the health page.
//!
//! The router runs without workers ([`Run::Router`]): a submitted job stays
//! queued, where the test finds it.

use chrono::Utc;
use machinist::machine::{Machine, MachineRate, MachineState};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::dashboard::Page;
use crate::harness::{AppOptions, Run, TestApp, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";
const EVIL: &str = "<script>alert(1)</script>";

fn options() -> AppOptions {
    AppOptions {
        viewer_token: Some(VIEWER),
        run: Run::Router,
        ..AppOptions::default()
    }
}

/// An app that has seen `gpu-box` (ps1, ready, A4000 at $0.76/h), a machine
/// named like a script (ps2, off) and `old-box` (ps3), which a later full
/// listing no longer had: gone.
async fn fleet_app() -> TestApp {
    let app = spawn_app(options()).await;
    let mut gpu = Machine::new("ps1", "gpu-box", MachineState::Ready);
    gpu.machine_type = Some("A4000".into());
    gpu.region = Some("East Coast (NY2)".into());
    gpu.rate = Some(MachineRate {
        usage: 0.76,
        storage: 5.0,
    });
    let evil = Machine::new("ps2", EVIL, MachineState::Off);
    let old = Machine::new("ps3", "old-box", MachineState::Off);
    let store = app.store();
    let now = Utc::now();
    store
        .see_machines(vec![gpu.clone(), evil.clone(), old], false, now)
        .await
        .unwrap();
    store
        .see_machines(vec![gpu, evil], true, now)
        .await
        .unwrap();
    app
}

/// The `<tr data-machine-id="ID">…</tr>` of `id` in the fleet's HTML.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("<tr data-machine-id=\"{id}\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no row of {id} in {html}"));
    let end = html[at..].find("</tr>").expect("the row ends") + at;
    &html[at..end]
}

/// An office window over `ids`, open every day; its id.
async fn window(app: &TestApp, name: &str, ids: &[&str]) -> i64 {
    let (status, window) = app
        .post(
            "/v1/windows",
            json!({"name": name, "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                   "start": "09:00", "end": "18:00", "zone": "UTC"},
                   "targets": {"machine_ids": ids}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{window}");
    window["id"].as_i64().unwrap()
}

async fn overrides(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, list) = app.get(&format!("/v1/windows/{key}/overrides")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["overrides"].as_array().unwrap().clone()
}

async fn jobs(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get("/v1/jobs").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["jobs"].as_array().unwrap().clone()
}

/// The job id a redirect to `/ui/jobs/{id}?notice=…` names.
fn job_of(page: &Page) -> i64 {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = page.location().expect("a redirect");
    let rest = to
        .strip_prefix("/ui/jobs/")
        .unwrap_or_else(|| panic!("not to a job page: {to}"));
    assert!(rest.contains("?notice="), "{to}");
    rest.split('?').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_fleet_lists_every_machine_with_its_state_and_escapes_names() {
    let app = fleet_app().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/").await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains("<table id=\"machines\">"), "{html}");

    let gpu = row(html, "ps1");
    assert!(
        gpu.contains("gpu-box") && gpu.contains("state-ready"),
        "{gpu}"
    );
    assert!(
        gpu.contains("A4000") && gpu.contains("East Coast (NY2)"),
        "{gpu}"
    );
    assert!(gpu.contains("$0.76"), "the hourly rate: {gpu}");
    assert!(gpu.contains("action=\"/ui/machines/ps1/start\""), "{gpu}");
    assert!(gpu.contains("action=\"/ui/machines/ps1/stop\""), "{gpu}");
    assert!(
        gpu.contains("data-confirm=\"Stop machine gpu-box?\""),
        "{gpu}"
    );
    assert!(gpu.contains("none scheduled"), "{gpu}");

    // The name is text, in the cell and in the confirmation alike.
    let evil = row(html, "ps2");
    assert!(evil.contains("state-off"), "{evil}");
    assert!(
        evil.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{evil}"
    );
    assert!(
        evil.contains("data-confirm=\"Stop machine &lt;script&gt;alert(1)&lt;/script&gt;?\""),
        "{evil}"
    );
    assert!(!html.contains(EVIL), "a name must never become markup");

    // The summary: one of two known machines is not off.
    assert!(html.contains("id=\"card-running\""), "{html}");
    assert!(html.contains("Machines not off"), "{html}");

    // Gone machines only when asked for.
    assert!(!html.contains("data-machine-id=\"ps3\""), "{html}");
    assert!(html.contains("href=\"/ui/?gone=1\""), "{html}");
    let all = ui.get("/ui/?gone=1").await;
    let old = row(all.expect(StatusCode::OK), "ps3");
    assert!(
        old.contains("state-gone") && old.contains("old-box"),
        "{old}"
    );
    assert!(
        !old.contains("/start"),
        "no buttons on a gone machine: {old}"
    );
}

#[tokio::test]
async fn start_and_stop_submit_a_job_and_lead_to_its_page() {
    let app = fleet_app().await;
    let ui = app.ui_sign_in(ADMIN).await;

    let stopped = ui.post("/ui/machines/ps1/stop", &[]).await;
    let stop_id = job_of(&stopped);
    assert!(
        stopped.location().unwrap().contains("gpu-box"),
        "the notice names the machine: {:?}",
        stopped.location()
    );
    let job = app.job(stop_id).await;
    assert_eq!(job["kind"], "stop");
    assert_eq!(job["machine_id"], "ps1");
    assert_eq!(job["state"], "queued");

    let started = ui.post("/ui/machines/ps2/start", &[]).await;
    let start_id = job_of(&started);
    assert_ne!(start_id, stop_id);
    let job = app.job(start_id).await;
    assert_eq!(job["kind"], "start");
    assert_eq!(job["machine_id"], "ps2");
    // Exactly as POST /v1/jobs: the defaults fill the rest in.
    let api = app
        .submit(json!({"kind": "start", "machine_id": "ps2"}))
        .await;
    for field in ["max_attempts", "priority", "wait", "wait_timeout_seconds"] {
        assert_eq!(job[field], api[field], "{field}");
    }

    // The notice shows on the page it leads to, signed: a forged one does not.
    let to = started
        .location()
        .unwrap()
        .replace(&format!("/ui/jobs/{start_id}"), "/ui/");
    let page = ui.get(&to).await;
    assert!(
        page.expect(StatusCode::OK).contains(&format!(
            "Start of &lt;script&gt;alert(1)&lt;/script&gt; submitted as job {start_id}."
        )),
        "{}",
        page.body
    );
    let forged = ui.get("/ui/?notice=pwned&sig=AAAA").await;
    assert!(!forged.expect(StatusCode::OK).contains("pwned"));

    // A machine id that is no id is refused like the API refuses it.
    let bad = ui.post("/ui/machines/a%20b/stop", &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(jobs(&app).await.len(), 3);
}

#[tokio::test]
async fn keep_on_adds_an_override_of_a_window_that_covers_the_machine() {
    let app = fleet_app().await;
    let office = window(&app, "office", &["ps1"]).await;
    let ui = app.ui_sign_in(ADMIN).await;

    let page = ui.get("/ui/").await;
    let html = page.expect(StatusCode::OK);
    let gpu = row(html, "ps1");
    assert!(gpu.contains("class=\"keep-on\""), "{gpu}");
    assert!(gpu.contains("action=\"/ui/machines/ps1/keep-on\""), "{gpu}");
    for input in ["name=\"window\"", "name=\"hours\"", "name=\"reason\""] {
        assert!(gpu.contains(input), "{input}: {gpu}");
    }
    assert!(
        gpu.contains(&format!(
            "<option value=\"{office}\">window office</option>"
        )),
        "{gpu}"
    );
    // Its next action is one of the window's edges.
    assert!(gpu.contains("window office"), "{gpu}");
    assert!(!gpu.contains("none scheduled"), "{gpu}");
    let evil = row(html, "ps2");
    assert!(!evil.contains("keep-on\""), "{evil}");
    assert!(evil.contains("No window covers it"), "{evil}");

    let kept = ui
        .post(
            "/ui/machines/ps1/keep-on",
            &[
                ("window", &office.to_string()),
                ("hours", "3"),
                ("reason", "training <run>"),
            ],
        )
        .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    let to = kept.location().unwrap().to_string();
    assert!(to.starts_with("/ui/?notice="), "{to}");

    let rules = overrides(&app, "office").await;
    assert_eq!(rules.len(), 1, "{rules:?}");
    let rule = &rules[0];
    assert_eq!(rule["machine_id"], "ps1");
    assert_eq!(rule["mode"], "keep_on");
    assert_eq!(rule["reason"], "training <run>");
    assert_eq!(rule["active"], true);
    let until: chrono::DateTime<Utc> = rule["until"].as_str().unwrap().parse().unwrap();
    let hours = (until - Utc::now()).num_minutes() as f64 / 60.0;
    assert!((2.9..=3.01).contains(&hours), "{hours}");

    // The fleet shows it, with its reason as text.
    let page = ui.get(&to).await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains("keeps running past window office"), "{html}");
    let gpu = row(html, "ps1");
    assert!(gpu.contains("state-keep-on"), "{gpu}");
    assert!(gpu.contains("training &lt;run&gt;"), "{gpu}");

    // The registry's checks hold: hours out of range, a window by name
    // that does not exist, a machine it does not know.
    let too_long = ui
        .post(
            "/ui/machines/ps1/keep-on",
            &[("window", "office"), ("hours", "1000")],
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.body.contains("744"), "{}", too_long.body);
    let nowhere = ui
        .post(
            "/ui/machines/ps1/keep-on",
            &[("window", "nowhere"), ("hours", "2")],
        )
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "{}", nowhere.body);
    let not_a_number = ui
        .post(
            "/ui/machines/ps1/keep-on",
            &[("window", "office"), ("hours", "soon")],
        )
        .await;
    assert_eq!(not_a_number.status, StatusCode::BAD_REQUEST);
    let unknown = ui
        .post(
            "/ui/machines/ps99/keep-on",
            &[("window", "office"), ("hours", "2")],
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );
    assert_eq!(overrides(&app, "office").await.len(), 1);
}

#[tokio::test]
async fn a_viewer_and_a_post_without_its_csrf_token_change_nothing() {
    let app = fleet_app().await;
    let office = window(&app, "office", &["ps1"]).await.to_string();

    let viewer = app.ui_sign_in(VIEWER).await;
    let page = viewer.get("/ui/").await;
    let gpu = row(page.expect(StatusCode::OK), "ps1");
    assert!(
        gpu.contains("disabled"),
        "a viewer's buttons are greyed: {gpu}"
    );
    for (path, fields) in [
        ("/ui/machines/ps1/stop", vec![]),
        ("/ui/machines/ps1/start", vec![]),
        (
            "/ui/machines/ps1/keep-on",
            vec![("window", office.as_str()), ("hours", "2")],
        ),
    ] {
        let refused = viewer.post(path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("viewer token"), "{}", refused.body);
    }

    let admin = app.ui_sign_in(ADMIN).await;
    for (path, fields) in [
        ("/ui/machines/ps1/stop", vec![]),
        (
            "/ui/machines/ps1/keep-on",
            vec![("window", office.as_str()), ("hours", "2")],
        ),
    ] {
        let refused = admin.post_raw(path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        let mut foreign = vec![("csrf", "not-the-token")];
        foreign.extend(fields.iter().copied());
        let refused = admin.post_raw(path, &foreign).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }

    assert!(jobs(&app).await.is_empty(), "no job was submitted");
    assert!(
        overrides(&app, "office").await.is_empty(),
        "no override was added"
    );
}

#[tokio::test]
async fn the_health_page_shows_the_queue_and_readiness() {
    let app = fleet_app().await;
    for id in ["ps1", "ps2"] {
        app.submit(json!({"kind": "stop", "machine_id": id})).await;
    }
    let ui = app.ui_sign_in(VIEWER).await;
    let page = ui.get("/ui/health").await;
    let html = page.expect(StatusCode::OK);
    assert!(
        html.contains("data-refresh=\"/ui/health?part=live\""),
        "{html}"
    );
    let queue = &html[html.find("<table id=\"queue\">").expect("the queue table")..];
    let queued = &queue[queue.find("data-state=\"queued\"").unwrap()..];
    let queued = &queued[..queued.find("</tr>").unwrap()];
    assert!(queued.contains("<td class=\"num\">2</td>"), "{queued}");
    let failed = &queue[queue.find("data-state=\"failed\"").unwrap()..];
    let failed = &failed[..failed.find("</tr>").unwrap()];
    assert!(failed.contains("<td class=\"num\">0</td>"), "{failed}");
    // No Paperspace client and no job has reached it: not ready, as
    // /readyz says, naming the check.
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains("Not ready"), "{html}");
    assert!(html.contains("(paperspace)"), "{html}");
    let message = ready["error"]["message"].as_str().unwrap();
    assert!(html.contains(message), "{message} in {html}");
    assert!(html.contains("no rate-limited Paperspace client"), "{html}");
    assert!(html.contains("No deliveries yet."), "{html}");

    // The live part alone, for the refresh.
    let live = ui.get("/ui/health?part=live").await;
    let part = live.expect(StatusCode::OK);
    assert!(part.starts_with("<div id=\"health-live\""), "{part}");
    assert!(!part.contains("<html"), "{part}");
}

#[tokio::test]
async fn a_thousand_machines_are_paged_and_found_by_the_filter() {
    let app = spawn_app(options()).await;
    let machines: Vec<Machine> = (0..1000)
        .map(|i| {
            let state = if i % 3 == 0 {
                MachineState::Ready
            } else {
                MachineState::Off
            };
            let name = if i % 2 == 0 { "gpu" } else { "cpu" };
            Machine::new(format!("ps{i:04}"), format!("{name}-{i:04}"), state)
        })
        .collect();
    app.store()
        .see_machines(machines, true, Utc::now())
        .await
        .unwrap();
    // A schedule by ids, a window by selector, an override on one machine.
    let ids: Vec<String> = (0..500).map(|i| format!("ps{i:04}")).collect();
    let (status, schedule) = app
        .post(
            "/v1/schedules",
            json!({"name": "nightly", "cron": "0 20 * * *", "timezone": "UTC",
                   "template": {"kind": "stop"}, "targets": {"machine_ids": ids}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
    let (status, window) = app
        .post(
            "/v1/windows",
            json!({"name": "gpus", "hours": {"days": ["mon", "tue", "wed", "thu", "fri"],
                   "start": "08:00", "end": "19:00", "zone": "UTC"},
                   "targets": {"selector": {"name": "gpu-*"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{window}");
    let (status, rule) = app
        .post(
            "/v1/windows/gpus/overrides",
            json!({"machine_id": "ps0998", "mode": "keep_off", "hours": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");

    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/").await;
    let html = page.expect(StatusCode::OK);
    // A page of 200 rows, and the way to the others; the cards count all.
    assert_eq!(html.matches("<tr data-machine-id=").count(), 200);
    assert!(html.contains("Machines 1–200 of 1000"), "{html}");
    assert!(html.contains("href=\"/ui/?page=2\""), "{html}");
    let last = ui.get("/ui/?page=5").await;
    let last = last.expect(StatusCode::OK);
    assert_eq!(last.matches("<tr data-machine-id=").count(), 200);
    assert!(last.contains("Machines 801–1000 of 1000"), "{last}");
    assert!(!last.contains("rel=\"next\""), "{last}");
    // Past the last page is the last page.
    assert!(
        ui.get("/ui/?page=99")
            .await
            .expect(StatusCode::OK)
            .contains("Machines 801–1000")
    );
    // The filter finds a machine by id or name, wherever its page.
    let one = ui.get("/ui/?q=PS0001").await;
    let one = one.expect(StatusCode::OK);
    assert_eq!(one.matches("<tr data-machine-id=").count(), 1);
    let by_id = row(one, "ps0001");
    assert!(by_id.contains("schedule nightly"), "{by_id}");
    let found = ui.get("/ui/?q=gpu-0998").await;
    let by_selector = row(found.expect(StatusCode::OK), "ps0998");
    assert!(by_selector.contains("state-keep-off"), "{by_selector}");
    assert!(by_selector.contains("class=\"keep-on\""), "{by_selector}");
    // A keep-on from a filtered page comes back to it.
    assert!(
        by_selector.contains("name=\"back\" value=\"/ui/?q=gpu-0998\""),
        "{by_selector}"
    );
    let found = ui.get("/ui/?q=ps0999").await;
    let neither = row(found.expect(StatusCode::OK), "ps0999");
    assert!(neither.contains("none scheduled"), "{neither}");
    assert!(neither.contains("No window covers it"), "{neither}");
    let none = ui.get("/ui/?q=%3Cscript%3E").await;
    let none = none.expect(StatusCode::OK);
    assert!(none.contains("No machine matches."), "{none}");
    assert!(
        none.contains("value=\"&lt;script&gt;\""),
        "the filter is shown escaped"
    );
    assert!(
        html.contains("<div class=\"big\">334</div>"),
        "334 of 1000 are ready"
    );
}

#[tokio::test]
async fn a_keep_on_sets_the_window_closing_aside_as_the_next_action() {
    // Monday 16:00 UTC: the office window (09:00–18:00) closes next.
    let monday: chrono::DateTime<Utc> = "2026-03-02T16:00:00Z".parse().unwrap();
    let app = spawn_app(AppOptions {
        clock: Some(monday),
        ..options()
    })
    .await;
    app.store()
        .see_machines(
            vec![Machine::new("ps1", "gpu-box", MachineState::Ready)],
            true,
            monday,
        )
        .await
        .unwrap();
    window(&app, "office", &["ps1"]).await;
    let ui = app.ui_sign_in(ADMIN).await;
    let before = ui.get("/ui/").await;
    let gpu = row(before.expect(StatusCode::OK), "ps1");
    assert!(gpu.contains("state-stop"), "{gpu}");
    assert!(gpu.contains("2026-03-02 18:00 UTC"), "{gpu}");

    let kept = ui
        .post(
            "/ui/machines/ps1/keep-on",
            &[("window", "office"), ("hours", "3")],
        )
        .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    let after = ui.get("/ui/").await;
    let gpu = row(after.expect(StatusCode::OK), "ps1");
    // Kept on past 18:00: what acts on it next is Tuesday's opening.
    assert!(gpu.contains("state-start"), "{gpu}");
    assert!(gpu.contains("2026-03-03 09:00 UTC"), "{gpu}");
    assert!(gpu.contains("until <time"), "{gpu}");
    assert!(gpu.contains("2026-03-02 19:00 UTC"), "{gpu}");
}
