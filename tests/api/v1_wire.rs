//! The v1 client against a scripted fake upstream: what goes on the wire for
//! every operation (method, path, query, headers, JSON body names), how every
//! kind of answer is classified (`{code, message, details}` errors, status
//! codes, Retry-After, HTML pages, empty, truncated and wrongly shaped
//! bodies, timeouts, refused connections) and how cursor paging is followed.

use std::collections::HashSet;
use std::time::Duration;

use axum::http::Method;
use machinist::machine::{
    BillingMonth, BillingType, CreateMachine, FilterField, MachineFilter, MachineState,
    PageRequest, PublicIpType, TemplateFilter, UpdateMachine,
};
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{ApiError, ErrorClass, MachineApi};
use serde_json::{Value, json};

use crate::harness::upstream::{Reply, Seen, Upstream, ok, refusing_url, reply};
use crate::harness::v1_client_at;

const KEY: &str = "test-key-5c7e09b4";

/// The client under test, pointed at the fake upstream.
fn client(up: &Upstream) -> V1Client {
    client_for(&up.url, Duration::from_secs(5))
}

/// A client whose base URL carries the `/v1` prefix, as production's does.
fn client_for(url: &str, timeout: Duration) -> V1Client {
    v1_client_at(&format!("{url}/v1/"), KEY, timeout)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const ID: &str = "psq3kz0a1";

/// A machine as the v1 API writes it.
fn machine(id: &str, state: &str) -> Value {
    json!({
        "id": id, "name": format!("m-{id}"), "state": state, "machineType": "P4000",
        "agentType": "LinuxHeadless", "os": "Ubuntu 22.04", "region": "Europe (AMS1)",
        "cpus": 8, "ram": 32212254720u64, "storageTotal": 107374182400u64, "storageUsed": 1024,
        "storageRate": 10, "usageRate": 0.51, "accelerators": [{"name": "Quadro P4000", "count": 1, "memory": 8192}],
        "networkId": null, "privateIp": "10.64.1.2", "publicIp": null, "publicIpType": "dynamic",
        "autoShutdownEnabled": false, "autoShutdownTimeout": null, "autoShutdownForce": null,
        "autoSnapshotEnabled": false, "autoSnapshotFrequency": null, "autoSnapshotSaveCount": null,
        "restorePointEnabled": false, "restorePointFrequency": null, "restorePointSnapshotId": null,
        "updatesPending": false, "reservation": null,
        "dtCreated": "2026-03-01T10:00:00.000Z", "dtModified": "2026-03-01T10:05:00.000Z", "dtDeleted": null
    })
}

fn event(id: &str, name: &str, state: &str) -> Value {
    json!({
        "id": id, "machineId": ID, "name": name, "state": state, "error": null,
        "dtCreated": "2026-03-01T10:00:00.000Z", "dtStarted": null, "dtFinished": null
    })
}

/// What every mutation answers.
fn mutation(state: &str, event_id: &str, name: &str) -> Reply {
    ok(json!({"data": machine(ID, state), "event": event(event_id, name, "new")}))
}

fn page(items: Vec<Value>, next: Option<&str>) -> Reply {
    let mut body = json!({"hasMore": next.is_some(), "items": items});
    if let Some(n) = next {
        body["nextPage"] = json!(n);
    }
    ok(body)
}

fn accessor(user_id: &str) -> Value {
    json!({"user": {"id": user_id, "email": format!("{user_id}@example.com"), "firstName": "Ada", "lastName": null, "publicProfileImageUrl": null}, "dtDeleted": null})
}

fn template(id: &str, name: &str, os: &str) -> Value {
    json!({"id": id, "name": name, "agentType": "LinuxHeadless", "operatingSystemLabel": os,
           "defaultSizeGb": 50, "availableMachineTypes": [{"machineTypeLabel": "P4000", "isAvailable": true}],
           "dtCreated": "2025-01-01T00:00:00.000Z"})
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the API key leaked into: {text}");
}

#[tokio::test]
async fn every_operation_uses_the_documented_route_method_query_headers_and_body() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(mutation("provisioning", "mev1", "create"))
        .then(mutation("starting", "mev2", "start"))
        .then(mutation("stopping", "mev3", "stop"))
        .then(mutation("restarting", "mev4", "restart"))
        .then(mutation("off", "mev5", "deactivate"))
        // An update may answer without an event.
        .then(ok(json!({"data": machine(ID, "off")})))
        .then(page(
            vec![
                machine(ID, "ready"),
                machine("ps2other", "off"),
                machine("ps3third", "ready"),
            ],
            Some("cur/2+x=="),
        ))
        .then(ok(machine(ID, "off")))
        .then(ok(json!({
            "id": "mev5", "machineId": ID, "name": "deactivate", "state": "error",
            "error": "host is out of capacity", "dtCreated": "2026-03-01T10:00:00.000Z",
            "dtStarted": "2026-03-01T10:00:01.000Z", "dtFinished": "2026-03-01T10:00:09.000Z"
        })))
        .then(ok(machine(ID, "off")))
        .then(ok(accessor("u1a2b3c4")))
        .then(ok(json!({"message": "removed"})))
        .then(page(vec![accessor("u1a2b3c4"), accessor("u9z8y7x6")], None))
        .then(ok(accessor("u1a2b3c4")))
        .then(page(
            vec![
                event("mev5", "deactivate", "error"),
                event("mev1", "create", "done"),
            ],
            None,
        ))
        .then(ok(event("mev9", "start", "in progress")))
        .then(page(
            vec![
                template("tkni3aa4", "Ubuntu 22.04 Server", "Ubuntu 22.04"),
                template("t0nspur5", "Ubuntu 22.04 Server", "Windows 10"),
            ],
            None,
        ));

    let mut create = CreateMachine::new("train-1", "Europe (AMS1)", "P4000", 100, "tkni3aa4");
    create.public_ip = Some(PublicIpType::Static);
    create.start_on_create = Some(false);
    create.network_id = Some("nw1abc".into());
    create.script_id = Some("sc1abc".into());
    create.take_initial_snapshot = Some(true);
    create.mark_snapshot_as_restore_point = Some(true);
    create.restore_point_frequency = Some("shutdown".into());
    let made = api.create(&create).await.unwrap();
    assert_eq!(made.id, ID);
    assert_eq!(made.state, MachineState::Provisioning);
    api.start(ID).await.unwrap();
    api.stop(ID).await.unwrap();
    api.restart(ID).await.unwrap();
    api.destroy(ID, true).await.unwrap();
    let changes = UpdateMachine {
        name: Some("train-2".into()),
        auto_shutdown_timeout_hours: Some(4.0),
        auto_shutdown_force: Some(true),
        auto_snapshot_enabled: Some(true),
        auto_snapshot_frequency: Some("day".into()),
        auto_snapshot_save_count: Some(3),
        public_ip: Some(PublicIpType::Dynamic),
    };
    api.update(ID, &changes).await.unwrap();

    // Four filters the API applies and one (state) the client applies.
    let filter = MachineFilter::all()
        .with(FilterField::Name, "m-psq3kz0a1")
        .with(FilterField::Region, "Europe (AMS1)")
        .with(FilterField::AgentType, "LinuxHeadless")
        .with(FilterField::MachineType, "P4000")
        .with(FilterField::State, "ready");
    let listed = api
        .list_page(
            &filter,
            &PageRequest {
                cursor: Some("cur/1+x==".into()),
                limit: Some(50),
            },
        )
        .await
        .unwrap();
    let ids: Vec<&str> = listed.machines.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [ID, "ps3third"], "state is filtered on this side");
    assert_eq!(listed.next.as_deref(), Some("cur/2+x=="));

    // The destroy's event is still pending, so show fetches it too, then
    // forgets it once it is seen finished.
    let shown = api.show(ID).await.unwrap();
    assert_eq!(shown.state, MachineState::Off);
    assert_eq!(shown.events.len(), 1);
    assert_eq!(shown.events[0].state, "error");
    assert_eq!(
        shown.events[0].error.as_deref(),
        Some("host is out of capacity")
    );
    let again = api.show(ID).await.unwrap();
    assert!(again.events.is_empty(), "{:?}", again.events);

    api.set_access(ID, "u1a2b3c4", true).await.unwrap();
    api.set_access(ID, "u1a2b3c4", false).await.unwrap();
    let accessors = api.accessors(ID).await.unwrap();
    assert_eq!(accessors.len(), 2);
    assert_eq!(accessors[0].email.as_deref(), Some("u1a2b3c4@example.com"));
    assert_eq!(accessors[0].first_name.as_deref(), Some("Ada"));
    assert_eq!(
        api.accessor(ID, "u1a2b3c4").await.unwrap().user_id,
        "u1a2b3c4"
    );
    let events = api.events(Some(ID)).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id.as_deref(), Some("mev5"));
    assert_eq!(api.event("mev9").await.unwrap().state, "in progress");
    let templates = api
        .templates(&TemplateFilter {
            name: Some("Ubuntu 22.04 Server".into()),
            os: Some("Ubuntu 22.04".into()),
            ..TemplateFilter::default()
        })
        .await
        .unwrap();
    let template_ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(template_ids, ["tkni3aa4"], "os is filtered on this side");

    // No v1 route: refused without a request.
    let month: BillingMonth = "2026-03".parse().unwrap();
    for err in [
        api.utilization(ID, month).await.unwrap_err(),
        api.availability("Europe (AMS1)", "P4000")
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, ApiError::Unsupported { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Permanent);
    }

    let seen = up.seen();
    let lines: Vec<String> = seen.iter().map(Seen::line).collect();
    assert_eq!(
        lines,
        [
            "POST /v1/machines",
            "PATCH /v1/machines/psq3kz0a1/start",
            "PATCH /v1/machines/psq3kz0a1/stop",
            "PATCH /v1/machines/psq3kz0a1/restart",
            "DELETE /v1/machines/psq3kz0a1",
            "PUT /v1/machines/psq3kz0a1",
            "GET /v1/machines",
            "GET /v1/machines/psq3kz0a1",
            "GET /v1/machine-events/mev5",
            "GET /v1/machines/psq3kz0a1",
            "POST /v1/machines/psq3kz0a1/accessors",
            "DELETE /v1/machines/psq3kz0a1/accessors/u1a2b3c4",
            "GET /v1/machines/psq3kz0a1/accessors",
            "GET /v1/machines/psq3kz0a1/accessors/u1a2b3c4",
            "GET /v1/machine-events",
            "GET /v1/machine-events/mev9",
            "GET /v1/os-templates",
        ]
    );

    for s in &seen {
        let what = s.line();
        assert_eq!(
            s.headers["authorization"],
            format!("Bearer {KEY}"),
            "{what}"
        );
        assert!(!s.headers.contains_key("x-api-key"), "{what}");
        assert_eq!(s.headers["x-client"], "machinist", "{what}");
        assert!(
            s.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("machinist/"),
            "{what}"
        );
        if [Method::POST, Method::PUT, Method::PATCH].contains(&s.method) {
            assert_eq!(s.headers["content-type"], "application/json", "{what}");
            assert!(s.json().is_object(), "{what}");
        } else {
            assert!(s.body.is_empty(), "{what} sends no body");
            assert!(!s.headers.contains_key("content-type"), "{what}");
        }
        if s.method != Method::GET {
            assert_eq!(s.raw_query, None, "{what} puts nothing in the query");
        }
    }

    assert_eq!(
        seen[0].json(),
        json!({
            "name": "train-1", "machineType": "P4000", "templateId": "tkni3aa4", "diskSize": 100,
            "region": "Europe (AMS1)", "publicIpType": "static", "startOnCreate": false,
            "networkId": "nw1abc", "startupScriptId": "sc1abc", "takeInitialSnapshot": true,
            "restorePointEnabled": true, "restorePointFrequency": "shutdown"
        })
    );
    for s in &seen[1..4] {
        assert_eq!(s.json(), json!({}), "{} sends `{{}}`", s.line());
    }
    assert_eq!(
        seen[5].json(),
        json!({
            "name": "train-2", "autoShutdownEnabled": true, "autoShutdownTimeout": 4.0,
            "autoShutdownForce": true, "autoSnapshotEnabled": true, "autoSnapshotFrequency": "daily",
            "autoSnapshotSaveCount": 3, "publicIpType": "dynamic"
        })
    );
    assert_eq!(
        seen[6].query,
        pairs(&[
            ("name", "m-psq3kz0a1"),
            ("agentType", "LinuxHeadless"),
            ("region", "Europe (AMS1)"),
            ("machineType", "P4000"),
            ("limit", "50"),
            ("after", "cur/1+x=="),
        ])
    );
    // The cursor is opaque: `+`, `/` and `=` are escaped, not sent as is.
    let raw = seen[6].raw_query.as_deref().unwrap();
    assert!(raw.ends_with("after=cur%2F1%2Bx%3D%3D"), "{raw}");
    for i in [7, 8, 9, 13, 15] {
        assert_eq!(seen[i].raw_query, None, "{}", seen[i].line());
    }
    assert_eq!(seen[10].json(), json!({"userId": "u1a2b3c4"}));
    assert_eq!(seen[12].query, pairs(&[("limit", "120")]));
    assert_eq!(
        seen[14].query,
        pairs(&[
            ("orderBy", "dtCreated"),
            ("order", "desc"),
            ("machineId", ID),
            ("limit", "120"),
        ])
    );
    assert_eq!(
        seen[16].query,
        pairs(&[("name", "Ubuntu 22.04 Server"), ("limit", "120")])
    );
}

#[tokio::test]
async fn mutations_accept_any_2xx() {
    let up = Upstream::start().await;
    let api = client(&up);
    for status in [200, 201, 202] {
        let mut r = mutation("provisioning", "mev1", "create");
        r.status = status;
        up.then(r);
        let m = api
            .create(&CreateMachine::new(
                "train-1",
                "Europe (AMS1)",
                "P4000",
                100,
                "t1abc",
            ))
            .await
            .unwrap();
        assert_eq!(m.id, ID, "status {status}");
    }
}

/// One `{code, message, details}` error answer.
fn coded(status: u16, code: &str, message: &str) -> Reply {
    ok(json!({"code": code, "message": message, "details": {"path": "machines.get"}}))
        .with_status(status)
}

#[tokio::test]
async fn v1_error_codes_classify_and_carry_the_message() {
    let up = Upstream::start().await;
    let api = client(&up);
    let cases = [
        (429, "TOO_MANY_REQUESTS", ErrorClass::Transient),
        (500, "INTERNAL_SERVER_ERROR", ErrorClass::Transient),
        (408, "TIMEOUT", ErrorClass::Transient),
        (400, "BAD_REQUEST", ErrorClass::Permanent),
        (401, "UNAUTHORIZED", ErrorClass::Permanent),
        (403, "FORBIDDEN", ErrorClass::Permanent),
        (404, "NOT_FOUND", ErrorClass::Permanent),
    ];
    for (status, code, class) in cases {
        let message = format!("{code} said the API");
        let mut r = coded(status, code, &message);
        if code == "TOO_MANY_REQUESTS" {
            r.headers.push(("retry-after", "7".into()));
        }
        up.then(r);
        let err = api.show(ID).await.unwrap_err();
        assert_eq!(err.class(), class, "{status} {code}: {err}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.is_not_found(), code == "NOT_FOUND", "{err}");
        assert!(
            matches!(&err, ApiError::Status { code: Some(c), .. } if c == code),
            "{err:?}"
        );
        assert_eq!(
            err.retry_after(),
            (code == "TOO_MANY_REQUESTS").then(|| Duration::from_secs(7)),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!("GET /machines/:id: Paperspace answered {status} {code}: {message}")
        );
        assert_eq!(err.is_ambiguous(), status >= 500, "{err}");
        assert_no_key(&err.to_string());
        assert_no_key(&format!("{err:?}"));
    }

    // The code decides over a status that says otherwise.
    up.then(coded(503, "NOT_FOUND", "machine gone")).then(coded(
        400,
        "TIMEOUT",
        "upstream timed out",
    ));
    let gone = api.stop(ID).await.unwrap_err();
    assert_eq!(gone.class(), ErrorClass::Permanent, "{gone}");
    assert!(gone.is_not_found());
    let slow = api.stop(ID).await.unwrap_err();
    assert_eq!(slow.class(), ErrorClass::Transient, "{slow}");
    // An unknown code falls back to the status.
    up.then(coded(503, "SOMETHING_NEW", "x"))
        .then(coded(409, "SOMETHING_NEW", "x"));
    assert!(api.start(ID).await.unwrap_err().is_transient());
    assert!(!api.start(ID).await.unwrap_err().is_transient());
}

#[tokio::test]
async fn a_2xx_shaped_like_an_error_is_an_error() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(coded(200, "NOT_FOUND", "no such machine"))
        .then(coded(200, "TOO_MANY_REQUESTS", "slow down"))
        .then(ok(json!({"code": "BAD_REQUEST", "message": "bad name"})))
        .then(ok(
            json!({"code": "FORBIDDEN", "message": "no", "issues": [{"message": "team"}]}),
        ));
    let missing = api.show(ID).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert_eq!(missing.class(), ErrorClass::Permanent);
    assert_eq!(missing.status(), Some(404));
    assert!(missing.to_string().contains("no such machine"), "{missing}");
    let throttled = api.start(ID).await.unwrap_err();
    assert_eq!(throttled.class(), ErrorClass::Transient, "{throttled}");
    assert_eq!(throttled.status(), Some(429));
    let bad = api
        .create(&CreateMachine::new("x", "Europe (AMS1)", "P4000", 10, "t1"))
        .await
        .unwrap_err();
    assert_eq!(bad.class(), ErrorClass::Permanent, "{bad}");
    assert_eq!(bad.status(), Some(400));
    let forbidden = api.destroy(ID, false).await.unwrap_err();
    assert_eq!(forbidden.status(), Some(403), "{forbidden}");
}

#[tokio::test]
async fn bodies_without_a_code_classify_by_status() {
    let up = Upstream::start().await;
    let api = client(&up);
    let page = format!(
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>{}</body></html>",
        "<p>cloudflare</p>".repeat(100)
    );
    up.then(reply(502, page))
        .then(reply(503, "").with_retry_after("30"))
        .then(reply(404, ""))
        .then(reply(401, "Unauthorized"));
    let html = api.show(ID).await.unwrap_err();
    assert_eq!(html.class(), ErrorClass::Transient);
    assert!(
        matches!(&html, ApiError::Status { code: None, .. }),
        "{html:?}"
    );
    let text = html.to_string();
    assert!(text.contains("502 Bad Gateway"), "{text}");
    assert!(text.len() < 400, "quotes a prefix, not the page: {text}");
    assert!(!text.contains('\n'), "one line: {text}");

    let empty = api.start(ID).await.unwrap_err();
    assert_eq!(empty.class(), ErrorClass::Transient);
    assert_eq!(empty.retry_after(), Some(Duration::from_secs(30)));
    assert!(empty.to_string().contains("empty body"), "{empty}");

    let missing = api.show(ID).await.unwrap_err();
    assert_eq!(missing.class(), ErrorClass::Permanent);
    assert!(missing.is_not_found());

    let plain = api.show(ID).await.unwrap_err();
    assert_eq!(plain.class(), ErrorClass::Permanent);
    assert!(plain.to_string().contains("Unauthorized"), "{plain}");
    assert_no_key(&plain.to_string());
}

#[tokio::test]
async fn empty_truncated_and_wrongly_shaped_2xx_bodies_are_malformed() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(reply(200, ""))
        .then(reply(200, r#"{"id":"psq3kz0a1","name":"tr"#))
        .then(reply(200, "<html>maintenance</html>"))
        // A page where a machine belongs.
        .then(page(vec![machine(ID, "off")], None))
        // A bare array where a page belongs.
        .then(ok(json!([machine(ID, "off")])))
        // A bare machine where `{data, event}` belongs.
        .then(ok(machine(ID, "starting")))
        // An empty answer to a mutation.
        .then(reply(204, ""))
        .then(ok(json!({"items": "none", "hasMore": false})));
    let empty = api.show(ID).await.unwrap_err();
    assert!(
        matches!(&empty, ApiError::Malformed { detail, .. } if detail == "empty body"),
        "{empty}"
    );
    let truncated = api.show(ID).await.unwrap_err();
    assert!(
        truncated.to_string().contains(r#"\"name\":\"tr"#),
        "{truncated}"
    );
    let html = api.show(ID).await.unwrap_err();
    assert!(html.to_string().contains("<html>maintenance"), "{html}");
    let not_a_machine = api.show(ID).await.unwrap_err();
    assert!(
        not_a_machine.to_string().contains("missing field `id`"),
        "{not_a_machine}"
    );
    let not_a_page = api.list_all(&MachineFilter::all()).await.unwrap_err();
    assert!(
        not_a_page.to_string().contains("invalid type"),
        "{not_a_page}"
    );
    let not_a_mutation = api.start(ID).await.unwrap_err();
    assert!(
        not_a_mutation.to_string().contains("missing field `data`"),
        "{not_a_mutation}"
    );
    let no_content = api.stop(ID).await.unwrap_err();
    assert!(
        no_content.to_string().contains("empty body"),
        "{no_content}"
    );
    let bad_items = api.templates(&TemplateFilter::default()).await.unwrap_err();
    assert!(
        bad_items.to_string().contains("invalid type"),
        "{bad_items}"
    );
    for err in [
        empty,
        truncated,
        html,
        not_a_machine,
        not_a_page,
        not_a_mutation,
        no_content,
        bad_items,
    ] {
        assert!(matches!(err, ApiError::Malformed { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Transient, "{err}");
        assert!(err.is_ambiguous(), "{err}");
        assert_no_key(&err.to_string());
    }
}

#[tokio::test]
async fn a_request_that_hangs_times_out_as_transient() {
    let up = Upstream::start().await;
    let mut slow = ok(machine(ID, "off"));
    slow.delay = Duration::from_secs(5);
    up.then(slow);
    let api = client_for(&up.url, Duration::from_millis(200));
    let err = api.show(ID).await.unwrap_err();
    assert!(matches!(err, ApiError::Timeout { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.is_ambiguous());
    assert_eq!(
        err.to_string(),
        "GET /machines/:id: no answer within 0.2s (request timeout)"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_not_ambiguous() {
    let (_bound, url) = refusing_url();
    let err = client_for(&url, Duration::from_secs(2))
        .start(ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Connect { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(!err.is_ambiguous(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(
        err.to_string().starts_with("PATCH /machines/:id/start"),
        "{err}"
    );
    assert_no_key(&err.to_string());
}

/// `n` machines numbered from `from`.
fn machines(from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|i| machine(&format!("ps{i:05}"), "off"))
        .collect()
}

fn afters(seen: &[Seen]) -> Vec<Option<String>> {
    seen.iter()
        .map(|s| s.param("after").map(str::to_string))
        .collect()
}

fn assert_unique<'a>(ids: impl IntoIterator<Item = &'a str>) {
    let mut set = HashSet::new();
    for id in ids {
        assert!(set.insert(id), "{id} came back twice");
    }
}

#[tokio::test]
async fn list_all_follows_next_page_until_it_is_absent() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(page(machines(0, 120), Some("eyJpZCI6MTIwfQ==")))
        .then(page(machines(120, 120), Some("c/240+")))
        .then(page(machines(240, 120), Some("c3")))
        .then(page(machines(360, 7), None));
    let filter = MachineFilter::all().with(FilterField::Region, "Europe (AMS1)");
    let all = api.list_all(&filter).await.unwrap();
    assert_eq!(all.len(), 367);
    assert_eq!(all[366].id, "ps00366");
    assert_unique(all.iter().map(|m| m.id.as_str()));
    let seen = up.seen();
    assert_eq!(
        afters(&seen),
        [
            None,
            Some("eyJpZCI6MTIwfQ==".into()),
            Some("c/240+".into()),
            Some("c3".into())
        ]
    );
    for s in &seen {
        assert_eq!(s.line(), "GET /v1/machines");
        assert_eq!(s.param("region"), Some("Europe (AMS1)"), "every page");
        assert_eq!(s.param("limit"), Some("120"));
    }
}

#[tokio::test]
async fn paging_stops_on_has_more_false_or_a_missing_cursor() {
    let up = Upstream::start().await;
    let api = client(&up);
    // No hasMore but a cursor: follow it. hasMore false: stop whatever the cursor says.
    up.then(ok(json!({"items": machines(0, 2), "nextPage": "a1"})))
        .then(ok(
            json!({"items": machines(2, 2), "hasMore": false, "nextPage": "a2"}),
        ))
        // hasMore true without a cursor cannot be followed; null and "" are no cursor.
        .then(ok(json!({"items": machines(0, 1), "hasMore": true})))
        .then(ok(
            json!({"items": machines(0, 1), "hasMore": true, "nextPage": null}),
        ))
        .then(ok(
            json!({"items": machines(0, 1), "hasMore": true, "nextPage": ""}),
        ));
    assert_eq!(api.list_all(&MachineFilter::all()).await.unwrap().len(), 4);
    for _ in 0..3 {
        assert_eq!(api.list_all(&MachineFilter::all()).await.unwrap().len(), 1);
    }
    assert_eq!(
        afters(&up.seen()),
        [None, Some("a1".into()), None, None, None]
    );
}

#[tokio::test]
async fn every_paged_route_follows_cursors() {
    let up = Upstream::start().await;
    let api = client(&up);
    let users = |from: usize, n: usize| -> Vec<Value> {
        (from..from + n)
            .map(|i| accessor(&format!("u{i:04}")))
            .collect()
    };
    let events = |from: usize, n: usize| -> Vec<Value> {
        (from..from + n)
            .map(|i| event(&format!("mev{i:04}"), "start", "done"))
            .collect()
    };
    let templates = |from: usize, n: usize| -> Vec<Value> {
        (from..from + n)
            .map(|i| template(&format!("t{i:04}"), &format!("tmpl {i}"), "Ubuntu 22.04"))
            .collect()
    };
    up.then(page(users(0, 120), Some("u1")))
        .then(page(users(120, 3), None))
        .then(page(events(0, 120), Some("e1")))
        .then(page(events(120, 120), Some("e2")))
        .then(page(events(240, 1), None))
        .then(page(templates(0, 120), Some("t1")))
        .then(page(templates(120, 5), None));
    let accessors = api.accessors(ID).await.unwrap();
    assert_eq!(accessors.len(), 123);
    assert_unique(accessors.iter().map(|a| a.user_id.as_str()));
    let all_events = api.events(None).await.unwrap();
    assert_eq!(all_events.len(), 241);
    assert_unique(all_events.iter().map(|e| e.id.as_deref().unwrap()));
    let all_templates = api.templates(&TemplateFilter::default()).await.unwrap();
    assert_eq!(all_templates.len(), 125);
    assert_unique(all_templates.iter().map(|t| t.id.as_str()));

    let seen = up.seen();
    let lines: Vec<String> = seen.iter().map(Seen::line).collect();
    assert_eq!(
        lines,
        [
            "GET /v1/machines/psq3kz0a1/accessors",
            "GET /v1/machines/psq3kz0a1/accessors",
            "GET /v1/machine-events",
            "GET /v1/machine-events",
            "GET /v1/machine-events",
            "GET /v1/os-templates",
            "GET /v1/os-templates",
        ]
    );
    assert_eq!(
        afters(&seen),
        [
            None,
            Some("u1".into()),
            None,
            Some("e1".into()),
            Some("e2".into()),
            None,
            Some("t1".into())
        ]
    );
    for s in &seen[2..5] {
        assert_eq!(s.param("machineId"), None, "all machines' events");
        assert_eq!(s.param("orderBy"), Some("dtCreated"));
        assert_eq!(s.param("order"), Some("desc"));
        assert_eq!(s.param("limit"), Some("120"));
    }
}

#[tokio::test]
async fn a_cursor_that_comes_back_around_is_not_followed_again() {
    let up = Upstream::start().await;
    let api = client(&up);
    // A server whose cursors cycle c1 → c2 → c1 would page forever.
    up.then(page(machines(0, 2), Some("c1")))
        .then(page(machines(2, 2), Some("c2")))
        .then(page(machines(4, 2), Some("c1")))
        .then(page(vec![accessor("u1")], Some("k1")))
        .then(page(vec![accessor("u2")], Some("k2")))
        .then(page(vec![accessor("u3")], Some("k1")));
    let all = api.list_all(&MachineFilter::all()).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_unique(all.iter().map(|m| m.id.as_str()));
    let accessors = api.accessors(ID).await.unwrap();
    assert_eq!(accessors.len(), 3);
    assert_unique(accessors.iter().map(|a| a.user_id.as_str()));
    assert_eq!(
        afters(&up.seen()),
        [
            None,
            Some("c1".into()),
            Some("c2".into()),
            None,
            Some("k1".into()),
            Some("k2".into())
        ],
        "no page is asked for twice"
    );
}

#[tokio::test]
async fn the_daemons_rate_limited_client_does_not_follow_a_cursor_twice_either() {
    use machinist::paperspace::throttle::{Throttled, TokenBucket};
    let up = Upstream::start().await;
    // The daemon wraps its client like this; the listing is the trait's.
    let api = Throttled::new(client(&up), TokenBucket::new(1000.0, 100));
    up.then(page(machines(0, 2), Some("c1")))
        .then(page(machines(2, 2), Some("c2")))
        .then(page(machines(4, 2), Some("c1")));
    let all = api.list_all(&MachineFilter::all()).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_unique(all.iter().map(|m| m.id.as_str()));
    assert_eq!(
        afters(&up.seen()),
        [None, Some("c1".into()), Some("c2".into())],
        "no page is asked for twice"
    );
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let up = Upstream::start().await;
    let api = client(&up);
    let mut monthly = CreateMachine::new("x", "Europe (AMS1)", "P4000", 10, "t1");
    monthly.billing_type = BillingType::Monthly;
    let mut team = CreateMachine::new("x", "Europe (AMS1)", "P4000", 10, "t1");
    team.team_id = Some("te1".into());
    let errs = [
        api.start("ps1/../../users").await.unwrap_err(),
        api.show("").await.unwrap_err(),
        api.destroy("ps1?x=1", false).await.unwrap_err(),
        api.update(ID, &UpdateMachine::default()).await.unwrap_err(),
        api.update(
            ID,
            &UpdateMachine {
                auto_snapshot_frequency: Some("fortnight".into()),
                ..UpdateMachine::default()
            },
        )
        .await
        .unwrap_err(),
        api.create(&CreateMachine::new("", "Europe (AMS1)", "P4000", 100, "t1"))
            .await
            .unwrap_err(),
        api.create(&CreateMachine::new("x", "Europe (AMS1)", "P4000", 0, "t1"))
            .await
            .unwrap_err(),
        api.create(&monthly).await.unwrap_err(),
        api.create(&team).await.unwrap_err(),
        api.set_access(ID, "u1/../x", true).await.unwrap_err(),
        api.event("mev 1").await.unwrap_err(),
        api.list_page(
            &MachineFilter::all(),
            &PageRequest {
                cursor: None,
                limit: Some(121),
            },
        )
        .await
        .unwrap_err(),
        api.list_page(
            &MachineFilter::all(),
            &PageRequest {
                cursor: None,
                limit: Some(0),
            },
        )
        .await
        .unwrap_err(),
        api.list_all(&MachineFilter::all().with(FilterField::TeamId, "te1"))
            .await
            .unwrap_err(),
    ];
    for e in &errs {
        assert!(matches!(e, ApiError::Invalid { .. }), "{e:?}");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
    assert!(errs[7].to_string().contains("v1"), "{}", errs[7]);
    assert!(errs[13].to_string().contains("teamId"), "{}", errs[13]);
    assert!(up.seen().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn event_page_asks_newest_first_with_the_cursor_and_reads_every_field() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(ok(json!({
        "hasMore": true,
        "nextPage": "ev/2+x==",
        "items": [
            {"id": "mev2", "machineId": "ps2other", "name": "vm-shutdown-force", "state": "done",
             "error": null, "dtCreated": "2026-03-02T10:00:00.000Z",
             "dtStarted": "2026-03-02T10:00:01.000Z", "dtFinished": "2026-03-02T10:00:05.000Z"},
            {"id": "mev1", "machineId": ID, "name": "start", "state": "error",
             "error": "host is out of capacity", "dtCreated": "2026-03-01T10:00:00.000Z",
             "dtStarted": "2026-03-01T10:00:02.000Z", "dtFinished": null}
        ]
    })))
    .then(ok(
        json!({"hasMore": false, "nextPage": "ignored", "items": []}),
    ))
    .then(ok(json!({"hasMore": false, "items": []})))
    .then(ok(json!({"hasMore": false, "items": []})));

    let first = api.event_page(&PageRequest::default()).await.unwrap();
    assert_eq!(first.next.as_deref(), Some("ev/2+x=="));
    assert_eq!(first.events.len(), 2);
    let e = &first.events[0];
    assert_eq!(e.id.as_deref(), Some("mev2"));
    assert_eq!(e.machine_id.as_deref(), Some("ps2other"));
    assert_eq!(e.name, "vm-shutdown-force");
    assert_eq!(e.state, "done");
    assert_eq!(e.error, None);
    assert_eq!(
        e.created_at.unwrap().to_rfc3339(),
        "2026-03-02T10:00:00+00:00"
    );
    assert_eq!(
        e.started_at.unwrap().to_rfc3339(),
        "2026-03-02T10:00:01+00:00"
    );
    assert_eq!(
        e.finished_at.unwrap().to_rfc3339(),
        "2026-03-02T10:00:05+00:00"
    );
    let failed = &first.events[1];
    assert_eq!(failed.machine_id.as_deref(), Some(ID));
    assert_eq!(failed.error.as_deref(), Some("host is out of capacity"));
    assert_eq!(failed.finished_at, None);

    let last = api
        .event_page(&PageRequest {
            cursor: first.next.clone(),
            limit: Some(50),
        })
        .await
        .unwrap();
    assert!(last.events.is_empty());
    assert_eq!(last.next, None, "hasMore false ends the listing");

    // Limits outside the API's 1..=120 are clamped, not refused.
    for limit in [0, 500] {
        api.event_page(&PageRequest {
            cursor: None,
            limit: Some(limit),
        })
        .await
        .unwrap();
    }

    let seen = up.seen();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.line() == "GET /v1/machine-events"));
    assert_eq!(
        seen[0].raw_query.as_deref(),
        Some("orderBy=dtCreated&order=desc&limit=120")
    );
    assert_eq!(
        seen[1].raw_query.as_deref(),
        Some("orderBy=dtCreated&order=desc&limit=50&after=ev%2F2%2Bx%3D%3D")
    );
    assert_eq!(seen[1].param("after"), Some("ev/2+x=="));
    assert_eq!(seen[2].param("limit"), Some("1"));
    assert_eq!(seen[3].param("limit"), Some("120"));
    assert_eq!(
        seen[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {KEY}")
    );
}

#[tokio::test]
async fn machines_carry_their_usage_and_storage_rates() {
    let up = Upstream::start().await;
    let api = client(&up);
    let mut no_storage = machine(ID, "off");
    no_storage["storageRate"] = json!(null);
    let mut text_rates = machine(ID, "off");
    text_rates["usageRate"] = json!("1.10");
    text_rates["storageRate"] = json!("7");
    let mut unpriced = machine(ID, "off");
    unpriced.as_object_mut().unwrap().remove("usageRate");
    up.then(ok(machine(ID, "ready")))
        .then(ok(no_storage))
        .then(ok(text_rates))
        .then(ok(unpriced));

    let rate = |m: machinist::machine::Machine| m.rate.map(|r| (r.usage, r.storage));
    assert_eq!(rate(api.show(ID).await.unwrap()), Some((0.51, 10.0)));
    assert_eq!(rate(api.show(ID).await.unwrap()), Some((0.51, 0.0)));
    assert_eq!(rate(api.show(ID).await.unwrap()), Some((1.10, 7.0)));
    assert_eq!(rate(api.show(ID).await.unwrap()), None);
}

#[tokio::test]
async fn account_standing_reads_its_shape_leniently() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(ok(json!({
        "isInGoodStanding": false, "hasPaymentMethod": true, "isAdminLocked": false,
        "messages": ["Your last payment failed.", "Update your card."]
    })))
    .then(ok(json!({
        "isInGoodStanding": null, "isAdminLocked": true,
        "messages": [{"message": "Locked by support."}, {"code": 7}, 3, ""]
    })))
    .then(ok(json!({"isInGoodStanding": true, "messages": null})))
    .then(coded(403, "FORBIDDEN", "not allowed"));

    let bad = api.account_standing().await.unwrap();
    assert!(!bad.in_good_standing);
    assert!(bad.has_payment_method);
    assert!(!bad.admin_locked);
    assert_eq!(
        bad.messages,
        ["Your last payment failed.", "Update your card."]
    );
    let locked = api.account_standing().await.unwrap();
    assert!(
        !locked.in_good_standing,
        "a locked account is not in good standing"
    );
    assert!(locked.admin_locked);
    assert!(!locked.has_payment_method);
    assert_eq!(locked.messages, ["Locked by support."]);
    let good = api.account_standing().await.unwrap();
    assert!(good.in_good_standing);
    assert!(good.messages.is_empty());
    let e = api.account_standing().await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");

    let seen = up.seen();
    assert!(
        seen.iter()
            .all(|s| s.line() == "GET /v1/billing/account-standing" && s.raw_query.is_none())
    );
    assert_eq!(
        seen[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer {KEY}")
    );
}

#[tokio::test]
async fn event_page_and_standing_are_in_the_call_log() {
    let up = Upstream::start().await;
    let api = client(&up);
    up.then(ok(json!({"hasMore": false, "items": []}))).then(ok(
        json!({"isInGoodStanding": true, "hasPaymentMethod": true,
                        "isAdminLocked": false, "messages": []}),
    ));
    let (_, calls) = machinist::paperspace::call_log::record_calls(async {
        api.event_page(&PageRequest::default()).await.unwrap();
        api.account_standing().await.unwrap();
    })
    .await;
    let routes: Vec<_> = calls
        .iter()
        .map(|c| (c.method.as_str(), c.route.as_str(), c.status))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/machine-events", Some(200)),
            ("GET", "/billing/account-standing", Some(200))
        ]
    );
}
