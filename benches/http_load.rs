//! Job submissions over HTTP under load, printed as figures.
//!
//! `cargo bench --bench http_load` (10 s of load) or with `-- --seconds N`
//! and `-- --clients N` (50). An in-process daemon on port 0 (temp
//! database, durable commits, 8 workers, auth on) runs `refresh` jobs
//! against an in-process simulated account while N clients, each with its
//! own connection pool, submit jobs back to back over HTTP. Reported:
//! submissions per second, latency percentiles, non-2xx answers, and how
//! many jobs the workers finished meanwhile.
//!
//! Nothing here asserts a timing; the run fails only if a submission is
//! refused or lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use machinist::clock::SystemClock;
use machinist::config::AdminToken;
use machinist::daemon::{Daemon, DaemonSettings};
use machinist::job::JobState;
use machinist::worker::WorkerSettings;

const TOKEN: &str = "bench-admin-token-0123456789";

#[path = "support/account.rs"]
mod account;
#[path = "support/figures.rs"]
mod figures;
use account::simulated_account;
use figures::{ms, percentile};

struct Args {
    seconds: u64,
    clients: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        seconds: 10,
        clients: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => args.seconds = it.next().context("--seconds N")?.parse()?,
            "--clients" => args.clients = it.next().context("--clients N")?.parse()?,
            // cargo bench passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let (_sim, api) = simulated_account().await?;
    let dir = tempfile::tempdir()?;
    let mut settings = DaemonSettings::new(dir.path().join("machinist.db"));
    settings.workers = WorkerSettings {
        count: 8,
        ..settings.workers
    };
    settings.admin_token = Some(AdminToken::new(TOKEN)?);
    let daemon = Daemon::start(settings, api, Arc::new(SystemClock)).await?;
    let url = format!("{}/v1/jobs", daemon.url());

    println!(
        "http_load: {} clients submitting `refresh` jobs for {} s, 8 workers running them",
        args.clients, args.seconds
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut refused = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let resp = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(r#"{"kind":"refresh"}"#)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => {
                        let ok = r.status().as_u16() == 201;
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                latencies.push(t.elapsed());
                if !ok {
                    refused += 1;
                }
            }
            (latencies, refused)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (l, r) = t.await?;
        latencies.extend(l);
        refused += r;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let counts = daemon.store().counts().await?;
    let count = |s: JobState| {
        counts
            .iter()
            .find(|(state, _)| *state == s)
            .map_or(0, |(_, n)| *n)
    };
    let stored: u64 = counts.iter().map(|(_, n)| n).sum();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "submissions      {} in {:.1} s: {rate:.0}/s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency          p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!("refused          {refused}");
    println!(
        "workers          {} succeeded, {} failed meanwhile; {} still queued",
        count(JobState::Succeeded),
        count(JobState::Failed),
        count(JobState::Queued) + count(JobState::Running) + count(JobState::Waiting)
    );
    ensure!(refused == 0, "{refused} submissions were refused");
    ensure!(
        stored == latencies.len() as u64,
        "{} submissions answered 201 but {stored} jobs are stored",
        latencies.len()
    );
    daemon.stop().await;
    Ok(())
}
