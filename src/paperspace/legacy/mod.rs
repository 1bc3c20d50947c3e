//! The legacy Paperspace API client (`https://api.paperspace.io`).
//!
//! Sends requests the way the official `paperspace-node` client does: header
//! `x-api-key`, every parameter in the query string for GET and in a JSON body
//! for POST (path parameters included), and accepts both legacy error shapes.

mod wire;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::api_key::ApiKey;
use super::error::{ApiError, Call};
use super::error::{check_id, check_not_empty};
use super::transport::{self, Answer};
use super::{Backend, MachineApi};
use crate::machine::Machine;
use crate::machine::{Availability, BillingMonth, Template, Utilization};
use crate::machine::{
    CreateMachine, FilterField, MachineFilter, MachinePage, PageRequest, TemplateFilter,
    UpdateMachine,
};

/// Production base URL of the legacy API.
pub const DEFAULT_BASE_URL: &str = "https://api.paperspace.io";

/// The page size the legacy API uses when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// Every route this client calls, as method and template.
pub mod routes {
    use super::Call;

    pub const CREATE: Call = Call {
        method: "POST",
        route: "/machines/createSingleMachinePublic",
    };
    pub const START: Call = Call {
        method: "POST",
        route: "/machines/:machineId/start",
    };
    pub const STOP: Call = Call {
        method: "POST",
        route: "/machines/:machineId/stop",
    };
    pub const RESTART: Call = Call {
        method: "POST",
        route: "/machines/:machineId/restart",
    };
    pub const DESTROY: Call = Call {
        method: "POST",
        route: "/machines/:machineId/destroyMachine",
    };
    pub const UPDATE: Call = Call {
        method: "POST",
        route: "/machines/:machineId/updateMachinePublic",
    };
    pub const LIST: Call = Call {
        method: "GET",
        route: "/machines/getMachines",
    };
    pub const SHOW: Call = Call {
        method: "GET",
        route: "/machines/getMachinePublic",
    };
    pub const SET_ACCESS: Call = Call {
        method: "POST",
        route: "/machines/:machineId/setMachineAccess",
    };
    pub const UTILIZATION: Call = Call {
        method: "GET",
        route: "/machines/getUtilization",
    };
    pub const AVAILABILITY: Call = Call {
        method: "GET",
        route: "/machines/getAvailability",
    };
    pub const TEMPLATES: Call = Call {
        method: "GET",
        route: "/templates/getTemplates",
    };
}

/// Settings of a [`LegacyClient`].
#[derive(Debug, Clone)]
pub struct LegacyConfig {
    /// Where the API lives; a simulator's URL in tests and demos.
    pub base_url: String,
    /// The Paperspace API key, sent in the `x-api-key` header.
    pub api_key: ApiKey,
    /// Upper bound on one request, connect to last byte.
    pub request_timeout: Duration,
}

impl LegacyConfig {
    /// Production URL and a 30 s request timeout.
    pub fn new(api_key: ApiKey) -> Self {
        LegacyConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Client of the legacy API. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct LegacyClient {
    /// Pooled HTTP client with the request timeout built in.
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base_url: String,
    /// Sent in the `x-api-key` header on every request; masked in `Debug`.
    api_key: ApiKey,
    /// Kept to say how long a timed-out request waited.
    timeout: Duration,
}

impl std::fmt::Debug for LegacyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyClient")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A client that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("base URL `{0}` is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl LegacyClient {
    pub fn new(config: LegacyConfig) -> Result<Self, ClientError> {
        let base_url = config.base_url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(ClientError::BadBaseUrl(config.base_url)),
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("machinist/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(LegacyClient {
            http,
            base_url,
            api_key: config.api_key,
            timeout: config.request_timeout,
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, call: Call, path: &str) -> reqwest::RequestBuilder {
        let method = match call.method {
            "GET" => reqwest::Method::GET,
            _ => reqwest::Method::POST,
        };
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .header("x-api-key", self.api_key.expose())
            .header("ps_client_name", "machinist")
            .header("ps_client_version", env!("CARGO_PKG_VERSION"))
    }

    async fn get(
        &self,
        call: Call,
        query: &[(&str, &str)],
        machine_id: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let request = self.request(call, call.route).query(query);
        transport::send(request, call, &self.base_url, self.timeout, machine_id).await
    }

    async fn post(&self, call: Call, machine_id: &str, body: Value) -> Result<Answer, ApiError> {
        let path = call.route.replace(":machineId", machine_id);
        let request = self.request(call, &path).json(&body);
        transport::send(
            request,
            call,
            &self.base_url,
            self.timeout,
            Some(machine_id),
        )
        .await
    }

    /// A machine state change with the Node client's body `{machineId}`.
    async fn lifecycle(&self, call: Call, machine_id: &str) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        self.post(call, machine_id, json!({ "machineId": machine_id }))
            .await
            .map(drop)
    }

    /// One page by `limit` and `skip`, the legacy paging.
    pub async fn list_with_skip(
        &self,
        filter: &MachineFilter,
        limit: u32,
        skip: u64,
    ) -> Result<Vec<Machine>, ApiError> {
        if limit == 0 {
            return Err(ApiError::Invalid {
                field: "limit",
                message: "must be at least 1".into(),
            });
        }
        let limit_s = limit.to_string();
        let skip_s = skip.to_string();
        let mut query: Vec<(&str, &str)> = filter
            .fields
            .iter()
            .filter(|(field, _)| **field != FilterField::MachineType)
            .map(|(field, value)| (field.legacy_key(), value.as_str()))
            .collect();
        query.push(("limit", &limit_s));
        query.push(("skip", &skip_s));
        let answer = self.get(routes::LIST, &query, None).await?;
        let machines: Vec<wire::WireMachine> = answer.json()?;
        Ok(machines.into_iter().map(Machine::from).collect())
    }

    /// Keeps the machines of the filter's `machine_type`, which the legacy
    /// API cannot filter by (it is only in `usageRate`).
    fn keep_machine_type(filter: &MachineFilter, machines: &mut Vec<Machine>) {
        if let Some(want) = filter.fields.get(&FilterField::MachineType) {
            machines.retain(|m| m.machine_type.as_deref() == Some(want.as_str()));
        }
    }
}

#[async_trait]
impl MachineApi for LegacyClient {
    fn backend(&self) -> Backend {
        Backend::Legacy
    }

    async fn create(&self, request: &CreateMachine) -> Result<Machine, ApiError> {
        check_not_empty("name", &request.name)?;
        check_not_empty("region", &request.region)?;
        check_not_empty("machine_type", &request.machine_type)?;
        check_id("template_id", &request.template_id)?;
        if request.disk_size_gb == 0 {
            return Err(ApiError::Invalid {
                field: "disk_size_gb",
                message: "must be at least 1".into(),
            });
        }
        let call = routes::CREATE;
        let request = self
            .request(call, call.route)
            .json(&wire::create_body(request));
        let answer = transport::send(request, call, &self.base_url, self.timeout, None).await?;
        let machine: wire::WireMachine = answer.json()?;
        Ok(machine.into())
    }

    async fn start(&self, machine_id: &str) -> Result<(), ApiError> {
        self.lifecycle(routes::START, machine_id).await
    }

    async fn stop(&self, machine_id: &str) -> Result<(), ApiError> {
        self.lifecycle(routes::STOP, machine_id).await
    }

    async fn restart(&self, machine_id: &str) -> Result<(), ApiError> {
        self.lifecycle(routes::RESTART, machine_id).await
    }

    async fn destroy(&self, machine_id: &str, release_public_ip: bool) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        let body = json!({ "machineId": machine_id, "releasePublicIp": release_public_ip });
        self.post(routes::DESTROY, machine_id, body).await.map(drop)
    }

    async fn update(&self, machine_id: &str, changes: &UpdateMachine) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        if changes.is_empty() {
            return Err(ApiError::Invalid {
                field: "changes",
                message: "nothing to update; give at least one setting".into(),
            });
        }
        if let Some(name) = &changes.name {
            check_not_empty("name", name)?;
        }
        let body = wire::update_body(machine_id, changes);
        self.post(routes::UPDATE, machine_id, body).await.map(drop)
    }

    /// The cursor is the number of machines to skip, as a decimal string.
    async fn list_page(
        &self,
        filter: &MachineFilter,
        page: &PageRequest,
    ) -> Result<MachinePage, ApiError> {
        let skip: u64 = match &page.cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| ApiError::Invalid {
                field: "cursor",
                message: format!(
                    "`{c}` is not a legacy page cursor (a number of machines to skip)"
                ),
            })?,
        };
        let limit = page.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        let mut machines = self.list_with_skip(filter, limit, skip).await?;
        // The legacy API gives no total: a full page may be followed by more.
        let next = (machines.len() as u64 >= u64::from(limit))
            .then(|| (skip + machines.len() as u64).to_string());
        Self::keep_machine_type(filter, &mut machines);
        Ok(MachinePage { machines, next })
    }

    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError> {
        check_id("machine_id", machine_id)?;
        let answer = self
            .get(routes::SHOW, &[("machineId", machine_id)], Some(machine_id))
            .await?;
        let machine: wire::WireMachine = answer.json()?;
        Ok(machine.into())
    }

    async fn set_access(
        &self,
        machine_id: &str,
        user_id: &str,
        enable: bool,
    ) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        check_id("user_id", user_id)?;
        let body = json!({ "machineId": machine_id, "userId": user_id, "enableAccess": enable });
        self.post(routes::SET_ACCESS, machine_id, body)
            .await
            .map(drop)
    }

    async fn utilization(
        &self,
        machine_id: &str,
        month: BillingMonth,
    ) -> Result<Utilization, ApiError> {
        check_id("machine_id", machine_id)?;
        let month_s = month.to_string();
        let answer = self
            .get(
                routes::UTILIZATION,
                &[("machineId", machine_id), ("billingMonth", &month_s)],
                Some(machine_id),
            )
            .await?;
        let wire: wire::WireUtilization = answer.json()?;
        Ok(wire.into_utilization(machine_id, month))
    }

    async fn availability(
        &self,
        region: &str,
        machine_type: &str,
    ) -> Result<Availability, ApiError> {
        check_not_empty("region", region)?;
        check_not_empty("machine_type", machine_type)?;
        let answer = self
            .get(
                routes::AVAILABILITY,
                &[("region", region), ("machineType", machine_type)],
                None,
            )
            .await?;
        let wire: wire::WireAvailability = answer.json()?;
        Ok(Availability {
            region: region.to_string(),
            machine_type: machine_type.to_string(),
            available: wire.available,
        })
    }

    async fn templates(&self, filter: &TemplateFilter) -> Result<Vec<Template>, ApiError> {
        let pairs = [
            ("id", &filter.id),
            ("name", &filter.name),
            ("label", &filter.label),
            ("os", &filter.os),
            ("region", &filter.region),
            ("teamId", &filter.team_id),
            ("userId", &filter.user_id),
        ];
        let query: Vec<(&str, &str)> = pairs
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
            .collect();
        let answer = self.get(routes::TEMPLATES, &query, None).await?;
        let templates: Vec<wire::WireTemplate> = answer.json()?;
        Ok(templates.into_iter().map(Template::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        for bad in ["", "ps1/../x", "ps 1", "ps1?x=1", &"a".repeat(65)] {
            assert!(check_id("machine_id", bad).is_err(), "{bad}");
        }
        check_id("machine_id", "psclbvqpc").unwrap();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("super-secret-key").unwrap();
        let client = LegacyClient::new(LegacyConfig::new(key)).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("super-secret-key"), "{shown}");
        assert!(shown.contains("api.paperspace.io"));
    }

    #[test]
    fn bad_base_urls_are_refused() {
        let key = ApiKey::new("k").unwrap();
        for bad in ["", "api.paperspace.io", "ftp://x", "http://"] {
            let mut config = LegacyConfig::new(key.clone());
            config.base_url = bad.into();
            assert!(LegacyClient::new(config).is_err(), "{bad}");
        }
    }
}
