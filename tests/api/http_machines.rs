//! Machines, readiness and metrics over real HTTP: a daemon on port 0 with a
//! temp database and the simulated Paperspace account.

use crate::harness::{AppOptions, TestApp, metric_sample as sample, spawn_app};
use machinist::paperspace::MachineApi;
use machinist::sim::FaultSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw_get(app: &TestApp, path: &str, token: bool) -> (StatusCode, String, Option<String>) {
    let mut req = app.http.get(format!("{}{path}", app.url));
    if token {
        req = req.bearer_auth(app.token.unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.text().await.unwrap(), ctype)
}

fn error_of(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("<none>"),
        body["error"]["field"].as_str(),
    )
}

#[tokio::test]
async fn machines_are_listed_with_when_they_were_seen_and_shown_with_jobs_and_schedules() {
    let app = spawn_app(AppOptions::default()).await;
    let (status, empty) = app.get("/v1/machines").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["machines"], json!([]));

    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded", "{refresh:#}");
    let (status, list) = app.get("/v1/machines").await;
    assert_eq!(status, StatusCode::OK);
    let machines = list["machines"].as_array().unwrap();
    let seeded = app.api.list_all(&Default::default()).await.unwrap();
    assert_eq!(machines.len(), seeded.len());
    for m in machines {
        assert!(m["seen_at"].is_string(), "{m}");
        assert!(m["gone_at"].is_null(), "{m}");
        let truth = seeded.iter().find(|s| s.id == m["id"]).unwrap();
        assert_eq!(m["name"], truth.name.as_str());
        assert_eq!(m["state"], truth.state.as_str());
    }
    let names: Vec<&str> = machines
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listed by name");

    // A job on one machine; a schedule naming it; a selector matching its name; one not.
    let target = &machines[0];
    let id = target["id"].as_str().unwrap();
    let name = target["name"].as_str().unwrap();
    let show = app.run(json!({"kind": "show", "machine_id": id})).await;
    assert_eq!(show["state"], "succeeded", "{show:#}");
    let schedule = |sname: &str, targets: Value| {
        json!({"name": sname, "cron": "0 19 * * MON-FRI", "timezone": "Europe/Amsterdam",
               "template": {"kind": "stop"}, "targets": targets,
               // `elsewhere` names a machine the account does not list.
               "allow_unknown": true})
    };
    for (sname, targets) in [
        ("by-id", json!({"machine_ids": [id]})),
        (
            "by-glob",
            json!({"selector": {"name": format!("{}*", &name[..name.len().min(3)])}}),
        ),
        ("elsewhere", json!({"machine_ids": ["psnothere1"]})),
        ("no-match", json!({"selector": {"name": "zz-no-machine-*"}})),
    ] {
        let (status, body) = app.post("/v1/schedules", schedule(sname, targets)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, detail) = app.get(&format!("/v1/machines/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["id"], id);
    assert!(detail["seen_at"].is_string());
    let jobs: Vec<i64> = detail["recent_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(jobs, vec![show["id"].as_i64().unwrap()]);
    let mut scheds: Vec<&str> = detail["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    scheds.sort();
    assert_eq!(scheds, ["by-glob", "by-id"]);

    // Errors: a bad id, an unknown one, query parameters, a wrong method.
    let (status, body) = app.get("/v1/machines/bad%20id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body), ("bad_request", Some("id")));
    let (status, body) = app.get("/v1/machines/psnothere1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_of(&body), ("not_found", Some("id")));
    let (status, body) = app.get("/v1/machines?state=ready").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body), ("bad_request", Some("state")));
    let (status, body) = app.post("/v1/machines", json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(error_of(&body).0, "method_not_allowed");
    let (status, _, _) = raw_get(&app, "/v1/machines", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn readiness_probes_paperspace_when_no_job_asked_it_and_says_why_not() {
    let app = spawn_app(AppOptions::default()).await;
    // Open without a token, like /healthz.
    let (status, body, _) = raw_get(&app, "/readyz", false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    let migrations = match crate::harness::on_postgres() {
        true => machinist::store::PG_MIGRATOR.iter().count(),
        false => machinist::store::MIGRATOR.iter().count(),
    };
    assert_eq!(
        ready["checks"]["migrations"],
        format!("{migrations} applied")
    );
    let store = ready["checks"]["store"].as_str().unwrap();
    assert!(
        store.starts_with(match crate::harness::on_postgres() {
            true => "postgresql postgres://",
            false => "sqlite /",
        }),
        "{store}"
    );
    assert!(
        ready["checks"]["paperspace"]
            .as_str()
            .unwrap()
            .starts_with("answered")
    );
    // That probe is remembered: a second readiness check asks nothing.
    let calls = app.sim.sim.call_log().0;
    let (status, _, _) = raw_get(&app, "/readyz", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.sim.sim.call_log().0, calls);

    let (status, body, _) = raw_get(&app, "/readyz?verbose=1", false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A daemon whose Paperspace fails every call is not ready, and says so.
    let down = spawn_app(AppOptions::default()).await;
    down.sim.sim.set_faults(FaultSpec {
        error_rate: 1.0,
        ..FaultSpec::default()
    });
    let (status, body, _) = raw_get(&down, "/readyz", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error_of(&body), ("not_ready", Some("paperspace")));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer the readiness probe"),
        "{body}"
    );
}

#[tokio::test]
async fn metrics_count_jobs_calls_durations_retries_and_requests() {
    let app = spawn_app(AppOptions::default()).await;
    let (status, body, _) = raw_get(&app, "/metrics", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded");
    // A job that fails permanently (an unknown machine), then is retried by hand.
    let failed = app
        .run(json!({"kind": "start", "machine_id": "psnothere1", "max_attempts": 1}))
        .await;
    assert_eq!(failed["state"], "failed", "{failed:#}");
    let failed_id = failed["id"].as_i64().unwrap();
    let (status, _) = app
        .post(&format!("/v1/jobs/{failed_id}/retry"), json!(null))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.finished(failed_id).await;
    let (status, _) = app.get("/v1/jobs/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, text, ctype) = raw_get(&app, "/metrics", true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ctype.unwrap().starts_with("text/plain; version=0.0.4"));
    assert_eq!(
        sample(&text, r#"machinist_jobs{kind="refresh",state="succeeded"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"machinist_jobs{kind="start",state="failed"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_job_duration_seconds_count{kind="refresh",state="succeeded"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_job_duration_seconds_count{kind="start",state="failed"}"#
        ),
        Some(2.0),
        "failed twice: {text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_job_retries_total{kind="start",reason="manual"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let calls_200: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("machinist_paperspace_calls_total{") && l.contains("status=\"200\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!(calls_200 >= 1.0, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("machinist_paperspace_calls_total{")
                && l.contains("status=\"404\"")),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_http_requests_total{method="POST",route="/v1/jobs",status="201"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_http_requests_total{method="GET",route="/v1/jobs/{id}",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"machinist_http_requests_total{method="GET",route="unmatched",status="401"}"#
        ),
        Some(1.0),
        "the 401 on /metrics was refused before routing: {text}"
    );
    assert!(sample(&text, "machinist_oldest_due_job_age_seconds").is_some());
    assert!(sample(&text, "machinist_paperspace_last_answer_age_seconds").is_some());
    // Every sample line is `name{labels} number`, every family has HELP and TYPE.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }

    // Counters only grow: a second scrape counts nothing twice.
    let (_, again, _) = raw_get(&app, "/metrics", true).await;
    assert_eq!(
        sample(
            &again,
            r#"machinist_job_duration_seconds_count{kind="refresh",state="succeeded"}"#
        ),
        Some(1.0)
    );
}
