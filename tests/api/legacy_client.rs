//! Machinist's own legacy client against the simulated account: every
//! operation, errors as the simulator produces them, and `wait_for`
//! surviving transient failures and timing out with a clear message.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use machinist::clock::{ManualClock, SystemClock};
use machinist::machine::{
    BillingMonth, CreateMachine, FilterField, MachineFilter, MachineState, PageRequest,
    TemplateFilter, WaitTarget,
};
use machinist::paperspace::legacy::LegacyClient;
use machinist::paperspace::{ErrorClass, MachineApi, WaitError, WaitOptions, wait_for};
use machinist::sim::{self, FaultKind, OneShotFault, SimConfig, SimHandle, Timings};

use crate::harness::{legacy_client_at, quick_wait, spawn_sim};

fn client(url: &str, key: &str) -> LegacyClient {
    legacy_client_at(url, key, Duration::from_secs(2))
}

async fn fast_sim() -> (SimHandle, LegacyClient) {
    let handle = spawn_sim(Duration::from_millis(60), Arc::new(SystemClock)).await;
    let api = client(&handle.url, sim::DEFAULT_API_KEY);
    (handle, api)
}

#[tokio::test]
async fn the_walkthrough_drives_every_operation() {
    let (handle, api) = fast_sim().await;
    machinist::cli::walkthrough::walk(&api, Duration::from_millis(60))
        .await
        .unwrap();
    // Each state change was asked exactly once.
    let sim = &handle.sim;
    for route in [
        "/machines/:machineId/start",
        "/machines/:machineId/restart",
        "/machines/:machineId/destroyMachine",
        "/machines/:machineId/updateMachinePublic",
        "/machines/:machineId/setMachineAccess",
    ] {
        assert_eq!(sim.calls("POST", route, None), 1, "{route}");
    }
    assert_eq!(
        sim.calls("POST", "/machines/:machineId/stop", None),
        2,
        "stop, then the no-op"
    );
    assert_eq!(
        sim.calls("POST", "/machines/createSingleMachinePublic", None),
        1
    );
}

#[tokio::test]
async fn listing_filters_and_pages_through_the_account() {
    let (_handle, api) = fast_sim().await;
    let all = api.list_all(&MachineFilter::all()).await.unwrap();
    assert!(all.len() >= 5, "the seeded fleet: {}", all.len());
    let ams = api
        .list_all(&MachineFilter::all().with(FilterField::Region, "Europe (AMS1)"))
        .await
        .unwrap();
    assert!(!ams.is_empty() && ams.len() < all.len());
    assert!(
        ams.iter()
            .all(|m| m.region.as_deref() == Some("Europe (AMS1)"))
    );
    let off = api
        .list_all(&MachineFilter::all().with(FilterField::State, "off"))
        .await
        .unwrap();
    assert!(off.iter().all(|m| m.state == MachineState::Off));
    let one = api
        .list_all(&MachineFilter::all().with(FilterField::Id, all[0].id.clone()))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);

    // Pages of two cover the account without gaps or repeats.
    let mut seen = Vec::new();
    let mut page = PageRequest {
        cursor: None,
        limit: Some(2),
    };
    loop {
        let got = api.list_page(&MachineFilter::all(), &page).await.unwrap();
        assert!(got.machines.len() <= 2);
        seen.extend(got.machines.into_iter().map(|m| m.id));
        match got.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = all.iter().map(|m| m.id.clone()).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn simulator_errors_are_classified_with_their_messages() {
    let (handle, api) = fast_sim().await;
    let wrong_key = client(&handle.url, "not-the-key");
    let e = wrong_key.show("psxxxxxxx").await.unwrap_err();
    assert_eq!((e.status(), e.class()), (Some(401), ErrorClass::Permanent));
    assert!(e.to_string().contains("Invalid API token"), "{e}");
    assert!(!e.to_string().contains("not-the-key"), "{e}");

    let e = api.show("psnothere").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("Machine not found"), "{e}");
    let e = api.start("psnothere").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");

    let bad_template = CreateMachine::new("x", "Europe (AMS1)", "P4000", 100, "tnosuch");
    let e = api.create(&bad_template).await.unwrap_err();
    assert_eq!((e.status(), e.class()), (Some(400), ErrorClass::Permanent));
    assert!(e.to_string().contains("templateId"), "{e}");

    handle.sim.inject(OneShotFault {
        kind: FaultKind::Throttle {
            retry_after_secs: 3,
        },
        route: None,
        count: 1,
        after_apply: false,
    });
    let e = api.list_all(&MachineFilter::all()).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

    handle.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 502 },
        route: None,
        count: 1,
        after_apply: false,
    });
    let e = api.templates(&TemplateFilter::default()).await.unwrap_err();
    assert_eq!((e.status(), e.class()), (Some(502), ErrorClass::Transient));
    assert!(e.to_string().contains("502"), "{e}");
}

#[tokio::test]
async fn wait_for_rides_out_transient_errors() {
    let (handle, api) = fast_sim().await;
    let off = api
        .list_all(&MachineFilter::all().with(FilterField::State, "off"))
        .await
        .unwrap();
    let id = off[0].id.clone();
    api.start(&id).await.unwrap();
    // The next three polls fail; the official client would give up at the first.
    handle.sim.inject(OneShotFault {
        kind: FaultKind::Error { status: 503 },
        route: Some("GET /machines/getMachinePublic".into()),
        count: 3,
        after_apply: false,
    });
    let m = wait_for(&api, &id, WaitTarget::Ready, quick_wait())
        .await
        .unwrap();
    assert_eq!(m.state, MachineState::Ready);
    assert!(
        handle
            .sim
            .calls("GET", "/machines/getMachinePublic", Some(&id))
            >= 4
    );
}

#[tokio::test]
async fn wait_for_times_out_naming_machine_state_and_goal() {
    let (handle, api) = fast_sim().await;
    let off = api
        .list_all(&MachineFilter::all().with(FilterField::State, "off"))
        .await
        .unwrap();
    let id = off[0].id.clone();
    api.start(&id).await.unwrap();
    assert!(handle.sim.set_stuck(&id, true));
    let options = WaitOptions {
        timeout: Duration::from_millis(300),
        interval: Duration::from_millis(20),
    };
    let err = wait_for(&api, &id, WaitTarget::Ready, options)
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::TimedOut { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("machine {id} stayed in `starting` for 0.3s")),
        "{text}"
    );
    assert!(text.ends_with("wanted `ready`"), "{text}");

    // A permanent error ends the wait at once.
    let err = wait_for(&api, "psnothere", WaitTarget::Off, quick_wait())
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Gone { .. }), "{err:?}");
}

#[tokio::test]
async fn utilization_accrues_while_running_on_the_simulated_clock() {
    let start = Utc.with_ymd_and_hms(2026, 3, 10, 8, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let config = SimConfig {
        timings: Timings::uniform(Duration::from_secs(60)),
        seed_machines: false,
        ..SimConfig::default()
    };
    let handle = sim::spawn(config, Arc::new(clock.clone())).await.unwrap();
    let api = client(&handle.url, sim::DEFAULT_API_KEY);
    let m = api
        .create(&CreateMachine::new(
            "u1",
            "East Coast (NY2)",
            "P4000",
            50,
            "tkni3aa4",
        ))
        .await
        .unwrap();
    assert_eq!(m.state, MachineState::Provisioning);
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(api.show(&m.id).await.unwrap().state, MachineState::Ready);
    clock.advance(chrono::Duration::hours(10));
    api.stop(&m.id).await.unwrap();
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(api.show(&m.id).await.unwrap().state, MachineState::Off);
    clock.advance(chrono::Duration::hours(5));

    let month: BillingMonth = "2026-03".parse().unwrap();
    let u = api.utilization(&m.id, month).await.unwrap();
    // Ten hours ready: billing ends when the stop is asked for, not when
    // the machine is off.
    assert_eq!(u.seconds_used, 10 * 3600);
    assert!(u.hourly_rate > 0.0);
    assert!(u.storage_seconds_used >= 15 * 3600);
    assert!(u.cost() > 10.0 * u.hourly_rate);
    let april = api
        .utilization(&m.id, "2026-04".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(april.seconds_used, 0);
}
