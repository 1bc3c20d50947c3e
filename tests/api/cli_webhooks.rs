//! `machinist webhooks` against a running daemon: the real binary, the
//! daemon's webhook routes and store, and a receiver in this process (the
//! harness's [`AppOptions::receivers`] lets deliveries reach loopback).
//! What a test checks is what a person or a script reads: the tables and
//! lines, the `--json`, the exit codes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use machinist::store::Publication;
use machinist::webhook::{EndpointSource, EndpointSpec, Event, EventType, Secret, Subject};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::receiver::{Receiver, Script};
use crate::harness::{AppOptions, TestApp, spawn_app, until_committed};

async fn app_with(endpoints: Vec<(EndpointSpec, Secret)>) -> TestApp {
    spawn_app(AppOptions {
        webhooks: AppOptions::receivers(),
        webhook_endpoints: endpoints,
        ..AppOptions::default()
    })
    .await
}

/// Runs the CLI; its stdout, after checking it exited with `code`.
async fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args).await;
    assert_eq!(
        out.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The `secret: whsec_…` line of `add` or `rotate-secret`.
fn secret_in(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no secret line: {stdout}"))
        .to_string()
}

/// True when `s` holds a character that would act on a terminal.
fn raw_controls(s: &str) -> bool {
    s.chars()
        .any(|c| c != '\n' && machinist::text::is_refused(c))
}

/// The Standard Webhooks signature, computed here with `hmac` and `sha2`:
/// base64(HMAC-SHA256(key, "id.timestamp.body")), key = base64 after `whsec_`.
fn signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn endpoints_from_add_to_remove() {
    let receiver = Receiver::start().await;
    let app = app_with(Vec::new()).await;

    let none = ok(&app, &["webhooks", "list"]).await;
    assert!(none.contains("no webhook endpoints"), "{none}");

    // The catalogue, for people and for scripts.
    let events = ok(&app, &["webhooks", "events"]).await;
    let row = |t: &str| {
        events
            .lines()
            .find(|l| l.starts_with(&format!("{t} ")))
            .unwrap_or_else(|| panic!("no {t}: {events}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert!(events.starts_with("TYPE"), "{events}");
    assert_eq!(row("job.failed"), "default");
    assert_eq!(row("job.succeeded"), "opt-in");
    assert_eq!(row("digest.weekly"), "opt-in");
    let catalogue = json(&ok(&app, &["webhooks", "events", "--json"]).await);
    let types: Vec<&str> = catalogue["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"machine.left_running") && !types.contains(&"ping"));

    // Added with a comma list and a repeated flag; the secret shown once.
    let added = ok(
        &app,
        &[
            "webhooks",
            "add",
            &receiver.url,
            "--name",
            "ops",
            "--events",
            "job.failed,machine.left_running",
            "--events",
            "job.succeeded",
            "--machine",
            "ps1",
        ],
    )
    .await;
    assert!(
        added.starts_with(&format!(
            "webhook endpoint 1 (ops) added: {} (standard)\n\
             events: job.failed, machine.left_running, job.succeeded\n",
            receiver.url
        )),
        "{added}"
    );
    let secret = secret_in(&added);
    assert!(secret.starts_with("whsec_"), "{added}");
    assert!(added.contains("will not show it again"), "{added}");
    assert!(added.contains("Standard Webhooks"), "{added}");

    // A Slack endpoint, for a script: the defaults, the secret in the JSON.
    let slack_url = "https://hooks.slack.com/services/T0/B0/SECRETPART";
    let slack = json(
        &ok(
            &app,
            &["webhooks", "add", slack_url, "--format", "slack", "--json"],
        )
        .await,
    );
    assert_eq!(slack["endpoint"]["id"], 2);
    assert_eq!(slack["endpoint"]["format"], "slack");
    assert_eq!(
        slack["endpoint"]["events"],
        json!(EventType::defaults()),
        "no --events: the defaults"
    );
    assert!(slack["secret"].as_str().unwrap().starts_with("whsec_"));

    // The list redacts URLs (a Slack URL's path is its secret); the JSON
    // and `show` have them whole. Secrets are never listed again.
    let list = ok(&app, &["webhooks", "list"]).await;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["ID", "NAME", "FORMAT", "EVENTS", "STATUS", "URL"],
        "{list}"
    );
    assert_eq!(
        &rows[1][..6],
        ["1", "ops", "standard", "3", "types", "active"]
    );
    assert!(rows[1][6].starts_with("http://127.0.0.1:"), "{list}");
    assert_eq!(
        rows[2],
        [
            "2",
            "-",
            "slack",
            "defaults",
            "active",
            "https://hooks.slack.com/services/…"
        ]
    );
    assert!(
        !list.contains("SECRETPART") && !list.contains("whsec_"),
        "{list}"
    );
    let listed = json(&ok(&app, &["webhooks", "list", "--json"]).await);
    assert_eq!(listed["webhooks"][1]["url"], slack_url);
    assert!(!listed.to_string().contains("whsec_"));
    let shown = ok(&app, &["webhooks", "show", "2"]).await;
    assert!(
        shown.contains(&format!("url              {slack_url}")),
        "{shown}"
    );
    assert!(shown.contains("status           active"), "{shown}");
    let shown = ok(&app, &["webhooks", "show", "1"]).await;
    assert!(
        shown.contains("events           job.failed, machine.left_running, job.succeeded"),
        "{shown}"
    );
    assert!(shown.contains("machines         ps1"), "{shown}");
    assert!(shown.contains("source           api"), "{shown}");

    // Paused and resumed.
    let paused = ok(&app, &["webhooks", "pause", "1"]).await;
    assert_eq!(
        paused,
        "webhook endpoint 1 (ops) paused: no new deliveries until resumed\n"
    );
    let list = ok(&app, &["webhooks", "list"]).await;
    assert!(list.lines().nth(1).unwrap().contains(" paused "), "{list}");
    assert!(
        ok(&app, &["webhooks", "show", "1"])
            .await
            .contains("paused;")
    );
    let resumed = json(&ok(&app, &["webhooks", "resume", "1", "--json"]).await);
    assert_eq!(resumed["paused"], false);

    // A test ping, signed with the secret `add` printed.
    let tested = ok(&app, &["webhooks", "test", "1"]).await;
    assert!(
        tested.starts_with("delivered to http://127.0.0.1:") && tested.contains(": HTTP 200 in "),
        "{tested}"
    );
    assert!(tested.ends_with("answer:\n  thanks\n"), "{tested}");
    let ping = receiver.event("ping").await;
    assert_eq!(
        ping.header("webhook-signature"),
        signature(
            &secret,
            ping.header("webhook-id"),
            ping.header("webhook-timestamp"),
            &ping.body
        )
    );
    // Not delivered: exit 1, with the status and the receiver's answer.
    receiver.then(Script::Status(500, vec![]));
    let failed = app.cli(&["webhooks", "test", "1"]).await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stdout.starts_with("not delivered to ") && failed.stdout.contains("HTTP 500"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("scripted answer"),
        "{}",
        failed.stdout
    );
    receiver.then(Script::Status(503, vec![]));
    let failed = app.cli(&["webhooks", "test", "1", "--json"]).await;
    assert_eq!(failed.code, 1);
    let failed = json(&failed.stdout);
    assert_eq!(failed["delivered"], false);
    assert_eq!(failed["status"], 503);

    // Pings go outside the queue: no deliveries yet.
    let empty = ok(&app, &["webhooks", "deliveries", "1"]).await;
    assert_eq!(empty, "no deliveries to webhook endpoint 1\n");
    let empty = json(&ok(&app, &["webhooks", "deliveries", "1", "--json"]).await);
    assert_eq!(empty, json!({"deliveries": [], "next_before": null}));

    // A new secret, shown once; the old one still signs for a while.
    let rotated = ok(&app, &["webhooks", "rotate-secret", "1"]).await;
    let new_secret = secret_in(&rotated);
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated.contains("signed with both secrets"), "{rotated}");
    let shown = ok(&app, &["webhooks", "show", "1"]).await;
    assert!(
        shown.contains("previous secret  signs too until "),
        "{shown}"
    );

    // Removed.
    let removed = ok(&app, &["webhooks", "remove", "2"]).await;
    assert_eq!(removed, "webhook endpoint 2 removed\n");
    let removed = json(&ok(&app, &["webhooks", "rm", "1", "--json"]).await);
    assert_eq!(removed, json!({"id": 1, "removed": true}));
    assert!(
        ok(&app, &["webhooks", "list"])
            .await
            .contains("no webhook endpoints")
    );
}

#[tokio::test]
async fn mistakes_are_said_in_the_cli_words() {
    let app = app_with(Vec::new()).await;
    let url = "https://hooks.example.com/x";
    ok(&app, &["webhooks", "add", url, "--name", "ops"]).await;

    // An unknown id: exit 1, and where to look.
    for args in [
        &["webhooks", "show", "99"][..],
        &["webhooks", "remove", "99"],
        &["webhooks", "pause", "99"],
        &["webhooks", "resume", "99"],
        &["webhooks", "rotate-secret", "99"],
        &["webhooks", "test", "99"],
        &["webhooks", "deliveries", "99"],
        &["webhooks", "show", "99", "--json"],
    ] {
        let stderr = app.cli_fails(args, 1).await;
        assert_eq!(
            stderr, "error: no webhook endpoint has id 99; `machinist webhooks list` shows them\n",
            "{args:?}"
        );
    }
    let stderr = app
        .cli_fails(&["webhooks", "deliveries", "1", "--resend", "7"], 1)
        .await;
    assert_eq!(
        stderr,
        "error: webhook endpoint 1 has no delivery 7; `machinist webhooks deliveries 1` lists them\n"
    );

    // Usage errors: exit 2, nothing sent.
    let stderr = app
        .cli_fails(
            &[
                "webhooks",
                "add",
                url,
                "--events",
                "job.failed,job.exploded",
            ],
            2,
        )
        .await;
    assert!(
        stderr.contains("unknown event type `job.exploded`; use one of job.failed, job.succeeded"),
        "{stderr}"
    );
    let stderr = app.cli_fails(&["webhooks", "show", "ops"], 2).await;
    assert!(stderr.contains("`ops` is not an endpoint id"), "{stderr}");
    app.cli_fails(&["webhooks", "add", url, "--format", "xml"], 2)
        .await;
    app.cli_fails(&["webhooks", "deliveries", "1", "--limit", "201"], 2)
        .await;

    // What the daemon refuses: its reason, the field, exit 1.
    let stderr = app
        .cli_fails(&["webhooks", "add", "http://hooks.example.com/x"], 1)
        .await;
    // The message begins with the field: it is not repeated after it.
    assert!(
        stderr.starts_with("error: url: only https URLs are accepted")
            && !stderr.contains("(field: url)"),
        "{stderr}"
    );
    let stderr = app
        .cli_fails(&["webhooks", "add", url, "--name", "ops"], 1)
        .await;
    assert!(stderr.contains("the name `ops` is taken"), "{stderr}");
    let listed = json(&ok(&app, &["webhooks", "list", "--json"]).await);
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);

    // No daemon there: said so.
    let mut cmd = app.cli_command(&["webhooks", "list"]);
    cmd.env("MACHINIST_URL", "http://127.0.0.1:9");
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the machinist daemon"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn deliveries_are_listed_and_resent() {
    let receiver = Receiver::start().await;
    let app = app_with(Vec::new()).await;
    let added = json(
        &ok(
            &app,
            &[
                "webhooks",
                "add",
                &receiver.url,
                "--events",
                "job.failed",
                "--json",
            ],
        )
        .await,
    );
    let id = added["endpoint"]["id"].as_i64().unwrap();

    // One event: the receiver fails the first attempt, takes the second.
    receiver.then(Script::Status(500, vec![]));
    let event = Event::new(
        EventType::JobFailed,
        chrono::Utc::now(),
        json!({"summary": "job 7 failed"}),
        Subject::default(),
    );
    let event_id = event.id.clone();
    let published = app
        .store()
        .publish(
            Publication {
                event,
                max_attempts: 4,
                mark: None,
                only: Some(id),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let delivery = published.deliveries[0];
    until_committed(app.store(), Duration::from_secs(20), || async {
        let d = app.store().deliveries(id, None, 10).await.unwrap();
        match d.first() {
            Some(d) if d.job.state == machinist::job::JobState::Succeeded => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let table = ok(&app, &["webhooks", "deliveries", &id.to_string()]).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(rows[0][..4], ["ID", "EVENT", "TYPE", "STATE"], "{table}");
    assert_eq!(rows[1][0], delivery.to_string());
    assert!(
        event_id.starts_with(rows[1][1].trim_end_matches('…')),
        "{table}"
    );
    assert_eq!(
        rows[1][2..6],
        ["job.failed", "succeeded", "2/4", "200"],
        "{table}"
    );
    let page = json(&ok(&app, &["webhooks", "deliveries", &id.to_string(), "--json"]).await);
    let attempts = page["deliveries"][0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["status"].clone())
            .collect::<Vec<_>>(),
        [json!(500), json!(200)]
    );

    // Re-sent: a new delivery of the same event, the same webhook-id.
    let resent = ok(
        &app,
        &[
            "webhooks",
            "deliveries",
            &id.to_string(),
            "--resend",
            &delivery.to_string(),
        ],
    )
    .await;
    let again = receiver
        .until(Duration::from_secs(20), |seen| seen.len() == 3)
        .await;
    assert_eq!(again[2].header("webhook-id"), event_id);
    assert!(
        resent.starts_with(&format!("delivery {delivery} re-sent as delivery ")),
        "{resent}"
    );
    assert!(
        resent.ends_with(&format!("(event {event_id})\n")),
        "{resent}"
    );

    // Paging: one at a time, with where to go on.
    let first = ok(
        &app,
        &["webhooks", "deliveries", &id.to_string(), "--limit", "1"],
    )
    .await;
    let more = first
        .lines()
        .last()
        .unwrap()
        .strip_prefix("more: ")
        .unwrap_or_else(|| panic!("{first}"));
    let args: Vec<&str> = more.split_whitespace().skip(1).collect();
    let rest = ok(&app, &args).await;
    assert!(rest.contains(&format!("\n{delivery} ")), "{rest}");
}

#[tokio::test]
async fn text_from_the_store_is_escaped_and_configured_endpoints_are_explained() {
    let receiver = Receiver::start().await;
    let configured = EndpointSpec {
        url: receiver.url.clone(),
        name: Some("from-file".into()),
        ..EndpointSpec::default()
    };
    let app = app_with(vec![(configured, Secret::generate())]).await;

    // Written past the API's checks (an older version, another tool).
    let now = chrono::Utc::now();
    let evil = EndpointSpec {
        url: "https://hooks.example.com/\u{1b}[2Jx".into(),
        name: Some("\u{1b}[31mred\u{202e}".into()),
        ..EndpointSpec::default()
    };
    let saved = app
        .store()
        .create_endpoint(evil, Secret::generate(), EndpointSource::Api, now)
        .await
        .unwrap();
    let machinist::store::EndpointSaved::Saved(evil) = saved else {
        panic!("{saved:?}")
    };
    app.store()
        .disable_endpoint(evil.id, "410 Gone: \u{1b}[31mgo away".into(), now)
        .await
        .unwrap();

    let list = ok(&app, &["webhooks", "list"]).await;
    assert!(!raw_controls(&list), "{list:?}");
    assert!(list.contains("\\u{1b}[31mred\\u{202e}"), "{list}");
    assert!(list.contains(" disabled "), "{list}");
    let shown = ok(&app, &["webhooks", "show", &evil.id.to_string()]).await;
    assert!(!raw_controls(&shown), "{shown:?}");
    assert!(
        shown.contains("status           disabled: 410 Gone: \\u{1b}[31mgo away"),
        "{shown}"
    );
    assert!(shown.contains("resume"), "{shown}");

    // The configuration's endpoint: shown as such; paused here, changed there.
    let file = json(&ok(&app, &["webhooks", "list", "--json"]).await)["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "from-file")
        .unwrap()["id"]
        .to_string();
    let shown = ok(&app, &["webhooks", "show", &file]).await;
    assert!(
        shown.contains("source           config ([[webhooks.endpoints]]"),
        "{shown}"
    );
    ok(&app, &["webhooks", "pause", &file]).await;
    let stderr = app.cli_fails(&["webhooks", "remove", &file], 1).await;
    assert!(
        stderr.contains("is defined in the configuration file; change it there"),
        "{stderr}"
    );
    app.cli_fails(&["webhooks", "rotate-secret", &file], 1)
        .await;
}

#[tokio::test]
async fn update_changes_what_it_names_and_keeps_the_secret() {
    let app = app_with(Vec::new()).await;
    let added = ok(
        &app,
        &[
            "webhooks",
            "add",
            "https://hooks.example.com/a",
            "--name",
            "a",
            "--machine",
            "ps1",
        ],
    )
    .await;
    let secret = secret_in(&added);
    let out = ok(
        &app,
        &[
            "webhooks",
            "update",
            "1",
            "--endpoint-url",
            "https://hooks.example.com/b",
            "--events",
            "job.failed,machine.left_running",
            "--format",
            "slack",
            "--json",
        ],
    )
    .await;
    let e = json(&out);
    assert_eq!(e["url"], "https://hooks.example.com/b");
    assert_eq!(e["format"], "slack");
    assert_eq!(e["events"], json!(["job.failed", "machine.left_running"]));
    assert_eq!(e["machines"], json!(["ps1"]), "what is not named stays");
    let cleared = json(
        &ok(
            &app,
            &["webhooks", "update", "1", "--clear-filters", "--json"],
        )
        .await,
    );
    assert_eq!(cleared["machines"], json!([]));
    // The secret is the one `add` printed: the store still signs with it.
    let secrets = app.store().endpoint_secrets(1).await.unwrap().unwrap();
    assert_eq!(secrets.current.expose(), secret);
    // Nothing to change is a usage error; a refused URL the daemon's.
    app.cli_fails(&["webhooks", "update", "1"], 2).await;
    let err = app
        .cli_fails(
            &[
                "webhooks",
                "update",
                "1",
                "--endpoint-url",
                "http://10.0.0.1/",
            ],
            1,
        )
        .await;
    assert!(err.contains("only https URLs"), "{err}");
    app.cli_fails(&["webhooks", "update", "9", "--name", "x"], 1)
        .await;
}
