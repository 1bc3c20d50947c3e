//! The SQLite driver's webhook operations: writes become
//! [`WebhookCommand`]s for the writer (`sqlite/webhooks.rs` applies them);
//! the reads run on the pool.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::job::{Job, JobEvent, JobId};
use crate::store::rows::{EventRow, JobRow, from_ms};
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::webhooks::{EncodedPublication, WebhookCommand, endpoint_columns};
use crate::store::webhooks::{
    Delivery, EndpointRow, EndpointSaved, Publication, Published, SecretsRow, WebhookEventRow,
};
use crate::store::{StoreError, Submitted};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSecrets, EndpointSource, EndpointSpec, Event,
    Secret,
};

/// An endpoint's deliveries below an id, newest first: a walk of the index
/// `jobs_deliveries`, whose expression and condition it spells.
const DELIVERIES: &str = "SELECT * FROM jobs INDEXED BY jobs_deliveries \
     WHERE kind = 'deliver' AND json_extract(args, '$.endpoint') = ?1 AND id < ?2 \
     ORDER BY id DESC LIMIT ?3";

/// The webhook operations of the SQLite driver.
impl SqliteDriver {
    pub(in crate::store) async fn create_endpoint(
        &self,
        spec: EndpointSpec,
        secret: Secret,
        source: EndpointSource,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        self.send(|reply| WebhookCommand::CreateEndpoint {
            spec,
            secret,
            source,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints ORDER BY id"
        ))
        .fetch_all(&self.reader)
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
            " FROM webhook_endpoints WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(Endpoint::try_from).transpose()
    }

    pub(in crate::store) async fn update_endpoint(
        &self,
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        self.send(|reply| WebhookCommand::UpdateEndpoint {
            id,
            patch,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn delete_endpoint(
        &self,
        id: EndpointId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.send(|reply| WebhookCommand::DeleteEndpoint { id, now, reply })
            .await
    }

    pub(in crate::store) async fn rotate_endpoint_secret(
        &self,
        id: EndpointId,
        secret: Secret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.send(|reply| WebhookCommand::RotateEndpointSecret {
            id,
            secret,
            previous_until,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn endpoint_secrets(
        &self,
        id: EndpointId,
    ) -> Result<Option<EndpointSecrets>, StoreError> {
        let row: Option<SecretsRow> = sqlx::query_as(
            "SELECT id, secret, previous_secret, previous_until FROM webhook_endpoints \
             WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(EndpointSecrets::try_from).transpose()
    }

    pub(in crate::store) async fn disable_endpoint(
        &self,
        id: EndpointId,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.send(|reply| WebhookCommand::DisableEndpoint {
            id,
            reason,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn sync_config_endpoints(
        &self,
        endpoints: Vec<(EndpointSpec, Secret)>,
        now: DateTime<Utc>,
    ) -> Result<EndpointSaved, StoreError> {
        self.send(|reply| WebhookCommand::SyncConfigEndpoints {
            endpoints,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn publish(
        &self,
        publication: Publication,
        now: DateTime<Utc>,
    ) -> Result<Published, StoreError> {
        // Encoded here, on the caller's thread, not on the writer's.
        let publication = Box::new(EncodedPublication::new(publication));
        self.send(|reply| WebhookCommand::Publish {
            publication,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn webhook_event(
        &self,
        id: &str,
    ) -> Result<Option<Event>, StoreError> {
        let row: Option<WebhookEventRow> =
            sqlx::query_as("SELECT id, type, at, data, subject FROM webhook_events WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(Event::try_from).transpose()
    }

    pub(in crate::store) async fn deliveries(
        &self,
        endpoint: EndpointId,
        before: Option<JobId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        // One read transaction: the jobs, their attempts and their events
        // as of one moment.
        let mut tx = self.reader.begin().await?;
        let rows: Vec<JobRow> = sqlx::query_as(DELIVERIES)
            .bind(endpoint)
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
        let ids = Value::from(jobs.iter().map(|j| j.id).collect::<Vec<_>>()).to_string();
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT * FROM job_events WHERE job_id IN (SELECT value FROM json_each(?)) \
             AND kind = 'api_call' ORDER BY job_id, id",
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
        let event_ids =
            Value::from(jobs.iter().map(event_id).collect::<Result<Vec<_>, _>>()?).to_string();
        let types: HashMap<String, String> = sqlx::query_as(
            "SELECT id, type FROM webhook_events WHERE id IN (SELECT value FROM json_each(?))",
        )
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
        self.send(|reply| WebhookCommand::Resend {
            endpoint,
            delivery,
            max_attempts,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn alarm_mark(
        &self,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT at FROM alarm_marks WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|(at,)| from_ms(at)))
    }

    pub(in crate::store) async fn clear_alarm_mark(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.send(|reply| WebhookCommand::ClearAlarmMark { key, reply })
            .await
    }
}
