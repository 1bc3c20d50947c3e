//! Utilization: what utilization jobs pulled from Paperspace, kept per
//! (machine, month) for reports and savings.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::driver::on_driver;
use super::{Store, StoreError};
use crate::machine::Utilization;

/// Utilization as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, FromRow)]
pub struct UtilizationRow {
    /// The machine billed.
    pub machine_id: String,
    /// The billing month, `YYYY-MM`.
    pub month: String,
    /// Seconds the machine ran that month.
    pub seconds_used: i64,
    /// Its price per running hour.
    pub hourly_rate: f64,
    /// Seconds of storage billed that month.
    pub storage_seconds: i64,
    /// The storage's monthly price.
    pub monthly_rate: f64,
    /// When it was pulled, in Unix milliseconds.
    pub pulled_at: i64,
}

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
