//! The one place a Paperspace client is built.
//!
//! [`PaperspaceSettings`] says how to reach one Paperspace API (which one,
//! where, with which key, how patiently, how fast) and builds its client
//! itself: the typed [`LegacyClient`] or [`V1Client`], or either behind
//! the shared rate limit as the `Arc<dyn MachineApi>` the daemon runs on.
//! Everything that needs a client goes through it: `serve` (through
//! [`paperspace_api`], which reads the configuration and, for the `sim`
//! backend, starts the simulator first), `machinist demo` and its
//! walkthrough, and the tests' harness. So a new client setting (a proxy, a
//! retry policy) is added once, here.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::clock::SystemClock;
use crate::config::{Config, RateLimitConfig};
use crate::paperspace::legacy::{ClientError, LegacyClient, LegacyConfig};
use crate::paperspace::throttle::{Throttled, TokenBucket};
use crate::paperspace::v1::{V1Client, V1Config};
use crate::paperspace::{ApiKey, Backend, MachineApi};
use crate::sim::{self, SimConfig, SimHandle, Timings};

/// How to reach one Paperspace API: everything a client is built from.
#[derive(Debug, Clone)]
pub struct PaperspaceSettings {
    /// Which API to speak: it decides the client, its routes and its
    /// authentication.
    pub backend: Backend,
    /// Where that API lives: Paperspace itself, a proxy, or a simulator
    /// (whose v1 routes are under `/v1`).
    pub base_url: String,
    /// What the client authenticates with.
    pub api_key: ApiKey,
    /// How long one call may take before it counts as a (transient) timeout.
    pub request_timeout: Duration,
    /// The token bucket every call of [`PaperspaceSettings::client`] waits
    /// for, so that a burst of jobs does not get the account throttled;
    /// `None` leaves calls unlimited (a walkthrough, a test's own client).
    pub rate_limit: Option<RateLimitConfig>,
}

impl PaperspaceSettings {
    /// The real `backend` with `api_key`: its own URL, a 30 s request
    /// timeout, no rate limit.
    fn new(backend: Backend, api_key: ApiKey) -> Self {
        PaperspaceSettings {
            backend,
            base_url: backend.default_base_url().to_string(),
            api_key,
            request_timeout: Duration::from_secs(30),
            rate_limit: None,
        }
    }

    /// The routes of `backend` on the simulator at `url`
    /// ([`SimHandle::url`]), with its default key.
    pub fn simulator(backend: Backend, url: &str) -> Self {
        let key = ApiKey::new(sim::DEFAULT_API_KEY).expect("the simulator's key is a valid key");
        PaperspaceSettings {
            base_url: match backend {
                Backend::Legacy => url.to_string(),
                Backend::V1 => format!("{url}/v1"),
            },
            ..PaperspaceSettings::new(backend, key)
        }
    }

    /// A client of the legacy API (whatever `backend` says).
    pub fn legacy_client(&self) -> Result<LegacyClient, ClientError> {
        LegacyClient::new(LegacyConfig {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            request_timeout: self.request_timeout,
        })
    }

    /// A client of the v1 API (whatever `backend` says).
    pub fn v1_client(&self) -> Result<V1Client, ClientError> {
        V1Client::new(V1Config {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            request_timeout: self.request_timeout,
        })
    }

    /// The client of `backend`, behind the rate limit if there is one: what
    /// the daemon runs on.
    pub fn client(&self) -> Result<Arc<dyn MachineApi>, ClientError> {
        Ok(match self.backend {
            Backend::Legacy => self.limited(self.legacy_client()?),
            Backend::V1 => self.limited(self.v1_client()?),
        })
    }

    /// `client` behind the rate limit, if there is one; for a caller that
    /// also keeps the bare client (the demo watches the account with it
    /// without spending the daemon's tokens).
    pub fn limited<A: MachineApi + 'static>(&self, client: A) -> Arc<dyn MachineApi> {
        match &self.rate_limit {
            Some(limit) => Arc::new(Throttled::new(
                client,
                TokenBucket::new(limit.per_second, limit.burst),
            )),
            None => Arc::new(client),
        }
    }
}

/// The Paperspace API the configuration asks for, rate limited; with the
/// `sim` backend, also the in-process simulator (keep it alive).
pub(crate) async fn paperspace_api(
    config: &Config,
    api_key: Option<ApiKey>,
) -> anyhow::Result<(Arc<dyn MachineApi>, Option<SimHandle>)> {
    // `auto` is `v1` with a key and `sim` without (serve resolves it first;
    // this is for callers that did not).
    let choice = config.paperspace.backend.resolve(api_key.is_some());
    let Some(backend) = choice.api() else {
        let sim_config = SimConfig {
            timings: Timings::uniform(config.paperspace.sim_transition),
            ..SimConfig::default()
        };
        let handle = sim::spawn(sim_config, Arc::new(SystemClock))
            .await
            .context("could not start the simulated Paperspace account")?;
        tracing::warn!(
            url = %handle.url,
            "paperspace.backend = \"sim\": jobs run against a simulated account in this process; \
             set paperspace.backend = \"v1\" and an API key to manage real machines"
        );
        // The v1 routes of the simulator, as every real account has
        // today: the meter's events, rates and standing included.
        let settings = PaperspaceSettings {
            request_timeout: config.paperspace.request_timeout,
            rate_limit: Some(config.rate_limit.clone()),
            ..PaperspaceSettings::simulator(Backend::V1, &handle.url)
        };
        return Ok((settings.client()?, Some(handle)));
    };
    let api_key = api_key.with_context(|| {
        format!(
            "the {} backend needs a Paperspace API key: set PAPERSPACE_API_KEY or paperspace.api_key_file",
            backend.as_str()
        )
    })?;
    let settings = PaperspaceSettings {
        base_url: config.paperspace.base_url_for(backend).to_string(),
        request_timeout: config.paperspace.request_timeout,
        rate_limit: Some(config.rate_limit.clone()),
        ..PaperspaceSettings::new(backend, api_key)
    };
    Ok((settings.client()?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackendChoice;

    #[test]
    fn the_simulators_v1_routes_are_under_v1() {
        let legacy = PaperspaceSettings::simulator(Backend::Legacy, "http://127.0.0.1:9");
        let v1 = PaperspaceSettings::simulator(Backend::V1, "http://127.0.0.1:9");
        assert_eq!(legacy.base_url, "http://127.0.0.1:9");
        assert_eq!(v1.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(v1.client().unwrap().backend(), Backend::V1);
        assert_eq!(legacy.client().unwrap().backend(), Backend::Legacy);
    }

    #[tokio::test]
    async fn a_real_backend_without_a_key_is_refused_with_where_to_put_one() {
        let mut config = Config::default();
        config.paperspace.backend = BackendChoice::Legacy;
        let error = paperspace_api(&config, None).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the legacy backend needs a Paperspace API key: set PAPERSPACE_API_KEY or paperspace.api_key_file"
        );
    }

    #[tokio::test]
    async fn auto_with_a_key_speaks_v1_to_the_configured_url() {
        let mut config = Config::default();
        config.paperspace.base_url = "http://127.0.0.1:9/v1".into();
        let key = ApiKey::new("a-real-looking-key-0123").unwrap();
        let (api, sim) = paperspace_api(&config, Some(key)).await.unwrap();
        assert_eq!(api.backend(), Backend::V1);
        assert!(sim.is_none());
    }
}
