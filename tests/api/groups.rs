//! Machine groups end to end, against the simulator: what a run sends to
//! Paperspace and in which order, what a failure leaves alone, and a
//! resume; and a `machinist serve` killed with SIGKILL in the middle of a
//! run, which the next daemon finishes with no start sent twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use machinist::machine::MachineEvent;
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::{FaultKind, OneShotFault};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::crash::{kill9, start_daemon};
use crate::harness::process::start_sim;
use crate::harness::{AppOptions, TestApp, fault_route, spawn_app, until_committed};

/// A group of four machines in three stages: db = [0], app = [1, 2], web = [3].
fn shop(ids: &[String]) -> Value {
    json!({"name": "shop", "stages": [
        {"name": "db", "machine_ids": [ids[0]]},
        {"name": "app", "machine_ids": [ids[1], ids[2]]},
        {"name": "web", "machine_ids": [ids[3]]},
    ]})
}

/// Four new machines, off, for a group of its own.
fn four_off(app: &TestApp) -> Vec<String> {
    let created = Utc::now() - chrono::Duration::days(1);
    (0..4)
        .map(|i| {
            app.sim
                .sim
                .seed_machine(&format!("group-{i}"), "C5", created)
                .unwrap()
        })
        .collect()
}

/// The run once `done` holds for it, read again after each commit.
async fn run_until(app: &TestApp, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let done = &done;
    until_committed(app.store(), Duration::from_secs(30), move || async move {
        let (status, run) = app.get(&format!("/v1/group-runs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        if done(&run) {
            Ok(run)
        } else {
            Err(format!("run {id} did not {what}: {run:#}"))
        }
    })
    .await
}

fn ended(run: &Value) -> bool {
    run["state"] != "running"
}

/// The simulator's `name` events of `machine` (start, stop), oldest first.
async fn sim_events(app: &TestApp, machine: &str, name: &str) -> Vec<MachineEvent> {
    let mut events: Vec<MachineEvent> = app
        .api
        .show(machine)
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.name == name)
        .collect();
    events.sort_by_key(|e| e.created_at);
    events
}

/// When the simulator received `machine`'s only `name` request, and when
/// that request was carried out (the machine reached its state).
async fn only(app: &TestApp, machine: &str, name: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let events = sim_events(app, machine, name).await;
    assert_eq!(
        events.len(),
        1,
        "{machine} got {} {name} operations: {events:?}",
        events.len()
    );
    let e = &events[0];
    (e.created_at.unwrap(), e.finished_at.expect("carried out"))
}

#[tokio::test]
async fn a_group_starts_stage_by_stage_once_each_is_ready_and_stops_in_reverse() {
    let app = spawn_app(AppOptions {
        transition: Duration::from_millis(150),
        ..AppOptions::default()
    })
    .await;
    let ids = &four_off(&app);
    let (status, group) = app.post("/v1/groups", shop(ids)).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");

    let (status, run) = app
        .post("/v1/groups/shop/runs", json!({"action": "start"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let id = run["id"].as_i64().unwrap();
    let run = run_until(&app, id, "end", ended).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["steps_done"], 3);

    // At the simulator: every start of stage n + 1 was sent after every
    // machine of stage n was ready.
    let stages: [&[String]; 3] = [&ids[0..1], &ids[1..3], &ids[3..4]];
    let mut starts = HashMap::new();
    for id in ids {
        starts.insert(id.clone(), only(&app, id, "start").await);
    }
    for pair in stages.windows(2) {
        let ready = pair[0].iter().map(|m| starts[m].1).max().unwrap();
        for m in pair[1] {
            assert!(
                starts[m].0 >= ready,
                "{m} was started before the stage before it was ready"
            );
        }
    }

    // A stop goes the other way.
    let (status, run) = app
        .post("/v1/groups/shop/runs", json!({"action": "stop"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let steps: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["web", "app", "db"]);
    let run = run_until(&app, run["id"].as_i64().unwrap(), "end", ended).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let mut stops = HashMap::new();
    for id in ids {
        stops.insert(id.clone(), only(&app, id, "stop").await);
    }
    for pair in stages.windows(2) {
        let off = pair[1].iter().map(|m| stops[m].1).max().unwrap();
        for m in pair[0] {
            assert!(
                stops[m].0 >= off,
                "{m} was stopped before the stage after it was off"
            );
        }
    }
}

#[tokio::test]
async fn a_failure_in_stage_two_leaves_stage_three_untouched_until_a_resume() {
    let app = spawn_app(AppOptions {
        transition: Duration::from_millis(300),
        ..AppOptions::default()
    })
    .await;
    let ids = &four_off(&app);
    let solo = json!({"name": "shop", "stages": [
        {"name": "db", "machine_ids": [ids[0]]},
        {"name": "app", "machine_ids": [ids[1]]},
        {"name": "web", "machine_ids": [ids[2]]},
    ]});
    let (status, _) = app.post("/v1/groups", solo).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, run) = app
        .post("/v1/groups/shop/runs", json!({"action": "start"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let id = run["id"].as_i64().unwrap();

    // Once the db machine's start is sent (it takes 300 ms to be ready),
    // the next start is refused: a permanent error for the app machine.
    until_committed(app.store(), Duration::from_secs(10), || async {
        match app.calls("start", Some(&ids[0])) {
            0 => Err("stage 1 not sent yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 400 },
        route: Some(fault_route(Backend::Legacy, "start")),
        count: 1,
        after_apply: false,
    });
    let run = run_until(&app, id, "end", ended).await;
    assert_eq!(run["state"], "failed", "{run:#}");
    assert_eq!(run["failure"]["stage"], "app");
    assert_eq!(run["failure"]["machine_id"], ids[1].as_str());
    assert!(!run["failure"]["reason"].as_str().unwrap().is_empty());
    assert_eq!(run["progress"][2]["state"], "cancelled");
    let web_job = run["progress"][2]["jobs"][0].clone();
    assert_eq!(web_job["state"], "cancelled");
    assert!(
        web_job["error"]
            .as_str()
            .unwrap()
            .starts_with("not run: job"),
        "{web_job}"
    );
    assert_eq!(app.calls("start", Some(&ids[2])), 0, "stage 3 untouched");

    // A resume retries from the failed stage: db is not started again.
    let (status, resumed) = app
        .post(&format!("/v1/group-runs/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    let run = run_until(&app, id, "end", ended).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(app.calls("start", Some(&ids[0])), 1);
    assert_eq!(app.calls("start", Some(&ids[2])), 1);
    only(&app, &ids[1], "start").await;
    let (status, again) = app
        .post(&format!("/v1/group-runs/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_run_resumes_at_the_right_stage_sending_nothing_twice() {
    let (_sim, sim_url) = start_sim(&["--transition-ms", "500", "--latency-ms", "20"]);
    let http = reqwest::Client::new();
    let fixture = crate::harness::Fixture::new().await;
    let db = fixture.options();
    let mut ids = Vec::new();
    for i in 0..4 {
        let body = json!({"machineName": format!("group-{i}"), "region": "East Coast (NY2)",
            "machineType": "C5", "size": 50, "billingType": "hourly", "templateId": "tkni3aa4",
            "startOnCreate": false});
        let m: Value = http
            .post(format!("{sim_url}/machines/createSingleMachinePublic"))
            .header("x-api-key", "sim-key")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    // The scenario: the simulator (another process) takes this long to provision.
    tokio::time::sleep(Duration::from_millis(700)).await; // provisioning ends
    let (mut daemon, mut url) = start_daemon(&db, &sim_url, "legacy");
    let post = |url: String, body: Value| {
        let http = http.clone();
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert!(status.is_success(), "{status}: {body}");
            body
        }
    };
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    post(format!("{url}/v1/groups"), shop(&ids)).await;
    let run = post(
        format!("{url}/v1/groups/shop/runs"),
        json!({"action": "start"}),
    )
    .await;
    let id = run["id"].as_i64().unwrap();

    // Kill it while stage 2 is under way (its starts sent, not yet ready).
    loop {
        let run = get(format!("{url}/v1/group-runs/{id}")).await;
        if run["progress"][1]["state"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "stage 2 never began: {run:#}");
        // The scenario's pace: the simulator takes 500 ms per transition.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill9(&mut daemon);
    (daemon, url) = start_daemon(&db, &sim_url, "legacy");
    let run = loop {
        let run = get(format!("{url}/v1/group-runs/{id}")).await;
        if run["state"] != "running" {
            break run;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(20),
            "the run did not end: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["steps_done"], 3);

    // Every machine was started once, in stage order.
    let mut starts = HashMap::new();
    for m in &ids {
        let shown: Value = http
            .get(format!("{sim_url}/machines/getMachinePublic?machineId={m}"))
            .header("x-api-key", "sim-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events: Vec<&Value> = shown["events"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["name"] == "start").collect())
            .unwrap_or_default();
        assert_eq!(
            events.len(),
            1,
            "{m} was started {} times: {shown:#}",
            events.len()
        );
        starts.insert(m.clone(), events[0].clone());
    }
    let at = |m: &str, field: &str| -> DateTime<Utc> {
        starts[m][field].as_str().unwrap().parse().unwrap()
    };
    let ready_db = at(&ids[0], "dtFinished");
    for m in &ids[1..3] {
        assert!(at(m, "dtCreated") >= ready_db);
    }
    let ready_app = at(&ids[1], "dtFinished").max(at(&ids[2], "dtFinished"));
    assert!(at(&ids[3], "dtCreated") >= ready_app);
    drop(daemon);
}
