//! Machines as the daemon knows them: sightings, what is known of each
//! machine, the start and stop requests Machinist made, and the signs that
//! a machine ran.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::driver::on_driver;
use super::{Store, StoreError};
use crate::machine::Machine;

/// A machine as last seen by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownMachine {
    /// What Paperspace last said of it.
    pub machine: Machine,
    /// When a job or the scheduler's listing last saw it.
    pub seen_at: DateTime<Utc>,
    /// When Paperspace said it no longer exists.
    pub gone_at: Option<DateTime<Utc>>,
}

/// A stop Machinist carried out and the start that ended it, for savings.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSwitch {
    /// The machine switched.
    pub machine_id: String,
    /// `true` for a stop request Paperspace accepted, `false` for a start.
    pub stop: bool,
    /// When Paperspace accepted it.
    pub at: DateTime<Utc>,
}

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
