//! Schedules end to end on the real clock: schedules created over HTTP fire
//! every two seconds, and the daemon's workers carry out real start and stop
//! jobs against the simulated account.

use std::time::Duration;

use crate::harness::{AppOptions, spawn_app, until_committed};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn schedules_drive_real_starts_and_stops() {
    let app = spawn_app(AppOptions::default()).await;
    let machine = app.machines_in("off").await[0].clone();
    for (name, cron, kind) in [
        ("tick-start", "*/2 * * * * *", "start"),
        ("tick-stop", "1-59/2 * * * * *", "stop"),
    ] {
        let (status, body) = app
            .post(
                "/v1/schedules",
                json!({"name": name, "cron": cron, "timezone": "UTC",
                       "template": {"kind": kind, "wait": "none"},
                       "targets": {"machine_ids": [machine]}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Wait until two starts and two stops have succeeded (read after each commit).
    until_committed(app.store(), Duration::from_secs(20), || async {
        let (_, page) = app.get("/v1/jobs?state=succeeded&limit=100").await;
        let jobs = page["jobs"].as_array().unwrap();
        let count = |kind: &str| jobs.iter().filter(|j| j["kind"] == kind).count();
        if count("start") >= 2 && count("stop") >= 2 {
            Ok(())
        } else {
            Err(format!("schedules did not drive jobs: {page:#}"))
        }
    })
    .await;
    let sim = &app.sim.sim;
    assert!(sim.calls("POST", "/machines/:machineId/start", Some(&machine)) >= 1);
    assert!(sim.calls("POST", "/machines/:machineId/stop", Some(&machine)) >= 1);

    // The schedule shows its firings; pausing stops them at once.
    let (_, shown) = app.get("/v1/schedules/tick-start").await;
    assert!(
        !shown["recent_firings"].as_array().unwrap().is_empty(),
        "{shown:#}"
    );
    assert_eq!(shown["next_fire_times"].as_array().unwrap().len(), 5);
    for name in ["tick-start", "tick-stop"] {
        let (status, _) = app
            .post(&format!("/v1/schedules/{name}/pause"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, before) = app.get("/v1/jobs?limit=500").await;
    let before = before["jobs"].as_array().unwrap().len();
    // The scenario: more than a firing period of real time passes (this test
    // is the one on the real clock), and nothing may fire in it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, after) = app.get("/v1/jobs?limit=500").await;
    assert_eq!(
        after["jobs"].as_array().unwrap().len(),
        before,
        "paused schedules fired"
    );
}
