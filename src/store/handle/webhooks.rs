//! The webhook operations: endpoints and their secrets, publishing events
//! (which queues their deliveries), listing and re-sending deliveries, and
//! alarm marks.

use chrono::{DateTime, Utc};

use super::Store;
use crate::job::JobId;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::jobs::Submitted;
use crate::store::webhooks::{Delivery, EndpointSaved, Publication, Published};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSecrets, EndpointSource, EndpointSpec, Event,
    Secret,
};

impl Store {
    /// Saves a new endpoint with its secret. `spec.events: None` stores
    /// [`crate::webhook::EventType::defaults`].
    pub async fn create_endpoint(
        &self,
        spec: EndpointSpec,
        secret: Secret,
        source: EndpointSource,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        on_driver!(self, d => d.create_endpoint(spec, secret, source, now).await)
    }

    /// Every endpoint, by id.
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        on_driver!(self, d => d.endpoints().await)
    }

    pub async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
        on_driver!(self, d => d.endpoint(id).await)
    }

    /// Applies a patch; `paused: Some(false)` also clears `disabled`.
    pub async fn update_endpoint(
        &self,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        on_driver!(self, d => d.update_endpoint(id, patch, now).await)
    }

    /// Removes an endpoint, and cancels its deliveries not yet made
    /// (queued, or waiting for a retry); `false` if there was none.
    pub async fn delete_endpoint(
        &self,
        id: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_driver!(self, d => d.delete_endpoint(id, now).await)
    }

    /// Replaces the secret; the old one keeps signing until
    /// `previous_until`. `None` if there is no such endpoint.
    pub async fn rotate_endpoint_secret(
        &self,
        id: EndpointId,
        secret: Secret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        on_driver!(self, d => d.rotate_endpoint_secret(id, secret, previous_until, now).await)
    }

    /// The secrets an endpoint signs with.
    pub async fn endpoint_secrets(
        &self,
        id: EndpointId,
    ) -> Result<Option<EndpointSecrets>, StoreError> {
        on_driver!(self, d => d.endpoint_secrets(id).await)
    }

    /// Stops deliveries to an endpoint on its own (a `410 Gone`), saying why.
    pub async fn disable_endpoint(
        &self,
        id: EndpointId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.disable_endpoint(id, reason, now).await)
    }

    /// Makes the configuration's endpoints the stored ones of source
    /// `config`, matched by name: new ones added, changed ones updated
    /// (their secret replaced without a rotation), ones no longer listed
    /// removed. Endpoints of source `api` are left alone; a config name
    /// that an `api` endpoint holds is an error (`NameTaken`).
    pub async fn sync_config_endpoints(
        &self,
        endpoints: Vec<(EndpointSpec, Secret)>,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        on_driver!(self, d => d.sync_config_endpoints(endpoints, now).await)
    }

    /// Stores an event and queues its deliveries (see [`Publication`]).
    pub async fn publish(
        &self,
        publication: Publication,
        now: DateTime<Utc>,
    ) -> Result<Published, StoreError> {
        on_driver!(self, d => d.publish(publication, now).await)
    }

    /// A published event by id.
    pub async fn webhook_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        on_driver!(self, d => d.webhook_event(id).await)
    }

    /// An endpoint's deliveries, newest first, with ids below `before`.
    pub async fn deliveries(
        &self,
        endpoint: EndpointId,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        on_driver!(self, d => d.deliveries(endpoint, before, limit).await)
    }

    /// Queues the delivery `delivery` of `endpoint` again, as a new deliver
    /// job with the same event (so the same `webhook-id`); `None` if that
    /// endpoint has no such delivery.
    pub async fn resend(
        &self,
        endpoint: EndpointId,
        delivery: JobId,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Submitted>, StoreError> {
        on_driver!(self, d => d.resend(endpoint, delivery, max_attempts, now).await)
    }

    /// When the alarm of `key` last went out (set by a publication's `mark`).
    pub async fn alarm_mark(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_driver!(self, d => d.alarm_mark(key).await)
    }

    /// Forgets the alarm of `key` (the condition ended), so that the next
    /// occurrence alarms at once.
    pub async fn clear_alarm_mark(&self, key: &str) -> Result<(), StoreError> {
        on_driver!(self, d => d.clear_alarm_mark(key).await)
    }
}
