//! The legacy client against a scripted fake upstream: what goes on the wire
//! (routes, methods, headers, query and body) and how every kind of answer is
//! classified (status classes, both error shapes, Retry-After, timeouts,
//! refused connections, HTML pages, empty and truncated bodies).

use std::time::Duration;

use axum::http::Method;
use machinist::machine::{
    BillingMonth, CreateMachine, FilterField, MachineFilter, MachineState, PageRequest,
    TemplateFilter, UpdateMachine,
};
use machinist::paperspace::legacy::LegacyClient;
use machinist::paperspace::{ApiError, ErrorClass, MachineApi};
use serde_json::json;

use crate::harness::legacy_client_at;
use crate::harness::upstream::{Upstream, refusing_url, reply};

const KEY: &str = "test-key-8f2a61d0";

/// The client under test, pointed at the fake upstream.
fn client(up: &Upstream) -> LegacyClient {
    client_for(&up.url, Duration::from_secs(5))
}

fn client_for(url: &str, timeout: Duration) -> LegacyClient {
    legacy_client_at(&format!("{url}/"), KEY, timeout)
}

const MACHINE: &str = r#"{"id":"ps123abc","name":"train-1","state":"ready","usageRate":"P4000 hourly","ram":"8589938688","region":"Europe (AMS1)","events":[]}"#;

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the API key leaked into: {text}");
}

#[tokio::test]
async fn every_operation_uses_the_documented_route_method_and_params() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(reply(201, MACHINE))
        .then(reply(204, ""))
        .then(reply(204, ""))
        .then(reply(204, ""))
        .then(reply(204, ""))
        .then(reply(204, ""))
        .then(reply(200, format!("[{MACHINE}]")))
        .then(reply(200, MACHINE))
        .then(reply(200, "{}"))
        .then(reply(
            200,
            r#"{"machineId":"ps123abc","utilization":{"secondsUsed":7200,"hourlyRate":"0.51"},"storageUtilization":{"secondsUsed":86400,"monthlyRate":"7.00"}}"#,
        ))
        .then(reply(200, r#"{"available":true}"#))
        .then(reply(
            200,
            r#"[{"id":"tkni3aa4","name":"paperspace/tkni3aa4","label":"Ubuntu 22.04","os":"Ubuntu 22.04"}]"#,
        ));

    let created = api
        .create(&CreateMachine::new(
            "train-1",
            "Europe (AMS1)",
            "P4000",
            100,
            "tkni3aa4",
        ))
        .await
        .unwrap();
    assert_eq!(created.id, "ps123abc");
    api.start("ps123abc").await.unwrap();
    api.stop("ps123abc").await.unwrap();
    api.restart("ps123abc").await.unwrap();
    api.destroy("ps123abc", true).await.unwrap();
    let changes = UpdateMachine {
        name: Some("train-2".into()),
        ..UpdateMachine::default()
    };
    api.update("ps123abc", &changes).await.unwrap();
    let filter = MachineFilter::all().with(FilterField::Region, "Europe (AMS1)");
    let page = api
        .list_page(&filter, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.machines.len(), 1);
    assert_eq!(page.next, None, "a short page is the last one");
    let shown = api.show("ps123abc").await.unwrap();
    assert_eq!(shown.state, MachineState::Ready);
    assert_eq!(shown.machine_type.as_deref(), Some("P4000"));
    api.set_access("ps123abc", "u1a2b3c4", true).await.unwrap();
    let month: BillingMonth = "2026-03".parse().unwrap();
    let usage = api.utilization("ps123abc", month).await.unwrap();
    assert_eq!((usage.seconds_used, usage.hourly_rate), (7200, 0.51));
    assert_eq!(usage.storage_monthly_rate, 7.0);
    assert!(
        api.availability("Europe (AMS1)", "P4000")
            .await
            .unwrap()
            .available
    );
    let templates = api.templates(&TemplateFilter::default()).await.unwrap();
    assert_eq!(templates[0].id, "tkni3aa4");

    let seen = up.seen();
    let lines: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        lines,
        [
            "POST /machines/createSingleMachinePublic",
            "POST /machines/ps123abc/start",
            "POST /machines/ps123abc/stop",
            "POST /machines/ps123abc/restart",
            "POST /machines/ps123abc/destroyMachine",
            "POST /machines/ps123abc/updateMachinePublic",
            "GET /machines/getMachines",
            "GET /machines/getMachinePublic",
            "POST /machines/ps123abc/setMachineAccess",
            "GET /machines/getUtilization",
            "GET /machines/getAvailability",
            "GET /templates/getTemplates",
        ]
    );
    for s in &seen {
        assert_eq!(s.headers["x-api-key"], KEY, "{} {}", s.method, s.path);
        if s.method == Method::POST {
            assert_eq!(s.headers["content-type"], "application/json");
        } else {
            assert!(s.body.is_empty(), "GET sends no body");
        }
    }
    assert_eq!(
        seen[0].json(),
        json!({"machineName":"train-1","region":"Europe (AMS1)","machineType":"P4000","size":100,"billingType":"hourly","templateId":"tkni3aa4"})
    );
    assert_eq!(seen[1].json(), json!({"machineId":"ps123abc"}));
    assert_eq!(
        seen[4].json(),
        json!({"machineId":"ps123abc","releasePublicIp":true})
    );
    assert_eq!(
        seen[5].json(),
        json!({"machineId":"ps123abc","machineName":"train-2"})
    );
    let q = |i: usize| seen[i].query.clone();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        q(6),
        pairs(&[
            ("region", "Europe (AMS1)"),
            ("limit", "1000"),
            ("skip", "0")
        ])
    );
    assert_eq!(q(7), pairs(&[("machineId", "ps123abc")]));
    assert_eq!(
        seen[8].json(),
        json!({"machineId":"ps123abc","userId":"u1a2b3c4","enableAccess":true})
    );
    assert_eq!(
        q(9),
        pairs(&[("machineId", "ps123abc"), ("billingMonth", "2026-03")])
    );
    assert_eq!(
        q(10),
        pairs(&[("region", "Europe (AMS1)"), ("machineType", "P4000")])
    );
}

#[tokio::test]
async fn create_accepts_any_2xx() {
    let up = Upstream::start().await;
    let api = client(&up);
    for status in [200, 201, 202] {
        up.then(reply(status, MACHINE));
        let m = api
            .create(&CreateMachine::new(
                "train-1",
                "Europe (AMS1)",
                "P4000",
                100,
                "t1",
            ))
            .await
            .unwrap();
        assert_eq!(m.id, "ps123abc", "status {status}");
    }
}

#[tokio::test]
async fn permanent_statuses_carry_the_api_message_in_both_shapes() {
    let up = Upstream::start().await;
    let api = client(&up);
    let cases = [
        (
            400,
            r#"{"error":{"name":"Error","status":400,"message":"templateId not found"}}"#,
            "templateId not found",
        ),
        (
            401,
            r#"{"status":401,"message":"Invalid API token"}"#,
            "Invalid API token",
        ),
        (
            403,
            r#"{"error":{"name":"Error","status":403,"message":"Forbidden"}}"#,
            "Forbidden",
        ),
        (
            404,
            r#"{"error":{"name":"Error","status":404,"message":"Machine not found"}}"#,
            "Machine not found",
        ),
        (
            422,
            r#"{"status":422,"message":"incompatible parameters"}"#,
            "incompatible parameters",
        ),
    ];
    for (status, body, message) in cases {
        up.then(reply(status, body));
        let err = api.show("ps123abc").await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Permanent, "{status}: {err}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.is_not_found(), status == 404);
        let text = err.to_string();
        assert!(text.contains(message), "{text}");
        assert!(text.contains("GET /machines/getMachinePublic"), "{text}");
        assert!(text.contains(&status.to_string()), "{text}");
        assert_no_key(&text);
        assert_no_key(&format!("{err:?}"));
    }
}

#[tokio::test]
async fn server_errors_and_throttling_are_transient() {
    let up = Upstream::start().await;
    let api = client(&up);
    for status in [500, 502, 503, 504] {
        up.then(reply(
            status,
            r#"{"error":{"name":"Error","status":500,"message":"boom"}}"#,
        ));
        let err = api.start("ps1").await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient, "{status}");
        assert!(err.is_ambiguous(), "a 5xx may have been acted on");
        assert_eq!(err.retry_after(), None);
    }
    let mut throttled = reply(429, r#"{"status":429,"message":"Too many requests"}"#);
    throttled.headers.push(("retry-after", "12".into()));
    up.then(throttled);
    let err = api.start("ps1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
    assert!(err.to_string().contains("Too many requests"), "{err}");

    let mut dated = reply(503, "");
    dated.headers.push((
        "retry-after",
        (chrono::Utc::now() + chrono::Duration::seconds(60))
            .to_rfc2822()
            .replace("+0000", "GMT"),
    ));
    up.then(dated);
    let err = api.start("ps1").await.unwrap_err();
    let wait = err.retry_after().expect("an HTTP-date Retry-After");
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(err.to_string().contains("empty body"), "{err}");
}

#[tokio::test]
async fn an_html_error_page_is_quoted_briefly() {
    let up = Upstream::start().await;
    let page = format!(
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>{}</body></html>",
        "<p>nginx</p>".repeat(100)
    );
    up.then(reply(502, page.clone()));
    let err = client(&up).show("ps1").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient);
    let text = err.to_string();
    assert!(text.contains("502 Bad Gateway"), "{text}");
    assert!(text.len() < 400, "quotes a prefix, not the page: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn empty_truncated_and_wrong_bodies_on_success_are_malformed() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(reply(200, ""))
        .then(reply(200, r#"{"id":"ps1","name":"tr"#))
        .then(reply(200, "<html>maintenance</html>"))
        .then(reply(200, r#"{"machines":[]}"#));
    let empty = api.show("ps1").await.unwrap_err();
    assert!(
        matches!(&empty, ApiError::Malformed { detail, .. } if detail == "empty body"),
        "{empty}"
    );
    let truncated = api.show("ps1").await.unwrap_err();
    assert!(
        truncated
            .to_string()
            .contains(r#"{\"id\":\"ps1\",\"name\":\"tr"#),
        "{truncated}"
    );
    let html = api.show("ps1").await.unwrap_err();
    assert!(html.to_string().contains("<html>maintenance"), "{html}");
    let wrong = api.list_all(&MachineFilter::all()).await.unwrap_err();
    assert!(wrong.to_string().contains("invalid type"), "{wrong}");
    for err in [empty, truncated, html, wrong] {
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
        assert_eq!(err.status(), Some(200));
        assert_no_key(&err.to_string());
    }
}

#[tokio::test]
async fn a_request_that_hangs_times_out_as_transient() {
    let up = Upstream::start().await;
    let mut slow = reply(200, MACHINE);
    slow.delay = Duration::from_secs(5);
    up.then(slow);
    let api = client_for(&up.url, Duration::from_millis(200));
    let err = api.show("ps1").await.unwrap_err();
    assert!(matches!(err, ApiError::Timeout { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.is_ambiguous());
    assert_eq!(
        err.to_string(),
        "GET /machines/getMachinePublic: no answer within 0.2s (request timeout)"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_not_ambiguous() {
    let (_bound, url) = refusing_url();
    let err = client_for(&url, Duration::from_secs(2))
        .start("ps1")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Connect { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(!err.is_ambiguous(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert_no_key(&err.to_string());
}

#[tokio::test]
async fn list_all_follows_skip_paging() {
    let up = Upstream::start().await;
    let api = client(&up);
    let page = |from: usize, n: usize| {
        let items: Vec<String> = (from..from + n)
            .map(|i| format!(r#"{{"id":"ps{i}","name":"m{i}","state":"off"}}"#))
            .collect();
        reply(200, format!("[{}]", items.join(",")))
    };
    // Three full pages of 1000 then a short one.
    up.then(page(0, 1000))
        .then(page(1000, 1000))
        .then(page(2000, 1000))
        .then(page(3000, 7));
    let all = api.list_all(&MachineFilter::all()).await.unwrap();
    assert_eq!(all.len(), 3007);
    assert_eq!(all[2999].id, "ps2999");
    let skips: Vec<String> = up
        .seen()
        .iter()
        .map(|s| s.query.iter().find(|(k, _)| k == "skip").unwrap().1.clone())
        .collect();
    assert_eq!(skips, ["0", "1000", "2000", "3000"]);
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let up = Upstream::start().await;
    let api = client(&up);
    let errs = [
        api.start("ps1/../../users").await.unwrap_err(),
        api.show("").await.unwrap_err(),
        api.update("ps1", &UpdateMachine::default())
            .await
            .unwrap_err(),
        api.create(&CreateMachine::new("", "Europe (AMS1)", "P4000", 100, "t1"))
            .await
            .unwrap_err(),
        api.create(&CreateMachine::new("x", "Europe (AMS1)", "P4000", 0, "t1"))
            .await
            .unwrap_err(),
        api.list_page(
            &MachineFilter::all(),
            &PageRequest {
                cursor: Some("abc".into()),
                limit: None,
            },
        )
        .await
        .unwrap_err(),
    ];
    for e in &errs {
        assert!(matches!(e, ApiError::Invalid { .. }), "{e:?}");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
    assert!(up.seen().is_empty(), "nothing was sent");
}
