//! The PostgreSQL driver's utilization operations: a save is one
//! transaction of upserts (`postgres/reports.rs`); the reads run on the
//! pool.

use chrono::{DateTime, Utc};

use crate::machine::Utilization;
use crate::store::postgres::{Effects, PostgresDriver, reports};
use crate::store::{StoreError, UtilizationRow};

/// The utilization operations of the PostgreSQL driver.
impl PostgresDriver {
    pub(in crate::store) async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_utilization_from(rows, UtilizationRow::PAPERSPACE, now)
            .await
    }

    pub(in crate::store) async fn save_metered_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_utilization_from(rows, UtilizationRow::METER, now)
            .await
    }

    /// Saves `rows` as coming from `source` in one transaction.
    async fn save_utilization_from(
        &self,
        rows: Vec<Utilization>,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        reports::save_utilization(&mut tx, &rows, source, now).await?;
        self.commit(tx, Effects::default()).await
    }

    pub(in crate::store) async fn utilization(
        &self,
        month: &str,
    ) -> Result<Vec<UtilizationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM utilization WHERE month = $1 \
             ORDER BY machine_id COLLATE \"C\", source COLLATE \"C\"",
        )
        .bind(month)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(in crate::store) async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        // One row per machine: its newest month, Paperspace's own figure
        // before the meter's when the month has both.
        Ok(sqlx::query_as(
            "SELECT machine_id, hourly_rate FROM (SELECT machine_id, hourly_rate, \
             ROW_NUMBER() OVER (PARTITION BY machine_id \
             ORDER BY month COLLATE \"C\" DESC, source = 'paperspace' DESC) AS n \
             FROM utilization) r WHERE n = 1 ORDER BY machine_id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
