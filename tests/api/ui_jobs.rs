//! The dashboard's jobs pages over plain HTTP: the list's filters, search
//! and keyset pages, its live fragment, a job's page and timeline, Retry
//! and Cancel (one job and in bulk), the viewer's read-only session, CSRF,
//! and escaping of what users and Paperspace wrote. The admin API alone
//! ([`Run::Router`]) on a manual clock: jobs stay queued unless a test
//! moves them through the store as a worker would.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use machinist::clock::Clock;
use machinist::job::{EventKind, JobState, NewEvent};
use machinist::machine::{Machine, MachineState};
use machinist::scheduler::Scheduler;
use machinist::store::Transition;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::dashboard::UiSession;
use crate::harness::{AppOptions, Run, TestApp, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:58:00Z".parse().unwrap()
}

async fn start() -> TestApp {
    spawn_app(AppOptions {
        viewer_token: Some(VIEWER),
        run: Run::Router,
        clock: Some(t0()),
        ..AppOptions::default()
    })
    .await
}

/// Submits a job over the API; its id.
async fn submit(app: &TestApp, body: Value) -> i64 {
    app.submit(body).await["id"].as_i64().unwrap()
}

/// A job's state over the API.
async fn state_of(app: &TestApp, id: i64) -> String {
    app.job(id).await["state"].as_str().unwrap().to_string()
}

/// Claims job `id` and fails it with `error` through the store, as a
/// worker would, recording one Paperspace call on the way.
async fn fail(app: &TestApp, id: i64, error: &str) {
    let owner: Arc<str> = "test-worker".into();
    let now = app.clock().now();
    let claimed = app
        .store()
        .claim(&owner, 100, now, now + chrono::Duration::seconds(30))
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == id), "job {id} claimable");
    let call = NewEvent {
        kind: EventKind::ApiCall,
        from_state: None,
        to_state: None,
        message: "POST /machines/{id}/start → 500".into(),
        method: Some("POST".into()),
        route: Some("/machines/{id}/start".into()),
        status: Some(500),
        latency_ms: Some(42),
        error: Some("upstream said <b>no</b>".into()),
    };
    let done = app
        .store()
        .transition(
            Transition {
                job_id: id,
                owner: owner.clone(),
                to: JobState::Failed,
                run_at: None,
                checkpoint: None,
                machine_id: None,
                result: None,
                error: Some(error.to_string()),
                events: vec![
                    call,
                    NewEvent::state(Some(JobState::Running), JobState::Failed, error),
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
    for other in claimed.iter().filter(|j| j.id != id) {
        app.store()
            .release(&owner, vec![other.id], now)
            .await
            .unwrap();
    }
}

/// The job ids of the table rows, top to bottom.
fn row_ids(html: &str) -> Vec<i64> {
    html.split("data-job-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The "Older →" link of a page, unescaped.
fn older(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\" href=\"")? + "rel=\"next\" href=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// The rows of `path`, which must answer 200.
async fn rows(ui: &UiSession, path: &str) -> Vec<i64> {
    row_ids(ui.get(path).await.expect(StatusCode::OK))
}

/// Follows a 303 and answers the page it points to.
async fn follow(ui: &UiSession, page: &crate::harness::dashboard::Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = page.location().expect("a redirect").to_string();
    ui.get(&to).await.expect(StatusCode::OK).to_string()
}

#[tokio::test]
async fn ui_jobs_the_list_filters_searches_and_pages_without_gaps() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let mut all = Vec::new();
    let (mut stops, mut on_b) = (Vec::new(), Vec::new());
    for i in 0..60 {
        if i == 30 {
            // The second half an hour later, for the time range.
            app.clock().advance(chrono::Duration::hours(1));
        }
        let kind = if i % 3 == 0 { "stop" } else { "start" };
        let machine = if i % 4 == 0 { "psB" } else { "psA" };
        let mut body = json!({"kind": kind, "machine_id": machine});
        if i == 7 {
            body["idempotency_key"] = json!("nightly-key-7");
        }
        let id = submit(&app, body).await;
        all.push(id);
        if kind == "stop" {
            stops.push(id);
        }
        if machine == "psB" {
            on_b.push(id);
        }
    }
    let newest_first = |mut ids: Vec<i64>| {
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids
    };

    let page = ui.get("/ui/jobs").await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains("<table id=\"jobs\""), "{html}");
    assert!(html.contains("id=\"job-filters\" method=\"get\""), "{html}");
    assert!(html.contains("data-refresh=\"/ui/jobs/table?\""));
    assert!(html.contains("data-pause"));
    assert!(
        html.contains("href=\"/ui/jobs?state=queued\""),
        "a count links to its state"
    );
    assert!(
        html.contains("<div class=\"big\">60</div>"),
        "60 jobs counted"
    );
    assert_eq!(row_ids(html), newest_first(all.clone())[..50].to_vec());
    assert!(html.contains(&format!("href=\"/ui/jobs/{}\"", all[59])));

    // Filters: kind, machine, both, and state.
    assert_eq!(
        rows(&ui, "/ui/jobs?kind=stop").await,
        newest_first(stops.clone())
    );
    assert_eq!(
        rows(&ui, "/ui/jobs?machine=psB").await,
        newest_first(on_b.clone())
    );
    let both: Vec<i64> = stops
        .iter()
        .filter(|id| on_b.contains(id))
        .copied()
        .collect();
    assert!(!both.is_empty());
    assert_eq!(
        rows(&ui, "/ui/jobs?kind=stop&machine=psB&state=&q=").await,
        newest_first(both)
    );
    assert!(rows(&ui, "/ui/jobs?state=failed").await.is_empty());
    assert!(
        ui.get("/ui/jobs?state=failed")
            .await
            .body
            .contains("No jobs match.")
    );
    let bad = ui.get("/ui/jobs?state=sleepy").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("state"), "{}", bad.body);

    // The created-at range: the first 30 at 09:58, the rest at 10:58.
    assert_eq!(
        rows(&ui, "/ui/jobs?from=2026-03-02T10:30&limit=100").await,
        newest_first(all[30..].to_vec())
    );
    assert_eq!(
        rows(&ui, "/ui/jobs?to=2026-03-02T10:30&limit=100").await,
        newest_first(all[..30].to_vec())
    );
    assert_eq!(
        rows(&ui, "/ui/jobs?from=2026-03-02&to=2026-03-02&limit=100")
            .await
            .len(),
        60,
        "a date as `to` is the whole day"
    );
    assert!(rows(&ui, "/ui/jobs?from=2026-03-03").await.is_empty());

    // Search: a job id, an idempotency key, and nothing.
    assert_eq!(
        rows(&ui, &format!("/ui/jobs?q=%23{}", all[12])).await,
        vec![all[12]]
    );
    let found = ui.get("/ui/jobs?q=nightly-key-7").await;
    assert_eq!(row_ids(found.expect(StatusCode::OK)), vec![all[7]]);
    assert!(found.body.contains("idempotency key “nightly-key-7”"));
    assert!(rows(&ui, "/ui/jobs?q=no-such-key").await.is_empty());
    // A machine the daemon has seen, by its name (any case) or id.
    app.store()
        .see_machines(
            vec![Machine::new("psB", "Render <Box>", MachineState::Off)],
            false,
            app.clock().now(),
        )
        .await
        .unwrap();
    let found = ui.get("/ui/jobs?q=render+%3Cbox%3E&limit=100").await;
    assert_eq!(
        row_ids(found.expect(StatusCode::OK)),
        newest_first(on_b.clone())
    );
    assert!(
        found.body.contains("machine psB (Render &lt;Box&gt;)"),
        "{}",
        found.body
    );
    assert!(
        found
            .body
            .contains("<option value=\"psB\">Render &lt;Box&gt;</option>")
    );
    assert_eq!(
        rows(&ui, "/ui/jobs?q=psB&limit=100").await,
        newest_first(on_b.clone())
    );

    // Pages of 25, following "Older →": every job once, newest first.
    let mut seen = Vec::new();
    let mut path = "/ui/jobs?limit=25".to_string();
    let mut pages = 0;
    loop {
        let html = ui.get(&path).await.expect(StatusCode::OK).to_string();
        seen.extend(row_ids(&html));
        pages += 1;
        match older(&html) {
            Some(next) => {
                assert!(
                    next.contains("limit=25") && next.contains("cursor=j"),
                    "{next}"
                );
                path = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first(all.clone()), "no repeats, no gaps");
    // A filter's pages keep the filter.
    let first = ui.get("/ui/jobs?kind=start&limit=10").await;
    let next = older(first.expect(StatusCode::OK)).unwrap();
    assert!(next.contains("kind=start"), "{next}");
    let bad = ui.get("/ui/jobs?cursor=e5").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // The live fragment: the table alone, refreshing from itself.
    let part = ui.get("/ui/jobs/table?kind=stop&limit=100").await;
    let html = part.expect(StatusCode::OK);
    assert!(!html.contains("<html"), "a fragment, not a page");
    assert!(
        html.contains("data-refresh=\"/ui/jobs/table?kind=stop&amp;limit=100\""),
        "{html}"
    );
    assert_eq!(row_ids(html), newest_first(stops));
}

#[tokio::test]
async fn ui_jobs_a_failed_job_shows_its_timeline_escaped_and_retry_queues_it_again() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let id = submit(
        &app,
        json!({"kind": "start", "machine_id": "psA", "idempotency_key": "k<script>alert(2)</script>"}),
    )
    .await;
    fail(&app, id, "boom <script>alert(1)</script>").await;

    let page = ui.get(&format!("/ui/jobs/{id}")).await;
    let html = page.expect(StatusCode::OK);
    assert!(
        html.contains("id=\"job-state\"><span class=\"state state-failed\">failed</span>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "user text is escaped");
    assert!(html.contains("boom &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("k&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(html.contains("upstream said &lt;b&gt;no&lt;/b&gt;"));
    // The timeline, oldest first: queued, the call, the failure.
    let queued = html
        .find("submitted")
        .or_else(|| html.find("queued"))
        .unwrap();
    let call = html
        .find("/machines/{id}/start</code> → 500 in 42 ms")
        .expect(html);
    let failed = html.rfind("state-failed").unwrap();
    assert!(queued < call && call < failed);
    assert!(html.contains(&format!("action=\"/ui/jobs/{id}/retry\"")));
    assert!(
        !html.contains(&format!("action=\"/ui/jobs/{id}/cancel\"")),
        "final: no cancel"
    );
    assert!(
        !html.contains("data-refresh"),
        "a finished job does not refresh"
    );
    // The list shows the error's summary, escaped.
    let list = ui.get("/ui/jobs?state=failed").await;
    assert_eq!(row_ids(list.expect(StatusCode::OK)), vec![id]);
    assert!(list.body.contains("boom &lt;script&gt;"));
    assert!(!list.body.contains("<script>alert"));

    let answer = ui.post(&format!("/ui/jobs/{id}/retry"), &[]).await;
    let back = follow(&ui, &answer).await;
    assert!(
        answer
            .location()
            .unwrap()
            .starts_with(&format!("/ui/jobs/{id}?notice="))
    );
    assert!(back.contains(&format!("job {id} queued again")), "{back}");
    assert!(back.contains(&format!("data-refresh=\"/ui/jobs/{id}/live\"")));
    assert_eq!(state_of(&app, id).await, "queued");
    let live = ui.get(&format!("/ui/jobs/{id}/live")).await;
    assert!(live.expect(StatusCode::OK).contains("state-queued"));
    assert!(!live.body.contains("<html"));

    // Retrying a queued job is the API's conflict, as a page.
    let again = ui.post(&format!("/ui/jobs/{id}/retry"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.body.contains(&format!(
            "job {id} is queued; only failed jobs can be retried"
        )),
        "{}",
        again.body
    );

    let missing = ui.get("/ui/jobs/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("there is no job 999999"));
    assert!(missing.body.contains("<html"), "a page, not JSON");
    assert_eq!(ui.get("/ui/jobs/abc").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ui_jobs_cancel_one_and_in_bulk() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let later = submit(
        &app,
        json!({"kind": "start", "machine_id": "psA", "delay_seconds": 3600}),
    )
    .await;
    let page = ui.get(&format!("/ui/jobs/{later}")).await;
    assert!(
        page.expect(StatusCode::OK)
            .contains(&format!("action=\"/ui/jobs/{later}/cancel\""))
    );
    let answer = ui.post(&format!("/ui/jobs/{later}/cancel"), &[]).await;
    assert!(
        follow(&ui, &answer)
            .await
            .contains(&format!("job {later} cancelled"))
    );
    assert_eq!(state_of(&app, later).await, "cancelled");
    let again = ui.post(&format!("/ui/jobs/{later}/cancel"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again
            .body
            .contains(&format!("job {later} has already cancelled"))
    );

    // Five queued stops on psC, one on psD: a bulk cancel of psC's.
    let mut on_c = Vec::new();
    for _ in 0..5 {
        on_c.push(submit(&app, json!({"kind": "stop", "machine_id": "psC"})).await);
    }
    let on_d = submit(&app, json!({"kind": "stop", "machine_id": "psD"})).await;
    let html = ui
        .get("/ui/jobs?machine=psC")
        .await
        .expect(StatusCode::OK)
        .to_string();
    assert!(html.contains("<form id=\"bulk\" method=\"post\" action=\"/ui/jobs/bulk\""));
    assert!(html.contains("<input type=\"hidden\" name=\"machine\" value=\"psC\">"));
    assert!(
        html.contains("data-confirm=\"Retry at most 0 failed jobs, or cancel at most 6 queued"),
        "{html}"
    );
    let answer = ui
        .post("/ui/jobs/bulk", &[("machine", "psC"), ("action", "cancel")])
        .await;
    assert_eq!(
        answer.location().unwrap().split("&notice").next(),
        Some("/ui/jobs?machine=psC")
    );
    assert!(follow(&ui, &answer).await.contains("cancelled 5 jobs"));
    for id in &on_c {
        assert_eq!(state_of(&app, *id).await, "cancelled");
    }
    assert_eq!(state_of(&app, on_d).await, "queued");

    // Bulk retry of the ticked rows only: two of three failed jobs.
    let mut failed = Vec::new();
    for _ in 0..3 {
        let id = submit(&app, json!({"kind": "start", "machine_id": "psE"})).await;
        fail(&app, id, "no capacity").await;
        failed.push(id);
    }
    let (a, b) = (failed[0].to_string(), failed[1].to_string());
    let answer = ui
        .post(
            "/ui/jobs/bulk",
            &[
                ("state", "failed"),
                ("action", "retry"),
                ("id", &a),
                ("id", &b),
                ("id", &on_d.to_string()),
            ],
        )
        .await;
    let back = follow(&ui, &answer).await;
    assert!(
        back.contains("retried 2 jobs; 1 skipped (not failed)"),
        "{back}"
    );
    assert_eq!(state_of(&app, failed[0]).await, "queued");
    assert_eq!(state_of(&app, failed[1]).await, "queued");
    assert_eq!(state_of(&app, failed[2]).await, "failed");
    // And of the whole filter: the one left.
    let answer = ui
        .post("/ui/jobs/bulk", &[("machine", "psE"), ("action", "retry")])
        .await;
    assert!(follow(&ui, &answer).await.contains("retried 1 job"));
    assert_eq!(state_of(&app, failed[2]).await, "queued");
    let bad = ui.post("/ui/jobs/bulk", &[("action", "explode")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn ui_jobs_a_viewer_and_a_post_without_csrf_change_nothing() {
    let app = start().await;
    let id = submit(
        &app,
        json!({"kind": "start", "machine_id": "psA", "delay_seconds": 60}),
    )
    .await;
    let viewer = app.ui_sign_in(VIEWER).await;
    let list = viewer.get("/ui/jobs").await;
    let html = list.expect(StatusCode::OK);
    assert_eq!(row_ids(html), vec![id]);
    assert!(html.contains("disabled title=\"The viewer token may look, not act\""));
    assert!(
        !html.contains("name=\"id\""),
        "no selection boxes for a viewer"
    );
    let page = viewer.get(&format!("/ui/jobs/{id}")).await;
    assert!(page.expect(StatusCode::OK).contains("disabled"));
    for (path, fields) in [
        (format!("/ui/jobs/{id}/cancel"), vec![]),
        ("/ui/jobs/bulk".to_string(), vec![("action", "cancel")]),
    ] {
        let refused = viewer.post(&path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("viewer token"));
    }
    let admin = app.ui_sign_in(ADMIN).await;
    let forged = admin.post_raw(&format!("/ui/jobs/{id}/cancel"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = admin
        .post_raw(
            "/ui/jobs/bulk",
            &[("action", "cancel"), ("csrf", &viewer.csrf)],
        )
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    assert_eq!(state_of(&app, id).await, "queued");
}

#[tokio::test]
async fn ui_jobs_a_schedules_jobs_are_found_by_its_name_and_show_their_firing() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let by_hand = submit(&app, json!({"kind": "refresh"})).await;
    let spec = serde_json::from_value(
        json!({"name": "ten-o-clock", "cron": "0 10 * * *", "template": {"kind": "refresh"}}),
    )
    .unwrap();
    let schedule = app.registry().create_schedule(spec).await.unwrap();
    let scheduler = Scheduler::new(
        app.store().clone(),
        app.daemon_api.clone(),
        Arc::new(app.clock().clone()),
        app.context().clone(),
    );
    app.clock().advance(chrono::Duration::minutes(2));
    assert_eq!(scheduler.tick().await.unwrap().enqueued, 1);
    let fired = rows(&ui, "/ui/jobs?schedule=ten-o-clock").await;
    assert_eq!(fired.len(), 1);
    assert_ne!(fired[0], by_hand);
    assert_eq!(
        rows(&ui, &format!("/ui/jobs?schedule={}", schedule.id)).await,
        fired
    );
    let html = ui
        .get(&format!("/ui/jobs/{}", fired[0]))
        .await
        .expect(StatusCode::OK)
        .to_string();
    assert!(html.contains("ten-o-clock"), "{html}");
    assert!(html.contains(&format!("href=\"/ui/jobs?schedule={}\"", schedule.id)));
    let html = ui
        .get(&format!("/ui/jobs/{by_hand}"))
        .await
        .expect(StatusCode::OK)
        .to_string();
    assert!(html.contains("submitted, not fired"));
    let missing = ui.get("/ui/jobs?schedule=nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ui_jobs_store_filters_combine_with_the_cursor() {
    use machinist::store::JobFilter;
    let app = start().await;
    // Ten jobs in each of three hours; the middle hour's are paged through
    // four at a time with the other filters on.
    let mut hours: Vec<Vec<i64>> = vec![Vec::new(); 3];
    for (h, ids) in hours.iter_mut().enumerate() {
        for i in 0..10 {
            let kind = if i % 2 == 0 { "start" } else { "stop" };
            ids.push(submit(&app, json!({"kind": kind, "machine_id": "psA"})).await);
        }
        if h < 2 {
            app.clock().advance(chrono::Duration::hours(1));
        }
    }
    let filter = JobFilter {
        created_from: Some(t0() + chrono::Duration::minutes(30)),
        created_to: Some(t0() + chrono::Duration::minutes(90)),
        state: Some(JobState::Queued),
        machine_id: Some("psA".into()),
        ..JobFilter::default()
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = app.store().jobs(&filter, before, 4).await.unwrap();
        seen.extend(page.iter().map(|j| j.id));
        if page.len() < 4 {
            break;
        }
        before = page.last().map(|j| j.id);
    }
    let mut expected = hours[1].clone();
    expected.reverse();
    assert_eq!(seen, expected);
    // Each filter narrows: the kind, the id, a key no job has.
    let stops = JobFilter {
        kind: Some(machinist::job::JobKind::Stop),
        ..filter.clone()
    };
    assert_eq!(app.store().jobs(&stops, None, 100).await.unwrap().len(), 5);
    let one = JobFilter {
        id: Some(hours[1][3]),
        ..filter.clone()
    };
    let found = app.store().jobs(&one, None, 100).await.unwrap();
    assert_eq!(
        found.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![hours[1][3]]
    );
    let outside = JobFilter {
        id: Some(hours[0][3]),
        ..filter.clone()
    };
    assert!(
        app.store()
            .jobs(&outside, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let keyed = JobFilter {
        idempotency_key: Some("nobody".into()),
        ..JobFilter::default()
    };
    assert!(
        app.store()
            .jobs(&keyed, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn ui_jobs_a_bulk_press_stops_at_its_cap() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    for _ in 0..6 {
        let jobs: Vec<Value> = (0..200)
            .map(|_| json!({"kind": "stop", "machine_id": "psZ"}))
            .collect();
        let (status, body) = app.post("/v1/jobs/batch", json!({"jobs": jobs})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let press = || ui.post("/ui/jobs/bulk", &[("machine", "psZ"), ("action", "cancel")]);
    let first = press().await;
    let back = follow(&ui, &first).await;
    assert!(
        back.contains("cancelled 1,000 jobs; stopped at 1,000, press again for the rest"),
        "{back}"
    );
    // The newest thousand went first: the oldest 200 are still queued.
    let queued = rows(&ui, "/ui/jobs?state=queued&limit=500").await;
    assert_eq!(queued.len(), 200);
    let cancelled = rows(&ui, "/ui/jobs?state=cancelled&limit=1").await;
    assert!(queued.iter().all(|id| *id < cancelled[0]));
    let second = press().await;
    assert!(follow(&ui, &second).await.contains("cancelled 200 jobs"));
    assert!(rows(&ui, "/ui/jobs?state=queued").await.is_empty());
}
