//! Claims in PostgreSQL: taking due jobs under a lease, with several
//! daemons claiming from one table at once.
//!
//! **`FOR UPDATE SKIP LOCKED`.** A claim locks the due rows it picks and
//! passes over rows another daemon's claim has locked, so concurrent
//! claims never wait on each other and never take one job twice. One
//! machine's jobs still run one at a time, in submission order, across
//! daemons: a job is due only while no earlier unfinished job of its
//! machine exists, and that earlier job is either committed (visible to
//! the check) or locked by the claim that is taking it, which has not
//! committed, so the check still sees it queued. Either way the later job
//! is not picked.
//!
//! **The webhooks lane** caps running deliveries per endpoint
//! ([`RUNNING_PER_ENDPOINT`]), a count over rows other claims are changing:
//! its claims take a transaction-level advisory lock, so they run one at a
//! time (they are few and short; the machines lane, the hot path, takes
//! none).
//!
//! **Fencing.** Every write a lease holder makes (transition, renew,
//! release) applies only `WHERE state = 'running' AND lease_owner = $owner`,
//! and each daemon's owner name is its own (host, pid and a random part),
//! so a daemon that stalled past its lease and comes back finds the job
//! rescued, or held by another owner, and its write changes nothing.
//!
//! **Rescue** takes back running jobs whose lease ran out, locking them
//! with `SKIP LOCKED` so that two daemons' rescues never both requeue one
//! job. At a daemon's start-up SQLite also takes back every job leased by
//! another owner, since the file lock proves that owner dead; on a shared
//! database another owner may be a live daemon, so only the jobs of owners
//! no live daemon answers for (no `daemons` row of that id, not stopped,
//! beating within the last 30 s) are taken back at once, and a live
//! daemon's only when its lease runs out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};

use super::dependencies;
use super::jobs::{insert_event, insert_events, webhook_kinds};
use super::tx::{Effects, Tx};
use crate::job::{Job, JobId, JobState, Lane, NewEvent};
use crate::store::StoreError;
use crate::store::rows::{JobRow, from_ms, to_ms};

/// The kinds of the webhooks lane, as SQL.
const WEBHOOK_KINDS: &str = webhook_kinds!();

/// Most running deliveries to one endpoint (as SQLite's).
const RUNNING_PER_ENDPOINT: usize = 2;

/// The advisory lock the webhooks lane's claims share.
const WEBHOOKS_CLAIM_LOCK: i64 = 0x6d61_6368_0001;

/// The rows of the machines lane that are due at `$1`: queued or waiting,
/// and no earlier unfinished job of their machine.
fn machines_due_where() -> String {
    format!(
        "j.state IN ('queued', 'waiting') AND j.kind NOT IN {WEBHOOK_KINDS} \
         AND j.run_at <= $1 \
         AND (j.machine_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
             WHERE p.machine_id = j.machine_id AND p.id < j.id \
             AND (p.state = 'queued' OR p.state = 'running' OR p.state = 'waiting' \
             OR p.state = 'blocked')))"
    )
}

/// A page of the webhooks lane's due jobs in claim order (under the lane's
/// lock), each with the endpoint a delivery goes to; `after` starts the
/// page past the last row of the one before (keyset, `$3`–`$5`).
fn due_webhooks_sql(after: bool) -> String {
    let after = if after {
        "AND (-j.priority, j.run_at, j.id) > ($3, $4, $5)"
    } else {
        ""
    };
    format!(
        "SELECT j.*, CASE WHEN j.kind = 'deliver' THEN j.args::jsonb ->> 'endpoint' END \
         AS endpoint FROM jobs j \
         WHERE j.state IN ('queued', 'waiting') AND j.kind IN {WEBHOOK_KINDS} \
         AND j.run_at <= $1 {after} ORDER BY j.priority DESC, j.run_at, j.id LIMIT $2"
    )
}

/// The machines lane's claim as one statement: the due rows picked and
/// locked (`$1` now, `$2` the limit), updated to running under `$3`'s
/// lease of `$5` ms, their history rows, and whether the claim must look
/// again (see [`next_look`]), which the statement's own snapshot answers:
/// the rows it picked are still queued there, so they are left out. It
/// answers a row per job claimed, each with the look again, or one row
/// with only the look again when it claimed nothing.
///
/// The claim is recorded at `$4` or later: never before the last change
/// of a picked job (its dependencies settled) or of the job before it on
/// its machine (its end), whose writer took its time before committing
/// (for a batched report, before waiting for its batch), so a job is not
/// recorded as started before the job it waited for ended.
fn claim_machines_sql() -> String {
    let due = machines_due_where();
    format!(
        "WITH picked AS (SELECT j.id, j.state AS was, j.updated_at AS changed, \
             (SELECT p.updated_at FROM jobs p WHERE p.machine_id = j.machine_id AND p.id < j.id \
              ORDER BY p.id DESC LIMIT 1) AS before \
           FROM jobs j WHERE {due} \
           ORDER BY j.priority DESC, j.run_at, j.id LIMIT $2 FOR UPDATE SKIP LOCKED), \
         stamp AS (SELECT GREATEST($4, MAX(changed), MAX(before)) AS at FROM picked), \
         u AS (UPDATE jobs SET \
             attempt = CASE WHEN jobs.state = 'queued' THEN jobs.attempt + 1 ELSE jobs.attempt END, \
             state = 'running', lease_owner = $3, lease_expires_at = s.at + $5, updated_at = s.at \
           FROM picked, stamp s WHERE jobs.id = picked.id RETURNING jobs.*, picked.was), \
         ev AS (INSERT INTO job_events (job_id, at, kind, from_state, to_state, message) \
           SELECT id, updated_at, 'state', 'queued', 'running', \
             'attempt ' || attempt || ' of ' || max_attempts \
           FROM u WHERE was = 'queued') \
         SELECT u.*, l.passed_over, l.next FROM (SELECT \
             (SELECT COUNT(*) FROM picked) < $2 AND EXISTS (SELECT 1 FROM jobs j \
               WHERE {due} AND j.id NOT IN (SELECT id FROM picked)) AS passed_over, \
             (SELECT MIN(run_at) FROM jobs WHERE state IN ('queued', 'waiting') \
               AND kind NOT IN {WEBHOOK_KINDS} AND run_at > $1) AS next) l \
         LEFT JOIN u ON TRUE"
    )
}

/// A row of [`due_webhooks_sql`].
#[derive(sqlx::FromRow)]
struct DueWebhook {
    #[sqlx(flatten)]
    row: JobRow,
    /// A delivery's endpoint (`NULL` for a digest).
    endpoint: Option<String>,
}

/// How soon a claim looks again after passing over a due job that another
/// transaction held locked.
const LOCKED_AGAIN: chrono::Duration = chrono::Duration::milliseconds(20);

/// When a claim of `lane` that left worker slots free must look again: the
/// earliest later `run_at` of the lane, or soon when a due job was passed
/// over.
///
/// The machines lane's claim passes over rows another transaction holds
/// locked (`SKIP LOCKED`): a claim taking them, but also a write that only
/// read them under a lock (a submit checking its dependencies `FOR
/// SHARE`), or one that rolls back. Such a transaction may commit without
/// waking anyone, and no later `run_at` stands for the job it held, so
/// the claim asks again, without locking, whether a due job is left, and
/// if so looks again after [`LOCKED_AGAIN`]. The webhooks lane's claim
/// locks nothing it skips (it runs under its advisory lock, and a delivery
/// over its endpoint's share waits for a running one to end, which wakes
/// the claims).
pub(super) async fn next_look(
    tx: &mut Tx,
    lane: Lane,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let not = match lane {
        Lane::Machines => "NOT",
        Lane::Webhooks => "",
    };
    let passed_over = match lane {
        Lane::Machines => format!(
            "EXISTS (SELECT 1 FROM jobs j WHERE {})",
            machines_due_where()
        ),
        Lane::Webhooks => "FALSE".to_string(),
    };
    let (passed_over, next): (bool, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {passed_over}, (SELECT MIN(run_at) FROM jobs WHERE state IN ('queued', 'waiting') \
         AND kind {not} IN {WEBHOOK_KINDS} AND run_at > $1)"
    )))
    .bind(to_ms(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(if passed_over {
        Some(now + LOCKED_AGAIN)
    } else {
        next.map(from_ms)
    })
}

/// Turns sorting and bitmap scans off for the rest of `tx`, for the
/// machines lane's claim (a transaction that claims begins with them off:
/// [`PLANNED_BEGIN`]).
///
/// The claim must walk `jobs_due` in its order and stop at its limit (and
/// its look again walk a due index until its first row). The planner's
/// estimate of queued rows lags the queue (no statistics in a new
/// database, stale ones when a backlog builds up faster than autovacuum
/// analyzes), and believing them few it combines bitmaps of every queued
/// row and sorts them instead: 10 ms against 0.4 ms with 7,000 queued.
/// Both are only penalized, for the rest of a transaction that claims and
/// commits.
///
/// JIT compilation goes off too: a statement that must still sort (the
/// penalty adds 10^10 to its cost) would pass `jit_above_cost` and spend
/// half a second compiling itself, as the claim did when its history rows
/// were inserted in order.
pub(super) async fn plan_claims(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT set_config('enable_sort', 'off', true), \
         set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `BEGIN` of a transaction that claims, in the same round trip as
/// [`plan_claims`]'s settings.
pub(super) const PLANNED_BEGIN: &str = "BEGIN; SET LOCAL enable_sort = off; \
     SET LOCAL enable_bitmapscan = off; SET LOCAL jit = off";

/// [`plan_claims`]'s settings for a whole session: the connections of the
/// pool that the standing claims' own tries use, and nothing else.
pub(super) const PLANNED_SESSION: &str =
    "SET enable_sort = off; SET enable_bitmapscan = off; SET jit = off";

/// The webhooks lane's due jobs: at most
/// [`RUNNING_PER_ENDPOINT`] deliveries per endpoint running, counting the
/// running ones and the ones taken here.
async fn due_webhooks(
    tx: &mut Tx,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<JobRow>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WEBHOOKS_CLAIM_LOCK)
        .execute(&mut **tx)
        .await?;
    let running: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT args::jsonb ->> 'endpoint', COUNT(*) FROM jobs \
         WHERE state = 'running' AND kind = 'deliver' GROUP BY 1",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut running: HashMap<String, usize> = running
        .into_iter()
        .filter_map(|(e, n)| e.map(|e| (e, n.max(0) as usize)))
        .collect();
    // Read in pages: deliveries past their endpoint's share are skipped, and
    // the jobs behind them still taken.
    let mut picked = Vec::new();
    let mut offset_after: Option<(i64, i64, i64)> = None;
    let page = (limit * 4).max(64) as i64;
    loop {
        let mut query = sqlx::query_as::<_, DueWebhook>(sqlx::AssertSqlSafe(due_webhooks_sql(
            offset_after.is_some(),
        )))
        .bind(to_ms(now))
        .bind(page);
        if let Some((priority, run_at, id)) = offset_after {
            query = query.bind(-priority).bind(run_at).bind(id);
        }
        let rows = query.fetch_all(&mut **tx).await?;
        let full = rows.len() as i64 == page;
        for DueWebhook { row, endpoint } in rows {
            offset_after = Some((row.priority, row.run_at, row.id));
            if let Some(endpoint) = endpoint {
                let n = running.entry(endpoint).or_default();
                if *n >= RUNNING_PER_ENDPOINT {
                    continue;
                }
                *n += 1;
            }
            picked.push(row);
            if picked.len() == limit {
                return Ok(picked);
            }
        }
        if !full {
            return Ok(picked);
        }
    }
}

/// What a claim took, and when it must look again.
pub(super) struct Claimed {
    /// The jobs, in claim order (priority, then id).
    pub jobs: Vec<Job>,
    /// When the lane must be looked at again ([`next_look`]'s answer),
    /// when the claim's statement answered it too (the machines lane's);
    /// `None` for the webhooks lane's.
    pub look: Option<Option<DateTime<Utc>>>,
}

/// Takes up to `limit` jobs of `lane` due at `now` for `owner`, under a
/// lease of `lease`. The machines lane's claim is one statement (see
/// [`claim_machines_sql`]), run in a transaction whose planner settings
/// [`plan_claims`] made.
pub(super) async fn claim(
    tx: &mut Tx,
    owner: &str,
    lane: Lane,
    limit: usize,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Claimed, StoreError> {
    if limit == 0 {
        return Ok(Claimed {
            jobs: Vec::new(),
            look: None,
        });
    }
    match lane {
        Lane::Machines => claim_machines(&mut **tx, owner, limit, now, lease).await,
        Lane::Webhooks => {
            let picked = due_webhooks(tx, limit, now).await?;
            let jobs = lease_picked(tx, owner, picked, now, now + lease).await?;
            Ok(Claimed { jobs, look: None })
        }
    }
}

/// The machines lane's claim, through `on`: a transaction whose planner
/// settings [`plan_claims`] made, or a connection of the claims' own pool,
/// whose sessions have them (`PLANNED_SESSION`), where the statement
/// commits on its own.
pub(super) async fn claim_machines<'e>(
    on: impl sqlx::PgExecutor<'e>,
    owner: &str,
    limit: usize,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Claimed, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(claim_machines_sql()))
        .bind(to_ms(now))
        .bind(limit as i64)
        .bind(owner)
        .bind(to_ms(now))
        .bind(lease.num_milliseconds())
        .fetch_all(on)
        .await?;
    let mut look = None;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let passed_over: bool = row.try_get("passed_over")?;
        let next: Option<i64> = row.try_get("next")?;
        look = Some(if passed_over {
            Some(now + LOCKED_AGAIN)
        } else {
            next.map(from_ms)
        });
        // The one row of a claim that took nothing has no job.
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            jobs.push(Job::try_from(JobRow::from_row(&row)?)?);
        }
    }
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    // The statement answers at least one row; were it none, looking again
    // soon loses nothing.
    let look = look.unwrap_or(Some(now + LOCKED_AGAIN));
    Ok(Claimed {
        jobs,
        look: Some(look),
    })
}

/// Leases `picked` (locked by `tx`) to `owner` at `at` until `until`, with
/// a history row for each fresh attempt; answered in claim order.
async fn lease_picked(
    tx: &mut Tx,
    owner: &str,
    picked: Vec<JobRow>,
    at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Job>, StoreError> {
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = picked.iter().map(|r| r.id).collect();
    // A resumed wait goes on with the attempt it is in.
    sqlx::query(
        "UPDATE jobs SET attempt = CASE WHEN state = 'queued' THEN attempt + 1 ELSE attempt END, \
         state = 'running', lease_owner = $2, lease_expires_at = $3, updated_at = $4 \
         WHERE id = ANY($1)",
    )
    .bind(&ids)
    .bind(owner)
    .bind(to_ms(until))
    .bind(to_ms(at))
    .execute(&mut **tx)
    .await?;
    let mut jobs = Vec::with_capacity(picked.len());
    let mut events = Vec::new();
    for row in picked {
        let mut job = Job::try_from(row)?;
        let fresh = job.state == JobState::Queued;
        if fresh {
            job.attempt += 1;
        }
        job.state = JobState::Running;
        job.lease_owner = Some(owner.to_string());
        job.lease_expires_at = Some(from_ms(to_ms(until)));
        job.updated_at = from_ms(to_ms(at));
        // A poll of a wait is recorded by its API call, not as a state change.
        if fresh {
            let event = NewEvent::state(
                Some(JobState::Queued),
                JobState::Running,
                format!("attempt {} of {}", job.attempt, job.max_attempts),
            );
            events.push((job.id, event));
        }
        jobs.push(job);
    }
    let at = to_ms(at);
    let rows: Vec<_> = events.iter().map(|(id, e)| (*id, at, e)).collect();
    insert_events(tx, &rows).await?;
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    Ok(jobs)
}

/// Takes up to `limit` due jobs of any lane for `owner` (a claim on
/// request, in a transaction begun with [`PLANNED_BEGIN`]): the machines
/// lane's first, then the webhooks lane's with the slots left; answered
/// in claim order.
pub(super) async fn claim_any(
    tx: &mut Tx,
    owner: &str,
    limit: usize,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Job>, StoreError> {
    let lease = lease_until - now;
    let mut jobs = claim(tx, owner, Lane::Machines, limit, now, lease)
        .await?
        .jobs;
    let left = limit - jobs.len();
    jobs.extend(
        claim(tx, owner, Lane::Webhooks, left, now, lease)
            .await?
            .jobs,
    );
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    Ok(jobs)
}

/// Extends `owner`'s leases on `ids`; a job no longer leased to it is left
/// alone (the fence).
pub(super) async fn renew(
    tx: &mut Tx,
    owner: &str,
    ids: &[JobId],
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET lease_expires_at = $1 WHERE state = 'running' \
         AND lease_owner = $2 AND id = ANY($3)",
    )
    .bind(to_ms(until))
    .bind(owner)
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes back running jobs whose lease ran out; with `orphans_of_others_than`
/// (an owner and its lane, at a daemon's start-up), also that lane's jobs
/// leased by owners that no live daemon answers for (see the module doc).
pub(super) async fn rescue(
    tx: &mut Tx,
    now: DateTime<Utc>,
    orphans_of_others_than: Option<(&str, Lane)>,
    fx: &mut Effects,
) -> Result<Vec<JobId>, StoreError> {
    let (owner, webhooks) = match orphans_of_others_than {
        Some((owner, lane)) => (Some(owner), lane == Lane::Webhooks),
        None => (None, false),
    };
    let rows: Vec<(i64, i64, i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, attempt, max_attempts, lease_owner FROM jobs j \
         WHERE state = 'running' AND (lease_expires_at < $1 \
         OR ($2::TEXT IS NOT NULL AND lease_owner IS DISTINCT FROM $2 \
             AND (kind IN {WEBHOOK_KINDS}) = $3 \
             AND NOT EXISTS (SELECT 1 FROM daemons d WHERE d.stopped_at IS NULL \
                 AND d.heartbeat_at > {NOW_MS} - $4 \
                 AND (j.lease_owner = d.id OR starts_with(j.lease_owner, d.id || '/'))))) \
         ORDER BY id FOR UPDATE SKIP LOCKED",
        NOW_MS = super::ops::NOW_MS
    )))
    .bind(to_ms(now))
    .bind(owner)
    .bind(webhooks)
    .bind(i64::try_from(super::LIVE_WITHIN.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    let at = to_ms(now);
    let mut ids = Vec::with_capacity(rows.len());
    for (id, attempt, max_attempts, owner) in rows {
        let owner = owner.unwrap_or_else(|| "?".into());
        if attempt >= max_attempts {
            let error =
                format!("the worker ({owner}) stopped during the last of {max_attempts} attempts");
            sqlx::query(
                "UPDATE jobs SET state = 'failed', last_error = $1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = $2, finished_at = $2 WHERE id = $3",
            )
            .bind(&error)
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            let event = NewEvent::state(Some(JobState::Running), JobState::Failed, error);
            insert_event(tx, id, at, &event).await?;
            dependencies::settle(tx, id, JobState::Failed, now, fx).await?;
        } else {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', run_at = $1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            let event = NewEvent::state(
                Some(JobState::Running),
                JobState::Queued,
                format!(
                    "the worker ({owner}) went away; back in the queue, resuming from its checkpoint"
                ),
            );
            insert_event(tx, id, at, &event).await?;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Puts `owner`'s unfinished jobs among `ids` back in the queue.
pub(super) async fn release(
    tx: &mut Tx,
    owner: &str,
    ids: &[JobId],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let at = to_ms(now);
    // The interrupted attempt does not count against the job.
    let released: Vec<(i64,)> = sqlx::query_as(
        "UPDATE jobs SET state = 'queued', run_at = $1, attempt = GREATEST(attempt - 1, 0), \
         lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
         WHERE state = 'running' AND lease_owner = $2 AND id = ANY($3) RETURNING id",
    )
    .bind(at)
    .bind(owner)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    for (id,) in &released {
        let event = NewEvent::state(
            Some(JobState::Running),
            JobState::Queued,
            "released at shutdown; resumes from its checkpoint",
        );
        insert_event(tx, *id, at, &event).await?;
    }
    Ok(released.len())
}

#[cfg(test)]
mod tests {
    use super::WEBHOOK_KINDS;
    use crate::job::{JobKind, Lane};

    #[test]
    fn the_webhook_kinds_are_the_webhooks_lane() {
        let lane: Vec<String> = JobKind::ALL
            .into_iter()
            .filter(|k| k.lane() == Lane::Webhooks)
            .map(|k| format!("'{}'", k.as_str()))
            .collect();
        assert_eq!(WEBHOOK_KINDS, format!("({})", lane.join(", ")));
    }
}
