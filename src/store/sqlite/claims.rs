//! Claims in SQLite: taking due jobs under a lease (on request, or for a
//! standing claim parked in the writer), renewing leases, taking back the
//! jobs of dead owners (rescue) and handing back a stopping owner's jobs
//! (release).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::Value;
use tokio::sync::mpsc;

use super::jobs::{next_due, webhook_kinds};
use super::rows::job_columns;
use super::tx::{Effects, Reply, Tx, pending};
use crate::job::{Job, JobId, JobState, Lane, NewEvent};
use crate::store::rows::{JobRow, from_ms, to_ms};
use crate::store::{ClaimedJob, StandingClaim, StoreError};

/// Where a standing claim's jobs go.
pub(super) type ClaimedJobs = mpsc::UnboundedSender<Result<Vec<ClaimedJob>, StoreError>>;

/// A write about leases. Each variant carries the arguments of the `Store`
/// method of the same name (documented there) and `reply`, where its answer
/// goes after the commit.
pub(super) enum ClaimCommand {
    Claim {
        owner: Arc<str>,
        limit: usize,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        reply: Reply<Vec<Job>>,
    },
    /// Registers a claim that stays in the writer and takes jobs whenever
    /// they can run, sending them on `jobs`.
    Stand {
        claim: StandingClaim,
        jobs: ClaimedJobs,
        reply: Reply<()>,
    },
    /// Look again at the standing claims (a delayed job fell due, or a test
    /// moved the clock).
    Poke,
    /// Withdraws `owner`'s standing claim; once answered, it sends nothing more.
    Unpark { owner: Arc<str>, reply: Reply<()> },
    Renew {
        owner: Arc<str>,
        ids: Vec<JobId>,
        until: DateTime<Utc>,
        reply: Reply<()>,
    },
    Rescue {
        now: DateTime<Utc>,
        /// Also take back jobs of this lane leased by anyone but this owner
        /// (start-up of the only daemon on the file).
        orphans_of_others_than: Option<(Arc<str>, Lane)>,
        reply: Reply<Vec<JobId>>,
    },
    Release {
        owner: Arc<str>,
        ids: Vec<JobId>,
        now: DateTime<Utc>,
        reply: Reply<usize>,
    },
}

/// A standing claim with the channel its jobs go out on; the writer keeps
/// these between batches.
pub(super) struct Parked {
    /// What the dispatcher asked for.
    claim: StandingClaim,
    /// Where the jobs it takes go, after the commit that took them.
    jobs: ClaimedJobs,
}

impl Parked {
    /// Tells the claims of `owner` that `id` was cancelled.
    pub(super) fn revoke(all: &[Parked], owner: &str, id: JobId) {
        for parked in all.iter().filter(|p| *p.claim.owner == *owner) {
            parked
                .claim
                .revoked
                .lock()
                .expect("revoked set poisoned")
                .insert(id);
        }
    }
}

/// Applies one lease command in the batch's transaction; its answer goes
/// into `fx.pending`. `parked` are the writer's standing claims.
pub(super) fn apply(
    tx: &Tx<'_>,
    command: ClaimCommand,
    parked: &mut Vec<Parked>,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    match command {
        ClaimCommand::Claim {
            owner,
            limit,
            now,
            lease_until,
            reply,
        } => {
            let jobs = claim_any(tx, &owner, limit, now, lease_until, fx)?;
            fx.pending.push(pending(reply, jobs));
        }
        ClaimCommand::Stand { claim, jobs, reply } => {
            // A newer claim from the same owner replaces the older one.
            parked.retain(|p| p.claim.owner != claim.owner);
            parked.push(Parked { claim, jobs });
            fx.recheck = true;
            fx.pending.push(pending(reply, ()));
        }
        ClaimCommand::Poke => fx.recheck = true,
        ClaimCommand::Unpark { owner, reply } => {
            parked.retain(|p| p.claim.owner != owner);
            fx.pending.push(pending(reply, ()));
        }
        ClaimCommand::Renew {
            owner,
            ids,
            until,
            reply,
        } => {
            renew(tx, &owner, ids, until)?;
            fx.pending.push(pending(reply, ()));
        }
        ClaimCommand::Rescue {
            now,
            orphans_of_others_than,
            reply,
        } => {
            let orphans = orphans_of_others_than
                .as_ref()
                .map(|(owner, lane)| (&**owner, *lane));
            let ids = rescue(tx, now, orphans, fx)?;
            fx.wake |= !ids.is_empty();
            fx.pending.push(pending(reply, ids));
        }
        ClaimCommand::Release {
            owner,
            ids,
            now,
            reply,
        } => {
            let released = release(tx, &owner, &ids, now, fx)?;
            fx.pending.push(pending(reply, released));
        }
    }
    Ok(())
}

/// Most running deliveries to one endpoint: a receiver that hangs holds
/// this many of the webhooks lane's workers, not all of them, so the other
/// endpoints' deliveries keep going.
pub(super) const RUNNING_PER_ENDPOINT: usize = 2;

/// The machines lane's due jobs in claim order: due, and first in its
/// machine's line (no earlier unfinished job for the same machine, so one
/// machine never has two jobs at once and its jobs run in submission
/// order). "Unfinished" is spelled as the partial index `jobs_machine_open`
/// spells it, and the lane as `jobs_due` does, so that both indexes serve.
const DUE_MACHINES: &str = concat!(
    // INDEXED BY: walk the due index in claim order and stop at the
    // limit; left to itself the planner read every queued row and
    // sorted them, which grew linearly with the backlog.
    "SELECT ",
    job_columns!(),
    " FROM jobs j INDEXED BY jobs_due \
     WHERE j.state IN ('queued', 'waiting') AND j.kind NOT IN ",
    webhook_kinds!(),
    " AND j.run_at <= ?1 \
     AND (j.machine_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p \
         WHERE p.machine_id = j.machine_id AND p.id < j.id \
         AND (p.state = 'queued' OR p.state = 'running' OR p.state = 'waiting' \
         OR p.state = 'blocked'))) \
     ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?2"
);

/// The webhooks lane's due jobs in claim order, each with the endpoint of
/// a delivery (NULL for a digest), as column 24. No LIMIT: the caller
/// steps through them and stops once it has enough, looking past the
/// deliveries of endpoints that already have their share running.
const DUE_WEBHOOKS: &str = concat!(
    "SELECT ",
    job_columns!(),
    ", json_extract(j.args, '$.endpoint') FROM jobs j INDEXED BY jobs_due_webhooks \
     WHERE j.state IN ('queued', 'waiting') AND j.kind IN ",
    webhook_kinds!(),
    " AND j.run_at <= ?1 ORDER BY j.priority DESC, j.run_at, j.id"
);

/// Running deliveries per endpoint: few rows (the running jobs), read by
/// the partial index `jobs_running`.
const RUNNING_DELIVERIES: &str = "SELECT json_extract(args, '$.endpoint'), COUNT(*) \
     FROM jobs INDEXED BY jobs_running WHERE state = 'running' AND kind = 'deliver' \
     GROUP BY 1";

/// Up to `limit` jobs of `lane` that can be claimed at `now`, in claim order.
fn due_jobs(
    tx: &Tx<'_>,
    lane: Lane,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<JobRow>, StoreError> {
    match lane {
        Lane::Machines => Ok(tx
            .prepare_cached(DUE_MACHINES)?
            .query_map(params![to_ms(now), limit as i64], JobRow::from_sqlite)?
            .collect::<Result<_, _>>()?),
        Lane::Webhooks => due_webhooks(tx, limit, now),
    }
}

/// The webhooks lane's share of [`due_jobs`]: due, and at most
/// [`RUNNING_PER_ENDPOINT`] deliveries per endpoint running, counting the
/// ones already running and the ones taken here. A delivery over its
/// endpoint's share is passed over, and the jobs behind it are still taken.
fn due_webhooks(tx: &Tx<'_>, limit: usize, now: DateTime<Utc>) -> Result<Vec<JobRow>, StoreError> {
    let mut picked = Vec::new();
    if limit == 0 {
        return Ok(picked);
    }
    let mut due = tx.prepare_cached(DUE_WEBHOOKS)?;
    let mut rows = due.query([to_ms(now)])?;
    // Read once the first delivery comes up: nothing due costs one seek.
    let mut running: Option<HashMap<i64, usize>> = None;
    while let Some(row) = rows.next()? {
        if let Some(endpoint) = row.get::<_, Option<i64>>(24)? {
            let running = match &mut running {
                Some(r) => r,
                None => running.insert(running_deliveries(tx)?),
            };
            let n = running.entry(endpoint).or_default();
            if *n >= RUNNING_PER_ENDPOINT {
                continue;
            }
            *n += 1;
        }
        picked.push(JobRow::from_sqlite(row)?);
        if picked.len() == limit {
            break;
        }
    }
    Ok(picked)
}

/// How many deliveries run now, per endpoint.
fn running_deliveries(tx: &Tx<'_>) -> Result<HashMap<i64, usize>, StoreError> {
    let mut stmt = tx.prepare_cached(RUNNING_DELIVERIES)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut running = HashMap::new();
    for row in rows {
        if let (Some(endpoint), n) = row? {
            running.insert(endpoint, n.max(0) as usize);
        }
    }
    Ok(running)
}

/// Takes up to `limit` due jobs of any lane for `owner` (a claim on
/// request): the machines lane's first, then the webhooks lane's with the
/// slots left, each by its own rules; answered in claim order (priority,
/// then id).
fn claim_any(
    tx: &Tx<'_>,
    owner: &str,
    limit: usize,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Vec<Job>, StoreError> {
    let mut jobs = claim(tx, owner, Lane::Machines, limit, now, lease_until, fx)?;
    let left = limit - jobs.len();
    jobs.extend(claim(
        tx,
        owner,
        Lane::Webhooks,
        left,
        now,
        lease_until,
        fx,
    )?);
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    Ok(jobs)
}

/// Takes up to `limit` due jobs of `lane` for `owner`, leased until
/// `lease_until`, answered in claim order (priority, then id).
fn claim(
    tx: &Tx<'_>,
    owner: &str,
    lane: Lane,
    limit: usize,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<Vec<Job>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let picked = due_jobs(tx, lane, limit, now)?;
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // The rows just read, changed here as the UPDATE changes them: no
    // RETURNING, which SQLite buffers in a temporary table per statement.
    let mut take = tx.prepare_cached(
        "UPDATE jobs SET state = 'running', attempt = ?2, lease_owner = ?3, \
         lease_expires_at = ?4, updated_at = ?5 WHERE id = ?1",
    )?;
    let mut jobs = Vec::with_capacity(picked.len());
    for row in picked {
        let mut job = Job::try_from(row)?;
        // A resumed wait goes on with the attempt it is in.
        let fresh = job.state == JobState::Queued;
        if fresh {
            job.attempt += 1;
        }
        job.state = JobState::Running;
        job.lease_owner = Some(owner.to_string());
        job.lease_expires_at = Some(from_ms(to_ms(lease_until)));
        job.updated_at = from_ms(to_ms(now));
        take.execute(params![
            job.id,
            i64::from(job.attempt),
            owner,
            to_ms(lease_until),
            to_ms(now)
        ])?;
        // A poll of a wait is recorded by its API call, not as a state change.
        if fresh {
            fx.events.push((
                job.id,
                to_ms(now),
                NewEvent::state(
                    Some(JobState::Queued),
                    JobState::Running,
                    format!("attempt {} of {}", job.attempt, job.max_attempts),
                ),
            ));
        }
        jobs.push(job);
    }
    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    Ok(jobs)
}

/// Tries every standing claim that has free slots; the jobs a claim takes
/// go out, with their slots, once the commit is known.
pub(super) fn try_parked(
    tx: &Tx<'_>,
    all: &mut Vec<Parked>,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    // Its dispatcher is gone; claiming for it would strand jobs.
    all.retain(|p| !p.jobs.is_closed());
    for parked in all.iter() {
        let free = parked.claim.slots.available_permits();
        if free == 0 {
            continue;
        }
        let now = parked.claim.clock.now();
        let lease_until = now + chrono::Duration::from_std(parked.claim.lease).unwrap_or_default();
        let lane = parked.claim.lane;
        let jobs = claim(tx, &parked.claim.owner, lane, free, now, lease_until, fx)?;
        if jobs.is_empty() {
            let next: Option<i64> = tx
                .prepare_cached(next_due(lane))?
                .query_row([to_ms(now)], |r| r.get(0))?;
            // Published before the commit: at worst the dispatcher wakes a
            // little early for a job a failed batch did not keep.
            parked.claim.next_due.send_replace(next.map(from_ms));
            continue;
        }
        // Only the writer takes permits, so the ones just counted are there.
        let claimed: Vec<ClaimedJob> = jobs
            .into_iter()
            .map(|job| ClaimedJob {
                job,
                slot: parked
                    .claim
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .expect("a permit counted free a moment ago"),
            })
            .collect();
        let out = parked.jobs.clone();
        fx.pending.push(Box::new(move |committed| {
            // On a rollback the slots go back with the dropped jobs.
            let _ = out.send(committed.map(|()| claimed));
        }));
    }
    Ok(())
}

fn renew(
    tx: &Tx<'_>,
    owner: &str,
    ids: Vec<JobId>,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE jobs SET lease_expires_at = ?1 WHERE state = 'running' \
         AND lease_owner = ?2 AND id IN (SELECT value FROM json_each(?3))",
    )?
    .execute(params![to_ms(until), owner, Value::from(ids).to_string()])?;
    Ok(())
}

/// Takes back running jobs whose lease ran out, of any lane; with
/// `others_than`, also the jobs of that lane leased by another owner.
fn rescue(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    others_than: Option<(&str, Lane)>,
    fx: &mut Effects,
) -> Result<Vec<JobId>, StoreError> {
    let (owner, webhooks) = match others_than {
        Some((owner, lane)) => (Some(owner), lane == Lane::Webhooks),
        None => (None, false),
    };
    let rows: Vec<(i64, i64, i64, Option<String>)> = tx
        .prepare_cached(concat!(
            "SELECT id, attempt, max_attempts, lease_owner FROM jobs WHERE state = 'running' \
             AND (lease_expires_at < ?1 OR (?2 IS NOT NULL AND lease_owner IS NOT ?2 \
             AND (kind IN ",
            webhook_kinds!(),
            ") = ?3)) ORDER BY id"
        ))?
        .query_map(params![to_ms(now), owner, webhooks], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let at = to_ms(now);
    let mut ids = Vec::with_capacity(rows.len());
    for (id, attempt, max_attempts, owner) in rows {
        let owner = owner.unwrap_or_else(|| "?".into());
        if attempt >= max_attempts {
            let error =
                format!("the worker ({owner}) stopped during the last of {max_attempts} attempts");
            tx.prepare_cached(
                "UPDATE jobs SET state = 'failed', last_error = ?1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ?2, finished_at = ?2 WHERE id = ?3",
            )?
            .execute(params![error, at, id])?;
            fx.events.push((
                id,
                at,
                NewEvent::state(Some(JobState::Running), JobState::Failed, error),
            ));
            super::dependencies::settle(tx, id, JobState::Failed, now, fx)?;
        } else {
            tx.prepare_cached(
                "UPDATE jobs SET state = 'queued', run_at = ?1, lease_owner = NULL, \
                 lease_expires_at = NULL, updated_at = ?1 WHERE id = ?2",
            )?
            .execute(params![at, id])?;
            fx.events.push((
                id,
                at,
                NewEvent::state(
                    Some(JobState::Running),
                    JobState::Queued,
                    format!("the worker ({owner}) went away; back in the queue, resuming from its checkpoint"),
                ),
            ));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn release(
    tx: &Tx<'_>,
    owner: &str,
    ids: &[JobId],
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Result<usize, StoreError> {
    let at = to_ms(now);
    // The interrupted attempt does not count against the job.
    let released: Vec<i64> = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'queued', run_at = ?1, attempt = MAX(attempt - 1, 0), \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1 \
             WHERE state = 'running' AND lease_owner = ?2 \
             AND id IN (SELECT value FROM json_each(?3)) RETURNING id",
        )?
        .query_map(
            params![at, owner, Value::from(ids.to_vec()).to_string()],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    for id in &released {
        fx.events.push((
            *id,
            at,
            NewEvent::state(
                Some(JobState::Running),
                JobState::Queued,
                "released at shutdown; resumes from its checkpoint",
            ),
        ));
    }
    Ok(released.len())
}
