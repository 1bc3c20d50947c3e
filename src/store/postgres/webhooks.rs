//! Webhooks in PostgreSQL: what the webhook writes do inside their
//! transaction — endpoints and their secrets, publishing an event (which
//! queues its deliveries as `deliver` jobs through `jobs.rs` in the same
//! transaction), re-sending a delivery, alarm marks. The operations
//! (`ops/webhooks.rs`) begin and commit the transactions.
//!
//! The outcomes are SQLite's (`sqlite/webhooks.rs`); what differs is that
//! other daemons write at the same time, so every read that a write
//! depends on is made safe here:
//!
//! - An endpoint's name is unique. A create inserts `ON CONFLICT (name) DO
//!   NOTHING` (a name taken meanwhile is `NameTaken`, not an error); a
//!   rename that meets a name taken since its check fails on the unique
//!   index, which is answered `NameTaken` too. Either way a write answered
//!   `NameTaken` may have left its transaction unusable: the operation
//!   rolls it back (nothing it wrote is kept — a refused write changes
//!   nothing, as in SQLite).
//! - A patch is applied to the row locked `FOR NO KEY UPDATE`, so a
//!   disable or another patch made meanwhile is not overwritten with what
//!   was read.
//! - A publication holds the endpoints it delivers to `FOR KEY SHARE`
//!   until its commit: a delete waits for it and then cancels the
//!   deliveries it queued, as it would have after SQLite's serial writes
//!   (a pause or a disable is not held up: they change no key).
//! - Syncing the configuration's endpoints takes an advisory lock, so that
//!   daemons starting together with the same configuration take turns and
//!   the later one finds the earlier one's endpoints instead of a name
//!   conflict; it then locks the rows it decides on `FOR UPDATE`, in id
//!   order like a publication, so the two cannot deadlock.
//!
//! Secrets are written as [`Secret::expose`] text, as SQLite stores them,
//! and read back only by `endpoint_secrets`; nothing here puts one in an
//! error or a log line (the pool logs no statements).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::jobs::{fetch_job, insert_event, submit_in};
use super::tx::{Effects, Tx};
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

/// The key of the advisory lock that serializes syncs of the
/// configuration's endpoints (`b"mchwhcfg"`: unlikely to meet another
/// lock's key).
const CONFIG_SYNC_LOCK: i64 = 0x6d63_6877_6863_6667;

/// JSON text of a value Machinist made, as stored.
pub(super) fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("stored JSON serializes")
}

/// Whether a statement failed on a unique index (a name taken by a
/// transaction that committed after this one looked).
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// One endpoint as `tx` sees it.
pub(super) async fn fetch_endpoint(
    tx: &mut Tx,
    id: EndpointId,
) -> Result<Option<Endpoint>, StoreError> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Endpoint::try_from).transpose()
}

/// One endpoint, held `FOR KEY SHARE` until the commit: it cannot be
/// deleted meanwhile (a delivery queued for it is then one its delete
/// sees and cancels).
async fn hold_endpoint(tx: &mut Tx, id: EndpointId) -> Result<Option<Endpoint>, StoreError> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM webhook_endpoints WHERE id = $1 FOR KEY SHARE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Endpoint::try_from).transpose()
}

/// The endpoint holding `name`. Not locked: should it let the name go
/// after this read, the answer `NameTaken` was true when it was made; should
/// another take the name after it, the unique index refuses the write.
async fn name_holder(tx: &mut Tx, name: &str) -> Result<Option<EndpointId>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM webhook_endpoints WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// The event types a spec stores: its own, or the defaults.
fn spec_events(spec: &EndpointSpec) -> Vec<EventType> {
    spec.events.clone().unwrap_or_else(EventType::defaults)
}

/// Saves a new endpoint unless its name is taken. The unique index decides
/// (`ON CONFLICT DO NOTHING`), so a name taken by another daemon an
/// instant ago is `NameTaken` too, and the transaction stays usable.
pub(super) async fn create_endpoint(
    tx: &mut Tx,
    spec: &EndpointSpec,
    secret: &Secret,
    source: EndpointSource,
    now: DateTime<Utc>,
) -> Result<EndpointSaved, StoreError> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "INSERT INTO webhook_endpoints (name, url, format, events, machines, schedules, \
         windows, paused, disabled, source, secret, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, NULL, $8, $9, $10, $10) \
         ON CONFLICT (name) DO NOTHING RETURNING ",
        endpoint_columns!()
    ))
    .bind(&spec.name)
    .bind(&spec.url)
    .bind(spec.format.as_str())
    .bind(json_text(&spec_events(spec)))
    .bind(json_text(&spec.machines))
    .bind(json_text(&spec.schedules))
    .bind(json_text(&spec.windows))
    .bind(source_text(source))
    .bind(secret.expose())
    .bind(to_ms(now))
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => Ok(EndpointSaved::Saved(Endpoint::try_from(row)?)),
        None => Ok(EndpointSaved::NameTaken(
            spec.name.clone().expect("only a name conflicts"),
        )),
    }
}

/// Applies a patch to the endpoint, locked while it is read and written.
/// `NameTaken` may leave `tx` unusable: the caller rolls back.
pub(super) async fn update_endpoint(
    tx: &mut Tx,
    id: EndpointId,
    patch: EndpointPatch,
    now: DateTime<Utc>,
) -> Result<EndpointSaved, StoreError> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(mut e) = row.map(Endpoint::try_from).transpose()? else {
        return Ok(EndpointSaved::NotFound);
    };
    if let Some(name) = &patch.name
        && name_holder(tx, name)
            .await?
            .is_some_and(|holder| holder != id)
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
    let updated = sqlx::query_as::<_, EndpointRow>(concat!(
        "UPDATE webhook_endpoints SET name = $2, url = $3, format = $4, events = $5, \
         machines = $6, schedules = $7, windows = $8, paused = $9, disabled = $10, \
         updated_at = $11 WHERE id = $1 RETURNING ",
        endpoint_columns!()
    ))
    .bind(id)
    .bind(&e.name)
    .bind(&e.url)
    .bind(e.format.as_str())
    .bind(json_text(&e.events))
    .bind(json_text(&e.machines))
    .bind(json_text(&e.schedules))
    .bind(json_text(&e.windows))
    .bind(e.paused)
    .bind(&e.disabled)
    .bind(to_ms(now))
    .fetch_one(&mut **tx)
    .await;
    match updated {
        Ok(row) => Ok(EndpointSaved::Saved(Endpoint::try_from(row)?)),
        // The new name was taken by a transaction that committed after
        // the check above.
        Err(err) if is_unique_violation(&err) => Ok(EndpointSaved::NameTaken(
            e.name.expect("only a name conflicts"),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Removes an endpoint and cancels its deliveries not yet made; running
/// ones go on, and find the endpoint gone. The deliveries are found on the
/// index `jobs_deliveries` (its expression and condition) and locked:
/// one that a worker claimed meanwhile is running, and not cancelled.
pub(super) async fn delete_endpoint(
    tx: &mut Tx,
    id: EndpointId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    let at = to_ms(now);
    // After the delete, in a statement of its own: it sees the deliveries
    // of every publication that held the endpoint and committed before the
    // delete could take it.
    let cancelled: Vec<(JobId, String)> = sqlx::query_as(
        "UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = $2, finished_at = $2 \
         FROM (SELECT id, state FROM jobs WHERE kind = 'deliver' \
               AND (args::jsonb ->> 'endpoint') = $1 AND state IN ('queued', 'waiting') \
               ORDER BY id FOR UPDATE) AS open \
         WHERE jobs.id = open.id RETURNING jobs.id, open.state",
    )
    .bind(id.to_string())
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    for (job, state) in cancelled {
        let event = NewEvent::state(
            state.parse::<JobState>().ok(),
            JobState::Cancelled,
            format!("the webhook endpoint {id} was removed"),
        );
        insert_event(tx, job, at, &event).await?;
    }
    Ok(true)
}

/// Replaces an endpoint's secret; the old one keeps signing until
/// `previous_until`. One statement: its SET reads the row as it was, so
/// the old secret becomes the previous one even with rotations racing
/// (the row lock orders them).
pub(super) async fn rotate_endpoint_secret(
    tx: &mut Tx,
    id: EndpointId,
    secret: &Secret,
    previous_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Endpoint>, StoreError> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $2, \
         secret = $3, updated_at = $4 WHERE id = $1 RETURNING ",
        endpoint_columns!()
    ))
    .bind(id)
    .bind(to_ms(previous_until))
    .bind(secret.expose())
    .bind(to_ms(now))
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Endpoint::try_from).transpose()
}

/// Stops deliveries to an endpoint, saying why.
pub(super) async fn disable_endpoint(
    tx: &mut Tx,
    id: EndpointId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE webhook_endpoints SET disabled = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(reason)
        .bind(to_ms(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Makes the stored `config` endpoints the listed ones, by name. Every name
/// is checked before anything is written, so a refused sync changes nothing.
/// Answers `Saved` with the last endpoint listed (`NotFound` when none is),
/// or `NameTaken` with a name an `api` endpoint holds or the list repeats;
/// after `NameTaken` the caller rolls back (an `api` endpoint may have
/// taken a name between the check and the insert).
pub(super) async fn sync_config_endpoints(
    tx: &mut Tx,
    endpoints: &[(EndpointSpec, Secret)],
    now: DateTime<Utc>,
) -> Result<EndpointSaved, StoreError> {
    // Daemons starting together sync the same list: one at a time, each
    // seeing what the one before committed (every statement of a READ
    // COMMITTED transaction reads what committed before it).
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CONFIG_SYNC_LOCK)
        .execute(&mut **tx)
        .await?;
    // Every row the sync may change or decides on, locked at once in id
    // order, the order a publication holds endpoints in: the two cannot
    // deadlock, and none of these rows is renamed or deleted before the
    // commit.
    let names: Vec<String> = endpoints
        .iter()
        .filter_map(|(spec, _)| spec.name.clone())
        .collect();
    let rows: Vec<(EndpointId, Option<String>, String)> = sqlx::query_as(
        "SELECT id, name, source FROM webhook_endpoints \
         WHERE source = 'config' OR name = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&names)
    .fetch_all(&mut **tx)
    .await?;
    let holders: HashMap<&str, (EndpointId, &str)> = rows
        .iter()
        .filter_map(|(id, name, source)| Some((name.as_deref()?, (*id, source.as_str()))))
        .collect();
    let mut listed = HashSet::new();
    for (spec, _) in endpoints {
        let Some(name) = &spec.name else { continue };
        if !listed.insert(name.as_str()) {
            return Ok(EndpointSaved::NameTaken(name.clone()));
        }
        if let Some((_, source)) = holders.get(name.as_str())
            && *source != source_text(EndpointSource::Config)
        {
            return Ok(EndpointSaved::NameTaken(name.clone()));
        }
    }
    // Those no longer listed go first, their undelivered deliveries with
    // them. One without a name matches nothing, so it is made anew.
    for (id, name, source) in &rows {
        if source == source_text(EndpointSource::Config)
            && !name.as_deref().is_some_and(|n| listed.contains(n))
        {
            delete_endpoint(tx, *id, now).await?;
        }
    }
    let mut last = EndpointSaved::NotFound;
    for (spec, secret) in endpoints {
        // A listed name's holder is a config endpoint (checked above).
        let held = spec
            .name
            .as_deref()
            .and_then(|name| holders.get(name))
            .map(|(id, _)| *id);
        last = match held {
            None => create_endpoint(tx, spec, secret, EndpointSource::Config, now).await?,
            Some(id) => EndpointSaved::Saved(sync_one(tx, id, spec, secret, now).await?),
        };
        // An `api` endpoint took the name since the rows were read.
        if matches!(last, EndpointSaved::NameTaken(_)) {
            return Ok(last);
        }
    }
    Ok(last)
}

/// Brings a stored config endpoint (locked by the caller) to its spec; its
/// secret is replaced without a rotation. Unchanged, it is left as it is
/// (`updated_at` too).
async fn sync_one(
    tx: &mut Tx,
    id: EndpointId,
    spec: &EndpointSpec,
    secret: &Secret,
    now: DateTime<Utc>,
) -> Result<Endpoint, StoreError> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, format = $3, events = $4, machines = $5, \
         schedules = $6, windows = $7, secret = $8, previous_secret = NULL, \
         previous_until = NULL, updated_at = $9 \
         WHERE id = $1 AND (url IS DISTINCT FROM $2 OR format IS DISTINCT FROM $3 \
         OR events IS DISTINCT FROM $4 OR machines IS DISTINCT FROM $5 \
         OR schedules IS DISTINCT FROM $6 OR windows IS DISTINCT FROM $7 \
         OR secret IS DISTINCT FROM $8)",
    )
    .bind(id)
    .bind(&spec.url)
    .bind(spec.format.as_str())
    .bind(json_text(&spec_events(spec)))
    .bind(json_text(&spec.machines))
    .bind(json_text(&spec.schedules))
    .bind(json_text(&spec.windows))
    .bind(secret.expose())
    .bind(to_ms(now))
    .execute(&mut **tx)
    .await?;
    fetch_endpoint(tx, id).await?.ok_or_else(|| {
        StoreError::Db(format!("the config webhook endpoint {id} went while locked").into())
    })
}

/// Stores the event and queues one delivery per endpoint that takes it,
/// in endpoint order; sets the alarm mark when the publication has one.
pub(super) async fn publish(
    tx: &mut Tx,
    publication: &Publication,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Published, StoreError> {
    let event = &publication.event;
    // The same event published twice is stored once.
    sqlx::query(
        "INSERT INTO webhook_events (id, type, at, data, subject, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(event.kind.as_str())
    .bind(to_ms(event.timestamp))
    .bind(json_text(&event.data))
    .bind(json_text(&event.subject))
    .bind(to_ms(now))
    .execute(&mut **tx)
    .await?;
    let endpoints: Vec<Endpoint> = match publication.only {
        // Whatever its filters and pause say: a ping, a re-send.
        Some(id) => hold_endpoint(tx, id).await?.into_iter().collect(),
        None => {
            let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM webhook_endpoints WHERE paused = FALSE AND disabled IS NULL \
                 ORDER BY id FOR KEY SHARE"
            ))
            .fetch_all(&mut **tx)
            .await?;
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
        let submitted = queue_delivery(tx, args, publication.max_attempts, now, fx).await?;
        published.deliveries.push(submitted.job.id);
    }
    if let Some(key) = &publication.mark {
        set_alarm_mark(tx, key, to_ms(event.timestamp)).await?;
    }
    fx.wake |= !published.deliveries.is_empty();
    Ok(published)
}

/// Sets the alarm mark of `key`; the later write wins, as in SQLite.
async fn set_alarm_mark(tx: &mut Tx, key: &str, at: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alarm_marks (key, at) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET at = excluded.at",
    )
    .bind(key)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets the alarm mark of `key`.
pub(super) async fn clear_alarm_mark(tx: &mut Tx, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM alarm_marks WHERE key = $1")
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Queues a deliver job as a submit would, with its "submitted" history.
async fn queue_delivery(
    tx: &mut Tx,
    args: DeliverArgs,
    max_attempts: u32,
    now: DateTime<Utc>,
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
    submit_in(tx, job, now, fx).await
}

/// Queues `delivery` of `endpoint` again, as a new deliver job with the
/// same arguments; `None` unless that job is a delivery of that endpoint
/// and the endpoint is still there (held until the commit, as a
/// publication holds it).
pub(super) async fn resend(
    tx: &mut Tx,
    endpoint: EndpointId,
    delivery: JobId,
    max_attempts: u32,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Option<Submitted>, StoreError> {
    let Some(job) = fetch_job(tx, delivery).await? else {
        return Ok(None);
    };
    if job.kind != JobKind::Deliver
        || delivery_endpoint(&job) != Some(endpoint)
        || hold_endpoint(tx, endpoint).await?.is_none()
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
    let submitted = queue_delivery(tx, args, max_attempts, now, fx).await?;
    let note = NewEvent::note(format!("a re-send of delivery {delivery}"));
    insert_event(tx, submitted.job.id, to_ms(now), &note).await?;
    fx.wake = true;
    Ok(Some(submitted))
}
