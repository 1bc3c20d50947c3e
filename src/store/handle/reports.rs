//! The utilization operations.

use chrono::{DateTime, Utc};

use super::Store;
use crate::machine::Utilization;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::reports::UtilizationRow;

impl Store {
    /// Keeps what a utilization pull found; a (machine, month) pulled again
    /// is replaced.
    pub async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.save_utilization(rows, now).await)
    }

    /// Utilization of a month, by machine.
    pub async fn utilization(&self, month: &str) -> Result<Vec<UtilizationRow>, StoreError> {
        on_driver!(self, d => d.utilization(month).await)
    }

    /// The latest known hourly rate of each machine.
    pub async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        on_driver!(self, d => d.hourly_rates().await)
    }
}
