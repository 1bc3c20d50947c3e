//! The firing loop.
//!
//! [`Scheduler::tick`] handles everything due at the clock's current time:
//! each due schedule's firing (with missed firings, exclusions, overrides and
//! targets worked out here, overlap checked by the store) and each due window
//! enforcement, then reports when the next thing is due. [`Scheduler::run`]
//! sleeps until then, or until a schedule changes, and ticks again: no busy
//! polling, and an edit, pause or delete takes effect at once. Tests drive
//! `tick` directly with a clock they control.

pub mod registry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngExt;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::delivery::Publisher;
use crate::group::{self, Group, GroupAction, Step};
use crate::machine::humanize;
use crate::machine::{Machine, MachineFilter, MachineState, WaitTarget};
use crate::paperspace::MachineApi;
use crate::schedule::calendar::Calendars;
use crate::schedule::firing::{FireResult, FiringAction, FiringEntry, FiringPlan, WHOLE_FIRING};
use crate::schedule::hours::{IdleEdge, ValidWindow};
use crate::schedule::spec::{MisfirePolicy, ON_TIME, Schedule, ScheduleContext, WindowEdge};
use crate::schedule::target::{NO_TARGET, Targets};
use crate::schedule::template::JobTemplate;
use crate::schedule::window::{Override, OverrideMode, Window};
use crate::store::{Cause, NewRun, Store, StoreError};
use crate::webhook::catalogue;

/// Most missed firings recorded one by one for a single schedule after an outage.
const MISSED_RECORD_LIMIT: usize = 1000;

/// Schedules handled per tick; the rest wait for the next (immediate) tick.
const BATCH: u32 = 500;

/// When the account's machine list cannot be read, try again after this.
const LISTING_RETRY: Duration = Duration::from_secs(30);

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Firings applied (schedules) and enforcement passes (windows).
    pub fired: usize,
    /// Jobs queued by firings and window enforcement.
    pub enqueued: usize,
    /// Firing entries recorded as skipped.
    pub skipped: usize,
    /// Firings another scheduler had already handled.
    pub lost_races: usize,
    /// More was due than one tick handles: tick again at once.
    pub more_due: bool,
    /// A selector could not be resolved; try again at this time.
    pub retry_at: Option<DateTime<Utc>>,
}

/// The firing loop's state.
pub struct Scheduler {
    /// Where schedules, windows, firings and the queued jobs live.
    store: Store,
    /// Lists machines to resolve selectors and to find targets enforcement must stop.
    api: Arc<dyn MachineApi>,
    /// Source of "now" for deciding what is due.
    clock: SharedClock,
    /// Job defaults and calendars that firings are built with.
    ctx: Arc<ScheduleContext>,
    /// Where skipped firings, collapsed windows and enforcement stops are
    /// told; `None` tells nobody.
    publisher: Option<Publisher>,
}

impl Scheduler {
    pub fn new(
        store: Store,
        api: Arc<dyn MachineApi>,
        clock: SharedClock,
        ctx: Arc<ScheduleContext>,
    ) -> Self {
        Scheduler {
            store,
            api,
            clock,
            ctx,
            publisher: None,
        }
    }

    /// Tells `publisher` of skipped firings (`schedule.firing_skipped`),
    /// windows a DST change removed (`window.collapsed`) and machines
    /// enforcement stops (`window.enforced`).
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Handles everything due now.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        let due = self.store.due_schedules(now, BATCH).await?;
        report.more_due = due.len() as u32 == BATCH;
        let windows = self.store.due_enforcements(now).await?;

        // The groups that due schedules and windows target, read once per
        // tick; schedules of their own machines read none.
        let mut groups: HashMap<String, Option<Group>> = HashMap::new();
        let named = due
            .iter()
            .map(|s| &s.targets)
            .chain(windows.iter().map(|w| &w.targets))
            .filter_map(|t| t.group.as_ref());
        for name in named {
            if !groups.contains_key(name) {
                let group = self.store.group(name).await?;
                groups.insert(name.clone(), group);
            }
        }
        let group_of = |targets: &Targets| -> Option<&Group> {
            groups.get(targets.group.as_ref()?).and_then(Option::as_ref)
        };
        // A group's stages may select their machines, as a schedule may.
        let needs_listing_for = |targets: &Targets| {
            targets.needs_listing()
                || group_of(targets).is_some_and(|g| g.stages.iter().any(|s| s.selector.is_some()))
        };

        // One listing of the account per tick serves every selector.
        let needs_listing =
            due.iter().any(|s| needs_listing_for(&s.targets)) || !windows.is_empty();
        let listing = if needs_listing {
            match self.api.list_all(&MachineFilter::all()).await {
                Ok(machines) => {
                    // What the listing saw is kept like a job's look: the
                    // states it records end a stopped machine's hours off
                    // in the savings report when it was started elsewhere.
                    self.store.see_machines(machines.clone(), true, now).await?;
                    Some(machines)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not list machines for schedule targets; trying again shortly");
                    report.retry_at =
                        Some(now + chrono::Duration::from_std(LISTING_RETRY).unwrap_or_default());
                    None
                }
            }
        } else {
            None
        };

        // Per window: its overrides, and its hours (an edge's exclusion date
        // is the day the window opens, not the day a late stop lands on).
        let mut window_info: HashMap<i64, (Vec<Override>, Option<ValidWindow>)> = HashMap::new();
        let mut firing = tokio::task::JoinSet::new();
        for schedule in due {
            if needs_listing_for(&schedule.targets) && listing.is_none() {
                continue;
            }
            if let Some(window_id) = schedule.window_id
                && !window_info.contains_key(&window_id)
            {
                let overrides = self.store.overrides(window_id, Some(now)).await?;
                let hours = self
                    .store
                    .window(&window_id.to_string())
                    .await?
                    .and_then(|w| w.hours.validate().ok());
                window_info.insert(window_id, (overrides, hours));
            }
            let (window_overrides, hours) = schedule
                .window_id
                .and_then(|w| window_info.get(&w))
                .map(|(o, h)| (o.as_slice(), h.as_ref()))
                .unwrap_or_default();
            let group = group_of(&schedule.targets);
            let (plan, run) = self.plan(
                &schedule,
                now,
                listing.as_deref(),
                window_overrides,
                hours,
                group,
            );
            let skips: Vec<FiringEntry> = plan
                .entries
                .iter()
                .filter(|e| matches!(e.action, FiringAction::Skip { .. }))
                .cloned()
                .collect();
            // Sent together so that the store's writer commits them in one
            // transaction instead of one fsync per schedule.
            let store = self.store.clone();
            firing.spawn(async move {
                let result = match run {
                    Some(run) => store.fire_run(plan, run, now).await,
                    None => store.fire(plan, now).await,
                };
                (schedule, skips, result)
            });
        }
        while let Some(done) = firing.join_next().await {
            let (schedule, skips, result) = done.map_err(|e| StoreError::Write(Cause::new(e)))?;
            let name = schedule.name.clone();
            let result = result?;
            if result.applied {
                self.tell_skips(&schedule, &skips, &result, now).await;
            }
            tally(&mut report, &result);
            if result.applied {
                tracing::info!(
                    schedule = %name,
                    enqueued = result.enqueued.len(),
                    skipped = result.skipped,
                    "schedule fired"
                );
            }
        }
        if let Some(machines) = listing.as_deref() {
            for window in windows {
                let group = group_of(&window.targets);
                let result = self.enforce(&window, now, machines, group).await?;
                tally(&mut report, &result);
            }
        }
        Ok(report)
    }

    /// Publishes what a firing skipped: `window.collapsed` for a window's
    /// day a DST change removed (once per window and day, though both its
    /// edges skip), `schedule.firing_skipped` for a missed, excluded or
    /// overlapping firing. Skips by design (an override, a window that
    /// reopens at the instant it closes) are not news.
    async fn tell_skips(
        &self,
        schedule: &Schedule,
        skips: &[FiringEntry],
        result: &FireResult,
        now: DateTime<Utc>,
    ) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        for entry in skips {
            let FiringAction::Skip { reason } = &entry.action else {
                continue;
            };
            if reason.starts_with(COLLAPSED) {
                let Some(window_id) = schedule.window_id else {
                    continue;
                };
                let day = entry.fire_at.date_naive();
                let key = format!("window_collapsed:{window_id}:{day}");
                if matches!(self.store.alarm_mark(&key).await, Ok(Some(_))) {
                    continue;
                }
                let name = match self.store.window(&window_id.to_string()).await {
                    Ok(Some(w)) => w.name,
                    _ => window_id.to_string(),
                };
                let event = catalogue::window_collapsed(window_id, &name, Some(day), reason, now);
                publisher.publish(event, Some(key)).await;
            } else if !reason.starts_with("override:") && !reason.contains(REOPENS) {
                let event = catalogue::firing_skipped(
                    schedule.id,
                    &schedule.name,
                    entry.fire_at,
                    &entry.target,
                    reason,
                    now,
                );
                publisher.publish(event, None).await;
            }
        }
        // The store skips targets whose earlier job is still unfinished
        // (overlap policy `skip`); it counts them, beyond the plan's skips.
        let overlapped = result.skipped.saturating_sub(skips.len());
        if overlapped > 0 {
            let event = catalogue::firing_skipped(
                schedule.id,
                &schedule.name,
                schedule.next_fire_at.unwrap_or(now),
                "*",
                &format!(
                    "{overlapped} target(s) skipped: the job of an earlier firing is still unfinished (overlap policy: skip)"
                ),
                now,
            );
            publisher.publish(event, None).await;
        }
    }

    /// Works out one firing of `schedule`: which times are due, which run,
    /// which are skipped and why, and the jobs for each target; for a
    /// group-targeted schedule, the group run the firing makes (`group` is
    /// the group it names, `None` when there is no such group).
    pub fn plan(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        listing: Option<&[Machine]>,
        overrides: &[Override],
        hours: Option<&ValidWindow>,
        group: Option<&Group>,
    ) -> (FiringPlan, Option<NewRun>) {
        let due = schedule.next_fire_at.unwrap_or(now);
        let mut plan = FiringPlan {
            schedule_id: schedule.id,
            expected_next: due,
            next_fire_at: None,
            overlap: schedule.overlap,
            entries: Vec::new(),
        };
        let cron = match schedule.timing() {
            Ok(cron) => cron,
            Err(e) => {
                // A stored schedule that no longer parses is paused, and says why.
                plan.entries.push(FiringEntry {
                    fire_at: due,
                    target: WHOLE_FIRING.into(),
                    action: FiringAction::Skip {
                        reason: format!("the schedule cannot be evaluated ({e}); it is paused"),
                    },
                });
                return (plan, None);
            }
        };
        plan.next_fire_at = cron.next_after(now);

        let mut times = vec![due];
        times.extend(cron.between(due, now, MISSED_RECORD_LIMIT));
        let latest = *times.last().expect("at least the due time");
        let late = now - latest;
        let catch_up = chrono::Duration::seconds(schedule.catch_up_seconds as i64);
        let (run_at, caught_up) = if late <= ON_TIME {
            (Some(latest), false)
        } else if schedule.misfire == MisfirePolicy::RunOnce && late <= catch_up {
            (Some(latest), true)
        } else {
            (None, false)
        };
        for &t in &times {
            if Some(t) == run_at {
                continue;
            }
            let reason = match (run_at, schedule.misfire) {
                (Some(r), _) => format!(
                    "missed while the daemon was down; superseded by the firing at {}",
                    r.to_rfc3339()
                ),
                (None, MisfirePolicy::Skip) => {
                    "missed while the daemon was down (misfire policy: skip)".to_string()
                }
                (None, MisfirePolicy::RunOnce) => format!(
                    "missed while the daemon was down, by more than the catch-up window of {}",
                    humanize(Duration::from_secs(schedule.catch_up_seconds))
                ),
            };
            plan.entries.push(FiringEntry {
                fire_at: t,
                target: WHOLE_FIRING.into(),
                action: FiringAction::Skip { reason },
            });
        }
        let Some(fire_at) = run_at else {
            return (plan, None);
        };

        let zone = cron.zone();
        let day = schedule.exclusion_day(fire_at, zone, hours);
        if schedule.exclusions.excludes_date(day, &self.ctx.calendars) {
            plan.entries.push(FiringEntry {
                fire_at,
                target: WHOLE_FIRING.into(),
                action: FiringAction::Skip {
                    reason: format!("{day} is an excluded date"),
                },
            });
            return (plan, None);
        }
        // Two edges of one window at one instant: the window decides which
        // acts, so that their jobs never race in the queue.
        let idle = match (hours, schedule.window_edge) {
            (Some(hours), Some(edge)) => hours.idle_edge(
                edge.into(),
                fire_at,
                &schedule.exclusions,
                &self.ctx.calendars,
            ),
            _ => None,
        };
        if let Some(idle @ IdleEdge::Collapsed { .. }) = &idle {
            plan.entries.push(FiringEntry {
                fire_at,
                target: WHOLE_FIRING.into(),
                action: FiringAction::Skip {
                    reason: idle.to_string(),
                },
            });
            return (plan, None);
        }
        let late_note = caught_up.then(|| {
            format!(
                "caught up {} late",
                humanize(late.to_std().unwrap_or_default())
            )
        });
        let base = if caught_up { now } else { fire_at };
        if schedule.targets.group.is_some() {
            let due = Due {
                fire_at,
                caught_up,
                note: late_note,
                run_at: base,
            };
            let (entries, run) =
                self.plan_group(schedule, group, &due, idle.as_ref(), overrides, listing);
            plan.entries.extend(entries);
            return (plan, run);
        }
        let kind = schedule.template.kind();
        let needs_machine = kind.as_ref().is_ok_and(|k| k.needs_machine());
        let targets = if needs_machine {
            schedule.targets.resolve(listing)
        } else {
            vec![NO_TARGET.to_string()]
        };
        if targets.is_empty() {
            plan.entries.push(FiringEntry {
                fire_at,
                target: WHOLE_FIRING.into(),
                action: FiringAction::Skip {
                    reason: "no machine matches the selector".into(),
                },
            });
            return (plan, None);
        }
        for target in targets {
            if let Some(reason) = overridden(schedule, &target, overrides)
                .or_else(|| reopened(idle.as_ref(), &target, overrides))
            {
                plan.entries.push(FiringEntry {
                    fire_at,
                    target,
                    action: FiringAction::Skip { reason },
                });
                continue;
            }
            let jitter = if schedule.jitter_seconds > 0 {
                rand::rng().random_range(0..=u64::from(schedule.jitter_seconds) * 1000)
            } else {
                0
            };
            let run_at = base + chrono::Duration::milliseconds(jitter as i64);
            let machine = needs_machine.then_some(target.as_str());
            let action = match schedule.template.instantiate(
                machine,
                fire_at,
                zone,
                run_at,
                &self.ctx.defaults,
            ) {
                Ok(job) => FiringAction::Enqueue {
                    job: Box::new(job),
                    caught_up,
                    reason: late_note.clone(),
                },
                Err(e) => FiringAction::Skip {
                    reason: format!("the job cannot be made: {e}"),
                },
            };
            plan.entries.push(FiringEntry {
                fire_at,
                target,
                action,
            });
        }
        (plan, None)
    }

    /// The entries and the run of a group-targeted firing: machines an
    /// override (or a closing that meets the next opening) leaves alone are
    /// skipped one by one, as plain targets are; the others form one run,
    /// stage by stage (`group::plan`), each recorded with its job in it.
    /// The schedule's jitter does not apply: the stages set the pace.
    fn plan_group(
        &self,
        schedule: &Schedule,
        group: Option<&Group>,
        due: &Due,
        idle: Option<&IdleEdge>,
        overrides: &[Override],
        listing: Option<&[Machine]>,
    ) -> (Vec<FiringEntry>, Option<NewRun>) {
        let fire_at = due.fire_at;
        let whole = |reason: String| {
            vec![FiringEntry {
                fire_at,
                target: WHOLE_FIRING.into(),
                action: FiringAction::Skip { reason },
            }]
        };
        let name = schedule.targets.group.as_deref().unwrap_or_default();
        let Some(group) = group else {
            return (whole(missing_group(name)), None);
        };
        let action = match schedule.template.kind() {
            Ok(kind) => match GroupAction::of_kind(kind) {
                Some(action) => action,
                None => {
                    return (
                        whole(format!(
                            "the job cannot be made: {kind} jobs cannot target a group"
                        )),
                        None,
                    );
                }
            },
            Err(e) => return (whole(format!("the job cannot be made: {e}")), None),
        };
        let mut entries = Vec::new();
        let mut left_out: Vec<String> = Vec::new();
        for id in group_machines(group, listing) {
            if let Some(reason) =
                overridden(schedule, &id, overrides).or_else(|| reopened(idle, &id, overrides))
            {
                entries.push(FiringEntry {
                    fire_at,
                    target: id.clone(),
                    action: FiringAction::Skip { reason },
                });
                left_out.push(id);
            }
        }
        let steps = group::plan(group, action, listing, &|id| {
            left_out.iter().any(|m| m == id)
        });
        if steps.is_empty() {
            if entries.is_empty() {
                entries = whole(format!(
                    "group {name} has no machine now: its stages' selectors match none"
                ));
            }
            return (entries, None);
        }
        // A start waits for ready unless the template asks for more; a
        // stop always waits for off (`group::jobs_for`).
        let wait = match schedule.template.wait.as_deref() {
            Some("serviceready") => WaitTarget::ServiceReady,
            _ => WaitTarget::Ready,
        };
        let mut jobs = group::jobs_for(&steps, 0, None, wait, &self.ctx.defaults, due.run_at);
        let template = &schedule.template;
        for (job, _) in &mut jobs {
            if let Some(priority) = template.priority {
                job.priority = priority;
            }
            if let Some(attempts) = template.max_attempts {
                job.max_attempts = attempts;
            }
            if let Some(secs) = template.wait_timeout_seconds {
                job.wait_timeout = Duration::from_secs(secs);
            }
        }
        entries.extend(run_entries(&steps, fire_at, |_| FiringAction::InRun {
            caught_up: due.caught_up,
            reason: due.note.clone(),
        }));
        let run = NewRun {
            group: group.name.clone(),
            action,
            wait,
            steps,
            schedule_id: Some(schedule.id),
            jobs,
        };
        (entries, Some(run))
    }

    /// One enforcement pass over a window: stop targets found running while
    /// it is closed (unless kept on), or kept off while it is open.
    /// For a window that targets a group (`group`, `None` when it is
    /// missing), the machines to stop form one stop run over their stages
    /// in reverse, not independent stops.
    async fn enforce(
        &self,
        window: &Window,
        now: DateTime<Utc>,
        machines: &[Machine],
        group: Option<&Group>,
    ) -> Result<FireResult, StoreError> {
        let Some(expected) = window.next_enforce_at else {
            return Ok(FireResult::default());
        };
        let next =
            Some(now + chrono::Duration::seconds(window.enforce_interval_seconds.max(1) as i64));
        let edges = self.store.window_schedules(window.id).await?;
        let stop = edges
            .iter()
            .find(|s| s.window_edge == Some(WindowEdge::Stop));
        let (Some(stop), Ok(valid)) = (stop, window.hours.validate()) else {
            return self
                .store
                .enforce(window.id, expected, next, empty_plan(expected), None, now)
                .await;
        };
        let overrides = self.store.overrides(window.id, Some(now)).await?;
        let group = window.targets.group.as_ref().and(group);
        let stops = enforcement_stops(
            &self.store,
            &self.ctx.calendars,
            window,
            &valid,
            now,
            machines,
            &overrides,
            group,
        )
        .await?;
        let mut plan = empty_plan(expected);
        plan.schedule_id = stop.id;
        let zone = valid.start_schedule().zone();
        // For a group: the machines to stop, and why.
        let mut in_run: Vec<(String, String)> = Vec::new();
        for EnforcementStop { machine: m, reason } in stops {
            if group.is_some() {
                in_run.push((m.id.clone(), reason));
                continue;
            }
            let template = JobTemplate {
                kind: "stop".into(),
                args: serde_json::Value::Null,
                wait: None,
                wait_timeout_seconds: None,
                max_attempts: None,
                priority: None,
            };
            let action =
                match template.instantiate(Some(&m.id), expected, zone, now, &self.ctx.defaults) {
                    Ok(job) => FiringAction::Enqueue {
                        job: Box::new(job),
                        caught_up: false,
                        reason: Some(reason),
                    },
                    Err(e) => FiringAction::Skip {
                        reason: format!("the job cannot be made: {e}"),
                    },
                };
            plan.entries.push(FiringEntry {
                fire_at: expected,
                target: m.id.clone(),
                action,
            });
        }
        let run = match group {
            Some(group) if !in_run.is_empty() => {
                let steps = group::plan(group, GroupAction::Stop, Some(machines), &|id| {
                    !in_run.iter().any(|(m, _)| m == id)
                });
                let jobs =
                    group::jobs_for(&steps, 0, None, WaitTarget::Ready, &self.ctx.defaults, now);
                plan.entries
                    .extend(run_entries(&steps, expected, |id| FiringAction::InRun {
                        caught_up: false,
                        reason: in_run.iter().find(|(m, _)| m == id).map(|(_, r)| r.clone()),
                    }));
                Some(NewRun {
                    group: group.name.clone(),
                    action: GroupAction::Stop,
                    wait: WaitTarget::Ready,
                    steps,
                    schedule_id: Some(stop.id),
                    jobs,
                })
            }
            _ => None,
        };
        let stops: Vec<(String, String)> = plan
            .entries
            .iter()
            .filter_map(|e| match &e.action {
                FiringAction::Enqueue {
                    reason: Some(r), ..
                }
                | FiringAction::InRun {
                    reason: Some(r), ..
                } => Some((e.target.clone(), r.clone())),
                _ => None,
            })
            .collect();
        let result = self
            .store
            .enforce(window.id, expected, next, plan, run, now)
            .await?;
        if let Some(publisher) = &self.publisher
            && result.applied
        {
            for ((machine, reason), job_id) in stops.iter().zip(&result.enqueued) {
                let event = catalogue::window_enforced(
                    window.id,
                    &window.name,
                    machine,
                    *job_id,
                    reason,
                    now,
                );
                publisher.publish(event, None).await;
            }
        }
        Ok(result)
    }

    /// Ticks until `shutdown`, sleeping in between until the next firing or
    /// a change to the schedules.
    pub async fn run(self, shutdown: CancellationToken) {
        let changed = self.store.schedules_changed();
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shutdown.is_cancelled() {
                return;
            }
            let report = match self.tick().await {
                Ok(report) => report,
                Err(e) => {
                    tracing::error!(error = %e, "the scheduler could not fire; trying again in a second");
                    TickReport {
                        retry_at: Some(self.clock.now() + chrono::Duration::seconds(1)),
                        ..TickReport::default()
                    }
                }
            };
            if report.more_due {
                continue;
            }
            let next = match self.store.next_schedule_due().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the next firing time");
                    Some(self.clock.now() + chrono::Duration::seconds(1))
                }
            };
            let wake_at = match (next, report.retry_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let sleep = wake_at
                .map(|at| (at - self.clock.now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600))
                .min(Duration::from_secs(3600));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// A target an enforcement pass stops, and why.
#[derive(Debug, Clone)]
struct EnforcementStop<'m> {
    /// The machine as the listing (or the daemon's last sight of it) shows it.
    machine: &'m Machine,
    /// Why it is stopped, as the firing records it: `enforcement: … is ready
    /// while window … is closed`.
    reason: String,
}

/// What one enforcement pass over `window` decides at `now`, with nothing
/// written: the targets among `machines` that run (ready, serviceready,
/// starting, restarting) while the window is closed and no `keep_on`
/// override holds them, or while it is open and a `keep_off` one does;
/// less those with a job in flight, which is left to finish. `group` is
/// the group the window targets (`None` when it targets machines, or the
/// group is missing: then nothing).
///
/// The pass itself ([`Scheduler::enforce`]) and a window's dry run
/// ([`registry::Registry::dry_run_window`]) both ask this, so that what a
/// dry run says enforcement would stop is what the pass stops.
#[allow(clippy::too_many_arguments)]
async fn enforcement_stops<'m>(
    store: &Store,
    calendars: &Calendars,
    window: &Window,
    valid: &ValidWindow,
    now: DateTime<Utc>,
    machines: &'m [Machine],
    overrides: &[Override],
    group: Option<&Group>,
) -> Result<Vec<EnforcementStop<'m>>, StoreError> {
    let open = valid.is_open(now, &window.exclusions, calendars);
    let targets = match (&window.targets.group, group) {
        (None, _) => window.targets.resolve(Some(machines)),
        (Some(_), Some(group)) => group_machines(group, Some(machines)),
        (Some(name), None) => {
            tracing::warn!(window = %window.name, "{}", missing_group(name));
            Vec::new()
        }
    };
    let running: Vec<&Machine> = machines
        .iter()
        .filter(|m| targets.contains(&m.id))
        .filter(|m| {
            matches!(
                m.state,
                MachineState::Ready
                    | MachineState::ServiceReady
                    | MachineState::Starting
                    | MachineState::Restarting
            )
        })
        .collect();
    let ids: Vec<String> = running.iter().map(|m| m.id.clone()).collect();
    let busy = store.busy_machines(&ids).await?;
    let mut stops = Vec::new();
    for m in running {
        let mode = overrides
            .iter()
            .find(|o| o.machine_id == m.id)
            .map(|o| o.mode);
        let reason = match (open, mode) {
            (false, Some(OverrideMode::KeepOn)) | (true, None | Some(OverrideMode::KeepOn)) => {
                continue;
            }
            (false, _) => format!(
                "enforcement: {} is {} while window {} is closed",
                m.id, m.state, window.name
            ),
            (true, Some(OverrideMode::KeepOff)) => format!(
                "enforcement: {} is {} inside window {} but kept off by an override",
                m.id, m.state, window.name
            ),
        };
        if busy.contains(&m.id) {
            continue;
        }
        stops.push(EnforcementStop { machine: m, reason });
    }
    Ok(stops)
}

fn tally(report: &mut TickReport, result: &FireResult) {
    if result.applied {
        report.fired += 1;
    } else {
        report.lost_races += 1;
    }
    report.enqueued += result.enqueued.len();
    report.skipped += result.skipped;
}

fn empty_plan(expected: DateTime<Utc>) -> FiringPlan {
    FiringPlan {
        schedule_id: 0,
        expected_next: expected,
        next_fire_at: None,
        overlap: crate::schedule::spec::OverlapPolicy::Skip,
        entries: Vec::new(),
    }
}

/// A firing's time, whether it is caught up (and the note saying how late),
/// and when its jobs are due.
struct Due {
    fire_at: DateTime<Utc>,
    caught_up: bool,
    note: Option<String>,
    run_at: DateTime<Utc>,
}

/// Why a firing of a schedule or window targeting the group `name` does
/// nothing: the group is gone (it cannot be removed while targeted, but a
/// schedule may be restored from an older database, say).
fn missing_group(name: &str) -> String {
    format!("no group {name}; create it with `machinist groups add`")
}

/// Every machine of `group` now, stage by stage, each once.
fn group_machines(group: &Group, listing: Option<&[Machine]>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for stage in &group.stages {
        for id in stage.targets().resolve(listing) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// One firing entry per machine of a run's steps, in the order they first
/// act: the firing records each machine once, with its job in the run.
fn run_entries(
    steps: &[Step],
    fire_at: DateTime<Utc>,
    action: impl Fn(&str) -> FiringAction,
) -> Vec<FiringEntry> {
    let mut entries: Vec<FiringEntry> = Vec::new();
    for id in steps.iter().flat_map(|s| &s.machine_ids) {
        if !entries.iter().any(|e| &e.target == id) {
            entries.push(FiringEntry {
                fire_at,
                target: id.clone(),
                action: action(id),
            });
        }
    }
    entries
}

/// How a skip for a day a DST change removed begins ([`IdleEdge`]'s text).
const COLLAPSED: &str = "window collapsed by a DST change";
/// Part of a skip for a window that reopens at the instant it closes.
const REOPENS: &str = "closes at the instant the next one opens";

/// Why a window's closing that meets the next opening leaves `target` on:
/// the opening starts it at the same instant, unless an override keeps it
/// off, and then the closing stops it.
fn reopened(idle: Option<&IdleEdge>, target: &str, overrides: &[Override]) -> Option<String> {
    let idle @ IdleEdge::Reopened { .. } = idle? else {
        return None;
    };
    let kept_off = overrides
        .iter()
        .any(|o| o.machine_id == target && o.mode == OverrideMode::KeepOff);
    (!kept_off).then(|| idle.to_string())
}

/// Why an override keeps a window's edge from acting on `target`, if it does.
fn overridden(schedule: &Schedule, target: &str, overrides: &[Override]) -> Option<String> {
    let edge = schedule.window_edge?;
    let o = overrides.iter().find(|o| o.machine_id == target)?;
    match (edge, o.mode) {
        (WindowEdge::Stop, OverrideMode::KeepOn) => Some(format!(
            "override: {target} is kept on until {}",
            o.until.to_rfc3339()
        )),
        (WindowEdge::Start, OverrideMode::KeepOff) => Some(format!(
            "override: {target} is kept off until {}",
            o.until.to_rfc3339()
        )),
        _ => None,
    }
}
