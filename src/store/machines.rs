//! Machines as the daemon knows them: sightings, what is known of each
//! machine, the start and stop requests Machinist made, and the signs that
//! a machine ran: the nouns every driver answers (the operations:
//! `handle/machines.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
