//! Time as a dependency.
//!
//! Everything in Machinist that reasons about wall-clock time (the simulator's
//! machine transitions, utilization accrual, and later job scheduling) asks a
//! [`Clock`] instead of calling `Utc::now()`, so that tests can move time by
//! hand and never sleep to wait for it.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// Shared so that a test keeps a handle while the code under test holds another.
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock lock poisoned");
        *now += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().expect("clock lock poisoned") = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock poisoned")
    }
}

/// The system clock moved by an offset that someone keeps up to date: the
/// clock of daemons that share a database, set at every heartbeat to the
/// database's clock (`daemon/leader.rs`), so that leases and due times mean
/// the same instant on every host whatever their own clocks say.
#[derive(Debug, Default)]
pub struct OffsetClock {
    /// Milliseconds to add to the system clock.
    offset_ms: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    /// From now on, the system clock plus `offset`.
    pub fn set_offset(&self, offset: Duration) {
        self.offset_ms.store(
            offset.num_milliseconds(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The offset in force.
    pub fn offset(&self) -> Duration {
        Duration::milliseconds(self.offset_ms.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

/// The clock type passed around the crate.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_is_the_system_clock_moved() {
        let clock = OffsetClock::default();
        let before = Utc::now();
        assert!(clock.now() >= before && clock.now() - before < Duration::seconds(5));
        clock.set_offset(Duration::hours(-1));
        assert_eq!(clock.offset(), Duration::hours(-1));
        let behind = before - clock.now();
        assert!(behind > Duration::minutes(59) && behind <= Duration::hours(1));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        let shared: SharedClock = Arc::new(clock.clone());
        assert_eq!(shared.now(), start);
        clock.advance(Duration::minutes(90));
        assert_eq!(shared.now(), start + Duration::minutes(90));
        clock.set(start);
        assert_eq!(shared.now(), start);
    }
}
