//! The simulated account as the meter's ground truth: actions from outside
//! Machinist in the v1 event listing, forced shutdowns, `vm-upgrade` price
//! changes, the month's usage priced span by span, the account standing
//! refusing creates and starts, and the listing paging over a seeded
//! history of 100,000 events exactly once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use machinist::clock::ManualClock;
use machinist::machine::{BillingMonth, CreateMachine, MachineState, PageRequest};
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{ErrorClass, MachineApi};
use machinist::sim::{self, OutsideAction, SimConfig, SimHandle, Timings};
use serde_json::{Value, json};

use crate::harness::v1_client_at;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An empty account on a manual clock, transitions of 10 s, and a v1 client.
async fn start(at: &str) -> (SimHandle, ManualClock, V1Client) {
    let clock = ManualClock::new(t(at));
    let config = SimConfig {
        timings: Timings::uniform(Duration::from_secs(10)),
        seed_machines: false,
        ..SimConfig::default()
    };
    let h = sim::spawn(config, Arc::new(clock.clone())).await.unwrap();
    let api = v1_client_at(
        &format!("{}/v1", h.url),
        sim::DEFAULT_API_KEY,
        Duration::from_secs(5),
    );
    (h, clock, api)
}

fn advance(clock: &ManualClock, secs: i64) {
    clock.advance(chrono::Duration::seconds(secs));
}

/// A P4000 (0.51/h) with a 50 GB disk (5.00/month), `off` once provisioned.
async fn create_off(api: &V1Client, clock: &ManualClock, name: &str) -> String {
    let mut req = CreateMachine::new(name, "East Coast (NY2)", "P4000", 50, "tkni3aa4");
    req.start_on_create = Some(false);
    let id = api.create(&req).await.unwrap().id;
    advance(clock, 10);
    assert_eq!(api.show(&id).await.unwrap().state, MachineState::Off);
    id
}

async fn control(
    h: &SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", h.url));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Every event of the account through the client, newest first, following cursors.
async fn all_events(api: &V1Client, limit: u32) -> Vec<machinist::machine::MachineEvent> {
    let mut all = Vec::new();
    let mut page = PageRequest {
        cursor: None,
        limit: Some(limit),
    };
    loop {
        let got = api.event_page(&page).await.unwrap();
        all.extend(got.events);
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn outside_actions_are_listed_under_their_v1_names() {
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    let id = create_off(&api, &clock, "console").await;
    let path = format!("/_sim/machines/{id}/outside");
    let outside = |action: &str, extra: Value| {
        let mut body = json!({ "action": action });
        if let Value::Object(more) = extra {
            body.as_object_mut().unwrap().extend(more);
        }
        control(&h, reqwest::Method::POST, &path, Some(body))
    };
    let (status, body) = outside("start", Value::Null).await;
    assert_eq!(
        (status, body["began"].clone()),
        (200, json!(true)),
        "{body}"
    );
    advance(&clock, 10);
    assert_eq!(outside("restart", Value::Null).await.0, 200);
    advance(&clock, 10);
    assert_eq!(outside("stop", Value::Null).await.0, 200);
    advance(&clock, 10);
    let (status, body) = outside("upgrade", json!({"machine_type": "P5000"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = outside("upgrade", Value::Null).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = outside("explode", Value::Null).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = control(
        &h,
        reqwest::Method::POST,
        "/_sim/machines/psnothere/outside",
        Some(json!({"action": "start"})),
    )
    .await;
    assert_eq!(status, 404);
    // Restarting an off machine is refused as the console would.
    let (status, body) = outside("restart", Value::Null).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("off"), "{body}");
    advance(&clock, 1);
    h.sim.outside(&id, OutsideAction::Start).unwrap();
    advance(&clock, 10);
    h.sim.outside(&id, OutsideAction::ForceShutdown).unwrap();
    advance(&clock, 10);
    api.destroy(&id, false).await.unwrap();
    advance(&clock, 10);

    let names: Vec<String> = all_events(&api, 120)
        .await
        .into_iter()
        .rev()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        names,
        [
            "create",
            "start",
            "restart",
            "stop",
            "vm-upgrade",
            "start",
            "vm-shutdown-force",
            "deactivate"
        ]
    );
    let asc: Value = reqwest::Client::new()
        .get(format!("{}/v1/machine-events?order=asc&limit=3", h.url))
        .bearer_auth(sim::DEFAULT_API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asc: Vec<_> = asc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(
        asc,
        ["create", "start", "restart"],
        "oldest first with order=asc"
    );
}

#[tokio::test]
async fn a_forced_shutdown_ends_billing_at_once_and_the_machine_goes_off() {
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    let id = create_off(&api, &clock, "forced").await; // 00:00:10
    api.start(&id).await.unwrap();
    advance(&clock, 10); // ready at 00:00:20
    advance(&clock, 3600 - 20); // 01:00:00
    assert!(h.sim.outside(&id, OutsideAction::ForceShutdown).unwrap());
    assert_eq!(api.show(&id).await.unwrap().state, MachineState::Stopping);
    advance(&clock, 10);
    assert_eq!(api.show(&id).await.unwrap().state, MachineState::Off);
    advance(&clock, 3600);
    let month: BillingMonth = "2026-03".parse().unwrap();
    let usage = h.sim.usage(month);
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].running_seconds, 3600.0 - 20.0);
    let events = all_events(&api, 2).await;
    let forced = &events[0];
    assert_eq!(forced.name, "vm-shutdown-force");
    assert_eq!(forced.state, "done");
    assert_eq!(forced.started_at, Some(t("2026-03-01T01:00:00Z")));
    assert_eq!(forced.machine_id.as_deref(), Some(id.as_str()));
    // Nothing to force on an off machine.
    assert!(!h.sim.outside(&id, OutsideAction::ForceShutdown).unwrap());
}

#[tokio::test]
async fn an_upgrade_changes_the_rates_from_then_on_and_only_while_off() {
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    let id = create_off(&api, &clock, "grow").await;
    let rate = |m: machinist::machine::Machine| m.rate.map(|r| (r.usage, r.storage));
    assert_eq!(rate(api.show(&id).await.unwrap()), Some((0.51, 5.0)));

    let client = reqwest::Client::new();
    let put = |body: Value| {
        client
            .put(format!("{}/v1/machines/{id}", h.url))
            .bearer_auth(sim::DEFAULT_API_KEY)
            .json(&body)
            .send()
    };
    let r = put(json!({"machineType": "P5000", "diskSize": 100}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["event"]["name"], "vm-upgrade");
    assert_eq!(body["event"]["state"], "done");
    assert_eq!(body["data"]["machineType"], "P5000");
    assert_eq!(rate(api.show(&id).await.unwrap()), Some((0.78, 7.0)));

    api.start(&id).await.unwrap();
    advance(&clock, 10);
    let r = put(json!({"machineType": "P6000"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "BAD_REQUEST");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("while it is ready"),
        "{body}"
    );
    let r = put(json!({"machineType": "P5000", "name": "same-type"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the same type is no upgrade");
    let r = put(json!({"diskSize": 20})).await.unwrap();
    assert_eq!(r.status(), 400, "disks only grow");
    assert_eq!(rate(api.show(&id).await.unwrap()), Some((0.78, 7.0)));
}

#[tokio::test]
async fn the_months_usage_prices_each_span_at_the_rate_then_in_force() {
    // March 2026 has 31 days.
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    clock.set(t("2026-04-02T00:00:00Z"));
    let id = h
        .sim
        .seed_machine("priced", "P4000", t("2026-03-01T00:00:00Z"))
        .unwrap();
    let other = h
        .sim
        .seed_machine("gone", "C5", t("2026-03-01T00:00:00Z"))
        .unwrap();
    clock.set(t("2026-04-02T00:00:00Z"));
    // Starts take 10 s, so runs open 10 s after each start is asked for.
    h.sim
        .record_history(
            &id,
            &[
                (t("2026-03-02T00:00:00Z"), OutsideAction::Start),
                (t("2026-03-02T10:00:10Z"), OutsideAction::Restart),
                (t("2026-03-03T00:00:10Z"), OutsideAction::Stop),
                (
                    t("2026-03-16T00:00:00Z"),
                    OutsideAction::Upgrade {
                        machine_type: "P6000".into(),
                    },
                ),
                (t("2026-03-20T00:00:00Z"), OutsideAction::Start),
                (t("2026-03-20T05:00:10Z"), OutsideAction::ForceShutdown),
                (t("2026-03-31T23:00:00Z"), OutsideAction::Start),
            ],
        )
        .unwrap();
    // Out of order, and a stop of an off machine, are refused.
    assert!(
        h.sim
            .record_history(&id, &[(t("2026-03-05T00:00:00Z"), OutsideAction::Stop)])
            .is_err()
    );
    assert!(
        h.sim
            .record_history(&other, &[(t("2026-03-05T00:00:00Z"), OutsideAction::Stop)])
            .is_err()
    );
    api.destroy(&other, false).await.unwrap();
    advance(&clock, 10);

    let month: BillingMonth = "2026-03".parse().unwrap();
    let usage = h.sim.usage(month);
    assert_eq!(usage.len(), 2, "destroyed machines are in the truth too");
    let u = usage.iter().find(|u| u.id == id).unwrap();
    assert_eq!(u.machine_type, "P6000");
    // 24 h at 0.51 (the restart does not interrupt), 5 h at 1.10, and the
    // last run from 23:00:10 to midnight (3590 s) at 1.10.
    let hours_p4000 = 24.0;
    let secs_p6000 = 5.0 * 3600.0 + 3590.0;
    assert!(
        (u.running_seconds - (hours_p4000 * 3600.0 + secs_p6000)).abs() < 1e-6,
        "{u:?}"
    );
    let compute = hours_p4000 * 0.51 + secs_p6000 / 3600.0 * 1.10;
    assert!(
        (u.compute_cost - compute).abs() < 1e-9,
        "{u:?} vs {compute}"
    );
    // The whole month's storage: 15 days at 5.00/month then 16 at 5.00 (the disk did not change).
    let month_secs = 31.0 * 86400.0;
    assert_eq!(u.storage_seconds, month_secs);
    assert!((u.storage_cost - 5.0).abs() < 1e-9, "{u:?}");
    assert!((u.total - (compute + 5.0)).abs() < 1e-9);
    // The removed machine: storage for the whole month (it went in April), no running.
    let g = usage.iter().find(|u| u.id == other).unwrap();
    assert_eq!(g.running_seconds, 0.0);
    assert!((g.storage_cost - 5.0).abs() < 1e-9, "{g:?}");

    let (status, body) = control(&h, reqwest::Method::GET, "/_sim/usage?month=2026-03", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["month"], "2026-03");
    assert_eq!(body["machines"].as_array().unwrap().len(), 2);
    let total = body["total"].as_f64().unwrap();
    assert!((total - (compute + 10.0)).abs() < 1e-9, "{body}");
    let m = &body["machines"][0];
    for field in [
        "id",
        "name",
        "machine_type",
        "running_seconds",
        "compute_cost",
        "storage_seconds",
        "storage_cost",
        "total",
    ] {
        assert!(!m[field].is_null(), "{field} in {m}");
    }
    let april = h.sim.usage("2026-04".parse().unwrap());
    assert_eq!(april.len(), 2);
    let a = april.iter().find(|u| u.id == id).unwrap();
    assert_eq!(
        a.running_seconds,
        86400.0 + 10.0,
        "still running on April 2nd"
    );
    assert_eq!(
        control(&h, reqwest::Method::GET, "/_sim/usage?month=2026-3", None)
            .await
            .0,
        400
    );
    assert_eq!(
        control(&h, reqwest::Method::GET, "/_sim/usage", None)
            .await
            .0,
        400
    );
    assert!(h.sim.usage("2026-02".parse().unwrap()).is_empty());
}

#[tokio::test]
async fn a_storage_price_change_prorates_over_the_month() {
    let (h, clock, api) = start("2026-04-01T00:00:00Z").await; // 30 days
    let id = create_off(&api, &clock, "disk").await;
    clock.set(t("2026-04-16T00:00:00Z"));
    let r = reqwest::Client::new()
        .put(format!("{}/v1/machines/{id}", h.url))
        .bearer_auth(sim::DEFAULT_API_KEY)
        .json(&json!({"diskSize": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    clock.set(t("2026-05-01T00:00:00Z"));
    let u = &h.sim.usage("2026-04".parse().unwrap())[0];
    // 15 days at 5.00/month, 15 at 7.00/month.
    assert!((u.storage_cost - (5.0 + 7.0) / 2.0).abs() < 1e-9, "{u:?}");
}

#[tokio::test]
async fn an_account_not_in_good_standing_cannot_create_or_start() {
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    let id = create_off(&api, &clock, "blocked").await;
    let standing = api.account_standing().await.unwrap();
    assert!(standing.in_good_standing && standing.has_payment_method && !standing.admin_locked);
    assert!(standing.messages.is_empty());

    let (status, body) = control(
        &h,
        reqwest::Method::PUT,
        "/_sim/standing",
        Some(
            json!({"in_good_standing": false, "messages": ["Your payment failed.", "Add a card."]}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let standing = api.account_standing().await.unwrap();
    assert!(!standing.in_good_standing);
    assert_eq!(standing.messages, ["Your payment failed.", "Add a card."]);
    let e = api.start(&id).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(
        e.to_string()
            .contains("FORBIDDEN: Your payment failed. Add a card."),
        "{e}"
    );
    let req = CreateMachine::new("nope", "East Coast (NY2)", "P4000", 50, "tkni3aa4");
    let e = api.create(&req).await.unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(h.sim.machine_ids_named("nope").is_empty());
    assert_eq!(h.sim.calls("GET", "/v1/billing/account-standing", None), 2);
    // Stopping is still allowed; good standing again allows starts.
    h.sim.set_standing(true, vec![]);
    api.start(&id).await.unwrap();
}

#[tokio::test]
async fn listing_a_seeded_history_covers_every_event_exactly_once() {
    let (h, clock, api) = start("2026-03-01T00:00:00Z").await;
    let machines = 1_000;
    let per_machine = 100; // the create and 99 actions
    let seeded = Instant::now();
    let t0 = t("2026-01-01T00:00:00Z");
    for i in 0..machines {
        let created = t0 + chrono::Duration::seconds(i);
        let id = h
            .sim
            .seed_machine(&format!("bench-{i}"), "C5", created)
            .unwrap();
        let actions: Vec<_> = (0..per_machine - 1)
            .map(|k| {
                let at = created + chrono::Duration::minutes(10 * (k + 1));
                let action = match k % 3 {
                    0 => OutsideAction::Start,
                    1 => OutsideAction::Restart,
                    _ => OutsideAction::Stop,
                };
                (at, action)
            })
            .collect();
        h.sim.record_history(&id, &actions).unwrap();
    }
    let seeding = seeded.elapsed();
    let listed = Instant::now();
    let events = all_events(&api, 120).await;
    let listing = listed.elapsed();
    eprintln!(
        "seeded {} events in {seeding:?}; listed them in pages of 120 in {listing:?}",
        machines * per_machine
    );
    assert_eq!(events.len(), (machines * per_machine) as usize);
    let ids: HashSet<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "no event twice");
    assert!(
        events
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    assert!(
        events
            .iter()
            .all(|e| e.machine_id.is_some() && e.started_at.is_some())
    );
    // A new event lands on the first page, and an old cursor still works.
    let first = api.event_page(&PageRequest::default()).await.unwrap();
    let id = h.sim.machine_ids_named("bench-0")[0].clone();
    h.sim.outside(&id, OutsideAction::Start).unwrap_or_default();
    advance(&clock, 10);
    let again = api.event_page(&PageRequest::default()).await.unwrap();
    assert_ne!(first.events[0].id, again.events[0].id);
    let second = api
        .event_page(&PageRequest {
            cursor: first.next.clone(),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(second.events.len(), 120);
    assert!(second.events[0].created_at <= first.events[119].created_at);
}
