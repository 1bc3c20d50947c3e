//! The machine operations: sightings, known machines, start/stop
//! switches, signs of running.

use chrono::{DateTime, Utc};

use super::Store;
use crate::machine::Machine;
use crate::store::driver::on_driver;
use crate::store::error::StoreError;
use crate::store::machines::{KnownMachine, MachineSwitch};

impl Store {
    /// Records machines as seen now; with `complete`, machines missing from
    /// the list are marked gone.
    pub async fn see_machines(
        &self,
        machines: Vec<Machine>,
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_driver!(self, d => d.see_machines(machines, complete, now).await)
    }

    /// Every machine the daemon has seen.
    pub async fn machines(&self) -> Result<Vec<KnownMachine>, StoreError> {
        on_driver!(self, d => d.machines().await)
    }

    /// The machine `id` as last seen, if the daemon has seen it.
    pub(crate) async fn machine(&self, id: &str) -> Result<Option<KnownMachine>, StoreError> {
        on_driver!(self, d => d.machine(id).await)
    }

    /// Every accepted start and stop request up to `until`, oldest first:
    /// the API calls of start and stop jobs that Paperspace answered with 2xx.
    pub async fn switches(&self, until: DateTime<Utc>) -> Result<Vec<MachineSwitch>, StoreError> {
        on_driver!(self, d => d.switches(until).await)
    }

    /// Signs that a machine ran, up to `until`, by machine id, unordered:
    /// each time it was first seen in a state in which it runs (the
    /// `machine_states` history; `stopping` does not count, a stop's own
    /// wait sees it), and each start operation Paperspace listed for it
    /// (`machine_starts`), whoever sent it.
    pub async fn signs_of_running(
        &self,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        on_driver!(self, d => d.signs_of_running(until).await)
    }

    /// Unfinished jobs per machine among `machine_ids`.
    pub async fn busy_machines(&self, machine_ids: &[String]) -> Result<Vec<String>, StoreError> {
        on_driver!(self, d => d.busy_machines(machine_ids).await)
    }
}
