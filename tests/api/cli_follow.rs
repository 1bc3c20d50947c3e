//! Following a running daemon (issue 18, item 5): `machinist history
//! --follow`, `jobs show ID --follow`, `jobs list --watch` and `machinist
//! top`, the real binary against a daemon in this process; and the long
//! poll they stand on, `GET /v1/history?after=&wait=`.
//!
//! Nothing here sleeps to wait: a test waits for a line of the child's
//! output (bounded), for a job's end (read after each commit), or on the
//! long poll itself.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::process::{Kill, signal};
use crate::harness::served::Lines;
use crate::harness::{AppOptions, TestApp, messages, spawn_app};

/// A follow mode of the CLI, running: its output line by line as it comes.
struct Following {
    /// The child, killed if the test ends first.
    child: Kill,
    /// stdout.
    out: Lines,
    /// stderr.
    err: Lines,
}

impl Following {
    /// `machinist ARGS…` against `app`, with the environment
    /// [`TestApp::cli_command`] gives it.
    fn start(app: &TestApp, args: &[&str]) -> Following {
        let given = app.cli_command(args);
        let given = given.as_std();
        let mut command = std::process::Command::new(given.get_program());
        command.args(given.get_args());
        for (key, value) in given.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the machinist binary runs");
        let out = Lines::collect(child.stdout.take().unwrap());
        let err = Lines::collect(child.stderr.take().unwrap());
        Following {
            child: Kill(child),
            out,
            err,
        }
    }

    /// Waits (at most 30 s) until `done` holds of the stdout lines.
    fn until(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        assert!(
            self.out.wait_until(Duration::from_secs(30), done),
            "no {what}; stdout:\n{}\nstderr:\n{}",
            self.out.text(),
            self.err.text()
        );
    }

    /// Waits for the child's own end; its exit code.
    fn exit(&mut self) -> i32 {
        self.out.wait_closed();
        self.err.wait_closed();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }

    /// Ctrl-C (SIGINT to the child alone), then its exit code.
    fn interrupt(&mut self) -> i32 {
        signal(&self.child, "INT");
        self.exit()
    }
}

/// The rows of `jobs list --watch` for job `id`: (state, whole line).
fn rows_of(lines: &[String], id: i64) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .map(|l| l.split_whitespace().nth(3).unwrap_or("").to_string())
        .collect()
}

/// A job that stays queued for an hour: a change the test makes itself.
async fn queued_for_an_hour(app: &TestApp) -> i64 {
    app.submit(json!({"kind": "refresh", "delay_seconds": 3600}))
        .await["id"]
        .as_i64()
        .unwrap()
}

/// `history --follow` prints the last events oldest first, then each new
/// one in order as it happens; `--json --machine` one JSON object per line,
/// that machine's only; Ctrl-C ends both with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follow_prints_new_events_in_order() {
    let app = spawn_app(AppOptions::default()).await;
    let first = app.run(json!({"kind": "refresh"})).await;
    let mut text = Following::start(&app, &["history", "--follow", "--limit", "2"]);
    let target = app.machines_in("ready").await[0].clone();
    let mut json = Following::start(
        &app,
        &["history", "-f", "--json", "--machine", target.as_str()],
    );
    // Once it says it follows, it has read where the history stood.
    assert!(
        text.err.wait_until(Duration::from_secs(30), |l| l
            .iter()
            .any(|l| l.contains("following the history"))),
        "{}",
        text.err.text()
    );
    // (The JSON follower says nothing on stderr; whenever it starts, its
    // first page, of this machine's events, holds the same as it would
    // print live: it prints the same lines.)
    let off = app.machines_in("off").await[0].clone();
    let other = app.run(json!({"kind": "show", "machine_id": off})).await;
    let mine = app.run(json!({"kind": "show", "machine_id": target})).await;

    // The page: the last two events of the first job, oldest first; then
    // every event of the next two jobs, in order.
    let mut expected: Vec<(i64, String)> = Vec::new();
    for job in [&first, &other, &mine] {
        let id = job["id"].as_i64().unwrap();
        expected.extend(messages(job).into_iter().map(|m| (id, m)));
    }
    let expected = &expected[messages(&first).len() - 2..];
    text.until("line of the last job's end", |lines| {
        lines.len() >= expected.len()
    });
    let lines = text.out.all();
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, (id, message)) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("job {id:<6} ")) && line.contains(message.as_str()),
            "{line:?} is not job {id}'s {message:?}; all:\n{lines:#?}"
        );
    }
    assert_eq!(text.interrupt(), 0, "{}", text.err.text());

    json.until("JSON line of the job's end", |lines| {
        lines.iter().any(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|e| e["job_id"] == mine["id"] && e["to_state"] == "succeeded")
        })
    });
    let events: Vec<Value> = json
        .out
        .all()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Only the machine's job, every event of it, in order.
    assert_eq!(events, mine["events"].as_array().unwrap().clone());
    assert_eq!(json.interrupt(), 0, "{}", json.err.text());
}

/// `jobs show ID --follow` prints the job and its events as they happen
/// and ends with the job: exit 0 when it succeeded, 1 when it was
/// cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_show_follow_ends_with_the_job() {
    let app = spawn_app(AppOptions {
        transition: Duration::from_millis(600),
        ..AppOptions::default()
    })
    .await;
    let off = app.machines_in("off").await[0].clone();
    let id = app
        .submit(json!({"kind": "start", "machine_id": off}))
        .await["id"]
        .as_i64()
        .unwrap();
    let mut follow = Following::start(&app, &["jobs", "show", &id.to_string(), "--follow"]);
    assert_eq!(follow.exit(), 0, "{}", follow.err.text());
    let job = app.job(id).await;
    assert_eq!(job["state"], "succeeded");
    let lines = follow.out.all();
    assert!(
        lines[0].starts_with("job ") && lines[0].contains(&format!("{id}: start")),
        "{lines:#?}"
    );
    let events: Vec<&String> = lines
        .iter()
        .skip_while(|l| *l != "events:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    let wanted = messages(&job);
    assert_eq!(events.len(), wanted.len(), "{lines:#?}");
    for (line, message) in events.iter().zip(&wanted) {
        assert!(
            line.contains(message.as_str()),
            "{line:?} lacks {message:?}"
        );
    }
    assert!(lines.contains(&format!("job {id} succeeded")), "{lines:#?}");

    // A job that is still queued is followed live until it is cancelled.
    let queued = queued_for_an_hour(&app).await;
    let mut follow = Following::start(&app, &["jobs", "show", &queued.to_string(), "-f"]);
    follow.until("submitted event", |l| {
        l.iter().any(|l| l.contains("queued: submitted"))
    });
    let (status, _) = app
        .post(&format!("/v1/jobs/{queued}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(follow.exit(), 1);
    assert!(
        follow
            .out
            .text()
            .contains("queued → cancelled: cancelled by request"),
        "{}",
        follow.out.text()
    );
    assert!(
        follow
            .err
            .text()
            .contains(&format!("job {queued} was cancelled")),
        "{}",
        follow.err.text()
    );
}

/// `jobs list --watch` prints the list, then a row for each change it
/// sees: a job submitted, cancelled, run to its end; with `--state`, only
/// rows of jobs in that state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_watch_prints_a_row_per_change() {
    let app = spawn_app(AppOptions::default()).await;
    let before = app.run(json!({"kind": "refresh"})).await["id"]
        .as_i64()
        .unwrap();
    let mut all = Following::start(&app, &["jobs", "list", "--watch"]);
    let mut cancelled = Following::start(&app, &["jobs", "list", "-w", "--state", "cancelled"]);
    // The header, then the listing: the watch has begun after these.
    all.until("listing", |l| l.len() >= 2);
    cancelled.until("header", |l| !l.is_empty());
    assert!(all.out.all()[0].starts_with("ID "), "{}", all.out.text());
    assert_eq!(rows_of(&all.out.all(), before), ["succeeded"]);

    let queued = queued_for_an_hour(&app).await;
    all.until("queued row", |l| rows_of(l, queued) == ["queued"]);
    let (status, _) = app
        .post(&format!("/v1/jobs/{queued}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    all.until("cancelled row", |l| {
        rows_of(l, queued) == ["queued", "cancelled"]
    });
    let ran = app.run(json!({"kind": "refresh"})).await["id"]
        .as_i64()
        .unwrap();
    all.until("row of the end", |l| {
        rows_of(l, ran).last().map(String::as_str) == Some("succeeded")
    });
    // Each row a change: no state twice in a row.
    let rows = rows_of(&all.out.all(), ran);
    assert!(rows.windows(2).all(|w| w[0] != w[1]), "{rows:?}");

    // A last cancel: the filtered watch has then read past the run above.
    let last = queued_for_an_hour(&app).await;
    app.post(&format!("/v1/jobs/{last}/cancel"), json!({}))
        .await;
    cancelled.until("row of the last cancel", |l| {
        rows_of(l, last) == ["cancelled"]
    });
    let lines = cancelled.out.all();
    assert_eq!(rows_of(&lines, queued), ["cancelled"], "{lines:#?}");
    assert!(rows_of(&lines, ran).is_empty(), "{lines:#?}");
    assert!(rows_of(&lines, before).is_empty(), "{lines:#?}");
    assert_eq!(all.interrupt(), 0);
    assert_eq!(cancelled.interrupt(), 0);
}

/// `top --once` prints one view: every machine the daemon saw, the jobs per
/// state and the active jobs.
#[tokio::test]
async fn top_once_shows_machines_and_job_counts() {
    let app = spawn_app(AppOptions::default()).await;
    app.run(json!({"kind": "refresh"})).await;
    let queued = queued_for_an_hour(&app).await;
    let out = app.cli(&["top", "--once"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = out.stdout;
    assert!(text.starts_with("machinist top  http://"), "{text}");
    assert!(
        text.contains("queued 1") && text.contains("succeeded 1") && text.contains("failed 0"),
        "{text}"
    );
    for state in ["off", "ready"] {
        for id in app.machines_in(state).await {
            let row = text
                .lines()
                .find(|l| l.starts_with(&id))
                .unwrap_or_else(|| panic!("no row of {id}:\n{text}"));
            assert_eq!(row.split_whitespace().nth(2), Some(state), "{row}");
        }
    }
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&queued.to_string()))
        .unwrap_or_else(|| panic!("no row of job {queued}:\n{text}"));
    assert!(row.contains("refresh") && row.contains("queued"), "{row}");
    // No escapes when stdout is not a terminal.
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

/// `GET /v1/history?after=` answers at once when there is something; with
/// `wait` it blocks until a commit brings an event, or answers nothing when
/// the wait ends; `job_id` filters; `next_after` reads on.
#[tokio::test]
async fn the_history_long_poll() {
    let app = spawn_app(AppOptions::default()).await;
    let first = app.run(json!({"kind": "refresh"})).await;
    let (status, page) = app.get("/v1/history?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let newest = page["next_after"].as_i64().unwrap();
    assert_eq!(page["events"][0]["id"].as_i64(), Some(newest), "{page}");

    // Forward, oldest first, one job's.
    let (_, page) = app
        .get(&format!("/v1/history?after=0&job_id={}", first["id"]))
        .await;
    assert_eq!(page["events"], first["events"], "{page}");
    assert_eq!(page["next_after"].as_i64(), Some(newest));
    assert_eq!(page["next_cursor"], Value::Null);

    // Nothing new: the wait ends with nothing, and `next_after` unchanged.
    let started = Instant::now();
    let (_, page) = app.get(&format!("/v1/history?after={newest}&wait=1")).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "{page}");
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["next_after"].as_i64(), Some(newest));

    // A waiting request answers when a job is submitted, not at its wait's end.
    let started = Instant::now();
    let path = format!("/v1/history?after={newest}&wait=20");
    let (waited, job) = tokio::join!(
        app.get(&path),
        app.submit(json!({"kind": "refresh", "delay_seconds": 3600}))
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, page) = waited;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"][0]["job_id"], job["id"], "{page}");
    assert!(
        page["events"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("submitted")),
        "{page}"
    );
    assert_eq!(
        page["next_after"],
        page["events"].as_array().unwrap().last().unwrap()["id"]
    );
}

/// Bad long-poll parameters are 400s naming the parameter.
#[tokio::test]
async fn bad_long_poll_parameters_are_named() {
    let app = spawn_app(AppOptions::default()).await;
    for (query, field) in [
        ("after=x", "after"),
        ("after=-1", "after"),
        ("after=01", "after"),
        ("after=0&wait=26", "wait"),
        ("after=0&wait=x", "wait"),
        ("wait=1", "wait"),
        ("after=0&cursor=e5", "after"),
        ("job_id=0", "job_id"),
    ] {
        let (status, body) = app.get(&format!("/v1/history?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    // The longest wait is accepted (and, with an event there, not waited).
    app.submit(json!({"kind": "refresh", "delay_seconds": 3600}))
        .await;
    let (status, page) = app.get("/v1/history?after=0&wait=25").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");
}

/// Past the cap on waiting requests, a request answers at once (empty)
/// instead of holding one more of the gate's turns; the one waiting still
/// gets the next event.
#[tokio::test]
async fn waiters_past_the_cap_are_answered_at_once() {
    let app = spawn_app(AppOptions {
        limits: machinist::http::HttpLimits {
            max_waiters: 1,
            ..machinist::http::HttpLimits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let path = "/v1/history?after=0&wait=20";
    let started = Instant::now();
    let (a, b) = (app.get(path), app.get(path));
    tokio::pin!(a, b);
    // One of the two waits; the other, past the cap, answers at once.
    let (first, rest) = tokio::select! {
        answer = &mut a => (answer, b),
        answer = &mut b => (answer, a),
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(first.1["events"], json!([]), "{}", first.1);
    assert_eq!(first.1["next_after"], 0);
    let job = app
        .submit(json!({"kind": "refresh", "delay_seconds": 3600}))
        .await;
    let (status, page) = rest.await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"][0]["job_id"], job["id"], "{page}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// A daemon that stops ends its waiting requests at once (with nothing)
/// rather than waiting for them.
#[tokio::test]
async fn a_wait_ends_when_the_daemon_stops() {
    let mut app = spawn_app(AppOptions {
        limits: machinist::http::HttpLimits {
            max_waiters: 1,
            ..machinist::http::HttpLimits::default()
        },
        ..AppOptions::default()
    })
    .await;
    let started = Instant::now();
    // Sent by hand and spawned: they go on together, and the test takes the
    // daemon out of the app while one of them waits.
    let send = || {
        app.http
            .get(app.at("/v1/history?after=0&wait=20"))
            .bearer_auth(app.token.unwrap())
            .send()
    };
    // Two at once, past the cap of one waiter: one holds the turn and the
    // other is told at once that it is past the cap (`Retry-After`), which
    // shows that the one still out is waiting, whichever got there first
    // and however slow the machine.
    let mut first = tokio::spawn(send());
    let mut second = tokio::spawn(send());
    let (crowded, waiting) = tokio::select! {
        crowded = &mut first => (crowded, second),
        crowded = &mut second => (crowded, first),
    };
    let crowded = crowded.unwrap().unwrap();
    assert_eq!(crowded.status(), StatusCode::OK);
    assert!(
        crowded.headers().contains_key("retry-after"),
        "the request answered first was not past the cap"
    );
    let stopping = Instant::now();
    let stop = app.daemon.take().unwrap().stop();
    let (_, answer) = tokio::join!(stop, waiting);
    assert!(stopping.elapsed() < Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(15));
    let answer = answer.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let page: Value = answer.json().await.unwrap();
    assert_eq!(page["events"], json!([]));
}
