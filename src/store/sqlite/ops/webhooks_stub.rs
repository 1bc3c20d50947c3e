//! TEMPORARY stand-ins so the crate builds while the webhook store lands.
#![allow(unused_variables)]
use chrono::{DateTime, Utc};

use super::super::SqliteDriver;
use crate::job::JobId;
use crate::store::StoreError;
use crate::store::jobs::Submitted;
use crate::store::webhooks::{Delivery, EndpointSaved, Publication, Published};
use crate::webhook::{Endpoint, EndpointId, EndpointPatch, EndpointSecrets, EndpointSource, EndpointSpec, Event, Secret};

impl SqliteDriver {
    pub(in crate::store) async fn create_endpoint(&self, spec: EndpointSpec, secret: Secret, source: EndpointSource, now: DateTime<Utc>) -> Result<EndpointSaved, StoreError> { unimplemented!() }
    pub(in crate::store) async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> { Ok(Vec::new()) }
    pub(in crate::store) async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn update_endpoint(&self, id: EndpointId, patch: EndpointPatch, now: DateTime<Utc>) -> Result<EndpointSaved, StoreError> { unimplemented!() }
    pub(in crate::store) async fn delete_endpoint(&self, id: EndpointId, now: DateTime<Utc>) -> Result<bool, StoreError> { unimplemented!() }
    pub(in crate::store) async fn rotate_endpoint_secret(&self, id: EndpointId, secret: Secret, previous_until: DateTime<Utc>, now: DateTime<Utc>) -> Result<Option<Endpoint>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn endpoint_secrets(&self, id: EndpointId) -> Result<Option<EndpointSecrets>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn disable_endpoint(&self, id: EndpointId, reason: String, now: DateTime<Utc>) -> Result<(), StoreError> { unimplemented!() }
    pub(in crate::store) async fn sync_config_endpoints(&self, endpoints: Vec<(EndpointSpec, Secret)>, now: DateTime<Utc>) -> Result<EndpointSaved, StoreError> { unimplemented!() }
    pub(in crate::store) async fn publish(&self, publication: Publication, now: DateTime<Utc>) -> Result<Published, StoreError> { Ok(Published::default()) }
    pub(in crate::store) async fn webhook_event(&self, id: &str) -> Result<Option<Event>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn deliveries(&self, endpoint: EndpointId, before: Option<JobId>, limit: u32) -> Result<Vec<Delivery>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn resend(&self, endpoint: EndpointId, delivery: JobId, max_attempts: u32, now: DateTime<Utc>) -> Result<Option<Submitted>, StoreError> { unimplemented!() }
    pub(in crate::store) async fn alarm_mark(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> { Ok(None) }
    pub(in crate::store) async fn clear_alarm_mark(&self, key: &str) -> Result<(), StoreError> { Ok(()) }
}
