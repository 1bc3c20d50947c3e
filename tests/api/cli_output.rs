//! Issue 18's output conventions, through the real binary: `-o json` is
//! `--json`, `-o yaml` carries the same answer, `-o wide` adds columns,
//! colour only where asked for, ages next to times, a job's result on
//! indented lines, seconds for a cron with a seconds field, `-w` for
//! `--wait`.

use serde_json::Value;

use crate::harness::{AppOptions, TestApp, spawn_app};

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

/// Runs the CLI with `env` set; its stdout, after checking it exited 0.
async fn ok_with(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = app.cli_command(args);
    command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().await.unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// An app and one of its simulated account's running machines.
async fn app_and_machine() -> (TestApp, String) {
    let app = spawn_app(AppOptions::default()).await;
    let machine = app.machines_in("ready").await.remove(0);
    (app, machine)
}

/// A few jobs, one finished with a machine for its result, and a schedule
/// whose cron has a seconds field.
async fn app_with_jobs() -> TestApp {
    let (app, machine) = app_and_machine().await;
    let shown = ok(&app, &["jobs", "submit", "show", &machine, "-w"]).await;
    assert!(shown.contains("job 1 succeeded"), "{shown}");
    ok(
        &app,
        &["jobs", "submit", "start", &machine, "--delay", "1h"],
    )
    .await;
    ok(
        &app,
        &[
            "schedules",
            "add",
            "halfminute",
            "--cron",
            "30 0 9 * * *",
            "--timezone",
            "Europe/Amsterdam",
            "--kind",
            "refresh",
        ],
    )
    .await;
    // The daemon's list of machines, for `machines`.
    ok(&app, &["jobs", "submit", "refresh", "-w"]).await;
    app
}

/// For each command: `-o json` prints what `--json` prints, and `-o yaml`
/// parses (with the crate the CLI writes it with) to the same value.
#[tokio::test]
async fn json_and_yaml_print_the_same_answer_as_json() {
    let app = app_with_jobs().await;
    for command in [
        &["jobs", "list"][..],
        &["jobs", "show", "1"],
        &["machines"],
        &["schedules", "list"],
        &["schedules", "show", "halfminute"],
    ] {
        let with = |flags: &[&'static str]| {
            let mut args = command.to_vec();
            args.extend_from_slice(flags);
            args
        };
        let json = ok(&app, &with(&["--json"])).await;
        assert_eq!(ok(&app, &with(&["-o", "json"])).await, json, "{command:?}");
        assert_eq!(
            ok(&app, &with(&["--output", "json"])).await,
            json,
            "{command:?}"
        );
        let json: Value = serde_json::from_str(&json).unwrap();
        let yaml = ok(&app, &with(&["-o", "yaml"])).await;
        let from_yaml: Value = serde_norway::from_str(&yaml)
            .unwrap_or_else(|e| panic!("{command:?}: not YAML ({e}):\n{yaml}"));
        assert_eq!(from_yaml, json, "{command:?}:\n{yaml}");
    }
    // The two spellings of json do not go together with another format.
    app.cli_fails(&["jobs", "list", "--json", "-o", "yaml"], 2)
        .await;
}

/// `-o wide` adds columns to the lists; the plain table stays as it was.
#[tokio::test]
async fn wide_adds_columns() {
    let app = app_with_jobs().await;
    let header = |text: &str| text.lines().next().unwrap_or_default().to_string();
    let jobs = header(&ok(&app, &["jobs", "list"]).await);
    let wide = header(&ok(&app, &["jobs", "list", "-o", "wide"]).await);
    for column in ["PRIORITY", "CREATED", "IDEMPOTENCY KEY"] {
        assert!(!jobs.contains(column), "{jobs}");
        assert!(wide.contains(column), "{wide}");
    }
    let machines = header(&ok(&app, &["machines", "-o", "wide"]).await);
    for column in ["PUBLIC IP", "CPUS", "RAM", "GPU"] {
        assert!(machines.contains(column), "{machines}");
    }
    assert!(!header(&ok(&app, &["machines"]).await).contains("PUBLIC IP"));
    let schedules = header(&ok(&app, &["schedules", "list", "-o", "wide"]).await);
    for column in ["ARGS", "JITTER", "EXCLUSIONS"] {
        assert!(schedules.contains(column), "{schedules}");
    }
    // Where there is no table, wide is the table's output.
    assert_eq!(
        ok(&app, &["jobs", "show", "1", "-o", "wide"])
            .await
            .lines()
            .next(),
        ok(&app, &["jobs", "show", "1"]).await.lines().next()
    );
}

/// No colour codes for a pipe (the tests' stdout) nor with NO_COLOR; the
/// state's colour with CLICOLOR_FORCE, unless NO_COLOR says otherwise.
#[tokio::test]
async fn colour_only_when_asked_for() {
    let app = app_with_jobs().await;
    for args in [&["jobs", "list"][..], &["jobs", "show", "1"], &["machines"]] {
        let plain = ok_with(&app, &[], args).await;
        assert!(!plain.contains('\u{1b}'), "{args:?}: {plain}");
        let forced = ok_with(&app, &[("CLICOLOR_FORCE", "1")], args).await;
        assert!(forced.contains("\u{1b}["), "{args:?}: {forced}");
        let refused = ok_with(&app, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], args).await;
        assert!(!refused.contains('\u{1b}'), "{args:?}: {refused}");
        // Without its codes, the text is the plain one, but for the ages:
        // a second may have passed between the two runs.
        let same = |text: &str| {
            text.split_whitespace()
                .filter(|w| !w.starts_with('(') && !w.ends_with(')'))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(same(&without_colour(&forced)), same(&plain), "{args:?}");
    }
    let forced = ok_with(&app, &[("CLICOLOR_FORCE", "1")], &["jobs", "list"]).await;
    assert!(forced.contains("\u{1b}[32msucceeded\u{1b}[0m"), "{forced}");
    // The colour takes no width: the column after the state's starts where
    // its header does on every line.
    let table = without_colour(&forced);
    let after = table.lines().next().unwrap().find("AFTER").unwrap();
    for line in table.lines() {
        assert_eq!(&line[after - 2..after], "  ", "{table}");
        assert_ne!(&line[after..=after], " ", "{table}");
    }
}

/// `text` without its SGR codes (`ESC [ … m`).
fn without_colour(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        out.push_str(&rest[..at]);
        let code = &rest[at..];
        rest = &code[code.find('m').map_or(code.len(), |m| m + 1)..];
    }
    out.push_str(rest);
    out
}

/// Times in the tables carry their age: a finished job's `… ago`, a
/// delayed one's `in …`, a machine's last sighting, a schedule's next
/// firing.
#[tokio::test]
async fn tables_show_ages_next_to_times() {
    let app = app_with_jobs().await;
    let jobs = ok(&app, &["jobs", "list"]).await;
    let delayed = jobs.lines().find(|l| l.starts_with("2 ")).unwrap();
    assert!(
        delayed.contains("(in 59m)") || delayed.contains("(in 1h)"),
        "{jobs}"
    );
    let done = jobs.lines().find(|l| l.starts_with("1 ")).unwrap();
    assert!(done.contains(" ago)") || done.contains("(now)"), "{jobs}");
    let machines = ok(&app, &["machines"]).await;
    assert!(
        machines.contains(" ago)") || machines.contains("(now)"),
        "{machines}"
    );
    let schedules = ok(&app, &["schedules", "list"]).await;
    assert!(schedules.contains("(in "), "{schedules}");
    let show = ok(&app, &["jobs", "show", "2"]).await;
    assert!(
        show.contains("(in 59m)") || show.contains("(in 1h)"),
        "{show}"
    );
}

/// A result with fields prints as indented lines under `result:`, in
/// `jobs show` and at the end of `--wait` (a machine there as the fields
/// one looks for); never as one line of JSON.
#[tokio::test]
async fn results_print_on_indented_lines() {
    let (app, machine) = app_and_machine().await;
    let waited = ok(&app, &["jobs", "submit", "show", &machine, "--wait"]).await;
    let summary = waited.split("result:\n").nth(1).unwrap_or_default();
    assert!(
        summary.starts_with(&format!("  machine    {machine} (")),
        "{waited}"
    );
    assert!(summary.contains("\n  state      ready\n"), "{waited}");
    assert!(
        summary.contains("(every field: machinist jobs show 1)"),
        "{waited}"
    );
    let refreshed = ok(&app, &["jobs", "submit", "refresh", "--wait"]).await;
    assert!(
        refreshed.contains("\nresult:\n  by_state:\n    "),
        "{refreshed}"
    );
    assert!(!refreshed.contains("{\""), "one line of JSON:\n{refreshed}");
    let text = ok(&app, &["jobs", "show", "1"]).await;
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "result:")
        .unwrap_or_else(|| panic!("no `result:` line:\n{text}"));
    let fields: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .copied()
        .collect();
    assert!(
        fields.contains(&format!("  id: {machine}").as_str()),
        "{text}"
    );
    assert!(fields.iter().any(|l| l.starts_with("  state: ")), "{text}");
    assert!(fields.len() > 5, "{text}");
    assert!(!text.contains("{\""), "one line of JSON:\n{text}");
}

/// A cron with a seconds field shows its times to the second: in the list,
/// the detail, the preview of the schedule and of the bare expression.
#[tokio::test]
async fn a_cron_with_seconds_shows_seconds() {
    let app = app_with_jobs().await;
    let list = ok(&app, &["schedules", "list"]).await;
    assert!(list.contains(" 09:00:30 CE"), "{list}");
    let show = ok(&app, &["schedules", "show", "halfminute"]).await;
    assert!(show.contains(" 09:00:30 CE"), "{show}");
    let preview = ok(&app, &["schedules", "preview", "halfminute"]).await;
    assert!(
        preview.lines().all(|l| l.contains(" 09:00:30 CE")),
        "{preview}"
    );
    let draft = ok(
        &app,
        &[
            "schedules",
            "preview",
            "--cron",
            "15 30 6 * * *",
            "--timezone",
            "UTC",
        ],
    )
    .await;
    assert!(
        draft.lines().all(|l| l.contains(" 06:30:15 UTC")),
        "{draft}"
    );
    // Five fields: to the minute, as before.
    ok(
        &app,
        &[
            "schedules",
            "add",
            "minute",
            "--cron",
            "0 9 * * *",
            "--timezone",
            "UTC",
            "--kind",
            "refresh",
        ],
    )
    .await;
    let list = ok(&app, &["schedules", "list"]).await;
    let minute = list.lines().find(|l| l.contains(" minute ")).unwrap();
    assert!(minute.contains(" 09:00 UTC"), "{list}");
}

/// `-w` is `--wait`: the job is followed to its end and the exit code is
/// its outcome; with `-o yaml` only the finished job is printed, as YAML.
#[tokio::test]
async fn w_waits_like_wait() {
    let (app, machine) = app_and_machine().await;
    let waited = ok(&app, &["jobs", "submit", "show", &machine, "-w"]).await;
    assert!(waited.contains("job 1 succeeded"), "{waited}");
    let failed = app.cli(&["jobs", "submit", "show", "psnosuch", "-w"]).await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("job 2 failed"), "{}", failed.stderr);
    let yaml = ok(
        &app,
        &["jobs", "submit", "show", &machine, "-w", "-o", "yaml"],
    )
    .await;
    let job: Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(job["state"], "succeeded", "{yaml}");
    assert_eq!(job["result"]["id"], machine.as_str(), "{yaml}");
    assert!(job["events"].as_array().is_some_and(|e| !e.is_empty()));
}
