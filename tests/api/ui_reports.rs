//! The dashboard's reports page over plain HTTP: the charts and tables of
//! a month, the CSV download (the API's own), a bad month, and the
//! utilization pull (an admin's, not a viewer's).
//!
//! The store is written directly (machines seen running and then off, with
//! their v1 prices), on a manual clock, so the figures are known.

use chrono::{DateTime, Utc};
use machinist::machine::{Machine, MachineRate, MachineState};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::dashboard::UiSession;
use crate::harness::{AppOptions, Run, TestApp, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";
const EVIL: &str = "<script>x</script>";
const ESCAPED: &str = "&lt;script&gt;x&lt;/script&gt;";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn machine(id: &str, name: &str, state: MachineState, usage: f64) -> Machine {
    Machine {
        machine_type: Some("A4000".into()),
        region: Some("East Coast (NY2)".into()),
        rate: Some(MachineRate {
            usage,
            storage: 5.0,
        }),
        ..Machine::new(id, name, state)
    }
}

/// A router on 10 April 2026 whose store has seen three machines: `psA`
/// and the one named like a script ran from 1 to 3 April, `psC` stayed off.
async fn app() -> TestApp {
    let app = spawn_app(AppOptions {
        viewer_token: Some(VIEWER),
        run: Run::Router,
        clock: Some(t("2026-04-01T00:00:00Z")),
        ..AppOptions::default()
    })
    .await;
    let fleet = |state: MachineState| {
        vec![
            machine("psA", "render-box", state.clone(), 0.5),
            machine("psB", EVIL, state, 1.0),
            machine("psC", "idle-box", MachineState::Off, 2.0),
        ]
    };
    let store = app.store();
    store
        .see_machines(fleet(MachineState::Ready), true, t("2026-04-01T00:00:00Z"))
        .await
        .unwrap();
    store
        .see_machines(fleet(MachineState::Off), true, t("2026-04-03T00:00:00Z"))
        .await
        .unwrap();
    app.clock().set(t("2026-04-10T00:00:00Z"));
    app
}

/// The text of `html` from `start` to the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    let to = html[from..].find(end).expect("an end") + from;
    &html[from..to]
}

#[tokio::test]
async fn ui_reports_the_page_charts_the_months_and_lists_the_machines() {
    let app = app().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/reports").await;
    let html = page.expect(StatusCode::OK);
    // Six months up to this one, drawn and tabled.
    let chart = between(html, "<svg", "</svg>");
    assert!(chart.contains("role=\"img\"") && chart.contains("aria-label="));
    assert!(chart.contains("<rect class=\"bar-cost\""), "{chart}");
    assert!(chart.contains("<rect class=\"bar-saved\""), "{chart}");
    for month in [
        "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04",
    ] {
        assert!(chart.contains(month), "{month} not in {chart}");
        assert!(
            between(html, "id=\"months\"", "</table>").contains(month),
            "{month}"
        );
    }
    // The machines: in the month's chart and table, the costliest first.
    let machines = between(html, "id=\"machines\"", "</table>");
    for name in ["render-box", "idle-box", ESCAPED] {
        assert!(machines.contains(name), "{name} not in {machines}");
    }
    assert!(
        machines.find(ESCAPED) < machines.find("render-box"),
        "psB (twice the rate) first: {machines}"
    );
    assert!(!machines.contains("psA"), "ids only for twins: {machines}");
    let per_machine = between(html, "id=\"per-machine\"", "</svg>");
    assert!(per_machine.contains("render-box"), "{per_machine}");
    // 48 h at $0.50 and at $1.00, priced as the cost report prices them.
    let report = api(&app, "/v1/reports/cost?month=2026-04").await;
    let total = report["totals"]["total"].as_f64().unwrap();
    assert!(total > 0.0, "{report}");
    assert!(
        html.contains(&format!("${total:.2}")),
        "{total} not on the page"
    );
    assert!(html.contains(
        "<a class=\"button secondary\" id=\"cost-csv\" href=\"/ui/reports/cost.csv?month=2026-04\" download"
    ));
    // Another month by the picker.
    let march = ui.get("/ui/reports?month=2026-03").await;
    assert!(
        march
            .expect(StatusCode::OK)
            .contains("href=\"/ui/reports/cost.csv?month=2026-03\"")
    );
}

/// `GET path` of the JSON API with the admin token.
async fn api(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn ui_reports_the_csv_download_is_the_apis() {
    let app = app().await;
    let ui = app.ui_sign_in(VIEWER).await;
    let csv = ui.get("/ui/reports/cost.csv?month=2026-04").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let from_api = app
        .http
        .get(app.at("/v1/reports/cost?month=2026-04&format=csv"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        csv.headers["content-disposition"],
        from_api.headers()["content-disposition"]
    );
    assert_eq!(
        csv.headers["content-disposition"],
        "attachment; filename=\"machinist-cost-2026-04.csv\""
    );
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(csv.body, from_api.text().await.unwrap());
    assert!(csv.body.contains("psB"), "{}", csv.body);
    // Not without a session.
    let anonymous = crate::harness::dashboard::no_redirects()
        .get(app.at("/ui/reports/cost.csv?month=2026-04"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn ui_reports_a_bad_month_is_a_400_page_naming_it() {
    let app = app().await;
    let ui = app.ui_sign_in(ADMIN).await;
    for (path, named) in [
        ("/ui/reports?month=2026-13", "2026-13"),
        ("/ui/reports?month=%3Cb%3Emay", "&lt;b&gt;may"),
        ("/ui/reports/cost.csv?month=march", "march"),
    ] {
        let page = ui.get(path).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.body.contains(named), "{path}: {}", page.body);
        assert!(!page.body.contains("<b>"), "{}", page.body);
    }
}

/// How many `utilization` jobs the store holds.
async fn utilization_jobs(app: &TestApp) -> usize {
    api(app, "/v1/jobs?kind=utilization").await["jobs"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn ui_reports_the_pull_button_queues_utilization_jobs() {
    let app = app().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/reports?month=2026-03").await;
    let form = between(
        page.expect(StatusCode::OK),
        "action=\"/ui/reports/utilization/pull\"",
        "</form>",
    );
    assert!(form.contains("name=\"month\" value=\"2026-03\""), "{form}");
    assert!(!form.contains("disabled"), "{form}");

    let done = ui
        .post("/ui/reports/utilization/pull", &[("month", "2026-03")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let back = done.location().unwrap().to_string();
    assert!(
        back.starts_with("/ui/reports?month=2026-03&notice="),
        "{back}"
    );
    assert_eq!(utilization_jobs(&app).await, 3);
    let jobs = api(&app, "/v1/jobs?kind=utilization").await;
    assert!(
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["args"]["month"] == "2026-03"),
        "{jobs}"
    );
    let page = ui.get(&back).await;
    assert!(
        page.expect(StatusCode::OK)
            .contains("Queued 3 utilization jobs for 2026-03."),
        "{}",
        page.body
    );
    // A month not begun is refused as the API refuses it.
    let refused = ui
        .post("/ui/reports/utilization/pull", &[("month", "2026-05")])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("has not begun"), "{}", refused.body);
    assert_eq!(utilization_jobs(&app).await, 3);
}

#[tokio::test]
async fn ui_reports_a_viewer_cannot_pull() {
    let app = app().await;
    let ui: UiSession = app.ui_sign_in(VIEWER).await;
    let page = ui.get("/ui/reports").await;
    let form = between(
        page.expect(StatusCode::OK),
        "action=\"/ui/reports/utilization/pull\"",
        "</form>",
    );
    assert!(form.contains("disabled"), "{form}");
    let refused = ui
        .post("/ui/reports/utilization/pull", &[("month", "2026-04")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(utilization_jobs(&app).await, 0);
    // Nor without the CSRF token, as an admin.
    let admin = app.ui_sign_in(ADMIN).await;
    let forged = admin
        .post_raw("/ui/reports/utilization/pull", &[("month", "2026-04")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(utilization_jobs(&app).await, 0);
}

#[tokio::test]
async fn ui_reports_a_machine_named_like_a_script_is_text() {
    let app = app().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/reports?month=2026-04").await;
    let html = page.expect(StatusCode::OK);
    assert!(!html.contains(EVIL), "{html}");
    let chart = between(html, "id=\"per-machine\"", "</svg>");
    assert!(chart.contains(ESCAPED), "{chart}");
    let table = between(html, "id=\"machines\"", "</table>");
    assert!(table.contains(ESCAPED), "{table}");
}
