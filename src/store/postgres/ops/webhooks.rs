//! The PostgreSQL driver's webhooks operations.

use crate::job::{Job, JobEvent, JobId};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{EventRow, JobRow, from_ms};
use crate::store::webhooks::{
    Delivery, EndpointRow, EndpointSaved, Publication, Published, SecretsRow, WebhookEventRow,
};
use crate::store::{StoreError, Submitted};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSecrets, EndpointSource, EndpointSpec, Event,
    Secret,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

impl PostgresDriver {
    pub(in crate::store) async fn create_endpoint(
        &self,
        spec: EndpointSpec,
        secret: Secret,
        source: EndpointSource,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        unimplemented!("postgres: create_endpoint")
    }

    pub(in crate::store) async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        unimplemented!("postgres: endpoints")
    }

    pub(in crate::store) async fn endpoint(
        &self,
        id: EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        unimplemented!("postgres: endpoint")
    }

    pub(in crate::store) async fn update_endpoint(
        &self,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        unimplemented!("postgres: update_endpoint")
    }

    pub(in crate::store) async fn delete_endpoint(
        &self,
        id: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        unimplemented!("postgres: delete_endpoint")
    }

    pub(in crate::store) async fn rotate_endpoint_secret(
        &self,
        id: EndpointId,
        secret: Secret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        unimplemented!("postgres: rotate_endpoint_secret")
    }

    pub(in crate::store) async fn endpoint_secrets(
        &self,
        id: EndpointId,
    ) -> Result<Option<EndpointSecrets>, StoreError> {
        unimplemented!("postgres: endpoint_secrets")
    }

    pub(in crate::store) async fn disable_endpoint(
        &self,
        id: EndpointId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: disable_endpoint")
    }

    pub(in crate::store) async fn sync_config_endpoints(
        &self,
        endpoints: Vec<(EndpointSpec, Secret)>,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        unimplemented!("postgres: sync_config_endpoints")
    }

    pub(in crate::store) async fn publish(
        &self,
        publication: Publication,
        now: DateTime<Utc>,
    ) -> Result<Published, StoreError> {
        unimplemented!("postgres: publish")
    }

    pub(in crate::store) async fn webhook_event(
        &self,
        id: &str,
    ) -> Result<Option<Event>, StoreError> {
        unimplemented!("postgres: webhook_event")
    }

    pub(in crate::store) async fn deliveries(
        &self,
        endpoint: EndpointId,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        unimplemented!("postgres: deliveries")
    }

    pub(in crate::store) async fn resend(
        &self,
        endpoint: EndpointId,
        delivery: JobId,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Submitted>, StoreError> {
        unimplemented!("postgres: resend")
    }

    pub(in crate::store) async fn alarm_mark(
        &self,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        unimplemented!("postgres: alarm_mark")
    }

    pub(in crate::store) async fn clear_alarm_mark(&self, key: &str) -> Result<(), StoreError> {
        unimplemented!("postgres: clear_alarm_mark")
    }
}
