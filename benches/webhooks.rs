//! Webhook deliveries in a burst, printed as figures next to their goals.
//!
//! `cargo bench --bench webhooks` (or `-- --events N --jobs M`). An
//! in-process daemon on port 0 (temp database, durable commits, the
//! default 8 delivery workers and 8 machine workers) and an in-process
//! simulated account; one endpoint pointing at a receiver in this process
//! that answers 200 at once. First `M` machine jobs (`refresh`) are
//! submitted alone; then `N` events are published at once while another
//! `M` machine jobs are submitted. Reported: deliveries made (each event
//! must arrive exactly once), the time from publishing an event to its
//! arrival (goal: p99 under 1 s), and the machine jobs' time from
//! submission to start, alone and during the burst (goal: unchanged).
//!
//! Nothing here asserts a timing; the run fails only if an event is lost
//! or delivered twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use axum::http::HeaderMap;
use machinist::clock::SystemClock;
use machinist::daemon::{Daemon, DaemonSettings};
use machinist::delivery::{Publisher, WebhookSettings};
use machinist::job::{JobDefaults, JobId, JobState, NewJob, Operation};
use machinist::store::Store;
use machinist::webhook::{
    DestinationPolicy, EndpointSource, EndpointSpec, EventType, Secret, Subject,
};
use serde_json::json;

#[path = "support/account.rs"]
mod account;
#[path = "support/figures.rs"]
mod figures;
use account::simulated_account;
use figures::{ms, percentile};

struct Args {
    events: usize,
    jobs: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        events: 1_000,
        jobs: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => args.events = it.next().context("--events N")?.parse()?,
            "--jobs" => args.jobs = it.next().context("--jobs N")?.parse()?,
            _ => {}
        }
    }
    Ok(args)
}

/// Arrivals: (webhook-id, when).
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

async fn receiver() -> anyhow::Result<(String, Arrivals)> {
    let arrivals: Arrivals = Arc::default();
    let a = arrivals.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let a = a.clone();
        async move {
            let id = headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            a.lock().unwrap().push((id, Instant::now()));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, arrivals))
}

/// Submits `n` refresh jobs at once; their ids.
async fn submit_jobs(store: &Store, n: usize) -> anyhow::Result<Vec<JobId>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let now = chrono::Utc::now();
            let job = NewJob::new(Operation::Refresh, None, &JobDefaults::default(), now);
            store.submit(job, now).await.map(|s| s.job.id)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await??);
    }
    Ok(ids)
}

/// Each job's time from submission to its claim (`queued → running`), by
/// the history's clock, once all have started.
async fn start_delays(store: &Store, ids: &[JobId]) -> anyhow::Result<Vec<Duration>> {
    let mut delays = Vec::new();
    for id in ids {
        loop {
            let job = store.job(*id).await?.context("a submitted job")?;
            let events = store.events(*id).await?;
            if let Some(started) = events
                .iter()
                .find(|e| e.event.to_state == Some(JobState::Running))
            {
                delays.push((started.at - job.created_at).to_std().unwrap_or_default());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    delays.sort_unstable();
    Ok(delays)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let (_sim, api) = simulated_account().await?;
    let dir = tempfile::tempdir()?;
    let mut settings = DaemonSettings::new(dir.path().join("machinist.db"));
    settings.webhooks = WebhookSettings {
        policy: DestinationPolicy {
            allow_http_loopback: true,
            allow_private: false,
        },
        ..WebhookSettings::default()
    };
    let delivery_workers = settings.webhooks.workers;
    let daemon = Daemon::start(settings, api, Arc::new(SystemClock)).await?;
    let store = daemon.store().clone();
    let (url, arrivals) = receiver().await?;
    store
        .create_endpoint(
            EndpointSpec {
                url,
                events: Some(vec![EventType::JobFailed]),
                ..EndpointSpec::default()
            },
            Secret::generate(),
            EndpointSource::Api,
            chrono::Utc::now(),
        )
        .await?;
    let publisher = Publisher::new(store.clone(), Arc::new(SystemClock), 10);
    publisher.refresh().await?;

    println!(
        "webhooks: {} events at once to one endpoint ({delivery_workers} delivery workers, \
         at most 2 in flight per endpoint), {} machine jobs alone and during the burst",
        args.events, args.jobs
    );
    let alone = submit_jobs(&store, args.jobs).await?;
    let alone = start_delays(&store, &alone).await?;

    // The burst: every event published at once, machine jobs beside it.
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut publishing = Vec::new();
    let burst_started = Instant::now();
    for i in 0..args.events {
        let event = machinist::webhook::Event::new(
            EventType::JobFailed,
            chrono::Utc::now(),
            json!({"summary": format!("bench event {i}"), "job_id": i}),
            Subject::default(),
        );
        sent.insert(event.id.clone(), Instant::now());
        let publisher = publisher.clone();
        publishing.push(tokio::spawn(
            async move { publisher.publish(event, None).await },
        ));
    }
    let during = submit_jobs(&store, args.jobs).await?;
    for p in publishing {
        ensure!(p.await?.is_some(), "an event was not published");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().unwrap().len() < args.events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_in = burst_started.elapsed();
    let during = start_delays(&store, &during).await?;
    // Anything late or twice would show in a moment more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arrived = arrivals.lock().unwrap().clone();
    let mut once: HashMap<&str, Instant> = HashMap::new();
    let mut duplicates = 0;
    for (id, at) in &arrived {
        if once.insert(id.as_str(), *at).is_some() {
            duplicates += 1;
        }
    }
    let missing = sent
        .keys()
        .filter(|id| !once.contains_key(id.as_str()))
        .count();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(id, t)| once.get(id.as_str()).map(|a| a.duration_since(*t)))
        .collect();
    latencies.sort_unstable();
    println!(
        "  delivered {}/{} events ({duplicates} twice, {missing} missing) in {:.2} s: {:.0} deliveries/s",
        once.len(),
        args.events,
        all_in.as_secs_f64(),
        once.len() as f64 / all_in.as_secs_f64()
    );
    println!(
        "  event → delivery: p50 {}  p90 {}  p99 {}  max {}   (goal: p99 < 1000 ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "  machine jobs submit → start, alone:        p50 {}  p99 {}",
        ms(percentile(&alone, 0.5)),
        ms(percentile(&alone, 0.99))
    );
    println!(
        "  machine jobs submit → start, during burst: p50 {}  p99 {}   (goal: unchanged)",
        ms(percentile(&during, 0.5)),
        ms(percentile(&during, 0.99))
    );
    daemon.stop().await;
    ensure!(
        duplicates == 0 && missing == 0,
        "{duplicates} twice, {missing} missing"
    );
    Ok(())
}
