//! Crash safety: the real `machinist serve` binary is killed with SIGKILL
//! while jobs are mid-request and mid-wait, restarted on the same database,
//! killed again, and finally left to finish. Every job must reach a final
//! state, no start or stop may be sent twice for one job, and no create may
//! make two machines — the simulator (a separate process that outlives the
//! daemon) counts every call.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::process::{BIN, Kill, start_sim};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `backend` is `legacy` or `v1`; both talk to the same simulator.
fn start_daemon(db: &Path, port: u16, sim_url: &str, backend: &str) -> Kill {
    serve(db, port, sim_url, backend)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Kill)
        .expect("the machinist binary runs")
}

/// `machinist serve` on `db`, listening on `port`.
fn serve(db: &Path, port: u16, sim_url: &str, backend: &str) -> Command {
    let base_url = match backend {
        "v1" => format!("{sim_url}/v1"),
        _ => sim_url.to_string(),
    };
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("MACHINIST_STORE_PATH", db)
        .env("MACHINIST_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("MACHINIST_PAPERSPACE_BACKEND", backend)
        .env("MACHINIST_PAPERSPACE_BASE_URL", base_url)
        .env("MACHINIST_PAPERSPACE_REQUEST_TIMEOUT", "2s")
        .env("PAPERSPACE_API_KEY", "sim-key")
        .env("MACHINIST_WORKERS_POLL_INTERVAL", "50ms")
        .env("MACHINIST_WORKERS_BACKOFF_BASE", "50ms")
        .env("MACHINIST_WORKERS_LEASE", "3s")
        .env("MACHINIST_WORKERS_MAX_ATTEMPTS", "20")
        .env("MACHINIST_RATE_LIMIT_PER_SECOND", "500")
        .env("MACHINIST_RATE_LIMIT_BURST", "100")
        .env_remove("MACHINIST_ADMIN_TOKEN")
        .env_remove("MACHINIST_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the daemon did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kill9(daemon: &mut Kill) {
    daemon.kill().unwrap(); // SIGKILL on Unix
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_job_and_repeats_no_request_legacy() {
    kill_9_loses_no_job_and_repeats_no_request("legacy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_job_and_repeats_no_request_v1() {
    kill_9_loses_no_job_and_repeats_no_request("v1").await;
}

async fn kill_9_loses_no_job_and_repeats_no_request(backend: &str) {
    let (_sim, sim_url) = start_sim(&["--transition-ms", "400", "--latency-ms", "30"]);
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("machinist.db");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    // A fleet to act on: 8 machines that start off, 8 that start ready.
    let key = [("x-api-key", "sim-key")];
    let mut off = Vec::new();
    let mut ready = Vec::new();
    for i in 0..16 {
        let body = json!({"machineName": format!("crash-{i}"), "region": "East Coast (NY2)",
            "machineType": "C5", "size": 50, "billingType": "hourly", "templateId": "tkni3aa4",
            "startOnCreate": i % 2 == 0});
        let mut req = http.post(format!("{}/machines/createSingleMachinePublic", sim_url));
        for (k, v) in key {
            req = req.header(k, v);
        }
        let m: Value = req.json(&body).send().await.unwrap().json().await.unwrap();
        let id = m["id"].as_str().unwrap().to_string();
        if i % 2 == 0 {
            ready.push(id)
        } else {
            off.push(id)
        }
    }
    tokio::time::sleep(Duration::from_millis(600)).await; // provisioning ends

    let mut daemon = start_daemon(&db, port, &sim_url, backend);
    wait_healthy(&http, &url).await;

    // Each machine gets one state change; three creates; a second round later.
    let mut jobs: Vec<(i64, String, Option<String>)> = Vec::new();
    let submit = |body: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}/v1/jobs"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
        }
    };
    for id in &off {
        jobs.push((
            submit(json!({"kind":"start","machine_id": id})).await,
            "start".into(),
            Some(id.clone()),
        ));
    }
    for id in &ready {
        jobs.push((
            submit(json!({"kind":"stop","machine_id": id})).await,
            "stop".into(),
            Some(id.clone()),
        ));
    }
    for i in 0..3 {
        let args = json!({"name": format!("crash-new-{i}"), "region": "Europe (AMS1)",
            "machine_type": "C5", "disk_size_gb": 50, "template_id": "tkni3aa4"});
        jobs.push((
            submit(json!({"kind":"create","args": args})).await,
            "create".into(),
            None,
        ));
    }

    // Kill it at staggered moments: mid-request (30 ms latency per call) and mid-wait (400 ms transitions).
    for (round, pause_ms) in [70u64, 260, 180, 450].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        kill9(&mut daemon);
        daemon = start_daemon(&db, port, &sim_url, backend);
        wait_healthy(&http, &url).await;
        if round == 1 {
            for id in &off {
                jobs.push((
                    submit(json!({"kind":"stop","machine_id": id})).await,
                    "stop".into(),
                    Some(id.clone()),
                ));
            }
            for id in &ready {
                jobs.push((
                    submit(json!({"kind":"start","machine_id": id})).await,
                    "start".into(),
                    Some(id.clone()),
                ));
            }
        }
    }

    // Let the last daemon finish everything.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut finals: HashMap<i64, Value> = HashMap::new();
    while finals.len() < jobs.len() {
        for (id, _, _) in &jobs {
            if finals.contains_key(id) {
                continue;
            }
            let job: Value = http
                .get(format!("{url}/v1/jobs/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                finals.insert(*id, job);
            }
        }
        assert!(
            Instant::now() < deadline,
            "jobs did not finish: {} of {}",
            finals.len(),
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill9(&mut daemon);

    for (id, kind, _) in &jobs {
        let job = &finals[id];
        assert_eq!(
            job["state"], "succeeded",
            "{kind} job {id} did not succeed: {job:#}"
        );
    }
    // The kills did interrupt work: some jobs were taken back from a dead
    // worker, and some resumed a request sent before the kill without resending it.
    let notes: Vec<String> = finals
        .values()
        .flat_map(|j| j["events"].as_array().unwrap().iter())
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect();
    let rescued = notes
        .iter()
        .filter(|m| m.contains("went away; back in the queue"))
        .count();
    let resumed = notes
        .iter()
        .filter(|m| m.contains("not sending it again") || m.contains("not creating again"))
        .count();
    eprintln!(
        "jobs: {}, taken back after a kill: {rescued}, resumed without resending: {resumed}",
        jobs.len()
    );
    assert!(rescued > 0, "no kill landed while a job ran");

    // The simulator's counts: per machine, one start per start job and one stop per stop job at most.
    let calls: Value = http
        .get(format!("{}/_sim/calls", sim_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let method = if backend == "v1" { "PATCH" } else { "POST" };
    let count = |route: &str, machine: &str| -> u64 {
        calls["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["method"] == method && c["route"] == route && c["machine_id"] == machine)
            .map(|c| c["count"].as_u64().unwrap())
            .sum()
    };
    let mut per_machine: HashMap<(&str, &str), u64> = HashMap::new();
    for (_, kind, machine) in &jobs {
        if let Some(m) = machine {
            *per_machine.entry((kind.as_str(), m.as_str())).or_default() += 1;
        }
    }
    for ((kind, machine), jobs_of_kind) in per_machine {
        let route = match (backend, kind) {
            ("v1", "start") => "/v1/machines/:id/start",
            ("v1", _) => "/v1/machines/:id/stop",
            (_, "start") => "/machines/:machineId/start",
            _ => "/machines/:machineId/stop",
        };
        let sent = count(route, machine);
        assert!(
            sent <= jobs_of_kind,
            "{machine}: {sent} {kind} requests for {jobs_of_kind} {kind} job(s)"
        );
    }
    let machines: Value = http
        .get(format!("{}/_sim/machines", sim_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for i in 0..3 {
        let name = format!("crash-new-{i}");
        let made = machines
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == name.as_str())
            .count();
        assert_eq!(made, 1, "{name} was created {made} times");
    }
}

/// One daemon per database file, across processes: a second daemon that
/// reaches the file by a symlink or a hard link exits at once, naming the
/// process that holds it, instead of taking its running jobs back.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_a_link_to_the_database_is_refused() {
    let (_sim, sim_url) = start_sim(&[]);
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("machinist.db");
    let port = free_port();
    let first = start_daemon(&db, port, &sim_url, "legacy");
    wait_healthy(&http, &format!("http://127.0.0.1:{port}")).await;

    let symlink = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &symlink).unwrap();
    let hard_link = dir.path().join("hard.db");
    std::fs::hard_link(&db, &hard_link).unwrap();
    for other in [&symlink, &hard_link] {
        let mut second = serve(other, free_port(), &sim_url, "legacy")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(Kill)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = second.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "a second daemon started on {other:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(!status.success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            stderr.contains(&format!("another machinist daemon (pid {})", first.id())),
            "{stderr}"
        );
    }
}
