//! The admin API over real HTTP: the router on 127.0.0.1:0 with a temp store
//! and a manual clock, no workers (jobs stay queued unless a test moves them
//! through the store). Also the `machinist jobs` CLI against it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::http::HttpLimits;
use machinist::job::{JobState, NewEvent};
use machinist::store::{JobFilter, Transition};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Answer, Answering, AppOptions, Run, answer, spawn_app, until_committed};

const TOKEN: &str = "test-admin-token-0123456789abcdef";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

/// The admin API alone ([`Run::Router`]) at [`t0`] on a manual clock.
type App = Answering;

async fn start_with(token: Option<&'static str>, limits: HttpLimits) -> App {
    Answering(
        spawn_app(AppOptions {
            token,
            limits,
            run: Run::Router,
            clock: Some(t0()),
            ..AppOptions::default()
        })
        .await,
    )
}

async fn start() -> App {
    start_with(Some(TOKEN), HttpLimits::default()).await
}

impl App {
    async fn submit(&self, body: Value) -> Answer {
        self.submit_raw(body.to_string(), "application/json").await
    }

    async fn submit_raw(&self, body: impl Into<reqwest::Body>, content_type: &str) -> Answer {
        let mut request = self.http.post(self.at("/v1/jobs")).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    async fn new_job(&self, body: Value) -> i64 {
        let a = self.submit(body.clone()).await;
        assert_eq!(a.status, StatusCode::CREATED, "{body} → {}", a.body);
        a.body["id"].as_i64().unwrap()
    }

    /// Claims the job and moves it to `to` through the store, as a worker would.
    async fn finish(&self, id: i64, to: JobState, error: Option<&str>) {
        let owner: Arc<str> = "test-worker".into();
        let claimed = self
            .store()
            .claim(&owner, 100, t0(), t0() + chrono::Duration::seconds(30))
            .await
            .unwrap();
        assert!(claimed.iter().any(|j| j.id == id), "job {id} claimable");
        let done = self
            .store()
            .transition(
                Transition {
                    job_id: id,
                    owner: owner.clone(),
                    to,
                    run_at: None,
                    checkpoint: None,
                    machine_id: None,
                    result: (to == JobState::Succeeded).then(|| json!({"ok": true})),
                    error: error.map(str::to_string),
                    events: vec![NewEvent::state(
                        Some(JobState::Running),
                        to,
                        error.unwrap_or("done"),
                    )],
                    seen: vec![],
                    seen_complete: false,
                    gone: vec![],
                    utilization: None,
                },
                t0() + chrono::Duration::seconds(1),
            )
            .await
            .unwrap();
        assert!(done);
        // Release whatever else the claim took, so later claims see it again.
        for other in claimed.iter().filter(|j| j.id != id) {
            self.store()
                .release(&owner, vec![other.id], t0())
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn auth_guards_every_route_but_health() {
    let app = start().await;
    let raw = |path: &str| app.http.get(app.at(path));

    let health = answer(raw("/healthz").send().await.unwrap()).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({"status": "ok"}));

    let missing = answer(raw("/v1/jobs").send().await.unwrap()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error().0, "unauthorized");
    assert!(
        missing.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let wrong_token = "wrong-token-value-that-must-not-echo";
    let wrong = answer(
        raw("/v1/jobs")
            .bearer_auth(wrong_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error().0, "unauthorized");
    assert!(wrong.headers.contains_key("www-authenticate"));
    let text = wrong.body.to_string();
    assert!(!text.contains(wrong_token) && !text.contains(TOKEN));

    let basic = answer(
        raw("/v1/jobs")
            .header("authorization", format!("Basic {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // A prefix of the right token is not the token.
    let prefix = answer(
        raw("/v1/jobs")
            .bearer_auth(&TOKEN[..10])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(prefix.status, StatusCode::UNAUTHORIZED);

    let right = answer(raw("/v1/jobs").bearer_auth(TOKEN).send().await.unwrap()).await;
    assert_eq!(right.status, StatusCode::OK);
    let lower = answer(
        raw("/v1/jobs")
            .header("authorization", format!("bearer {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        lower.status,
        StatusCode::OK,
        "the scheme is case-insensitive"
    );

    // Writes and unknown routes are guarded too; nothing was written.
    let post = answer(
        app.http
            .post(app.at("/v1/jobs"))
            .header("content-type", "application/json")
            .body(json!({"kind":"refresh"}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, StatusCode::UNAUTHORIZED);
    let unknown = answer(raw("/v1/nothing").send().await.unwrap()).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.job_count().await, 0);
}

#[tokio::test]
async fn without_a_token_requests_pass() {
    let app = start_with(None, HttpLimits::default()).await;
    let list = app.get("/v1/jobs").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body, json!({"jobs": [], "next_cursor": null}));
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn submit_every_kind() {
    let app = start().await;
    let cases = [
        (
            json!({"kind":"create","args":{"name":"train","region":"Europe (AMS1)","machine_type":"P4000","disk_size_gb":100,"template_id":"t123"}}),
            Some("ready"),
        ),
        (json!({"kind":"start","machine_id":"ps1"}), Some("ready")),
        (json!({"kind":"stop","machine_id":"ps1"}), Some("off")),
        (
            json!({"kind":"restart","machine_id":"ps1","wait":"serviceready"}),
            Some("serviceready"),
        ),
        (
            json!({"kind":"destroy","machine_id":"ps1","args":{"release_public_ip":true}}),
            Some("gone"),
        ),
        (
            json!({"kind":"update","machine_id":"ps1","args":{"name":"renamed"}}),
            None,
        ),
        (
            json!({"kind":"set_access","machine_id":"ps1","args":{"user_id":"u1","enable":true}}),
            None,
        ),
        (json!({"kind":"show","machine_id":"ps1"}), None),
        (json!({"kind":"refresh"}), None),
        (
            json!({"kind":"utilization","machine_id":"ps1","args":{"month":"2026-02"}}),
            None,
        ),
        (
            json!({"kind":"availability","args":{"region":"Europe (AMS1)","machine_type":"P4000"}}),
            None,
        ),
        (
            json!({"kind":"wait","machine_id":"ps1","wait":"off","wait_timeout_seconds":120}),
            Some("off"),
        ),
    ];
    let mut ids = Vec::new();
    for (body, wait) in cases {
        let a = app.submit(body.clone()).await;
        assert_eq!(a.status, StatusCode::CREATED, "{body} → {}", a.body);
        let job = &a.body;
        let id = job["id"].as_i64().unwrap();
        assert_eq!(
            a.headers["location"].to_str().unwrap(),
            format!("/v1/jobs/{id}")
        );
        assert_eq!(job["kind"], body["kind"]);
        assert_eq!(
            job["machine_id"],
            body.get("machine_id").cloned().unwrap_or(Value::Null)
        );
        assert_eq!(job["state"], "queued");
        assert_eq!(job["attempt"], 0);
        assert_eq!(job["max_attempts"], 5);
        assert_eq!(job["priority"], 0);
        assert_eq!(job["wait"], wait.map_or(Value::Null, |w| json!(w)));
        assert_eq!(job["run_at"], "2026-03-02T09:00:00Z");
        assert_eq!(job["created_at"], "2026-03-02T09:00:00Z");
        assert!(job["args"].is_object());
        if let Some(args) = body.get("args") {
            for (k, v) in args.as_object().unwrap() {
                assert_eq!(&job["args"][k], v, "{body}");
            }
        }
        ids.push(id);
    }
    assert_eq!(
        app.get("/v1/jobs/2").await.body["wait_timeout_seconds"],
        900
    );
    assert_eq!(app.job_count().await, 12);
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 12);

    // The fields a submission may set.
    let a = app
        .submit(
            json!({"kind":"stop","machine_id":"ps2","priority":7,"max_attempts":2,
                       "delay_seconds":60,"wait_timeout_seconds":30}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.body["priority"], 7);
    assert_eq!(a.body["max_attempts"], 2);
    assert_eq!(a.body["run_at"], "2026-03-02T09:01:00Z");
    assert_eq!(a.body["wait_timeout_seconds"], 30);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_job() {
    let app = start().await;
    let body = json!({"kind":"start","machine_id":"ps1","idempotency_key":"nightly-2026-03-02"});
    let first = app.submit(body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.submit(body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["idempotency_key"], "nightly-2026-03-02");
    assert!(!again.headers.contains_key("location"));
    assert_eq!(app.job_count().await, 1);
}

/// What, body, content type, status, code, field.
type BadCase = (
    &'static str,
    String,
    &'static str,
    StatusCode,
    &'static str,
    Option<&'static str>,
);

#[tokio::test]
async fn each_bad_submission_names_its_field_and_writes_nothing() {
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            max_body_bytes: 4096,
            ..HttpLimits::default()
        },
    )
    .await;
    app.new_job(json!({"kind":"refresh"})).await;
    let before = app.job_count().await;

    let cases: Vec<BadCase> = vec![
        // (what, body, content type, status, code, field)
        ("bad JSON", r#"{"kind":"start","machine_id":"#.into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("machine_id")),
        ("not JSON", "kind=start".into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", None),
        ("trailing data", r#"{"kind":"refresh"} {}"#.into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", None),
        ("empty body", "".into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", None),
        ("an array", r#"["start","ps1"]"#.into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", None),
        ("unknown field", json!({"kind":"start","machine_id":"ps1","colour":"red"}).to_string(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("colour")),
        ("wrong type", json!({"kind":"start","machine_id":"ps1","priority":"high"}).to_string(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("priority")),
        ("wrong type of kind", json!({"kind":5}).to_string(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("kind")),
        ("negative delay", json!({"kind":"refresh","delay_seconds":-5}).to_string(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("delay_seconds")),
        ("missing kind", json!({"machine_id":"ps1"}).to_string(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("kind")),
        ("unknown kind", json!({"kind":"teleport","machine_id":"ps1"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("kind")),
        ("missing machine_id", json!({"kind":"start"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("machine_id")),
        ("machine_id not wanted", json!({"kind":"refresh","machine_id":"ps1"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("machine_id")),
        ("bad machine_id", json!({"kind":"start","machine_id":"../etc"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("machine_id")),
        ("bad wait", json!({"kind":"start","machine_id":"ps1","wait":"off"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("wait")),
        ("bad args field", json!({"kind":"create","args":{"name":"a","region":"r","machine_type":"C5","disk_size_gb":"big","template_id":"t1"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.disk_size_gb")),
        ("unknown args field", json!({"kind":"start","machine_id":"ps1","args":{"force":true}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.force")),
        ("bad priority", json!({"kind":"refresh","priority":5000}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("priority")),
        ("wrong content type", json!({"kind":"refresh"}).to_string(), "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
        ("no content type", json!({"kind":"refresh"}).to_string(), "", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
        ("too large", format!(r#"{{"kind":"refresh","idempotency_key":"{}"}}"#, "k".repeat(5000)), "application/json", StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        ("repeated key", r#"{"kind":"refresh","kind":"start"}"#.into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("kind")),
        ("repeated key in args", r#"{"kind":"update","machine_id":"ps1","args":{"name":"a","name":"b"}}"#.into(), "application/json", StatusCode::BAD_REQUEST, "bad_request", Some("args.name")),
        ("wait job without wait", json!({"kind":"wait","machine_id":"ps1"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("wait")),
        ("utilization of a month not begun", json!({"kind":"utilization","machine_id":"ps1","args":{"month":"2026-04"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.month")),
        ("escape in a create name", json!({"kind":"create","args":{"name":"a\u{1b}[31m","region":"r","machine_type":"C5","disk_size_gb":50,"template_id":"t1"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.name")),
        ("C1 control in a region", json!({"kind":"availability","args":{"region":"Europe\u{85}","machine_type":"C5"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.region")),
        ("bidi override in an idempotency key", json!({"kind":"refresh","idempotency_key":"k\u{202e}"}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("idempotency_key")),
        ("zero-width space in an update name", json!({"kind":"update","machine_id":"ps1","args":{"name":"b\u{200b}"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.name")),
        ("byte order mark in a notification email", json!({"kind":"create","args":{"name":"a","region":"r","machine_type":"C5","disk_size_gb":50,"template_id":"t1","notification_email":"\u{feff}a@b.c"}}).to_string(), "application/json", StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", Some("args.notification_email")),
    ];
    for (what, body, content_type, status, code, field) in cases {
        let a = app.submit_raw(body, content_type).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        let (got_code, got_field) = a.error();
        assert_eq!(got_code, code, "{what}");
        assert_eq!(got_field.as_deref(), field, "{what}: {}", a.body);
        assert!(!a.message().is_empty(), "{what}");
        assert_eq!(app.job_count().await, before, "{what} wrote nothing");
    }
    // The charset parameter is fine.
    let ok = app
        .submit_raw(
            json!({"kind":"refresh"}).to_string(),
            "application/json; charset=utf-8",
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = start().await;
    for path in ["/v1", "/v2/jobs", "/v1/jobs/1/explode", "/healthz/"] {
        let a = app.get(path).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.error().0, "not_found");
    }
    let cases = [
        (reqwest::Method::DELETE, "/v1/jobs"),
        (reqwest::Method::PUT, "/v1/jobs/1"),
        (reqwest::Method::GET, "/v1/jobs/1/cancel"),
        (reqwest::Method::POST, "/healthz"),
        (reqwest::Method::POST, "/v1/history"),
    ];
    for (method, path) in cases {
        let a = app
            .send(app.http.request(method.clone(), app.at(path)))
            .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(a.error().0, "method_not_allowed");
    }
}

#[tokio::test]
async fn list_filters_and_pages_without_skips_or_repeats() {
    let app = start().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let machine = if i % 2 == 0 { "psA" } else { "psB" };
        let kind = if i % 3 == 0 { "stop" } else { "start" };
        expected.push(
            app.new_job(json!({"kind": kind, "machine_id": machine}))
                .await,
        );
    }
    let cancelled = expected[1];
    assert_eq!(
        app.post(&format!("/v1/jobs/{cancelled}/cancel"))
            .await
            .status,
        StatusCode::OK
    );

    // Walk pages of 3 while new jobs keep arriving.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=3&cursor={c}"),
            None => "/v1/jobs?limit=3".to_string(),
        };
        let a = app.get(&path).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let jobs = a.body["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 3);
        seen.extend(jobs.iter().map(|j| j["id"].as_i64().unwrap()));
        pages += 1;
        app.new_job(json!({"kind":"refresh"})).await;
        match a.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    expected.reverse();
    assert_eq!(
        seen, expected,
        "newest first, each once, none of the late ones"
    );
    assert_eq!(pages, 3);

    // A page that ends exactly at the last job has no cursor.
    let all = app.get("/v1/jobs?limit=500").await;
    let total = all.body["jobs"].as_array().unwrap().len();
    assert_eq!(total, 7 + 3);
    let exact = app.get(&format!("/v1/jobs?limit={total}")).await;
    assert_eq!(exact.body["next_cursor"], Value::Null);
    let default = app.get("/v1/jobs").await;
    assert_eq!(default.body["jobs"].as_array().unwrap().len(), total);

    let ids = |a: &Answer| -> Vec<i64> {
        a.body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect()
    };
    let b = app.get("/v1/jobs?machine_id=psB").await;
    assert_eq!(ids(&b).len(), 3);
    assert!(
        b.body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["machine_id"] == "psB")
    );
    let stops = app.get("/v1/jobs?kind=stop").await;
    assert_eq!(ids(&stops).len(), 3);
    let c = app.get("/v1/jobs?state=cancelled").await;
    assert_eq!(ids(&c), [cancelled]);
    let combined = app
        .get("/v1/jobs?state=queued&kind=stop&machine_id=psA")
        .await;
    assert_eq!(ids(&combined).len(), 2);
    // Filters page too.
    let p1 = app.get("/v1/jobs?machine_id=psA&limit=2").await;
    let c1 = p1.body["next_cursor"].as_str().unwrap().to_string();
    let p2 = app
        .get(&format!("/v1/jobs?machine_id=psA&limit=2&cursor={c1}"))
        .await;
    let mut a_ids = ids(&p1);
    a_ids.extend(ids(&p2));
    assert_eq!(a_ids.len(), 4);
    assert_eq!(p2.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_list_parameters_name_the_parameter() {
    let app = start().await;
    app.new_job(json!({"kind":"refresh"})).await;
    let history_cursor = {
        app.new_job(json!({"kind":"refresh"})).await;
        let h = app.get("/v1/history?limit=1").await;
        h.body["next_cursor"].as_str().unwrap().to_string()
    };
    let cases = [
        ("cursor=abc", "cursor"),
        ("cursor=1", "cursor"),
        ("cursor=j0", "cursor"),
        ("cursor=j-5", "cursor"),
        (&*format!("cursor={history_cursor}"), "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("state=done", "state"),
        ("kind=teleport", "kind"),
        ("machine_id=a%2Fb", "machine_id"),
        ("colour=red", "colour"),
        ("state=queued&state=failed", "state"),
        ("state=", "state"),
    ];
    for (query, field) in cases {
        let a = app.get(&format!("/v1/jobs?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}: {}", a.body);
        assert_eq!(
            a.error(),
            ("bad_request".to_string(), Some(field.to_string())),
            "{query}"
        );
    }
    let a = app.get("/v1/history?cursor=j1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error().1.as_deref(), Some("cursor"));
    let a = app.get("/v1/history?state=queued").await;
    assert_eq!(a.error().1.as_deref(), Some("state"));
}

#[tokio::test]
async fn show_has_the_events_and_refuses_bad_ids() {
    let app = start().await;
    let id = app
        .new_job(json!({"kind":"start","machine_id":"ps1"}))
        .await;
    app.finish(id, JobState::Succeeded, None).await;
    let a = app.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["id"], id);
    assert_eq!(a.body["state"], "succeeded");
    assert_eq!(a.body["result"], json!({"ok": true}));
    let events = a.body["events"].as_array().unwrap();
    let states: Vec<_> = events.iter().map(|e| e["to_state"].clone()).collect();
    assert_eq!(
        states,
        [json!("queued"), json!("running"), json!("succeeded")]
    );
    assert!(
        events
            .iter()
            .all(|e| e["job_id"] == id && e["kind"] == "state")
    );
    assert_eq!(events[0]["message"], "submitted");
    let event_ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "oldest first");

    let missing = app.get("/v1/jobs/999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error().0, "not_found");
    for bad in ["abc", "0", "-1", "01", "1.5", "99999999999999999999", "%FF"] {
        let a = app.get(&format!("/v1/jobs/{bad}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
        assert_eq!(
            a.error(),
            ("bad_request".to_string(), Some("id".to_string())),
            "{bad}"
        );
    }
    assert_eq!(
        app.post("/v1/jobs/abc/cancel").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn cancel_and_retry() {
    let app = start().await;
    let queued = app.new_job(json!({"kind":"stop","machine_id":"ps1"})).await;

    let retry_queued = app.post(&format!("/v1/jobs/{queued}/retry")).await;
    assert_eq!(retry_queued.status, StatusCode::CONFLICT);
    assert_eq!(retry_queued.error().0, "conflict");
    assert!(
        retry_queued.message().contains("queued"),
        "{}",
        retry_queued.message()
    );

    let cancel = app.post(&format!("/v1/jobs/{queued}/cancel")).await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.body["state"], "cancelled");
    assert_eq!(cancel.body["id"], queued);
    let again = app.post(&format!("/v1/jobs/{queued}/cancel")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error().0, "conflict");
    assert!(again.message().contains("cancelled"), "{}", again.message());

    assert_eq!(
        app.post("/v1/jobs/999/cancel").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/v1/jobs/999/retry").await.status,
        StatusCode::NOT_FOUND
    );

    let failing = app
        .new_job(json!({"kind":"start","machine_id":"ps2"}))
        .await;
    app.finish(
        failing,
        JobState::Failed,
        Some("permanent: 404 machine not found"),
    )
    .await;
    let cancel_failed = app.post(&format!("/v1/jobs/{failing}/cancel")).await;
    assert_eq!(cancel_failed.status, StatusCode::CONFLICT);
    assert!(cancel_failed.message().contains("failed"));
    let retried = app.post(&format!("/v1/jobs/{failing}/retry")).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["state"], "queued");
    assert_eq!(retried.body["id"], failing);
}

#[tokio::test]
async fn history_pages_newest_first() {
    let app = start().await;
    let a = app
        .new_job(json!({"kind":"start","machine_id":"psA"}))
        .await;
    let b = app
        .new_job(json!({"kind":"start","machine_id":"psB"}))
        .await;
    app.new_job(json!({"kind":"refresh"})).await;
    app.post(&format!("/v1/jobs/{a}/cancel")).await;
    app.finish(b, JobState::Succeeded, None).await;

    let all = app.get("/v1/history?limit=500").await;
    let all_ids: Vec<i64> = all.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    // 3 submits, 1 cancel, b's claim and finish (the other claimed job is released).
    assert!(all_ids.len() >= 6, "{all_ids:?}");
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(all.body["next_cursor"], Value::Null);

    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/history?limit=2&cursor={c}"),
            None => "/v1/history?limit=2".to_string(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        walked.extend(
            page.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        // New history while paging stays out of the walk.
        app.new_job(json!({"kind":"refresh"})).await;
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, all_ids);

    let only_a = app.get("/v1/history?machine_id=psA").await;
    let events = only_a.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "submitted and cancelled");
    assert!(events.iter().all(|e| e["job_id"] == a));
    assert_eq!(events[0]["to_state"], "cancelled");
}

#[tokio::test]
async fn a_request_past_its_timeout_answers_json_503() {
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            request_timeout: Duration::ZERO,
            ..HttpLimits::default()
        },
    )
    .await;
    // With a zero timeout a request that completes within the timer's
    // granularity may still be answered; one of a few must time out.
    let mut a = app.submit(json!({"kind":"refresh"})).await;
    for _ in 0..50 {
        if a.status != StatusCode::CREATED {
            break;
        }
        a = app.submit(json!({"kind":"refresh"})).await;
    }
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.error().0, "timeout");
    assert!(a.message().contains("idempotency_key"));
}

#[tokio::test]
async fn many_requests_at_once_all_get_answers() {
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            max_concurrent: 2,
            ..HttpLimits::default()
        },
    )
    .await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.submit(json!({"kind":"refresh"})).await.status
            } else {
                app.get("/v1/jobs?limit=5").await.status
            }
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
    }
    assert_eq!(app.job_count().await, 20);
}

// ---- connections: slow, silent and lying clients ----

/// Raises this process's open-file limit to its hard limit and returns how
/// many more files it may open: the slow-client test holds both ends of
/// thousands of sockets. Raising the limit is the one process-wide change a
/// test makes; it only ever raises it, so the other tests of this process
/// (`cargo test` runs them all in one) lose nothing, and the descriptors
/// they hold now are counted out.
fn raise_fd_limit() -> usize {
    let in_use = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        usize::try_from(limit.rlim_cur)
            .unwrap_or(usize::MAX)
            .saturating_sub(in_use)
    }
}

/// True while the peer has neither closed nor reset the connection.
fn still_open(stream: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Waits (at most `within`) for the server to close `stream`; when it did.
async fn closed_by_server(
    mut stream: tokio::net::TcpStream,
    within: Duration,
) -> Option<std::time::Instant> {
    use tokio::io::AsyncReadExt;
    let mut sink = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(std::time::Instant::now()),
        Err(_) => None,
    }
}

/// An answer read off a raw socket: the status and the JSON body.
async fn raw_answer(stream: &mut tokio::net::TcpStream) -> (u16, Value) {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes).await;
    let text = String::from_utf8_lossy(&bytes).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_by_the_header_timeout_while_others_are_served() {
    use tokio::io::AsyncWriteExt;
    // Both ends of every slow connection live in this process.
    let slow = 1500.min(raise_fd_limit().saturating_sub(400) / 2);
    assert!(
        slow >= 500,
        "the open-file limit allows only {slow} slow connections"
    );
    let header_timeout = Duration::from_secs(3);
    let app = Arc::new(
        start_with(
            Some(TOKEN),
            HttpLimits {
                header_timeout,
                idle_timeout: Duration::from_secs(60),
                max_connections: 4096,
                ..HttpLimits::default()
            },
        )
        .await,
    );
    let addr = app.url.trim_start_matches("http://").to_string();

    // The connections first, silent: silence is idleness (60 s here), not a
    // slow head, so however long connecting takes (this process runs other
    // tests beside this one) no header timeout runs yet.
    let mut connecting = tokio::task::JoinSet::new();
    let mut connected = Vec::new();
    for i in 0..slow {
        let addr = addr.clone();
        connecting.spawn(async move { tokio::net::TcpStream::connect(&addr).await.unwrap() });
        // At most 100 connecting at once, within the listen backlog.
        if i % 100 == 99 {
            while let Some(done) = connecting.join_next().await {
                connected.push(done.unwrap());
            }
        }
    }
    while let Some(done) = connecting.join_next().await {
        connected.push(done.unwrap());
    }
    // Then half a request head on each, unauthenticated, as a slowloris sends it.
    let first_sent = std::time::Instant::now();
    let mut held = Vec::new();
    for mut s in connected {
        s.write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: machinist\r\nX-Slow: ")
            .await
            .unwrap();
        held.push((s, std::time::Instant::now()));
    }
    assert_eq!(held.len(), slow);

    // While they are held: /healthz and an authenticated client are served,
    // each on a new connection, promptly.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut probes = 0;
    while first_sent.elapsed() < header_timeout - Duration::from_millis(500) {
        let health = fresh.get(app.at("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let jobs = fresh
            .get(app.at("/v1/jobs?limit=1"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(jobs.status(), StatusCode::OK);
        probes += 1;
        // The scenario: probes spread over the window, not back to back.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        probes >= 3,
        "only {probes} probes ran while the slow clients were held"
    );
    let open = held.iter().filter(|(s, _)| still_open(s)).count();
    assert_eq!(
        open, slow,
        "every slow connection was held through the probes"
    );

    // Then the header timeout closes each of them, not before.
    let mut closing = tokio::task::JoinSet::new();
    for (stream, sent) in held {
        closing.spawn(async move {
            let closed = closed_by_server(stream, header_timeout + Duration::from_secs(5)).await;
            (sent, closed)
        });
    }
    while let Some(done) = closing.join_next().await {
        let (sent, closed) = done.unwrap();
        let closed = closed.expect("a half-sent request was closed by the header timeout");
        let after = closed - sent;
        assert!(
            after >= header_timeout - Duration::from_millis(50),
            "closed after {after:?}, before the header timeout"
        );
    }
    let health = fresh.get(app.at("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn at_the_connection_cap_the_oldest_waiting_connection_makes_room() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cap = 16;
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            max_connections: cap,
            ..HttpLimits::default()
        },
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // Fill the house with keep-alive connections that each had an answer
    // (so the server has surely accepted them) and now sit idle.
    let mut idle = Vec::new();
    for _ in 0..cap {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: machinist\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        idle.push(s);
    }
    // A new client is served at once...
    let mut newcomer = tokio::net::TcpStream::connect(&addr).await.unwrap();
    newcomer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: machinist\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(2), raw_answer(&mut newcomer))
        .await
        .expect("the newcomer is answered");
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    // ...because the oldest idle connection was closed for it; the others stay.
    let mut idle = idle.into_iter();
    let oldest = idle.next().unwrap();
    assert!(
        closed_by_server(oldest, Duration::from_secs(2))
            .await
            .is_some(),
        "the oldest idle connection was closed"
    );
    let rest: Vec<_> = idle.collect();
    assert!(rest.iter().all(still_open), "only the oldest was closed");
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout_and_silence_is_not_a_slow_head() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let header_timeout = Duration::from_secs(1);
    let idle_timeout = Duration::from_secs(2);
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            header_timeout,
            idle_timeout,
            ..HttpLimits::default()
        },
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let opened = std::time::Instant::now();
    let mut late = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: machinist\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let answered = std::time::Instant::now();

    // Silence longer than the header timeout is idleness, not a slow head:
    // a request sent after it is answered.
    tokio::time::sleep(header_timeout + Duration::from_millis(500)).await;
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: machinist\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = raw_answer(&mut late).await;
    assert_eq!(status, 200);

    // Idle connections, fresh or kept alive after an answer, are closed
    // once nothing has moved for the idle timeout.
    let within = idle_timeout + Duration::from_secs(3);
    let silent_closed = closed_by_server(silent, within).await.expect("closed");
    let kept_closed = closed_by_server(kept, within).await.expect("closed");
    for (closed, since) in [(silent_closed, opened), (kept_closed, answered)] {
        let after = closed - since;
        assert!(
            after >= idle_timeout - Duration::from_millis(50),
            "closed after {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_never_arrive_get_408_and_hold_no_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Long enough that the two requests below are served within it on a
    // loaded machine: what shows they took no turn held by a liar is that
    // no liar has had its answer yet, not a stopwatch.
    let body_timeout = Duration::from_secs(3);
    let app = start_with(
        Some(TOKEN),
        HttpLimits {
            max_concurrent: 2,
            body_timeout,
            request_timeout: Duration::from_secs(30),
            ..HttpLimits::default()
        },
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // Authenticated submissions that promise 100 bytes and send 9. With
    // `Expect: 100-continue` hyper says `100 Continue` when the body is
    // first read, so each is known to be reading its body.
    let mut liars = Vec::new();
    for _ in 0..8 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/jobs HTTP/1.1\r\nHost: machinist\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the body is read before the request waits for a turn")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"));
        s.write_all(br#"{"kind":""#).await.unwrap();
        liars.push((s, std::time::Instant::now()));
    }
    // Eight bodies are stalled and only two turns exist: others are served.
    let started = std::time::Instant::now();
    assert_eq!(app.get("/v1/jobs?limit=1").await.status, StatusCode::OK);
    assert_eq!(
        app.submit(json!({"kind":"refresh"})).await.status,
        StatusCode::CREATED
    );
    // Served while every liar still waits for its 408: no turn was freed
    // by a liar's timeout before these two went through.
    for (s, _) in &liars {
        let mut buf = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a liar was answered before the others were served ({:?} after they started)",
            started.elapsed()
        );
    }
    // Each liar gets a 408 in the JSON shape once its body is overdue.
    for (mut s, sent) in liars {
        let (status, body) = tokio::time::timeout(Duration::from_secs(5), raw_answer(&mut s))
            .await
            .expect("a 408 comes");
        assert_eq!(status, 408, "{body}");
        assert_eq!(body["error"]["code"], "request_timeout", "{body}");
        assert!(sent.elapsed() >= body_timeout - Duration::from_millis(50));
    }
    assert_eq!(
        app.job_count().await,
        1,
        "nothing but the refresh was written"
    );
}

#[tokio::test]
async fn oversized_targets_and_headers_answer_json() {
    let app = start().await;
    let long = format!("/v1/jobs?limit=1&x={}", "a".repeat(9000));
    let a = app.get(&long).await;
    assert_eq!(a.status, StatusCode::URI_TOO_LONG, "{}", a.body);
    assert_eq!(a.error().0, "uri_too_long");

    let mut many = app.http.get(app.at("/v1/jobs"));
    for i in 0..150 {
        many = many.header(format!("x-extra-{i}"), "1");
    }
    let a = app.send(many).await;
    assert_eq!(
        a.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{}",
        a.body
    );
    assert_eq!(a.error().0, "headers_too_large");

    let big = app
        .http
        .get(app.at("/v1/jobs"))
        .header("x-big", "b".repeat(20_000));
    let a = app.send(big).await;
    assert_eq!(
        a.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{}",
        a.body
    );
    assert_eq!(a.error().0, "headers_too_large");
}

// ---- the CLI against the router ----

#[tokio::test]
async fn cli_submits_lists_shows_and_reports_errors() {
    let app = start().await;

    let submit = app
        .cli(&["jobs", "submit", "show", "ps123abc", "--json"])
        .await;
    assert_eq!(submit.code, 0, "{}", submit.stderr);
    let job: Value = serde_json::from_str(&submit.stdout).unwrap();
    assert_eq!(job["kind"], "show");
    assert_eq!(job["machine_id"], "ps123abc");
    assert_eq!(job["state"], "queued");
    let id = job["id"].as_i64().unwrap();

    let create = app
        .cli(&[
            "jobs",
            "submit",
            "create",
            "--arg",
            "name=train",
            "--arg",
            "region=Europe (AMS1)",
            "--arg",
            "machine_type=P4000",
            "--arg",
            "disk_size_gb=100",
            "--arg",
            "template_id=t123",
            "--wait-for",
            "off",
            "--priority",
            "-5",
        ])
        .await;
    assert_eq!(create.code, 0, "{}", create.stderr);
    assert!(
        create.stdout.contains("submitted: create"),
        "{}",
        create.stdout
    );
    let created = app
        .store()
        .jobs(&JobFilter::default(), None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(created.args["disk_size_gb"], 100);
    assert_eq!(created.args["name"], "train");
    assert_eq!(created.priority, -5);

    let list = app.cli(&["jobs", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let header = list.stdout.lines().next().unwrap();
    for column in ["ID", "KIND", "MACHINE", "STATE", "ATTEMPT", "LAST ERROR"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(list.stdout.contains("ps123abc") && list.stdout.contains("queued"));
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);

    let paged = app.cli(&["jobs", "list", "--limit", "1"]).await;
    assert!(paged.stdout.contains("--cursor j"), "{}", paged.stdout);
    let json_page = app
        .cli(&["jobs", "list", "--json", "--machine", "ps123abc"])
        .await;
    let page: Value = serde_json::from_str(&json_page.stdout).unwrap();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], Value::Null);

    let show = app.cli(&["jobs", "show", &id.to_string()]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("show ps123abc"), "{}", show.stdout);
    assert!(
        show.stdout.contains("state     queued: submitted"),
        "{}",
        show.stdout
    );

    let cancel = app.cli(&["jobs", "cancel", &id.to_string()]).await;
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(cancel.stdout.contains("cancelled"));
    let again = app.cli(&["jobs", "cancel", &id.to_string()]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.starts_with("error: job"), "{}", again.stderr);
    assert!(again.stderr.contains("already cancelled"));

    let missing = app.cli(&["jobs", "retry", "999"]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        // A 404 names what is missing; no field to fix.
        "error: there is no job 999"
    );

    let invalid = app.cli(&["jobs", "submit", "start"]).await;
    assert_eq!(invalid.code, 1);
    assert!(
        invalid.stderr.trim().ends_with("(field: machine_id)"),
        "{}",
        invalid.stderr
    );

    let usage = app.cli(&["jobs", "submit"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let wrong_token = app
        .cli_command(&["jobs", "list"])
        .env("MACHINIST_ADMIN_TOKEN", "not-the-token")
        .output()
        .await
        .unwrap();
    assert_eq!(wrong_token.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong_token.stderr);
    assert!(stderr.contains("admin token is not valid"), "{stderr}");
    assert!(!stderr.contains("not-the-token"));

    let down = app
        .cli_command(&["jobs", "list"])
        .env("MACHINIST_URL", "http://127.0.0.1:1")
        .output()
        .await
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&down.stderr).trim(),
        "error: cannot reach the machinist daemon at http://127.0.0.1:1: connection refused; \
         is `machinist serve` running?"
    );
}

#[tokio::test]
async fn cli_wait_follows_the_job_to_its_end() {
    let app = start().await;
    for (outcome, code) in [(JobState::Succeeded, 0), (JobState::Failed, 1)] {
        let child = app
            .cli_command(&["jobs", "submit", "start", "psW", "--wait"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Find the job the CLI submitted, let it sit a poll or two, then finish it.
        let queued = JobFilter {
            state: Some(JobState::Queued),
            ..JobFilter::default()
        };
        let id = until_committed(app.store(), Duration::from_secs(20), || async {
            let jobs = app.store().jobs(&queued, None, 1).await.unwrap();
            jobs.first()
                .map(|job| job.id)
                .ok_or_else(|| "the CLI submitted no job".to_string())
        })
        .await;
        // The scenario: the CLI follows the job over HTTP for a while before it ends.
        tokio::time::sleep(Duration::from_millis(700)).await;
        app.finish(
            id,
            outcome,
            (outcome == JobState::Failed).then_some("machine psW is gone"),
        )
        .await;
        let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .expect("the CLI ends once the job does")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
        // Each event once, in order.
        assert_eq!(stdout.matches("queued: submitted").count(), 1, "{stdout}");
        assert_eq!(stdout.matches("queued → running").count(), 1, "{stdout}");
        let end = format!("running → {outcome}");
        assert_eq!(stdout.matches(&end).count(), 1, "{stdout}");
        assert!(stdout.find("queued: submitted") < stdout.find(&end));
        if outcome == JobState::Failed {
            assert!(
                stderr.contains(&format!("error: job {id} failed: machine psW is gone")),
                "{stderr}"
            );
        } else {
            assert!(stdout.contains(&format!("job {id} succeeded")), "{stdout}");
        }
    }
}
