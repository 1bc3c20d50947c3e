//! Utilization in PostgreSQL: what utilization jobs pulled and what the
//! meter worked out, one row per (machine, month, source), written inside
//! a transaction (a job's step that pulled utilization saves it with its
//! result; the meter's own saves are `ops/reports.rs`).
//!
//! Each row is one upsert, which PostgreSQL makes atomic against another
//! daemon saving the same row: the later commit wins, as the later save
//! did in SQLite.

use chrono::{DateTime, Utc};

use super::tx::Tx;
use crate::machine::Utilization;
use crate::store::StoreError;
use crate::store::rows::to_ms;

/// Upserts utilization rows: one per (machine, month, source), the latest
/// save wins (as SQLite's `save_utilization`).
pub(super) async fn save_utilization(
    tx: &mut Tx,
    rows: &[Utilization],
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for u in rows {
        sqlx::query(
            "INSERT INTO utilization (machine_id, month, source, seconds_used, hourly_rate, \
             storage_seconds, monthly_rate, pulled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (machine_id, month, source) DO UPDATE SET \
             seconds_used = excluded.seconds_used, hourly_rate = excluded.hourly_rate, \
             storage_seconds = excluded.storage_seconds, monthly_rate = excluded.monthly_rate, \
             pulled_at = excluded.pulled_at",
        )
        .bind(&u.machine_id)
        .bind(u.billing_month.to_string())
        .bind(source)
        .bind(u.seconds_used as i64)
        .bind(u.hourly_rate)
        .bind(u.storage_seconds_used as i64)
        .bind(u.storage_monthly_rate)
        .bind(to_ms(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
