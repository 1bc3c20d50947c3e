//! The webhook routes over real HTTP: the router alone on 127.0.0.1:0 with
//! a temp store and a manual clock (Monday 2026-03-02 09:00Z), and the
//! default webhook settings, whose destination policy takes only `https`
//! to public hosts. No worker runs, so deliveries stay queued unless a test
//! moves them through the store; no test here reaches a real receiver.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use machinist::job::{JobState, NewEvent};
use machinist::store::{Publication, Transition};
use machinist::webhook::{EndpointSpec, Event, EventType, Secret, Subject};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Answer, Answering, AppOptions, Run, spawn_app};

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

const URL: &str = "https://hooks.example.com/machinist/T0/secret-path";

async fn start() -> Answering {
    Answering(
        spawn_app(AppOptions {
            run: Run::Router,
            clock: Some(t0()),
            ..AppOptions::default()
        })
        .await,
    )
}

impl Answering {
    async fn patch_json(&self, path: &str, body: Value) -> Answer {
        self.raw(Method::PATCH, path, body.to_string()).await
    }

    /// Creates an endpoint; its JSON and its secret.
    async fn new_endpoint(&self, body: Value) -> (Value, String) {
        let created = self
            .post_json("/v1/webhooks", body)
            .await
            .expect(StatusCode::CREATED);
        let secret = created["secret"].as_str().unwrap().to_string();
        (created["endpoint"].clone(), secret)
    }

    /// The stored endpoints as the list shows them.
    async fn listed(&self) -> Value {
        self.get("/v1/webhooks").await.expect(StatusCode::OK)
    }

    /// Publishes an event of `kind` to every endpoint that wants it; the
    /// deliveries queued.
    async fn publish(&self, kind: EventType) -> (String, Vec<i64>) {
        let event = Event::new(
            kind,
            t0(),
            json!({"summary": "a test event"}),
            Subject::default(),
        );
        let id = event.id.clone();
        let published = self
            .store()
            .publish(
                Publication {
                    event,
                    max_attempts: 10,
                    mark: None,
                    only: None,
                },
                t0(),
            )
            .await
            .unwrap();
        (id, published.deliveries)
    }
}

fn id_of(endpoint: &Value) -> i64 {
    endpoint["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_endpoint_is_created_with_a_secret_shown_only_then() {
    let app = start().await;
    let answer = app
        .post_json(
            "/v1/webhooks",
            json!({"url": URL, "name": "ops", "events": ["job.failed", "job.succeeded"], "machines": ["ps1"]}),
        )
        .await;
    let location = answer
        .headers
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let created = answer.expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    Secret::parse(secret).unwrap();
    let endpoint = &created["endpoint"];
    let id = id_of(endpoint);
    assert_eq!(
        location.as_deref(),
        Some(format!("/v1/webhooks/{id}").as_str())
    );
    assert_eq!(endpoint["url"], URL);
    assert_eq!(endpoint["name"], "ops");
    assert_eq!(endpoint["format"], "standard");
    assert_eq!(endpoint["events"], json!(["job.failed", "job.succeeded"]));
    assert_eq!(endpoint["machines"], json!(["ps1"]));
    assert_eq!(endpoint["source"], "api");
    assert_eq!(endpoint["paused"], false);
    assert_eq!(endpoint["disabled"], Value::Null);
    assert_eq!(endpoint["created_at"], "2026-03-02T09:00:00Z");
    assert!(endpoint.get("secret").is_none());

    // Neither the list nor the endpoint carries the secret.
    let list = app.listed().await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(&list["webhooks"][0], endpoint);
    assert!(!list.to_string().contains(secret), "{list}");
    let shown = app
        .get(&format!("/v1/webhooks/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(&shown, endpoint);
    assert!(!shown.to_string().contains(secret));

    // Without an event list, the catalogue's defaults; each gets its own secret.
    let (defaults, other_secret) = app
        .new_endpoint(json!({"url": "https://hooks.example.org/x", "format": "slack"}))
        .await;
    assert_ne!(other_secret, secret);
    let catalogue = app.get("/v1/webhooks/events").await.expect(StatusCode::OK);
    let default_types: Vec<Value> = catalogue["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["default"] == true)
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(defaults["events"], Value::from(default_types));
    assert_eq!(defaults["format"], "slack");
    assert_eq!(defaults["name"], Value::Null);
}

#[tokio::test]
async fn a_name_taken_is_a_conflict_and_changes_nothing() {
    let app = start().await;
    app.new_endpoint(json!({"url": URL, "name": "ops"})).await;
    let before = app.listed().await;
    let answer = app
        .post_json(
            "/v1/webhooks",
            json!({"url": "https://other.example.com/", "name": "ops"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(answer.error(), ("conflict".into(), Some("name".into())));
    assert_eq!(app.listed().await, before);
}

#[tokio::test]
async fn bad_fields_are_refused_together_each_named() {
    let app = start().await;
    let answer = app
        .post_json(
            "/v1/webhooks",
            json!({"url": "https://hooks.example.com/a b", "name": "no spaces", "events": [], "machines": [""]}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.error(),
        (
            "invalid_webhook".into(),
            Some("url,name,events,machines".into())
        )
    );
    let message = answer.message();
    for field in ["url:", "name:", "events:", "machines:"] {
        assert!(message.contains(field), "{field} in {message}");
    }

    // A URL the destination policy refuses is named `url`, with the
    // policy's reason, beside the other fields at fault.
    for (url, reason) in [
        ("http://hooks.example.com/x", "only https"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[fd00:ec2::254]/", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        (
            "https://user:pass@hooks.example.com/",
            "user name or password",
        ),
        ("ftp://hooks.example.com/", "only https"),
        ("hooks.example.com", "not a URL"),
    ] {
        let answer = app.post_json("/v1/webhooks", json!({"url": url})).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            answer.body
        );
        assert_eq!(answer.field().as_deref(), Some("url"), "{url}");
        assert!(
            answer.message().contains(reason),
            "{url}: {}",
            answer.message()
        );
    }
    let answer = app
        .post_json(
            "/v1/webhooks",
            json!({"url": "http://10.0.0.1/", "name": "a b"}),
        )
        .await;
    assert_eq!(
        answer.field().as_deref(),
        Some("url,name"),
        "{}",
        answer.body
    );

    // `ping` is no type to subscribe to; an unknown type or field is a 400.
    let answer = app
        .post_json("/v1/webhooks", json!({"url": URL, "events": ["ping"]}))
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.field().as_deref(), Some("events"));
    let answer = app
        .post_json(
            "/v1/webhooks",
            json!({"url": URL, "events": ["job.exploded"]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert!(
        answer.field().unwrap().starts_with("events"),
        "{}",
        answer.body
    );
    let answer = app
        .post_json("/v1/webhooks", json!({"url": URL, "secret": "whsec_x"}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.field().as_deref(), Some("secret"));
    let answer = app.post_json("/v1/webhooks", json!({"name": "x"})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.field().as_deref(), Some("url"));

    // Nothing was stored.
    assert_eq!(app.listed().await, json!({"webhooks": []}));
}

#[tokio::test]
async fn an_endpoint_is_changed_paused_resumed_and_deleted() {
    let app = start().await;
    let (endpoint, _) = app.new_endpoint(json!({"url": URL, "name": "ops"})).await;
    app.new_endpoint(json!({"url": URL, "name": "other"})).await;
    let id = id_of(&endpoint);
    let at = format!("/v1/webhooks/{id}");
    app.clock().advance(Duration::minutes(5));

    let changed = app
        .patch_json(
            &at,
            json!({"events": ["machine.left_running"], "windows": ["office"], "url": "https://hooks.example.net/new"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["events"], json!(["machine.left_running"]));
    assert_eq!(changed["windows"], json!(["office"]));
    assert_eq!(changed["url"], "https://hooks.example.net/new");
    assert_eq!(changed["name"], "ops");
    assert_eq!(changed["updated_at"], "2026-03-02T09:05:00Z");
    assert_eq!(changed["created_at"], "2026-03-02T09:00:00Z");

    // Refused changes change nothing.
    for (body, status, field) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "body"),
        (
            json!({"url": "http://hooks.example.net/"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "url",
        ),
        (
            json!({"url": "https://192.168.1.10/", "events": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "url,events",
        ),
        (json!({"name": "other"}), StatusCode::CONFLICT, "name"),
        (json!({"colour": "red"}), StatusCode::BAD_REQUEST, "colour"),
    ] {
        let answer = app.patch_json(&at, body.clone()).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert_eq!(answer.field().as_deref(), Some(field), "{body}");
    }
    assert_eq!(app.get(&at).await.expect(StatusCode::OK), changed);

    let paused = app
        .post(&format!("{at}/pause"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(paused["paused"], true);
    let resumed = app
        .post(&format!("{at}/resume"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resumed["paused"], false);
    let paused = app
        .patch_json(&at, json!({"paused": true}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(paused["paused"], true);

    assert_eq!(app.delete(&at).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&at).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&at).await.status, StatusCode::NOT_FOUND);
    let answer = app.patch_json(&at, json!({"paused": false})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.error(), ("not_found".into(), Some("id".into())));
    let left: Vec<Value> = app.listed().await["webhooks"].as_array().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "other");
}

#[tokio::test]
async fn a_configured_endpoint_is_changed_in_the_file_but_paused_here() {
    let app = start().await;
    let spec = EndpointSpec {
        url: URL.into(),
        name: Some("from-config".into()),
        ..EndpointSpec::default()
    };
    app.store()
        .sync_config_endpoints(vec![(spec, Secret::generate())], t0())
        .await
        .unwrap();
    let endpoint = app.listed().await["webhooks"][0].clone();
    assert_eq!(endpoint["source"], "config");
    let at = format!("/v1/webhooks/{}", id_of(&endpoint));

    for answer in [
        app.patch_json(&at, json!({"url": "https://hooks.example.net/"}))
            .await,
        app.patch_json(&at, json!({"paused": true, "events": ["job.failed"]}))
            .await,
        app.post(&format!("{at}/rotate-secret")).await,
        app.delete(&at).await,
    ] {
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
        assert!(
            answer
                .message()
                .contains("defined in the configuration file; change it there"),
            "{}",
            answer.message()
        );
    }
    assert_eq!(app.get(&at).await.expect(StatusCode::OK), endpoint);

    let paused = app
        .patch_json(&at, json!({"paused": true}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(paused["paused"], true);
    let resumed = app
        .post(&format!("{at}/resume"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(resumed["paused"], false);
    assert_eq!(resumed["url"], URL);
}

#[tokio::test]
async fn a_rotation_answers_a_new_secret_while_the_old_one_still_signs() {
    let app = start().await;
    let (endpoint, first) = app.new_endpoint(json!({"url": URL})).await;
    let id = id_of(&endpoint);
    app.clock().advance(Duration::hours(1));
    let rotated = app
        .post(&format!("/v1/webhooks/{id}/rotate-secret"))
        .await
        .expect(StatusCode::OK);
    let second = rotated["secret"].as_str().unwrap();
    assert!(second.starts_with("whsec_"));
    assert_ne!(second, first);
    // The default overlap: a day.
    assert_eq!(rotated["previous_secret_until"], "2026-03-03T10:00:00Z");
    assert_eq!(
        rotated["endpoint"]["previous_secret_until"],
        "2026-03-03T10:00:00Z"
    );
    let secrets = app.store().endpoint_secrets(id).await.unwrap().unwrap();
    assert_eq!(secrets.current.expose(), second);
    let (previous, until) = secrets.previous.unwrap();
    assert_eq!(previous.expose(), first);
    assert_eq!(until, t0() + Duration::hours(25));
    let list = app.listed().await.to_string();
    assert!(!list.contains(second) && !list.contains(&first), "{list}");
}

#[tokio::test]
async fn the_catalogue_lists_every_type_an_endpoint_may_name() {
    let app = start().await;
    let catalogue = app.get("/v1/webhooks/events").await.expect(StatusCode::OK);
    let events = catalogue["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let expected: Vec<&str> = EventType::ALL
        .iter()
        .filter(|t| **t != EventType::Ping)
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, expected);
    let of = |name: &str| events.iter().find(|e| e["type"] == name).unwrap();
    assert_eq!(of("job.failed")["default"], true);
    assert_eq!(of("job.failed")["opt_in"], false);
    assert_eq!(of("job.succeeded")["default"], false);
    assert_eq!(of("job.succeeded")["opt_in"], true);
    assert_eq!(of("digest.weekly")["opt_in"], true);
    assert!(
        events
            .iter()
            .all(|e| !e["description"].as_str().unwrap().is_empty())
    );
    // `events` is not an endpoint id: the fixed route answers it, and
    // other methods on it are not routed to an endpoint.
    assert_eq!(
        app.delete("/v1/webhooks/events").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let answer = app.get("/v1/webhooks/events?x=1").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deliveries_are_listed_with_their_attempts_paged_and_resent() {
    let app = start().await;
    let (endpoint, _) = app
        .new_endpoint(json!({"url": URL, "events": ["job.failed"]}))
        .await;
    let (other, _) = app
        .new_endpoint(json!({"url": "https://hooks.example.org/", "events": ["daemon.started"]}))
        .await;
    let id = id_of(&endpoint);
    let at = format!("/v1/webhooks/{id}/deliveries");
    let empty = app.get(&at).await.expect(StatusCode::OK);
    assert_eq!(empty, json!({"deliveries": [], "next_before": null}));

    let mut published = Vec::new();
    for _ in 0..3 {
        let (event, deliveries) = app.publish(EventType::JobFailed).await;
        assert_eq!(deliveries.len(), 1, "only the endpoint that wants it");
        published.push((event, deliveries[0]));
    }
    let (_, others) = app.publish(EventType::DaemonStarted).await;

    let page = app.get(&at).await.expect(StatusCode::OK);
    let listed = page["deliveries"].as_array().unwrap();
    let ids: Vec<i64> = listed.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    let mut newest_first: Vec<i64> = published.iter().map(|(_, d)| *d).collect();
    newest_first.reverse();
    assert_eq!(ids, newest_first);
    assert_eq!(page["next_before"], Value::Null);
    let first = &listed[2];
    assert_eq!(first["event_id"], published[0].0.as_str());
    assert_eq!(first["event_type"], "job.failed");
    assert_eq!(first["state"], "queued");
    assert_eq!(first["attempt"], 0);
    assert_eq!(first["max_attempts"], 10);
    assert_eq!(first["next_attempt_at"], "2026-03-02T09:00:00Z");
    assert_eq!(first["finished_at"], Value::Null);
    assert_eq!(first["attempts"], json!([]));

    // Pages of two: newest first, then the rest.
    let page = app
        .get(&format!("{at}?limit=2"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_before"], newest_first[1]);
    let rest = app
        .get(&format!("{at}?limit=2&before={}", newest_first[1]))
        .await
        .expect(StatusCode::OK);
    assert_eq!(rest["deliveries"][0]["id"], newest_first[2]);
    assert_eq!(rest["next_before"], Value::Null);
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "before=0",
        "before=x",
        "cursor=j1",
    ] {
        let answer = app.get(&format!("{at}?{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            answer.field().as_deref(),
            Some(bad.split('=').next().unwrap()),
            "{bad}"
        );
    }

    // An attempt that failed, as the courier reports it: the answer, the
    // status and the URL as history shows it.
    let delivery = published[0].1;
    let owner: Arc<str> = "test-courier".into();
    let claimed = app
        .store()
        .claim(&owner, 100, t0(), t0() + Duration::seconds(30))
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == delivery));
    let retry_at = t0() + Duration::seconds(5);
    let attempt = NewEvent {
        method: Some("POST".into()),
        route: Some("https://hooks.example.com/machinist/…".into()),
        status: Some(503),
        latency_ms: Some(42),
        error: Some("the receiver answered 503; only a 2xx counts".into()),
        ..NewEvent::note("busy, try later")
    };
    let attempt = NewEvent {
        kind: machinist::job::EventKind::ApiCall,
        ..attempt
    };
    for job in &claimed {
        let retry = job.id == delivery;
        let moved = app
            .store()
            .transition(
                Transition {
                    job_id: job.id,
                    owner: owner.clone(),
                    to: JobState::Queued,
                    run_at: Some(if retry { retry_at } else { t0() }),
                    checkpoint: None,
                    machine_id: None,
                    result: None,
                    error: retry.then(|| "the receiver answered 503; only a 2xx counts".into()),
                    events: if retry { vec![attempt.clone()] } else { vec![] },
                    seen: vec![],
                    seen_complete: false,
                    gone: vec![],
                    utilization: None,
                },
                t0() + Duration::seconds(1),
            )
            .await
            .unwrap();
        assert!(moved);
    }
    let page = app.get(&at).await.expect(StatusCode::OK);
    let tried = &page["deliveries"][2];
    assert_eq!(tried["id"], delivery);
    assert_eq!(tried["attempt"], 1);
    assert_eq!(tried["next_attempt_at"], "2026-03-02T09:00:05Z");
    assert_eq!(
        tried["last_error"],
        "the receiver answered 503; only a 2xx counts"
    );
    assert_eq!(
        tried["attempts"],
        json!([{
            "at": "2026-03-02T09:00:01Z", "status": 503, "latency_ms": 42,
            "answer": "busy, try later",
            "error": "the receiver answered 503; only a 2xx counts",
            "url": "https://hooks.example.com/machinist/…",
        }])
    );

    // A re-send: a new delivery of the same event, listed first.
    let resent = app
        .post(&format!("/v1/webhooks/{id}/deliveries/{delivery}/resend"))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(resent["event_id"], published[0].0.as_str());
    let new = resent["delivery"].as_i64().unwrap();
    assert!(new > newest_first[0]);
    let page = app.get(&at).await.expect(StatusCode::OK);
    assert_eq!(page["deliveries"][0]["id"], new);
    assert_eq!(page["deliveries"][0]["event_id"], published[0].0.as_str());
    assert_eq!(page["deliveries"][0]["state"], "queued");
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 4);

    // Another endpoint's delivery, or a job that is no delivery, is not
    // this endpoint's: nothing is queued.
    let jobs = app.job_count().await;
    for (endpoint, delivery) in [
        (id, others[0]),
        (id_of(&other), published[1].1),
        (id, 999_999),
    ] {
        let answer = app
            .post(&format!(
                "/v1/webhooks/{endpoint}/deliveries/{delivery}/resend"
            ))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
        assert_eq!(answer.field().as_deref(), Some("delivery"));
    }
    let answer = app
        .post(&format!("/v1/webhooks/{id}/deliveries/x/resend"))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.field().as_deref(), Some("delivery"));
    assert_eq!(app.job_count().await, jobs);
}

#[tokio::test]
async fn a_test_delivery_answers_what_came_of_it() {
    let app = start().await;
    // `.invalid` never resolves (RFC 6761): the ping goes nowhere, which
    // is still a 200 that says so.
    let (endpoint, _) = app
        .new_endpoint(json!({"url": "https://hooks.example.invalid/T0/B0/secret?token=x"}))
        .await;
    let id = id_of(&endpoint);
    let tried = app
        .post(&format!("/v1/webhooks/{id}/test"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(tried["delivered"], false, "{tried}");
    assert_eq!(tried["status"], Value::Null);
    assert!(
        tried["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{tried}"
    );
    assert!(tried["event_id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(tried["url"], "https://hooks.example.invalid/T0/…");
    assert!(tried["latency_ms"].is_u64());
    assert!(tried["answer"].is_string());
    // Sent outside the queue: no delivery is listed.
    let page = app
        .get(&format!("/v1/webhooks/{id}/deliveries"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["deliveries"], json!([]));

    // An endpoint whose URL the policy now refuses (a configured one is
    // stored as written) is a 422 naming `url`; nothing is sent.
    let spec = EndpointSpec {
        url: "http://127.0.0.1:9/hook".into(),
        name: Some("local".into()),
        ..EndpointSpec::default()
    };
    app.store()
        .sync_config_endpoints(vec![(spec, Secret::generate())], t0())
        .await
        .unwrap();
    let local = app.listed().await["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "local")
        .map(id_of)
        .unwrap();
    let answer = app.post(&format!("/v1/webhooks/{local}/test")).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.body
    );
    assert_eq!(
        answer.error(),
        ("invalid_webhook".into(), Some("url".into()))
    );
    assert!(
        answer.message().contains("only https"),
        "{}",
        answer.message()
    );
}

#[tokio::test]
async fn unknown_or_malformed_ids_and_missing_tokens_are_refused() {
    let app = start().await;
    let (endpoint, _) = app.new_endpoint(json!({"url": URL})).await;
    let before = app.listed().await;
    for (method, path) in [
        (Method::GET, "/v1/webhooks/999"),
        (Method::PATCH, "/v1/webhooks/999"),
        (Method::DELETE, "/v1/webhooks/999"),
        (Method::POST, "/v1/webhooks/999/pause"),
        (Method::POST, "/v1/webhooks/999/resume"),
        (Method::POST, "/v1/webhooks/999/rotate-secret"),
        (Method::POST, "/v1/webhooks/999/test"),
        (Method::GET, "/v1/webhooks/999/deliveries"),
    ] {
        let answer = app
            .raw(method.clone(), path, json!({"paused": true}).to_string())
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            answer.body
        );
        assert_eq!(
            answer.error(),
            ("not_found".into(), Some("id".into())),
            "{method} {path}"
        );
    }
    for path in [
        "/v1/webhooks/abc",
        "/v1/webhooks/0",
        "/v1/webhooks/-1",
        "/v1/webhooks/01/pause",
    ] {
        let answer = app.raw(Method::POST, path, String::new()).await;
        let answer = if answer.status == StatusCode::METHOD_NOT_ALLOWED {
            app.get(path).await
        } else {
            answer
        };
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.field().as_deref(), Some("id"), "{path}");
    }

    // No token, or the wrong one: 401, and nothing changes.
    let id = id_of(&endpoint);
    for token in [None, Some("not-the-token-0123456789")] {
        let with = |r: reqwest::RequestBuilder| match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        for request in [
            app.http.get(app.at("/v1/webhooks")),
            app.http.get(app.at("/v1/webhooks/events")),
            app.http
                .post(app.at("/v1/webhooks"))
                .json(&json!({"url": URL})),
            app.http.delete(app.at(&format!("/v1/webhooks/{id}"))),
            app.http
                .post(app.at(&format!("/v1/webhooks/{id}/rotate-secret"))),
        ] {
            let response = with(request).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(app.listed().await, before);
}
