//! A circuit breaker in front of the limiter backend: after a few failures in a row it stops
//! asking a dead Redis for a while (requests fail open at once instead of waiting out the
//! decision budget each), then lets one request probe, and closes again when one succeeds.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Failures in a row that open the breaker.
pub const TRIP_AFTER: u32 = 3;
/// How long it stays open before a probe.
pub const OPEN_FOR: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Breaker {
    /// Whether to ask the backend now. While open, only the first caller after `OPEN_FOR` gets
    /// through (the probe); everyone else is told no.
    pub fn allow(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        // The probe: move the deadline forward so concurrent callers keep failing open.
        now >= until
            && self
                .open_until_ms
                .compare_exchange(until, now + OPEN_FOR.as_millis() as u64, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until_ms.store(0, Ordering::Release);
    }

    pub fn failure(&self) {
        if self.failures.fetch_add(1, Ordering::AcqRel) + 1 >= TRIP_AFTER {
            self.open_until_ms.store(now_ms() + OPEN_FOR.as_millis() as u64, Ordering::Release);
        }
    }

    /// Whether it is open (for tests and metrics).
    pub fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_probes_and_closes() {
        let b = Breaker::default();
        assert!(b.allow());
        for _ in 0..TRIP_AFTER {
            b.failure();
        }
        assert!(b.is_open());
        assert!(!b.allow(), "open: no calls");
        std::thread::sleep(OPEN_FOR + Duration::from_millis(20));
        assert!(b.allow(), "one probe after the pause");
        assert!(!b.allow(), "only one");
        b.success();
        assert!(!b.is_open());
        assert!(b.allow());
    }
}
