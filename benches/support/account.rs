//! The simulated account the HTTP-level benchmarks run against: an
//! in-process simulator whose machines change state in 50 ms, and the
//! daemon's legacy client of it with a rate limit no benchmark reaches.
//! Included by `http_load.rs` and `webhooks.rs` with `#[path]`.

use std::sync::Arc;
use std::time::Duration;

use machinist::clock::SystemClock;
use machinist::config::RateLimitConfig;
use machinist::daemon::PaperspaceSettings;
use machinist::paperspace::{Backend, MachineApi};
use machinist::sim::{self, SimConfig, SimHandle, Timings};

/// The simulator (kept alive by the handle) and a client of it.
pub async fn simulated_account() -> anyhow::Result<(SimHandle, Arc<dyn MachineApi>)> {
    let sim = sim::spawn(
        SimConfig {
            timings: Timings::uniform(Duration::from_millis(50)),
            ..SimConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let api = PaperspaceSettings {
        rate_limit: Some(RateLimitConfig {
            per_second: 10_000.0,
            burst: 1_000,
        }),
        ..PaperspaceSettings::simulator(Backend::Legacy, &sim.url)
    }
    .client()?;
    Ok((sim, api))
}
