//! The in-process backend: the same sliding-window counters in a map behind one lock (a decision
//! takes well under a microsecond, so one lock is not a bottleneck at the request rates one
//! process sees). Keys unused for two windows are swept as the map grows.
//!
//! Counters are found by scope (name and window) and then by key, borrowed: a decision on known
//! keys allocates nothing, and a counter is updated in place. The maps hash with foldhash
//! (seeded per process, so keys a client chooses cannot be aimed at one bucket): SipHash, the
//! standard library's, was the largest single cost of a decision.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{Decision, Scope, ScopeState, Window};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Counters by scope (its name and window in milliseconds), then by key.
#[derive(Default)]
struct Counters {
    scopes: Map<(&'static str, u64), Map<Box<str>, Window>>,
    /// Keys held in all scopes.
    len: usize,
}

impl Counters {
    fn get(&self, scope: &Scope, window_ms: u64) -> Option<Window> {
        self.scopes.get(&(scope.name, window_ms))?.get(scope.key.as_ref()).copied()
    }

    fn charge(&mut self, scope: &Scope, window: Window, window_ms: u64) {
        let keys = self.scopes.entry((scope.name, window_ms)).or_default();
        match keys.get_mut(scope.key.as_ref()) {
            Some(entry) => *entry = window,
            None => {
                keys.insert(scope.key.as_ref().into(), window);
                self.len += 1;
            }
        }
    }

    fn sweep(&mut self, now_ms: u64) {
        for ((_, window_ms), keys) in &mut self.scopes {
            keys.retain(|_, window| now_ms / *window_ms <= window.index + 1);
        }
        self.scopes.retain(|_, keys| !keys.is_empty());
        self.len = self.scopes.values().map(Map::len).sum();
    }
}

/// Counters of one process.
pub struct MemoryLimiter {
    /// Counters, the size that triggers the next sweep, and when the last sweep ran.
    entries: Mutex<(Counters, usize, u64)>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self { entries: Mutex::new((Counters::default(), 1024, 0)) }
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
        // Each scope's window, looked up once: charging reuses it.
        let mut windows = Vec::with_capacity(scopes.len());
        for (i, scope) in scopes.iter().enumerate() {
            let window_ms = (scope.window.as_millis() as u64).max(1);
            let index = now_ms / window_ms;
            let window = map.get(scope, window_ms).unwrap_or(Window { index, ..Window::default() }).at(index);
            let elapsed = now_ms - index * window_ms;
            windows.push((window, window_ms));
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
        }
        if refused_by.is_none() && charge {
            for (scope, (mut window, window_ms)) in scopes.iter().zip(windows) {
                window.current += 1;
                map.charge(scope, window, window_ms);
            }
            // Sweep when the map has doubled since the last sweep, or every SWEEP_EVERY_MS: keys
            // idle for two windows carry no information any more.
            if map.len >= *sweep_at || now_ms.saturating_sub(*last_sweep) >= SWEEP_EVERY_MS {
                map.sweep(now_ms);
                *sweep_at = (map.len * 2).max(1024);
                *last_sweep = now_ms;
            }
        } else if let Some(i) = refused_by {
            states[i].remaining = 0;
        }
        Decision { allowed: refused_by.is_none(), refused_by, retry_after, scopes: states }
    }

    /// Keys held (for tests and the memory bound).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).0.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Longest time between sweeps of idle keys.
const SWEEP_EVERY_MS: u64 = 10_000;

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
        Scope { name, key: key.to_owned().into(), limit, window: Duration::from_secs(1) }
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
