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
        self.send(|reply| SaveUtilization { rows, now, reply })
            .await
    }

    pub(in crate::store) async fn utilization(
        &self,
        month: &str,
    ) -> Result<Vec<UtilizationRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM utilization WHERE month = ? ORDER BY machine_id")
                .bind(month)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    pub(in crate::store) async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT machine_id, hourly_rate FROM utilization u WHERE month = \
             (SELECT MAX(month) FROM utilization v WHERE v.machine_id = u.machine_id)",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}
