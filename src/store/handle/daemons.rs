//! The daemon operations: register, heartbeat and lead, resign, list
//! (nouns: `store/daemons.rs`), and the rate limit every daemon shares.

use std::time::Duration;

use super::Store;
use crate::store::daemons::{DaemonInfo, DaemonRecord, Leadership};
use crate::store::driver::on_driver;
use crate::store::error::StoreError;

impl Store {
    /// Registers this daemon. On PostgreSQL it is refused when the
    /// database's schema is newer than this binary knows, and a daemon
    /// whose start applied migrations is refused while daemons of an older
    /// schema still beat (the check is made at open, before migrating:
    /// `postgres/daemons.rs`).
    pub async fn register(&self, info: &DaemonInfo) -> Result<(), StoreError> {
        on_driver!(self, d => d.register(info).await)
    }

    /// Records that the daemon `id` is alive and, with `lead_for`, takes or
    /// renews the scheduler's lease for that long when it is free or its.
    pub async fn heartbeat(
        &self,
        id: &str,
        lead_for: Option<Duration>,
    ) -> Result<Leadership, StoreError> {
        on_driver!(self, d => d.heartbeat(id, lead_for).await)
    }

    /// Gives up the lease (if held) and marks the daemon stopped: another
    /// daemon takes over at its next heartbeat instead of after the lease.
    pub async fn resign(&self, id: &str) -> Result<(), StoreError> {
        on_driver!(self, d => d.resign(id).await)
    }

    /// Every daemon registered on the database, the running ones first.
    pub async fn daemons(&self) -> Result<Vec<DaemonRecord>, StoreError> {
        on_driver!(self, d => d.daemons().await)
    }

    /// Takes one token from the Paperspace rate limit that every daemon on
    /// the database shares (`rate` per second, bursts of `burst`); answers
    /// how long to wait before the call may go (zero: at once).
    pub async fn take_rate_token(&self, rate: f64, burst: u32) -> Result<Duration, StoreError> {
        on_driver!(self, d => d.take_rate_token(rate, burst).await)
    }
}
