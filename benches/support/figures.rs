//! What the HTTP-level benchmarks print: percentiles of sorted latencies,
//! in milliseconds. Included by `http_load.rs` and `webhooks.rs` with
//! `#[path]` (each bench is a crate of its own).

use std::time::Duration;

/// The `p`-th (0..=1) of `sorted`, zero when there is none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `d` as `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
