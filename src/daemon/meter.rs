//! The meter's ingestion: every `cost.meter_interval`, one listing of the
//! account's machines and, on v1, one paged listing of its machine events
//! since the last run, kept in the store for [`crate::cost`] to meter; and
//! the account standing, checked on the same beat.
//!
//! Events are listed newest first and paged back until the high-water mark
//! (the newest event already kept) is passed, or the oldest event that was
//! still unfinished when kept, whichever is older, so its end is picked up.
//! Saving is an upsert by event id, so reading an event twice is harmless.
//! After downtime the same paging simply goes further back: the gap is
//! back-filled and recorded ([`MeterGap`]), and marked incomplete when the
//! listing ended before reaching the mark (Paperspace no longer lists those
//! events; intervals across it rest on the states observed). On the first
//! run the listing goes back `cost.backfill`, the history savings compare
//! against. A run costs a constant number of calls per page, never one per
//! machine.
//!
//! A failed run is logged and tried again at the next interval; nothing
//! waits on it. Tests call [`Meter::run_once`] with their own clock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::delivery::Publisher;
use crate::machine::{EventPage, Machine, MachineEvent, MachineFilter, MachineState, PageRequest};
use crate::meter::{MeterCursor, MeterGap};
use crate::paperspace::{ApiError, Backend, MachineApi};
use crate::store::{JobFilter, KnownMachine, Store, StoreError};
use crate::webhook::{EventType, catalogue};

/// The most events one page asks for (v1 allows 1..=120).
const PAGE_LIMIT: u32 = 120;

/// Paging goes this much further back than the mark: events are listed by
/// `dtCreated`, and one created just before the mark may have been written
/// after the last run read that page.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

/// An unfinished event older than this no longer holds the paging back: a
/// stuck event must not make every run read days of history.
const OPEN_HORIZON: chrono::Duration = chrono::Duration::days(2);

/// Most pages one run reads; the rest waits for the next run (with the
/// first run's back-fill of a large account in mind).
const MAX_PAGES: usize = 2_000;

/// Which side of running a state is on, for telling outside changes:
/// `Some(true)` running or on its way, `Some(false)` off or on its way,
/// `None` neither (upgrading, unknown).
fn family(state: &MachineState) -> Option<bool> {
    match state {
        MachineState::Ready
        | MachineState::ServiceReady
        | MachineState::Starting
        | MachineState::Restarting
        | MachineState::Provisioning => Some(true),
        MachineState::Off | MachineState::Stopping => Some(false),
        _ => None,
    }
}

/// Why a metering run failed.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    /// Paperspace could not be read.
    #[error("could not read the account from Paperspace: {0}")]
    Api(#[from] ApiError),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeterRun {
    /// Machines listed.
    pub machines: usize,
    /// Pages of events read.
    pub pages: usize,
    /// Events read (new, changed or already kept).
    pub events: usize,
    /// Events not kept before.
    pub added: u64,
    /// Paperspace calls the run made: the machine listing counts once,
    /// however many pages it took (`list_all` pages on its own).
    pub calls: usize,
    /// The gap this run back-filled, if the previous run was too long ago.
    pub gap: Option<MeterGap>,
    /// Whether the account is in good standing (v1), when checked.
    pub in_good_standing: Option<bool>,
}

/// The meter's ingestion service.
pub struct Meter {
    /// Where events, sightings and the cursor are kept.
    store: Store,
    /// The account.
    api: Arc<dyn MachineApi>,
    /// The daemon's clock; a test's own in tests.
    clock: SharedClock,
    /// How often to run: also the longest expected gap between runs.
    every: Duration,
    /// How far back the first run reads.
    backfill: Duration,
    /// Where `machine.changed_outside` and `account.standing` are told.
    publisher: Option<Publisher>,
}

impl Meter {
    pub fn new(
        store: Store,
        api: Arc<dyn MachineApi>,
        clock: SharedClock,
        every: Duration,
        backfill: Duration,
    ) -> Self {
        Meter {
            store,
            api,
            clock,
            every,
            backfill,
            publisher: None,
        }
    }

    /// Tells `publisher` of machines changed outside Machinist
    /// (`machine.changed_outside`) and of changes in the account's
    /// standing (`account.standing`).
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Runs now and then every interval until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut first = true;
        loop {
            match self.run_once().await {
                // The first run says what it found; later ones only when asked.
                Ok(run) if first => tracing::info!(
                    machines = run.machines,
                    events = run.events,
                    pages = run.pages,
                    every = %crate::machine::humanize(self.every),
                    "metering the account: machines listed and their events read"
                ),
                Ok(run) => tracing::debug!(
                    machines = run.machines,
                    pages = run.pages,
                    events = run.events,
                    added = run.added,
                    "metered the account"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "metering run failed; trying again at the next interval")
                }
            }
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One run: the machines, the events since the last run, the standing.
    pub async fn run_once(&self) -> Result<MeterRun, MeterError> {
        let mut run = MeterRun::default();
        let machines = self.api.list_all(&MachineFilter::all()).await?;
        // `list_all` pages on its own; count it as one listing.
        run.calls += 1;
        run.machines = machines.len();
        let now = self.clock.now();
        let watching = self
            .publisher
            .as_ref()
            .filter(|p| p.wants(EventType::ChangedOutside));
        let before = match watching {
            Some(_) => self.store.machines().await?,
            None => Vec::new(),
        };
        let listed = watching.map(|_| machines.clone());
        self.store.see_machines(machines, true, now).await?;
        if let (Some(publisher), Some(listed)) = (watching, listed) {
            self.tell_outside_changes(publisher, &before, &listed, now)
                .await?;
        }
        if self.api.backend() == Backend::V1 {
            self.ingest_events(now, &mut run).await?;
            match self.api.account_standing().await {
                Ok(standing) => {
                    run.calls += 1;
                    if !standing.in_good_standing {
                        tracing::warn!(
                            messages = ?standing.messages,
                            "the Paperspace account is not in good standing: creates and starts will fail"
                        );
                    }
                    run.in_good_standing = Some(standing.in_good_standing);
                    let previous = self.store.account_standing().await?;
                    let changed = match &previous {
                        Some((p, _)) => p.in_good_standing != standing.in_good_standing,
                        None => !standing.in_good_standing,
                    };
                    let event = changed.then(|| {
                        catalogue::account_standing(
                            standing.in_good_standing,
                            Some(standing.messages.join("; "))
                                .filter(|m| !m.is_empty())
                                .as_deref(),
                            now,
                        )
                    });
                    self.store.save_account_standing(standing, now).await?;
                    if let (Some(event), Some(publisher)) = (event, &self.publisher) {
                        publisher.publish(event, None).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not check the account standing"),
            }
        }
        Ok(run)
    }

    /// Publishes `machine.changed_outside` for each machine whose state
    /// moved between running and off (or that disappeared) since it was
    /// last seen, with no start, stop, restart, create or destroy job of
    /// Machinist's for it alive in between.
    async fn tell_outside_changes(
        &self,
        publisher: &Publisher,
        before: &[KnownMachine],
        listed: &[Machine],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for known in before.iter().filter(|k| k.gone_at.is_none()) {
            let was = &known.machine;
            let now_state = listed.iter().find(|m| m.id == was.id).map(|m| &m.state);
            let (from, to) = (family(&was.state), now_state.map(family));
            let changed = match (from, to) {
                (Some(a), Some(Some(b))) => a != b,
                (_, None) => true,
                _ => false,
            };
            if !changed || self.explained(&was.id, known.seen_at, now).await? {
                continue;
            }
            let event = catalogue::changed_outside(
                &was.id,
                &was.name,
                Some(was.state.clone()),
                now_state.cloned(),
                Some(known.seen_at),
                now,
            );
            tracing::info!(machine = %was.id, from = %was.state, "a machine changed outside Machinist");
            publisher.publish(event, None).await;
        }
        Ok(())
    }

    /// Whether a job of Machinist's that changes machines' states, for
    /// `machine`, was alive at some time in [`since`, `now`].
    async fn explained(
        &self,
        machine: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let filter = JobFilter {
            machine_id: Some(machine.to_string()),
            ..JobFilter::default()
        };
        let jobs = self.store.jobs(&filter, None, 20).await?;
        Ok(jobs.iter().any(|j| {
            j.kind.changes_state()
                && j.created_at <= now
                && j.finished_at.is_none_or(|f| f >= since)
        }))
    }

    async fn ingest_events(
        &self,
        now: DateTime<Utc>,
        run: &mut MeterRun,
    ) -> Result<(), MeterError> {
        let cursor = self.store.meter_cursor().await?.unwrap_or_default();
        let backfill =
            chrono::Duration::from_std(self.backfill).unwrap_or(chrono::Duration::days(62));
        // Page back to here.
        let mark = match (cursor.newest, cursor.oldest_open) {
            (Some(n), Some(o)) => Some(n.min(o.max(now - OPEN_HORIZON))),
            (Some(n), None) => Some(n),
            (None, _) => None,
        };
        let stop_at = match mark {
            Some(m) => m - OVERLAP,
            None => now - backfill,
        };
        let mut events: Vec<MachineEvent> = Vec::new();
        let mut page = PageRequest {
            cursor: None,
            limit: Some(PAGE_LIMIT),
        };
        let mut reached = false;
        let mut truncated = false;
        let mut followed = std::collections::HashSet::new();
        loop {
            let EventPage { events: got, next } = self.api.event_page(&page).await?;
            run.calls += 1;
            run.pages += 1;
            let oldest = got.iter().filter_map(|e| e.created_at).min();
            events.extend(got);
            if oldest.is_some_and(|o| o < stop_at) {
                reached = true;
                break;
            }
            match next {
                Some(next) if run.pages < MAX_PAGES && followed.insert(next.clone()) => {
                    page.cursor = Some(next)
                }
                // The listing ended: everything Paperspace still lists is read.
                None => break,
                Some(_) => {
                    tracing::warn!(
                        pages = run.pages,
                        "stopped paging machine events before reaching the last run's; \
                         the older ones are recorded as a gap"
                    );
                    truncated = true;
                    break;
                }
            }
        }
        run.events = events.len();
        let newest = events.iter().filter_map(|e| e.created_at).max();
        let oldest_open = events
            .iter()
            .filter(|e| matches!(e.state.as_str(), "new" | "in progress"))
            .filter_map(|e| e.created_at)
            .min();
        // The gap this run closes: the daemon (or Paperspace) was away
        // longer than two intervals.
        let every = chrono::Duration::from_std(self.every).unwrap_or(chrono::Duration::minutes(5));
        if let Some(last) = cursor.ingested_at
            && now - last > every * 2
        {
            let backfilled = events
                .iter()
                .filter(|e| e.created_at.is_some_and(|c| c > last && c <= now))
                .count() as u64;
            let gap = MeterGap {
                from: last,
                to: now,
                backfilled,
                complete: !truncated && (reached || mark.is_none()),
            };
            if !gap.complete {
                tracing::warn!(
                    from = %gap.from,
                    "Paperspace no longer lists every machine event since the last metering run; intervals across the gap rest on the states observed"
                );
            }
            self.store.record_meter_gap(gap.clone()).await?;
            run.gap = Some(gap);
        }
        // A listing cut short leaves events between the mark and the
        // oldest read unread for good: say so where reports look.
        if truncated
            && run.gap.is_none()
            && let Some(oldest) = events.iter().filter_map(|e| e.created_at).min()
        {
            let gap = MeterGap {
                from: stop_at,
                to: oldest,
                backfilled: 0,
                complete: false,
            };
            self.store.record_meter_gap(gap.clone()).await?;
            run.gap = Some(gap);
        }
        let saved = self.store.save_machine_events(events, now).await?;
        run.added = saved.added;
        self.store
            .save_meter_cursor(
                MeterCursor {
                    newest: newest.max(cursor.newest),
                    oldest_open,
                    ingested_at: Some(now),
                },
                now,
            )
            .await?;
        Ok(())
    }
}
