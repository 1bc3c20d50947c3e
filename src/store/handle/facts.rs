//! The reads of metrics and readiness (`store/facts.rs` says what they
//! answer).

use chrono::{DateTime, Utc};

use super::Store;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::facts::{EventFact, FiringFact, Gauges, Migrations};

impl Store {
    /// The driver's migrations, and which of them the database lacks; an
    /// error when the database does not answer.
    pub(crate) async fn migrations(&self) -> Result<Migrations, StoreError> {
        on_driver!(self, d => d.migrations().await)
    }

    /// The highest job event id, `None` while there is none.
    pub(crate) async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        on_driver!(self, d => d.last_event_id().await)
    }

    /// Up to `limit` job events with ids above `after`, by id.
    pub(crate) async fn event_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventFact>, StoreError> {
        on_driver!(self, d => d.event_facts(after, limit).await)
    }

    /// Up to `limit` firings with row ids above `after`, by row id.
    pub(crate) async fn firing_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FiringFact>, StoreError> {
        on_driver!(self, d => d.firing_facts(after, limit).await)
    }

    /// The counts of what is stored, with `now` for what is due.
    pub(crate) async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
        on_driver!(self, d => d.gauges(now).await)
    }
}
