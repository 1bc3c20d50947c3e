//! Machinist's v1 client against the v1 routes of the simulated account:
//! every route, paging across page boundaries, errors in the v1 shape, one
//! account seen through both APIs, faults and call counts on v1 routes, and
//! a wait ended by a failed machine event.

use std::sync::Arc;
use std::time::Duration;

use machinist::clock::SystemClock;
use machinist::machine::{
    BillingMonth, CreateMachine, FilterField, MachineFilter, MachineState, PageRequest,
    PublicIpType, TemplateFilter, UpdateMachine, WaitTarget,
};
use machinist::paperspace::legacy::{LegacyClient, LegacyConfig};
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{ApiError, ApiKey, ErrorClass, MachineApi, WaitError, wait_for};
use machinist::sim::{self, FaultKind, OneShotFault, SimHandle};

use crate::harness::{legacy_client, quick_wait, spawn_sim, v1_client_at};

fn v1(url: &str, key: &str) -> V1Client {
    v1_client_at(&format!("{url}/v1"), key, Duration::from_secs(2))
}

/// A legacy client with the default request timeout.
fn legacy(url: &str) -> LegacyClient {
    legacy_client(
        url,
        LegacyConfig::new(ApiKey::new(sim::DEFAULT_API_KEY).unwrap()).request_timeout,
    )
}

async fn fast_sim() -> (SimHandle, V1Client) {
    let handle = spawn_sim(Duration::from_millis(60), Arc::new(SystemClock)).await;
    let api = v1(&handle.url, sim::DEFAULT_API_KEY);
    (handle, api)
}

#[tokio::test]
async fn every_machine_route_works_and_both_apis_see_one_account() {
    let (handle, api) = fast_sim().await;
    let old = legacy(&handle.url);
    assert_eq!(api.backend().as_str(), "v1");

    let mut req = CreateMachine::new("v1-made", "Europe (AMS1)", "C5", 50, "tkni3aa4");
    req.public_ip = Some(PublicIpType::Static);
    let made = api.create(&req).await.unwrap();
    assert_eq!(made.state, MachineState::Provisioning);
    assert_eq!(made.name, "v1-made");
    assert!(made.public_ip.is_some());
    let id = made.id.clone();
    let ready = wait_for(&api, &id, WaitTarget::Ready, quick_wait())
        .await
        .unwrap();
    assert_eq!(ready.machine_type.as_deref(), Some("C5"));
    assert_eq!(ready.dynamic_public_ip, Some(false));

    // The same machine through the legacy API reads the same.
    let seen = old.show(&id).await.unwrap();
    assert_eq!(
        (&seen.id, &seen.state, seen.created_at),
        (&ready.id, &ready.state, ready.created_at)
    );
    assert_eq!(seen.machine_type, ready.machine_type);
    assert_eq!(seen.public_ip, ready.public_ip);

    // Stop through v1, off through legacy; start through legacy, ready through v1.
    api.stop(&id).await.unwrap();
    wait_for(&old, &id, WaitTarget::Off, quick_wait())
        .await
        .unwrap();
    old.start(&id).await.unwrap();
    wait_for(&api, &id, WaitTarget::Ready, quick_wait())
        .await
        .unwrap();
    api.restart(&id).await.unwrap();
    assert_eq!(api.show(&id).await.unwrap().state, MachineState::Restarting);
    wait_for(&api, &id, WaitTarget::Ready, quick_wait())
        .await
        .unwrap();

    let changes = UpdateMachine {
        name: Some("v1-renamed".into()),
        auto_shutdown_timeout_hours: Some(6.0),
        auto_snapshot_frequency: Some("day".into()),
        auto_snapshot_enabled: Some(true),
        public_ip: Some(PublicIpType::Dynamic),
        ..UpdateMachine::default()
    };
    api.update(&id, &changes).await.unwrap();
    let after = api.show(&id).await.unwrap();
    assert_eq!(after.name, "v1-renamed");
    assert_eq!(after.auto_shutdown_timeout_hours, Some(6.0));
    assert_eq!(after.auto_snapshot_frequency.as_deref(), Some("day"));
    assert_eq!(after.dynamic_public_ip, Some(true));
    // The legacy view has the same settings under its own names.
    let legacy_view = old.show(&id).await.unwrap();
    assert_eq!(legacy_view.name, "v1-renamed");
    assert_eq!(legacy_view.auto_snapshot_frequency.as_deref(), Some("day"));
    assert_eq!(legacy_view.dynamic_public_ip, Some(true));

    // Accessors: add, get, list, remove; set_access maps onto them.
    let added = api.add_accessor(&id, "u5d6e7f8").await.unwrap();
    assert_eq!(added.user_id, "u5d6e7f8");
    assert_eq!(
        api.accessor(&id, "u5d6e7f8")
            .await
            .unwrap()
            .email
            .as_deref(),
        Some("u5d6e7f8@team.example")
    );
    api.set_access(&id, "u9g0h1j2", true).await.unwrap();
    let users: Vec<String> = api
        .accessors(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.user_id)
        .collect();
    assert_eq!(users, ["u5d6e7f8", "u9g0h1j2"]);
    api.set_access(&id, "u5d6e7f8", false).await.unwrap();
    api.remove_accessor(&id, "u9g0h1j2").await.unwrap();
    assert!(api.accessors(&id).await.unwrap().is_empty());
    let e = api.accessor(&id, "u5d6e7f8").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = api.add_accessor(&id, "unobody").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // Events: every operation is there, newest first, and each can be read alone.
    let events = api.events(Some(&id)).await.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["restart", "start", "stop", "create"]);
    assert!(events.iter().all(|e| e.state == "done"), "{events:?}");
    let one = api.event(events[0].id.as_deref().unwrap()).await.unwrap();
    assert_eq!(one, events[0]);

    api.destroy(&id, false).await.unwrap();
    let gone = wait_for(&api, &id, WaitTarget::Gone, quick_wait())
        .await
        .unwrap();
    assert_eq!(gone.id, id);
    let e = api.show(&id).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.to_string().contains("404 NOT_FOUND"), "{e}");
    assert!(old.show(&id).await.unwrap_err().is_not_found());

    // Every v1 route was counted under its template.
    let sim = &handle.sim;
    for (method, route) in [
        ("POST", "/v1/machines"),
        ("PATCH", "/v1/machines/:id/stop"),
        ("PATCH", "/v1/machines/:id/restart"),
        ("PUT", "/v1/machines/:id"),
        ("DELETE", "/v1/machines/:id"),
    ] {
        assert_eq!(sim.calls(method, route, None), 1, "{method} {route}");
    }
    assert!(sim.calls("GET", "/v1/machines/:id", Some(&id)) >= 3);
    assert_eq!(
        sim.calls("POST", "/machines/:machineId/start", Some(&id)),
        1
    );
}

#[tokio::test]
async fn lists_follow_cursors_across_page_boundaries_with_filters() {
    let (_handle, api) = fast_sim().await;
    for i in 0..7 {
        api.create(&CreateMachine::new(
            format!("page-{i}"),
            "West Coast (CA1)",
            "C4",
            50,
            "t0nspur5",
        ))
        .await
        .unwrap();
    }
    // 6 seeded + 7 new, in pages of 5: 5, 5, 3.
    let mut page = PageRequest {
        cursor: None,
        limit: Some(5),
    };
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    loop {
        let got = api.list_page(&MachineFilter::all(), &page).await.unwrap();
        sizes.push(got.machines.len());
        ids.extend(got.machines.into_iter().map(|m| m.id));
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [5, 5, 3]);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 13, "no machine twice, none missed");
    assert_eq!(api.list_all(&MachineFilter::all()).await.unwrap().len(), 13);

    let ca1 = MachineFilter::all()
        .with(FilterField::Region, "West Coast (CA1)")
        .with(FilterField::MachineType, "C4");
    assert_eq!(api.list_all(&ca1).await.unwrap().len(), 7);
    let named = MachineFilter::all().with(FilterField::Name, "page-3");
    let found = api.list_all(&named).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "page-3");
    // A filter the API lacks is applied by the client.
    let off = MachineFilter::all().with(FilterField::State, "off");
    let offs = api.list_all(&off).await.unwrap();
    assert_eq!(offs.len(), 3, "{offs:?}");
    assert!(offs.iter().all(|m| m.state == MachineState::Off));
    // One v1 machines have no field for is refused, naming the backend.
    let e = api
        .list_all(&MachineFilter::all().with(FilterField::TeamId, "te1"))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("v1"), "{e}");
    let e = api
        .list_page(
            &MachineFilter::all(),
            &PageRequest {
                cursor: None,
                limit: Some(121),
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("1 to 120"), "{e}");

    // Templates come from /os-templates.
    let templates = api.templates(&TemplateFilter::default()).await.unwrap();
    assert_eq!(templates.len(), 5);
    assert!(templates.iter().any(|t| t.id == "tkni3aa4"));
}

#[tokio::test]
async fn errors_come_in_the_v1_shape_and_classify() {
    let (handle, api) = fast_sim().await;
    let bad_key = v1(&handle.url, "wrong-key");
    let e = bad_key.list_all(&MachineFilter::all()).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.to_string().contains("UNAUTHORIZED"), "{e}");

    let e = api
        .create(&CreateMachine::new(
            "x",
            "Europe (AMS1)",
            "C5",
            50,
            "tnosuch",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(
        e.to_string().contains("BAD_REQUEST: templateId not found"),
        "{e}"
    );

    // Injected faults strike v1 routes, in the v1 shape.
    let off = handle.sim.machine_ids_named("dev-ny-2")[0].clone();
    handle.sim.inject(OneShotFault {
        kind: FaultKind::Throttle {
            retry_after_secs: 3,
        },
        route: Some("PATCH /v1/machines/:id/start".into()),
        count: 1,
        after_apply: false,
    });
    handle.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 500 },
        route: Some("PATCH /v1/machines/{id}/start".into()),
        count: 1,
        after_apply: false,
    });
    let e = api.start(&off).await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    assert!(e.to_string().contains("TOO_MANY_REQUESTS"), "{e}");
    let e = api.start(&off).await.unwrap_err();
    assert!(e.is_transient());
    assert!(e.to_string().contains("INTERNAL_SERVER_ERROR"), "{e}");
    api.start(&off).await.unwrap();
    assert_eq!(
        handle
            .sim
            .calls("PATCH", "/v1/machines/:id/start", Some(&off)),
        3
    );

    // Operations without a v1 route fail clearly, naming the backend.
    let month: BillingMonth = "2026-03".parse().unwrap();
    for e in [
        api.utilization(&off, month).await.unwrap_err(),
        api.availability("Europe (AMS1)", "C5")
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(matches!(e, ApiError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("v1 Paperspace API"), "{e}");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
}

#[tokio::test]
async fn a_failed_event_ends_the_wait_with_its_message() {
    let (handle, api) = fast_sim().await;
    let off = handle.sim.machine_ids_named("dev-ny-2")[0].clone();
    api.start(&off).await.unwrap();
    assert!(handle.sim.set_stuck(&off, true));
    assert!(
        handle
            .sim
            .fail_operation(&off, "host ny2-17 is out of capacity")
    );
    let err = wait_for(&api, &off, WaitTarget::Ready, quick_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Failed { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the start of machine {off} failed at Paperspace: host ny2-17 is out of capacity")
    );
    // The legacy API shows the same failure as errorMsg.
    let seen = legacy(&handle.url).show(&off).await.unwrap();
    assert_eq!(
        seen.failed_operation().and_then(|e| e.error.as_deref()),
        Some("host ny2-17 is out of capacity")
    );
}
