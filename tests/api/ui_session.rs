//! The dashboard's sign-in over plain HTTP: the login page, the session
//! cookie, sign-out, CSRF and the viewer's read-only session. (The browser
//! tests in `ui_browser.rs` do the same in Chromium.)

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use std::sync::Arc;

use machinist::clock::SystemClock;
use machinist::config::AdminToken;
use machinist::daemon::Daemon;

use crate::harness::dashboard::no_redirects;
use crate::harness::{AppOptions, Run, daemon_settings, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

fn options() -> AppOptions {
    AppOptions {
        viewer_token: Some(VIEWER),
        run: Run::Router,
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn pages_need_a_session_and_the_api_keeps_its_bearer_token() {
    let app = spawn_app(options()).await;
    let http = no_redirects();
    let answer = http.get(app.at("/ui/?notice=x")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers()["location"],
        "/ui/login?next=%2Fui%2F%3Fnotice%3Dx"
    );
    // A browser at / is sent to the dashboard; an API client still gets 401.
    let answer = http
        .get(app.at("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["location"], "/ui/");
    let answer = http.get(app.at("/v1/jobs")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    // A session cookie is no bearer token for the API.
    let ui = app.ui_sign_in(ADMIN).await;
    let answer = ui.get("/v1/jobs").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_a_session_cookie_is_strict() {
    let app = spawn_app(options()).await;
    let refused = app.try_ui_sign_in("not-the-token").await.err().unwrap();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .body
            .contains("neither the admin token nor the viewer token")
    );
    assert!(
        !refused.body.contains("not-the-token"),
        "the typed token is never echoed"
    );

    let http = no_redirects();
    let form = http.get(app.at("/ui/login")).send().await.unwrap();
    let login_cookie = form.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    // Without the login form's own cookie, a posted token is refused (a
    // login from another site's form).
    let answer = http
        .post(app.at("/ui/login"))
        .form(&[("token", ADMIN), ("challenge", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(
        answer
            .headers()
            .get(SET_COOKIE)
            .is_none_or(|c| !c.to_str().unwrap().starts_with("machinist_session"))
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_and_needs_the_csrf_token() {
    let app = spawn_app(options()).await;
    let ui = app.ui_sign_in(ADMIN).await;
    assert!(
        ui.get("/ui/")
            .await
            .expect(StatusCode::OK)
            .contains("Sign out")
    );
    // Without the CSRF token a post changes nothing.
    let refused = ui.post_raw("/ui/logout", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("reload the page"), "{}", refused.body);
    assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    let out = ui.post("/ui/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/ui/login"));
    assert!(
        out.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie no longer works, even if a copy was kept.
    assert_eq!(ui.get("/ui/").await.status, StatusCode::SEE_OTHER);
}

/// A sign-out is the store's: the daemon started next on the database
/// (after a restart, or beside it on PostgreSQL) refuses the signed-out
/// cookie, and still takes a session that was not signed out.
#[tokio::test]
async fn a_signed_out_cookie_stays_refused_by_the_next_daemon_on_the_database() {
    let mut app = spawn_app(AppOptions {
        run: Run::Daemon,
        ..options()
    })
    .await;
    let out = app.ui_sign_in(ADMIN).await;
    let kept = app.ui_sign_in(VIEWER).await;
    assert_eq!(
        out.post("/ui/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(out.get("/ui/").await.status, StatusCode::SEE_OTHER);

    app.daemon.take().unwrap().stop().await;
    let mut settings = daemon_settings(app.store_options(), 1);
    settings.admin_token = Some(AdminToken::new(ADMIN).unwrap());
    settings.viewer_token = Some(AdminToken::new(VIEWER).unwrap());
    let next = Daemon::start(settings, app.daemon_api.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let signed_out = out.to(&next.url()).get("/ui/").await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), Some("/ui/login"));
    kept.to(&next.url())
        .get("/ui/")
        .await
        .expect(StatusCode::OK);
    next.stop().await;
}

#[tokio::test]
async fn a_viewer_sees_pages_and_may_sign_out_but_not_act() {
    let app = spawn_app(options()).await;
    let ui = app.ui_sign_in(VIEWER).await;
    let fleet = ui.get("/ui/").await;
    assert!(fleet.expect(StatusCode::OK).contains("viewer · read only"));
    assert_eq!(
        ui.post("/ui/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy() {
    let app = spawn_app(options()).await;
    let ui = app.ui_sign_in(ADMIN).await;
    let fleet = ui.get("/ui/").await;
    let csp = fleet.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(fleet.headers["cache-control"], "no-store");
    let missing = ui.get("/ui/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let css = ui.get("/ui/assets/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
