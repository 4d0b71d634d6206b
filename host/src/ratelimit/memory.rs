//! The in-process backend: the same sliding-window counters in a map behind one lock (a decision
//! takes well under a microsecond, so one lock is not a bottleneck at the request rates one
//! process sees). Keys unused for two windows are swept as the map grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Decision, Scope, ScopeState, Window};

struct Entry {
    window: Window,
    window_ms: u64,
}

/// Counters of one process.
pub struct MemoryLimiter {
    /// Counters, the size that triggers the next sweep, and when the last sweep ran.
    entries: Mutex<(HashMap<String, Entry>, usize, u64)>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self { entries: Mutex::new((HashMap::new(), 1024, 0)) }
    }
}

impl MemoryLimiter {
    /// Wall-clock milliseconds, so windows start on the same boundaries as Redis's (`TIME`).
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// Decides for `scopes` at the current time.
    pub fn check(&self, scopes: &[Scope]) -> Decision {
        self.check_at(scopes, self.now_ms())
    }

    /// Decides at `now_ms` (tests drive the clock).
    pub fn check_at(&self, scopes: &[Scope], now_ms: u64) -> Decision {
        self.decide_at(scopes, now_ms, true)
    }

    /// What [`MemoryLimiter::check`] would decide, charging nothing.
    pub fn peek(&self, scopes: &[Scope]) -> Decision {
        self.decide_at(scopes, self.now_ms(), false)
    }

    fn decide_at(&self, scopes: &[Scope], now_ms: u64, charge: bool) -> Decision {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, sweep_at, last_sweep) = &mut *guard;
        let mut states = Vec::with_capacity(scopes.len());
        let mut refused_by = None;
        let mut retry_after = Duration::ZERO;
        let mut windows = Vec::with_capacity(scopes.len());
        for (i, scope) in scopes.iter().enumerate() {
            let key = key(scope);
            let window_ms = (scope.window.as_millis() as u64).max(1);
            let index = now_ms / window_ms;
            let elapsed = now_ms - index * window_ms;
            let window = map.get(&key).map_or(Window { index, ..Window::default() }, |e| e.window).at(index);
            let estimate = window.estimate(elapsed, window_ms);
            let reset_after = Duration::from_millis(window_ms - elapsed);
            if estimate + 1.0 > scope.limit as f64 && refused_by.is_none() {
                refused_by = Some(i);
                retry_after = retry_delay(window, elapsed, window_ms, scope.limit);
            }
            states.push(ScopeState {
                limit: scope.limit,
                remaining: (scope.limit as f64 - estimate - 1.0).max(0.0).floor() as u64,
                reset_after,
            });
            windows.push((key, window, window_ms));
        }
        if refused_by.is_none() && charge {
            for (key, mut window, window_ms) in windows {
                window.current += 1;
                map.insert(key, Entry { window, window_ms });
            }
            // Sweep when the map has doubled since the last sweep, or every SWEEP_EVERY_MS: keys
            // idle for two windows carry no information any more.
            if map.len() >= *sweep_at || now_ms.saturating_sub(*last_sweep) >= SWEEP_EVERY_MS {
                map.retain(|_, e| now_ms / e.window_ms <= e.window.index + 1);
                *sweep_at = (map.len() * 2).max(1024);
                *last_sweep = now_ms;
            }
        } else if let Some(i) = refused_by {
            states[i].remaining = 0;
        }
        Decision { allowed: refused_by.is_none(), refused_by, retry_after, scopes: states }
    }

    /// Keys held (for tests and the memory bound).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Longest time between sweeps of idle keys.
const SWEEP_EVERY_MS: u64 = 10_000;

fn key(scope: &Scope) -> String {
    format!("{}:{}:{}", scope.name, scope.window.as_millis(), scope.key)
}

/// How long until one more request fits: the end of the window, or sooner when the previous
/// window's weight decays enough.
fn retry_delay(window: Window, elapsed: u64, window_ms: u64, limit: u64) -> Duration {
    let mut retry = window_ms - elapsed;
    if window.previous > 0 && window.current < limit {
        let excess = window.estimate(elapsed, window_ms) + 1.0 - limit as f64;
        let decay = (excess * window_ms as f64 / window.previous as f64).ceil() as u64;
        retry = retry.min(decay.max(1));
    }
    Duration::from_millis(retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(name: &'static str, key: &str, limit: u64) -> Scope {
        Scope { name, key: key.into(), limit, window: Duration::from_secs(1) }
    }

    #[test]
    fn exactly_the_limit_then_refusals_that_do_not_count() {
        let limiter = MemoryLimiter::default();
        let s = [scope("tenant", "a", 5)];
        let allowed = (0..20).filter(|_| limiter.check_at(&s, 100).allowed).count();
        assert_eq!(allowed, 5);
        let d = limiter.check_at(&s, 100);
        assert_eq!(d.refused_by, Some(0));
        assert_eq!(d.scopes[0].remaining, 0);
        // Refusals were not counted: in the next window the previous count is 5, not 20.
        assert!(limiter.check_at(&s, 1999).allowed, "nearly a full window later one fits again");
    }

    #[test]
    fn a_refusing_scope_charges_no_other() {
        let limiter = MemoryLimiter::default();
        let tight = [scope("global", "all", 100), scope("user", "u1", 1)];
        assert!(limiter.check_at(&tight, 0).allowed);
        for _ in 0..10 {
            assert!(!limiter.check_at(&tight, 0).allowed);
        }
        // The global scope was charged once, not eleven times.
        let d = limiter.check_at(&[scope("global", "all", 100)], 0);
        assert_eq!(d.scopes[0].remaining, 100 - 2);
    }

    #[test]
    fn peeking_charges_nothing() {
        let limiter = MemoryLimiter::default();
        let s = [scope("failures", "a", 2)];
        for _ in 0..10 {
            assert!(limiter.peek(&s).allowed);
        }
        limiter.check(&s);
        limiter.check(&s);
        assert!(!limiter.peek(&s).allowed, "two charges fill a limit of two");
    }

    #[test]
    fn idle_keys_are_swept() {
        let limiter = MemoryLimiter::default();
        for i in 0..5000 {
            limiter.check_at(&[scope("ip", &i.to_string(), 10)], 0);
        }
        limiter.check_at(&[scope("ip", "late", 10)], 10_000);
        assert_eq!(limiter.len(), 1, "only the key used in the current window is kept");
    }
}
