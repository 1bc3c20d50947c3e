//! Utilization: what utilization jobs pulled from Paperspace and what the
//! meter worked out, kept per (machine, month, source) for reports and
//! savings: the rows every driver answers (the operations:
//! `handle/reports.rs`).

use sqlx::FromRow;

/// Utilization as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, FromRow)]
pub struct UtilizationRow {
    /// The machine billed.
    pub machine_id: String,
    /// The billing month, `YYYY-MM`.
    pub month: String,
    /// Where the figures come from: [`UtilizationRow::PAPERSPACE`] (a
    /// utilization pull) or [`UtilizationRow::METER`] (the meter).
    pub source: String,
    /// Seconds the machine ran that month.
    pub seconds_used: i64,
    /// Its price per running hour.
    pub hourly_rate: f64,
    /// Seconds of storage billed that month.
    pub storage_seconds: i64,
    /// The storage's monthly price.
    pub monthly_rate: f64,
    /// When it was pulled, in Unix milliseconds.
    pub pulled_at: i64,
}

impl UtilizationRow {
    /// The source of rows a utilization pull wrote: Paperspace's own figures.
    pub const PAPERSPACE: &str = "paperspace";
    /// The source of rows the meter wrote.
    pub const METER: &str = "meter";
}
