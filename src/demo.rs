//! `machinist demo`: the daemon on a fresh temp database against a simulated
//! account started in this process, with a handful of jobs submitted over the
//! admin API and followed on the terminal as they move through their states.
//! No API key, no money, about half a minute.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::admin_client::AdminClient;
use crate::clock::SystemClock;
use crate::daemon::{Daemon, DaemonSettings};
use crate::job::{JobId, JobRequest};
use crate::paperspace::legacy::{LegacyClient, LegacyConfig};
use crate::paperspace::throttle::{Throttled, TokenBucket};
use crate::paperspace::{ApiKey, FilterField, MachineApi, MachineFilter};
use crate::sim::{self, SimConfig, Timings};

/// Flags of `machinist demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Walk every machine operation with the client alone, without the daemon.
    #[arg(long)]
    pub client: bool,

    /// How long each simulated state change takes, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub transition_ms: u64,
}

/// Runs `machinist demo`.
pub async fn run(args: DemoArgs) -> Result<()> {
    let transition = Duration::from_millis(args.transition_ms);
    if args.client {
        return crate::walkthrough::run(transition).await;
    }
    let sim = sim::spawn(
        SimConfig {
            timings: Timings::uniform(transition),
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .context("could not start the simulated account")?;
    let mut legacy = LegacyConfig::new(ApiKey::new(sim::DEFAULT_API_KEY)?);
    legacy.base_url = sim.url.clone();
    let client = LegacyClient::new(legacy)?;
    let api: Arc<dyn MachineApi> =
        Arc::new(Throttled::new(client.clone(), TokenBucket::new(20.0, 20)));

    let dir = tempfile_dir()?;
    let db = dir.join("machinist.db");
    let mut settings = DaemonSettings::new(&db);
    settings.workers.poll_interval = (transition / 4).max(Duration::from_millis(50));
    let daemon = Daemon::start(settings, api, Arc::new(SystemClock)).await?;
    println!("Machinist daemon   {}  (admin API)", daemon.url());
    println!("database           {}", db.display());
    println!("simulated account  {}  (legacy Paperspace API)\n", sim.url);

    let admin = AdminClient::new(&daemon.url(), None)?;
    let off = client
        .list_all(&MachineFilter::all().with(FilterField::State, "off"))
        .await?;
    let ready = client
        .list_all(&MachineFilter::all().with(FilterField::State, "ready"))
        .await?;
    let (off, ready) = (
        off.first()
            .context("the simulated account has no off machine")?,
        ready
            .first()
            .context("the simulated account has no ready machine")?,
    );
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let requests = [
        json!({"kind": "refresh"}),
        json!({"kind": "start", "machine_id": off.id}),
        json!({"kind": "stop", "machine_id": ready.id}),
        json!({"kind": "create", "args": {"name": "demo-train-1", "region": "Europe (AMS1)",
               "machine_type": "P4000", "disk_size_gb": 100, "template_id": "tkni3aa4"}}),
        json!({"kind": "start", "machine_id": off.id}),
        json!({"kind": "utilization", "machine_id": ready.id, "args": {"month": month}}),
        json!({"kind": "availability", "args": {"region": "West Coast (CA1)", "machine_type": "V100"}}),
    ];
    let started = Instant::now();
    let mut jobs: BTreeMap<JobId, String> = BTreeMap::new();
    for body in requests {
        let request: JobRequest = serde_json::from_value(body)?;
        let (job, _) = admin.submit(&request).await?;
        let label = format!(
            "job {:<2} {:<12} {:<10}",
            job.id,
            job.kind.as_str(),
            job.machine_id.as_deref().unwrap_or("")
        );
        jobs.insert(job.id, label);
    }

    // Follow every job over the admin API until all are final.
    let mut printed: HashSet<i64> = HashSet::new();
    let mut done: HashSet<JobId> = HashSet::new();
    while done.len() < jobs.len() {
        let mut fresh = Vec::new();
        for (&id, label) in &jobs {
            if done.contains(&id) {
                continue;
            }
            let (job, events) = admin.show(id).await?;
            for event in events {
                if printed.insert(event.id) {
                    fresh.push((event.id, label.clone(), event));
                }
            }
            if job.state.is_final() {
                done.insert(id);
            }
        }
        fresh.sort_by_key(|(id, _, _)| *id);
        for (_, label, event) in fresh {
            let what = match event.event.to_state {
                Some(state) => state.as_str().to_string(),
                None => "·".to_string(),
            };
            println!(
                "[{:>6.2}s] {label} {what:<10} {}",
                started.elapsed().as_secs_f64(),
                event.event.message
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!();
    for (&id, label) in &jobs {
        let (job, _) = admin.show(id).await?;
        let detail = match (&job.last_error, job.state) {
            (Some(e), crate::job::JobState::Failed) => e.clone(),
            _ => format!("after {} attempt(s)", job.attempt),
        };
        println!("{label} {:<10} {detail}", job.state.as_str());
    }
    daemon.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("\nThe daemon stopped cleanly. Run `machinist serve` to keep one running.");
    Ok(())
}

/// A fresh private directory under the system temp dir.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "machinist-demo-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    Ok(dir)
}
