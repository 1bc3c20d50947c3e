//! `machinist jobs submit --after`, `jobs submit --group`, `jobs batch` and
//! `machinist groups` against a running daemon: the real binary, the
//! daemon's routes and store, its workers on the simulated account. What a
//! test checks is what a person or a script reads: the lines and tables,
//! the `--json`, the exit codes.
//!
//! The batch, group and group-run routes come with the HTTP side of issue
//! 17: `groups_from_add_to_remove`, `a_group_starts_stage_by_stage`,
//! `a_failed_run_says_where_and_resumes` and `batches_submit_jobs_that_wait_for_each_other`
//! need them; the others need only `POST /v1/jobs` and the store.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::harness::{AppOptions, Run, TestApp, spawn_app};

/// Runs the CLI; its stdout, after checking it exited 0.
async fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args).await;
    assert_eq!(
        out.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// Runs the CLI expecting exit `code`; its stdout and stderr.
async fn fails(app: &TestApp, args: &[&str], code: i32) -> (String, String) {
    let out = app.cli(args).await;
    assert_eq!(
        out.code, code,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    (out.stdout, out.stderr)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The admin API alone: submitted jobs stay where they are.
async fn router() -> TestApp {
    spawn_app(AppOptions {
        run: Run::Router,
        ..AppOptions::default()
    })
    .await
}

#[tokio::test]
async fn jobs_wait_for_others_with_after() {
    let app = router().await;
    let first = ok(&app, &["jobs", "submit", "show", "ps123abc"]).await;
    assert_eq!(first, "job 1 submitted: show ps123abc (queued)\n");

    let one = ok(
        &app,
        &["jobs", "submit", "show", "ps123abc", "--after", "1"],
    )
    .await;
    assert_eq!(
        one,
        "job 2 submitted: show ps123abc (blocked: waits for job 1)\n"
    );
    // A comma list and a repeated flag; the repeat of 1 counts once.
    let many = ok(
        &app,
        &[
            "jobs",
            "submit",
            "show",
            "ps456def",
            "--after",
            "1,2",
            "--after",
            "1",
            "--on-dependency-failure",
            "run",
        ],
    )
    .await;
    assert_eq!(
        many,
        "job 3 submitted: show ps456def (blocked: waits for jobs 1, 2)\n"
    );
    let job = json(&ok(&app, &["jobs", "show", "3", "--json"]).await);
    assert_eq!(job["state"], "blocked");
    assert_eq!(job["depends_on"], json!([1, 2]));
    assert_eq!(job["on_dependency_failure"], "run");

    let shown = ok(&app, &["jobs", "show", "3"]).await;
    assert!(
        shown.contains("state       blocked\n"),
        "the state is blocked: {shown}"
    );
    assert!(
        shown.contains("depends on  jobs 1, 2 (if one fails or is cancelled: run)\n"),
        "{shown}"
    );

    // The list has the dependencies in a column; --state blocked filters.
    let list = ok(&app, &["jobs", "list", "--state", "blocked"]).await;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0][..6],
        ["ID", "KIND", "MACHINE", "STATE", "AFTER", "ATTEMPT"],
        "{list}"
    );
    assert_eq!(rows.len(), 3, "{list}");
    assert_eq!(rows[1][..5], ["3", "show", "ps456def", "blocked", "1,2"]);
    assert_eq!(rows[2][..5], ["2", "show", "ps123abc", "blocked", "1"]);
    let all = ok(&app, &["jobs", "list"]).await;
    assert!(
        all.lines()
            .any(|l| l.starts_with("1 ") && l.contains(" - ")),
        "a job without dependencies shows `-`: {all}"
    );

    // Job 1 cancelled: job 2 is cancelled with it, job 3 runs anyway
    // once both have finished.
    ok(&app, &["jobs", "cancel", "1"]).await;
    let two = json(&ok(&app, &["jobs", "show", "2", "--json"]).await);
    assert_eq!(two["state"], "cancelled", "{two}");
    let three = json(&ok(&app, &["jobs", "show", "3", "--json"]).await);
    assert_eq!(three["state"], "queued", "{three}");
}

#[tokio::test]
async fn mistakes_are_usage_errors() {
    let app = router().await;
    // Flags that do not go together: exit 2, nothing sent.
    for (args, says) in [
        (
            &["jobs", "submit", "start", "psA", "--group", "shop"][..],
            "--group",
        ),
        (
            &["jobs", "submit", "start", "--group", "shop", "--after", "1"],
            "--after",
        ),
        (
            &[
                "jobs",
                "submit",
                "start",
                "--group",
                "shop",
                "--priority",
                "5",
            ],
            "--priority",
        ),
        (
            &[
                "jobs",
                "submit",
                "show",
                "psA",
                "--on-dependency-failure",
                "run",
            ],
            "--after",
        ),
        (
            &[
                "jobs",
                "submit",
                "show",
                "psA",
                "--on-dependency-failure",
                "skip",
            ],
            "skip",
        ),
        (&["jobs", "submit", "show", "psA", "--after", "0"], "0"),
        (&["jobs", "submit", "show", "psA", "--after", "x"], "x"),
        (&["groups", "add", "shop"], "--stage"),
        (&["groups", "add", "shop", "--stage", "db"], "NAME=MACHINES"),
        (
            &["groups", "add", "shop", "--stage", "=psA"],
            "no stage name",
        ),
        (&["groups", "add", "shop", "--stage", "web=name:"], "glob"),
        (&["groups", "update", "shop"], "--stage"),
        (&["groups", "run", "0"], "0"),
        (&["groups", "run", "x"], "x"),
    ] {
        let (_, stderr) = fails(&app, args, 2).await;
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Checked by the CLI before anything is sent: also exit 2.
    let (_, stderr) = fails(&app, &["jobs", "submit", "show", "--group", "shop"], 2).await;
    assert_eq!(
        stderr,
        "error: --group runs start, stop or restart; `show` acts on one machine at a time: \
         give its MACHINE instead of --group\n"
    );
    let (_, stderr) = fails(
        &app,
        &[
            "jobs",
            "submit",
            "stop",
            "--group",
            "shop",
            "--wait-for",
            "off",
        ],
        2,
    )
    .await;
    assert!(stderr.starts_with("error: --wait-for `off`"), "{stderr}");
    assert_eq!(app.job_count().await, 0, "nothing was submitted");

    // What the user typed is escaped in what is printed back.
    let (_, stderr) = fails(
        &app,
        &["groups", "add", "shop", "--stage", "db\u{1b}[2J"],
        2,
    )
    .await;
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let (_, stderr) = fails(&app, &["jobs", "batch", "/nonexistent/batch.json"], 1).await;
    assert!(
        stderr.starts_with("error: cannot read the batch file /nonexistent/batch.json"),
        "{stderr}"
    );
}

#[tokio::test]
async fn groups_from_add_to_remove() {
    let app = router().await;
    let none = ok(&app, &["groups", "list"]).await;
    assert!(none.starts_with("no groups"), "{none}");

    let added = ok(
        &app,
        &[
            "groups",
            "add",
            "shop",
            "--stage",
            "db=psA",
            "--stage",
            "app=psB,psC",
            "--stage",
            "web=name:web-*",
        ],
    )
    .await;
    assert_eq!(
        added,
        "group shop added\n\
         stages (start order; a stop goes in reverse):\n  \
         1. db: psA\n  \
         2. app: psB, psC\n  \
         3. web: machines matching name:web-*\n"
    );
    let list = ok(&app, &["groups", "list"]).await;
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("NAME  STAGES"), "{list}");
    assert!(
        lines[1].starts_with("shop  db(1) → app(2) → web(name:web-*)  "),
        "{list}"
    );
    let listed = json(&ok(&app, &["groups", "list", "--json"]).await);
    assert_eq!(listed["groups"][0]["name"], "shop");
    assert_eq!(
        listed["groups"][0]["stages"][2]["selector"],
        json!({"name": "web-*"})
    );

    let shown = ok(&app, &["groups", "show", "shop"]).await;
    assert!(shown.starts_with("group    shop\n"), "{shown}");
    assert!(shown.contains("  2. app: psB, psC\n"), "{shown}");
    assert!(
        shown.contains("no runs yet; start one with `machinist jobs submit start --group shop`"),
        "{shown}"
    );

    // Stages given replace them all; a rename.
    let updated = ok(
        &app,
        &[
            "groups", "update", "shop", "--stage", "db=psA", "--stage", "app=psB", "--rename",
            "store",
        ],
    )
    .await;
    assert!(updated.starts_with("group store updated\n"), "{updated}");
    assert!(!updated.contains("web"), "{updated}");
    let shown = json(&ok(&app, &["groups", "show", "store", "--json"]).await);
    assert_eq!(shown["stages"].as_array().unwrap().len(), 2);
    assert_eq!(shown["recent_runs"], json!([]));

    // An unknown group in the CLI's words, exit 1.
    for args in [
        &["groups", "show", "shop"][..],
        &["groups", "remove", "shop"],
        &["groups", "update", "shop", "--rename", "x"],
        &["jobs", "submit", "start", "--group", "shop"],
    ] {
        let (_, stderr) = fails(&app, args, 1).await;
        assert_eq!(
            stderr, "error: there is no group named shop; `machinist groups list` shows them\n",
            "{args:?}"
        );
    }
    let (_, stderr) = fails(&app, &["groups", "run", "99"], 1).await;
    assert_eq!(
        stderr,
        "error: there is no group run 99; `machinist groups runs` lists them\n"
    );
    // The daemon's own checks, with the field to blame.
    let (_, stderr) = fails(&app, &["groups", "add", "a b", "--stage", "db=psA"], 1).await;
    assert!(stderr.contains("(field: name)"), "{stderr}");

    let removed = ok(&app, &["groups", "remove", "store"]).await;
    assert_eq!(removed, "group store removed\n");
    assert!(ok(&app, &["groups", "list"]).await.starts_with("no groups"));
}

/// A group of three stages, one seeded machine each, that are off.
async fn shop(app: &TestApp) -> [String; 3] {
    let off = app.machines_in("off").await;
    assert!(off.len() >= 3, "{off:?}");
    let ids = [off[0].clone(), off[1].clone(), off[2].clone()];
    ok(
        app,
        &[
            "groups",
            "add",
            "shop",
            "--stage",
            &format!("db={}", ids[0]),
            "--stage",
            &format!("app={}", ids[1]),
            "--stage",
            &format!("web={}", ids[2]),
        ],
    )
    .await;
    ids
}

#[tokio::test]
async fn a_group_starts_stage_by_stage() {
    let app = spawn_app(AppOptions::default()).await;
    let [a, b, c] = shop(&app).await;

    let started = ok(&app, &["jobs", "submit", "start", "--group", "shop"]).await;
    assert_eq!(
        started,
        format!(
            "group run 1 started: start db ({a}) → start app ({b}) → start web ({c})\n\
             follow it: machinist groups run 1 --follow\n"
        )
    );
    let followed = app.cli(&["groups", "run", "1", "--follow"]).await;
    assert_eq!(followed.code, 0, "{}\n{}", followed.stdout, followed.stderr);
    let out = &followed.stdout;
    assert!(out.starts_with("group run 1: start shop, "), "{out}");
    let run = json(&ok(&app, &["groups", "run", "1", "--json"]).await);
    let job_of = |step: usize| run["progress"][step]["jobs"][0]["job_id"].as_i64().unwrap();
    for (i, line) in [
        format!("1. start db: succeeded — {a} job {} succeeded\n", job_of(0)),
        format!(
            "2. start app: succeeded — {b} job {} succeeded\n",
            job_of(1)
        ),
        format!(
            "3. start web: succeeded — {c} job {} succeeded\n",
            job_of(2)
        ),
    ]
    .iter()
    .enumerate()
    {
        assert!(out.contains(line), "step {i}: {line}in\n{out}");
    }
    assert!(
        out.ends_with("group run 1 succeeded: 3 of 3 steps done\n"),
        "{out}"
    );
    assert!(followed.stderr.contains("Ctrl-C stops following"));

    // The jobs of a run name it.
    let job = ok(&app, &["jobs", "show", &job_of(1).to_string()]).await;
    assert!(
        job.contains("group run   1, step 2 (machinist groups run 1)\n"),
        "{job}"
    );
    assert!(
        job.contains(&format!(
            "depends on  job {} (if one fails or is cancelled: cancel)\n",
            job_of(0)
        )),
        "{job}"
    );

    // Stopped in reverse, followed to the end by --wait: exit 0.
    let stopped = ok(
        &app,
        &["jobs", "submit", "stop", "--group", "shop", "--wait"],
    )
    .await;
    assert!(
        stopped.starts_with(&format!(
            "group run 2 started: stop web ({c}) → stop app ({b}) → stop db ({a})\n"
        )),
        "{stopped}"
    );
    assert!(
        stopped.ends_with("group run 2 succeeded: 3 of 3 steps done\n"),
        "{stopped}"
    );
    let run = json(&ok(&app, &["groups", "run", "2", "--json"]).await);
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["action"], "stop");
    assert_eq!(run["steps_done"], 3);

    // A restart with the wait for services, for a script.
    let restarted = json(
        &ok(
            &app,
            &[
                "jobs",
                "submit",
                "restart",
                "--group",
                "shop",
                "--wait-for",
                "serviceready",
                "--wait",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(restarted["state"], "succeeded");
    assert_eq!(restarted["wait"], "serviceready");
    assert_eq!(restarted["progress"].as_array().unwrap().len(), 6);

    // Listed, newest first; and in the group's recent runs.
    let runs = ok(&app, &["groups", "runs", "shop"]).await;
    let rows: Vec<Vec<&str>> = runs
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "ID", "GROUP", "ACTION", "STATE", "STEPS", "CREATED", "FAILURE"
        ],
        "{runs}"
    );
    assert_eq!(rows[1][..5], ["3", "shop", "restart", "succeeded", "6/6"]);
    assert_eq!(rows[3][..5], ["1", "shop", "start", "succeeded", "3/3"]);
    let page = json(&ok(&app, &["groups", "runs", "--limit", "1", "--json"]).await);
    assert_eq!(page["runs"][0]["id"], 3);
    assert!(page["next_cursor"].is_string(), "{page}");
    let shown = ok(&app, &["groups", "show", "shop"]).await;
    assert!(shown.contains("recent runs:\n  ID"), "{shown}");
}

#[tokio::test]
async fn a_failed_run_says_where_and_resumes() {
    let app = spawn_app(AppOptions::default()).await;
    let off = app.machines_in("off").await;
    // The second stage names a machine the account does not have: its
    // start fails, the last stage is not run.
    ok(
        &app,
        &[
            "groups",
            "add",
            "shop",
            "--stage",
            &format!("db={}", off[0]),
            "--stage",
            &format!("app={},psnothere1", off[1]),
            "--stage",
            &format!("web={}", off[2]),
        ],
    )
    .await;
    let (stdout, stderr) = fails(
        &app,
        &["jobs", "submit", "start", "--group", "shop", "--wait"],
        1,
    )
    .await;
    assert!(stdout.starts_with("group run 1 started: "), "{stdout}");
    assert!(
        stdout.contains("3. start web: cancelled — "),
        "the last step is not run: {stdout}"
    );
    assert!(
        stderr.contains("error: group run 1 failed at step 2 (start app): psnothere1, job "),
        "{stderr}"
    );
    assert!(
        stderr.contains("`machinist groups run 1 --resume`"),
        "{stderr}"
    );

    // Shown: exit 0, the failure and the hint.
    let shown = ok(&app, &["groups", "run", "1"]).await;
    assert!(
        shown.contains("state        failed, 1 of 3 steps done\n"),
        "{shown}"
    );
    assert!(
        shown.contains("failed at step 2 (start app): psnothere1, job "),
        "{shown}"
    );
    assert!(shown.contains("machinist groups run 1 --resume"), "{shown}");
    let runs = ok(&app, &["groups", "runs"]).await;
    assert!(runs.lines().nth(1).unwrap().contains(" failed "), "{runs}");

    // Resumed: the failed step again (it fails again: the machine is
    // still not there), followed to its end.
    let (stdout, stderr) = fails(&app, &["groups", "run", "1", "--resume", "--follow"], 1).await;
    assert!(
        stdout.starts_with("group run 1 resumed (resume 1)\n"),
        "{stdout}"
    );
    assert!(stderr.contains("failed at step 2"), "{stderr}");

    // A run that succeeded has nothing to resume: the daemon's 409, exit 1.
    let ok_group = app.machines_in("off").await;
    ok(
        &app,
        &[
            "groups",
            "add",
            "one",
            "--stage",
            &format!("only={}", ok_group[0]),
        ],
    )
    .await;
    let done = json(
        &ok(
            &app,
            &[
                "jobs", "submit", "start", "--group", "one", "--wait", "--json",
            ],
        )
        .await,
    );
    assert_eq!(done["state"], "succeeded");
    let id = done["id"].to_string();
    let (_, stderr) = fails(&app, &["groups", "run", &id, "--resume"], 1).await;
    assert!(stderr.contains("nothing to resume"), "{stderr}");
}

#[tokio::test]
async fn batches_submit_jobs_that_wait_for_each_other() {
    let app = router().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.json");
    std::fs::write(
        &file,
        json!({"jobs": [
            {"kind": "show", "machine_id": "psB", "ref": "app", "depends_on": ["db"]},
            {"kind": "show", "machine_id": "psA", "ref": "db"},
            {"kind": "refresh"},
        ]})
        .to_string(),
    )
    .unwrap();
    let out = ok(&app, &["jobs", "batch", file.to_str().unwrap()]).await;
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["3", "jobs", "submitted"], "{out}");
    assert_eq!(
        rows[1],
        ["ID", "REF", "KIND", "MACHINE", "STATE", "DEPENDS", "ON"]
    );
    // In file order; each job stored after what it depends on.
    let (app_id, db_id) = (rows[2][0], rows[3][0]);
    assert_eq!(rows[2][1..], ["app", "show", "psB", "blocked", db_id]);
    assert_eq!(rows[3][1..], ["db", "show", "psA", "queued", "-"]);
    assert_eq!(rows[4][1..], ["-", "refresh", "-", "queued", "-"]);
    assert!(app_id.parse::<i64>().unwrap() > db_id.parse::<i64>().unwrap());

    // From standard input, for a script.
    let mut child = app
        .cli_command(&["jobs", "batch", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(br#"{"jobs":[{"kind":"show","machine_id":"psC","ref":"c"}]}"#)
        .await
        .unwrap();
    drop(stdin);
    let done = child.wait_with_output().await.unwrap();
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    let created = json(&String::from_utf8_lossy(&done.stdout));
    assert_eq!(created["jobs"][0]["machine_id"], "psC");
    assert_eq!(created["refs"]["c"], created["jobs"][0]["id"]);

    // A cycle: refused, nothing stored, exit 1.
    std::fs::write(
        &file,
        json!({"jobs": [
            {"kind": "show", "machine_id": "psA", "ref": "a", "depends_on": ["b"]},
            {"kind": "show", "machine_id": "psB", "ref": "b", "depends_on": ["a"]},
        ]})
        .to_string(),
    )
    .unwrap();
    let before = app.job_count().await;
    let (_, stderr) = fails(&app, &["jobs", "batch", file.to_str().unwrap()], 1).await;
    assert!(
        stderr.contains("a → b → a") || stderr.contains("b → a → b"),
        "{stderr}"
    );
    assert_eq!(app.job_count().await, before);

    // Not a batch at all: said before anything is sent.
    std::fs::write(&file, "[1, 2]").unwrap();
    let (_, stderr) = fails(&app, &["jobs", "batch", file.to_str().unwrap()], 1).await;
    assert!(
        stderr.contains("is not a batch: give {\"jobs\":["),
        "{stderr}"
    );
}
