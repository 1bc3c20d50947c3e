//! The PostgreSQL driver's metering operations.

use crate::machine::{AccountStanding, MachineEvent};
use crate::meter::{MeterCursor, MeterGap, RateSighting, StateSighting};
use crate::store::metering::{CursorRow, EventRow, EventsSaved, GapRow, RateRow, StateRow};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{from_ms, to_ms};
use crate::store::{Cause, StoreError};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn save_machine_events(
        &self,
        events: Vec<MachineEvent>,
        now: DateTime<Utc>,
    ) -> Result<EventsSaved, StoreError> {
        unimplemented!("postgres: save_machine_events")
    }

    pub(in crate::store) async fn machine_events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MachineEvent>, StoreError> {
        unimplemented!("postgres: machine_events")
    }

    pub(in crate::store) async fn machine_event_count(&self) -> Result<u64, StoreError> {
        unimplemented!("postgres: machine_event_count")
    }

    pub(in crate::store) async fn meter_cursor(&self) -> Result<Option<MeterCursor>, StoreError> {
        unimplemented!("postgres: meter_cursor")
    }

    pub(in crate::store) async fn save_meter_cursor(
        &self,
        cursor: MeterCursor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: save_meter_cursor")
    }

    pub(in crate::store) async fn record_meter_gap(&self, gap: MeterGap) -> Result<(), StoreError> {
        unimplemented!("postgres: record_meter_gap")
    }

    pub(in crate::store) async fn meter_gaps(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeterGap>, StoreError> {
        unimplemented!("postgres: meter_gaps")
    }

    pub(in crate::store) async fn rate_sightings(
        &self,
        to: DateTime<Utc>,
    ) -> Result<Vec<RateSighting>, StoreError> {
        unimplemented!("postgres: rate_sightings")
    }

    pub(in crate::store) async fn state_sightings(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StateSighting>, StoreError> {
        unimplemented!("postgres: state_sightings")
    }

    pub(in crate::store) async fn set_monthly_billed(
        &self,
        machine_id: &str,
        monthly: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: set_monthly_billed")
    }

    pub(in crate::store) async fn monthly_billed(
        &self,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        unimplemented!("postgres: monthly_billed")
    }

    pub(in crate::store) async fn save_account_standing(
        &self,
        standing: AccountStanding,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: save_account_standing")
    }

    pub(in crate::store) async fn account_standing(
        &self,
    ) -> Result<Option<(AccountStanding, DateTime<Utc>)>, StoreError> {
        unimplemented!("postgres: account_standing")
    }
}
