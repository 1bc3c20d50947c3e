//! Several daemons on one PostgreSQL database: one queue, one leader, one
//! rate limit, fenced leases, and the schema checks between versions.
//! Each test that needs PostgreSQL says so and returns at once on SQLite
//! (the conformance run, `MACHINIST_TEST_POSTGRES`, runs them); the fence
//! and the daemons list hold on both stores and run on both.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use machinist::clock::{SharedClock, SystemClock};
use machinist::daemon::Daemon;
use machinist::job::JobState;
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::SimHandle;
use machinist::store::{Store, StoreError};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::harness::{
    Fixture, daemon_api, daemon_settings, legacy_client, metric_sample, on_postgres, open_store,
    spawn_sim,
};

/// Says why a PostgreSQL-only test does nothing on SQLite.
fn needs_postgres(test: &str) -> bool {
    if !on_postgres() {
        eprintln!("{test}: several daemons need PostgreSQL; run with MACHINIST_TEST_POSTGRES");
        return false;
    }
    true
}

/// A daemon on `fixture`'s database against `sim`, with a short lead lease.
async fn start_daemon(fixture: &Fixture, sim: &SimHandle) -> Daemon {
    let mut settings = daemon_settings(fixture.options(), 4);
    settings.leader_lease = Duration::from_secs(3);
    let clock: SharedClock = Arc::new(SystemClock);
    let api = daemon_api(Backend::Legacy, &sim.url, Duration::from_secs(5));
    Daemon::start(settings, api, clock).await.unwrap()
}

/// Polls `check` every 50 ms until it answers, for at most `within`.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the daemon leading now, if one does.
async fn leader(store: &Store) -> Option<String> {
    let daemons = store.daemons().await.unwrap();
    let leaders: Vec<_> = daemons.iter().filter(|d| d.leader).collect();
    assert!(leaders.len() <= 1, "two leaders: {daemons:?}");
    leaders.first().map(|d| d.id.clone())
}

async fn submit(url: &str, body: Value) -> i64 {
    let answer: Value = reqwest::Client::new()
        .post(format!("{url}/v1/jobs"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id"].as_i64().unwrap_or_else(|| panic!("{answer}"))
}

/// `count` machines made on `sim`, named `prefix-0`, `prefix-1`, …
async fn create_machines(sim: &SimHandle, prefix: &str, count: usize) -> Vec<String> {
    let api = legacy_client(&sim.url, Duration::from_secs(5));
    let mut machines = Vec::new();
    for i in 0..count {
        let made = api
            .create(&machinist::machine::CreateMachine::new(
                format!("{prefix}-{i}"),
                "West Coast (CA1)",
                "C5",
                50,
                "tkni3aa4",
            ))
            .await
            .unwrap();
        machines.push(made.id);
    }
    machines
}

/// `rounds` show jobs for each of `machines`, each submitted to the next
/// of `daemons` in turn; the ids per machine, in submission order.
async fn submit_shows(daemons: &[&Daemon], machines: &[String], rounds: usize) -> Vec<Vec<i64>> {
    let mut per_machine: Vec<Vec<i64>> = vec![Vec::new(); machines.len()];
    for round in 0..rounds {
        for (k, id) in machines.iter().enumerate() {
            let url = daemons[(round + k) % daemons.len()].url();
            per_machine[k].push(submit(&url, json!({"kind": "show", "machine_id": id})).await);
        }
    }
    per_machine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_share_one_queue_one_leader_and_each_machines_order() {
    if !needs_postgres("two_daemons_share_one_queue") {
        return;
    }
    let fixture = Fixture::new().await;
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = spawn_sim(Duration::from_millis(20), clock).await;
    let machines = create_machines(&sim, "shared", 6).await;
    let a = start_daemon(&fixture, &sim).await;
    let b = start_daemon(&fixture, &sim).await;
    let store = a.store().clone();
    eventually(Duration::from_secs(10), "a leader", || async {
        leader(&store).await
    })
    .await;
    let daemons = store.daemons().await.unwrap();
    assert_eq!(daemons.len(), 2, "{daemons:?}");

    // Each machine gets five jobs, submitted to either daemon in turn.
    let per_machine = submit_shows(&[&a, &b], &machines, 5).await;
    let all: Vec<i64> = per_machine.iter().flatten().copied().collect();
    let jobs = crate::harness::until_committed(&store, Duration::from_secs(30), || async {
        let mut jobs = Vec::new();
        for id in &all {
            let job = store.job(*id).await.map_err(|e| e.to_string())?.unwrap();
            if !job.state.is_final() {
                return Err(format!("job {id} is {:?}", job.state));
            }
            jobs.push(job);
        }
        Ok(jobs)
    })
    .await;
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded));
    // Claimed once each: one "attempt 1" per job, and never two of one
    // machine at once: each starts after the one before it finished.
    for ids in &per_machine {
        let mut finished_before = None;
        for id in ids {
            let events = store.events(*id).await.unwrap();
            let starts: Vec<_> = events
                .iter()
                .filter(|e| {
                    e.event.to_state == Some(JobState::Running)
                        && e.event.from_state == Some(JobState::Queued)
                })
                .collect();
            assert_eq!(starts.len(), 1, "job {id}: {events:?}");
            if let Some(before) = finished_before {
                assert!(
                    starts[0].at >= before,
                    "job {id} started before the one ahead of it finished"
                );
            }
            finished_before = store.job(*id).await.unwrap().unwrap().finished_at;
        }
    }
    b.stop().await;
    a.stop().await;
}

/// Each daemon's `/metrics` counts the jobs and calls it ran itself, so
/// that a sum over the daemons counts each once; the history rows name
/// the daemon that wrote them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_daemon_counts_its_own_jobs_and_calls_in_its_metrics() {
    if !needs_postgres("each_daemon_counts_its_own_jobs_and_calls_in_its_metrics") {
        return;
    }
    let fixture = Fixture::new().await;
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = spawn_sim(Duration::from_millis(5), clock).await;
    let machines = create_machines(&sim, "counted", 4).await;
    let a = start_daemon(&fixture, &sim).await;
    let b = start_daemon(&fixture, &sim).await;
    let store = a.store().clone();
    let ids: Vec<i64> = submit_shows(&[&a, &b], &machines, 5)
        .await
        .into_iter()
        .flatten()
        .collect();
    crate::harness::until_committed(&store, Duration::from_secs(30), || async {
        for id in &ids {
            let job = store.job(*id).await.map_err(|e| e.to_string())?.unwrap();
            if job.state != JobState::Succeeded {
                return Err(format!("job {id} is {:?}", job.state));
            }
        }
        Ok(())
    })
    .await;

    // Who finished each job and made each call, as the rows say.
    let url = fixture.options().url.unwrap();
    let mut conn = sqlx::PgConnection::connect(url.expose_for_test())
        .await
        .unwrap();
    let written: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT daemon, kind, COUNT(*) FROM job_events \
         WHERE kind = 'api_call' OR to_state = 'succeeded' GROUP BY daemon, kind",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let daemons: Vec<String> = store
        .daemons()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert!(
        written
            .iter()
            .all(|(d, _, _)| d.as_ref().is_some_and(|d| daemons.contains(d))),
        "a row names no running daemon: {written:?} (daemons {daemons:?})"
    );
    let rows_of = |kind: &str| -> Vec<f64> {
        let mut counts: Vec<f64> = daemons
            .iter()
            .map(|d| {
                written
                    .iter()
                    .filter(|(w, k, _)| w.as_deref() == Some(d.as_str()) && k == kind)
                    .map(|(_, _, n)| *n as f64)
                    .sum()
            })
            .collect();
        counts.sort_by(f64::total_cmp);
        counts
    };

    // Each daemon's counters: its own rows, whichever daemon ran what.
    let http = reqwest::Client::new();
    let mut finished = Vec::new();
    let mut calls = Vec::new();
    for daemon in [&a, &b] {
        let text = http
            .get(format!("{}/metrics", daemon.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        finished.push(
            metric_sample(
                &text,
                "machinist_job_duration_seconds_count{kind=\"show\",state=\"succeeded\"}",
            )
            .unwrap_or(0.0),
        );
        calls.push(
            text.lines()
                .filter(|l| l.starts_with("machinist_paperspace_calls_total{"))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum::<f64>(),
        );
    }
    assert_eq!(
        finished.iter().sum::<f64>(),
        ids.len() as f64,
        "{finished:?}"
    );
    assert_eq!(calls.iter().sum::<f64>(), ids.len() as f64, "{calls:?}");
    finished.sort_by(f64::total_cmp);
    calls.sort_by(f64::total_cmp);
    assert_eq!(finished, rows_of("state"));
    assert_eq!(calls, rows_of("api_call"));
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_stops_hands_the_scheduler_over() {
    if !needs_postgres("a_leader_that_stops_hands_the_scheduler_over") {
        return;
    }
    let fixture = Fixture::new().await;
    let clock: SharedClock = Arc::new(SystemClock);
    let sim = spawn_sim(Duration::from_millis(20), clock).await;
    let a = start_daemon(&fixture, &sim).await;
    let store = a.store().clone();
    let first = eventually(Duration::from_secs(10), "a leader", || async {
        leader(&store).await
    })
    .await;
    let b = start_daemon(&fixture, &sim).await;
    let watcher = fixture.open().await;
    // The first daemon leads until it stops; then the second, within a
    // beat (it resigned) and at most the lease.
    assert_eq!(leader(&watcher).await.as_deref(), Some(first.as_str()));
    a.stop().await;
    let next = eventually(Duration::from_secs(4), "the lead passed on", || async {
        leader(&watcher).await.filter(|l| *l != first)
    })
    .await;
    let daemons = watcher.daemons().await.unwrap();
    let stopped = daemons.iter().find(|d| d.id == first).unwrap();
    assert!(
        stopped.stopped_at.is_some() && !stopped.leader,
        "{stopped:?}"
    );
    let running = daemons.iter().find(|d| d.id == next).unwrap();
    assert!(running.stopped_at.is_none() && running.leader);
    b.stop().await;
}

/// A worker that stalled past its lease (a SIGSTOP) comes back to a job
/// that was rescued and taken by another: its late write changes nothing,
/// on either store.
#[tokio::test]
async fn a_stalled_worker_cannot_overwrite_the_next_owners_work() {
    let (store, _fixture) = open_store().await;
    let t0 = Utc::now();
    let job = store
        .submit(crate::store::job("show", Some("psA")), t0)
        .await
        .unwrap()
        .job;
    let stalled: Arc<str> = "host-a:1:aaaa".into();
    let next: Arc<str> = "host-b:2:bbbb".into();
    let lease = chrono::Duration::seconds(3);
    let taken = store.claim(&stalled, 1, t0, t0 + lease).await.unwrap();
    assert_eq!(taken.len(), 1);
    // The lease runs out; the job goes back and another owner takes it.
    let later = t0 + lease + chrono::Duration::seconds(1);
    assert_eq!(store.rescue(later, None).await.unwrap(), vec![job.id]);
    let retaken = store.claim(&next, 1, later, later + lease).await.unwrap();
    assert_eq!(retaken[0].lease_owner.as_deref(), Some(&*next));
    // The stalled worker wakes up and reports: refused.
    let late = crate::store::finish(job.id, &stalled, JobState::Failed);
    assert!(!store.transition(late, later).await.unwrap());
    store
        .renew(&stalled, vec![job.id], later + lease * 10)
        .await
        .unwrap();
    let now = store.job(job.id).await.unwrap().unwrap();
    assert_eq!(now.state, JobState::Running);
    assert_eq!(now.lease_owner.as_deref(), Some(&*next));
    assert_eq!(
        now.lease_expires_at,
        Some(machinist::store::rows::from_ms(
            machinist::store::rows::to_ms(later + lease)
        ))
    );
    // The owner that holds it finishes it.
    let done = crate::store::finish(job.id, &next, JobState::Succeeded);
    assert!(store.transition(done, later).await.unwrap());
}

#[tokio::test]
async fn a_daemon_lists_itself_and_leads_alone() {
    let app = crate::harness::spawn_app(crate::harness::AppOptions::default()).await;
    let (status, body) = app.get("/v1/daemons").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let daemons = body["daemons"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(daemons.len(), 1, "{body}");
    let me = &daemons[0];
    // On PostgreSQL it takes the lead at its first beat, just after start.
    let store = app.store().clone();
    eventually(Duration::from_secs(5), "the lead", || async {
        leader(&store).await
    })
    .await;
    let (_, body) = app.get("/v1/daemons").await;
    assert_eq!(body["daemons"][0]["leader"], true, "{body}");
    assert_eq!(me["pid"], std::process::id());
    assert_eq!(me["version"], env!("CARGO_PKG_VERSION"));
    assert!(me["stopped_at"].is_null());
}

#[tokio::test]
async fn a_newer_schema_is_refused_naming_the_fix() {
    if !needs_postgres("a_newer_schema_is_refused_naming_the_fix") {
        return;
    }
    let (store, fixture) = open_store().await;
    drop(store);
    let url = fixture.options().url.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url.expose_for_test())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let err = Store::open(&fixture.options()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaNewer { found: 9999, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("newer than this machinist knows"),
        "{message}"
    );
    assert!(message.contains("upgrade this daemon"), "{message}");
}

#[tokio::test]
async fn migrating_under_daemons_of_an_older_schema_is_refused() {
    if !needs_postgres("migrating_under_daemons_of_an_older_schema_is_refused") {
        return;
    }
    let fixture = Fixture::new().await;
    let url = fixture.options().url.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url.expose_for_test())
        .await
        .unwrap();
    // A database at the first migration, with a daemon of that schema
    // beating now (as a 0.x daemon would, with the table it knew).
    let first: Vec<_> = machinist::store::PG_MIGRATOR
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(first)
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE daemons (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL, \
         version TEXT NOT NULL, schema_version BIGINT NOT NULL, started_at BIGINT NOT NULL, \
         heartbeat_at BIGINT NOT NULL, stopped_at BIGINT); \
         INSERT INTO daemons VALUES ('old:7:0', 'old-host', 7, '0.9.0', 1, 0, \
         (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let err = Store::open(&fixture.options()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaInUse { found: 1, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("old-host (pid 7, machinist 0.9.0)"),
        "{message}"
    );
    assert!(message.contains("stop them"), "{message}");
    // Once it stopped beating, the migration goes ahead.
    sqlx::query("UPDATE daemons SET stopped_at = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DROP TABLE daemons")
        .execute(&mut conn)
        .await
        .unwrap();
    Store::open(&fixture.options()).await.unwrap();
}

#[tokio::test]
async fn the_rate_limit_is_one_bucket_for_every_daemon() {
    if !needs_postgres("the_rate_limit_is_one_bucket_for_every_daemon") {
        return;
    }
    let fixture = Fixture::new().await;
    let (one, two) = (fixture.open().await, fixture.open().await);
    // 10 calls a second, bursts of 2: two calls go at once, whoever makes
    // them; every one after owes a tenth of a second more than the last.
    let mut waits = Vec::new();
    for k in 0..6 {
        let store = if k % 2 == 0 { &one } else { &two };
        waits.push(store.take_rate_token(10.0, 2).await.unwrap());
    }
    assert_eq!(&waits[..2], &[Duration::ZERO, Duration::ZERO], "{waits:?}");
    for pair in waits[2..].windows(2) {
        assert!(pair[1] > pair[0], "{waits:?}");
    }
    // Four owed tokens at 10/s: the last waits about 0.4 s (less the time
    // the takes themselves took, which refills).
    assert!(waits[5] <= Duration::from_millis(400), "{waits:?}");
    assert!(waits[5] >= Duration::from_millis(200), "{waits:?}");
}

// ---- chaos: three daemon processes, kill -9, SIGSTOP ----

/// `machinist serve` on the fixture's database with a 3 s lead lease.
fn chaos_daemon(
    db: &machinist::store::StoreOptions,
    sim_url: &str,
) -> (crate::harness::served::Served, String) {
    let mut command = crate::crash::serve(db, sim_url, "legacy");
    command.env("MACHINIST_STORE_LEADER_LEASE", "3s");
    crate::crash::start_served(command)
}

/// The leading daemon's pid, as `url` lists the daemons.
async fn leader_pid(http: &reqwest::Client, url: &str) -> Option<u32> {
    let listed: Value = http
        .get(format!("{url}/v1/daemons"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    listed["daemons"]
        .as_array()?
        .iter()
        .find(|d| d["leader"] == true)
        .and_then(|d| d["pid"].as_u64())
        .map(|p| p as u32)
}

/// Three daemons on one database and one simulated account; 1,000 start and
/// stop jobs over 100 machines, five creates and a schedule firing every
/// second, while a random daemon is killed and restarted every two
/// seconds, the leader is killed once, and one daemon is stopped (SIGSTOP)
/// past its leases and then continued. Nothing is lost, no start or stop
/// reaches Paperspace twice, no machine is created twice, every fire time
/// is recorded once, and the lead moves within the lease and a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_daemons_kill_9_and_sigstop_lose_and_repeat_nothing() {
    if !needs_postgres("chaos_three_daemons") {
        return;
    }
    use crate::crash::kill9;
    let (_sim, sim_url) = crate::harness::process::start_sim(&[
        "--transition-ms",
        "150",
        "--latency-ms",
        "5",
        "--no-seed-machines",
    ]);
    let http = reqwest::Client::new();
    let fixture = Fixture::new().await;
    let db = fixture.options();

    // 100 machines: the even ones start ready, the odd ones off.
    let mut machines = Vec::new();
    for i in 0..100 {
        let body = json!({"machineName": format!("chaos-{i}"), "region": "East Coast (NY2)",
            "machineType": "C5", "size": 50, "billingType": "hourly", "templateId": "tkni3aa4",
            "startOnCreate": i % 2 == 0});
        let m: Value = http
            .post(format!("{sim_url}/machines/createSingleMachinePublic"))
            .header("x-api-key", "sim-key")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        machines.push((m["id"].as_str().unwrap().to_string(), i % 2 == 0));
    }
    // The simulator's provisioning (150 ms) ends before the first job.
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut daemons: Vec<(crate::harness::served::Served, String)> =
        (0..3).map(|_| chaos_daemon(&db, &sim_url)).collect();
    let url_of =
        |daemons: &[(crate::harness::served::Served, String)], k: usize| daemons[k % 3].1.clone();

    // A schedule firing every second at three machines.
    let watched: Vec<String> = machines.iter().take(3).map(|(id, _)| id.clone()).collect();
    let schedule: Value = http
        .post(format!("{}/v1/schedules", url_of(&daemons, 0)))
        .json(
            &json!({"name": "every-second", "cron": "* * * * * *", "timezone": "UTC",
            "template": {"kind": "show"}, "targets": {"machine_ids": watched},
            "misfire": "run_once", "catch_up_seconds": 60, "overlap": "queue"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schedule_id = schedule["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{schedule}"));

    // Ten jobs a machine, alternating from its state, spread over the daemons.
    let mut jobs: Vec<(i64, &'static str, Option<String>)> = Vec::new();
    for round in 0..10 {
        for (k, (id, ready)) in machines.iter().enumerate() {
            let kind = if (round % 2 == 0) == *ready {
                "stop"
            } else {
                "start"
            };
            let url = url_of(&daemons, k + round);
            jobs.push((
                submit(
                    &url,
                    json!({"kind": kind, "machine_id": id, "max_attempts": 20}),
                )
                .await,
                kind,
                Some(id.clone()),
            ));
        }
    }
    for i in 0..5 {
        let args = json!({"name": format!("chaos-new-{i}"), "region": "Europe (AMS1)",
            "machine_type": "C5", "disk_size_gb": 50, "template_id": "tkni3aa4"});
        let url = url_of(&daemons, i);
        jobs.push((
            submit(
                &url,
                json!({"kind": "create", "args": args, "max_attempts": 20}),
            )
            .await,
            "create",
            None,
        ));
    }

    // The chaos: a kill -9 and restart every two seconds (a fixed sequence
    // of victims), the leader among them once, and one SIGSTOP.
    let mut failover = None;
    for (round, victim) in [1usize, 0, 2, 1, 2, 0, 1].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match round {
            2 => {
                // The leader dies: another leads within the lease + 1 s.
                // (A daemon killed in the round before may still hold an
                // unexpired lease: wait for a live one to lead.)
                let (pid, k) = loop {
                    if let Some(pid) = leader_pid(&http, &url_of(&daemons, 0)).await
                        && let Some(k) = daemons.iter().position(|(d, _)| d.child.id() == pid)
                    {
                        break (pid, k);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                let killed = std::time::Instant::now();
                kill9(&mut daemons[k].0);
                let observer = url_of(&daemons, k + 1);
                loop {
                    if let Some(next) = leader_pid(&http, &observer).await.filter(|p| *p != pid) {
                        failover = Some((killed.elapsed(), next));
                        break;
                    }
                    assert!(killed.elapsed() < Duration::from_secs(10), "no new leader");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                daemons[k] = chaos_daemon(&db, &sim_url);
            }
            4 => {
                // Stopped past its leases (3 s), then continued: whatever it
                // held was rescued by the others, and its late writes are
                // fenced off.
                let pid = daemons[victim].0.child.id().to_string();
                assert!(
                    std::process::Command::new("kill")
                        .args(["-STOP", &pid])
                        .status()
                        .unwrap()
                        .success()
                );
                tokio::time::sleep(Duration::from_secs(5)).await;
                assert!(
                    std::process::Command::new("kill")
                        .args(["-CONT", &pid])
                        .status()
                        .unwrap()
                        .success()
                );
            }
            _ => {
                kill9(&mut daemons[victim].0);
                daemons[victim] = chaos_daemon(&db, &sim_url);
            }
        }
    }

    // Everything finishes.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut finals: std::collections::HashMap<i64, Value> = std::collections::HashMap::new();
    while finals.len() < jobs.len() {
        let url = url_of(&daemons, 0);
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
            std::time::Instant::now() < deadline,
            "jobs did not finish: {} of {}",
            finals.len(),
            jobs.len()
        );
        // Other processes: no commit here wakes this test.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 0 lost: every job succeeded.
    for (id, kind, _) in &jobs {
        assert_eq!(
            finals[id]["state"], "succeeded",
            "{kind} job {id}: {:#}",
            finals[id]
        );
    }
    let rescued = finals
        .values()
        .flat_map(|j| j["events"].as_array().unwrap().iter())
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("went away; back in the queue"))
        })
        .count();
    let (took, next) = failover.unwrap();
    eprintln!(
        "chaos: {} jobs succeeded, {rescued} taken back from a dead or stopped daemon, the lead moved to pid {next} {:.2} s after the leader's kill",
        jobs.len(),
        took.as_secs_f64()
    );
    assert!(
        took <= Duration::from_secs(4),
        "the lead took {took:?} to move (lease 3 s + 1 s)"
    );

    // 0 sent twice: per machine, no more starts or stops at Paperspace
    // than jobs of that kind, and each machine ends where its jobs left it.
    let listed: Value = http
        .get(format!("{sim_url}/_sim/machines"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    for (id, ready) in &machines {
        for kind in ["start", "stop"] {
            let asked = jobs
                .iter()
                .filter(|(_, k, m)| *k == kind && m.as_deref() == Some(id))
                .count();
            let shown: Value = http
                .get(format!(
                    "{sim_url}/machines/getMachinePublic?machineId={id}"
                ))
                .header("x-api-key", "sim-key")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let applied = shown["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["name"] == kind)
                .count();
            assert!(
                applied <= asked,
                "{id}: {applied} {kind}s reached Paperspace for {asked} {kind} jobs"
            );
        }
        // Ten alternating jobs end where the machine began.
        let state = listed.iter().find(|m| m["id"] == id.as_str()).unwrap()["state"].clone();
        assert_eq!(state, json!(if *ready { "ready" } else { "off" }), "{id}");
    }
    // 0 created twice.
    for i in 0..5 {
        let name = format!("chaos-new-{i}");
        let made = listed.iter().filter(|m| m["name"] == name.as_str()).count();
        assert_eq!(made, 1, "{name} was created {made} times");
    }
    // Every fire time once per target, with no gap, and one job per firing
    // that queued one.
    let url = fixture.options().url.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url.expose_for_test())
        .await
        .unwrap();
    let firings: Vec<(i64, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT fire_at, target, outcome, job_id FROM firings WHERE schedule_id = $1 ORDER BY target, fire_at",
    )
    .bind(schedule_id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(firings.len() >= 3 * 15, "only {} firings", firings.len());
    for target in &watched {
        // A time the scheduler missed (the lead was moving) is one row for
        // the whole firing ("*"), skipped or superseded by the catch-up.
        let mut times: Vec<i64> = firings
            .iter()
            .filter(|f| &f.1 == target || f.1 == "*")
            .map(|f| f.0)
            .collect();
        times.sort_unstable();
        for pair in times.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                1000,
                "{target}: a fire time missing or repeated between {} and {}",
                pair[0],
                pair[1]
            );
        }
    }
    let with_jobs: Vec<i64> = firings.iter().filter_map(|f| f.3).collect();
    let distinct: std::collections::HashSet<_> = with_jobs.iter().collect();
    assert_eq!(distinct.len(), with_jobs.len(), "two firings share a job");
    let queued = firings
        .iter()
        .filter(|f| f.2 == "enqueued" || f.2 == "caught_up")
        .count();
    assert_eq!(queued, with_jobs.len(), "a firing that queued has no job");
    for (daemon, _) in &mut daemons {
        kill9(daemon);
    }
}
