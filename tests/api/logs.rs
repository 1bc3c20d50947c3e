//! Logs and secrets: the real `machinist serve` binary runs a full scenario
//! (jobs of every common kind, a schedule firing every second, a request
//! with a wrong token, the CLI) at debug level against a simulated account
//! that demands a real-looking API key, with a real admin token. Neither
//! secret may appear in any line the process writes, in the CLI's output,
//! or anywhere in the database files. Each job's work is logged in a span
//! naming the job, its kind and its machine; `--log-format json` writes one
//! JSON object per line.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::process::{BIN, start_sim};
use crate::harness::served::{Lines, Served};

const API_KEY: &str = "pskey-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const ADMIN_TOKEN: &str = "adm-3c1f9e0b7a5d4c2e8f6a1b3d5c7e9f02";

fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, format!("{text}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_output_or_database_byte() {
    let (_sim, sim_url) = start_sim(&["--transition-ms", "200", "--api-key", API_KEY]);
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    // The API key as systemd's LoadCredential= hands it over, the token as a file.
    secret_file(&credentials.join("paperspace-api-key"), API_KEY);
    let token_file = dir.path().join("admin-token");
    secret_file(&token_file, ADMIN_TOKEN);
    let db = dir.path().join("machinist.db");
    let config = dir.path().join("machinist.toml");
    std::fs::write(
        &config,
        format!(
            "[paperspace]\nbackend = \"legacy\"\nbase_url = \"{sim_url}\"\n\n\
             [store]\npath = \"{}\"\n\n\
             [workers]\npoll_interval = \"50ms\"\nbackoff_base = \"50ms\"\n\n\
             [rate_limit]\nper_second = 200.0\nburst = 50\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\nadmin_token_file = \"{}\"\n",
            db.display(),
            token_file.display()
        ),
    )
    .unwrap();

    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env_remove("PAPERSPACE_API_KEY")
        .env_remove("MACHINIST_ADMIN_TOKEN")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::piped());
    let mut daemon = Served::spawn(command);
    let stdout = Lines::collect(daemon.child.stdout.take().unwrap());
    let stderr = daemon.lines.clone();
    let url = daemon.ready();

    let http = reqwest::Client::new();
    let machines: Vec<Value> = http
        .get(format!("{sim_url}/machines/getMachines"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_in = |state: &str| {
        machines
            .iter()
            .find(|m| m["state"] == state)
            .unwrap_or_else(|| panic!("no {state} machine in {machines:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (off, ready) = (id_in("off"), id_in("ready"));
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    // Without the token, or with a wrong one: 401, nothing done.
    let refused = http
        .post(format!("{url}/v1/jobs"))
        .bearer_auth("not-the-token")
        .json(&json!({"kind": "refresh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let bodies = [
        json!({"kind": "refresh"}),
        json!({"kind": "start", "machine_id": off}),
        json!({"kind": "stop", "machine_id": ready}),
        json!({"kind": "show", "machine_id": off}),
        json!({"kind": "utilization", "machine_id": ready, "args": {"month": month}}),
        json!({"kind": "create", "args": {"name": "logs-train-1", "region": "Europe (AMS1)",
               "machine_type": "P4000", "disk_size_gb": 100, "template_id": "tkni3aa4"}}),
        json!({"kind": "start", "machine_id": "psnosuch1"}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let r = http
            .post(format!("{url}/v1/jobs"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{body}");
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let schedule = http
        .post(format!("{url}/v1/schedules"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "every-second", "cron": "* * * * * *",
                      "template": {"kind": "show"}, "targets": {"machine_ids": [off]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(schedule.status(), 201);

    // Every job ends, and the schedule fires at least twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut states = Vec::new();
    loop {
        states.clear();
        for id in &ids {
            let job: Value = http
                .get(format!("{url}/v1/jobs/{id}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            states.push(job["state"].as_str().unwrap_or("?").to_string());
        }
        let shown: Value = http
            .get(format!("{url}/v1/schedules/every-second"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let fired = shown["recent_firings"].as_array().map_or(0, Vec::len);
        let finished = states
            .iter()
            .all(|s| matches!(s.as_str(), "succeeded" | "failed" | "cancelled"));
        if finished && fired >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs {states:?}, {fired} firings; log:\n{}",
            stderr.text()
        );
        // The daemon is another process (its schedule fires on the real
        // clock): no commit of its store can wake this one, so it reads
        // again after a while.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The key worked (Paperspace calls succeeded); the bad machine failed.
    assert_eq!(
        states,
        [
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "succeeded",
            "failed"
        ]
    );

    // The CLI, with the token from the environment.
    let cli = Command::new(BIN)
        .args(["jobs", "list", "--url", &url])
        .env("MACHINIST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("MACHINIST_CONFIG")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let cli_output = [cli.stdout, cli.stderr].concat();
    assert!(String::from_utf8_lossy(&cli_output).contains("psnosuch1"));

    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");

    // Both pipes read to their end.
    let lines: Vec<String> = stderr
        .wait_closed()
        .into_iter()
        .chain(stdout.wait_closed())
        .collect();
    assert!(lines.len() > 50, "only {} log lines", lines.len());
    assert!(
        lines.iter().any(|l| l.contains("DEBUG")),
        "not at debug level"
    );
    // Each job's work is in its span: id, kind and machine.
    let span = format!("job{{id={} kind=start machine=", ids[1]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&span) && l.contains(&format!("{off}\"}}:"))),
        "no line in the span {span}:\n{}",
        lines
            .iter()
            .filter(|l| l.contains("job{"))
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in [API_KEY, ADMIN_TOKEN] {
        // Also a distinctive part, in case something truncates or wraps it.
        let part = &secret[secret.len() - 16..];
        for line in &lines {
            assert!(!line.contains(part), "a secret was logged: {line}");
        }
        assert!(
            !cli_output.windows(part.len()).any(|w| w == part.as_bytes()),
            "the CLI printed a secret"
        );
        let stored = database_bytes(dir.path());
        assert!(
            !stored.windows(part.len()).any(|w| w == part.as_bytes()),
            "a secret is stored in the database"
        );
    }
}

/// The bytes of the database and its WAL and shared-memory files, checked
/// to hold what the scenario wrote (so the search above searched something).
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("machinist.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    for written in ["logs-train-1", "psnosuch1", "every-second"] {
        assert!(
            bytes
                .windows(written.len())
                .any(|w| w == written.as_bytes()),
            "{written} is not in the database files"
        );
    }
    bytes
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("machinist.toml");
    std::fs::write(&config, "[log]\nlevel = \"info\"\n").unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "serve"])
        .env("MACHINIST_STORE_PATH", dir.path().join("machinist.db"))
        .env("MACHINIST_HTTP_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null());
    let mut daemon = Served::spawn(command);
    daemon.ready();
    assert!(daemon.terminate().success());
    let lines = daemon.lines.wait_closed();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("machinist is serving the admin API"))
    );
}
