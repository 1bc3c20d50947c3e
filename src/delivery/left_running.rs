//! The `machine.left_running` alarm: a machine Machinist was asked to stop
//! (by a schedule, a window or a person) that is still running
//! `webhooks.left_running_after` later, with its hourly rate and what it
//! has cost since; repeated at most every `webhooks.left_running_repeat`
//! while it lasts.
//!
//! "Meant to be off": the machine's newest start, restart, create or stop
//! job is a stop, submitted at least `left_running_after` ago. "Still
//! running": the state last seen, after that stop was submitted, is
//! `ready`, `serviceready`, `starting` or `restarting`. States come from
//! every look Machinist takes (jobs' polls, the scheduler's and the
//! meter's listings, every `cost.meter_interval`), so the watch itself
//! reads only the store: once a minute, and not at all while no endpoint
//! takes the event.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Publisher, WebhookSettings};
use crate::clock::SharedClock;
use crate::job::{Job, JobKind};
use crate::machine::MachineState;
use crate::meter::RateUnits;
use crate::store::{JobFilter, Store, StoreError};
use crate::webhook::{EventType, catalogue};

/// How often the watch looks.
const EVERY: Duration = Duration::from_secs(60);

/// The watch for machines left running.
pub struct LeftRunning {
    /// Known machines, their jobs, the alarm marks.
    store: Store,
    /// Where alarms go.
    publisher: Publisher,
    clock: SharedClock,
    /// After how long, and how often again.
    settings: Arc<WebhookSettings>,
    /// How to read v1's rates as an hourly price.
    units: RateUnits,
}

impl LeftRunning {
    pub fn new(
        store: Store,
        publisher: Publisher,
        clock: SharedClock,
        settings: Arc<WebhookSettings>,
        units: RateUnits,
    ) -> Self {
        LeftRunning {
            store,
            publisher,
            clock,
            settings,
            units,
        }
    }

    /// One look at every machine; answers how many alarms went out.
    pub async fn check(&self) -> Result<usize, StoreError> {
        if !self.publisher.wants(EventType::LeftRunning) {
            return Ok(0);
        }
        let now = self.clock.now();
        let after =
            chrono::Duration::from_std(self.settings.left_running_after).unwrap_or_default();
        let repeat =
            chrono::Duration::from_std(self.settings.left_running_repeat).unwrap_or_default();
        let mut raised = 0;
        for known in self.store.machines().await? {
            let m = &known.machine;
            let running = matches!(
                m.state,
                MachineState::Ready
                    | MachineState::ServiceReady
                    | MachineState::Starting
                    | MachineState::Restarting
            );
            if known.gone_at.is_some() || !running {
                continue;
            }
            let Some(stop) = self.newest(&m.id, JobKind::Stop).await? else {
                continue;
            };
            let mut latest_start: Option<DateTime<Utc>> = None;
            for kind in [JobKind::Start, JobKind::Restart, JobKind::Create] {
                if let Some(job) = self.newest(&m.id, kind).await? {
                    latest_start = latest_start.max(Some(job.created_at));
                }
            }
            let since = stop.created_at;
            if latest_start.is_some_and(|s| s > since)
                || now - since < after
                || known.seen_at <= since
            {
                continue;
            }
            let key = format!("left_running:{}:{}", m.id, stop.id);
            if let Some(last) = self.store.alarm_mark(&key).await?
                && now - last < repeat
            {
                continue;
            }
            let hourly_rate = m.rate.as_ref().map(|r| self.units.hourly(r.usage));
            let event = catalogue::left_running(
                &catalogue::LeftRunning {
                    machine_id: &m.id,
                    name: &m.name,
                    state: m.state.clone(),
                    meant_off_since: since,
                    stop_job: &stop,
                    hourly_rate,
                    seen_at: known.seen_at,
                },
                now,
            );
            tracing::warn!(machine = %m.id, state = %m.state, since = %since, "a machine meant to be off is still running");
            if self.publisher.publish(event, Some(key)).await.is_some() {
                raised += 1;
            }
        }
        Ok(raised)
    }

    async fn newest(&self, machine: &str, kind: JobKind) -> Result<Option<Job>, StoreError> {
        let filter = JobFilter {
            kind: Some(kind),
            machine_id: Some(machine.to_string()),
            ..JobFilter::default()
        };
        Ok(self.store.jobs(&filter, None, 1).await?.into_iter().next())
    }

    /// Looks once a minute until `shutdown`; while no endpoint takes the
    /// event, not at all (an idle daemon does not wake).
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.publisher.until_wanted(EventType::LeftRunning) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
            if let Err(e) = self.check().await {
                tracing::error!(error = %e, "could not look for machines left running");
            }
        }
    }
}
