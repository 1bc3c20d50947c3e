//! The SQLite driver's utilization operations: a save becomes
//! [`SaveUtilization`] for the writer (`sqlite/reports.rs` applies it); the
//! reads run on the pool.

use chrono::{DateTime, Utc};

use crate::machine::Utilization;
use crate::store::sqlite::SqliteDriver;
use crate::store::sqlite::reports::SaveUtilization;
use crate::store::{StoreError, UtilizationRow};

/// The utilization operations of the SQLite driver.
impl SqliteDriver {
    pub(in crate::store) async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let source = UtilizationRow::PAPERSPACE;
        self.send(|reply| SaveUtilization {
            rows,
            source,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn save_metered_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let source = UtilizationRow::METER;
        self.send(|reply| SaveUtilization {
            rows,
            source,
            now,
            reply,
        })
        .await
    }

    pub(in crate::store) async fn utilization(
        &self,
        month: &str,
    ) -> Result<Vec<UtilizationRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM utilization WHERE month = ? ORDER BY machine_id, source")
                .bind(month)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    pub(in crate::store) async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        // One row per machine: its newest month, Paperspace's own figure
        // before the meter's when the month has both.
        Ok(sqlx::query_as(
            "SELECT machine_id, hourly_rate FROM (SELECT machine_id, hourly_rate, \
             ROW_NUMBER() OVER (PARTITION BY machine_id \
             ORDER BY month DESC, source = 'paperspace' DESC) AS n FROM utilization) \
             WHERE n = 1 ORDER BY machine_id",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}
