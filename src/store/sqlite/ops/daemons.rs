//! The SQLite driver's daemon operations. One daemon holds the file (its
//! lock), so that daemon leads, its record lives in memory, and no row or
//! timer is needed; the rate limit is the daemon's own bucket, so no token
//! is ever owed here.

use std::time::Duration;

use chrono::Utc;

use crate::store::sqlite::SqliteDriver;
use crate::store::{DaemonInfo, DaemonRecord, Leadership, MIGRATOR, StoreError};

impl SqliteDriver {
    pub(in crate::store) async fn register(&self, info: &DaemonInfo) -> Result<(), StoreError> {
        let now = Utc::now();
        *self.me.lock().expect("daemon record poisoned") = Some(DaemonRecord {
            id: info.id.to_string(),
            host: info.host.clone(),
            pid: info.pid,
            version: info.version.clone(),
            schema_version: MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0),
            started_at: now,
            heartbeat_at: now,
            stopped_at: None,
            leader: true,
        });
        Ok(())
    }

    pub(in crate::store) async fn heartbeat(
        &self,
        id: &str,
        _lead_for: Option<Duration>,
    ) -> Result<Leadership, StoreError> {
        Ok(Leadership {
            leader: true,
            holder: Some(id.to_string()),
            expires_in: Duration::MAX,
            now: Utc::now(),
        })
    }

    pub(in crate::store) async fn resign(&self, _id: &str) -> Result<(), StoreError> {
        if let Some(me) = self.me.lock().expect("daemon record poisoned").as_mut() {
            me.stopped_at = Some(Utc::now());
            me.leader = false;
        }
        Ok(())
    }

    pub(in crate::store) async fn daemons(&self) -> Result<Vec<DaemonRecord>, StoreError> {
        let me = self.me.lock().expect("daemon record poisoned").clone();
        Ok(me
            .map(|mut me| {
                // It answers, so it is alive now.
                if me.stopped_at.is_none() {
                    me.heartbeat_at = Utc::now();
                }
                me
            })
            .into_iter()
            .collect())
    }

    pub(in crate::store) async fn take_rate_token(
        &self,
        _rate: f64,
        _burst: u32,
    ) -> Result<Duration, StoreError> {
        Ok(Duration::ZERO)
    }
}
