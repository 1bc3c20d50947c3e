//! Crash safety: the real `machinist serve` binary is killed with SIGKILL
//! while jobs are mid-request and mid-wait, restarted on the same database,
//! killed again, and finally left to finish. Every job must succeed (so
//! none waits out a wait its machine contradicts), every machine must end
//! where its last job left it, no start or stop may take effect twice for
//! one job, and no create may make two machines — the simulator (a separate
//! process that outlives the daemon) keeps every machine's events.
//!
//! A request killed on its way may reach the simulator (and be counted)
//! without being applied; the resumed job finds no sign of it and sends it
//! again. So what is bounded is the operations applied (the machine's
//! events), not the requests counted.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use machinist::store::StoreOptions;
use serde_json::{Value, json};

use crate::harness::process::{BIN, start_sim};
use crate::harness::served::Served;

/// `backend` is `legacy` or `v1`; both talk to the same simulator. Returns
/// the daemon once it said `READY=1` (migrations applied, admin API bound)
/// and the admin API's URL: every daemon gets a port of its own, so that no
/// other test can take it between a kill and the restart.
pub(crate) fn start_daemon(db: &StoreOptions, sim_url: &str, backend: &str) -> (Served, String) {
    start_served(serve(db, sim_url, backend))
}

/// Starts `command` and waits for its `READY=1`; the daemon and its URL.
pub(crate) fn start_served(mut command: Command) -> (Served, String) {
    command.stdout(Stdio::null());
    let daemon = Served::spawn(command);
    let url = daemon.ready();
    (daemon, url)
}

/// `machinist serve` on `db` (the SQLite file, or the PostgreSQL database
/// of the conformance run), listening on a free port it picks.
pub(crate) fn serve(db: &StoreOptions, sim_url: &str, backend: &str) -> Command {
    let base_url = match backend {
        "v1" => format!("{sim_url}/v1"),
        _ => sim_url.to_string(),
    };
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("MACHINIST_STORE_PATH", &db.path)
        .env(
            "MACHINIST_STORE_URL",
            db.url
                .as_ref()
                .map(|u| u.expose_for_test())
                .unwrap_or_default(),
        )
        .env("MACHINIST_HTTP_LISTEN", "127.0.0.1:0")
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
        .env_remove("WATCHDOG_USEC")
        .env("RUST_LOG", "warn");
    command
}

/// `GET /v1/jobs/{id}`.
async fn get_job(http: &reqwest::Client, url: &str, id: i64) -> Value {
    http.get(format!("{url}/v1/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn kill9(daemon: &mut Served) {
    daemon.child.kill().unwrap(); // SIGKILL on Unix, to the child alone
    daemon.child.wait().unwrap();
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
    let fixture = crate::harness::Fixture::new().await;
    let db = fixture.options();

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
    // The scenario: the simulator (another process) takes this long to provision.
    tokio::time::sleep(Duration::from_millis(600)).await; // provisioning ends

    let (mut daemon, mut url) = start_daemon(&db, &sim_url, backend);

    // Each machine gets one state change; three creates; a second round later.
    let mut jobs: Vec<(i64, String, Option<String>)> = Vec::new();
    let submit = |url: &str, body: Value| {
        let http = http.clone();
        let url = url.to_string();
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
            submit(&url, json!({"kind":"start","machine_id": id})).await,
            "start".into(),
            Some(id.clone()),
        ));
    }
    for id in &ready {
        jobs.push((
            submit(&url, json!({"kind":"stop","machine_id": id})).await,
            "stop".into(),
            Some(id.clone()),
        ));
    }
    for i in 0..3 {
        let args = json!({"name": format!("crash-new-{i}"), "region": "Europe (AMS1)",
            "machine_type": "C5", "disk_size_gb": 50, "template_id": "tkni3aa4"});
        jobs.push((
            submit(&url, json!({"kind":"create","args": args})).await,
            "create".into(),
            None,
        ));
    }

    // Kill it at staggered moments: mid-request (30 ms latency per call) and mid-wait (400 ms transitions).
    for (round, pause_ms) in [70u64, 260, 180, 450, 200, 200, 200, 200, 200, 200, 200, 200]
        .into_iter()
        .enumerate()
    {
        // The scenario: the kill lands this far into the work.
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        kill9(&mut daemon);
        (daemon, url) = start_daemon(&db, &sim_url, backend);
        // Two more rounds: each machine flips back and back again, so a
        // resumed job has earlier jobs' events of its own kind to be misled by.
        if round == 1 || round == 2 {
            let (first, second) = if round == 1 {
                ("stop", "start")
            } else {
                ("start", "stop")
            };
            for (ids, kind) in [(&off, first), (&ready, second)] {
                for id in ids {
                    jobs.push((
                        submit(&url, json!({"kind": kind, "machine_id": id})).await,
                        kind.into(),
                        Some(id.clone()),
                    ));
                }
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
            let job = get_job(&http, &url, *id).await;
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
        // The daemon is another process: no commit of its store can wake
        // this one, so it reads again after a while.
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
    let resent = notes
        .iter()
        .filter(|m| m.ends_with("; sending it again"))
        .count();
    eprintln!(
        "jobs: {}, taken back after a kill: {rescued}, resumed without resending: {resumed}, sent again: {resent}",
        jobs.len()
    );
    assert!(rescued > 0, "no kill landed while a job ran");

    // Per machine, at most one start event per start job and one stop
    // event per stop job: no request took effect twice.
    let mut per_machine: HashMap<(&str, &str), u64> = HashMap::new();
    for (_, kind, machine) in &jobs {
        if let Some(m) = machine {
            *per_machine.entry((kind.as_str(), m.as_str())).or_default() += 1;
        }
    }
    for ((kind, machine), jobs_of_kind) in per_machine {
        let mut req = http.get(format!(
            "{sim_url}/machines/getMachinePublic?machineId={machine}"
        ));
        for (k, v) in key {
            req = req.header(k, v);
        }
        let shown: Value = req.send().await.unwrap().json().await.unwrap();
        let applied = shown["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == kind)
            .count() as u64;
        assert!(
            applied <= jobs_of_kind,
            "{machine}: {applied} {kind} operations for {jobs_of_kind} {kind} job(s): {shown:#}"
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
    // Off machines went start, stop, start; ready ones stop, start, stop.
    let state_of = |id: &str| {
        machines
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .map(|m| m["state"].clone())
    };
    for (ids, last) in [(&off, "ready"), (&ready, "off")] {
        for id in ids {
            assert_eq!(state_of(id), Some(json!(last)), "{id}");
        }
    }
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

/// Context switches of each of `pid`'s threads, by thread id.
fn switches(pid: u32) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap();
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        let n: u64 = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        out.insert(task.file_name().to_string_lossy().into_owned(), n);
    }
    out
}

/// An idle daemon does not wake: with nothing due, none of its threads is
/// switched in. The lease is the shortest allowed here (a lease keeper on a
/// timer would wake three times a second) and a job has run first, so that the keeper has
/// been through holding a lease and letting it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_daemon_does_not_wake() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("MACHINIST_STORE_PATH", dir.path().join("machinist.db"))
        .env("MACHINIST_HTTP_LISTEN", "127.0.0.1:0")
        .env("MACHINIST_PAPERSPACE_BACKEND", "sim")
        .env("MACHINIST_WORKERS_LEASE", "1s")
        .env_remove("MACHINIST_ADMIN_TOKEN")
        .env_remove("MACHINIST_CONFIG")
        .env_remove("WATCHDOG_USEC")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    let daemon = Served::spawn(command);
    let url = daemon.ready();
    // No kept-alive connection: an idle connection has timers of its own.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let job: Value = http
        .post(format!("{url}/v1/jobs"))
        .json(&json!({"kind": "refresh"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = get_job(&http, &url, id).await;
        if job["state"] == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refresh did not finish: {job}"
        );
        // The daemon is another process: no commit of its store can wake
        // this one, so it reads again after a while.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The scenario: let the last request's work settle, then watch for three
    // seconds. On a loaded machine (the whole suite in one process) the
    // settling may outlast the pause and spill into a window; a daemon with
    // a timer of its own wakes in every window, so one quiet window out of
    // four proves the point without taking a slow settle for a wake-up.
    let mut windows = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = switches(daemon.child.id());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = switches(daemon.child.id());
        // Threads present both times; one that ended meanwhile (a
        // blocking-pool thread retiring) is not a wake-up of the daemon.
        let woke: Vec<(String, u64)> = after
            .iter()
            .filter_map(|(tid, n)| Some((tid.clone(), n - before.get(tid)?)))
            .filter(|(_, d)| *d > 0)
            .collect();
        let total: u64 = woke.iter().map(|(_, d)| d).sum();
        if total <= 2 {
            return;
        }
        windows.push((total, woke));
    }
    panic!("an idle daemon was switched in more than 2 times in every 3 s window: {windows:?}");
}

/// One daemon per database file, across processes: a second daemon that
/// reaches the file by a symlink or a hard link exits at once, naming the
/// process that holds it, instead of taking its running jobs back.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_a_link_to_the_database_is_refused() {
    let (_sim, sim_url) = start_sim(&[]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("machinist.db");
    let (first, _) = start_daemon(&StoreOptions::new(&db), &sim_url, "legacy");

    let symlink = dir.path().join("link.db");
    std::os::unix::fs::symlink(&db, &symlink).unwrap();
    let hard_link = dir.path().join("hard.db");
    std::fs::hard_link(&db, &hard_link).unwrap();
    for other in [&symlink, &hard_link] {
        let mut command = serve(&StoreOptions::new(other), &sim_url, "legacy");
        command.stdout(Stdio::null());
        let mut second = Served::spawn(command);
        // It exits by itself (30 s at most), its stderr read to the end.
        let status = second.wait_exit();
        assert!(!status.success(), "a second daemon started on {other:?}");
        let stderr = second.lines.text();
        assert!(
            stderr.contains(&format!(
                "another machinist daemon (pid {})",
                first.child.id()
            )),
            "{stderr}"
        );
    }
}
