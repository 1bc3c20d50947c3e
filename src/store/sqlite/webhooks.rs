//! Webhooks in SQLite: endpoints and their secrets, publishing an event
//! (which queues its deliveries as `deliver` jobs in the same transaction),
//! re-sending a delivery and alarm marks, applied by the writer.
//!
//! Secrets are written as [`Secret::expose`] text and read back only by
//! `endpoint_secrets`; nothing here puts one in an error or a log line.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::jobs::{EncodedJob, fetch_job, submit_in};
use super::tx::{Effects, Reply, Tx, json_text, pending};
use crate::job::{DeliverArgs, JobId, JobKind, JobState, NewEvent, NewJob, Operation};
use crate::store::rows::to_ms;
use crate::store::webhooks::{
    EndpointRow, EndpointSaved, Publication, Published, delivery_endpoint, source_text,
};
use crate::store::{StoreError, Submitted};
use crate::webhook::{
    Endpoint, EndpointId, EndpointPatch, EndpointSource, EndpointSpec, EventType, Secret,
};

/// The columns of an endpoint's row without its secrets, as [`EndpointRow`]
/// has them, as a literal for `concat!`.
macro_rules! endpoint_columns {
    () => {
        "id, name, url, format, events, machines, schedules, windows, paused, disabled, \
         source, previous_until, created_at, updated_at"
    };
}
pub(super) use endpoint_columns;

/// A write of webhooks' records. Each variant carries the arguments of the
/// `Store` method of the same name (documented there) and `reply`, where
/// its answer goes after the commit.
pub(super) enum WebhookCommand {
    CreateEndpoint {
        spec: EndpointSpec,
        secret: Secret,
        source: EndpointSource,
        now: DateTime<Utc>,
        reply: Reply<EndpointSaved>,
    },
    UpdateEndpoint {
        id: EndpointId,
        patch: EndpointPatch,
        now: DateTime<Utc>,
        reply: Reply<EndpointSaved>,
    },
    DeleteEndpoint {
        id: EndpointId,
        now: DateTime<Utc>,
        reply: Reply<bool>,
    },
    RotateEndpointSecret {
        id: EndpointId,
        secret: Secret,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
        reply: Reply<Option<Endpoint>>,
    },
    DisableEndpoint {
        id: EndpointId,
        reason: String,
        now: DateTime<Utc>,
        reply: Reply<()>,
    },
    SyncConfigEndpoints {
        endpoints: Vec<(EndpointSpec, Secret)>,
        now: DateTime<Utc>,
        reply: Reply<EndpointSaved>,
    },
    Publish {
        publication: Box<EncodedPublication>,
        now: DateTime<Utc>,
        reply: Reply<Published>,
    },
    Resend {
        endpoint: EndpointId,
        delivery: JobId,
        max_attempts: u32,
        now: DateTime<Utc>,
        reply: Reply<Option<Submitted>>,
    },
    ClearAlarmMark {
        key: String,
        reply: Reply<()>,
    },
}

/// A publication with its event's JSON already made by the caller, so that
/// the writer's thread spends its time on SQL.
pub(super) struct EncodedPublication {
    publication: Publication,
    /// The event's `data` as stored.
    data: String,
    /// The event's subject as stored.
    subject: String,
}

impl EncodedPublication {
    pub(super) fn new(publication: Publication) -> Self {
        EncodedPublication {
            data: json_text(&publication.event.data),
            subject: json_text(&publication.event.subject),
            publication,
        }
    }
}

/// Applies one webhooks write in the batch's transaction; its answer goes
/// into `fx.pending`. `next_id` is the writer's next job id (a publication
/// and a re-send queue deliver jobs).
pub(super) fn apply(
    tx: &Tx<'_>,
    command: WebhookCommand,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        WebhookCommand::CreateEndpoint {
            spec,
            secret,
            source,
            now,
            reply,
        } => {
            let saved = create_endpoint(tx, &spec, &secret, source, now)?;
            fx.pending.push(pending(reply, saved));
        }
        WebhookCommand::UpdateEndpoint {
            id,
            patch,
            now,
            reply,
        } => {
            let saved = update_endpoint(tx, id, patch, now)?;
            fx.pending.push(pending(reply, saved));
        }
        WebhookCommand::DeleteEndpoint { id, now, reply } => {
            let deleted = delete_endpoint(tx, id, now, fx)?;
            fx.pending.push(pending(reply, deleted));
        }
        WebhookCommand::RotateEndpointSecret {
            id,
            secret,
            previous_until,
            now,
            reply,
        } => {
            // SET reads the row as it was: the old secret becomes the previous.
            let changed = tx
                .prepare_cached(
                    "UPDATE webhook_endpoints SET previous_secret = secret, \
                     previous_until = ?2, secret = ?3, updated_at = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    to_ms(previous_until),
                    secret.expose(),
                    to_ms(now)
                ])?;
            let endpoint = if changed == 0 {
                None
            } else {
                fetch_endpoint(tx, id)?
            };
            fx.pending.push(pending(reply, endpoint));
        }
        WebhookCommand::DisableEndpoint {
            id,
            reason,
            now,
            reply,
        } => {
            tx.prepare_cached(
                "UPDATE webhook_endpoints SET disabled = ?2, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, reason, to_ms(now)])?;
            fx.pending.push(pending(reply, ()));
        }
        WebhookCommand::SyncConfigEndpoints {
            endpoints,
            now,
            reply,
        } => {
            let saved = sync_config_endpoints(tx, endpoints, now, fx)?;
            fx.pending.push(pending(reply, saved));
        }
        WebhookCommand::Publish {
            publication,
            now,
            reply,
        } => {
            let published = publish(tx, *publication, now, next_id, fx)?;
            fx.wake |= !published.deliveries.is_empty();
            fx.pending.push(pending(reply, published));
        }
        WebhookCommand::Resend {
            endpoint,
            delivery,
            max_attempts,
            now,
            reply,
        } => {
            let submitted = resend(tx, endpoint, delivery, max_attempts, now, next_id, fx)?;
            fx.wake |= submitted.is_some();
            fx.pending.push(pending(reply, submitted));
        }
        WebhookCommand::ClearAlarmMark { key, reply } => {
            tx.prepare_cached("DELETE FROM alarm_marks WHERE key = ?1")?
                .execute([key])?;
            fx.pending.push(pending(reply, ()));
        }
    }
    Ok(())
}

impl EndpointRow {
    /// A row read by the writer's own connection, selected as
    /// `endpoint_columns!`.
    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<EndpointRow> {
        Ok(EndpointRow {
            id: r.get(0)?,
            name: r.get(1)?,
            url: r.get(2)?,
            format: r.get(3)?,
            events: r.get(4)?,
            machines: r.get(5)?,
            schedules: r.get(6)?,
            windows: r.get(7)?,
            paused: r.get(8)?,
            disabled: r.get(9)?,
            source: r.get(10)?,
            previous_until: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
        })
    }
}

/// One endpoint as the writer's transaction sees it.
fn fetch_endpoint(tx: &Tx<'_>, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
    tx.prepare_cached(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM webhook_endpoints WHERE id = ?1"
    ))?
    .query_row([id], EndpointRow::from_sqlite)
    .optional()?
    .map(Endpoint::try_from)
    .transpose()
}

/// The endpoint holding `name`, and its source as stored.
fn name_holder(tx: &Tx<'_>, name: &str) -> Result<Option<(EndpointId, String)>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id, source FROM webhook_endpoints WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The event types a spec stores: its own, or the defaults.
fn spec_events(spec: &EndpointSpec) -> Vec<EventType> {
    spec.events.clone().unwrap_or_else(EventType::defaults)
}

/// Saves a new endpoint unless its name is taken (checked first: a
/// violated UNIQUE would fail the whole batch, not only this write).
fn create_endpoint(
    tx: &Tx<'_>,
    spec: &EndpointSpec,
    secret: &Secret,
    source: EndpointSource,
    now: DateTime<Utc>,
) -> Result<EndpointSaved, StoreError> {
    if let Some(name) = &spec.name
        && name_holder(tx, name)?.is_some()
    {
        return Ok(EndpointSaved::NameTaken(name.clone()));
    }
    let at = to_ms(now);
    tx.prepare_cached(
        "INSERT INTO webhook_endpoints (name, url, format, events, machines, schedules, \
         windows, paused, disabled, source, secret, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, NULL, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        spec.name,
        spec.url,
        spec.format.as_str(),
        json_text(&spec_events(spec)),
        json_text(&spec.machines),
        json_text(&spec.schedules),
        json_text(&spec.windows),
        source_text(source),
        secret.expose(),
        at,
    ])?;
    let id = tx.last_insert_rowid();
    let endpoint = fetch_endpoint(tx, id)?.expect("the row was just inserted");
    Ok(EndpointSaved::Saved(endpoint))
}

fn update_endpoint(
    tx: &Tx<'_>,
    id: EndpointId,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<EndpointSaved, StoreError> {
    let Some(mut e) = fetch_endpoint(tx, id)? else {
        return Ok(EndpointSaved::NotFound);
    };
    if let Some(name) = &patch.name
        && name_holder(tx, name)?.is_some_and(|(holder, _)| holder != id)
    {
        return Ok(EndpointSaved::NameTaken(name.clone()));
    }
    let EndpointPatch {
        url,
        name,
        format,
        events,
        machines,
        schedules,
        windows,
        paused,
    } = patch;
    e.url = url.unwrap_or(e.url);
    e.name = name.or(e.name);
    e.format = format.unwrap_or(e.format);
    e.events = events.unwrap_or(e.events);
    e.machines = machines.unwrap_or(e.machines);
    e.schedules = schedules.unwrap_or(e.schedules);
    e.windows = windows.unwrap_or(e.windows);
    if let Some(paused) = paused {
        e.paused = paused;
        // A resume is also the way out of a disable.
        if !paused {
            e.disabled = None;
        }
    }
    tx.prepare_cached(
        "UPDATE webhook_endpoints SET name = ?2, url = ?3, format = ?4, events = ?5, \
         machines = ?6, schedules = ?7, windows = ?8, paused = ?9, disabled = ?10, \
         updated_at = ?11 WHERE id = ?1",
    )?
    .execute(params![
        id,
        e.name,
        e.url,
        e.format.as_str(),
        json_text(&e.events),
        json_text(&e.machines),
        json_text(&e.schedules),
        json_text(&e.windows),
        e.paused,
        e.disabled,
        to_ms(now),
    ])?;
    let endpoint = fetch_endpoint(tx, id)?.expect("the row was just updated");
    Ok(EndpointSaved::Saved(endpoint))
}

/// Removes an endpoint and cancels its deliveries not yet made; running
/// ones go on, and find the endpoint gone.
fn delete_endpoint(
    tx: &Tx<'_>,
    id: EndpointId,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<bool, StoreError> {
    let deleted = tx
        .prepare_cached("DELETE FROM webhook_endpoints WHERE id = ?1")?
        .execute([id])?;
    if deleted == 0 {
        return Ok(false);
    }
    let at = to_ms(now);
    // The expression and condition of the index `jobs_deliveries`.
    let open: Vec<(JobId, String)> = tx
        .prepare_cached(
            "SELECT id, state FROM jobs WHERE kind = 'deliver' \
             AND json_extract(args, '$.endpoint') = ?1 AND state IN ('queued', 'waiting')",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut cancel = tx.prepare_cached(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = ?1, finished_at = ?1 WHERE id = ?2",
    )?;
    for (job, state) in open {
        cancel.execute(params![at, job])?;
        fx.events.push((
            job,
            at,
            NewEvent::state(
                state.parse::<JobState>().ok(),
                JobState::Cancelled,
                format!("the webhook endpoint {id} was removed"),
            ),
        ));
    }
    Ok(true)
}

/// Makes the stored `config` endpoints the listed ones, by name. Every name
/// is checked before anything is written, so a refused sync changes nothing.
/// Answers `Saved` with the last endpoint listed (`NotFound` when none is),
/// or `NameTaken` with a name an `api` endpoint holds or the list repeats.
fn sync_config_endpoints(
    tx: &Tx<'_>,
    endpoints: Vec<(EndpointSpec, Secret)>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<EndpointSaved, StoreError> {
    let mut listed = HashSet::new();
    for (spec, _) in &endpoints {
        let Some(name) = &spec.name else { continue };
        if !listed.insert(name.as_str()) {
            return Ok(EndpointSaved::NameTaken(name.clone()));
        }
        if let Some((_, source)) = name_holder(tx, name)?
            && source != source_text(EndpointSource::Config)
        {
            return Ok(EndpointSaved::NameTaken(name.clone()));
        }
    }
    // Those no longer listed go first, their undelivered deliveries with
    // them. One without a name matches nothing, so it is made anew.
    let stored: Vec<(EndpointId, Option<String>)> = tx
        .prepare_cached("SELECT id, name FROM webhook_endpoints WHERE source = 'config'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, name) in stored {
        if !name.is_some_and(|n| listed.contains(n.as_str())) {
            delete_endpoint(tx, id, now, fx)?;
        }
    }
    let mut last = EndpointSaved::NotFound;
    for (spec, secret) in &endpoints {
        let held = match &spec.name {
            Some(name) => name_holder(tx, name)?.map(|(id, _)| id),
            None => None,
        };
        last = match held {
            None => create_endpoint(tx, spec, secret, EndpointSource::Config, now)?,
            Some(id) => EndpointSaved::Saved(sync_one(tx, id, spec, secret, now)?),
        };
    }
    Ok(last)
}

/// Brings a stored config endpoint to its spec; its secret is replaced
/// without a rotation. Unchanged, it is left as it is (`updated_at` too).
fn sync_one(
    tx: &Tx<'_>,
    id: EndpointId,
    spec: &EndpointSpec,
    secret: &Secret,
    now: DateTime<Utc>,
) -> Result<Endpoint, StoreError> {
    tx.prepare_cached(
        "UPDATE webhook_endpoints SET url = ?2, format = ?3, events = ?4, machines = ?5, \
         schedules = ?6, windows = ?7, secret = ?8, previous_secret = NULL, \
         previous_until = NULL, updated_at = ?9 \
         WHERE id = ?1 AND (url IS NOT ?2 OR format IS NOT ?3 OR events IS NOT ?4 \
         OR machines IS NOT ?5 OR schedules IS NOT ?6 OR windows IS NOT ?7 \
         OR secret IS NOT ?8)",
    )?
    .execute(params![
        id,
        spec.url,
        spec.format.as_str(),
        json_text(&spec_events(spec)),
        json_text(&spec.machines),
        json_text(&spec.schedules),
        json_text(&spec.windows),
        secret.expose(),
        to_ms(now),
    ])?;
    Ok(fetch_endpoint(tx, id)?.expect("a config endpoint found by name"))
}

/// Stores the event and queues one delivery per endpoint that takes it.
fn publish(
    tx: &Tx<'_>,
    encoded: EncodedPublication,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<Published, StoreError> {
    let EncodedPublication {
        publication,
        data,
        subject,
    } = encoded;
    let event = &publication.event;
    tx.prepare_cached(
        "INSERT INTO webhook_events (id, type, at, data, subject, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![
        event.id,
        event.kind.as_str(),
        to_ms(event.timestamp),
        data,
        subject,
        to_ms(now),
    ])?;
    let endpoints: Vec<Endpoint> = match publication.only {
        // Whatever its filters and pause say: a ping, a re-send.
        Some(id) => fetch_endpoint(tx, id)?.into_iter().collect(),
        None => {
            let rows: Vec<EndpointRow> = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM webhook_endpoints WHERE paused = 0 AND disabled IS NULL ORDER BY id"
                ))?
                .query_map([], EndpointRow::from_sqlite)?
                .collect::<Result<_, _>>()?;
            let mut accepting = Vec::with_capacity(rows.len());
            for row in rows {
                let endpoint = Endpoint::try_from(row)?;
                if endpoint.accepts(event) {
                    accepting.push(endpoint);
                }
            }
            accepting
        }
    };
    let mut published = Published::default();
    for endpoint in endpoints {
        let args = DeliverArgs {
            endpoint: endpoint.id,
            event: event.id.clone(),
        };
        let submitted = queue_delivery(tx, args, publication.max_attempts, now, next_id, fx)?;
        published.deliveries.push(submitted.job.id);
    }
    if let Some(key) = &publication.mark {
        tx.prepare_cached(
            "INSERT INTO alarm_marks (key, at) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET at = excluded.at",
        )?
        .execute(params![key, to_ms(event.timestamp)])?;
    }
    Ok(published)
}

/// Queues a deliver job as a submit would, with its "submitted" history.
fn queue_delivery(
    tx: &Tx<'_>,
    args: DeliverArgs,
    max_attempts: u32,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<Submitted, StoreError> {
    let job = NewJob {
        operation: Operation::Deliver(args),
        machine_id: None,
        priority: 0,
        max_attempts,
        run_at: now,
        wait: None,
        wait_timeout: Duration::ZERO,
        idempotency_key: None,
        depends_on: Vec::new(),
        on_dependency_failure: Default::default(),
    };
    submit_in(tx, next_id, EncodedJob::new(job), now, &mut fx.events)
}

/// Queues `delivery` of `endpoint` again, as a new deliver job with the
/// same arguments; `None` unless that job is a delivery of that endpoint
/// and the endpoint is still there.
fn resend(
    tx: &Tx<'_>,
    endpoint: EndpointId,
    delivery: JobId,
    max_attempts: u32,
    now: DateTime<Utc>,
    next_id: &mut JobId,
    fx: &mut Effects,
) -> Result<Option<Submitted>, StoreError> {
    let Some(job) = fetch_job(tx, delivery)? else {
        return Ok(None);
    };
    if job.kind != JobKind::Deliver
        || delivery_endpoint(&job) != Some(endpoint)
        || fetch_endpoint(tx, endpoint)?.is_none()
    {
        return Ok(None);
    }
    let Operation::Deliver(args) =
        Operation::parse(JobKind::Deliver, &job.args).map_err(|e| StoreError::Corrupt {
            job_id: job.id,
            detail: format!("args: {e}"),
        })?
    else {
        unreachable!("a deliver job's args parse as a delivery");
    };
    let submitted = queue_delivery(tx, args, max_attempts, now, next_id, fx)?;
    fx.events.push((
        submitted.job.id,
        to_ms(now),
        NewEvent::note(format!("a re-send of delivery {delivery}")),
    ));
    Ok(Some(submitted))
}
