//! The metering operations: Paperspace's machine events, the states and
//! prices Machinist saw, the ingestion cursor and gaps, monthly billing
//! marks, the account's standing. Nothing prunes these: they are the cost
//! record.

use chrono::{DateTime, Utc};

use super::Store;
use crate::machine::{AccountStanding, MachineEvent};
use crate::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::metering::EventsSaved;

impl Store {
    /// Keeps machine events by id: an event saved again is one row, its
    /// state, error, `started_at` and `finished_at` taken from the later
    /// copy. Events without an id, a machine or a creation time are
    /// skipped and counted.
    pub async fn save_machine_events(
        &self,
        events: Vec<MachineEvent>,
        now: DateTime<Utc>,
    ) -> Result<EventsSaved, StoreError> {
        on_driver!(self, d => d.save_machine_events(events, now).await)
    }

    /// The events created in [`from`, `to`), and for each machine its
    /// newest lifecycle event (`create`, `start`, `restart`, `stop`,
    /// `vm-shutdown-force`, `deactivate`, `vm-upgrade`) created before
    /// `from`, which says its state at `from`; ordered by (created_at, id).
    pub async fn machine_events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MachineEvent>, StoreError> {
        on_driver!(self, d => d.machine_events(from, to).await)
    }

    /// How many machine events are kept.
    pub async fn machine_event_count(&self) -> Result<u64, StoreError> {
        on_driver!(self, d => d.machine_event_count().await)
    }

    /// Where the ingestion of events stands; `None` before the first save.
    pub async fn meter_cursor(&self) -> Result<Option<MeterCursor>, StoreError> {
        on_driver!(self, d => d.meter_cursor().await)
    }

    /// Replaces where the ingestion of events stands.
    pub async fn save_meter_cursor(
        &self,
        cursor: MeterCursor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.save_meter_cursor(cursor, now).await)
    }

    /// Keeps a gap between ingestion runs; the same (`from`, `to`) again
    /// replaces it.
    pub async fn record_meter_gap(&self, gap: MeterGap) -> Result<(), StoreError> {
        on_driver!(self, d => d.record_meter_gap(gap).await)
    }

    /// The gaps overlapping [`from`, `to`), oldest first.
    pub async fn meter_gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeterGap>, StoreError> {
        on_driver!(self, d => d.meter_gaps(from, to).await)
    }

    /// Every change of a machine's prices (or type) seen up to and
    /// including `to`, ordered by (machine_id, at). Written where machines
    /// are recorded as seen ([`Store::see_machines`] and jobs' reports).
    pub async fn rate_sightings(&self, to: DateTime<Utc>) -> Result<Vec<RateSighting>, StoreError> {
        on_driver!(self, d => d.rate_sightings(to).await)
    }

    /// The states machines were first seen in within [`from`, `to`), and
    /// each machine's last one before `from`, ordered by (machine_id, at).
    /// Written where machines are recorded as seen: at a machine's first
    /// sighting and whenever its state changed.
    pub async fn state_sightings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateSighting>, StoreError> {
        on_driver!(self, d => d.state_sightings(from, to).await)
    }

    /// Marks a machine as billed monthly from `now` (a machine already
    /// marked keeps its time), or removes the mark.
    pub async fn set_monthly_billed(
        &self,
        machine_id: &str,
        monthly: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.set_monthly_billed(machine_id, monthly, now).await)
    }

    /// The machines marked as billed monthly, with when, by machine id.
    pub async fn monthly_billed(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        on_driver!(self, d => d.monthly_billed().await)
    }

    /// Replaces the last check of the account's standing, made at `now`.
    pub async fn save_account_standing(
        &self,
        standing: AccountStanding,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.save_account_standing(standing, now).await)
    }

    /// The last check of the account's standing, with when; `None` before
    /// the first.
    pub async fn account_standing(
        &self,
    ) -> Result<Option<(AccountStanding, DateTime<Utc>)>, StoreError> {
        on_driver!(self, d => d.account_standing().await)
    }
}
