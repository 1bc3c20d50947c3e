//! Workers: claiming due jobs, running their steps, keeping their leases,
//! and stopping gracefully.
//!
//! The dispatcher registers one standing claim with the store's writer
//! ([`crate::store::StandingClaim`]): whenever a commit makes jobs runnable
//! and the claim has free slots (one per worker, plus `prefetch` for jobs
//! claimed ahead), the writer claims them in that same transaction and
//! hands each over with its slot, and the dispatcher runs each in its own
//! task, which waits its turn for a worker. So a submitted job starts after
//! one commit, a worker that finishes a step starts the next claimed job at
//! once, and an idle daemon uses no CPU. Time alone makes a delayed job
//! due, so the dispatcher also keeps a timer for the next due time (which
//! the writer reports) and pokes the writer then. A lease keeper renews the
//! leases of running jobs (claimed ahead or not) and takes back expired
//! ones; while this process holds no job it sleeps until the earliest lease
//! in the database runs out, so a daemon with nothing due never wakes.

mod step;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::config::WorkersConfig;
use crate::cost::Ledger;
use crate::delivery::{Courier, Publisher};
use crate::job::{Backoff, Checkpoint, Job, JobId, JobState, Lane, NewEvent, Outcome};
use crate::meter::RateUnits;
use crate::paperspace::MachineApi;
use crate::paperspace::call_log::CallLog;
use crate::store::{ClaimedJob, StandingClaim, Store, Transition};
use crate::webhook::{EventType, catalogue};
use step::{Abandoned, Step, StepReport};

/// How workers behave: the runtime form of `[workers]`
/// ([`WorkersConfig`], translated by [`WorkerSettings::from_config`]), which
/// tests also build by hand with short times.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs running at once.
    pub count: usize,
    /// Jobs claimed ahead of a free worker, each started as soon as one
    /// frees up. With only `count` claimed, a worker runs at most one job
    /// per commit of the store, which caps a backlog of short steps at
    /// `count` jobs per commit; claimed-ahead jobs show as `running`.
    pub prefetch: usize,
    /// A running job's lease; renewed every third of it.
    pub lease: Duration,
    /// Time between polls of a waiting job.
    pub poll_interval: Duration,
    /// The retry delays of a transient failure, so that a struggling API is
    /// not hammered.
    pub backoff: Backoff,
    /// At shutdown, how long running steps may take to finish before their
    /// jobs are released back to the queue.
    pub grace: Duration,
    /// How to read v1's prices when a `utilization` job answers from the
    /// meter (`cost.usage_rate_unit`, `cost.storage_rate_unit`).
    pub rate_units: RateUnits,
    /// Which jobs these workers claim: the machines lane (every Paperspace
    /// operation) or the webhooks lane (deliveries and the digest), each
    /// with workers of its own (see [`Lane`]).
    pub lane: Lane,
}

/// The shutdown grace period; not a setting.
const GRACE: Duration = Duration::from_secs(10);

impl WorkerSettings {
    /// The settings `[workers]` asks for. `max_attempts` is not among them:
    /// it is a default of each job ([`crate::job::JobDefaults`]).
    pub fn from_config(config: &WorkersConfig) -> Self {
        WorkerSettings {
            count: config.count,
            prefetch: config.prefetch,
            lease: config.lease,
            poll_interval: config.poll_interval,
            backoff: Backoff {
                base: config.backoff_base,
                max: config.backoff_max,
            },
            grace: GRACE,
            rate_units: RateUnits::default(),
            lane: Lane::Machines,
        }
    }
}

impl Default for WorkerSettings {
    /// The defaults of `[workers]`.
    fn default() -> Self {
        WorkerSettings::from_config(&WorkersConfig::default())
    }
}

/// Longest the dispatcher waits with no due time known before poking the
/// writer anyway; a safety net only, since the writer reports every due time.
const IDLE_CHECK: Duration = Duration::from_secs(300);

/// What the workers need for webhooks: the machines lane publishes its
/// jobs' ends, the webhooks lane sends deliveries and composes digests.
#[derive(Clone)]
pub struct WorkerHooks {
    /// Sends a deliver job's attempt.
    pub courier: Courier,
    /// Publishes `job.*` events and the digest.
    pub publisher: Publisher,
    /// Reads the figures of the digest.
    pub ledger: Ledger,
}

impl WorkerHooks {
    /// Runs a digest job: composes the week's digest and publishes it.
    async fn digest(&self, now: chrono::DateTime<chrono::Utc>) -> Outcome {
        if !self.publisher.wants(EventType::WeeklyDigest) {
            return Outcome::Succeeded {
                result: serde_json::json!({"deliveries": []}),
                note: "no webhook endpoint takes digest.weekly; nothing was composed".into(),
            };
        }
        match crate::delivery::digest::compose(&self.ledger, now).await {
            Ok(event) => {
                let summary = event.data["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let id = event.id.clone();
                match self.publisher.publish(event, None).await {
                    Some(published) => Outcome::Succeeded {
                        result: serde_json::json!({"event": id, "deliveries": published.deliveries}),
                        note: format!("digest published: {summary}"),
                    },
                    None => Outcome::Retry {
                        error: "could not publish the digest".into(),
                        at: now + chrono::Duration::seconds(30),
                        checkpoint: None,
                    },
                }
            }
            Err(e) => Outcome::Retry {
                error: format!("could not compose the digest: {e}"),
                at: now + chrono::Duration::seconds(30),
                checkpoint: None,
            },
        }
    }
}

/// Shared by the dispatcher and the job tasks.
struct Shared {
    /// Webhooks: `None` in tests and tools that run workers without them.
    hooks: Option<WorkerHooks>,
    /// Where jobs are claimed, and their transitions and leases written.
    store: Store,
    /// The Paperspace backend the steps call.
    api: Arc<dyn MachineApi>,
    /// Source of "now" for due times and lease expiry.
    clock: SharedClock,
    /// Concurrency, lease and poll settings from the configuration.
    settings: WorkerSettings,
    /// This process's lease owner name.
    owner: Arc<str>,
    /// Jobs whose lease this process holds, for renewal and release.
    running: Mutex<HashSet<JobId>>,
    /// The workers: a claimed job's step runs while it holds one.
    workers: Arc<Semaphore>,
    /// Cancelled jobs this process holds (see [`StandingClaim::revoked`]).
    revoked: Arc<Mutex<HashSet<JobId>>>,
    /// Signalled when claimed jobs join `running`, so that the lease keeper,
    /// asleep while this process holds no job, starts renewing.
    started: Notify,
}

impl Shared {
    /// Forgets a job whose task is over: its lease is no longer this
    /// process's to renew or release, and a cancel of it needs no more
    /// remembering.
    fn let_go(&self, id: JobId) {
        self.running
            .lock()
            .expect("running set poisoned")
            .remove(&id);
        self.revoked
            .lock()
            .expect("revoked set poisoned")
            .remove(&id);
    }
}

/// A running set of workers.
pub struct Workers {
    /// State the dispatcher, the lease keeper and the job tasks share.
    shared: Arc<Shared>,
}

impl Workers {
    /// `owner` names this process in leases (host, pid and a random part).
    pub fn new(
        store: Store,
        api: Arc<dyn MachineApi>,
        clock: SharedClock,
        settings: WorkerSettings,
        owner: Arc<str>,
    ) -> Self {
        Workers {
            shared: Arc::new(Shared {
                hooks: None,
                store,
                api,
                clock,
                workers: Arc::new(Semaphore::new(settings.count.max(1))),
                settings,
                owner,
                running: Mutex::new(HashSet::new()),
                revoked: Arc::default(),
                started: Notify::new(),
            }),
        }
    }

    /// Gives the workers what webhooks need (see [`WorkerHooks`]).
    pub fn with_hooks(mut self, hooks: WorkerHooks) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("hooks are given before the workers run")
            .hooks = Some(hooks);
        self
    }

    /// Runs until `shutdown` is cancelled, then drains as the settings say.
    pub async fn run(self, shutdown: CancellationToken) {
        let shared = self.shared;
        // This daemon holds the database's file lock, so jobs leased by any
        // other owner belong to a process that is gone.
        match shared
            .store
            .rescue(
                shared.clock.now(),
                Some((&shared.owner, shared.settings.lane)),
            )
            .await
        {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(jobs = ?ids, "resumed jobs left running by a previous process")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not take back jobs of a previous process"),
        }
        let keeper = tokio::spawn(keep_leases(shared.clone(), shutdown.clone()));
        let mut tasks = JoinSet::new();
        dispatch(&shared, &mut tasks, &shutdown).await;

        // Stop claiming; let running steps finish within the grace period.
        let drained = tokio::time::timeout(shared.settings.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        keeper.abort();
        let left: Vec<JobId> = shared
            .running
            .lock()
            .expect("running set poisoned")
            .drain()
            .collect();
        if !left.is_empty() {
            match shared
                .store
                .release(&shared.owner, left.clone(), shared.clock.now())
                .await
            {
                Ok(n) => tracing::info!(released = n, "released unfinished jobs to the queue"),
                Err(e) => {
                    tracing::error!(error = %e, jobs = ?left, "could not release jobs; their leases will run out")
                }
            }
        }
    }
}

async fn dispatch(shared: &Arc<Shared>, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
    let slots = Arc::new(Semaphore::new(
        shared.settings.count.max(1) + shared.settings.prefetch,
    ));
    // The next time a job falls due, as the writer last saw it.
    let (next_due, mut due_rx) = watch::channel(None);
    let next_due = Arc::new(next_due);
    let mut claimed = loop {
        let request = StandingClaim {
            owner: shared.owner.clone(),
            lane: shared.settings.lane,
            slots: slots.clone(),
            clock: shared.clock.clone(),
            lease: shared.settings.lease,
            next_due: next_due.clone(),
            revoked: shared.revoked.clone(),
        };
        match shared.store.stand(request).await {
            Ok(rx) => break rx,
            Err(e) => {
                tracing::error!(error = %e, "could not register the workers' claim; trying again in a second");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    };
    loop {
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "a job task panicked");
            }
        }
        // Time alone makes a delayed job due; no write announces it, so a
        // timer pokes the writer then.
        let due: Option<chrono::DateTime<chrono::Utc>> = *due_rx.borrow_and_update();
        let sleep = due.map_or(IDLE_CHECK, |at| {
            (at - shared.clock.now()).to_std().unwrap_or_default()
        });
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                // Withdraw the claim; anything it took in the meantime is
                // released with the other unfinished jobs.
                if let Err(e) = shared.store.unpark(&shared.owner).await {
                    tracing::error!(error = %e, "could not withdraw the workers' claim");
                }
                let mut running = shared.running.lock().expect("running set poisoned");
                while let Ok(batch) = claimed.try_recv() {
                    running.extend(batch.into_iter().flatten().map(|c| c.job.id));
                }
                return;
            }
            batch = claimed.recv() => match batch {
                Some(Ok(jobs)) => start_jobs(shared, tasks, jobs, shutdown),
                Some(Err(e)) => tracing::error!(error = %e, "a claim was rolled back; its jobs stay queued"),
                None => {
                    tracing::error!("the store dropped the workers' claim; no more jobs will start");
                    shutdown.cancelled().await;
                    return;
                }
            },
            // The writer answers the poke with jobs or with a later due time.
            _ = tokio::time::sleep(sleep.min(IDLE_CHECK)) => {
                next_due.send_replace(None);
                due_rx.mark_unchanged();
                shared.store.poke();
            }
            _ = due_rx.changed() => {}
        }
    }
}

/// Runs each claimed job in its own task, which holds the slot the writer
/// took for it and waits for a worker.
fn start_jobs(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    jobs: Vec<ClaimedJob>,
    shutdown: &CancellationToken,
) {
    for ClaimedJob { job, slot } in jobs {
        shared
            .running
            .lock()
            .expect("running set poisoned")
            .insert(job.id);
        let span = tracing::info_span!(
            "job",
            id = job.id,
            kind = %job.kind,
            machine = job.machine_id.as_deref().unwrap_or("-")
        );
        let shared = shared.clone();
        tasks.spawn(execute(shared, job, slot, shutdown.clone()).instrument(span));
    }
    shared.started.notify_waiters();
}

/// Renews the leases this process holds and takes back expired ones,
/// waking only when there is something to do: every third of a lease while
/// this process holds jobs, and otherwise at the earliest lease in the
/// database running out (never, when no job is leased), so that an idle
/// daemon does not wake at all.
async fn keep_leases(shared: Arc<Shared>, shutdown: CancellationToken) {
    let every = (shared.settings.lease / 3).max(Duration::from_millis(10));
    loop {
        // Registered before the running set is read, so that a job started
        // in between still wakes this loop.
        let started = shared.started.notified();
        tokio::pin!(started);
        started.as_mut().enable();
        let holding = !shared
            .running
            .lock()
            .expect("running set poisoned")
            .is_empty();
        let wait = if holding || shared.store.is_shared() {
            // On a shared database other daemons claim too, and no local
            // event tells when their leases run out: look every period.
            Some(every)
        } else {
            match shared.store.next_lease_expiry().await {
                // A lease is expired once `now` is past it, hence the extra
                // millisecond (leases are kept to the millisecond).
                Ok(at) => at.map(|at| {
                    (at - shared.clock.now()).to_std().unwrap_or_default()
                        + Duration::from_millis(1)
                }),
                Err(e) => {
                    tracing::error!(error = %e, "could not read when the next lease runs out");
                    Some(every)
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // A job's lease was set when it was claimed: its first renewal
            // is due a third of a lease from now, not at once.
            _ = &mut started, if !holding => continue,
            _ = sleep_for(wait) => {}
        }
        let now = shared.clock.now();
        let ids: Vec<JobId> = shared
            .running
            .lock()
            .expect("running set poisoned")
            .iter()
            .copied()
            .collect();
        if !ids.is_empty() {
            let until = now + chrono::Duration::from_std(shared.settings.lease).unwrap_or_default();
            if let Err(e) = shared.store.renew(&shared.owner, ids, until).await {
                tracing::error!(error = %e, "could not renew job leases");
            }
        }
        if let Err(e) = shared.store.rescue(now, None).await {
            tracing::error!(error = %e, "could not take back expired leases");
        }
    }
}

/// Sleeps for `wait`, or forever when there is nothing to wait for.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// Waits for a worker, runs one step of `job` and records what came of it.
///
/// At shutdown, a job still waiting for a worker does not start; it is
/// released with the other unfinished jobs.
async fn execute(
    shared: Arc<Shared>,
    job: Job,
    slot: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let shared = &shared;
    let worker = tokio::select! {
        biased;
        _ = shutdown.cancelled() => None,
        worker = shared.workers.clone().acquire_owned() => worker.ok(),
    };
    let Some(worker) = worker else {
        return;
    };
    let cancelled = shared
        .revoked
        .lock()
        .expect("revoked set poisoned")
        .contains(&job.id);
    if cancelled {
        tracing::info!("the job was cancelled before its step started; nothing was sent");
        drop((worker, slot));
        shared.let_go(job.id);
        // No write follows to try the claim with the freed slot.
        shared.store.poke();
        return;
    }
    let calls = CallLog::new();
    let mut step = Step::new(
        &job,
        shared.api.as_ref(),
        &shared.store,
        &shared.owner,
        &shared.settings,
        &calls,
        &shared.clock,
    );
    step.hooks = shared.hooks.as_ref();
    let report = calls.scope(step.run()).await;
    let transition = match report {
        Ok(report) => Some(transition_for(&job, &shared.owner, report, &calls)),
        Err(Abandoned::LostLease) => {
            tracing::info!("the job was cancelled or taken back while it ran; nothing was sent");
            None
        }
        Err(Abandoned::Store(e)) => {
            tracing::error!(error = %e, "could not checkpoint the job; its lease will run out and it will resume");
            None
        }
    };
    // The step is over: give the slot back before recording it, so the batch
    // that commits this job's end can already claim the next one.
    drop((worker, slot));
    if let Some(transition) = transition {
        let to = transition.to;
        let publisher = shared.hooks.as_ref().map(|h| &h.publisher);
        let ended = ended_as(&job, &transition, publisher);
        match shared
            .store
            .transition(transition, shared.clock.now())
            .await
        {
            Ok(true) => {
                tracing::debug!(state = %to, "job step recorded");
                if let (Some(publisher), Some(ended)) = (publisher, ended) {
                    publish_end(publisher, &ended, shared.clock.now()).await;
                }
            }
            Ok(false) => {
                tracing::info!(
                    "the job was cancelled or taken back while it ran; its result is dropped"
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the job's step; it will resume from its last checkpoint")
            }
        }
    } else {
        // No write follows to try the claim with the freed slot.
        shared.store.poke();
    }
    shared.let_go(job.id);
}

/// The job as a machine-lane step left it, when that is worth an event
/// some endpoint wants: failed, succeeded, or back in the queue for a
/// retry. Deliveries and digests raise none (a failing receiver would
/// otherwise feed itself). Asked before the job is copied, so a step whose
/// event nobody takes costs nothing more.
fn ended_as(job: &Job, t: &Transition, publisher: Option<&Publisher>) -> Option<Job> {
    let publisher = publisher?;
    if job.kind.lane() != Lane::Machines {
        return None;
    }
    let kind = match t.to {
        JobState::Failed => EventType::JobFailed,
        JobState::Succeeded => EventType::JobSucceeded,
        JobState::Queued if t.error.is_some() => EventType::JobRetrying,
        _ => return None,
    };
    if !publisher.wants(kind) {
        return None;
    }
    let mut ended = job.clone();
    ended.state = t.to;
    if let Some(error) = &t.error {
        ended.last_error = Some(error.clone());
    }
    if let Some(run_at) = t.run_at {
        ended.run_at = run_at;
    }
    if t.machine_id.is_some() {
        ended.machine_id.clone_from(&t.machine_id);
    }
    Some(ended)
}

/// Publishes `job.failed`, `job.succeeded` or `job.retrying`.
async fn publish_end(publisher: &Publisher, job: &Job, now: chrono::DateTime<chrono::Utc>) {
    let event = match job.state {
        JobState::Failed => catalogue::job_failed(job, now),
        JobState::Succeeded => catalogue::job_succeeded(job, now),
        _ => catalogue::job_retrying(job, now),
    };
    let _ = publisher.publish(event, None).await;
}

/// Turns a step's outcome into the state change and history rows to write.
fn transition_for(job: &Job, owner: &Arc<str>, report: StepReport, calls: &CallLog) -> Transition {
    let mut events: Vec<NewEvent> = calls.take().iter().map(NewEvent::api_call).collect();
    events.extend(report.notes);
    let mut t = Transition {
        job_id: job.id,
        owner: owner.clone(),
        to: JobState::Running,
        run_at: None,
        checkpoint: job.checkpoint.clone(),
        machine_id: report.machine_id,
        result: None,
        error: None,
        events,
        seen: report.seen,
        seen_complete: report.seen_complete,
        gone: report.gone,
        utilization: report.utilization,
    };
    let was_waiting = matches!(job.checkpoint, Some(Checkpoint::Waiting { .. }));
    // A poll runs briefly as `running`, but to a reader the job was waiting.
    let from = if was_waiting {
        JobState::Waiting
    } else {
        JobState::Running
    };
    match report.outcome {
        Outcome::Succeeded { result, note } => {
            t.to = JobState::Succeeded;
            t.result = Some(result);
            t.events
                .push(NewEvent::state(Some(from), JobState::Succeeded, note));
        }
        Outcome::Wait {
            checkpoint,
            next_poll,
            machine_id,
            note,
        } => {
            t.to = JobState::Waiting;
            t.run_at = Some(next_poll);
            t.checkpoint = Some(checkpoint);
            if machine_id.is_some() {
                t.machine_id = machine_id;
            }
            // Each poll is recorded by its API call; only entering the wait is a state change.
            if !was_waiting {
                t.events.push(NewEvent::state(
                    Some(JobState::Running),
                    JobState::Waiting,
                    note,
                ));
            }
        }
        Outcome::Retry {
            error,
            at,
            checkpoint,
        } => {
            t.to = JobState::Queued;
            t.run_at = Some(at);
            t.checkpoint = checkpoint;
            t.events.push(NewEvent::state(
                Some(from),
                JobState::Queued,
                format!(
                    "attempt {} of {} failed; retrying at {}: {error}",
                    job.attempt,
                    job.max_attempts,
                    at.to_rfc3339()
                ),
            ));
            t.error = Some(error);
        }
        Outcome::Failed { error } => {
            t.to = JobState::Failed;
            t.events
                .push(NewEvent::state(Some(from), JobState::Failed, error.clone()));
            t.error = Some(error);
        }
    }
    t
}
