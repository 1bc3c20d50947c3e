//! The cost surfaces over the admin API and the CLI: the month's cost report
//! (JSON and CSV) from what the meter ingested of the simulated v1 account,
//! the forecast of a window, billing marks, and the account standing on
//! `/readyz`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::daemon::Meter;
use machinist::paperspace::Backend;
use machinist::sim::OutsideAction;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Answering, AppOptions, Run, TestApp, spawn_app};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const FORMULA: &str = "=cmd|' /C calc'!A0";
const COMMA: &str = "gpu, big";

/// One meter run against the app's simulator, on its clock.
async fn meter(app: &TestApp) {
    Meter::new(
        app.store().clone(),
        app.daemon_api.clone(),
        Arc::new(app.clock().clone()),
        Duration::from_secs(300),
        Duration::from_secs(60 * 86_400),
    )
    .run_once()
    .await
    .unwrap();
}

/// A v1 app on 2 April 2026 whose account has a P4000 named like a formula
/// that ran 10 h on 2 March, and a C5 with a comma in its name that did not
/// run in March; metered on 22 February (when their prices are seen) and
/// again now. Their ids.
///
/// Both are created in February and run once then: the meter takes a v1
/// `create` as the start of a run (src/meter/interval.rs), so a machine
/// created off would count as running until its first stop.
async fn metered(run: Run) -> (TestApp, String, String) {
    let app = spawn_app(AppOptions {
        run,
        backend: Backend::V1,
        clock: Some(t("2026-02-20T00:00:00Z")),
        ..AppOptions::default()
    })
    .await;
    app.clock().set(t("2026-02-22T00:00:00Z"));
    let sim = &app.sim.sim;
    let priced = sim
        .seed_machine(FORMULA, "P4000", t("2026-02-20T00:00:00Z"))
        .unwrap();
    let idle = sim
        .seed_machine(COMMA, "C5", t("2026-02-20T00:00:00Z"))
        .unwrap();
    for id in [&priced, &idle] {
        sim.record_history(
            id,
            &[
                (t("2026-02-21T00:00:00Z"), OutsideAction::Start),
                (t("2026-02-21T01:00:00Z"), OutsideAction::Stop),
            ],
        )
        .unwrap();
    }
    meter(&app).await;
    app.clock().set(t("2026-04-02T00:00:00Z"));
    sim.record_history(
        &priced,
        &[
            (t("2026-03-02T00:00:00Z"), OutsideAction::Start),
            (t("2026-03-02T10:00:00Z"), OutsideAction::Stop),
        ],
    )
    .unwrap();
    meter(&app).await;
    (app, priced, idle)
}

fn line<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["machine_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {report}"))
}

#[tokio::test]
async fn the_cost_report_meters_the_month_and_answers_csv() {
    let (app, priced, idle) = metered(Run::Router).await;
    let app = Answering(app);
    let report = app
        .get("/v1/reports/cost?month=2026-03")
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["month"], "2026-03");
    assert_eq!(report["backend"], "v1");
    assert_eq!(report["complete"], true);
    assert!(!report["derivation"].as_array().unwrap().is_empty());
    let p = line(&report, &priced);
    assert_eq!(p["name"], FORMULA);
    assert_eq!(p["machine_type"], "P4000");
    // 00:00 to 10:00 on 2 March (the simulator's transitions take 80 ms).
    assert_eq!(p["hours"], 10.0, "{p}");
    assert_eq!(p["method"], "events", "{p}");
    assert_eq!(p["hourly_rate"], 0.51, "{p}");
    assert_eq!(p["compute"], 5.1, "{p}");
    let storage = p["storage"].as_f64().unwrap();
    assert!(storage > 0.0, "{p}");
    assert_eq!(
        p["total"].as_f64().unwrap(),
        ((5.1 + storage) * 100.0).round() / 100.0
    );
    assert_eq!(p["monthly_billed"], false);
    let i = line(&report, &idle);
    assert_eq!(
        (i["hours"].as_f64(), i["method"].as_str()),
        (Some(0.0), Some("idle"))
    );
    assert_eq!(i["compute"], 0.0, "{i}");

    // The default month is the current one by the daemon's clock.
    let april = app.get("/v1/reports/cost").await.expect(StatusCode::OK);
    assert_eq!(april["month"], "2026-04");
    assert_eq!(april["complete"], false);

    // CSV: an attachment, names defused and quoted.
    let response = app
        .0
        .http
        .get(app.0.at("/v1/reports/cost?month=2026-03&format=csv"))
        .bearer_auth(app.0.token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"machinist-cost-2026-03.csv\""
    );
    let csv = response.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("month,machine_id,name,machine_type,region,hours,hours_bound,method,"),
        "{csv}"
    );
    let row = csv.lines().find(|l| l.contains(&priced)).unwrap();
    assert!(
        row.starts_with(&format!("2026-03,{priced},'=cmd|' /C calc'!A0,P4000,")),
        "{row}"
    );
    assert!(row.contains(",10.00,"), "{row}");
    let row = csv.lines().find(|l| l.contains(&idle)).unwrap();
    assert!(row.contains(",\"gpu, big\",C5,"), "{row}");
    assert!(
        csv.lines().last().unwrap().starts_with("2026-03,total,"),
        "{csv}"
    );

    for (query, field) in [
        ("?month=2026-13", "month"),
        ("?month=March", "month"),
        ("?format=xml", "format"),
        ("?month=2026-03&machine=x", "machine"),
    ] {
        let a = app.get(&format!("/v1/reports/cost{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        assert_eq!(a.field().as_deref(), Some(field), "{query}");
    }

    // The utilization report says where its rows come from; savings price
    // by the v1 usageRate when nothing was pulled.
    let utilization = app
        .get("/v1/reports/utilization?month=2026-03")
        .await
        .expect(StatusCode::OK);
    assert_eq!(utilization["backend"], "v1");
    let savings = app
        .get("/v1/reports/savings?month=2026-03")
        .await
        .expect(StatusCode::OK);
    assert_eq!(savings["backend"], "v1");
    assert!(savings["method"].as_str().unwrap().contains("usageRate"));
}

#[tokio::test]
async fn a_forecast_prices_a_window_over_a_dst_month() {
    let (app, priced, _) = metered(Run::Router).await;
    let app = Answering(app);
    // Every day 01:00 to 04:00 in Amsterdam: 3 h a day, but 2 h on 28 March
    // 2027, when 02:00 CET becomes 03:00 CEST. The billing month is UTC:
    // from 29 March the window opens at 23:00 UTC the day before, so 1 April's
    // opening adds its first hour to March: 27 × 3 + 2 + 3 × 3 + 1 = 93 h.
    let window = json!({
        "name": "nights",
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "01:00", "end": "04:00", "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": [priced]},
    });
    let f = app
        .post_json(
            "/v1/forecast",
            json!({"window": window, "month": "2027-03"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(f["kind"], "window");
    assert_eq!(f["month"], "2027-03");
    assert_eq!(
        (f["starts"].as_u64(), f["stops"].as_u64()),
        (Some(32), Some(31))
    );
    let m = &f["machines"][0];
    assert_eq!(m["machine_id"], priced.as_str());
    assert_eq!(m["name"], FORMULA);
    assert_eq!(m["planned_seconds"], 93 * 3600, "{f}");
    assert_eq!(m["planned_cost"], 47.43, "93 h at 0.51: {f}");
    assert_eq!(f["totals"]["planned_hours"], 93.0);
    assert_eq!(m["always_on_seconds"], 31 * 86_400, "the UTC month");

    for body in [
        json!({"month": "2027-03"}),
        json!({"window": window, "schedule": {"name": "s", "cron": "0 9 * * *", "template": {"kind": "start"}, "targets": {"machine_ids": [priced]}}}),
    ] {
        let a = app.post_json("/v1/forecast", body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert_eq!(a.error().0, "invalid_forecast");
        assert_eq!(a.field().as_deref(), Some("body"));
        assert!(a.message().contains("exactly one"), "{}", a.message());
    }
    let refresh = app
        .post_json(
            "/v1/forecast",
            json!({"schedule": {"name": "s", "cron": "0 9 * * *", "template": {"kind": "refresh"}}}),
        )
        .await;
    assert_eq!(
        refresh.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refresh.body
    );
    assert_eq!(refresh.field().as_deref(), Some("schedule.template.kind"));
    let bad_cron = app
        .post_json(
            "/v1/forecast",
            json!({"schedule": {"name": "s", "cron": "0 25 * * *", "template": {"kind": "stop"}, "targets": {"machine_ids": [priced]}}}),
        )
        .await;
    assert_eq!(
        bad_cron.field().as_deref(),
        Some("schedule.cron"),
        "{}",
        bad_cron.body
    );
    let bad_month = app
        .post_json(
            "/v1/forecast",
            json!({"window": window, "month": "2027-13"}),
        )
        .await;
    assert_eq!(bad_month.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_month.field().as_deref(), Some("month"));
}

#[tokio::test]
async fn billing_marks_a_machine_monthly() {
    let (app, priced, _) = metered(Run::Router).await;
    let app = Answering(app);
    let path = format!("/v1/machines/{priced}/billing");
    let shown = app.get(&path).await.expect(StatusCode::OK);
    assert_eq!(
        shown,
        json!({"machine_id": priced, "billing": "hourly", "source": "default"})
    );
    let set = app
        .put_json(&path, json!({"billing": "monthly"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        set,
        json!({"machine_id": priced, "billing": "monthly", "source": "api"})
    );
    assert_eq!(app.get(&path).await.expect(StatusCode::OK), set);
    let report = app
        .get("/v1/reports/cost?month=2026-03")
        .await
        .expect(StatusCode::OK);
    let p = line(&report, &priced);
    assert_eq!(p["monthly_billed"], true, "{p}");
    assert_eq!(p["saved"].as_f64().unwrap_or(0.0), 0.0, "{p}");

    let back = app
        .put_json(&path, json!({"billing": "hourly"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(back["billing"], "hourly");

    let bad = app.put_json(&path, json!({"billing": "yearly"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.field().as_deref(), Some("billing"));
    let unknown = app.get("/v1/machines/psnothere1/billing").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.field().as_deref(), Some("id"));
    let bad_id = app.get("/v1/machines/a%20b/billing").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.field().as_deref(), Some("id"));
}

#[tokio::test]
async fn a_machine_the_configuration_bills_monthly_cannot_be_set_hourly_over_the_api() {
    let app = spawn_app(AppOptions {
        backend: Backend::V1,
        monthly_billed: &["pslbrvlji"],
        ..AppOptions::default()
    })
    .await;
    let refreshed = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refreshed["state"], "succeeded", "{refreshed:#}");
    let app = Answering(app);
    let path = "/v1/machines/pslbrvlji/billing";
    let shown = app.get(path).await.expect(StatusCode::OK);
    assert_eq!(
        shown,
        json!({"machine_id": "pslbrvlji", "billing": "monthly", "source": "config"})
    );
    let refused = app.put_json(path, json!({"billing": "hourly"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("cost.monthly_billed"),
        "{}",
        refused.body
    );
    assert_eq!(app.get(path).await.expect(StatusCode::OK), shown);
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let report = app
        .get(&format!("/v1/reports/cost?month={month}"))
        .await
        .expect(StatusCode::OK);
    let l = line(&report, "pslbrvlji");
    assert_eq!(l["monthly_billed"], true, "{l}");
    assert_eq!(l["saved"].as_f64(), Some(0.0), "{l}");
}

#[tokio::test]
async fn readiness_shows_the_account_standing_and_the_meter() {
    let app = spawn_app(AppOptions {
        backend: Backend::V1,
        clock: Some(t("2026-03-01T00:00:00Z")),
        ..AppOptions::default()
    })
    .await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["account_standing"], Value::Null, "never checked yet");
    assert_eq!(ready["meter"]["ingested_at"], Value::Null);

    app.sim
        .sim
        .set_standing(false, vec!["card declined".into()]);
    meter(&app).await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "bad standing is shown, not a reason: {ready}"
    );
    let standing = &ready["account_standing"];
    assert_eq!(standing["in_good_standing"], false, "{ready}");
    assert_eq!(standing["messages"], json!(["card declined"]));
    assert_eq!(standing["checked_at"], "2026-03-01T00:00:00Z");
    assert_eq!(ready["meter"]["ingested_at"], "2026-03-01T00:00:00Z");

    let status = app.cli(&["status"]).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains("NOT in good standing") && status.stdout.contains("card declined"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("meter "), "{}", status.stdout);
}

#[tokio::test]
async fn the_cli_reports_cost_forecasts_and_marks_billing() {
    let (app, priced, _) = metered(Run::Router).await;
    let table = app.cli(&["report", "cost", "--month", "2026-03"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(FORMULA))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        row.contains("10.00") && row.contains("events") && row.contains("5.10"),
        "{row}"
    );
    assert!(
        table.stdout.lines().any(|l| l.starts_with("total")),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("how these figures were derived"),
        "{}",
        table.stdout
    );

    let json = app
        .cli(&["report", "cost", "--month", "2026-03", "-o", "json"])
        .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(line(&report, &priced)["hours"], 10.0);
    let csv = app
        .cli(&["report", "cost", "--month", "2026-03", "-o", "csv"])
        .await;
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(
        csv.stdout.starts_with("month,machine_id,"),
        "{}",
        csv.stdout
    );
    assert!(csv.stdout.contains("'=cmd"), "{}", csv.stdout);
    let bad = app.cli(&["report", "cost", "--month", "2026-13"]).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    let forecast = app
        .cli(&[
            "windows",
            "preview",
            "--cost",
            "--days",
            "all",
            "--start",
            "01:00",
            "--end",
            "04:00",
            "--timezone",
            "Europe/Amsterdam",
            "--machine",
            &priced,
            "--month",
            "2027-03",
            "--json",
        ])
        .await;
    assert_eq!(forecast.code, 0, "{}", forecast.stderr);
    let forecast: Value = serde_json::from_str(&forecast.stdout).unwrap();
    assert_eq!(forecast["totals"]["planned_hours"], 93.0);
    let text = app
        .cli(&[
            "schedules",
            "preview",
            "--cost",
            "--cron",
            "0 19 * * *",
            "--kind",
            "stop",
            "--machine",
            &priced,
        ])
        .await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("against always on"), "{}", text.stdout);
    let no_kind = app
        .cli(&[
            "schedules",
            "preview",
            "--cost",
            "--cron",
            "0 19 * * *",
            "--machine",
            &priced,
        ])
        .await;
    assert_eq!(no_kind.code, 1);
    assert!(no_kind.stderr.contains("--kind"), "{}", no_kind.stderr);

    let set = app.cli(&["machines", "billing", &priced, "monthly"]).await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(set.stdout.contains("is billed monthly"), "{}", set.stdout);
    let shown = app.cli(&["machines", "billing", &priced, "--json"]).await;
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["source"], "api");
    let table = app.cli(&["report", "cost", "--month", "2026-03"]).await;
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(FORMULA))
        .unwrap();
    assert!(row.trim_end().ends_with("monthly"), "{row}");
}
