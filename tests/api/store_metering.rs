//! The store's metering facts: machine events, the states and prices seen
//! with machines, the ingestion cursor and gaps, monthly billing marks, the
//! account's standing, utilization by source, and the migration that adds
//! them to a database already in use.

use chrono::{DateTime, Utc};
use machinist::machine::{
    AccountStanding, BillingMonth, Machine, MachineEvent, MachineRate, MachineState, Utilization,
};
use machinist::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};
use machinist::store::{EventsSaved, Store, StoreOptions, UtilizationRow};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(d: u32) -> DateTime<Utc> {
    at(&format!("2026-03-{d:02}T00:00:00Z"))
}

async fn open() -> (Store, crate::harness::Fixture) {
    crate::harness::open_store().await
}

fn event(id: &str, machine: &str, name: &str, state: &str, created: &str) -> MachineEvent {
    MachineEvent {
        id: Some(id.into()),
        machine_id: Some(machine.into()),
        name: name.into(),
        state: state.into(),
        error: None,
        created_at: Some(at(created)),
        started_at: None,
        finished_at: None,
    }
}

fn ids(events: &[MachineEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_deref().unwrap()).collect()
}

fn priced(id: &str, state: MachineState, usage: f64, machine_type: &str) -> Machine {
    let mut m = Machine::new(id, id, state);
    m.rate = Some(MachineRate {
        usage,
        storage: 5.0,
    });
    m.machine_type = Some(machine_type.into());
    m
}

#[tokio::test]
async fn events_are_kept_once_by_id_and_a_later_copy_updates_them() {
    let (store, _dir) = open().await;
    let stop = event("ev1", "ps1", "stop", "in progress", "2026-03-02T10:00:00Z");
    let mut no_machine = event("ev2", "ps1", "start", "done", "2026-03-02T11:00:00Z");
    no_machine.machine_id = None;
    let mut no_id = event("x", "ps1", "start", "done", "2026-03-02T11:00:00Z");
    no_id.id = None;
    let mut no_time = event("ev3", "ps1", "start", "done", "2026-03-02T11:00:00Z");
    no_time.created_at = None;
    let saved = store
        .save_machine_events(vec![stop.clone(), no_machine, no_id, no_time], day(2))
        .await
        .unwrap();
    assert_eq!(
        saved,
        EventsSaved {
            added: 1,
            changed: 0,
            skipped: 3
        }
    );

    // The same event again is the same row, unchanged.
    let again = store
        .save_machine_events(vec![stop.clone()], day(3))
        .await
        .unwrap();
    assert_eq!(again, EventsSaved::default());
    assert_eq!(store.machine_event_count().await.unwrap(), 1);

    // Its end: state, error and times come from the later copy.
    let mut done = stop.clone();
    done.state = "error".into();
    done.error = Some("host out of capacity".into());
    done.started_at = Some(at("2026-03-02T10:00:05Z"));
    done.finished_at = Some(at("2026-03-02T10:01:00Z"));
    let saved = store
        .save_machine_events(vec![done.clone()], day(3))
        .await
        .unwrap();
    assert_eq!((saved.added, saved.changed, saved.skipped), (0, 1, 0));
    assert_eq!(store.machine_event_count().await.unwrap(), 1);
    let read = store.machine_events(day(1), day(31)).await.unwrap();
    assert_eq!(read, vec![done]);
}

#[tokio::test]
async fn a_window_of_events_starts_with_each_machines_last_lifecycle_event() {
    let (store, _dir) = open().await;
    let events = vec![
        // ps1: started, then stopped, then a snapshot, all before the window.
        event("a1", "ps1", "start", "done", "2026-02-20T08:00:00Z"),
        event("a2", "ps1", "stop", "done", "2026-02-25T08:00:00Z"),
        event(
            "a3",
            "ps1",
            "snapshot-create",
            "done",
            "2026-02-27T08:00:00Z",
        ),
        // ps2: a forced shutdown before the window, a start within it.
        event("b1", "ps2", "create", "done", "2026-01-10T08:00:00Z"),
        event(
            "b2",
            "ps2",
            "vm-shutdown-force",
            "done",
            "2026-02-28T23:59:59Z",
        ),
        event("b3", "ps2", "start", "done", "2026-03-05T08:00:00Z"),
        // ps3: nothing but a snapshot before the window.
        event(
            "c1",
            "ps3",
            "snapshot-create",
            "done",
            "2026-02-01T08:00:00Z",
        ),
        // Within the window, and at its very start; one at its end is out.
        event("a4", "ps1", "start", "done", "2026-03-01T00:00:00Z"),
        event("c2", "ps3", "restart", "done", "2026-03-10T08:00:00Z"),
        event("b4", "ps2", "stop", "done", "2026-04-01T00:00:00Z"),
    ];
    let saved = store.save_machine_events(events, day(2)).await.unwrap();
    assert_eq!(saved.added, 10);

    let march = store
        .machine_events(day(1), at("2026-04-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(ids(&march), ["a2", "b2", "a4", "b3", "c2"]);

    // A window with nothing in it still says where each machine stood.
    let later = store
        .machine_events(at("2026-05-01T00:00:00Z"), at("2026-06-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(ids(&later), ["a4", "c2", "b4"]);
    // And before everything there is nothing.
    let early = store
        .machine_events(
            day(1) - chrono::Duration::days(365),
            day(1) - chrono::Duration::days(300),
        )
        .await
        .unwrap();
    assert!(early.is_empty());
}

#[tokio::test]
async fn prices_are_recorded_as_seen_only_when_they_change() {
    let (store, _dir) = open().await;
    let seen = |machines: Vec<Machine>, when: DateTime<Utc>| {
        let store = store.clone();
        async move { store.see_machines(machines, false, when).await.unwrap() }
    };
    // A legacy machine carries no price: no row.
    seen(
        vec![
            priced("ps1", MachineState::Ready, 0.51, "P4000"),
            Machine::new("legacy", "legacy", MachineState::Ready),
        ],
        day(1),
    )
    .await;
    // Seen again at the same prices: nothing new.
    seen(
        vec![priced("ps1", MachineState::Off, 0.51, "P4000")],
        day(2),
    )
    .await;
    // Upgraded: a new type at a new price.
    seen(
        vec![priced("ps1", MachineState::Ready, 0.76, "A4000")],
        day(3),
    )
    .await;
    // Same price, another type: a change too.
    seen(
        vec![priced("ps1", MachineState::Ready, 0.76, "A5000")],
        day(4),
    )
    .await;
    seen(
        vec![priced("ps1", MachineState::Ready, 0.76, "A5000")],
        day(5),
    )
    .await;
    // Back to an earlier price: a change from the latest.
    seen(
        vec![priced("ps1", MachineState::Ready, 0.51, "P4000")],
        day(6),
    )
    .await;

    let rate = |at_day: u32, usage: f64, t: &str| RateSighting {
        machine_id: "ps1".into(),
        at: day(at_day),
        rate: MachineRate {
            usage,
            storage: 5.0,
        },
        machine_type: Some(t.into()),
    };
    assert_eq!(
        store.rate_sightings(day(31)).await.unwrap(),
        vec![
            rate(1, 0.51, "P4000"),
            rate(3, 0.76, "A4000"),
            rate(4, 0.76, "A5000"),
            rate(6, 0.51, "P4000"),
        ]
    );
    // Up to and including `to`.
    assert_eq!(store.rate_sightings(day(3)).await.unwrap().len(), 2);
}

#[tokio::test]
async fn states_are_recorded_at_first_sight_and_on_change_with_the_last_sighting_before() {
    let (store, _dir) = open().await;
    let see = |id: &str, state: MachineState, when: DateTime<Utc>| {
        let (store, m) = (store.clone(), Machine::new(id, id, state));
        async move { store.see_machines(vec![m], false, when).await.unwrap() }
    };
    see("ps1", MachineState::Ready, day(1)).await; // first sighting: a row
    see("ps1", MachineState::Ready, day(2)).await; // same state: none
    see("ps1", MachineState::Off, day(4)).await; // off between day 2 and day 4
    see("ps1", MachineState::Off, day(10)).await;
    see("ps1", MachineState::Starting, day(20)).await;
    see("ps2", MachineState::Off, day(15)).await;

    let sighting =
        |id: &str, state: MachineState, at_day: u32, before: Option<u32>| StateSighting {
            machine_id: id.into(),
            state,
            at: day(at_day),
            previous_seen_at: before.map(day),
        };
    assert_eq!(
        store.state_sightings(day(1), day(31)).await.unwrap(),
        vec![
            sighting("ps1", MachineState::Ready, 1, None),
            sighting("ps1", MachineState::Off, 4, Some(2)),
            sighting("ps1", MachineState::Starting, 20, Some(10)),
            sighting("ps2", MachineState::Off, 15, None),
        ]
    );
    // A window starts with each machine's last state before it.
    assert_eq!(
        store.state_sightings(day(16), day(18)).await.unwrap(),
        vec![
            sighting("ps1", MachineState::Off, 4, Some(2)),
            sighting("ps2", MachineState::Off, 15, None),
        ]
    );
    assert!(
        store
            .state_sightings(day(1) - chrono::Duration::days(1), day(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_cursor_and_the_gaps_round_trip() {
    let (store, _dir) = open().await;
    assert_eq!(store.meter_cursor().await.unwrap(), None);
    let cursor = MeterCursor {
        newest: Some(at("2026-03-02T10:00:00Z")),
        oldest_open: None,
        ingested_at: Some(at("2026-03-02T10:05:00Z")),
    };
    store
        .save_meter_cursor(cursor.clone(), day(2))
        .await
        .unwrap();
    assert_eq!(store.meter_cursor().await.unwrap(), Some(cursor));
    let moved = MeterCursor {
        newest: Some(at("2026-03-03T10:00:00Z")),
        oldest_open: Some(at("2026-03-03T09:00:00Z")),
        ingested_at: Some(at("2026-03-03T10:05:00Z")),
    };
    store
        .save_meter_cursor(moved.clone(), day(3))
        .await
        .unwrap();
    assert_eq!(store.meter_cursor().await.unwrap(), Some(moved));

    let gap = |from: u32, to: u32, backfilled: u64, complete: bool| MeterGap {
        from: day(from),
        to: day(to),
        backfilled,
        complete,
    };
    store.record_meter_gap(gap(2, 4, 3, true)).await.unwrap();
    store.record_meter_gap(gap(10, 12, 0, false)).await.unwrap();
    // The same gap again replaces it.
    store.record_meter_gap(gap(2, 4, 5, true)).await.unwrap();
    assert_eq!(
        store.meter_gaps(day(1), day(31)).await.unwrap(),
        vec![gap(2, 4, 5, true), gap(10, 12, 0, false)]
    );
    // Overlapping [from, to): a gap ending at `from` or starting at `to` is out.
    assert_eq!(store.meter_gaps(day(4), day(10)).await.unwrap(), vec![]);
    assert_eq!(
        store.meter_gaps(day(3), day(11)).await.unwrap(),
        vec![gap(2, 4, 5, true), gap(10, 12, 0, false)]
    );
}

#[tokio::test]
async fn monthly_billing_marks_and_the_account_standing_are_kept() {
    let (store, _dir) = open().await;
    assert!(store.monthly_billed().await.unwrap().is_empty());
    store.set_monthly_billed("ps2", true, day(2)).await.unwrap();
    store.set_monthly_billed("ps1", true, day(3)).await.unwrap();
    // Marked again: it keeps when it was first marked.
    store.set_monthly_billed("ps2", true, day(5)).await.unwrap();
    assert_eq!(
        store.monthly_billed().await.unwrap(),
        vec![("ps1".to_string(), day(3)), ("ps2".to_string(), day(2))]
    );
    store
        .set_monthly_billed("ps1", false, day(6))
        .await
        .unwrap();
    store
        .set_monthly_billed("unknown", false, day(6))
        .await
        .unwrap();
    assert_eq!(
        store.monthly_billed().await.unwrap(),
        vec![("ps2".to_string(), day(2))]
    );

    assert_eq!(store.account_standing().await.unwrap(), None);
    let good = AccountStanding {
        in_good_standing: true,
        has_payment_method: true,
        admin_locked: false,
        messages: vec![],
    };
    store
        .save_account_standing(good.clone(), day(2))
        .await
        .unwrap();
    assert_eq!(
        store.account_standing().await.unwrap(),
        Some((good, day(2)))
    );
    let bad = AccountStanding {
        in_good_standing: false,
        has_payment_method: false,
        admin_locked: false,
        messages: vec!["Your payment failed".into()],
    };
    store
        .save_account_standing(bad.clone(), day(3))
        .await
        .unwrap();
    assert_eq!(store.account_standing().await.unwrap(), Some((bad, day(3))));
}

fn usage(machine: &str, month: &str, hours: u64, rate: f64) -> Utilization {
    Utilization {
        machine_id: machine.into(),
        billing_month: month.parse::<BillingMonth>().unwrap(),
        seconds_used: hours * 3600,
        hourly_rate: rate,
        storage_seconds_used: 0,
        storage_monthly_rate: 5.0,
    }
}

#[tokio::test]
async fn pulled_and_metered_utilization_sit_side_by_side() {
    let (store, _dir) = open().await;
    store
        .save_utilization(vec![usage("ps1", "2026-03", 10, 0.51)], day(2))
        .await
        .unwrap();
    store
        .save_metered_utilization(
            vec![
                usage("ps1", "2026-03", 11, 0.50),
                usage("ps2", "2026-04", 3, 0.76),
            ],
            day(3),
        )
        .await
        .unwrap();
    // Metered again: replaced, the pulled row untouched.
    store
        .save_metered_utilization(vec![usage("ps1", "2026-03", 12, 0.50)], day(4))
        .await
        .unwrap();
    let march = store.utilization("2026-03").await.unwrap();
    let view: Vec<(&str, &str, i64)> = march
        .iter()
        .map(|r| {
            (
                r.machine_id.as_str(),
                r.source.as_str(),
                r.seconds_used / 3600,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("ps1", UtilizationRow::METER, 12),
            ("ps1", UtilizationRow::PAPERSPACE, 10)
        ]
    );
    // The newest month's rate, Paperspace's where a month has both.
    assert_eq!(
        store.hourly_rates().await.unwrap(),
        vec![("ps1".to_string(), 0.51), ("ps2".to_string(), 0.76)]
    );
    store
        .save_metered_utilization(vec![usage("ps1", "2026-04", 1, 0.60)], day(4))
        .await
        .unwrap();
    assert_eq!(
        store.hourly_rates().await.unwrap(),
        vec![("ps1".to_string(), 0.60), ("ps2".to_string(), 0.76)]
    );
}

/// A database made by the migrations before metering, with utilization and
/// state history in it, takes the metering migration and keeps its rows.
#[tokio::test]
async fn the_metering_migration_keeps_what_a_database_held() {
    use sqlx::Connection;
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let before: Vec<_> = machinist::store::MIGRATOR
            .iter()
            .filter(|m| m.version < 7)
            .cloned()
            .collect();
        assert_eq!(before.len(), 6);
        let mut conn = SqliteConnection::connect_with(
            &SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        Migrator::with_migrations(before)
            .run(&mut conn)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO utilization (machine_id, month, seconds_used, hourly_rate, storage_seconds, monthly_rate, pulled_at) \
             VALUES ('ps1', '2026-02', 7200, 0.51, 0, 5.0, 1772000000000)",
            "INSERT INTO machines (id, name, state, data, seen_at) \
             VALUES ('ps1', 'one', 'off', '{}', 1772500000000)",
            "INSERT INTO machine_states (machine_id, state, at) VALUES ('ps1', 'ready', 1772400000000)",
            "INSERT INTO machine_states (machine_id, state, at) VALUES ('ps1', 'off', 1772500000000)",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    }

    let store = Store::open(&StoreOptions::new(&path)).await.unwrap();
    let feb = store.utilization("2026-02").await.unwrap();
    assert_eq!(feb.len(), 1);
    assert_eq!(
        (
            feb[0].source.as_str(),
            feb[0].seconds_used,
            feb[0].hourly_rate
        ),
        (UtilizationRow::PAPERSPACE, 7200, 0.51)
    );
    let ms = |ms: i64| machinist::store::rows::from_ms(ms);
    assert_eq!(
        store
            .state_sightings(ms(0), ms(1_800_000_000_000))
            .await
            .unwrap(),
        vec![
            StateSighting {
                machine_id: "ps1".into(),
                state: MachineState::Ready,
                at: ms(1772400000000),
                previous_seen_at: None,
            },
            StateSighting {
                machine_id: "ps1".into(),
                state: MachineState::Off,
                at: ms(1772500000000),
                previous_seen_at: None,
            },
        ]
    );
    // A known machine seen in a new state now says when it was last seen.
    let later = ms(1772600000000);
    store
        .see_machines(
            vec![Machine::new("ps1", "one", MachineState::Ready)],
            false,
            later,
        )
        .await
        .unwrap();
    let last = store
        .state_sightings(later, ms(1_800_000_000_000))
        .await
        .unwrap();
    assert_eq!(
        last.last().unwrap().previous_seen_at,
        Some(ms(1772500000000))
    );
    // Pulled again, the old row is replaced, not doubled.
    store
        .save_utilization(vec![usage("ps1", "2026-02", 3, 0.51)], later)
        .await
        .unwrap();
    assert_eq!(store.utilization("2026-02").await.unwrap().len(), 1);
    assert!(store.machine_events(ms(0), later).await.unwrap().is_empty());
}
