//! The admin API over real HTTP: the router on 127.0.0.1:0 with a temp store
//! and a manual clock, no workers (jobs stay queued unless a test moves them
//! through the store). Also the `machinist jobs` CLI against it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::clock::{ManualClock, SharedClock};
use machinist::config::AdminToken;
use machinist::http::{HttpLimits, HttpState, router};
use machinist::job::{JobDefaults, JobState, NewEvent};
use machinist::store::{JobFilter, Store, StoreOptions, Transition};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "test-admin-token-0123456789abcdef";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

struct App {
    base: String,
    store: Store,
    token: Option<String>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start_with(token: Option<&str>, limits: HttpLimits) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(dir.path().join("m.db")))
        .await
        .unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t0()));
    let context = Arc::new(machinist::schedule::spec::ScheduleContext {
        defaults: JobDefaults::default(),
        calendars: Default::default(),
        default_zone: "UTC".into(),
    });
    let state = HttpState {
        store: store.clone(),
        clock: clock.clone(),
        defaults: JobDefaults::default(),
        token: token.map(|t| AdminToken::new(t).unwrap()),
        registry: machinist::schedule::registry::Registry::new(store.clone(), clock, context),
        api: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state, &limits);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    App {
        base: format!("http://{addr}"),
        store,
        token: token.map(str::to_string),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

async fn start() -> App {
    start_with(Some(TOKEN), HttpLimits::default()).await
}

/// A status and the JSON body (`Value::Null` when the body is not JSON).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts the one error shape and returns (code, field).
    fn error(&self) -> (String, Option<String>) {
        let e = &self.body["error"];
        assert!(
            e["code"].is_string() && e["message"].is_string(),
            "not the error shape: {}",
            self.body
        );
        assert!(
            e.as_object().unwrap().contains_key("field"),
            "field is always present: {}",
            self.body
        );
        (
            e["code"].as_str().unwrap().to_string(),
            e["field"].as_str().map(str::to_string),
        )
    }

    fn message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

impl App {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        answer(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path))).await
    }

    async fn post(&self, path: &str) -> Answer {
        self.send(self.http.post(self.url(path))).await
    }

    async fn submit(&self, body: Value) -> Answer {
        self.submit_raw(body.to_string(), "application/json").await
    }

    async fn submit_raw(&self, body: impl Into<reqwest::Body>, content_type: &str) -> Answer {
        let mut request = self.http.post(self.url("/v1/jobs")).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        self.send(request).await
    }

    async fn job_count(&self) -> usize {
        self.store
            .jobs(&JobFilter::default(), None, 10_000)
            .await
            .unwrap()
            .len()
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
            .store
            .claim(&owner, 100, t0(), t0() + chrono::Duration::seconds(30))
            .await
            .unwrap();
        assert!(claimed.iter().any(|j| j.id == id), "job {id} claimable");
        let done = self
            .store
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
            self.store
                .release(&owner, vec![other.id], t0())
                .await
                .unwrap();
        }
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            headers
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
            "error {status} is JSON: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn auth_guards_every_route_but_health() {
    let app = start().await;
    let raw = |path: &str| app.http.get(app.url(path));

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
            .post(app.url("/v1/jobs"))
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
    for path in ["/", "/v1", "/v2/jobs", "/v1/jobs/1/explode", "/healthz/"] {
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
            .send(app.http.request(method.clone(), app.url(path)))
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

// ---- the CLI against the router ----

struct Cli {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli_command(app: &App, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_machinist"));
    cmd.args(args)
        .env("MACHINIST_URL", &app.base)
        .env("MACHINIST_ADMIN_TOKEN", TOKEN)
        .env_remove("MACHINIST_CONFIG")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    cmd
}

async fn cli(app: &App, args: &[&str]) -> Cli {
    let out = cli_command(app, args).output().await.unwrap();
    Cli {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn cli_submits_lists_shows_and_reports_errors() {
    let app = start().await;

    let submit = cli(&app, &["jobs", "submit", "show", "ps123abc", "--json"]).await;
    assert_eq!(submit.code, 0, "{}", submit.stderr);
    let job: Value = serde_json::from_str(&submit.stdout).unwrap();
    assert_eq!(job["kind"], "show");
    assert_eq!(job["machine_id"], "ps123abc");
    assert_eq!(job["state"], "queued");
    let id = job["id"].as_i64().unwrap();

    let create = cli(
        &app,
        &[
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
        ],
    )
    .await;
    assert_eq!(create.code, 0, "{}", create.stderr);
    assert!(
        create.stdout.contains("submitted: create"),
        "{}",
        create.stdout
    );
    let created = app
        .store
        .jobs(&JobFilter::default(), None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(created.args["disk_size_gb"], 100);
    assert_eq!(created.args["name"], "train");
    assert_eq!(created.priority, -5);

    let list = cli(&app, &["jobs", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let header = list.stdout.lines().next().unwrap();
    for column in ["ID", "KIND", "MACHINE", "STATE", "ATTEMPT", "LAST ERROR"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(list.stdout.contains("ps123abc") && list.stdout.contains("queued"));
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);

    let paged = cli(&app, &["jobs", "list", "--limit", "1"]).await;
    assert!(paged.stdout.contains("--cursor j"), "{}", paged.stdout);
    let json_page = cli(&app, &["jobs", "list", "--json", "--machine", "ps123abc"]).await;
    let page: Value = serde_json::from_str(&json_page.stdout).unwrap();
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], Value::Null);

    let show = cli(&app, &["jobs", "show", &id.to_string()]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("show ps123abc"), "{}", show.stdout);
    assert!(
        show.stdout.contains("state     queued: submitted"),
        "{}",
        show.stdout
    );

    let cancel = cli(&app, &["jobs", "cancel", &id.to_string()]).await;
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(cancel.stdout.contains("cancelled"));
    let again = cli(&app, &["jobs", "cancel", &id.to_string()]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.starts_with("error: job"), "{}", again.stderr);
    assert!(again.stderr.contains("already cancelled"));

    let missing = cli(&app, &["jobs", "retry", "999"]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "error: there is no job 999 (field: id)"
    );

    let invalid = cli(&app, &["jobs", "submit", "start"]).await;
    assert_eq!(invalid.code, 1);
    assert!(
        invalid.stderr.trim().ends_with("(field: machine_id)"),
        "{}",
        invalid.stderr
    );

    let usage = cli(&app, &["jobs", "submit"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let wrong_token = cli_command(&app, &["jobs", "list"])
        .env("MACHINIST_ADMIN_TOKEN", "not-the-token")
        .output()
        .await
        .unwrap();
    assert_eq!(wrong_token.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong_token.stderr);
    assert!(stderr.contains("admin token is not valid"), "{stderr}");
    assert!(!stderr.contains("not-the-token"));

    let down = cli_command(&app, &["jobs", "list"])
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
        let child = cli_command(&app, &["jobs", "submit", "start", "psW", "--wait"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Find the job the CLI submitted, let it sit a poll or two, then finish it.
        let id = loop {
            let jobs = app
                .store
                .jobs(
                    &JobFilter {
                        state: Some(JobState::Queued),
                        ..JobFilter::default()
                    },
                    None,
                    1,
                )
                .await
                .unwrap();
            if let Some(job) = jobs.first() {
                break job.id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
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
