//! Talking to Paperspace.
//!
//! The daemon depends only on the [`MachineApi`] trait; [`legacy::LegacyClient`]
//! implements it for `api.paperspace.io` (header `x-api-key`) and
//! [`v1::V1Client`] for the current `api.paperspace.com/v1` (Bearer token).
//! [`wait_for`] waits for a machine state on top of any implementation.
//! The nouns they speak in live in [`crate::machine`].

mod api_key;
pub mod call_log;
mod error;
pub mod legacy;
pub(crate) mod lenient;
pub mod throttle;
mod transport;
pub mod v1;
mod wait;

use async_trait::async_trait;

pub use api_key::{ApiKey, BadApiKey};
pub use error::{ApiError, Call, ErrorClass};
pub use wait::{WaitError, WaitOptions, wait_for};

use crate::machine::{
    AccountStanding, Availability, BillingMonth, CreateMachine, EventPage, Machine, MachineFilter,
    MachinePage, PageRequest, Template, TemplateFilter, UpdateMachine, Utilization,
};

/// Which Paperspace API a client speaks: its routes, wire format and
/// authentication.
///
/// Not to be confused with what an operator chooses in the configuration,
/// [`crate::config::BackendChoice`], which adds `auto` and `sim`: both end
/// up speaking one of these (the simulator serves the routes of both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `https://api.paperspace.io`, header `x-api-key`; retired for new users.
    Legacy,
    /// `https://api.paperspace.com/v1`, `Authorization: Bearer`.
    V1,
}

impl Backend {
    /// The name in messages and in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Legacy => "legacy",
            Backend::V1 => "v1",
        }
    }

    /// Where the real API lives.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Backend::Legacy => legacy::DEFAULT_BASE_URL,
            Backend::V1 => v1::DEFAULT_BASE_URL,
        }
    }
}

/// Every machine operation Machinist performs, whichever API carries it.
///
/// Methods take and return Machinist's own types; each implementation maps
/// them to its wire format and classifies failures into [`ApiError`].
#[async_trait]
pub trait MachineApi: Send + Sync + std::fmt::Debug {
    /// Which API this is.
    fn backend(&self) -> Backend;

    /// The rate limit every call waits for, and what is left of it now;
    /// `None` for a client without one (only [`throttle::Throttled`] has one).
    fn budget(&self) -> Option<throttle::Budget> {
        None
    }

    /// Makes the rate limit one for every daemon that shares `bucket` (the
    /// daemons on one PostgreSQL database): each call then takes its token
    /// there. A client without a rate limit ignores it.
    fn share_rate_limit(&self, _bucket: std::sync::Arc<dyn throttle::SharedBucket>) {}

    /// Creates a machine. Not idempotent at Paperspace: after an ambiguous
    /// failure look the machine up by name before asking again.
    async fn create(&self, request: &CreateMachine) -> Result<Machine, ApiError>;

    /// Starts a machine; a no-op for one that is already running.
    async fn start(&self, machine_id: &str) -> Result<(), ApiError>;

    /// Stops a machine; a no-op for one that is already off.
    async fn stop(&self, machine_id: &str) -> Result<(), ApiError>;

    async fn restart(&self, machine_id: &str) -> Result<(), ApiError>;

    /// Destroys a machine, releasing its static public IP if asked.
    async fn destroy(&self, machine_id: &str, release_public_ip: bool) -> Result<(), ApiError>;

    async fn update(&self, machine_id: &str, changes: &UpdateMachine) -> Result<(), ApiError>;

    /// One page of machines matching `filter`.
    async fn list_page(
        &self,
        filter: &MachineFilter,
        page: &PageRequest,
    ) -> Result<MachinePage, ApiError>;

    /// Every machine matching `filter`, following pages to the end; each
    /// cursor is followed at most once (`cursor_came_back`).
    async fn list_all(&self, filter: &MachineFilter) -> Result<Vec<Machine>, ApiError> {
        let mut all = Vec::new();
        let mut page = PageRequest::default();
        let mut followed = std::collections::HashSet::new();
        loop {
            let got = self.list_page(filter, &page).await?;
            all.extend(got.machines);
            match got.next {
                Some(next) if followed.insert(next.clone()) => page.cursor = Some(next),
                Some(next) => {
                    let listing = format!("the {} machine list", self.backend().as_str());
                    return Ok(cursor_came_back(listing, &next, all));
                }
                None => return Ok(all),
            }
        }
    }

    /// One machine, with its recent events.
    async fn show(&self, machine_id: &str) -> Result<Machine, ApiError>;

    /// Grants or revokes a user's access to a machine.
    async fn set_access(
        &self,
        machine_id: &str,
        user_id: &str,
        enable: bool,
    ) -> Result<(), ApiError>;

    /// What a machine used in one billing month.
    async fn utilization(
        &self,
        machine_id: &str,
        month: BillingMonth,
    ) -> Result<Utilization, ApiError>;

    /// Whether `machine_type` can be created in `region`.
    async fn availability(
        &self,
        region: &str,
        machine_type: &str,
    ) -> Result<Availability, ApiError>;

    /// Templates machines can be created from.
    async fn templates(&self, filter: &TemplateFilter) -> Result<Vec<Template>, ApiError>;

    /// One page of the whole account's machine events, newest first: what
    /// the meter ingests. Only v1 lists them; legacy keeps a machine's
    /// events on the machine (`show`), so its meter works from the states
    /// it observes instead.
    async fn event_page(&self, page: &PageRequest) -> Result<EventPage, ApiError> {
        let _ = page;
        Err(ApiError::Unsupported {
            operation: "list machine events",
            backend: self.backend().as_str(),
            hint: "legacy machines are metered from the states Machinist observes",
        })
    }

    /// Whether Paperspace lets the account create and start machines. Only
    /// v1 answers it.
    async fn account_standing(&self) -> Result<AccountStanding, ApiError> {
        Err(ApiError::Unsupported {
            operation: "check account standing",
            backend: self.backend().as_str(),
            hint: "the legacy API has no account-standing route",
        })
    }
}

/// Ends a listing whose next-page cursor names one already followed: a
/// server whose cursors cycle would otherwise be paged forever, each round
/// repeating items. Every page of the cycle has been read once, so nothing
/// is lost by stopping.
pub(crate) fn cursor_came_back<T>(
    listing: impl std::fmt::Display,
    cursor: &str,
    all: Vec<T>,
) -> Vec<T> {
    tracing::warn!(
        listing = %listing,
        cursor,
        "Paperspace handed back a cursor already followed; ending the listing there"
    );
    all
}
