//! Conformance with the official Node client: `paperspace-node@0.2.4`'s
//! `paperspace` CLI, installed from npm, drives the real `machinist sim`
//! binary through every machine operation.
//!
//! This is the one test that runs on the real clock (the simulator is a
//! separate process with 300 ms transitions); where it must wait for a
//! state it polls `/_sim/machines` with a bounded deadline. It needs `npm`
//! and `node`; if the install fails the test fails with npm's stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The exact client version the simulator is checked against.
const PACKAGE: &str = "paperspace-node@0.2.4";

/// Longest any one CLI run may take; `waitfor` polls every 5 s, forever.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// What one CLI run printed and how it exited.
#[derive(Debug)]
struct Run {
    /// Exit code.
    code: i32,
    /// Stdout parsed as JSON (the CLI prints every answer and error as JSON).
    json: Value,
}

/// Runs the `paperspace` CLI against the simulator.
struct Cli {
    /// `.../node_modules/paperspace-node/bin/paperspace`.
    script: PathBuf,
    /// Working directory and `HOME`, so no real config is read.
    home: PathBuf,
    /// The simulator's base URL.
    url: String,
}

impl Cli {
    async fn run_with_key(&self, key: &str, args: &[&str]) -> Run {
        let child = Command::new("node")
            .arg(&self.script)
            .args(args)
            .env("PAPERSPACE_CONFIG_HOST", &self.url)
            .env("PAPERSPACE_API_KEY", key)
            .env("HOME", &self.home)
            .env("NODE_NO_WARNINGS", "1")
            .env_remove("NODE_ENV")
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run node");
        let out = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`paperspace {}` did not finish", args.join(" ")))
            .expect("node output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "`paperspace {}` printed no JSON ({e}):\nstdout: {stdout}\nstderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        Run {
            code: out.status.code().unwrap_or(-1),
            json,
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_key(machinist::sim::DEFAULT_API_KEY, args)
            .await
    }

    /// Runs and expects exit 0.
    async fn ok(&self, args: &[&str]) -> Value {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "`paperspace {}`: {}", args.join(" "), run.json);
        run.json
    }
}

/// Installs the official client into `dir`, failing the test with npm's stderr if it cannot.
async fn install_client(dir: &Path) -> PathBuf {
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg(PACKAGE)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("npm must be installed to run the conformance test");
    assert!(
        out.status.success(),
        "npm install {PACKAGE} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let script = dir.join("node_modules/paperspace-node/bin/paperspace");
    assert!(
        script.exists(),
        "{} missing after npm install",
        script.display()
    );
    script
}

/// Starts `machinist sim` and reads its address from the first stdout line.
async fn start_simulator() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_machinist"))
        .args(["sim", "--listen", "127.0.0.1:0", "--transition-ms", "300"])
        .env_remove("MACHINIST_SIM_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start machinist sim");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("simulator printed its address in time")
        .expect("read stdout")
        .expect("a first line");
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with('/'),
        "{url}"
    );
    (child, url)
}

/// The simulator's internal view of one machine.
async fn internal(http: &reqwest::Client, url: &str, id: &str) -> Value {
    let all: Value = http
        .get(format!("{url}/_sim/machines"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in /_sim/machines"))
}

/// Polls the internal view until `field` of machine `id` equals `want` (at most 10 s).
async fn await_field(http: &reqwest::Client, url: &str, id: &str, field: &str, want: Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = internal(http, url, id).await;
        if m[field] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id}: {field} stayed {} (want {want})",
            m[field]
        );
        // The simulator is another process with no notification to wait
        // on, and its machines change state on the real clock.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn calls(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    route: &str,
    id: Option<&str>,
) -> u64 {
    let log: Value = http
        .get(format!("{url}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == method && c["route"] == route)
        .filter(|c| id.is_none_or(|id| c["machine_id"] == id))
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_node_cli_drives_the_simulator() {
    // A scratch directory of its own (named by tempfile, not by this
    // process's pid), removed when the test ends, pass or fail.
    let scratch = tempfile::Builder::new()
        .prefix("machinist-official-cli-")
        .tempdir()
        .expect("create scratch dir");
    let script = install_client(scratch.path()).await;
    let (mut sim, url) = start_simulator().await;
    let cli = Cli {
        script,
        home: scratch.path().to_path_buf(),
        url: url.clone(),
    };
    let http = reqwest::Client::new();

    // Templates and availability.
    let templates = cli.ok(&["templates", "list"]).await;
    let ids: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"tkni3aa4") && ids.len() == 5, "{templates}");
    let avail = cli
        .ok(&[
            "machines",
            "availability",
            "--region",
            "Europe (AMS1)",
            "--machineType",
            "V100",
        ])
        .await;
    assert_eq!(avail, json!({"available": false}));
    let avail = cli
        .ok(&[
            "machines",
            "availability",
            "--region",
            "East Coast (NY2)",
            "--machineType",
            "GPU+",
        ])
        .await;
    assert_eq!(avail, json!({"available": true}));

    // Create: yargs makes `--size 50` a number and the CLI `true` a boolean.
    let created = cli
        .ok(&[
            "machines",
            "create",
            "--region",
            "East Coast (NY2)",
            "--machineType",
            "P4000",
            "--size",
            "50",
            "--billingType",
            "hourly",
            "--machineName",
            "conformance-1",
            "--templateId",
            "tkni3aa4",
            "--assignPublicIp",
            "true",
        ])
        .await;
    assert_eq!(created["state"], "provisioning", "{created}");
    assert_eq!(created["usageRate"], "P4000 hourly");
    assert!(created["publicIpAddress"].is_string());
    assert!(created.get("machineType").is_none());
    let id = created["id"].as_str().unwrap().to_string();
    let id = id.as_str();
    assert_eq!(internal(&http, &url, id).await["name"], "conformance-1");

    // A create the server refuses, and one the wrong key cannot make.
    let refused = cli
        .run(&[
            "machines",
            "create",
            "--region",
            "East Coast (NY2)",
            "--machineType",
            "P4000",
            "--size",
            "50",
            "--billingType",
            "hourly",
            "--machineName",
            "never",
            "--templateId",
            "tnope",
        ])
        .await;
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.json,
        json!({"error": "templateId not found", "status": 400})
    );
    let unauthorized = cli.run_with_key("wrong-key", &["machines", "list"]).await;
    assert_eq!(unauthorized.code, 1);
    assert_eq!(
        unauthorized.json,
        json!({"error": "Invalid API token", "status": 401})
    );

    let ready = cli
        .ok(&["machines", "waitfor", "--machineId", id, "--state", "ready"])
        .await;
    assert_eq!(
        (ready["id"].as_str(), ready["state"].as_str()),
        (Some(id), Some("ready"))
    );

    let listed = cli
        .ok(&[
            "machines",
            "list",
            "--name",
            "conformance-1",
            "--state",
            "ready",
        ])
        .await;
    let listed_ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed_ids, [id]);
    let ams = cli
        .ok(&["machines", "list", "--region", "Europe (AMS1)"])
        .await;
    assert_eq!(ams.as_array().unwrap().len(), 2, "{ams}");

    let updated = cli
        .ok(&[
            "machines",
            "update",
            "--machineId",
            id,
            "--machineName",
            "conformance-renamed",
            "--shutdownTimeoutInHours",
            "8",
            "--shutdownTimeoutForces",
            "true",
            "--performAutoSnapshot",
            "true",
            "--autoSnapshotFrequency",
            "week",
            "--autoSnapshotSaveCount",
            "4",
        ])
        .await;
    assert_eq!(updated, json!({}), "204 prints as an empty object");

    let access = cli
        .ok(&[
            "machines",
            "setAccessForUser",
            "--machineId",
            id,
            "--userId",
            "u5d6e7f8",
            "--enableAccess",
            "true",
        ])
        .await;
    assert_eq!(
        access,
        json!({"machineId": id, "userId": "u5d6e7f8", "enableAccess": true})
    );

    assert_eq!(
        cli.ok(&["machines", "stop", "--machineId", id]).await,
        json!({})
    );
    let state = internal(&http, &url, id).await["state"].clone();
    assert!(state == "stopping" || state == "off", "{state}");
    let off = cli
        .ok(&["machines", "waitfor", "--machineId", id, "--state", "off"])
        .await;
    assert_eq!(off["state"], "off");

    assert_eq!(
        cli.ok(&["machines", "start", "--machineId", id]).await,
        json!({})
    );
    await_field(&http, &url, id, "state", json!("ready")).await;
    assert_eq!(
        cli.ok(&["machines", "restart", "--machineId", id]).await,
        json!({})
    );
    await_field(&http, &url, id, "state", json!("ready")).await;

    let shown = cli.ok(&["machines", "show", "--machineId", id]).await;
    assert_eq!(shown["name"], "conformance-renamed");
    assert_eq!(shown["shutdownTimeoutInHours"], 8);
    assert_eq!(shown["shutdownTimeoutForces"], true);
    assert_eq!(shown["performAutoSnapshot"], true);
    assert_eq!(shown["autoSnapshotFrequency"], "week");
    assert_eq!(shown["autoSnapshotSaveCount"], 4);
    let events: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["restart", "start", "stop", "create"],
        "newest first"
    );

    let month = &shown["dtCreated"].as_str().unwrap()[..7];
    let usage = cli
        .ok(&[
            "machines",
            "utilization",
            "--machineId",
            id,
            "--billingMonth",
            month,
        ])
        .await;
    assert_eq!(usage["machineId"], id);
    assert_eq!(usage["utilization"]["hourlyRate"], "0.51");
    assert_eq!(usage["utilization"]["billingMonth"], month);
    assert!(
        usage["utilization"]["secondsUsed"].as_f64().unwrap() > 0.0,
        "{usage}"
    );
    assert_eq!(usage["storageUtilization"]["monthlyRate"], "5.00");
    assert!(usage["storageUtilization"]["secondsUsed"].as_f64().unwrap() > 0.0);

    assert_eq!(
        cli.ok(&[
            "machines",
            "destroy",
            "--machineId",
            id,
            "--releasePublicIp",
            "true"
        ])
        .await,
        json!({})
    );
    assert_eq!(internal(&http, &url, id).await["destroyed"], true);
    await_field(&http, &url, id, "gone", json!(true)).await;
    let gone = cli.run(&["machines", "show", "--machineId", id]).await;
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.json,
        json!({"error": "Machine not found", "status": 404})
    );
    let unknown = cli
        .run(&["machines", "start", "--machineId", "psnothere"])
        .await;
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.json,
        json!({"error": "Not found. Please contact support@paperspace.com for help.", "status": 404})
    );

    // Every call landed on the route the simulator documents, keyed by machine.
    let expect = [
        ("GET", "/templates/getTemplates", None, 1),
        ("GET", "/machines/getAvailability", None, 2),
        ("POST", "/machines/createSingleMachinePublic", None, 2),
        ("GET", "/machines/getMachines", None, 3),
        (
            "POST",
            "/machines/:machineId/updateMachinePublic",
            Some(id),
            1,
        ),
        ("POST", "/machines/:machineId/setMachineAccess", Some(id), 1),
        ("POST", "/machines/:machineId/stop", Some(id), 1),
        ("POST", "/machines/:machineId/start", Some(id), 1),
        ("POST", "/machines/:machineId/start", Some("psnothere"), 1),
        ("POST", "/machines/:machineId/restart", Some(id), 1),
        ("GET", "/machines/getUtilization", Some(id), 1),
        ("POST", "/machines/:machineId/destroyMachine", Some(id), 1),
    ];
    for (method, route, machine, want) in expect {
        assert_eq!(
            calls(&http, &url, method, route, machine).await,
            want,
            "{method} {route} {machine:?}"
        );
    }
    // Two waitfors (each polls at least once) and two shows.
    assert!(calls(&http, &url, "GET", "/machines/getMachinePublic", Some(id)).await >= 4);

    // SIGTERM (to our own child, by its pid) ends `machinist sim` cleanly.
    let pid = sim.id().expect("simulator still running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("run kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), sim.wait())
        .await
        .expect("simulator exits after SIGTERM")
        .expect("wait for simulator");
    assert!(status.success(), "machinist sim exited with {status}");
}
