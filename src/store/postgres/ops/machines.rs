//! The PostgreSQL driver's machines operations.

use crate::machine::{Machine, MachineState};
use crate::store::postgres::PostgresDriver;
use crate::store::rows::{from_ms, to_ms};
use crate::store::{Cause, StoreError};
use crate::store::{KnownMachine, MachineSwitch};
use chrono::{DateTime, Utc};

impl PostgresDriver {
    pub(in crate::store) async fn see_machines(
        &self,
        machines: Vec<Machine>,
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        unimplemented!("postgres: see_machines")
    }

    pub(in crate::store) async fn machines(&self) -> Result<Vec<KnownMachine>, StoreError> {
        unimplemented!("postgres: machines")
    }

    pub(in crate::store) async fn machine(
        &self,
        id: &str,
    ) -> Result<Option<KnownMachine>, StoreError> {
        unimplemented!("postgres: machine")
    }

    pub(in crate::store) async fn switches(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<MachineSwitch>, StoreError> {
        unimplemented!("postgres: switches")
    }

    pub(in crate::store) async fn signs_of_running(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        unimplemented!("postgres: signs_of_running")
    }

    pub(in crate::store) async fn busy_machines(
        &self,
        machine_ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        unimplemented!("postgres: busy_machines")
    }
}
