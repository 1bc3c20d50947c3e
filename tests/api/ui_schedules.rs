//! The dashboard's schedules pages over plain HTTP: the list of schedules
//! and windows, pause and resume, the week view, the cron editor's preview
//! and save, window overrides, the viewer's read-only session and escaping.
//! The router alone on a manual clock at Monday 2026-03-02 09:00Z (10:00
//! in Amsterdam, winter), with Europe/Amsterdam as the default zone; what
//! a page did is checked through the JSON API or the store.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::dashboard::{UiSession, attr_after, no_redirects};
use crate::harness::{AppOptions, Run, TestApp, spawn_app};

const ADMIN: &str = "test-admin-token-0123456789";
const VIEWER: &str = "test-viewer-token-0123456789";

fn t0() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

async fn start() -> TestApp {
    spawn_app(AppOptions {
        token: Some(ADMIN),
        viewer_token: Some(VIEWER),
        run: Run::Router,
        clock: Some(t0()),
        default_zone: "Europe/Amsterdam",
        ..AppOptions::default()
    })
    .await
}

/// Weekdays at 19:00 in Amsterdam (18:00Z in winter), stopping ps1 and ps2.
fn nightly() -> Value {
    json!({
        "name": "nightly-stop",
        "cron": "0 19 * * MON-FRI",
        "timezone": "Europe/Amsterdam",
        "template": {"kind": "stop"},
        "targets": {"machine_ids": ["ps1", "ps2"]}
    })
}

/// 09:00–18:00 on weekdays in Amsterdam for ps3.
fn office() -> Value {
    json!({
        "name": "office",
        "hours": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00", "zone": "Europe/Amsterdam"},
        "targets": {"machine_ids": ["ps3"]},
        "enforce": true
    })
}

/// Creates over the API; the created resource's id.
async fn create(app: &TestApp, path: &str, body: Value) -> i64 {
    let (status, created) = app.post(path, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

/// The table row that starts at `marker` (e.g. `data-schedule="x"`).
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// The part of `html` from `start` to the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    let rest = &html[at + start.len()..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Follows a 303 and answers the page it points to.
async fn follow(ui: &UiSession, page: &crate::harness::dashboard::Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = page.location().unwrap().to_string();
    ui.get(&to).await.expect(StatusCode::OK).to_string()
}

#[tokio::test]
async fn the_list_shows_schedules_and_windows_with_their_next_firings() {
    let app = start().await;
    let schedule = create(&app, "/v1/schedules", nightly()).await;
    let window = create(&app, "/v1/windows", office()).await;
    create(
        &app,
        "/v1/windows/office/overrides",
        json!({"machine_id": "ps3", "mode": "keep_on", "hours": 3}),
    )
    .await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/schedules").await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains(r#"<table id="schedules""#), "{html}");
    let nightly = row(html, r#"data-schedule="nightly-stop""#);
    assert!(
        nightly.contains(&format!(r#"href="/ui/schedules/{schedule}""#)),
        "{nightly}"
    );
    assert!(nightly.contains("0 19 * * MON-FRI") && nightly.contains("Europe/Amsterdam"));
    assert!(nightly.contains(">stop<") && nightly.contains("ps1") && nightly.contains("ps2"));
    // The next three firings, in the schedule's zone with UTC beside it,
    // marked for app.js to add the viewer's own zone.
    for (utc, local) in [
        ("2026-03-02T18:00:00+00:00", "Mon 2026-03-02 19:00 CET"),
        ("2026-03-03T18:00:00+00:00", "Tue 2026-03-03 19:00 CET"),
        ("2026-03-04T18:00:00+00:00", "Wed 2026-03-04 19:00 CET"),
    ] {
        assert!(
            nightly.contains(&format!(r#"datetime="{utc}" data-local"#)),
            "{utc} in {nightly}"
        );
        assert!(nightly.contains(local), "{local} in {nightly}");
    }
    assert!(nightly.contains("(18:00 UTC)"), "{nightly}");
    assert!(!nightly.contains("2026-03-05T18:00:00"), "only three");
    assert!(nightly.contains("never"), "it has not fired: {nightly}");
    assert!(
        nightly.contains(&format!(
            r#"action="/ui/schedules/{schedule}/pause?back=%2Fui%2Fschedules""#
        )),
        "{nightly}"
    );
    // Window edges are not schedules of their own in this table.
    assert!(!html.contains(r#"data-schedule="window:office:start""#));

    assert!(html.contains(r#"<table id="windows""#), "{html}");
    let office = row(html, r#"data-window="office""#);
    assert!(office.contains(&format!(r#"href="/ui/windows/{window}""#)));
    assert!(
        office.contains("mon, tue, wed, thu, fri 09:00–18:00"),
        "{office}"
    );
    assert!(office.contains("every 300 s"), "enforced: {office}");
    assert!(
        office.contains("closes (stop)")
            && office.contains(r#"datetime="2026-03-02T17:00:00+00:00""#),
        "the next closing is today 18:00 CET: {office}"
    );
    assert!(
        office.contains(r#"datetime="2026-03-03T08:00:00+00:00""#),
        "then tomorrow's opening: {office}"
    );
    assert!(
        office.contains(r#"<td class="num">1</td>"#),
        "one override in force: {office}"
    );
    assert!(html.contains(r#"href="/ui/schedules/week""#));
    assert!(html.contains(r#"href="/ui/schedules/new""#));

    // The schedule's own page: ten firings, and a window's page.
    let detail = ui.get(&format!("/ui/schedules/{schedule}")).await;
    let detail = detail.expect(StatusCode::OK);
    let next = between(detail, r#"<ol class="firings">"#, "</ol>");
    assert_eq!(next.matches("<li>").count(), 10, "{next}");
    assert!(detail.contains(&format!(r#"href="/ui/schedules/{schedule}/edit""#)));
    assert!(detail.contains("It has not fired yet."));
    let by_name = ui.get("/ui/schedules/nightly-stop").await;
    assert_eq!(by_name.status, StatusCode::OK);
    let missing = ui.get("/ui/schedules/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("there is no schedule named `nope`"));
}

#[tokio::test]
async fn pause_and_resume_from_the_page_do_what_the_api_does() {
    let app = start().await;
    let id = create(&app, "/v1/schedules", nightly()).await;
    create(&app, "/v1/windows", office()).await;
    let ui = app.ui_sign_in(ADMIN).await;

    let paused = ui
        .post(
            &format!("/ui/schedules/{id}/pause?back=%2Fui%2Fschedules"),
            &[],
        )
        .await;
    assert!(
        paused
            .location()
            .unwrap()
            .starts_with("/ui/schedules?notice="),
        "{:?}",
        paused.location()
    );
    let list = follow(&ui, &paused).await;
    assert!(list.contains("Schedule nightly-stop paused."), "{list}");
    let nightly = row(&list, r#"data-schedule="nightly-stop""#);
    assert!(
        nightly.contains("state-paused") && nightly.contains(">Resume<"),
        "{nightly}"
    );
    assert!(
        !nightly.contains("data-local"),
        "no next firings while paused"
    );
    let (_, shown) = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["next_fire_at"], Value::Null);

    // Resumed from its own page, it goes back there.
    let back = format!("/ui/schedules/{id}");
    let resumed = ui
        .post(
            &format!("/ui/schedules/{id}/resume?back=%2Fui%2Fschedules%2F{id}"),
            &[],
        )
        .await;
    assert!(
        resumed
            .location()
            .unwrap()
            .starts_with(&format!("{back}?notice="))
    );
    let (_, shown) = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["next_fire_at"], "2026-03-02T18:00:00Z");

    // Another site's path is no place to go back to.
    let elsewhere = ui
        .post(
            &format!("/ui/schedules/{id}/pause?back=https%3A%2F%2Fevil.example%2F"),
            &[],
        )
        .await;
    assert!(elsewhere.location().unwrap().starts_with("/ui/schedules?"));

    // A window pauses and resumes too.
    let paused = ui.post("/ui/windows/office/pause", &[]).await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    let (_, window) = app.get("/v1/windows/office").await;
    assert_eq!(window["enabled"], false);
    ui.post("/ui/windows/office/resume", &[]).await;
    let (_, window) = app.get("/v1/windows/office").await;
    assert_eq!(window["enabled"], true);
    // An edge of a window is paused through its window, as over the API.
    let edge = app
        .store()
        .schedule("window:office:start")
        .await
        .unwrap()
        .unwrap();
    let refused = ui
        .post(&format!("/ui/schedules/{}/pause", edge.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("pause or resume the window instead"));
}

#[tokio::test]
async fn the_week_view_puts_each_firing_on_its_day() {
    let app = start().await;
    create(&app, "/v1/schedules", nightly()).await;
    // Tuesday 23:30 UTC is Wednesday 00:30 in Amsterdam, the view's zone.
    create(
        &app,
        "/v1/schedules",
        json!({"name": "late-utc", "cron": "30 23 * * TUE", "timezone": "UTC",
               "template": {"kind": "start"}, "targets": {"machine_ids": ["ps9"]}}),
    )
    .await;
    // Every minute: the week shows a bounded number of it.
    create(
        &app,
        "/v1/schedules",
        json!({"name": "busy", "cron": "* * * * *", "template": {"kind": "refresh"}}),
    )
    .await;
    // Not on an excluded date, as it would not fire then.
    create(
        &app,
        "/v1/schedules",
        json!({"name": "daily-8", "cron": "0 8 * * *", "template": {"kind": "start"},
               "targets": {"machine_ids": ["ps4"]}, "exclusions": {"dates": ["2026-03-05"]}}),
    )
    .await;
    create(&app, "/v1/windows", office()).await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/schedules/week").await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains("Europe/Amsterdam"), "says which zone");
    let days: Vec<&str> = html
        .match_indices("data-day=\"")
        .map(|(i, _)| &html[i + 10..i + 20])
        .collect();
    assert_eq!(
        days,
        [
            "2026-03-02",
            "2026-03-03",
            "2026-03-04",
            "2026-03-05",
            "2026-03-06",
            "2026-03-07",
            "2026-03-08"
        ]
    );
    let wednesday = between(html, r#"data-day="2026-03-04""#, "</section>");
    assert!(wednesday.contains("nightly-stop"), "{wednesday}");
    assert!(
        wednesday.contains(r#"datetime="2026-03-04T18:00:00+00:00" data-local"#)
            && wednesday.contains(">19:00<"),
        "{wednesday}"
    );
    assert!(
        wednesday.contains("ps1, ps2") || (wednesday.contains("ps1") && wednesday.contains("ps2"))
    );
    assert!(
        wednesday.contains("late-utc") && wednesday.contains(">00:30<"),
        "{wednesday}"
    );
    assert!(wednesday.contains(">office</a> · opens: start") && wednesday.contains("ps3"));
    let tuesday = between(html, r#"data-day="2026-03-03""#, "</section>");
    assert!(!tuesday.contains("late-utc"), "{tuesday}");
    let thursday = between(html, r#"data-day="2026-03-05""#, "</section>");
    let friday = between(html, r#"data-day="2026-03-06""#, "</section>");
    assert!(!thursday.contains("daily-8") && thursday.contains("nightly-stop"));
    assert!(
        friday.contains("daily-8") && friday.contains(">08:00<"),
        "{friday}"
    );
    let saturday = between(html, r#"data-day="2026-03-07""#, "</section>");
    assert!(!saturday.contains("nightly-stop") && !saturday.contains("office"));
    // Nothing from before now: Monday's opening at 09:00 CET is past.
    let monday = between(html, r#"data-day="2026-03-02""#, "</section>");
    assert!(!monday.contains("2026-03-02T08:00:00+00:00"), "{monday}");
    assert!(monday.contains(">office</a> · closes: stop"));
    // The busy schedule is one line a day: how many times, from when to
    // when (at most 100 looked for).
    assert_eq!(html.matches(">busy</a> · refresh").count(), 7, "one a day");
    assert!(
        monday.contains(">10:01</time>–<time")
            && monday.contains(">busy</a> · refresh, 100+ times"),
        "{monday}"
    );
}

#[tokio::test]
async fn the_preview_shows_the_next_firings_or_what_is_wrong() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let form = ui.get("/ui/schedules/new").await;
    let form = form.expect(StatusCode::OK);
    assert!(
        form.contains(r#"hx-post="/ui/schedules/preview""#)
            && form.contains(r##"hx-target="#preview""##)
    );
    assert!(
        form.contains(r#"formaction="/ui/schedules/preview""#),
        "works without JS"
    );
    assert!(form.contains(r#"action="/ui/schedules""#));

    let fields = [
        ("name", "office-start"),
        ("cron", "0 9 * * MON-FRI"),
        ("timezone", "Europe/Amsterdam"),
        ("kind", "start"),
        ("machine_ids", "ps1"),
        ("enabled", "on"),
    ];
    let page = ui.post("/ui/schedules/preview", &fields).await;
    let html = page.expect(StatusCode::OK);
    // The whole form again, as typed, with the preview under it.
    assert!(
        html.contains(r#"name="name" value="office-start""#),
        "{html}"
    );
    assert!(html.contains(r#"value="0 9 * * MON-FRI""#));
    let preview = between(html, r#"id="preview""#, "Forecast");
    assert_eq!(preview.matches("<li>").count(), 10, "{preview}");
    // 10:00 CET now: the next is Tuesday's 09:00 CET, 08:00Z.
    assert!(
        preview.contains(r#"datetime="2026-03-03T08:00:00+00:00" data-local"#)
            && preview.contains("Tue 2026-03-03 09:00 CET"),
        "{preview}"
    );
    assert!(!preview.contains("2026-03-02T08:00:00"), "{preview}");
    // The forecast of next month, as POST /v1/forecast makes it.
    assert!(html.contains("2026-04: 22 starts, 0 stops."), "{html}");
    assert_eq!(
        app.store().schedules(true).await.unwrap().len(),
        0,
        "nothing saved"
    );

    let mut bad = fields.to_vec();
    bad[1] = ("cron", "0 25 * * *");
    let page = ui.post("/ui/schedules/preview", &bad).await;
    let html = page.expect(StatusCode::OK);
    let preview = between(html, r#"id="preview""#, "</div>");
    assert!(
        preview.contains("cron") && preview.contains("25"),
        "{preview}"
    );
    assert!(!preview.contains("<li>"), "{preview}");
    assert!(html.contains(r#"value="0 25 * * *""#), "kept as typed");
}

/// `POST path` as htmx sends it (`HX-Request`, the CSRF token in a
/// header) in a fresh admin session: the harness's session keeps its
/// cookie to itself, so this signs in as a browser does.
async fn htmx_post(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let http = no_redirects();
    let cookie_of = |answer: &reqwest::Response, name: &str| {
        answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .map(|v| v.split(';').next().unwrap().to_string())
            .unwrap()
    };
    let login = http.get(app.at("/ui/login")).send().await.unwrap();
    let login_cookie = cookie_of(&login, "machinist_login=");
    let challenge = attr_after(&login.text().await.unwrap(), "name=\"challenge\" value=").unwrap();
    let signed = http
        .post(app.at("/ui/login"))
        .header("cookie", login_cookie)
        .form(&[
            ("token", ADMIN),
            ("challenge", &challenge),
            ("next", "/ui/"),
        ])
        .send()
        .await
        .unwrap();
    let session = cookie_of(&signed, "machinist_session=");
    let page = http
        .get(app.at("/ui/schedules/new"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csrf = attr_after(&page.text().await.unwrap(), "name=\"csrf-token\" content=").unwrap();
    let answer = http
        .post(app.at(path))
        .header("cookie", &session)
        .header("hx-request", "true")
        .header("x-csrf-token", csrf)
        .form(fields)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

#[tokio::test]
async fn with_htmx_the_preview_comes_alone() {
    let app = start().await;
    let fields = [
        ("cron", "0 9 * * MON-FRI"),
        ("timezone", ""),
        ("kind", "refresh"),
    ];
    let (status, html) = htmx_post(&app, "/ui/schedules/preview", &fields).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.starts_with("<div") && html.contains(r#"id="preview""#),
        "{html}"
    );
    assert!(
        !html.contains("<html") && !html.contains("<form"),
        "only the preview: {html}"
    );
    assert_eq!(html.matches("<li>").count(), 10, "{html}");
    // The daemon's zone when the form names none.
    assert!(html.contains("Tue 2026-03-03 09:00 CET"), "{html}");
    assert!(
        html.contains("for schedules that start or stop machines"),
        "{html}"
    );
}

#[tokio::test]
async fn a_save_creates_or_replaces_and_a_refused_one_stores_nothing() {
    let app = start().await;
    let ui = app.ui_sign_in(ADMIN).await;
    let fields = [
        ("name", "evening-stop"),
        ("cron", "0 20 * * *"),
        ("timezone", ""),
        ("kind", "stop"),
        ("machine_ids", "ps1 ps2"),
        ("jitter_seconds", "30"),
        ("exclude_dates", "2026-12-25"),
        ("misfire", "skip"),
        ("overlap", "queue"),
        ("enabled", "on"),
    ];

    // Refused: a bad cron. The form comes back as typed, the error beside
    // the cron, and nothing is stored.
    let mut bad = fields.to_vec();
    bad[1] = ("cron", "61 * * * *");
    let refused = ui.post("/ui/schedules", &bad).await;
    let html = refused.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Not saved."), "{html}");
    let beside = between(html, r#"id="error-cron""#, "</span>");
    assert!(beside.contains("61"), "{beside}");
    assert!(html.contains(r#"value="evening-stop""#) && html.contains(r#"value="61 * * * *""#));
    assert!(html.contains(r#"value="2026-12-25""#) && html.contains(r#"value="30""#));
    assert!(app.store().schedules(true).await.unwrap().is_empty());
    // Refused: what the form reads itself (JSON arguments) and targets a
    // stop needs.
    let mut bad = fields.to_vec();
    bad[4] = ("machine_ids", "");
    let refused = ui.post("/ui/schedules", &bad).await;
    let html = refused.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(between(html, r#"id="error-targets""#, "</span>").contains("stop jobs need targets"));
    let mut bad = fields.to_vec();
    bad.push(("args", "{not json"));
    let refused = ui.post("/ui/schedules", &bad).await;
    assert!(between(&refused.body, r#"id="error-args""#, "</span>").contains("not JSON"));
    assert!(app.store().schedules(true).await.unwrap().is_empty());

    // Saved: 303 to its page, with a notice.
    let saved = ui.post("/ui/schedules", &fields).await;
    let location = saved.location().unwrap().to_string();
    let page = follow(&ui, &saved).await;
    assert!(page.contains("Schedule evening-stop created."), "{page}");
    let (status, shown) = app.get("/v1/schedules/evening-stop").await;
    assert_eq!(status, StatusCode::OK);
    let id = shown["id"].as_i64().unwrap();
    assert!(
        location.starts_with(&format!("/ui/schedules/{id}?notice=")),
        "{location}"
    );
    assert_eq!(shown["cron"], "0 20 * * *");
    assert_eq!(shown["timezone"], "Europe/Amsterdam", "the default zone");
    assert_eq!(shown["template"]["kind"], "stop");
    assert_eq!(shown["targets"]["machine_ids"], json!(["ps1", "ps2"]));
    assert_eq!(shown["jitter_seconds"], 30);
    assert_eq!(shown["exclusions"]["dates"], json!(["2026-12-25"]));
    assert_eq!(shown["misfire"], "skip");
    assert_eq!(shown["overlap"], "queue");
    assert_eq!(shown["enabled"], true);

    // A second one by the same name is refused beside the name.
    let taken = ui.post("/ui/schedules", &fields).await;
    let html = taken.expect(StatusCode::CONFLICT);
    assert!(between(html, r#"id="error-name""#, "</span>").contains("is taken"));

    // The edit form shows what is stored, and a save replaces it.
    let edit = ui.get(&format!("/ui/schedules/{id}/edit")).await;
    let html = edit.expect(StatusCode::OK);
    assert!(
        html.contains(&format!(r#"action="/ui/schedules/{id}""#)),
        "{html}"
    );
    assert!(html.contains(r#"value="ps1, ps2""#) && html.contains(r#"value="0 20 * * *""#));
    let mut changed = fields.to_vec();
    changed[1] = ("cron", "30 21 * * MON-FRI");
    changed.retain(|(k, _)| *k != "enabled");
    let saved = ui.post(&format!("/ui/schedules/{id}"), &changed).await;
    assert!(
        follow(&ui, &saved)
            .await
            .contains("Schedule evening-stop saved.")
    );
    let (_, shown) = app.get(&format!("/v1/schedules/{id}")).await;
    assert_eq!(shown["cron"], "30 21 * * MON-FRI");
    assert_eq!(shown["enabled"], false, "the box was unticked");
    assert_eq!(app.store().schedules(true).await.unwrap().len(), 1);
}

#[tokio::test]
async fn overrides_are_added_and_deleted_from_the_window_page() {
    let app = start().await;
    let window = create(&app, "/v1/windows", office()).await;
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get("/ui/windows/office").await;
    let html = page.expect(StatusCode::OK);
    assert!(html.contains("open now"), "10:00 CET on a Monday");
    let edges = between(html, r#"id="edges""#, "</ol>");
    assert_eq!(edges.matches("<li>").count(), 6, "{edges}");
    assert!(edges.contains("closes (stop)") && edges.contains("2026-03-02T17:00:00+00:00"));
    assert!(html.contains("No overrides."));
    assert!(html.contains(&format!(r#"action="/ui/windows/{window}/overrides""#)));

    let added = ui
        .post(
            &format!("/ui/windows/{window}/overrides"),
            &[
                ("mode", "keep_on"),
                ("machine_id", "ps3"),
                ("hours", ""),
                ("until", "2026-03-02T20:00"),
                ("reason", "late <b>training</b>"),
            ],
        )
        .await;
    let html = follow(&ui, &added).await;
    assert!(
        html.contains("ps3 is kept on until Mon 2026-03-02 20:00 CET."),
        "{html}"
    );
    let (_, list) = app.get("/v1/windows/office/overrides").await;
    let overrides = list["overrides"].as_array().unwrap();
    assert_eq!(overrides.len(), 1, "{list}");
    assert_eq!(
        overrides[0]["until"], "2026-03-02T19:00:00Z",
        "20:00 in the window's zone"
    );
    assert_eq!(overrides[0]["reason"], "late <b>training</b>");
    let oid = overrides[0]["id"].as_i64().unwrap();
    let table = row(&html, &format!(r#"data-override="{oid}""#));
    assert!(
        table.contains("late &lt;b&gt;training&lt;/b&gt;"),
        "{table}"
    );
    assert!(table.contains("state-active"));

    // Refused: the form comes back with the error and what was typed.
    let refused = ui
        .post(
            "/ui/windows/office/overrides",
            &[
                ("mode", "keep_off"),
                ("machine_id", "ps3"),
                ("hours", "0"),
                ("reason", "typo"),
            ],
        )
        .await;
    let html = refused.expect(StatusCode::UNPROCESSABLE_ENTITY);
    let error = between(html, r#"class="error""#, "</p>");
    assert!(
        error.contains("hours") && error.contains("between 0 and 744"),
        "{error}"
    );
    assert!(
        html.contains(r#"value="typo""#) && html.contains(r#"<option value="keep_off" selected>"#)
    );
    assert_eq!(app.store().overrides(window, None).await.unwrap().len(), 1);

    let deleted = ui
        .post(&format!("/ui/windows/{window}/overrides/{oid}/delete"), &[])
        .await;
    assert!(
        follow(&ui, &deleted)
            .await
            .contains(&format!("Override {oid} deleted."))
    );
    assert!(
        app.store()
            .overrides(window, None)
            .await
            .unwrap()
            .is_empty()
    );
    let again = ui
        .post(&format!("/ui/windows/{window}/overrides/{oid}/delete"), &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_viewer_sees_the_pages_but_its_posts_are_refused_and_change_nothing() {
    let app = start().await;
    let id = create(&app, "/v1/schedules", nightly()).await;
    let window = create(&app, "/v1/windows", office()).await;
    let ui = app.ui_sign_in(VIEWER).await;
    let list = ui.get("/ui/schedules").await;
    let nightly = row(
        list.expect(StatusCode::OK),
        r#"data-schedule="nightly-stop""#,
    );
    assert!(
        nightly.contains("disabled"),
        "a greyed-out Pause: {nightly}"
    );
    for path in [
        format!("/ui/schedules/{id}"),
        "/ui/schedules/week".to_string(),
        format!("/ui/windows/{window}"),
        "/ui/schedules/new".to_string(),
    ] {
        assert_eq!(ui.get(&path).await.status, StatusCode::OK, "{path}");
    }
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("/ui/schedules/{id}/pause"), vec![]),
        (format!("/ui/windows/{window}/pause"), vec![]),
        (
            "/ui/schedules".to_string(),
            vec![("name", "x"), ("cron", "0 9 * * *"), ("kind", "refresh")],
        ),
        (
            format!("/ui/schedules/{id}"),
            vec![
                ("name", "nightly-stop"),
                ("cron", "0 9 * * *"),
                ("kind", "refresh"),
            ],
        ),
        (
            format!("/ui/windows/{window}/overrides"),
            vec![("mode", "keep_on"), ("machine_id", "ps3"), ("hours", "2")],
        ),
    ];
    for (path, fields) in posts {
        let refused = ui.post(&path, &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("viewer token"), "{}", refused.body);
    }
    let (_, shown) = app.get("/v1/schedules/nightly-stop").await;
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["cron"], "0 19 * * MON-FRI");
    let (_, window_shown) = app.get("/v1/windows/office").await;
    assert_eq!(window_shown["enabled"], true);
    assert_eq!(app.store().schedules(false).await.unwrap().len(), 1);
    assert!(
        app.store()
            .overrides(window, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn names_people_type_show_as_text() {
    let app = start().await;
    let mut evil = nightly();
    evil["name"] = json!("<script>x</script>");
    let id = create(&app, "/v1/schedules", evil).await;
    let ui = app.ui_sign_in(ADMIN).await;
    for path in [
        "/ui/schedules".to_string(),
        format!("/ui/schedules/{id}"),
        format!("/ui/schedules/{id}/edit"),
        "/ui/schedules/week".to_string(),
    ] {
        let page = ui.get(&path).await;
        let html = page.expect(StatusCode::OK);
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt;"),
            "{path}: {html}"
        );
        assert!(!html.contains("<script>x</script>"), "{path}");
    }
}

#[tokio::test]
async fn a_schedules_page_lists_what_its_firings_did_with_links_to_the_jobs() {
    use machinist::job::JobDefaults;
    use machinist::schedule::firing::{FiringAction, FiringEntry, FiringPlan};

    let app = start().await;
    let id = create(&app, "/v1/schedules", nightly()).await;
    let store = app.store();
    let schedule = store.schedule("nightly-stop").await.unwrap().unwrap();
    let due: DateTime<Utc> = "2026-03-02T18:00:00Z".parse().unwrap();
    let job = schedule
        .template
        .instantiate(
            Some("ps1"),
            due,
            chrono_tz::Europe::Amsterdam,
            due,
            &JobDefaults::default(),
        )
        .unwrap();
    let fired = store
        .fire(
            FiringPlan {
                schedule_id: id,
                expected_next: due,
                next_fire_at: Some("2026-03-03T18:00:00Z".parse().unwrap()),
                overlap: schedule.overlap,
                entries: vec![
                    FiringEntry {
                        fire_at: due,
                        target: "ps1".into(),
                        action: FiringAction::Enqueue {
                            job: Box::new(job),
                            caught_up: false,
                            reason: None,
                        },
                    },
                    FiringEntry {
                        fire_at: due,
                        target: "ps2".into(),
                        action: FiringAction::Skip {
                            reason: "ps2 <was busy>".into(),
                        },
                    },
                ],
            },
            due,
        )
        .await
        .unwrap();
    let job_id = fired.enqueued[0];
    let ui = app.ui_sign_in(ADMIN).await;
    let page = ui.get(&format!("/ui/schedules/{id}")).await;
    let html = page.expect(StatusCode::OK);
    let firings = between(html, r#"<table id="firings">"#, "</table>");
    assert!(
        firings.contains(&format!(r#"<a href="/ui/jobs/{job_id}">job {job_id}</a>"#)),
        "{firings}"
    );
    assert!(firings.contains("state-enqueued") && firings.contains("state-skipped"));
    assert!(firings.contains("ps2 &lt;was busy&gt;"), "{firings}");
    assert!(firings.contains("Mon 2026-03-02 19:00 CET"), "{firings}");
    let list = ui.get("/ui/schedules").await;
    let nightly = row(
        list.expect(StatusCode::OK),
        r#"data-schedule="nightly-stop""#,
    );
    assert!(
        nightly.contains(r#"datetime="2026-03-02T18:00:00+00:00" title"#),
        "last fired: {nightly}"
    );
}
