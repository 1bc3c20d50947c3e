//! Cost and savings reports over a store whose history is written at chosen
//! times: stops Machinist carried out, the starts that ended them, and the
//! utilization pulled for the machines.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::http::cost as report;
use machinist::job::{JobDefaults, JobRequest, JobState, NewEvent};
use machinist::machine::ApiCallRecord;
use machinist::machine::{BillingMonth, Machine, MachineEvent, MachineState, Utilization};
use machinist::store::{Store, Transition};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A start or stop job whose request Paperspace accepted (or refused) at `when`.
async fn switch(store: &Store, kind: &str, machine: &str, when: &str, status: u16) {
    let now = at(when);
    let job = JobRequest {
        kind: kind.into(),
        machine_id: Some(machine.into()),
        wait: Some("none".into()),
        ..JobRequest::default()
    }
    .validate(&JobDefaults::default(), now)
    .unwrap();
    let id = store.submit(job, now).await.unwrap().job.id;
    let owner: Arc<str> = "w".into();
    let claimed = store
        .claim(&owner, 10, now, now + chrono::Duration::seconds(30))
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == id));
    let call = ApiCallRecord {
        method: "POST".into(),
        route: format!("/machines/:machineId/{kind}"),
        machine_id: Some(machine.into()),
        status: Some(status),
        latency: Duration::from_millis(5),
        error: None,
    };
    let to = if status < 300 {
        JobState::Succeeded
    } else {
        JobState::Failed
    };
    let done = store
        .transition(
            Transition {
                job_id: id,
                owner: owner.clone(),
                to,
                run_at: None,
                checkpoint: None,
                machine_id: None,
                result: None,
                error: None,
                events: vec![
                    NewEvent::api_call(&call),
                    NewEvent::state(Some(JobState::Running), to, "done"),
                ],
                seen: vec![],
                seen_complete: false,
                gone: vec![],
                utilization: None,
            },
            now,
        )
        .await
        .unwrap();
    assert!(done);
}

fn usage(machine: &str, month: &str, hours: u64, rate: f64) -> Utilization {
    Utilization {
        machine_id: machine.into(),
        billing_month: month.parse().unwrap(),
        seconds_used: hours * 3600,
        hourly_rate: rate,
        storage_seconds_used: 31 * 86400,
        storage_monthly_rate: 7.0,
    }
}

#[tokio::test]
async fn savings_count_the_hours_between_a_stop_and_the_next_start() {
    let (store, _fixture) = crate::harness::open_store().await;
    // psA: stopped 18:00, started 08:00 the next day (14 h), twice in March,
    // then stopped on 31 March 20:00 and started on 1 April 08:00 (4 h + 8 h).
    switch(&store, "stop", "psA", "2026-03-02T18:00:00Z", 204).await;
    switch(&store, "start", "psA", "2026-03-03T08:00:00Z", 204).await;
    switch(&store, "stop", "psA", "2026-03-03T18:00:00Z", 204).await;
    // A second stop while it is off adds nothing.
    switch(&store, "stop", "psA", "2026-03-03T19:00:00Z", 204).await;
    switch(&store, "start", "psA", "2026-03-04T08:00:00Z", 204).await;
    switch(&store, "stop", "psA", "2026-03-31T20:00:00Z", 204).await;
    switch(&store, "start", "psA", "2026-04-01T08:00:00Z", 204).await;
    // psB: a refused stop saves nothing; a stop never followed by a start
    // counts until the report's "now".
    switch(&store, "stop", "psB", "2026-03-10T12:00:00Z", 400).await;
    switch(&store, "stop", "psB", "2026-03-20T00:00:00Z", 204).await;
    store
        .save_utilization(
            vec![
                usage("psA", "2026-02", 100, 0.51),
                usage("psB", "2026-03", 10, 2.3),
            ],
            at("2026-04-02T02:00:00Z"),
        )
        .await
        .unwrap();

    let march: BillingMonth = "2026-03".parse().unwrap();
    let r = report::savings(&store, march, at("2026-04-15T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(r.machines.len(), 2, "{r:#?}");
    let a = &r.machines[0];
    assert_eq!(a.machine_id, "psA");
    assert_eq!(a.stops, 3, "the redundant second stop began no off period");
    assert_eq!(a.hours_off, 14.0 + 14.0 + 4.0);
    assert_eq!(a.hourly_rate, Some(0.51));
    assert_eq!(a.saved, Some(16.32));
    let b = &r.machines[1];
    assert_eq!(
        (b.stops, b.hours_off),
        (1, 12.0 * 24.0),
        "20 March to month end"
    );
    assert_eq!(b.saved, Some(662.4));
    assert_eq!(r.total_saved, 678.72);

    let april = report::savings(
        &store,
        "2026-04".parse().unwrap(),
        at("2026-04-15T00:00:00Z"),
    )
    .await
    .unwrap();
    let a = april
        .machines
        .iter()
        .find(|m| m.machine_id == "psA")
        .unwrap();
    assert_eq!((a.stops, a.hours_off), (0, 8.0));
    let b = april
        .machines
        .iter()
        .find(|m| m.machine_id == "psB")
        .unwrap();
    assert_eq!(b.hours_off, 14.0 * 24.0, "still off on 15 April");

    // A machine whose rate was never pulled shows hours but no money.
    switch(&store, "stop", "psC", "2026-03-05T00:00:00Z", 204).await;
    switch(&store, "start", "psC", "2026-03-05T10:00:00Z", 204).await;
    let r = report::savings(&store, march, at("2026-04-15T00:00:00Z"))
        .await
        .unwrap();
    let c = r.machines.iter().find(|m| m.machine_id == "psC").unwrap();
    assert_eq!((c.hours_off, c.hourly_rate, c.saved), (10.0, None, None));
}

/// Records `machine` as seen in `state` at `when`, with Paperspace's events.
async fn see(
    store: &Store,
    machine: &str,
    state: MachineState,
    when: &str,
    events: Vec<MachineEvent>,
) {
    let mut m = Machine::new(machine, format!("{machine}-name"), state);
    m.events = events;
    store.see_machines(vec![m], false, at(when)).await.unwrap();
}

fn start_event(state: &str, created: &str) -> MachineEvent {
    MachineEvent {
        id: None,
        machine_id: None,
        started_at: None,
        name: "start".into(),
        state: state.into(),
        error: None,
        created_at: Some(at(created)),
        finished_at: None,
    }
}

#[tokio::test]
async fn savings_end_at_the_first_sign_the_machine_ran() {
    let (store, _fixture) = crate::harness::open_store().await;
    // psM: the stop job looks (ready) and stops it at 18:00; its wait sees it
    // stopping, then off. Someone starts it from the console: it is seen
    // ready at 22:00, and again at 23:00. Machinist starts it at 08:00 the
    // next day. It was off 4 hours, not 14.
    see(
        &store,
        "psM",
        MachineState::Ready,
        "2026-03-02T18:00:00Z",
        vec![],
    )
    .await;
    switch(&store, "stop", "psM", "2026-03-02T18:00:00Z", 204).await;
    see(
        &store,
        "psM",
        MachineState::Stopping,
        "2026-03-02T18:01:00Z",
        vec![],
    )
    .await;
    see(
        &store,
        "psM",
        MachineState::Off,
        "2026-03-02T18:05:00Z",
        vec![],
    )
    .await;
    see(
        &store,
        "psM",
        MachineState::Ready,
        "2026-03-02T22:00:00Z",
        vec![],
    )
    .await;
    see(
        &store,
        "psM",
        MachineState::Ready,
        "2026-03-02T23:00:00Z",
        vec![],
    )
    .await;
    switch(&store, "start", "psM", "2026-03-03T08:00:00Z", 204).await;

    // psN: stopped at 18:00 without a wait, so the last look still says
    // ready. Started from the console at 20:00 (after a start that failed
    // at 19:00); Machinist's start job finds it ready the next morning and
    // sends nothing, but Paperspace's events list the console's start.
    see(
        &store,
        "psN",
        MachineState::Ready,
        "2026-03-10T18:00:00Z",
        vec![],
    )
    .await;
    switch(&store, "stop", "psN", "2026-03-10T18:00:00Z", 204).await;
    see(
        &store,
        "psN",
        MachineState::Ready,
        "2026-03-11T08:00:00Z",
        vec![
            start_event("done", "2026-03-10T20:00:00Z"),
            start_event("error", "2026-03-10T19:00:00Z"),
            start_event("done", "2026-03-01T08:00:00Z"),
        ],
    )
    .await;
    // A second look lists the same starts, a later listing none; each start
    // counts once, and what was seen is kept.
    see(
        &store,
        "psN",
        MachineState::Ready,
        "2026-03-11T08:30:00Z",
        vec![start_event("done", "2026-03-10T20:00:00Z")],
    )
    .await;
    see(
        &store,
        "psN",
        MachineState::Ready,
        "2026-03-11T09:00:00Z",
        vec![],
    )
    .await;

    // psO: stopped, seen off, never seen running: off until "now".
    see(
        &store,
        "psO",
        MachineState::Ready,
        "2026-03-20T00:00:00Z",
        vec![],
    )
    .await;
    switch(&store, "stop", "psO", "2026-03-20T00:00:00Z", 204).await;
    see(
        &store,
        "psO",
        MachineState::Off,
        "2026-03-20T00:05:00Z",
        vec![],
    )
    .await;

    let r = report::savings(
        &store,
        "2026-03".parse().unwrap(),
        at("2026-03-21T00:00:00Z"),
    )
    .await
    .unwrap();
    let hours: Vec<(&str, u32, f64)> = r
        .machines
        .iter()
        .map(|m| (m.machine_id.as_str(), m.stops, m.hours_off))
        .collect();
    assert_eq!(
        hours,
        vec![("psM", 1, 4.0), ("psN", 1, 2.0), ("psO", 1, 24.0)],
        "{r:#?}"
    );
}

#[tokio::test]
async fn utilization_is_kept_once_per_machine_and_month() {
    let (store, _fixture) = crate::harness::open_store().await;
    let month: BillingMonth = "2026-03".parse().unwrap();
    store
        .save_utilization(
            vec![usage("psA", "2026-03", 10, 0.51)],
            at("2026-04-01T02:00:00Z"),
        )
        .await
        .unwrap();
    // Pulling again replaces, it does not add.
    store
        .save_utilization(
            vec![
                usage("psA", "2026-03", 12, 0.51),
                usage("psB", "2026-03", 1, 2.3),
            ],
            at("2026-04-01T03:00:00Z"),
        )
        .await
        .unwrap();
    let r = report::utilization(&store, month).await.unwrap();
    assert_eq!(r.machines.len(), 2);
    let a = &r.machines[0];
    assert_eq!((a.machine_id.as_str(), a.hours_used), ("psA", 12.0));
    // 12 h × 0.51 + a whole month of storage at 7.00.
    assert_eq!(a.cost, 13.12);
    assert_eq!(r.total_cost, 13.12 + 9.3);
}
