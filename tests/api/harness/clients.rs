//! Clients of a simulator or a fake upstream, and a simulator to talk to.

use std::time::Duration;

use machinist::clock::SharedClock;
use machinist::daemon::PaperspaceSettings;
use machinist::paperspace::legacy::LegacyClient;
use machinist::paperspace::v1::V1Client;
use machinist::paperspace::{ApiKey, Backend, WaitOptions};
use machinist::sim::{self, SimConfig, SimHandle, Timings};

/// The settings of a client of `backend` at `base_url` with `key`, not
/// rate limited: built where the daemon builds its own.
fn settings(backend: Backend, base_url: &str, key: &str, timeout: Duration) -> PaperspaceSettings {
    PaperspaceSettings {
        backend,
        base_url: base_url.to_string(),
        api_key: ApiKey::new(key).unwrap(),
        request_timeout: timeout,
        rate_limit: None,
    }
}

/// A legacy client of `base_url` with `key`.
pub fn legacy_client_at(base_url: &str, key: &str, timeout: Duration) -> LegacyClient {
    settings(Backend::Legacy, base_url, key, timeout)
        .legacy_client()
        .unwrap()
}

/// A v1 client of `base_url` (the `/v1` prefix included) with `key`.
pub fn v1_client_at(base_url: &str, key: &str, timeout: Duration) -> V1Client {
    settings(Backend::V1, base_url, key, timeout)
        .v1_client()
        .unwrap()
}

/// A simulator on port 0 whose state changes take `transition`, on `clock`.
pub async fn spawn_sim(transition: Duration, clock: SharedClock) -> SimHandle {
    let config = SimConfig {
        timings: Timings::uniform(transition),
        ..SimConfig::default()
    };
    sim::spawn(config, clock).await.unwrap()
}

/// Waits for a state on a fast simulator: polls every 15 ms, 10 s at most.
pub fn quick_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(10),
        interval: Duration::from_millis(15),
    }
}
