//! The daemon end to end over real HTTP: jobs submitted to the admin API run
//! against the simulated account (each machine test once per backend, legacy
//! and v1), with retries, waits, no-ops, ordering,
//! idempotency, cancel and auth.

use std::time::Duration;

use crate::harness::{AppOptions, create_args, messages, spawn_app, until_committed};
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::{FaultKind, FaultSpec, OneShotFault};
use reqwest::StatusCode;
use serde_json::json;

/// A fault's route key for `op` on `backend`.
use crate::harness::fault_route;

/// Runs each named test once per backend: `legacy::name` and `v1::name`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod legacy {
            $(#[tokio::test]
            async fn $name() {
                super::$name(machinist::paperspace::Backend::Legacy).await
            })*
        }
        mod v1 {
            $(#[tokio::test]
            async fn $name() {
                super::$name(machinist::paperspace::Backend::V1).await
            })*
        }
    };
}

both_backends!(
    every_job_kind_runs_end_to_end,
    transient_errors_are_retried_and_honour_retry_after,
    permanent_errors_fail_at_once_with_the_api_message,
    jobs_of_one_machine_run_in_order_and_machines_in_parallel,
    a_wait_that_times_out_says_where_the_machine_stayed,
    starting_a_ready_machine_sends_nothing,
    a_create_whose_answer_was_lost_is_not_sent_again,
    cancel_stops_a_job_and_refuses_a_finished_one,
    shutdown_releases_waiting_work_and_a_new_daemon_finishes_it,
    a_start_after_an_ambiguous_error_is_sent_again_not_taken_for_an_earlier_one,
    a_resumed_start_whose_request_never_arrived_is_sent_again,
    a_start_undone_under_its_wait_is_sent_again,
    under_a_30_percent_fault_mix_every_start_and_stop_ends_where_its_machine_is,
);

async fn every_job_kind_runs_end_to_end(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;

    let created = app
        .run(json!({"kind": "create", "args": create_args("e2e-1")}))
        .await;
    assert_eq!(created["state"], "succeeded", "{created:#}");
    assert_eq!(created["result"]["state"], "ready");
    let id = created["machine_id"].as_str().unwrap().to_string();
    assert_eq!(created["result"]["id"], id.as_str());

    let job = |kind: &str| json!({"kind": kind, "machine_id": id});
    let shown = app.run(job("show")).await;
    assert_eq!(shown["result"]["name"], "e2e-1");

    let updated = app
        .run(json!({"kind":"update","machine_id": id, "args": {"name": "e2e-renamed", "auto_shutdown_timeout_hours": 4}}))
        .await;
    assert_eq!(updated["state"], "succeeded", "{updated:#}");
    assert_eq!(updated["result"]["name"], "e2e-renamed");

    let access = app
        .run(json!({"kind":"set_access","machine_id": id, "args": {"user_id": "u1a2b3c4", "enable": true}}))
        .await;
    assert_eq!(access["state"], "succeeded", "{access:#}");

    let stopped = app.run(job("stop")).await;
    assert_eq!(stopped["state"], "succeeded", "{stopped:#}");
    assert_eq!(stopped["result"]["state"], "off");
    let started = app.run(job("start")).await;
    assert_eq!(started["result"]["state"], "ready", "{started:#}");
    let restarted = app.run(job("restart")).await;
    assert_eq!(restarted["state"], "succeeded", "{restarted:#}");
    assert_eq!(restarted["result"]["state"], "ready");

    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let usage = app
        .run(json!({"kind":"utilization","machine_id": id, "args": {"month": month}}))
        .await;
    let avail = app
        .run(json!({"kind":"availability","args": {"region": "Europe (AMS1)", "machine_type": "C5"}}))
        .await;
    match backend {
        Backend::Legacy => {
            assert_eq!(usage["state"], "succeeded", "{usage:#}");
            assert_eq!(usage["result"]["billing_month"], month.as_str());
            assert!(usage["result"]["hourly_rate"].as_f64().unwrap() > 0.0);
            // Paperspace's figures and the meter's, side by side, each
            // with its source; the meter's at the prices just pulled.
            let (status, report) = app
                .get(&format!("/v1/reports/utilization?month={month}"))
                .await;
            assert_eq!(status, 200, "{report:#}");
            let rows: Vec<&serde_json::Value> = report["machines"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["machine_id"] == id.as_str())
                .collect();
            let mut sources: Vec<&str> =
                rows.iter().map(|r| r["source"].as_str().unwrap()).collect();
            sources.sort();
            assert_eq!(sources, ["meter", "paperspace"], "{report:#}");
            assert_eq!(rows[0]["hourly_rate"], rows[1]["hourly_rate"], "{report:#}");
            assert_eq!(report["backend"], "legacy");
            assert_eq!(avail["state"], "succeeded", "{avail:#}");
            assert!(avail["result"]["available"].is_boolean());
        }
        Backend::V1 => {
            // No v1 utilization route: the meter answers, from the states
            // the jobs saw (no event ingestion runs in this test) and the
            // machine's usageRate.
            assert_eq!(usage["state"], "succeeded", "{usage:#}");
            assert_eq!(usage["result"]["source"], "meter", "{usage:#}");
            assert_eq!(usage["result"]["billing_month"], month.as_str());
            assert!(
                usage["result"]["hourly_rate"].as_f64().unwrap() > 0.0,
                "{usage:#}"
            );
            assert_eq!(usage["result"]["method"], "observed", "{usage:#}");
            // No v1 availability route: one attempt, failed with a message
            // naming the backend.
            assert_eq!(avail["state"], "failed", "{avail:#}");
            assert_eq!(avail["attempt"], 1, "{avail:#}");
            let error = avail["last_error"].as_str().unwrap();
            assert!(
                error.starts_with("availability is not supported by the v1 Paperspace API"),
                "{error}"
            );
        }
    }

    let refresh = app.run(json!({"kind": "refresh"})).await;
    assert_eq!(refresh["state"], "succeeded", "{refresh:#}");
    assert!(refresh["result"]["machines"].as_u64().unwrap() >= 6);
    let known = app.store().machines().await.unwrap();
    assert!(known.iter().any(|m| m.machine.id == id));

    let waited = app
        .run(json!({"kind":"wait","machine_id": id, "wait": "ready"}))
        .await;
    assert_eq!(waited["state"], "succeeded", "{waited:#}");

    let destroyed = app.run(job("destroy")).await;
    assert_eq!(destroyed["state"], "succeeded", "{destroyed:#}");
    assert!(app.sim.sim.machine_ids_named("e2e-renamed").is_empty());
    let known = app.store().machines().await.unwrap();
    let gone = known.iter().find(|m| m.machine.id == id).unwrap();
    assert!(
        gone.gone_at.is_some(),
        "the machines table knows it is gone"
    );

    // Every call is in the history: method, route, status, latency.
    let events = started["events"].as_array().unwrap();
    let (method, route, status) = match backend {
        Backend::Legacy => ("POST", "/machines/:machineId/start", 204),
        Backend::V1 => ("PATCH", "/machines/:id/start", 200),
    };
    let call = events
        .iter()
        .find(|e| e["kind"] == "api_call" && e["route"] == route)
        .expect("the start call is recorded");
    assert_eq!(call["method"], method);
    assert_eq!(call["status"], status);
    assert!(call["latency_ms"].is_u64());
}

async fn transient_errors_are_retried_and_honour_retry_after(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 503 },
        route: Some(fault_route(backend, "start")),
        count: 2,
        after_apply: false,
    });
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Throttle {
            retry_after_secs: 1,
        },
        route: Some(fault_route(backend, "show")),
        count: 1,
        after_apply: false,
    });
    let started = std::time::Instant::now();
    let job = app
        .run(json!({"kind": "start", "machine_id": id, "max_attempts": 5}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    // 429 on the first look, then two 503s on the start: attempt 4 got through.
    assert_eq!(job["attempt"], 4, "{job:#}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After was honoured"
    );
    let statuses: Vec<_> = job["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "api_call")
        .filter_map(|e| e["status"].as_u64())
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&503),
        "{statuses:?}"
    );
    assert_eq!(app.calls("start", Some(&id)), 3);
}

async fn permanent_errors_fail_at_once_with_the_api_message(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let missing = app
        .run(json!({"kind": "start", "machine_id": "psnothere"}))
        .await;
    assert_eq!(missing["state"], "failed");
    assert_eq!(missing["attempt"], 1);
    // Machinist's reading and Paperspace's own message, both.
    let paperspace_says = match backend {
        Backend::Legacy => "Paperspace answered 404: Machine not found",
        Backend::V1 => "Paperspace answered 404 NOT_FOUND: Machine psnothere not found",
    };
    let error = missing["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("machine psnothere does not exist; check the id (")
            && error.contains(paperspace_says),
        "{missing:#}"
    );

    let mut args = create_args("bad-template");
    args["template_id"] = json!("tnosuch");
    let bad = app.run(json!({"kind": "create", "args": args})).await;
    assert_eq!(bad["state"], "failed", "{bad:#}");
    assert_eq!(bad["attempt"], 1);
    assert!(
        bad["last_error"].as_str().unwrap().contains("templateId"),
        "{bad:#}"
    );
}

async fn jobs_of_one_machine_run_in_order_and_machines_in_parallel(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    // Twenty machines, each asked to start then stop.
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = app
            .api
            .create(&machinist::machine::CreateMachine::new(
                format!("par-{i}"),
                "West Coast (CA1)",
                "C5",
                50,
                "tkni3aa4",
            ))
            .await
            .unwrap();
        ids.push(m.id);
    }
    let mut pairs = Vec::new();
    for id in &ids {
        // Provisioning machines: a start waits for them to settle (retries), the stop follows.
        let start = app
            .submit(json!({"kind": "start", "machine_id": id, "max_attempts": 20}))
            .await["id"]
            .as_i64()
            .unwrap();
        let stop = app
            .submit(json!({"kind": "stop", "machine_id": id, "max_attempts": 20}))
            .await["id"]
            .as_i64()
            .unwrap();
        pairs.push((id.clone(), start, stop));
    }
    for (id, start, stop) in &pairs {
        let start = app.finished(*start).await;
        let stop = app.finished(*stop).await;
        assert_eq!(start["state"], "succeeded", "{start:#}");
        assert_eq!(stop["state"], "succeeded", "{stop:#}");
        let at = |v: &serde_json::Value| {
            v.as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        };
        let start_done = at(&start["finished_at"]);
        let stop_began = at(&stop["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["to_state"] == "running")
            .unwrap()["at"]);
        assert!(
            stop_began >= start_done,
            "{id}: the stop began ({stop_began}) before the start ended ({start_done})"
        );
        assert_eq!(stop["result"]["state"], "off");
    }
}

async fn a_wait_that_times_out_says_where_the_machine_stayed(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    app.api_start_and_stick(&id).await;
    let job = app
        .run(json!({"kind":"wait","machine_id": id, "wait": "ready", "wait_timeout_seconds": 1}))
        .await;
    assert_eq!(job["state"], "failed");
    // The last poll may land a little after the deadline on a busy machine,
    // and the message gives the time actually waited ("1s", "1.1s", ...).
    let error = job["last_error"].as_str().unwrap_or_default();
    let (head, tail) = (
        format!("machine {id} stayed in `starting` for 1"),
        "s; wanted `ready`",
    );
    assert!(error.starts_with(&head) && error.ends_with(tail), "{job:#}");
}

trait StickExt {
    async fn api_start_and_stick(&self, id: &str);
}

impl StickExt for crate::harness::TestApp {
    async fn api_start_and_stick(&self, id: &str) {
        use machinist::paperspace::MachineApi;
        self.api.start(id).await.unwrap();
        assert!(self.sim.sim.set_stuck(id, true));
    }
}

async fn starting_a_ready_machine_sends_nothing(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let ready = app.machines_in("ready").await[0].clone();
    let off = app.machines_in("off").await[0].clone();
    let job = app.run(json!({"kind": "start", "machine_id": ready})).await;
    assert_eq!(job["state"], "succeeded");
    assert!(
        messages(&job)
            .iter()
            .any(|m| m == &format!("{ready} is already ready; nothing sent")),
        "{job:#}"
    );
    let job = app.run(json!({"kind": "stop", "machine_id": off})).await;
    assert_eq!(job["state"], "succeeded");
    assert!(
        messages(&job)
            .iter()
            .any(|m| m.contains("already off; nothing sent")),
        "{job:#}"
    );
    assert_eq!(app.calls("start", None), 0);
    assert_eq!(app.calls("stop", None), 0);
}

async fn a_create_whose_answer_was_lost_is_not_sent_again(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        request_timeout: Duration::from_millis(300),
        ..AppOptions::default()
    })
    .await;
    // Paperspace creates the machine, but the answer never arrives in time.
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Hang { ms: 2_000 },
        route: Some(fault_route(backend, "create")),
        count: 1,
        after_apply: true,
    });
    let job = app
        .run(json!({"kind": "create", "args": create_args("only-once")}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["attempt"], 2);
    let named = app.sim.sim.machine_ids_named("only-once");
    assert_eq!(named.len(), 1, "exactly one machine: {named:?}");
    assert_eq!(job["machine_id"], named[0].as_str());
    assert_eq!(app.calls("create", None), 1);
    assert!(
        messages(&job)
            .iter()
            .any(|m| m.contains("made by the earlier attempt; not creating again")),
        "{job:#}"
    );
}

#[tokio::test]
async fn idempotency_keys_return_the_same_job() {
    let app = spawn_app(AppOptions::default()).await;
    let id = app.machines_in("ready").await[0].clone();
    let body = json!({"kind": "show", "machine_id": id, "idempotency_key": "report-42"});
    let (first_status, first) = app.post("/v1/jobs", body.clone()).await;
    let (second_status, second) = app.post("/v1/jobs", body).await;
    assert_eq!(first_status, StatusCode::CREATED);
    assert_eq!(second_status, StatusCode::OK);
    assert_eq!(first["id"], second["id"]);
    let (_, list) = app.get("/v1/jobs").await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
}

async fn cancel_stops_a_job_and_refuses_a_finished_one(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("ready").await[0].clone();
    let job = app
        .submit(json!({"kind": "stop", "machine_id": id, "delay_seconds": 3600}))
        .await;
    let jid = job["id"].as_i64().unwrap();
    let (status, cancelled) = app.post(&format!("/v1/jobs/{jid}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let (status, again) = app.post(&format!("/v1/jobs/{jid}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(app.calls("stop", None), 0);
}

#[tokio::test]
async fn a_job_claimed_ahead_and_cancelled_never_makes_its_call() {
    // One worker, so the second job is claimed ahead and waits for it.
    let app = spawn_app(AppOptions {
        workers: 1,
        ..AppOptions::default()
    })
    .await;
    let mut machines = app.machines_in("ready").await;
    machines.extend(app.machines_in("off").await);
    let [busy, held, after] = [&machines[0], &machines[1], &machines[2]];
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Hang { ms: 2_000 },
        route: Some(fault_route(Backend::Legacy, "show")),
        count: 1,
        after_apply: true,
    });
    let first = app
        .submit(json!({"kind": "show", "machine_id": busy}))
        .await;
    // The simulator's call counter has no notification, and nothing is
    // committed when the call goes out: this polls a counter in memory.
    while app.calls("show", Some(busy)) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The worker is inside the hanging call: the next job is claimed (it
    // shows as running) but its step cannot start.
    let second = app
        .submit(json!({"kind": "show", "machine_id": held}))
        .await;
    let second = second["id"].as_i64().unwrap();
    app.reached(second, "running").await;
    let (status, cancelled) = app
        .post(&format!("/v1/jobs/{second}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");

    // The worker's line is first come, first served: once a job submitted
    // after the cancel has run, the cancelled one has had its turn.
    let third = app.run(json!({"kind": "show", "machine_id": after})).await;
    assert_eq!(third["state"], "succeeded", "{third:#}");
    let first = app.finished(first["id"].as_i64().unwrap()).await;
    assert_eq!(first["state"], "succeeded", "{first:#}");
    assert_eq!(app.calls("show", Some(held)), 0);
    assert_eq!(app.job(second).await["state"], "cancelled");
}

#[tokio::test]
async fn the_api_needs_the_token_when_one_is_set() {
    let app = spawn_app(AppOptions::default()).await;
    let plain = reqwest::Client::new();
    let no_token = plain
        .get(format!("{}/v1/jobs", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = no_token.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = plain
        .get(format!("{}/v1/jobs", app.url))
        .bearer_auth("test-admin-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let health = plain
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, _) = app.get("/v1/jobs").await;
    assert_eq!(status, StatusCode::OK);

    let open = spawn_app(AppOptions {
        token: None,
        ..AppOptions::default()
    })
    .await;
    let anyone = plain
        .get(format!("{}/v1/jobs", open.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anyone.status(), StatusCode::OK);
}

async fn shutdown_releases_waiting_work_and_a_new_daemon_finishes_it(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    app.sim.sim.set_stuck(&id, true);
    let job = app.submit(json!({"kind": "start", "machine_id": id})).await;
    let jid = job["id"].as_i64().unwrap();
    // Wait until the start was sent and the job waits.
    app.reached(jid, "waiting").await;
    let store = app.store_options();
    let start = crate::harness::route(backend, "start");
    app.daemon.unwrap().stop().await;
    app.sim.sim.set_stuck(&id, false);
    // A second daemon on the same database picks the wait up without resending.
    let mut settings = machinist::daemon::DaemonSettings::new(std::path::PathBuf::new());
    settings.store = store;
    settings.workers.poll_interval = Duration::from_millis(20);
    let api = crate::harness::daemon_api(backend, &app.sim.url, Duration::from_secs(2));
    let second = machinist::daemon::Daemon::start(
        settings,
        api,
        std::sync::Arc::new(machinist::clock::SystemClock),
    )
    .await
    .unwrap();
    let j = final_in(second.store(), jid).await;
    assert_eq!(j.state, machinist::job::JobState::Succeeded, "{j:#?}");
    assert_eq!(app.sim.sim.calls(start.0, start.1, Some(&id)), 1);
    second.stop().await;
}

/// Job `id` once it is final in `store` (read after each commit, for at most 20 s).
async fn final_in(store: &machinist::store::Store, id: i64) -> machinist::job::Job {
    until_committed(store, Duration::from_secs(20), || async {
        let job = store.job(id).await.unwrap().unwrap();
        if job.state.is_final() {
            Ok(job)
        } else {
            Err(format!("job {id} did not finish: {job:#?}"))
        }
    })
    .await
}

/// Runs a start and then a stop of `id` to the end, as earlier jobs whose
/// events stay in the machine's history.
async fn start_then_stop(app: &crate::harness::TestApp, id: &str) {
    for (kind, state) in [("start", "ready"), ("stop", "off")] {
        let job = app.run(json!({"kind": kind, "machine_id": id})).await;
        assert_eq!(job["result"]["state"], state, "{job:#}");
    }
}

/// The reproduction: a start whose request got a 503 (and never
/// arrived) right after another job's start and stop is sent again, not
/// taken as done on the earlier start's event.
async fn a_start_after_an_ambiguous_error_is_sent_again_not_taken_for_an_earlier_one(
    backend: Backend,
) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    start_then_stop(&app, &id).await;
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 503 },
        route: Some(fault_route(backend, "start")),
        count: 1,
        after_apply: false,
    });
    let job = app
        .run(json!({"kind": "start", "machine_id": id, "wait_timeout_seconds": 5}))
        .await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["result"]["state"], "ready", "{job:#}");
    assert_eq!(job["attempt"], 2, "{job:#}");
    assert_eq!(
        app.calls("start", Some(&id)),
        3,
        "one start per job, plus the resend"
    );
    let notes = messages(&job);
    assert!(
        notes
            .iter()
            .any(|m| m.starts_with("nothing shows that the start sent at")
                && m.ends_with("; sending it again")),
        "{job:#}"
    );
    assert!(!notes.iter().any(|m| m.contains("took effect")), "{job:#}");
}

/// A daemon stopped while its start hangs at Paperspace (and is never
/// applied) leaves a `sending` checkpoint; the next daemon finds the
/// machine still `off`, with only earlier jobs' events, and sends the start
/// again instead of waiting for a `ready` that cannot come.
async fn a_resumed_start_whose_request_never_arrived_is_sent_again(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        request_timeout: Duration::from_secs(10),
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    start_then_stop(&app, &id).await;
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Hang { ms: 4_000 },
        route: Some(fault_route(backend, "start")),
        count: 1,
        after_apply: false,
    });
    let job = app
        .submit(json!({"kind": "start", "machine_id": id, "wait_timeout_seconds": 5}))
        .await;
    let jid = job["id"].as_i64().unwrap();
    let (method, route) = crate::harness::route(backend, "start");
    let starts = |sim: &machinist::sim::SimHandle| sim.sim.calls(method, route, Some(&id));
    // The simulator's call counter has no notification, and nothing is
    // committed when the request arrives: this polls a counter in memory.
    while starts(&app.sim) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let store = app.store_options();
    // The grace period runs out while the request hangs: the job goes back
    // to the queue with its checkpoint.
    app.daemon.unwrap().stop().await;
    assert_eq!(
        app.sim.sim.machine_state(&id),
        Some(machinist::machine::MachineState::Off)
    );

    let mut settings = machinist::daemon::DaemonSettings::new(std::path::PathBuf::new());
    settings.store = store;
    settings.workers.poll_interval = Duration::from_millis(20);
    let api = crate::harness::daemon_api(backend, &app.sim.url, Duration::from_secs(2));
    let second = machinist::daemon::Daemon::start(
        settings,
        api,
        std::sync::Arc::new(machinist::clock::SystemClock),
    )
    .await
    .unwrap();
    let released = second.store().job(jid).await.unwrap().unwrap();
    assert!(
        matches!(
            released.checkpoint,
            Some(machinist::job::Checkpoint::Sending { .. })
        ),
        "{released:#?}"
    );
    let done = final_in(second.store(), jid).await;
    assert_eq!(done.state, machinist::job::JobState::Succeeded, "{done:#?}");
    assert_eq!(
        app.sim.sim.machine_state(&id),
        Some(machinist::machine::MachineState::Ready)
    );
    assert_eq!(starts(&app.sim), 3);
    let events = second.store().events(jid).await.unwrap();
    assert!(
        events.iter().any(|e| e
            .event
            .message
            .starts_with("nothing shows that the start sent at")),
        "{events:#?}"
    );
    second.stop().await;
}

/// Someone stops the machine while a start job waits for `ready`: the wait
/// sees it `off`, with no start under way, and sends the start again (a new
/// attempt) instead of waiting out its timeout.
async fn a_start_undone_under_its_wait_is_sent_again(backend: Backend) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let id = app.machines_in("off").await[0].clone();
    assert!(app.sim.sim.set_stuck(&id, true));
    let job = app
        .submit(json!({"kind": "start", "machine_id": id, "wait_timeout_seconds": 10}))
        .await;
    let jid = job["id"].as_i64().unwrap();
    app.reached(jid, "waiting").await;
    app.api.stop(&id).await.unwrap();
    app.sim.sim.set_stuck(&id, false);

    let job = app.finished(jid).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["result"]["state"], "ready", "{job:#}");
    assert_eq!(job["attempt"], 2, "{job:#}");
    assert_eq!(app.calls("start", Some(&id)), 2);
    assert!(
        messages(&job).iter().any(|m| m.contains(&format!(
            "machine {id} was `off` on 3 polls in a row with no start under way"
        )) && m.ends_with("; sending it again")),
        "{job:#}"
    );
}

/// The same, on the job's last attempt: it fails saying why instead of
/// waiting out its timeout.
#[tokio::test]
async fn a_start_undone_under_its_wait_on_the_last_attempt_fails_at_once() {
    let app = spawn_app(AppOptions::default()).await;
    let id = app.machines_in("off").await[0].clone();
    assert!(app.sim.sim.set_stuck(&id, true));
    let job = app
        .submit(json!({"kind": "start", "machine_id": id, "max_attempts": 1,
            "wait_timeout_seconds": 60}))
        .await;
    let jid = job["id"].as_i64().unwrap();
    app.reached(jid, "waiting").await;
    app.api.stop(&id).await.unwrap();
    app.sim.sim.set_stuck(&id, false);

    let job = app.finished(jid).await;
    assert_eq!(job["state"], "failed", "{job:#}");
    assert_eq!(
        job["last_error"],
        format!(
            "machine {id} was `off` on 3 polls in a row with no start under way, so the start did \
             not take effect or was undone; not sending it again: the job's attempts are spent (1 of 1)"
        ),
        "{job:#}"
    );
    assert_eq!(app.calls("start", Some(&id)), 1);
}

/// Every call has a 30% chance of a 5xx, half of them after Paperspace
/// applied the request: each machine is started and stopped three times in
/// a row, so every job after the first has earlier jobs' events to be
/// misled by. Every job ends in its state, and the machine is really there.
async fn under_a_30_percent_fault_mix_every_start_and_stop_ends_where_its_machine_is(
    backend: Backend,
) {
    let app = spawn_app(AppOptions {
        backend,
        ..AppOptions::default()
    })
    .await;
    let off = app.machines_in("off").await;
    let ready = app.machines_in("ready").await;
    app.sim.sim.set_faults(FaultSpec {
        error_rate: 0.3,
        ..FaultSpec::default()
    });
    let mut chains = Vec::new();
    for (ids, kinds) in [
        (&off, ["start", "stop", "start"]),
        (&ready, ["stop", "start", "stop"]),
    ] {
        for id in ids {
            let mut jobs = Vec::new();
            for kind in kinds {
                let job = app
                    .submit(json!({"kind": kind, "machine_id": id, "max_attempts": 40,
                        "wait_timeout_seconds": 10}))
                    .await;
                jobs.push((kind, job["id"].as_i64().unwrap()));
            }
            chains.push((id.clone(), jobs));
        }
    }
    for (id, jobs) in &chains {
        for (kind, jid) in jobs {
            let job = app.finished(*jid).await;
            let want = if *kind == "start" { "ready" } else { "off" };
            assert_eq!(job["state"], "succeeded", "{job:#}");
            assert_eq!(job["result"]["state"], want, "{job:#}");
        }
        let last = if jobs.last().unwrap().0 == "start" {
            machinist::machine::MachineState::Ready
        } else {
            machinist::machine::MachineState::Off
        };
        assert_eq!(app.sim.sim.machine_state(id), Some(last), "{id}");
    }
}

/// `GET /readyz` (open, but the token does no harm).
async fn readyz(app: &crate::harness::TestApp) -> (StatusCode, serde_json::Value) {
    app.get("/readyz").await
}

#[tokio::test]
async fn a_database_removed_while_running_refuses_writes_and_readiness() {
    if crate::harness::sqlite_only("a_database_removed_while_running") {
        return;
    }
    let app = spawn_app(AppOptions::default()).await;
    let later = json!({"kind": "refresh", "delay_seconds": 3600});
    for _ in 0..3 {
        app.submit(later.clone()).await;
    }
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let path = app.store().path().to_path_buf();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        std::fs::remove_file(file).unwrap();
    }
    // Readiness notices before any write does.
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(body["error"]["field"], "database");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("was removed"), "{message}");

    // Every submission from now on is refused, naming the file and the fix;
    // one acknowledged would be missing from the file a restart opens.
    let mut acknowledged = Vec::new();
    for _ in 0..10 {
        let (status, body) = app.post("/v1/jobs", later.clone()).await;
        if status.is_success() {
            acknowledged.push(body["id"].as_i64().unwrap());
            continue;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "unavailable");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{} was removed", path.display())),
            "{message}"
        );
        assert!(message.contains("restart the daemon"), "{message}");
    }
    let (status, _) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    app.daemon.unwrap().stop().await;
    let restarted = machinist::store::Store::open(&machinist::store::StoreOptions::new(&path))
        .await
        .unwrap();
    for id in &acknowledged {
        assert!(
            restarted.job(*id).await.unwrap().is_some(),
            "job {id} was acknowledged after the removal but is not in the file a restart opens"
        );
    }
    assert_eq!(acknowledged, Vec::<i64>::new());
}

#[tokio::test]
async fn a_failing_write_makes_the_daemon_unready_until_writes_succeed_again() {
    if crate::harness::sqlite_only("a_failing_write_makes_the_daemon_unready") {
        return;
    }
    let app = spawn_app(AppOptions::default()).await;
    let probes = || {
        let db = rusqlite::Connection::open_with_flags(
            app.store().path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row("SELECT probes FROM write_probe", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    // A fresh daemon has written nothing (its start-up changes no row), so
    // readiness writes its probe; the probe is a write, so the next check
    // has a fresh one to go by.
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(probes(), 1);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(probes(), 1);

    // The database may not grow: as on a full disk, the first write that
    // needs a new page fails with SQLite's SQLITE_FULL.
    let store = app.store();
    store.cap_pages_for_test(Some(1)).await.unwrap();
    let later = json!({"kind": "refresh", "delay_seconds": 3600});
    let mut refused = None;
    for _ in 0..5000 {
        let (status, body) = app.post("/v1/jobs", later.clone()).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let refused = refused.expect("a write needed a new page");
    assert_eq!(refused["error"]["code"], "unavailable");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("database or disk is full"), "{message}");

    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["field"], "database");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not take writes"), "{message}");
    assert!(message.contains("database or disk is full"), "{message}");

    // Room again: the next write succeeds, and readiness follows it.
    store.cap_pages_for_test(None).await.unwrap();
    app.submit(later).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
