//! Utilization in SQLite: what utilization jobs pulled and what the meter
//! worked out, one row per (machine, month, source), and its reads for
//! reports and savings.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::tx::{Effects, Reply, Tx, pending};
use crate::machine::Utilization;
use crate::store::StoreError;

/// Utilization to keep, with the channel the answer goes back on.
pub(super) struct SaveUtilization {
    /// What was pulled, one per (machine, month).
    pub(super) rows: Vec<Utilization>,
    /// Where it comes from: `UtilizationRow::PAPERSPACE` or `METER`.
    pub(super) source: &'static str,
    /// When it was pulled.
    pub(super) now: DateTime<Utc>,
    /// Where the answer goes after the commit.
    pub(super) reply: Reply<()>,
}

/// Applies a save in the batch's transaction; its answer goes into `fx.pending`.
pub(super) fn apply(
    tx: &Tx<'_>,
    save: SaveUtilization,
    fx: &mut Effects,
) -> Result<(), StoreError> {
    save_utilization(tx, &save.rows, save.source, save.now)?;
    fx.pending.push(pending(save.reply, ()));
    Ok(())
}

/// Upserts utilization rows: one per (machine, month, source), the latest
/// save wins.
pub(super) fn save_utilization(
    tx: &Tx<'_>,
    rows: &[Utilization],
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO utilization (machine_id, month, source, seconds_used, hourly_rate, storage_seconds, monthly_rate, pulled_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (machine_id, month, source) DO UPDATE SET \
         seconds_used = excluded.seconds_used, hourly_rate = excluded.hourly_rate, \
         storage_seconds = excluded.storage_seconds, monthly_rate = excluded.monthly_rate, \
         pulled_at = excluded.pulled_at",
    )?;
    for u in rows {
        upsert.execute(params![
            u.machine_id,
            u.billing_month.to_string(),
            source,
            u.seconds_used as i64,
            u.hourly_rate,
            u.storage_seconds_used as i64,
            u.storage_monthly_rate,
            crate::store::rows::to_ms(now),
        ])?;
    }
    Ok(())
}
