//! The PostgreSQL driver's webhook operations: each write is one
//! transaction that `postgres/webhooks.rs` writes in (where its
//! concurrency with other daemons is handled); the reads run on the pool.
//!
//! A write answered `NameTaken` is rolled back instead of committed: the
//! unique index may have refused a statement, which leaves the transaction
//! unusable, and a refused write changes nothing anyway.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::job::{Job, JobEvent, JobId};
use crate::store::postgres::webhooks::{self as write, endpoint_columns};
use crate::store::postgres::{Effects, PostgresDriver};
use crate::store::rows::{EventRow, JobRow, from_ms};
use crate::store::webhooks::{
    Delivery, EndpointRow, EndpointSaved, Publication, Published, SecretsRow, WebhookEventRow,
};
use crate::store::{StoreError, Submitted};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSecrets, EndpointSource, EndpointSpec, Event,
    Secret,
};

/// An endpoint's deliveries below an id, newest first: a backward walk of
/// the index `jobs_deliveries`, whose expression (`args::jsonb ->>
/// 'endpoint'`, text: the endpoint's id as a string) and condition it
/// spells.
const DELIVERIES: &str = "SELECT * FROM jobs \
     WHERE kind = 'deliver' AND (args::jsonb ->> 'endpoint') = $1 AND id < $2 \
     ORDER BY id DESC LIMIT $3";

/// The webhook operations of the PostgreSQL driver.
impl PostgresDriver {
    pub(in crate::store) async fn create_endpoint(
        &self,
        spec: EndpointSpec,
        secret: Secret,
        source: EndpointSource,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        let mut tx = self.begin().await?;
        let saved = write::create_endpoint(&mut tx, &spec, &secret, source, now).await?;
        if matches!(saved, EndpointSaved::Saved(_)) {
            self.commit(tx, Effects::default()).await?;
        }
        Ok(saved)
    }

    pub(in crate::store) async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Endpoint::try_from).collect()
    }

    pub(in crate::store) async fn endpoint(
        &self,
        id: EndpointId,
    ) -> Result<Option<Endpoint>, StoreError> {
        let row: Option<EndpointRow> = sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Endpoint::try_from).transpose()
    }

    pub(in crate::store) async fn update_endpoint(
        &self,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        let mut tx = self.begin().await?;
        let saved = write::update_endpoint(&mut tx, id, patch, now).await?;
        if matches!(saved, EndpointSaved::Saved(_)) {
            self.commit(tx, Effects::default()).await?;
        }
        Ok(saved)
    }

    pub(in crate::store) async fn delete_endpoint(
        &self,
        id: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = write::delete_endpoint(&mut tx, id, now).await?;
        self.commit(tx, Effects::default()).await?;
        Ok(deleted)
    }

    pub(in crate::store) async fn rotate_endpoint_secret(
        &self,
        id: EndpointId,
        secret: Secret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut tx = self.begin().await?;
        let endpoint =
            write::rotate_endpoint_secret(&mut tx, id, &secret, previous_until, now).await?;
        self.commit(tx, Effects::default()).await?;
        Ok(endpoint)
    }

    pub(in crate::store) async fn endpoint_secrets(
        &self,
        id: EndpointId,
    ) -> Result<Option<EndpointSecrets>, StoreError> {
        let row: Option<SecretsRow> = sqlx::query_as(
            "SELECT id, secret, previous_secret, previous_until FROM webhook_endpoints \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(EndpointSecrets::try_from).transpose()
    }

    pub(in crate::store) async fn disable_endpoint(
        &self,
        id: EndpointId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        write::disable_endpoint(&mut tx, id, &reason, now).await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn sync_config_endpoints(
        &self,
        endpoints: Vec<(EndpointSpec, Secret)>,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        let mut tx = self.begin().await?;
        let saved = write::sync_config_endpoints(&mut tx, &endpoints, now).await?;
        if !matches!(saved, EndpointSaved::NameTaken(_)) {
            self.commit(tx, Effects::default()).await?;
        }
        Ok(saved)
    }

    pub(in crate::store) async fn publish(
        &self,
        publication: Publication,
        now: DateTime<Utc>,
    ) -> Result<Published, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let published = write::publish(&mut tx, &publication, now, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(published)
    }

    pub(in crate::store) async fn webhook_event(
        &self,
        id: &str,
    ) -> Result<Option<Event>, StoreError> {
        let row: Option<WebhookEventRow> =
            sqlx::query_as("SELECT id, type, at, data, subject FROM webhook_events WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(Event::try_from).transpose()
    }

    pub(in crate::store) async fn deliveries(
        &self,
        endpoint: EndpointId,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        // One snapshot for the three reads: the jobs, their attempts and
        // their events as of one moment.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows: Vec<JobRow> = sqlx::query_as(DELIVERIES)
            .bind(endpoint.to_string())
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let jobs: Vec<Job> = rows
            .into_iter()
            .map(Job::try_from)
            .collect::<Result<_, _>>()?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT * FROM job_events WHERE job_id = ANY($1) AND kind = 'api_call' \
             ORDER BY job_id, id",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut attempts: HashMap<JobId, Vec<JobEvent>> = HashMap::new();
        for row in events {
            let event = JobEvent::try_from(row)?;
            attempts.entry(event.job_id).or_default().push(event);
        }
        let event_id = |job: &Job| -> Result<String, StoreError> {
            job.args
                .get("event")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| StoreError::Corrupt {
                    job_id: job.id,
                    detail: "args: a delivery without its event".into(),
                })
        };
        let event_ids = jobs.iter().map(event_id).collect::<Result<Vec<_>, _>>()?;
        let types: HashMap<String, String> =
            sqlx::query_as("SELECT id, type FROM webhook_events WHERE id = ANY($1)")
                .bind(&event_ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        tx.commit().await?;
        jobs.into_iter()
            .map(|job| {
                let event_id = event_id(&job)?;
                Ok(Delivery {
                    event_type: types.get(&event_id).and_then(|t| t.parse().ok()),
                    attempts: attempts.remove(&job.id).unwrap_or_default(),
                    event_id,
                    job,
                })
            })
            .collect()
    }

    pub(in crate::store) async fn resend(
        &self,
        endpoint: EndpointId,
        delivery: JobId,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Submitted>, StoreError> {
        let mut tx = self.begin().await?;
        let mut fx = Effects::default();
        let submitted =
            write::resend(&mut tx, endpoint, delivery, max_attempts, now, &mut fx).await?;
        self.commit(tx, fx).await?;
        Ok(submitted)
    }

    pub(in crate::store) async fn alarm_mark(
        &self,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT at FROM alarm_marks WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|(at,)| from_ms(at)))
    }

    pub(in crate::store) async fn clear_alarm_mark(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        write::clear_alarm_mark(&mut tx, key).await?;
        self.commit(tx, Effects::default()).await
    }
}
