//! The firing loop on an injected clock: firing on time and once, daylight
//! saving, catch-up after an outage under both policies, overlap, selectors,
//! exclusion dates, pause, window edges and enforcement with overrides, and
//! exactly-once firing with two schedulers on one database. No test sleeps:
//! each moves the clock and calls `tick`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::job::JobKind;
use machinist::machine::{FilterField, MachineFilter};
use machinist::paperspace::MachineApi;
use machinist::schedule::calendar::Calendars;
use machinist::schedule::firing::{Firing, FiringOutcome};
use machinist::schedule::spec::ScheduleSpec;
use machinist::schedule::window::{OverrideMode, OverrideRequest, WindowRequest};
use machinist::scheduler::Scheduler;
use machinist::store::JobFilter;
use serde_json::{Value, json};

use crate::harness::{AppOptions, Run, TestApp, spawn_app};

/// The store and registry without a daemon ([`Run::Nothing`]), on a manual
/// clock the simulator shares (its machines take a minute to change state),
/// with the calendar `nl` and Amsterdam as the default zone.
type Harness = TestApp;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn harness(start: &str) -> Harness {
    let mut holidays = std::collections::BTreeMap::new();
    holidays.insert("nl".to_string(), vec!["2026-04-27".parse().unwrap()]);
    spawn_app(AppOptions {
        run: Run::Nothing,
        clock: Some(at(start)),
        transition: Duration::from_secs(60),
        calendars: Calendars::new(holidays),
        default_zone: "Europe/Amsterdam",
        ..AppOptions::default()
    })
    .await
}

impl Harness {
    fn scheduler(&self) -> Scheduler {
        Scheduler::new(
            self.store().clone(),
            self.daemon_api.clone(),
            Arc::new(self.clock().clone()),
            self.context().clone(),
        )
    }

    async fn tick(&self) -> machinist::scheduler::TickReport {
        self.scheduler().tick().await.unwrap()
    }

    fn set(&self, s: &str) {
        self.clock().set(at(s));
    }

    fn advance(&self, d: chrono::Duration) {
        self.clock().advance(d);
    }

    async fn schedule(&self, spec: Value) -> machinist::schedule::spec::Schedule {
        let spec: ScheduleSpec = serde_json::from_value(spec).unwrap();
        self.registry().create_schedule(spec).await.unwrap()
    }

    async fn jobs(&self) -> Vec<machinist::job::Job> {
        let mut jobs = self
            .store()
            .jobs(&JobFilter::default(), None, 1000)
            .await
            .unwrap();
        jobs.reverse();
        jobs
    }

    async fn firings(&self, id: i64) -> Vec<Firing> {
        let mut f = self.store().firings(id, 5000).await.unwrap();
        f.reverse();
        f
    }
}

#[tokio::test]
async fn a_schedule_fires_at_its_time_and_only_once() {
    let h = harness("2026-03-02T08:58:00Z").await; // Monday 09:58 in Amsterdam
    let id = h.machines_in("off").await[0].clone();
    let s = h
        .schedule(
            json!({"name":"nine","cron":"0 10 * * MON-FRI","template":{"kind":"start"},
                         "targets":{"machine_ids":[id]}}),
        )
        .await;
    assert_eq!(s.next_fire_at, Some(at("2026-03-02T09:00:00Z")));
    assert_eq!(h.tick().await.fired, 0);
    assert!(h.jobs().await.is_empty());

    h.set("2026-03-02T09:00:00Z");
    let report = h.tick().await;
    assert_eq!((report.fired, report.enqueued), (1, 1));
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::Start);
    assert_eq!(jobs[0].machine_id.as_deref(), Some(id.as_str()));
    assert_eq!(jobs[0].run_at, at("2026-03-02T09:00:00Z"));

    // Ticking again at the same moment changes nothing.
    h.advance(chrono::Duration::seconds(5));
    assert_eq!(h.tick().await.fired, 0);
    assert_eq!(h.jobs().await.len(), 1);
    let s = h.registry().schedule("nine").await.unwrap();
    assert_eq!(s.next_fire_at, Some(at("2026-03-03T09:00:00Z")));
    let firings = h.firings(s.id).await;
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].outcome, FiringOutcome::Enqueued);
    assert_eq!(firings[0].job_id, Some(jobs[0].id));
}

#[tokio::test]
async fn spring_forward_fires_once_at_the_first_valid_instant() {
    let h = harness("2026-03-28T12:00:00Z").await;
    let s = h
        .schedule(
            json!({"name":"half-two","cron":"30 2 * * *","timezone":"Europe/Amsterdam",
                         "template":{"kind":"refresh"}}),
        )
        .await;
    // 02:30 does not exist on 29 March in Amsterdam: it fires at 03:00 CEST.
    assert_eq!(s.next_fire_at, Some(at("2026-03-29T01:00:00Z")));
    h.set("2026-03-29T01:00:00Z");
    assert_eq!(h.tick().await.enqueued, 1);
    let s = h.registry().schedule("half-two").await.unwrap();
    assert_eq!(s.next_fire_at, Some(at("2026-03-30T00:30:00Z")));

    // Fall back in New York: 01:30 happens twice on 1 November; it fires once.
    let ny = h
        .schedule(
            json!({"name":"ny","cron":"30 1 * * *","timezone":"America/New_York",
                         "template":{"kind":"refresh"}}),
        )
        .await;
    h.set("2026-10-31T12:00:00Z");
    h.registry().set_enabled("ny", false).await.unwrap();
    h.registry().set_enabled("ny", true).await.unwrap();
    let ny = h.registry().schedule(&ny.id.to_string()).await.unwrap();
    assert_eq!(
        ny.next_fire_at,
        Some(at("2026-11-01T05:30:00Z")),
        "the first 01:30, EDT"
    );
    h.set("2026-11-01T05:30:00Z");
    h.tick().await;
    let ny = h.registry().schedule("ny").await.unwrap();
    assert_eq!(
        ny.next_fire_at,
        Some(at("2026-11-02T06:30:00Z")),
        "not again at 01:30 EST"
    );
}

#[tokio::test]
async fn after_a_ten_hour_outage_a_stop_catches_up_once_and_a_start_does_not() {
    let h = harness("2026-03-02T07:30:00Z").await;
    let ready = h.machines_in("ready").await;
    let off = h.machines_in("off").await;
    let stop = h
        .schedule(
            json!({"name":"hourly-stop","cron":"0 * * * *","template":{"kind":"stop"},
                         "targets":{"machine_ids":[ready[0]]}}),
        )
        .await;
    let start = h
        .schedule(
            json!({"name":"hourly-start","cron":"0 * * * *","template":{"kind":"start"},
                         "targets":{"machine_ids":[off[0]]}}),
        )
        .await;
    let skip = h
        .schedule(
            json!({"name":"hourly-skip","cron":"0 * * * *","template":{"kind":"stop"},
                         "targets":{"machine_ids":[ready[1]]},"misfire":"skip"}),
        )
        .await;
    // The daemon is down from 07:30 to 17:40: ten firings (08:00 … 17:00) are missed.
    h.set("2026-03-02T17:40:00Z");
    let report = h.tick().await;
    assert_eq!(report.fired, 3);
    assert_eq!(report.enqueued, 1, "only the stop catches up");

    let f = h.firings(stop.id).await;
    assert_eq!(f.len(), 10);
    let caught: Vec<_> = f
        .iter()
        .filter(|f| f.outcome == FiringOutcome::CaughtUp)
        .collect();
    assert_eq!(caught.len(), 1);
    assert_eq!(caught[0].fire_at, at("2026-03-02T17:00:00Z"));
    assert!(
        caught[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("caught up 40m late")
    );
    assert!(
        f.iter()
            .filter(|f| f.outcome == FiringOutcome::Skipped)
            .all(|f| f
                .reason
                .as_deref()
                .unwrap()
                .contains("superseded by the firing at 2026-03-02T17:00:00"))
    );

    let f = h.firings(start.id).await;
    assert_eq!(f.len(), 10);
    assert!(f.iter().all(|f| {
        f.outcome == FiringOutcome::Skipped
            && f.reason
                .as_deref()
                .unwrap()
                .contains("by more than the catch-up window of 15m")
    }));
    let f = h.firings(skip.id).await;
    assert_eq!(f.len(), 10);
    assert!(f.iter().all(|f| {
        f.reason
            .as_deref()
            .unwrap()
            .contains("misfire policy: skip")
    }));

    // Back to normal: next at 18:00.
    let s = h.registry().schedule("hourly-start").await.unwrap();
    assert_eq!(s.next_fire_at, Some(at("2026-03-02T18:00:00Z")));
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].run_at, at("2026-03-02T17:40:00Z"));
}

#[tokio::test]
async fn overlap_skips_while_the_previous_job_is_unfinished_unless_queued() {
    let h = harness("2026-03-02T10:00:30Z").await;
    let off = h.machines_in("off").await;
    let skip = h
        .schedule(
            json!({"name":"every-minute","cron":"* * * * *","template":{"kind":"start"},
                         "targets":{"machine_ids":[off[0]]}}),
        )
        .await;
    let queue = h
        .schedule(
            json!({"name":"every-minute-q","cron":"* * * * *","template":{"kind":"start"},
                         "targets":{"machine_ids":[off[1]]},"overlap":"queue"}),
        )
        .await;
    for _ in 0..3 {
        h.advance(chrono::Duration::minutes(1));
        h.tick().await;
    }
    // No workers run here, so the first job stays queued.
    let f = h.firings(skip.id).await;
    assert_eq!(f[0].outcome, FiringOutcome::Enqueued);
    assert!(f[1..].iter().all(|f| f.outcome == FiringOutcome::Skipped
        && f.reason.as_deref().unwrap().starts_with("overlap: job")));
    let f = h.firings(queue.id).await;
    assert!(f.iter().all(|f| f.outcome == FiringOutcome::Enqueued));
    assert_eq!(h.jobs().await.len(), 1 + 3);
}

#[tokio::test]
async fn selectors_are_resolved_when_the_schedule_fires() {
    let h = harness("2026-03-02T10:59:00Z").await;
    let s = h
        .schedule(
            json!({"name":"ams","cron":"0 12 * * *","template":{"kind":"show"},
                         "targets":{"selector":{"region":"Europe (AMS1)"}}}),
        )
        .await;
    let ams: Vec<String> = h
        .api
        .list_all(&MachineFilter::all().with(FilterField::Region, "Europe (AMS1)"))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    // A machine created after the schedule is still picked up.
    let created = h
        .api
        .create(&machinist::machine::CreateMachine::new(
            "late-ams",
            "Europe (AMS1)",
            "C5",
            50,
            "tkni3aa4",
        ))
        .await
        .unwrap();
    h.set("2026-03-02T11:00:00Z");
    let report = h.tick().await;
    assert_eq!(report.enqueued, ams.len() + 1);
    let mut targets: Vec<String> = h
        .jobs()
        .await
        .into_iter()
        .filter_map(|j| j.machine_id)
        .collect();
    targets.sort();
    let mut expected = ams.clone();
    expected.push(created.id);
    expected.sort();
    assert_eq!(targets, expected);
    assert_eq!(h.firings(s.id).await.len(), expected.len());
}

#[tokio::test]
async fn excluded_dates_and_paused_schedules_do_not_fire() {
    let h = harness("2026-04-26T12:00:00Z").await;
    let s = h
        .schedule(
            json!({"name":"kings-day","cron":"0 9 * * *","template":{"kind":"refresh"},
                         "exclusions":{"calendars":["nl"],"dates":["2026-04-29"]}}),
        )
        .await;
    // 27 April (a calendar holiday) and 29 April (a listed date) are skipped.
    for day in [
        "2026-04-27T07:00:00Z",
        "2026-04-28T07:00:00Z",
        "2026-04-29T07:00:00Z",
    ] {
        h.set(day);
        h.tick().await;
    }
    let f = h.firings(s.id).await;
    let outcomes: Vec<_> = f.iter().map(|f| f.outcome).collect();
    assert_eq!(
        outcomes,
        [
            FiringOutcome::Skipped,
            FiringOutcome::Enqueued,
            FiringOutcome::Skipped
        ]
    );
    assert_eq!(
        f[0].reason.as_deref(),
        Some("2026-04-27 is an excluded date")
    );

    // Paused: nothing at its time; resumed: from the next time on, not the paused stretch.
    h.registry().set_enabled("kings-day", false).await.unwrap();
    h.set("2026-04-30T07:00:00Z");
    assert_eq!(h.tick().await.fired, 0);
    let resumed = h.registry().set_enabled("kings-day", true).await.unwrap();
    assert_eq!(resumed.next_fire_at, Some(at("2026-05-01T07:00:00Z")));
    // Deleted: gone with its firings.
    h.registry().delete_schedule("kings-day").await.unwrap();
    h.set("2026-05-01T07:00:00Z");
    assert_eq!(h.tick().await.fired, 0);
}

#[tokio::test]
async fn two_schedulers_on_one_database_fire_once() {
    let h = harness("2026-03-02T09:59:00Z").await;
    let ready = h.machines_in("ready").await;
    h.schedule(
        json!({"name":"race","cron":"0 11 * * *","template":{"kind":"stop"},
                      "targets":{"machine_ids":ready}}),
    )
    .await;
    h.set("2026-03-02T10:00:00Z");
    let (a, b) = (h.scheduler(), h.scheduler());
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.fired + rb.fired, 1, "{ra:?} {rb:?}");
    assert_eq!(ra.enqueued + rb.enqueued, ready.len());
    assert_eq!(h.jobs().await.len(), ready.len());
}

fn window(name: &str, machine: &str, enforce: bool) -> WindowRequest {
    serde_json::from_value(json!({
        "name": name,
        "hours": {"days": ["mon","tue","wed","thu","fri"], "start": "09:00", "end": "18:00", "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": [machine]},
        "enforce": enforce,
        "enforce_interval_seconds": 300
    }))
    .unwrap()
}

#[tokio::test]
async fn a_window_starts_and_stops_at_its_edges_and_honours_keep_on() {
    // Monday 08:30 in Amsterdam.
    let h = harness("2026-03-02T07:30:00Z").await;
    let off = h.machines_in("off").await[0].clone();
    h.registry()
        .create_window(window("office", &off, false))
        .await
        .unwrap();
    h.set("2026-03-02T08:00:00Z"); // 09:00
    assert_eq!(h.tick().await.enqueued, 1);
    let jobs = h.jobs().await;
    assert_eq!(
        (jobs[0].kind, jobs[0].machine_id.as_deref()),
        (JobKind::Start, Some(off.as_str()))
    );

    // Someone works late: three more hours.
    h.set("2026-03-02T16:30:00Z"); // 17:30
    h.registry()
        .add_override(
            "office",
            OverrideRequest {
                machine_id: off.clone(),
                mode: OverrideMode::KeepOn,
                until: None,
                hours: Some(3.0),
                reason: Some("deadline".into()),
                allow_unknown: false,
            },
        )
        .await
        .unwrap();
    h.set("2026-03-02T17:00:00Z"); // 18:00
    let report = h.tick().await;
    assert_eq!((report.enqueued, report.skipped), (0, 1));
    let stop = h.registry().schedule("window:office:stop").await.unwrap();
    let f = h.firings(stop.id).await;
    assert!(
        f[0].reason
            .as_deref()
            .unwrap()
            .starts_with(&format!("override: {off} is kept on until"))
    );
    // The next day the override has expired: the closing stops it. (Tuesday's
    // opening was missed by more than a start's 15-minute catch-up window.)
    h.set("2026-03-03T17:00:00Z");
    let report = h.tick().await;
    assert_eq!((report.enqueued, report.skipped), (1, 1), "{report:?}");
    let last = h.jobs().await.pop().unwrap();
    assert_eq!(
        (last.kind, last.machine_id.as_deref()),
        (JobKind::Stop, Some(off.as_str()))
    );
}

#[tokio::test]
async fn enforcement_stops_machines_running_outside_the_window_after_an_override_expires() {
    // Monday 21:00 in Amsterdam: the window is closed.
    let h = harness("2026-03-02T20:00:00Z").await;
    let ready = h.machines_in("ready").await[0].clone();
    h.registry()
        .create_window(window("late", &ready, true))
        .await
        .unwrap();
    h.registry()
        .add_override(
            "late",
            OverrideRequest {
                machine_id: ready.clone(),
                mode: OverrideMode::KeepOn,
                until: Some(at("2026-03-02T20:20:00Z")),
                hours: None,
                reason: None,
                allow_unknown: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(h.tick().await.enqueued, 0, "kept on");
    h.advance(chrono::Duration::minutes(5));
    assert_eq!(h.tick().await.enqueued, 0, "still kept on");
    h.advance(chrono::Duration::minutes(20));
    let report = h.tick().await;
    assert_eq!(report.enqueued, 1, "the override expired: {report:?}");
    let jobs = h.jobs().await;
    assert_eq!(jobs[0].kind, JobKind::Stop);
    let stop = h.registry().schedule("window:late:stop").await.unwrap();
    let f = h.firings(stop.id).await;
    assert!(
        f.last()
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains("while window late is closed")
    );
    // While its stop job is unfinished, enforcement does not pile up more.
    h.advance(chrono::Duration::minutes(5));
    assert_eq!(h.tick().await.enqueued, 0);
}

fn night_window(name: &str, machine: &str, start: &str, end: &str) -> WindowRequest {
    serde_json::from_value(json!({
        "name": name,
        "hours": {"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": start, "end": end, "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": [machine]},
        "enforce": false
    }))
    .unwrap()
}

/// (kind, fire time) of each job the schedules made, oldest first.
async fn edge_jobs(h: &Harness) -> Vec<(JobKind, DateTime<Utc>)> {
    h.jobs()
        .await
        .into_iter()
        .map(|j| (j.kind, j.run_at))
        .collect()
}

#[tokio::test]
async fn a_window_collapsed_by_spring_forward_does_not_open_that_day() {
    // 02:00–03:00 in Amsterdam does not exist on 2026-03-29: both edges land
    // on 01:00Z. Many runs, because the old scheduler queued both jobs and
    // their order in the queue decided whether the machine stayed up.
    for run in 0..20 {
        let h = harness("2026-03-28T00:00:00Z").await;
        let off = h.machines_in("off").await[0].clone();
        h.registry()
            .create_window(night_window("dst", &off, "02:00", "03:00"))
            .await
            .unwrap();
        let start = h.registry().schedule("window:dst:start").await.unwrap();
        let stop = h.registry().schedule("window:dst:stop").await.unwrap();

        // The day before works normally: 02:00 CET and 03:00 CET.
        h.set("2026-03-28T01:00:00Z");
        assert_eq!(h.tick().await.enqueued, 1, "run {run}");
        h.set("2026-03-28T02:00:00Z");
        assert_eq!(h.tick().await.enqueued, 1, "run {run}");
        // No worker runs here; cancelled, the jobs do not count as overlap.
        for job in h.jobs().await {
            h.store()
                .cancel(job.id, at("2026-03-28T02:00:00Z"))
                .await
                .unwrap();
        }

        // The collapsed day: no job for either edge, a skip recorded for each.
        h.set("2026-03-29T01:00:00Z");
        let report = h.tick().await;
        assert_eq!(
            (report.fired, report.enqueued, report.skipped),
            (2, 0, 2),
            "run {run}: {report:?}"
        );
        for id in [start.id, stop.id] {
            let last = h.firings(id).await.pop().unwrap();
            assert_eq!(last.fire_at, at("2026-03-29T01:00:00Z"), "run {run}");
            assert_eq!(last.outcome, FiringOutcome::Skipped, "run {run}");
            assert_eq!(
                last.reason.as_deref(),
                Some(
                    "window collapsed by a DST change: 02:00–03:00 Europe/Amsterdam does not exist on 2026-03-29"
                ),
                "run {run}"
            );
            assert_eq!(last.job_id, None, "run {run}");
        }
        // Previews skip it too: the next edges are Monday's.
        h.set("2026-03-29T00:30:00Z");
        let preview = h.registry().preview_window("dst", 2).await.unwrap();
        assert_eq!(
            preview.iter().map(|f| f.utc).collect::<Vec<_>>(),
            vec![at("2026-03-30T00:00:00Z"), at("2026-03-30T01:00:00Z")],
            "run {run}"
        );
        let preview = h
            .registry()
            .preview_schedule("window:dst:stop", 1)
            .await
            .unwrap();
        assert_eq!(preview[0].utc, at("2026-03-30T01:00:00Z"), "run {run}");

        // The day after works normally: 02:00 CEST and 03:00 CEST.
        h.set("2026-03-30T00:00:00Z");
        assert_eq!(h.tick().await.enqueued, 1, "run {run}");
        h.set("2026-03-30T01:00:00Z");
        assert_eq!(h.tick().await.enqueued, 1, "run {run}");
        assert_eq!(
            edge_jobs(&h).await,
            vec![
                (JobKind::Start, at("2026-03-28T01:00:00Z")),
                (JobKind::Stop, at("2026-03-28T02:00:00Z")),
                (JobKind::Start, at("2026-03-30T00:00:00Z")),
                (JobKind::Stop, at("2026-03-30T01:00:00Z")),
            ],
            "run {run}"
        );
    }
}

#[tokio::test]
async fn a_closing_that_meets_the_next_opening_leaves_the_window_open() {
    // 03:00–02:30 every day: Saturday's window closes at 02:30 on Sunday
    // 2026-03-29, which does not exist, so at 03:00 CEST (01:00Z), the instant
    // Sunday's opens. Only the opening acts; the closing is recorded skipped.
    let h = harness("2026-03-29T00:00:00Z").await;
    let off = h.machines_in("off").await[0].clone();
    h.registry()
        .create_window(night_window("long", &off, "03:00", "02:30"))
        .await
        .unwrap();
    let stop = h.registry().schedule("window:long:stop").await.unwrap();
    let preview = h.registry().preview_window("long", 2).await.unwrap();
    assert_eq!(
        preview
            .iter()
            .map(|f| (f.edge.unwrap().as_str(), f.utc))
            .collect::<Vec<_>>(),
        vec![
            ("start", at("2026-03-29T01:00:00Z")),
            ("stop", at("2026-03-30T00:30:00Z")),
        ]
    );
    h.set("2026-03-29T01:00:00Z");
    let report = h.tick().await;
    assert_eq!((report.enqueued, report.skipped), (1, 1), "{report:?}");
    assert_eq!(
        edge_jobs(&h).await,
        vec![(JobKind::Start, at("2026-03-29T01:00:00Z"))]
    );
    let skipped = h.firings(stop.id).await.pop().unwrap();
    assert_eq!(
        (skipped.target.as_str(), skipped.outcome),
        (off.as_str(), FiringOutcome::Skipped)
    );
    assert!(
        skipped
            .reason
            .as_deref()
            .unwrap()
            .starts_with("the window of 2026-03-28 closes at the instant the next one opens"),
        "{skipped:?}"
    );
    // The next closing acts.
    h.set("2026-03-30T00:30:00Z");
    assert_eq!(h.tick().await.enqueued, 1);
}

/// The store's signs that `machine` ran, up to `until`.
async fn signs_of(h: &Harness, machine: &str, until: &str) -> Vec<DateTime<Utc>> {
    h.store()
        .signs_of_running(at(until))
        .await
        .unwrap()
        .into_iter()
        .filter(|(m, _)| m == machine)
        .map(|(_, at)| at)
        .collect()
}

#[tokio::test]
async fn the_listing_records_states_so_a_start_elsewhere_ends_hours_off() {
    // Monday 21:00 in Amsterdam: the window is closed and enforced.
    let h = harness("2026-03-02T20:00:00Z").await;
    let off = h.machines_in("off").await[0].clone();
    h.registry()
        .create_window(window("late", &off, true))
        .await
        .unwrap();
    h.tick().await;
    let account = h.api.list_all(&MachineFilter::all()).await.unwrap();
    let known = h.store().machines().await.unwrap();
    assert_eq!(known.len(), account.len());
    let seen = known.iter().find(|k| k.machine.id == off).unwrap();
    assert_eq!(
        (seen.machine.state.as_str(), seen.seen_at),
        ("off", at("2026-03-02T20:00:00Z"))
    );
    assert!(signs_of(&h, &off, "2026-03-02T20:00:00Z").await.is_empty());

    // Started from the console: the next enforcement pass sees it running,
    // and that is the sign the savings report ends its hours off at.
    h.api.start(&off).await.unwrap();
    h.set("2026-03-02T20:05:00Z");
    assert_eq!(h.tick().await.enqueued, 1, "enforcement stops it");
    let signs = signs_of(&h, &off, "2026-03-02T20:05:00Z").await;
    assert_eq!(signs, vec![at("2026-03-02T20:05:00Z")]);
}
