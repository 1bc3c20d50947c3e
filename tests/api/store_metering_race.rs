//! Machine sightings and machine events saved by two daemons at once on
//! one database: a machine's state rows stay in the order written (each
//! differs from the one before), and events are kept once by id.

use chrono::{DateTime, Duration, Utc};
use machinist::machine::{Machine, MachineEvent, MachineState};

fn t(i: i64) -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_daemons_see_the_same_machines_and_events_at_once() {
    let fixture = crate::harness::Fixture::new().await;
    let a = fixture.open().await;
    // SQLite lets one store open its file: there the four writers share it.
    let b = if crate::harness::on_postgres() {
        fixture.open().await
    } else {
        a.clone()
    };
    let ids: Vec<String> = (0..12).map(|i| format!("m{i:02}")).collect();
    let mut tasks = Vec::new();
    for (k, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..40i64 {
                let state = if round % 2 == 0 {
                    MachineState::Ready
                } else {
                    MachineState::Off
                };
                let mut list: Vec<Machine> = ids
                    .iter()
                    .map(|id| Machine::new(id.clone(), id.clone(), state.clone()))
                    .collect();
                if k % 2 == 1 {
                    list.reverse();
                }
                store
                    .see_machines(list, round % 5 == 0, t(0))
                    .await
                    .unwrap();
                let events: Vec<MachineEvent> = (0..20)
                    .map(|i| MachineEvent {
                        id: Some(format!("ev{}", (i * 7 + k) % 20)),
                        machine_id: Some("m00".into()),
                        name: "start".into(),
                        state: if round % 3 == 0 {
                            "done".into()
                        } else {
                            "in progress".into()
                        },
                        error: None,
                        created_at: Some(t(i as i64)),
                        started_at: None,
                        finished_at: None,
                    })
                    .collect();
                store.save_machine_events(events, t(round)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let states = a.state_sightings(t(0), t(100000)).await.unwrap();
    for w in states.windows(2) {
        if w[0].machine_id == w[1].machine_id {
            assert_ne!(w[0].state, w[1].state, "{:?}", w);
        }
    }
    assert_eq!(a.machine_event_count().await.unwrap(), 20);
}
