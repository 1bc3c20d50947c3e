//! Schedules and windows that target a machine group, on an injected
//! clock: a window's opening starts the group stage by stage (one run whose
//! jobs depend on the stage before), its closing stops it in reverse and
//! leaves out a machine an override keeps on, enforcement stops a group's
//! running machines as one stop run, a firing for a group that is gone is
//! skipped with the reason, and what may target a group is checked. No test
//! sleeps: each moves the clock and calls `tick`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use machinist::clock::Clock;
use machinist::group::{GroupAction, GroupRun, GroupSpec, Stage, StepAction};
use machinist::job::{Job, JobKind, JobState};
use machinist::schedule::firing::{Firing, FiringOutcome};
use machinist::schedule::spec::{MisfirePolicy, OverlapPolicy, ScheduleSpec};
use machinist::schedule::window::{OverrideMode, OverrideRequest, WindowRequest};
use machinist::scheduler::Scheduler;
use machinist::scheduler::registry::RegistryError;
use machinist::store::JobFilter;
use machinist::store::schedules::ScheduleRow;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{AppOptions, Run, TestApp, spawn_app};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The store, registry and admin API without a daemon, on a manual clock,
/// with Amsterdam as the default zone.
async fn harness(start: &str) -> TestApp {
    spawn_app(AppOptions {
        run: Run::Router,
        clock: Some(at(start)),
        transition: Duration::from_secs(60),
        default_zone: "Europe/Amsterdam",
        ..AppOptions::default()
    })
    .await
}

async fn tick(h: &TestApp) -> machinist::scheduler::TickReport {
    Scheduler::new(
        h.store().clone(),
        h.daemon_api.clone(),
        Arc::new(h.clock().clone()),
        h.context().clone(),
    )
    .tick()
    .await
    .unwrap()
}

/// Jobs oldest first.
async fn jobs(h: &TestApp) -> Vec<Job> {
    let mut jobs = h
        .store()
        .jobs(&JobFilter::default(), None, 1000)
        .await
        .unwrap();
    jobs.reverse();
    jobs
}

/// Firings of the schedule named `name`, oldest first.
async fn firings(h: &TestApp, name: &str) -> Vec<Firing> {
    let id = h.registry().schedule(name).await.unwrap().id;
    let mut f = h.store().firings(id, 5000).await.unwrap();
    f.reverse();
    f
}

/// The group `shop`: `db` (one machine), `app` (two), `web` (one), of the
/// simulated fleet's machines; answers their ids by stage.
async fn shop(h: &TestApp, ids: [&str; 4]) -> [String; 4] {
    let stage = |name: &str, ids: &[&str]| Stage {
        name: name.into(),
        machine_ids: ids.iter().map(|s| s.to_string()).collect(),
        selector: None,
    };
    let spec = GroupSpec {
        name: "shop".into(),
        stages: vec![
            stage("db", &ids[..1]),
            stage("app", &ids[1..3]),
            stage("web", &ids[3..]),
        ],
    };
    h.store().create_group(spec, h.clock().now()).await.unwrap();
    ids.map(str::to_string)
}

/// The window `office` over the group `shop`: 09:00–18:00 Mon–Fri in Amsterdam.
fn office(enforce: bool) -> WindowRequest {
    serde_json::from_value(json!({
        "name": "office",
        "hours": {"days": ["mon","tue","wed","thu","fri"], "start": "09:00", "end": "18:00", "zone": "Europe/Amsterdam"},
        "targets": {"group": "shop"},
        "enforce": enforce,
        "enforce_interval_seconds": 300
    }))
    .unwrap()
}

/// The run `jobs` belong to (all the same one) and its jobs' (machine,
/// step, kind).
async fn run_of(h: &TestApp, jobs: &[Job]) -> (GroupRun, Vec<(String, u32, JobKind)>) {
    let run = jobs[0].group_run.expect("the jobs belong to a run");
    assert!(jobs.iter().all(|j| j.group_run == Some(run)), "{jobs:?}");
    let (run, _) = h.store().group_run(run).await.unwrap().unwrap();
    let shape = jobs
        .iter()
        .map(|j| (j.machine_id.clone().unwrap(), j.group_step.unwrap(), j.kind))
        .collect();
    (run, shape)
}

fn stages(run: &GroupRun) -> Vec<(StepAction, &str)> {
    run.steps
        .iter()
        .map(|s| (s.action, s.stage.as_str()))
        .collect()
}

#[tokio::test]
async fn a_window_on_a_group_opens_stage_by_stage_and_closes_in_reverse_past_a_kept_on_machine() {
    // Monday 08:30 in Amsterdam.
    let h = harness("2026-03-02T07:30:00Z").await;
    let mut fleet = h.machines_in("off").await;
    fleet.extend(h.machines_in("ready").await);
    let [db, app1, app2, web] = shop(&h, [&fleet[0], &fleet[1], &fleet[2], &fleet[3]]).await;
    h.registry().create_window(office(false)).await.unwrap();

    h.clock().set(at("2026-03-02T08:00:00Z")); // 09:00: the opening
    let report = tick(&h).await;
    assert_eq!((report.fired, report.enqueued, report.skipped), (1, 4, 0));
    let opened = jobs(&h).await;
    let (run, shape) = run_of(&h, &opened).await;
    assert_eq!(run.action, GroupAction::Start);
    assert_eq!(run.group, "shop");
    let start = h.registry().schedule("window:office:start").await.unwrap();
    assert_eq!(run.schedule_id, Some(start.id));
    assert_eq!(
        stages(&run),
        [
            (StepAction::Start, "db"),
            (StepAction::Start, "app"),
            (StepAction::Start, "web")
        ]
    );
    assert_eq!(
        shape,
        [
            (db.clone(), 0, JobKind::Start),
            (app1.clone(), 1, JobKind::Start),
            (app2.clone(), 1, JobKind::Start),
            (web.clone(), 2, JobKind::Start),
        ]
    );
    // Each stage waits for every job of the stage before it.
    assert!(opened[0].depends_on.is_empty());
    assert_eq!(opened[0].state, JobState::Queued);
    assert_eq!(opened[1].depends_on, [opened[0].id]);
    assert_eq!(opened[2].depends_on, [opened[0].id]);
    assert_eq!(opened[3].depends_on, [opened[1].id, opened[2].id]);
    assert!(opened[1..].iter().all(|j| j.state == JobState::Blocked));
    assert!(
        opened
            .iter()
            .all(|j| j.run_at == at("2026-03-02T08:00:00Z"))
    );
    // One firing per machine, each with its job in the run.
    let f = firings(&h, "window:office:start").await;
    let mut recorded: Vec<(String, FiringOutcome, Option<i64>)> = f
        .iter()
        .map(|f| (f.target.clone(), f.outcome, f.job_id))
        .collect();
    recorded.sort_by_key(|r| r.2);
    let expected: Vec<(String, FiringOutcome, Option<i64>)> = opened
        .iter()
        .map(|j| {
            (
                j.machine_id.clone().unwrap(),
                FiringOutcome::Enqueued,
                Some(j.id),
            )
        })
        .collect();
    assert_eq!(recorded, expected);

    // Someone works late on the web server: it stays on past the closing.
    h.clock().set(at("2026-03-02T16:30:00Z"));
    h.registry()
        .add_override(
            "office",
            OverrideRequest {
                machine_id: web.clone(),
                mode: OverrideMode::KeepOn,
                until: None,
                hours: Some(3.0),
                reason: Some("release".into()),
                allow_unknown: false,
            },
        )
        .await
        .unwrap();
    h.clock().set(at("2026-03-02T17:00:00Z")); // 18:00: the closing
    let report = tick(&h).await;
    assert_eq!((report.enqueued, report.skipped), (3, 1), "{report:?}");
    let closed: Vec<Job> = jobs(&h).await.into_iter().skip(4).collect();
    let (run, shape) = run_of(&h, &closed).await;
    assert_eq!(run.action, GroupAction::Stop);
    assert_eq!(
        stages(&run),
        [(StepAction::Stop, "app"), (StepAction::Stop, "db")],
        "in reverse, without the web stage whose machine is kept on"
    );
    assert_eq!(
        shape,
        [
            (app1.clone(), 0, JobKind::Stop),
            (app2.clone(), 0, JobKind::Stop),
            (db.clone(), 1, JobKind::Stop),
        ]
    );
    assert_eq!(closed[2].depends_on, [closed[0].id, closed[1].id]);
    let f = firings(&h, "window:office:stop").await;
    let kept = f.iter().find(|f| f.target == web).unwrap();
    assert_eq!(kept.outcome, FiringOutcome::Skipped);
    assert!(
        kept.reason
            .as_deref()
            .unwrap()
            .starts_with(&format!("override: {web} is kept on until")),
        "{kept:?}"
    );
    assert_eq!(
        f.iter()
            .filter(|f| f.outcome == FiringOutcome::Enqueued)
            .count(),
        3
    );

    // Ticking again at the same moment makes nothing more.
    h.clock().advance(chrono::Duration::seconds(5));
    assert_eq!(tick(&h).await.enqueued, 0);
    assert_eq!(jobs(&h).await.len(), 7);
}

#[tokio::test]
async fn enforcement_stops_a_groups_running_machines_as_one_run_in_reverse() {
    // Monday 21:00 in Amsterdam: the window is closed.
    let h = harness("2026-03-02T20:00:00Z").await;
    let ready = h.machines_in("ready").await;
    let off = h.machines_in("off").await;
    assert!(ready.len() >= 3, "{ready:?}");
    let [db, app1, app2, web] = shop(&h, [&ready[0], &ready[1], &off[0], &ready[2]]).await;
    h.registry().create_window(office(true)).await.unwrap();
    let report = tick(&h).await;
    assert_eq!(report.enqueued, 3, "{report:?}");
    let stopped = jobs(&h).await;
    let (run, shape) = run_of(&h, &stopped).await;
    assert_eq!(run.action, GroupAction::Stop);
    assert_eq!(
        stages(&run),
        [
            (StepAction::Stop, "web"),
            (StepAction::Stop, "app"),
            (StepAction::Stop, "db")
        ]
    );
    // Only the running machines: the app stage's off machine is left be.
    assert_eq!(
        shape,
        [
            (web.clone(), 0, JobKind::Stop),
            (app1.clone(), 1, JobKind::Stop),
            (db.clone(), 2, JobKind::Stop),
        ]
    );
    assert!(!shape.iter().any(|(m, _, _)| *m == app2));
    assert_eq!(stopped[1].depends_on, [stopped[0].id]);
    assert_eq!(stopped[2].depends_on, [stopped[1].id]);
    let f = firings(&h, "window:office:stop").await;
    assert_eq!(f.len(), 3);
    assert!(f.iter().all(|f| {
        f.reason
            .as_deref()
            .unwrap()
            .contains("while window office is closed")
    }));
    // While its jobs are unfinished, the next pass does not pile up more.
    h.clock().advance(chrono::Duration::minutes(5));
    assert_eq!(tick(&h).await.enqueued, 0);
}

#[tokio::test]
async fn a_firing_for_a_group_that_is_gone_is_skipped_with_the_reason() {
    let h = harness("2026-03-02T07:30:00Z").await;
    // The registry refuses a missing group; a schedule restored from
    // elsewhere, say, can still name one.
    let now = h.clock().now();
    let row = ScheduleRow {
        name: "ghost-start".into(),
        cron: "0 9 * * *".into(),
        timezone: "Europe/Amsterdam".into(),
        template: json!({"kind": "start"}),
        targets: json!({"group": "ghost"}),
        enabled: true,
        jitter_seconds: 0,
        exclusions: json!({}),
        misfire: MisfirePolicy::RunOnce,
        catch_up_seconds: 900,
        overlap: OverlapPolicy::Skip,
        window_id: None,
        window_edge: None,
        next_fire_at: Some(at("2026-03-02T08:00:00Z")),
    };
    h.store().create_schedule(row, now).await.unwrap();
    h.clock().set(at("2026-03-02T08:00:00Z"));
    let report = tick(&h).await;
    assert_eq!((report.fired, report.enqueued, report.skipped), (1, 0, 1));
    let f = firings(&h, "ghost-start").await;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].target.as_str(), f[0].outcome),
        ("*", FiringOutcome::Skipped)
    );
    assert_eq!(
        f[0].reason.as_deref(),
        Some("no group ghost; create it with `machinist groups add`")
    );
    assert!(jobs(&h).await.is_empty());
}

#[tokio::test]
async fn what_may_target_a_group_is_checked() {
    let h = harness("2026-03-02T07:30:00Z").await;
    let mut fleet = h.machines_in("off").await;
    fleet.extend(h.machines_in("ready").await);
    shop(&h, [&fleet[0], &fleet[1], &fleet[2], &fleet[3]]).await;
    let schedule = |template: Value, targets: Value| -> ScheduleSpec {
        serde_json::from_value(json!({"name": "s", "cron": "0 9 * * *",
            "template": template, "targets": targets}))
        .unwrap()
    };
    let refused = |e: RegistryError| match e {
        RegistryError::Invalid(spec) => (spec.field, spec.message),
        other => panic!("{other:?}"),
    };
    let registry = h.registry();
    let (field, _) = refused(
        registry
            .create_schedule(schedule(
                json!({"kind": "start"}),
                json!({"group": "shop", "machine_ids": [fleet[0]]}),
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "targets");
    let (field, message) = refused(
        registry
            .create_schedule(schedule(json!({"kind": "show"}), json!({"group": "shop"})))
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "targets.group");
    assert!(
        message.contains("show jobs cannot target a group"),
        "{message}"
    );
    let (field, _) = refused(
        registry
            .create_schedule(schedule(
                json!({"kind": "start", "wait": "none"}),
                json!({"group": "shop"}),
            ))
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "template.wait");
    let made = registry
        .create_schedule(schedule(
            json!({"kind": "restart", "wait": "serviceready"}),
            json!({"group": "shop"}),
        ))
        .await
        .unwrap();
    assert_eq!(made.targets.group.as_deref(), Some("shop"));

    // Over HTTP, a group that does not exist is a 422 naming the field.
    let (status, body) = h
        .post(
            "/v1/schedules",
            json!({"name": "ghost", "cron": "0 9 * * *", "template": {"kind": "stop"},
                   "targets": {"group": "ghost"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "targets.group", "{body}");
    assert!(
        body.to_string()
            .contains("no group ghost; create it with `machinist groups add`"),
        "{body}"
    );
    let mut window = serde_json::to_value(office(false)).unwrap();
    window["targets"] = json!({"group": "ghost"});
    let (status, body) = h.post("/v1/windows", window).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "targets.group", "{body}");
    let (status, body) = h
        .post("/v1/windows", serde_json::to_value(office(false)).unwrap())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["targets"], json!({"group": "shop"}));
}
