//! The PostgreSQL driver's facts operations.

use crate::store::error::StoreError;
use crate::store::facts::{EventFact, FiringFact, Gauges};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{from_ms, to_ms};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn last_event_id(&self) -> Result<Option<i64>, StoreError> {
        unimplemented!("postgres: last_event_id")
    }

    pub(in crate::store) async fn event_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventFact>, StoreError> {
        unimplemented!("postgres: event_facts")
    }

    pub(in crate::store) async fn firing_facts(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FiringFact>, StoreError> {
        unimplemented!("postgres: firing_facts")
    }

    pub(in crate::store) async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
        unimplemented!("postgres: gauges")
    }
}
