//! The dashboard in a real browser: headless Chromium over WebDriver
//! against the real daemon on port 0 with the simulated account. What a
//! user does, clicked: sign in, the fleet, jobs, a retry and a cancel,
//! schedules paused and resumed, a keep-on override, the CSV, sign out;
//! a viewer who may look and not act; a post without the CSRF token; a
//! name with `<script>` in it. Screenshots of each page at desktop and
//! phone widths land in `target/ui-screenshots/`.

use fantoccini::Locator;
use machinist::paperspace::Backend;
use machinist::sim::{FaultKind, OneShotFault};
use serde_json::json;

use crate::harness::browser::Browser;
use crate::harness::{AppOptions, TestApp, fault_route, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

/// The daemon with both tokens, its machines known (a refresh ran), one of
/// them renamed to a script tag.
async fn app_with_fleet() -> (TestApp, String) {
    let app = spawn_app(AppOptions {
        viewer_token: Some(VIEWER),
        // The current API, whose machines carry their hourly price.
        backend: Backend::V1,
        ..AppOptions::default()
    })
    .await;
    let off = app.machines_in("off").await;
    let target = off[0].clone();
    let renamed = app
        .run(json!({"kind": "update", "machine_id": target, "args": {"name": "<script>alert(1)</script>"}}))
        .await;
    assert_eq!(renamed["state"], "succeeded", "{renamed}");
    let refreshed = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refreshed["state"], "succeeded", "{refreshed}");
    (app, target)
}

#[tokio::test]
async fn sign_in_see_the_fleet_escaped_and_sign_out() {
    let (app, renamed) = app_with_fleet().await;
    let browser = Browser::start(&app.url).await;
    // Without a session, a page sends the browser to the login page.
    browser.open("/ui/").await;
    assert!(browser.path().await.starts_with("/ui/login"));
    browser.screenshots("login").await;
    browser.sign_in(ADMIN).await;
    assert_eq!(browser.path().await, "/ui/");
    let row = browser
        .text(&format!("#machines tr[data-machine-id='{renamed}']"))
        .await;
    // The name is text on the page, not a script that ran.
    assert!(row.contains("<script>alert(1)</script>"), "{row}");
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no script ran"
    );
    let scripts = browser
        .run("return document.querySelectorAll('main script').length")
        .await;
    assert_eq!(scripts, json!(0));
    browser.screenshots("fleet").await;
    browser.click("form[action='/ui/logout'] button").await;
    browser.wait_for_path(|p| p.starts_with("/ui/login")).await;
    // Signed out: the fleet is out of reach again.
    browser.open("/ui/").await;
    assert!(browser.path().await.starts_with("/ui/login"));
    browser.quit().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused() {
    let (app, target) = app_with_fleet().await;
    let browser = Browser::start(&app.url).await;
    browser.sign_in(ADMIN).await;
    // The page's own script context, with the session cookie, but without
    // the token: what a forged form would send.
    let status = browser
        .run(&format!(
            "return fetch('/ui/machines/{target}/start', {{method: 'POST', \
             headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: ''}}).then(r => r.status)"
        ))
        .await;
    assert_eq!(status, json!(403));
    let (_, jobs) = app.get("/v1/jobs?kind=start").await;
    assert_eq!(jobs["jobs"], json!([]), "nothing was queued");
    browser.quit().await;
}

#[tokio::test]
async fn a_viewer_sees_the_fleet_and_can_do_nothing() {
    let (app, target) = app_with_fleet().await;
    let browser = Browser::start(&app.url).await;
    browser.sign_in(VIEWER).await;
    let who = browser.text(".who").await;
    assert!(who.contains("read only"), "{who}");
    browser
        .text(&format!("#machines tr[data-machine-id='{target}']"))
        .await;
    // Every acting button on the page is disabled.
    let enabled = browser
        .run(
            "return [...document.querySelectorAll('main form[method=post] button[type=submit]')]\
             .filter(b => !b.disabled).length",
        )
        .await;
    assert_eq!(enabled, json!(0));
    // A post with the viewer's own CSRF token is still refused.
    let status = browser
        .run(&format!(
            "const csrf = document.querySelector('meta[name=csrf-token]').content; \
             return fetch('/ui/machines/{target}/start', {{method: 'POST', \
             headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, \
             body: 'csrf=' + encodeURIComponent(csrf)}}).then(r => r.status)"
        ))
        .await;
    assert_eq!(status, json!(403));
    let (_, jobs) = app.get("/v1/jobs?kind=start").await;
    assert_eq!(jobs["jobs"], json!([]), "nothing was queued");
    browser.quit().await;
}

/// A failed start job (Paperspace refused it once) and a job queued for an
/// hour; their ids.
async fn failed_and_queued(app: &TestApp, machine: &str) -> (i64, i64) {
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 400 },
        route: Some(fault_route(app.backend, "start")),
        count: 1,
        after_apply: false,
    });
    let failed = app
        .run(json!({"kind": "start", "machine_id": machine, "max_attempts": 1}))
        .await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let queued = app
        .submit(json!({"kind": "refresh", "delay_seconds": 3600}))
        .await;
    (
        failed["id"].as_i64().unwrap(),
        queued["id"].as_i64().unwrap(),
    )
}

/// The walk through the dashboard, clicked: sign in, the fleet,
/// jobs filtered, a failed job retried until it succeeds, a queued one
/// cancelled, a schedule paused and resumed, a keep-on override from the
/// fleet, the CSV, health, sign out; a screenshot of every page.
#[tokio::test]
async fn an_admin_walks_through_every_page() {
    let (app, renamed) = app_with_fleet().await;
    let (status, window) = app
        .post(
            "/v1/windows",
            json!({"name": "office",
                   "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                             "start": "09:00", "end": "18:00", "zone": "UTC"},
                   "targets": {"machine_ids": [renamed]}}),
        )
        .await;
    assert!(status.is_success(), "{window}");
    let (status, schedule) = app
        .post(
            "/v1/schedules",
            json!({"name": "nightly-stop", "cron": "0 20 * * *", "timezone": "Europe/Amsterdam",
                   "template": {"kind": "stop"}, "targets": {"machine_ids": [renamed]}}),
        )
        .await;
    assert!(status.is_success(), "{schedule}");
    let schedule_id = schedule["id"].as_i64().unwrap();
    let (failed, queued) = failed_and_queued(&app, &renamed).await;

    let browser = Browser::start(&app.url).await;
    browser.sign_in(ADMIN).await;

    // Jobs: filtered to the failed ones by the form.
    browser.open("/ui/jobs").await;
    browser.screenshots("jobs").await;
    browser
        .client
        .find(Locator::Css("#job-filters select[name=state]"))
        .await
        .unwrap()
        .select_by_value("failed")
        .await
        .unwrap();
    browser.click("#job-filters button[type=submit]").await;
    browser.wait_for_path(|p| p.contains("state=failed")).await;
    let rows = browser.text("#jobs tbody").await;
    assert!(rows.contains(&failed.to_string()), "{rows}");
    assert!(!rows.contains("refresh"), "only failed jobs: {rows}");

    // The failed job: its page, then Retry, and it succeeds.
    browser
        .click(&format!(
            "#jobs tr[data-job-id='{failed}'] a[href='/ui/jobs/{failed}']"
        ))
        .await;
    browser
        .wait_for_path(|p| p == format!("/ui/jobs/{failed}"))
        .await;
    assert_eq!(browser.text("#job-state").await, "failed");
    browser.screenshots("job").await;
    browser
        .click(&format!("form[action='/ui/jobs/{failed}/retry'] button"))
        .await;
    browser
        .wait_for_text("#job-state", true, |s| s == "succeeded")
        .await;

    // The queued one: Cancel, confirmed.
    browser.open(&format!("/ui/jobs/{queued}")).await;
    browser
        .click_and_confirm(&format!("form[action='/ui/jobs/{queued}/cancel'] button"))
        .await;
    browser
        .wait_for_text("#job-state", true, |s| s == "cancelled")
        .await;
    assert_eq!(app.job(queued).await["state"], "cancelled");

    // Schedules: pause, then resume, from the list.
    browser.open("/ui/schedules").await;
    browser.screenshots("schedules").await;
    browser
        .click(&format!("tr[data-schedule='nightly-stop'] form[action^='/ui/schedules/{schedule_id}/pause'] button"))
        .await;
    browser
        .wait_for_text(".notice", false, |s| !s.is_empty())
        .await;
    let (_, paused) = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(paused["enabled"], false, "{paused}");
    browser
        .click(&format!("tr[data-schedule='nightly-stop'] form[action^='/ui/schedules/{schedule_id}/resume'] button"))
        .await;
    browser
        .wait_for_text(".notice", false, |s| !s.is_empty())
        .await;
    let (_, resumed) = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(resumed["enabled"], true, "{resumed}");
    browser.open("/ui/schedules/week").await;
    browser.screenshots("week").await;

    // The cron editor: a preview (htmx swaps it in) before saving.
    browser.open("/ui/schedules/new").await;
    let field = |name: &'static str| {
        let client = browser.client.clone();
        async move {
            client
                .find(Locator::Css(&format!("form.editor [name={name}]")))
                .await
                .unwrap()
        }
    };
    field("name")
        .await
        .send_keys("morning-start")
        .await
        .unwrap();
    field("cron").await.send_keys("30 8 * * 1-5").await.unwrap();
    field("timezone")
        .await
        .send_keys("Europe/Amsterdam")
        .await
        .unwrap();
    field("kind").await.select_by_value("start").await.unwrap();
    field("machine_ids")
        .await
        .send_keys(&renamed)
        .await
        .unwrap();
    browser
        .click("form.editor button[formaction='/ui/schedules/preview']")
        .await;
    let preview = browser
        .wait_for_text("#preview", false, |s| s.contains("08:30"))
        .await;
    assert!(!preview.contains("error"), "{preview}");
    // Still the editor: the preview changed nothing and went nowhere.
    assert_eq!(browser.path().await, "/ui/schedules/new");
    assert_eq!(app.get("/v1/schedules/morning-start").await.0.as_u16(), 404);
    browser.screenshots("schedule-editor").await;
    browser.click("form.editor button:not([formaction])").await;
    browser
        .wait_for_path(|p| p.starts_with("/ui/schedules/") && !p.ends_with("/new"))
        .await;
    let (status, saved) = app.get("/v1/schedules/morning-start").await;
    assert_eq!(status.as_u16(), 200, "{saved}");
    assert_eq!(saved["cron"], "30 8 * * 1-5");
    browser.screenshots("schedule").await;

    // The fleet: keep the machine running for two hours.
    browser.open("/ui/").await;
    let form = format!("#machines tr[data-machine-id='{renamed}'] form.keep-on");
    let hours = browser
        .client
        .find(Locator::Css(&format!("{form} input[name=hours]")))
        .await
        .unwrap();
    hours.clear().await.unwrap();
    hours.send_keys("2").await.unwrap();
    browser
        .client
        .find(Locator::Css(&format!("{form} input[name=reason]")))
        .await
        .unwrap()
        .send_keys("demo <tonight>")
        .await
        .unwrap();
    browser.click(&format!("{form} button[type=submit]")).await;
    browser
        .wait_for_text(".notice", false, |s| !s.is_empty())
        .await;
    let (_, overrides) = app.get("/v1/windows/office/overrides").await;
    let list = overrides["overrides"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{overrides}");
    assert_eq!(list[0]["mode"], "keep_on");
    assert_eq!(list[0]["reason"], "demo <tonight>");
    let row = browser
        .text(&format!("#machines tr[data-machine-id='{renamed}']"))
        .await;
    assert!(row.contains("demo <tonight>"), "{row}");
    browser.screenshots("fleet").await;

    // Reports: the chart, and the CSV behind the download link.
    browser.open("/ui/reports").await;
    let bars = browser
        .run("return document.querySelectorAll('svg.chart rect').length")
        .await;
    assert!(bars.as_u64().unwrap() > 0, "{bars}");
    browser.screenshots("reports").await;
    let csv = browser
        .run(
            "const a = document.querySelector('a#cost-csv'); \
             return fetch(a.href).then(r => r.text().then(t => \
               [r.status, r.headers.get('content-disposition'), t]))",
        )
        .await;
    assert_eq!(csv[0], 200, "{csv}");
    assert!(csv[1].as_str().unwrap().starts_with("attachment"), "{csv}");
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (_, api_csv) = api_text(&app, &format!("/v1/reports/cost?month={month}&format=csv")).await;
    assert_eq!(csv[2].as_str().unwrap(), api_csv);

    browser.open("/ui/health").await;
    browser.screenshots("health").await;
    browser.open("/ui/windows/office").await;
    browser.screenshots("window").await;

    browser.click("form[action='/ui/logout'] button").await;
    browser.wait_for_path(|p| p.starts_with("/ui/login")).await;
    browser.quit().await;
}

/// `GET path` of the API as text.
async fn api_text(app: &TestApp, path: &str) -> (u16, String) {
    let answer = app
        .http
        .get(app.at(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// A viewer reads every page, with every acting button disabled.
#[tokio::test]
async fn a_viewer_reads_every_page_and_every_button_is_disabled() {
    let (app, renamed) = app_with_fleet().await;
    let (failed, _) = failed_and_queued(&app, &renamed).await;
    let browser = Browser::start(&app.url).await;
    browser.sign_in(VIEWER).await;
    for path in [
        "/ui/".to_string(),
        "/ui/jobs".to_string(),
        format!("/ui/jobs/{failed}"),
        "/ui/schedules".to_string(),
        "/ui/schedules/week".to_string(),
        "/ui/reports".to_string(),
        "/ui/health".to_string(),
    ] {
        browser.open(&path).await;
        assert_eq!(browser.path().await, path, "a viewer may read {path}");
        let enabled = browser
            .run(
                "return [...document.querySelectorAll('main form[method=post] button[type=submit]')]\
                 .filter(b => !b.disabled).map(b => b.textContent)",
            )
            .await;
        assert_eq!(enabled, json!([]), "{path}");
    }
    browser.quit().await;
}
