//! How long a job waits before trying again after a transient error.

use std::time::Duration;

use rand::RngExt;

/// Exponential backoff with full jitter, capped, never shorter than what the
/// API asked for with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay.
    pub base: Duration,
    /// No delay exceeds this (except a longer `Retry-After`).
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `attempt + 1`, after `attempt` (≥ 1) failed.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)));
        let ceiling = exp.min(self.max);
        // Full jitter, but at least half the ceiling so a retry is never immediate.
        let half = ceiling / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::rng().random_range(0..=half.as_nanos() as u64))
        };
        (half + jitter).max(retry_after.unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_honours_retry_after() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        for _ in 0..200 {
            let d1 = b.delay(1, None);
            assert!(
                d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1),
                "{d1:?}"
            );
            let d4 = b.delay(4, None);
            assert!(
                d4 >= Duration::from_secs(4) && d4 <= Duration::from_secs(8),
                "{d4:?}"
            );
            let d30 = b.delay(30, None);
            assert!(
                d30 >= Duration::from_secs(30) && d30 <= Duration::from_secs(60),
                "{d30:?}"
            );
            assert_eq!(
                b.delay(u32::MAX, None).max(Duration::from_secs(60)),
                Duration::from_secs(60)
            );
            assert!(b.delay(1, Some(Duration::from_secs(120))) == Duration::from_secs(120));
        }
    }
}
