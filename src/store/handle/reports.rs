//! The utilization operations.

use chrono::{DateTime, Utc};

use super::Store;
use crate::machine::Utilization;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::reports::UtilizationRow;

impl Store {
    /// Keeps what a utilization pull found, as source
    /// [`UtilizationRow::PAPERSPACE`]; a (machine, month) pulled again is
    /// replaced.
    pub async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.save_utilization(rows, now).await)
    }

    /// Keeps what the meter worked out, as source [`UtilizationRow::METER`]
    /// beside the pulled figures; a (machine, month) metered again is
    /// replaced.
    pub async fn save_metered_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.save_metered_utilization(rows, now).await)
    }

    /// Utilization of a month, every source, by machine and source.
    pub async fn utilization(&self, month: &str) -> Result<Vec<UtilizationRow>, StoreError> {
        on_driver!(self, d => d.utilization(month).await)
    }

    /// The latest known hourly rate of each machine: that of its newest
    /// month, either source (Paperspace's when the month has both).
    pub async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        on_driver!(self, d => d.hourly_rates().await)
    }
}
