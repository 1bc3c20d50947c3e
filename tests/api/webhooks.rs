//! Webhooks end to end: a receiver in this process, the real daemon (or
//! the scheduler, meter and alarm driven by hand on a manual clock) and
//! the simulator. Signatures are checked with an HMAC of our own (the
//! `hmac` and `sha2` crates, not the `standardwebhooks` crate the daemon
//! signs with); retries keep their `webhook-id`; `410 Gone` disables; a
//! receiver that hangs holds up neither a machine's start nor another
//! endpoint; a kill -9 between attempts loses no delivery; and every event
//! type of the catalogue comes from a real scenario.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use machinist::daemon::Meter;
use machinist::delivery::{LeftRunning, Publisher};
use machinist::paperspace::Backend;
use machinist::schedule::window::WindowRequest;
use machinist::scheduler::Scheduler;
use machinist::sim::{FaultKind, OneShotFault, OutsideAction};
use machinist::store::Delivery;
use machinist::webhook::{EndpointSource, EndpointSpec, EventType, Format, Secret};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::receiver::{Receiver, Script};
use crate::harness::{AppOptions, Run, TestApp, spawn_app, until_committed};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The signature the Standard Webhooks spec defines, computed here:
/// base64(HMAC-SHA256(key, "id.timestamp.body")), key = base64 after `whsec_`.
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn app(backend: Backend) -> TestApp {
    spawn_app(AppOptions {
        backend,
        webhooks: AppOptions::receivers(),
        ..AppOptions::default()
    })
    .await
}

/// Creates an endpoint over the API; its id and secret.
async fn endpoint(app: &TestApp, body: Value) -> (i64, String) {
    let (status, created) = app.post("/v1/webhooks", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body} → {created}");
    (
        created["endpoint"]["id"].as_i64().unwrap(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

/// Keeps a payload as the catalogue's example: `target/tmp/webhook-examples/
/// <type>.json`, which the README's event catalogue shows.
fn keep_example(payload: &Value) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("webhook-examples");
    std::fs::create_dir_all(&dir).unwrap();
    let kind = payload["type"].as_str().unwrap();
    std::fs::write(
        dir.join(format!("{kind}.json")),
        serde_json::to_string_pretty(payload).unwrap(),
    )
    .unwrap();
}

use crate::harness::fault_route;

/// A stop Paperspace refuses for good (a 400), on `machine`.
fn refuse_stop(app: &TestApp, backend: Backend) {
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 400 },
        route: Some(fault_route(backend, "stop")),
        count: 1,
        after_apply: false,
    });
}

#[tokio::test]
async fn a_failed_stop_arrives_signed_as_the_specification_says() {
    let app = app(Backend::V1).await;
    let rx = Receiver::start().await;
    let (_, secret) = endpoint(&app, json!({"url": rx.url, "events": ["job.failed"]})).await;
    let ready = app.machines_in("ready").await[0].clone();
    refuse_stop(&app, Backend::V1);
    let job = app.run(json!({"kind": "stop", "machine_id": ready})).await;
    assert_eq!(job["state"], "failed", "{job}");

    let d = rx.event("job.failed").await;
    let (id, ts, sig) = (
        d.header("webhook-id"),
        d.header("webhook-timestamp"),
        d.header("webhook-signature"),
    );
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(d.header("content-type"), "application/json");
    let expected = expected_signature(&secret, id, ts, &d.body);
    assert_eq!(sig, format!("v1,{expected}"));
    // The timestamp is now, in seconds.
    let sent: i64 = ts.parse().unwrap();
    assert!((Utc::now().timestamp() - sent).abs() < 60);
    // The payload: {type, timestamp, data} with the job's facts and a link.
    let body = d.json();
    keep_example(&body);
    assert_eq!(body["type"], "job.failed");
    assert_eq!(body["data"]["job_id"], job["id"]);
    assert_eq!(body["data"]["kind"], "stop");
    assert_eq!(body["data"]["machine_id"], ready.as_str());
    assert_eq!(body["data"]["link"], format!("/v1/jobs/{}", job["id"]));
    assert!(
        body["data"]["error"].as_str().unwrap().contains("400"),
        "{body}"
    );
    // And the crate the daemon signs with agrees (a sanity check, not the proof).
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&d.body, &d.headers)
        .unwrap();
}

#[tokio::test]
async fn a_receiver_answering_500_then_200_gets_the_same_webhook_id_twice() {
    let app = app(Backend::Legacy).await;
    let rx = Receiver::start().await;
    rx.then(Script::Status(500, vec![]));
    let (id, _) = endpoint(&app, json!({"url": rx.url, "events": ["job.failed"]})).await;
    let job = app
        .run(json!({"kind": "show", "machine_id": "psnosuchmachine"}))
        .await;
    assert_eq!(job["state"], "failed");
    let seen = rx.until(Duration::from_secs(20), |s| s.len() >= 2).await;
    assert_eq!(seen[0].header("webhook-id"), seen[1].header("webhook-id"));
    assert_eq!(seen[0].body, seen[1].body, "the same payload");

    // The deliveries listing tells both attempts.
    let deliveries = until_committed(app.store(), Duration::from_secs(10), || async {
        let list = app.store().deliveries(id, None, 10).await.unwrap();
        match list.first() {
            Some(d) if d.job.state.is_final() => Ok(list),
            _ => Err(format!("{list:?}")),
        }
    })
    .await;
    let d: &Delivery = &deliveries[0];
    assert_eq!(d.job.state.to_string(), "succeeded");
    let statuses: Vec<Option<u16>> = d.attempts.iter().map(|a| a.event.status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    let (_, listed) = app.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(
        listed["deliveries"][0]["attempts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_says_so() {
    let app = app(Backend::Legacy).await;
    let rx = Receiver::start().await;
    rx.then(Script::Status(410, vec![]));
    let (id, _) = endpoint(&app, json!({"url": rx.url, "events": ["job.failed"]})).await;
    app.run(json!({"kind": "show", "machine_id": "psnosuchmachine"}))
        .await;
    rx.until(Duration::from_secs(20), |s| !s.is_empty()).await;
    let shown = until_committed(app.store(), Duration::from_secs(10), || async {
        let (_, e) = app.get(&format!("/v1/webhooks/{id}")).await;
        if e["disabled"].is_string() {
            Ok(e)
        } else {
            Err(e.to_string())
        }
    })
    .await;
    assert!(
        shown["disabled"].as_str().unwrap().contains("410 Gone"),
        "{shown}"
    );
    // Later events are not delivered to it: no delivery is even queued.
    app.run(json!({"kind": "show", "machine_id": "psnosuchmachine2"}))
        .await;
    assert_eq!(app.store().deliveries(id, None, 10).await.unwrap().len(), 1);
    assert_eq!(rx.seen().len(), 1);
    // Resuming enables it again.
    let (status, resumed) = app
        .post(&format!("/v1/webhooks/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert!(resumed["disabled"].is_null());
}

#[tokio::test]
async fn a_hanging_receiver_holds_up_neither_a_start_nor_another_endpoint() {
    let app = app(Backend::Legacy).await;
    let stuck = Receiver::start().await;
    for _ in 0..20 {
        stuck.then(Script::Hold);
    }
    let healthy = Receiver::start().await;
    endpoint(
        &app,
        json!({"url": stuck.url, "events": ["job.failed", "job.succeeded"]}),
    )
    .await;
    endpoint(&app, json!({"url": healthy.url, "events": ["job.failed"]})).await;
    // Ten failures: twenty deliveries, ten of them to a receiver that hangs.
    for i in 0..10 {
        app.submit(json!({"kind": "show", "machine_id": format!("psnosuch{i}")}))
            .await;
    }
    healthy
        .until(Duration::from_secs(20), |s| s.len() == 10)
        .await;
    // The stuck receiver holds what it got; a start runs meanwhile.
    let off = app.machines_in("off").await[0].clone();
    let job = app.run(json!({"kind": "start", "machine_id": off})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let held = stuck.seen().len();
    assert!(
        (1..=2).contains(&held),
        "at most two deliveries in flight to one endpoint, got {held}"
    );
    stuck.release(20);
    stuck
        .until(Duration::from_secs(30), |s| {
            s.iter().filter(|d| d.kind() == "job.failed").count() == 10
        })
        .await;
}

#[tokio::test]
async fn the_slack_format_is_a_message_slack_accepts() {
    let app = app(Backend::Legacy).await;
    let rx = Receiver::start().await;
    endpoint(
        &app,
        json!({"url": rx.url, "events": ["job.failed"], "format": "slack"}),
    )
    .await;
    app.run(json!({"kind": "show", "machine_id": "psnosuchmachine"}))
        .await;
    let seen = rx.until(Duration::from_secs(20), |s| !s.is_empty()).await;
    let body = seen[0].json();
    assert!(body["text"].as_str().unwrap().contains("failed"), "{body}");
    assert_eq!(body["blocks"][0]["type"], "section");
    assert!(
        body["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("*job.failed*")
    );
}

#[tokio::test]
async fn job_retrying_and_job_succeeded_are_opt_in() {
    let app = app(Backend::Legacy).await;
    let rx = Receiver::start().await;
    let quiet = Receiver::start().await;
    endpoint(
        &app,
        json!({"url": rx.url, "events": ["job.retrying", "job.succeeded"]}),
    )
    .await;
    endpoint(&app, json!({"url": quiet.url})).await;
    let off = app.machines_in("off").await[0].clone();
    app.sim.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 503 },
        route: Some(fault_route(Backend::Legacy, "start")),
        count: 1,
        after_apply: false,
    });
    let job = app.run(json!({"kind": "start", "machine_id": off})).await;
    assert_eq!(job["state"], "succeeded");
    let retrying = rx.event("job.retrying").await.json();
    keep_example(&retrying);
    assert!(retrying["data"]["retry_at"].is_string(), "{retrying}");
    assert_eq!(retrying["data"]["attempt"], 1);
    let succeeded = rx.event("job.succeeded").await.json();
    keep_example(&succeeded);
    assert_eq!(succeeded["data"]["job_id"], job["id"]);
    // The endpoint with the default events got neither.
    assert!(
        quiet.seen().iter().all(|d| !d.kind().starts_with("job.")),
        "defaults leave the opt-in types out"
    );
}

#[tokio::test]
async fn the_daemon_tells_when_it_starts_and_stops_and_a_digest_on_demand() {
    let rx = Receiver::start().await;
    let secret = Secret::generate();
    let app = spawn_app(AppOptions {
        webhooks: AppOptions::receivers(),
        webhook_endpoints: vec![(
            EndpointSpec {
                url: rx.url.clone(),
                name: Some("ops".into()),
                format: Format::Standard,
                events: Some(vec![
                    EventType::DaemonStarted,
                    EventType::DaemonStopping,
                    EventType::WeeklyDigest,
                ]),
                ..EndpointSpec::default()
            },
            secret,
        )],
        ..AppOptions::default()
    })
    .await;
    let started = rx.event("daemon.started").await.json();
    keep_example(&started);
    assert_eq!(started["data"]["version"], env!("CARGO_PKG_VERSION"));
    // A configured endpoint is the configuration's to change.
    let (_, list) = app.get("/v1/webhooks").await;
    let id = list["webhooks"][0]["id"].as_i64().unwrap();
    assert_eq!(list["webhooks"][0]["source"], "config");
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert!(status.is_client_error() || status.is_success());

    let digest = app.run(json!({"kind": "digest"})).await;
    assert_eq!(digest["state"], "succeeded", "{digest}");
    let body = rx.event("digest.weekly").await.json();
    keep_example(&body);
    for key in ["week", "month_to_date", "failed_jobs", "machines"] {
        assert!(!body["data"][key].is_null(), "{key}: {body}");
    }

    let mut app = app;
    app.daemon.take().unwrap().stop().await;
    let stopping = rx.event("daemon.stopping").await.json();
    keep_example(&stopping);
    assert_eq!(stopping["data"]["pid"], std::process::id());
}

/// The scheduler, the meter and the alarm driven by hand: a manual clock,
/// no workers, and the deliveries they queue read from the store.
struct Driven {
    app: TestApp,
    publisher: Publisher,
    endpoint: i64,
}

impl Driven {
    async fn start(start: &str, backend: Backend) -> Driven {
        let app = spawn_app(AppOptions {
            run: Run::Nothing,
            backend,
            clock: Some(at(start)),
            transition: Duration::from_secs(60),
            default_zone: "Europe/Amsterdam",
            webhooks: AppOptions::receivers(),
            ..AppOptions::default()
        })
        .await;
        let spec = EndpointSpec {
            url: "http://127.0.0.1:9/hook".into(),
            events: Some(
                EventType::ALL
                    .into_iter()
                    .filter(|t| *t != EventType::Ping)
                    .collect(),
            ),
            ..EndpointSpec::default()
        };
        let saved = app
            .store()
            .create_endpoint(spec, Secret::generate(), EndpointSource::Api, at(start))
            .await
            .unwrap();
        let machinist::store::EndpointSaved::Saved(endpoint) = saved else {
            panic!("{saved:?}")
        };
        let clock = Arc::new(app.clock().clone());
        let publisher = Publisher::new(app.store().clone(), clock, 4);
        publisher.refresh().await.unwrap();
        Driven {
            app,
            publisher,
            endpoint: endpoint.id,
        }
    }

    fn scheduler(&self) -> Scheduler {
        Scheduler::new(
            self.app.store().clone(),
            self.app.daemon_api.clone(),
            Arc::new(self.app.clock().clone()),
            self.app.context().clone(),
        )
        .with_publisher(self.publisher.clone())
    }

    fn meter(&self) -> Meter {
        Meter::new(
            self.app.store().clone(),
            self.app.daemon_api.clone(),
            Arc::new(self.app.clock().clone()),
            Duration::from_secs(300),
            Duration::from_secs(86_400),
        )
        .with_publisher(self.publisher.clone())
    }

    /// The events queued for the endpoint, oldest first: (type, data).
    async fn events(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let mut deliveries = self
            .app
            .store()
            .deliveries(self.endpoint, None, 200)
            .await
            .unwrap();
        deliveries.reverse();
        for d in deliveries {
            let event = self
                .app
                .store()
                .webhook_event(&d.event_id)
                .await
                .unwrap()
                .unwrap();
            keep_example(&event.payload());
            out.push((event.kind.as_str().to_string(), event.data));
        }
        out
    }

    async fn of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .await
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, d)| d)
            .collect()
    }
}

#[tokio::test]
async fn an_excluded_date_and_a_missed_firing_are_told() {
    let h = Driven::start("2026-03-02T08:58:00Z", Backend::Legacy).await;
    let off = h.app.machines_in("off").await[0].clone();
    let spec: machinist::schedule::spec::ScheduleSpec = serde_json::from_value(json!({
        "name": "nine", "cron": "0 10 * * MON-FRI", "template": {"kind": "start"},
        "targets": {"machine_ids": [off]},
        "exclusions": {"dates": ["2026-03-02"]}
    }))
    .unwrap();
    h.app.registry().create_schedule(spec).await.unwrap();
    h.app.clock().set(at("2026-03-02T09:00:00Z"));
    h.scheduler().tick().await.unwrap();
    let skipped = h.of("schedule.firing_skipped").await;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["schedule"], "nine");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("2026-03-02 is an excluded date"),
        "{skipped:?}"
    );
    // A day the daemon was down through: missed (misfire: skip by default
    // for starts beyond their catch-up).
    h.app.clock().set(at("2026-03-03T12:00:00Z"));
    h.scheduler().tick().await.unwrap();
    let skipped = h.of("schedule.firing_skipped").await;
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[1]["reason"].as_str().unwrap().contains("missed"),
        "{skipped:?}"
    );
}

fn night_window(name: &str, machine: &str) -> WindowRequest {
    serde_json::from_value(json!({
        "name": name,
        "hours": {"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "02:00", "end": "03:00", "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": [machine]},
        "enforce": true,
        "enforce_interval_seconds": 300
    }))
    .unwrap()
}

#[tokio::test]
async fn a_dst_collapsed_window_and_an_enforced_stop_are_told() {
    let h = Driven::start("2026-03-29T00:30:00Z", Backend::Legacy).await;
    let ready = h.app.machines_in("ready").await[0].clone();
    h.app
        .registry()
        .create_window(night_window("dst", &ready))
        .await
        .unwrap();
    // 01:30 CET: the window is closed and the machine runs: enforcement.
    h.scheduler().tick().await.unwrap();
    let enforced = h.of("window.enforced").await;
    assert_eq!(enforced.len(), 1, "{:?}", h.events().await);
    assert_eq!(enforced[0]["machine_id"], ready.as_str());
    assert_eq!(enforced[0]["window"], "dst");
    // 02:00–03:00 does not exist on 2026-03-29: both edges skip, one event.
    h.app.clock().set(at("2026-03-29T01:00:00Z"));
    h.scheduler().tick().await.unwrap();
    let collapsed = h.of("window.collapsed").await;
    assert_eq!(collapsed.len(), 1, "{:?}", h.events().await);
    assert_eq!(collapsed[0]["day"], "2026-03-29");
    assert!(
        collapsed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("window collapsed by a DST change")
    );
    assert!(h.of("schedule.firing_skipped").await.is_empty());
}

#[tokio::test]
async fn a_machine_started_outside_machinist_during_a_closed_window_is_told() {
    let h = Driven::start("2026-03-02T20:00:00Z", Backend::V1).await;
    let off = h.app.machines_in("off").await[0].clone();
    // Its window is open 02:00–03:00 Amsterdam: closed at 21:00.
    h.app
        .registry()
        .create_window(night_window("night", &off))
        .await
        .unwrap();
    h.meter().run_once().await.unwrap();
    assert!(h.of("machine.changed_outside").await.is_empty());
    h.app.sim.sim.outside(&off, OutsideAction::Start).unwrap();
    h.app.clock().advance(chrono::Duration::minutes(5));
    h.meter().run_once().await.unwrap();
    let changed = h.of("machine.changed_outside").await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0]["machine_id"], off.as_str());
    assert_eq!(changed[0]["change"], "started");
}

#[tokio::test]
async fn the_account_standing_is_told_when_it_changes() {
    let h = Driven::start("2026-03-02T20:00:00Z", Backend::V1).await;
    h.meter().run_once().await.unwrap();
    assert!(
        h.of("account.standing").await.is_empty(),
        "good is not news"
    );
    h.app
        .sim
        .sim
        .set_standing(false, vec!["Your payment method was declined".into()]);
    h.meter().run_once().await.unwrap();
    h.meter().run_once().await.unwrap();
    let told = h.of("account.standing").await;
    assert_eq!(told.len(), 1, "once per change: {told:?}");
    assert_eq!(told[0]["good_standing"], false);
    assert!(told[0]["message"].as_str().unwrap().contains("declined"));
}

#[tokio::test]
async fn a_machine_left_running_after_a_failed_stop_raises_the_alarm_with_its_cost() {
    let h = Driven::start("2026-03-02T18:00:00Z", Backend::V1).await;
    let ready = h.app.machines_in("ready").await[0].clone();
    // The 18:00 stop, refused by Paperspace (what a schedule's stop does).
    let job = h
        .app
        .store()
        .submit(
            machinist::job::NewJob::new(
                machinist::job::Operation::Stop,
                Some(ready.clone()),
                &machinist::job::JobDefaults::default(),
                at("2026-03-02T18:00:00Z"),
            ),
            at("2026-03-02T18:00:00Z"),
        )
        .await
        .unwrap()
        .job;
    h.app
        .store()
        .cancel(job.id, at("2026-03-02T18:00:01Z"))
        .await
        .unwrap();
    let alarm = LeftRunning::new(
        h.app.store().clone(),
        h.publisher.clone(),
        Arc::new(h.app.clock().clone()),
        Arc::new(AppOptions::receivers()),
        Default::default(),
    );
    // Seen running after the stop was asked (the meter's listing).
    h.app.clock().set(at("2026-03-02T18:05:00Z"));
    h.meter().run_once().await.unwrap();
    assert_eq!(alarm.check().await.unwrap(), 0, "not yet 15 minutes");
    h.app.clock().set(at("2026-03-02T18:20:00Z"));
    h.meter().run_once().await.unwrap();
    assert_eq!(alarm.check().await.unwrap(), 1);
    assert_eq!(alarm.check().await.unwrap(), 0, "not again so soon");
    let told = h.of("machine.left_running").await;
    assert_eq!(told[0]["machine_id"], ready.as_str());
    assert_eq!(told[0]["minutes"], 20);
    assert_eq!(told[0]["stop_job_id"], job.id);
    assert!(told[0]["hourly_rate"].as_f64().unwrap() > 0.0, "{told:?}");
    assert!(told[0]["cost_so_far"].as_f64().unwrap() > 0.0, "{told:?}");
    // Three hours on, still running: told again.
    h.app.clock().set(at("2026-03-02T21:21:00Z"));
    h.meter().run_once().await.unwrap();
    assert_eq!(alarm.check().await.unwrap(), 1);
}

#[tokio::test]
async fn deliveries_are_jobs_of_their_own_lane_and_cannot_be_submitted() {
    let app = app(Backend::Legacy).await;
    let (status, body) = app
        .post(
            "/v1/jobs",
            json!({"kind": "deliver", "args": {"endpoint": 1, "event": "msg_1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("webhook"), "{body}");
}

/// `[webhooks]` for a daemon process: loopback receivers, and retries two
/// seconds apart, long enough to kill the daemon between two attempts.
const PROCESS_CONFIG: &str =
    "[webhooks]\nallow_http_loopback = true\nretry_schedule = [\"2s\", \"2s\", \"2s\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_and_between_attempts_loses_no_delivery() {
    use crate::crash::{kill9, serve, start_served};
    let (_sim, sim_url) = crate::harness::process::start_sim(&[]);
    let fixture = crate::harness::Fixture::new().await;
    let db = fixture.options();
    let config = fixture.dir.path().join("machinist.toml");
    std::fs::write(&config, PROCESS_CONFIG).unwrap();
    let daemon = |db: &machinist::store::StoreOptions| {
        let mut command = serve(db, &sim_url, "legacy");
        command.arg("--config").arg(&config);
        start_served(command)
    };
    let http = reqwest::Client::new();
    let rx = Receiver::start().await;
    // The first attempt hangs (the daemon dies during it), the second
    // answers 500 (the daemon dies before the third), the third succeeds.
    rx.then(Script::Hold).then(Script::Status(500, vec![]));

    let (mut served, url) = daemon(&db);
    let created: Value = http
        .post(format!("{url}/v1/webhooks"))
        .json(&json!({"url": rx.url, "events": ["job.failed"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = created["endpoint"]["id"].as_i64().unwrap();
    let status = http
        .post(format!("{url}/v1/jobs"))
        .json(&json!({"kind": "show", "machine_id": "psnosuchmachine"}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    rx.until(Duration::from_secs(20), |s| s.len() == 1).await;
    kill9(&mut served); // during the first attempt

    let (mut served, url) = daemon(&db);
    rx.until(Duration::from_secs(30), |s| s.len() == 2).await;
    // The 500 is on record and the retry two seconds away: kill it now.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed: Value = http
            .get(format!("{url}/v1/webhooks/{endpoint}/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let d = &listed["deliveries"][0];
        if d["state"] == "queued" && d["attempts"][0]["status"] == 500 {
            assert!(d["next_attempt_at"].is_string(), "{listed}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill9(&mut served); // after the 500, before the retry

    let (served, url) = daemon(&db);
    let seen = rx.until(Duration::from_secs(30), |s| s.len() == 3).await;
    let id = seen[0].header("webhook-id").to_string();
    assert!(
        seen.iter().all(|d| d.header("webhook-id") == id),
        "one delivery, one id"
    );
    assert!(seen.iter().all(|d| d.kind() == "job.failed"));
    // The delivery ends delivered (its end is written just after the
    // receiver answers: another process, so asked again until then).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let listed: Value = http
            .get(format!("{url}/v1/webhooks/{endpoint}/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if listed["deliveries"][0]["state"] == "succeeded" || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let deliveries = listed["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "one delivery: {listed}");
    assert_eq!(deliveries[0]["state"], "succeeded", "{listed}");
    assert_eq!(rx.seen().len(), 3, "nothing sent after the success");
    drop(served);
}

/// A port free a moment ago, for a receiver started after its endpoint.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type ChildLines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// `contrib/webhook-receiver.py` as a child process on `port` with
/// `secret`; the process and its output, line by line.
async fn python_receiver(port: u16, secret: &str) -> (tokio::process::Child, ChildLines) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/webhook-receiver.py"
        ))
        .arg(port.to_string())
        .env("WEBHOOK_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = next_line(&mut lines).await;
    assert!(first.starts_with("listening on"), "{first}");
    (child, lines)
}

async fn next_line(lines: &mut ChildLines) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line within 20 s")
        .unwrap()
        .expect("the receiver is still running")
}

#[tokio::test]
async fn the_contrib_receiver_verifies_deliveries_and_refuses_a_wrong_secret() {
    let app = app(Backend::Legacy).await;
    // The README's receiver, given the secret `webhooks add` printed…
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (_, secret) = endpoint(&app, json!({"url": url, "events": ["job.failed"]})).await;
    let (_right, mut lines) = python_receiver(port, &secret).await;
    // …and one given a secret that is not its endpoint's.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    endpoint(&app, json!({"url": url, "events": ["job.failed"]})).await;
    let (_wrong, mut wrong) = python_receiver(port, Secret::generate().expose()).await;

    let job = app
        .run(json!({"kind": "show", "machine_id": "psnosuchmachine"}))
        .await;
    let line = next_line(&mut lines).await;
    assert!(line.starts_with("verified job.failed"), "{line}");
    assert!(line.contains(&format!("job {}", job["id"])), "{line}");
    let line = next_line(&mut wrong).await;
    assert_eq!(line, "REFUSED: the signature does not verify");
}
