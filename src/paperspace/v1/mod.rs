//! The current Paperspace API client (`https://api.paperspace.com/v1`).
//!
//! Sends requests the way the official `pspace` CLI does: header
//! `Authorization: Bearer <key>`, path ids URL-safe (checked before any
//! request), GET parameters in the query string, other parameters in a JSON
//! body (`{}` for start/stop/restart), no body for DELETE. Lists are paged
//! with the cursor `after`/`nextPage`. Errors are `{code, message, details}`;
//! the `code` decides the class (see [`ApiError::class`]), and a 2xx answer
//! shaped like an error counts as one, as the CLI treats it.
//!
//! Mutations answer with the machine event to poll. The client remembers
//! the latest event of each machine it changed and, while that event is
//! unfinished, [`MachineApi::show`] fetches it too and returns it in
//! [`Machine::events`], so a wait sees an operation that failed (`error`)
//! instead of polling a machine that will never get there. The memory is
//! per process: after a restart a wait falls back to polling the machine.

mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::api_key::ApiKey;
use super::error::{ApiError, Call, code_status};
use super::error::{check_id, check_not_empty};
use super::transport::{self, Answer};
use super::{Backend, MachineApi, cursor_came_back};
use crate::machine::{AccountStanding, Availability, BillingMonth, Template, Utilization};
use crate::machine::{
    CreateMachine, EventPage, FilterField, MachineFilter, MachinePage, PageRequest, TemplateFilter,
    UpdateMachine,
};
use crate::machine::{Machine, MachineEvent, is_paperspace_id};

pub use super::legacy::ClientError;

/// Production base URL of the v1 API.
pub const DEFAULT_BASE_URL: &str = "https://api.paperspace.com/v1";

/// The page size asked for when none is given: the largest the API documents.
pub const DEFAULT_PAGE_SIZE: u32 = 120;

/// The largest `limit` the API documents.
pub const MAX_PAGE_SIZE: u32 = 120;

/// Every route this client calls, as method and template (relative to the base URL).
pub mod routes {
    use super::Call;

    pub const LIST: Call = Call {
        method: "GET",
        route: "/machines",
    };
    pub const GET: Call = Call {
        method: "GET",
        route: "/machines/:id",
    };
    pub const CREATE: Call = Call {
        method: "POST",
        route: "/machines",
    };
    pub const UPDATE: Call = Call {
        method: "PUT",
        route: "/machines/:id",
    };
    pub const DELETE: Call = Call {
        method: "DELETE",
        route: "/machines/:id",
    };
    pub const START: Call = Call {
        method: "PATCH",
        route: "/machines/:id/start",
    };
    pub const STOP: Call = Call {
        method: "PATCH",
        route: "/machines/:id/stop",
    };
    pub const RESTART: Call = Call {
        method: "PATCH",
        route: "/machines/:id/restart",
    };
    pub const ACCESSORS: Call = Call {
        method: "GET",
        route: "/machines/:id/accessors",
    };
    pub const ADD_ACCESSOR: Call = Call {
        method: "POST",
        route: "/machines/:id/accessors",
    };
    pub const GET_ACCESSOR: Call = Call {
        method: "GET",
        route: "/machines/:id/accessors/:userId",
    };
    pub const REMOVE_ACCESSOR: Call = Call {
        method: "DELETE",
        route: "/machines/:id/accessors/:userId",
    };
    pub const EVENT: Call = Call {
        method: "GET",
        route: "/machine-events/:id",
    };
    pub const EVENTS: Call = Call {
        method: "GET",
        route: "/machine-events",
    };
    pub const TEMPLATES: Call = Call {
        method: "GET",
        route: "/os-templates",
    };
    pub const ACCOUNT_STANDING: Call = Call {
        method: "GET",
        route: "/billing/account-standing",
    };
}

/// Settings of a [`V1Client`].
#[derive(Debug, Clone)]
pub struct V1Config {
    /// Where the API lives, including the `/v1` prefix; a simulator's
    /// `http://127.0.0.1:PORT/v1` in tests and demos.
    pub base_url: String,
    /// The Paperspace API key, sent as `Authorization: Bearer <key>`.
    pub api_key: ApiKey,
    /// Upper bound on one request, connect to last byte.
    pub request_timeout: Duration,
}

impl V1Config {
    /// Production URL and a 30 s request timeout.
    pub fn new(api_key: ApiKey) -> Self {
        V1Config {
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A user who may use a machine besides its owner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accessor {
    /// Paperspace id of the user (`user.id` of the accessor answer).
    pub user_id: String,
    /// The user's email address, when the answer carries it.
    pub email: Option<String>,
    /// The user's first name, when set.
    pub first_name: Option<String>,
    /// The user's last name, when set.
    pub last_name: Option<String>,
}

impl From<wire::WireAccessor> for Accessor {
    fn from(w: wire::WireAccessor) -> Self {
        Accessor {
            user_id: w.user.id,
            email: w.user.email,
            first_name: w.user.first_name,
            last_name: w.user.last_name,
        }
    }
}

/// Client of the v1 API. Cheap to clone; clones share one connection pool
/// and one memory of pending events.
#[derive(Clone)]
pub struct V1Client {
    /// Pooled HTTP client with the request timeout built in.
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base_url: String,
    /// Sent as `Authorization: Bearer <key>` on every request; masked in `Debug`.
    api_key: ApiKey,
    /// Kept to say how long a timed-out request waited.
    timeout: Duration,
    /// Machine id → id of the latest event a mutation of ours started on it,
    /// until that event is seen finished; lets `show` report a failed operation.
    pending_events: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for V1Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V1Client")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The v1 query key of a filter the API applies itself.
fn server_filter_key(field: FilterField) -> Option<&'static str> {
    match field {
        FilterField::Name => Some("name"),
        FilterField::Region => Some("region"),
        FilterField::AgentType => Some("agentType"),
        FilterField::MachineType => Some("machineType"),
        _ => None,
    }
}

/// A filter the v1 API cannot apply, as the machine's value to compare
/// (exactly, as text) on this side; `None` when a v1 machine carries no
/// such field at all.
fn client_filter_value(field: FilterField, m: &Machine) -> Option<Option<String>> {
    let text = |v: &Option<String>| v.clone();
    let num = |v: Option<u64>| v.map(|n| n.to_string());
    let flag = |v: Option<bool>| v.map(|b| b.to_string());
    Some(match field {
        FilterField::Id => Some(m.id.clone()),
        FilterField::Name => Some(m.name.clone()),
        FilterField::State => Some(m.state.to_string()),
        FilterField::Os => text(&m.os),
        FilterField::Ram => num(m.ram_bytes),
        FilterField::Cpus => m.cpus.map(|n| n.to_string()),
        FilterField::Gpu => text(&m.gpu),
        FilterField::StorageTotal => num(m.storage_total_bytes),
        FilterField::StorageUsed => num(m.storage_used_bytes),
        FilterField::AgentType => text(&m.agent_type),
        FilterField::MachineType => text(&m.machine_type),
        FilterField::Region => text(&m.region),
        FilterField::NetworkId => text(&m.network_id),
        FilterField::PrivateIpAddress => text(&m.private_ip),
        FilterField::PublicIpAddress => text(&m.public_ip),
        FilterField::UpdatesPending => flag(m.updates_pending),
        FilterField::PerformAutoSnapshot => flag(m.auto_snapshot_enabled),
        FilterField::AutoSnapshotFrequency => text(&m.auto_snapshot_frequency),
        FilterField::AutoSnapshotSaveCount => m.auto_snapshot_save_count.map(|n| n.to_string()),
        FilterField::ShutdownTimeoutInHours => m.auto_shutdown_timeout_hours.map(|h| h.to_string()),
        FilterField::DtCreated => m
            .created_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        FilterField::UsageRate
        | FilterField::UserId
        | FilterField::TeamId
        | FilterField::ScriptId
        | FilterField::DtLastRun => return None,
    })
}

/// True for a 2xx body that is an error all the same (`{code, message}` and
/// at most one more key), which the official CLI also treats as a failure.
fn error_shaped(body: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let code = object.get("code")?.as_str()?;
    let message = object.get("message")?.as_str()?;
    (object.len() <= 3).then(|| (code.to_string(), message.to_string()))
}

impl V1Client {
    pub fn new(config: V1Config) -> Result<Self, ClientError> {
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
        Ok(V1Client {
            http,
            base_url,
            api_key: config.api_key,
            timeout: config.request_timeout,
            pending_events: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request; `path` is the filled-in route.
    async fn send(
        &self,
        call: Call,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        machine_id: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .expect("route methods are valid HTTP methods");
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base_url, path))
            .bearer_auth(self.api_key.expose())
            .header("x-client", "machinist")
            .header("x-client-version", env!("CARGO_PKG_VERSION"));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer =
            transport::send(request, call, &self.base_url, self.timeout, machine_id).await?;
        if let Some((code, message)) = error_shaped(&answer.body) {
            return Err(ApiError::Status {
                call,
                status: code_status(&code).unwrap_or(500),
                code: Some(code),
                message,
                retry_after: None,
            });
        }
        Ok(answer)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        call: Call,
        path: &str,
        query: &[(&str, &str)],
        machine_id: Option<&str>,
    ) -> Result<T, ApiError> {
        self.send(call, path, query, None, machine_id).await?.json()
    }

    /// Follows `nextPage` to the end of a listing.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        call: Call,
        path: &str,
        query: &[(&str, &str)],
        machine_id: Option<&str>,
    ) -> Result<Vec<T>, ApiError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        let mut followed = HashSet::new();
        let limit = DEFAULT_PAGE_SIZE.to_string();
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("limit", &limit));
            if let Some(a) = &after {
                q.push(("after", a));
            }
            let page: wire::WirePage<T> = self.get_json(call, path, &q, machine_id).await?;
            let next = page.next();
            all.extend(page.items);
            match next {
                Some(n) if followed.insert(n.clone()) => after = Some(n),
                Some(n) => return Ok(cursor_came_back(call, &n, all)),
                None => return Ok(all),
            }
        }
    }

    /// Reads a mutation's `{data, event}` and remembers the event to poll.
    fn mutated(&self, answer: Answer) -> Result<Machine, ApiError> {
        let m: wire::WireMutation = answer.json()?;
        let machine = Machine::from(m.data);
        if let Some(event) = m.event {
            let event = MachineEvent::from(event);
            if let Some(event_id) = event.id.filter(|id| is_paperspace_id(id)) {
                self.lock_pending().insert(machine.id.clone(), event_id);
            }
        }
        Ok(machine)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.pending_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A state change: `PATCH /machines/{id}/start|stop|restart` with `{}`.
    async fn power(&self, call: Call, machine_id: &str) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        let path = call.route.replace(":id", machine_id);
        let answer = self
            .send(call, &path, &[], Some(json!({})), Some(machine_id))
            .await?;
        self.mutated(answer).map(drop)
    }

    /// One machine event (`GET /machine-events/{id}`).
    pub async fn event(&self, event_id: &str) -> Result<MachineEvent, ApiError> {
        check_id("event_id", event_id)?;
        let path = routes::EVENT.route.replace(":id", event_id);
        let wire: wire::WireEvent = self.get_json(routes::EVENT, &path, &[], None).await?;
        Ok(wire.into())
    }

    /// Every event, newest first; only one machine's when `machine_id` is given.
    pub async fn events(&self, machine_id: Option<&str>) -> Result<Vec<MachineEvent>, ApiError> {
        let mut query = vec![("orderBy", "dtCreated"), ("order", "desc")];
        if let Some(id) = machine_id {
            check_id("machine_id", id)?;
            query.push(("machineId", id));
        }
        let events: Vec<wire::WireEvent> = self
            .all_pages(routes::EVENTS, routes::EVENTS.route, &query, machine_id)
            .await?;
        Ok(events.into_iter().map(MachineEvent::from).collect())
    }

    /// The users who may use a machine besides its owner.
    pub async fn accessors(&self, machine_id: &str) -> Result<Vec<Accessor>, ApiError> {
        check_id("machine_id", machine_id)?;
        let path = routes::ACCESSORS.route.replace(":id", machine_id);
        let list: Vec<wire::WireAccessor> = self
            .all_pages(routes::ACCESSORS, &path, &[], Some(machine_id))
            .await?;
        Ok(list.into_iter().map(Accessor::from).collect())
    }

    /// One accessor of a machine; a 404 when the user has no access.
    pub async fn accessor(&self, machine_id: &str, user_id: &str) -> Result<Accessor, ApiError> {
        check_id("machine_id", machine_id)?;
        check_id("user_id", user_id)?;
        let path = routes::GET_ACCESSOR
            .route
            .replace(":id", machine_id)
            .replace(":userId", user_id);
        let wire: wire::WireAccessor = self
            .get_json(routes::GET_ACCESSOR, &path, &[], Some(machine_id))
            .await?;
        Ok(wire.into())
    }

    /// Gives a user access to a machine.
    pub async fn add_accessor(
        &self,
        machine_id: &str,
        user_id: &str,
    ) -> Result<Accessor, ApiError> {
        check_id("machine_id", machine_id)?;
        check_id("user_id", user_id)?;
        let path = routes::ADD_ACCESSOR.route.replace(":id", machine_id);
        let answer = self
            .send(
                routes::ADD_ACCESSOR,
                &path,
                &[],
                Some(json!({ "userId": user_id })),
                Some(machine_id),
            )
            .await?;
        Ok(answer.json::<wire::WireAccessor>()?.into())
    }

    /// Takes a user's access to a machine away.
    pub async fn remove_accessor(&self, machine_id: &str, user_id: &str) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        check_id("user_id", user_id)?;
        let path = routes::REMOVE_ACCESSOR
            .route
            .replace(":id", machine_id)
            .replace(":userId", user_id);
        self.send(routes::REMOVE_ACCESSOR, &path, &[], None, Some(machine_id))
            .await
            .map(drop)
    }

    /// The event a mutation of ours started on `machine_id`, while it was
    /// last seen unfinished; forgotten once it is seen finished.
    async fn pending_event(&self, machine_id: &str) -> Option<MachineEvent> {
        let event_id = self.lock_pending().get(machine_id).cloned()?;
        match self.event(&event_id).await {
            Ok(event) => {
                if matches!(event.state.as_str(), "done" | "error" | "cancelled") {
                    let mut pending = self.lock_pending();
                    if pending.get(machine_id) == Some(&event_id) {
                        pending.remove(machine_id);
                    }
                }
                Some(event)
            }
            Err(e) => {
                if e.is_not_found() {
                    self.lock_pending().remove(machine_id);
                }
                // The machine is the truth; its event only adds detail.
                tracing::debug!(machine_id, event_id, error = %e, "could not read the machine event");
                None
            }
        }
    }

    fn unsupported(operation: &'static str, hint: &'static str) -> ApiError {
        ApiError::Unsupported {
            operation,
            backend: Backend::V1.as_str(),
            hint,
        }
    }
}

#[async_trait]
impl MachineApi for V1Client {
    fn backend(&self) -> Backend {
        Backend::V1
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
        let body = wire::create_body(request)?;
        let call = routes::CREATE;
        let answer = self.send(call, call.route, &[], Some(body), None).await?;
        self.mutated(answer)
    }

    async fn start(&self, machine_id: &str) -> Result<(), ApiError> {
        self.power(routes::START, machine_id).await
    }

    async fn stop(&self, machine_id: &str) -> Result<(), ApiError> {
        self.power(routes::STOP, machine_id).await
    }

    async fn restart(&self, machine_id: &str) -> Result<(), ApiError> {
        self.power(routes::RESTART, machine_id).await
    }

    /// `DELETE /machines/{id}`. The v1 delete takes no options, so
    /// `release_public_ip` cannot be passed on; Paperspace decides.
    async fn destroy(&self, machine_id: &str, release_public_ip: bool) -> Result<(), ApiError> {
        check_id("machine_id", machine_id)?;
        if release_public_ip {
            tracing::info!(
                machine_id,
                "the v1 API's delete has no releasePublicIp option; deleting without it"
            );
        }
        let path = routes::DELETE.route.replace(":id", machine_id);
        let answer = self
            .send(routes::DELETE, &path, &[], None, Some(machine_id))
            .await?;
        self.mutated(answer).map(drop)
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
        let body = wire::update_body(changes)?;
        let path = routes::UPDATE.route.replace(":id", machine_id);
        let answer = self
            .send(routes::UPDATE, &path, &[], Some(body), Some(machine_id))
            .await?;
        self.mutated(answer).map(drop)
    }

    /// `name`, `region`, `agentType` and `machineType` are filtered by the
    /// API; any other filter is applied here to each page (so a page may
    /// come back short), and one a v1 machine has no field for is refused.
    async fn list_page(
        &self,
        filter: &MachineFilter,
        page: &PageRequest,
    ) -> Result<MachinePage, ApiError> {
        let limit = page.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::Invalid {
                field: "limit",
                message: format!("must be from 1 to {MAX_PAGE_SIZE} for the v1 API, not {limit}"),
            });
        }
        let probe = Machine::new("", "", crate::machine::MachineState::Off);
        for field in filter.fields.keys() {
            if server_filter_key(*field).is_none() && client_filter_value(*field, &probe).is_none()
            {
                return Err(ApiError::Invalid {
                    field: "filter",
                    message: format!(
                        "the v1 Paperspace API has no `{}` on machines to filter by; use backend = \"legacy\" or drop the filter",
                        field.legacy_key()
                    ),
                });
            }
        }
        let limit_s = limit.to_string();
        let mut query: Vec<(&str, &str)> = filter
            .fields
            .iter()
            .filter_map(|(f, v)| server_filter_key(*f).map(|k| (k, v.as_str())))
            .collect();
        query.push(("limit", &limit_s));
        if let Some(after) = &page.cursor {
            query.push(("after", after));
        }
        let got: wire::WirePage<wire::WireMachine> = self
            .get_json(routes::LIST, routes::LIST.route, &query, None)
            .await?;
        let next = got.next();
        let machines = got
            .items
            .into_iter()
            .map(Machine::from)
            .filter(|m| {
                filter.fields.iter().all(|(f, want)| {
                    server_filter_key(*f).is_some()
                        || client_filter_value(*f, m).flatten().as_deref() == Some(want.as_str())
                })
            })
            .collect();
        Ok(MachinePage { machines, next })
    }

    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError> {
        check_id("machine_id", machine_id)?;
        let path = routes::GET.route.replace(":id", machine_id);
        let wire: wire::WireMachine = self
            .get_json(routes::GET, &path, &[], Some(machine_id))
            .await?;
        let mut machine = Machine::from(wire);
        if let Some(event) = self.pending_event(machine_id).await {
            machine.events.push(event);
        }
        Ok(machine)
    }

    /// The closest v1 calls: `POST /machines/{id}/accessors` to grant,
    /// `DELETE /machines/{id}/accessors/{userId}` to revoke.
    async fn set_access(
        &self,
        machine_id: &str,
        user_id: &str,
        enable: bool,
    ) -> Result<(), ApiError> {
        if enable {
            self.add_accessor(machine_id, user_id).await.map(drop)
        } else {
            self.remove_accessor(machine_id, user_id).await
        }
    }

    async fn utilization(
        &self,
        _machine_id: &str,
        _month: BillingMonth,
    ) -> Result<Utilization, ApiError> {
        Err(Self::unsupported(
            "utilization",
            "the v1 API has no utilization route; use backend = \"legacy\" for utilization jobs and the reports built on them",
        ))
    }

    async fn availability(
        &self,
        _region: &str,
        _machine_type: &str,
    ) -> Result<Availability, ApiError> {
        Err(Self::unsupported(
            "availability",
            "the v1 API has no availability route; a create of an unavailable type fails with Paperspace's own message",
        ))
    }

    /// `GET /machine-events?orderBy=dtCreated&order=desc&limit=N[&after=C]`:
    /// one page of the account's events, newest first. The limit is
    /// clamped to 1..=120 (the API's bounds) rather than refused: the meter
    /// asks for what it can take, and any page size is correct.
    async fn event_page(&self, page: &PageRequest) -> Result<EventPage, ApiError> {
        let limit = page
            .limit
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE)
            .to_string();
        let mut query = vec![
            ("orderBy", "dtCreated"),
            ("order", "desc"),
            ("limit", limit.as_str()),
        ];
        if let Some(after) = &page.cursor {
            query.push(("after", after.as_str()));
        }
        let got: wire::WirePage<wire::WireEvent> = self
            .get_json(routes::EVENTS, routes::EVENTS.route, &query, None)
            .await?;
        let next = got.next();
        Ok(EventPage {
            events: got.items.into_iter().map(MachineEvent::from).collect(),
            next,
        })
    }

    /// `GET /billing/account-standing`.
    async fn account_standing(&self) -> Result<AccountStanding, ApiError> {
        let call = routes::ACCOUNT_STANDING;
        let wire: wire::WireStanding = self.get_json(call, call.route, &[], None).await?;
        Ok(wire.into())
    }

    /// `GET /os-templates`, every page; filters other than `name` are applied here.
    async fn templates(&self, filter: &TemplateFilter) -> Result<Vec<Template>, ApiError> {
        let mut query = Vec::new();
        if let Some(name) = &filter.name {
            query.push(("name", name.as_str()));
        }
        let list: Vec<wire::WireTemplate> = self
            .all_pages(routes::TEMPLATES, routes::TEMPLATES.route, &query, None)
            .await?;
        let keep = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        Ok(list
            .into_iter()
            .map(Template::from)
            .filter(|t| {
                filter.id.as_ref().is_none_or(|id| *id == t.id)
                    && filter.name.as_ref().is_none_or(|n| *n == t.name)
                    && keep(&filter.label, &t.label)
                    && keep(&filter.os, &t.os)
                    && keep(&filter.region, &t.region)
                    && keep(&filter.team_id, &t.team_id)
                    && keep(&filter.user_id, &t.user_id)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = ApiKey::new("super-secret-key").unwrap();
        let client = V1Client::new(V1Config::new(key)).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("super-secret-key"), "{shown}");
        assert!(shown.contains("api.paperspace.com/v1"));
    }

    #[test]
    fn error_shaped_bodies_are_recognised() {
        assert_eq!(
            error_shaped(br#"{"code":"NOT_FOUND","message":"nope"}"#),
            Some(("NOT_FOUND".into(), "nope".into()))
        );
        assert_eq!(
            error_shaped(br#"{"code":"BAD_REQUEST","message":"x","details":{}}"#),
            Some(("BAD_REQUEST".into(), "x".into()))
        );
        assert_eq!(
            error_shaped(br#"{"id":"ps1","name":"n","state":"off"}"#),
            None
        );
        assert_eq!(error_shaped(b"[]"), None);
    }

    #[test]
    fn filters_without_a_v1_field_are_named() {
        let probe = Machine::new("", "", crate::machine::MachineState::Off);
        assert!(client_filter_value(FilterField::State, &probe).is_some());
        assert!(client_filter_value(FilterField::TeamId, &probe).is_none());
        assert_eq!(
            server_filter_key(FilterField::MachineType),
            Some("machineType")
        );
    }
}
