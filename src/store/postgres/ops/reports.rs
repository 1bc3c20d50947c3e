//! The PostgreSQL driver's reports operations.

use crate::machine::Utilization;
use crate::store::postgres::PostgresDriver;
use crate::store::{StoreError, UtilizationRow};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn save_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: save_utilization")
    }

    pub(in crate::store) async fn save_metered_utilization(
        &self,
        rows: Vec<Utilization>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: save_metered_utilization")
    }

    pub(in crate::store) async fn utilization(
        &self,
        month: &str,
    ) -> Result<Vec<UtilizationRow>, StoreError> {
        unimplemented!("postgres: utilization")
    }

    pub(in crate::store) async fn hourly_rates(&self) -> Result<Vec<(String, f64)>, StoreError> {
        unimplemented!("postgres: hourly_rates")
    }
}
