//! Clients of a simulator or a fake upstream, and a simulator to talk to.

use std::time::Duration;

use machinist::clock::SharedClock;
use machinist::paperspace::legacy::{LegacyClient, LegacyConfig};
use machinist::paperspace::v1::{V1Client, V1Config};
use machinist::paperspace::{ApiKey, WaitOptions};
use machinist::sim::{self, SimConfig, SimHandle, Timings};

/// A legacy client of `base_url` with `key`.
pub fn legacy_client_at(base_url: &str, key: &str, timeout: Duration) -> LegacyClient {
    let mut config = LegacyConfig::new(ApiKey::new(key).unwrap());
    config.base_url = base_url.to_string();
    config.request_timeout = timeout;
    LegacyClient::new(config).unwrap()
}

/// A v1 client of `base_url` (the `/v1` prefix included) with `key`.
pub fn v1_client_at(base_url: &str, key: &str, timeout: Duration) -> V1Client {
    let mut config = V1Config::new(ApiKey::new(key).unwrap());
    config.base_url = base_url.to_string();
    config.request_timeout = timeout;
    V1Client::new(config).unwrap()
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
