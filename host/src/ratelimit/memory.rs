//! The in-process backend: the same sliding-window counters in one table behind one lock (a
//! decision takes well under a microsecond, so one lock is not a bottleneck at the request rates
//! one process sees). Keys unused for two windows are swept as the table grows.
//!
//! A counter is found by its scope's name and window and its key, hashed once per decision and
//! compared borrowed: deciding on known keys allocates nothing, and charging updates a known
//! counter where the decision found it (no second lookup) and inserts new ones by the same hash.
//! The table hashes with foldhash (seeded per process, so keys a client chooses cannot be aimed
//! at one bucket): SipHash, the standard library's, was the largest single cost of a decision,
//! and a map per scope cost a second lookup per scope and charge.

use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use hashbrown::HashTable;
use smallvec::SmallVec;

use super::{Decision, Scope, ScopeState, Window};

/// One counter: its scope (name and window in milliseconds), key and window.
struct Counter {
    name: &'static str,
    window_ms: u64,
    key: Box<str>,
    window: Window,
}

impl Counter {
    fn is(&self, name: &str, window_ms: u64, key: &str) -> bool {
        // Scope names are constants, so the same name is nearly always the same pointer.
        self.window_ms == window_ms && (std::ptr::eq(self.name, name) || self.name == name) && *self.key == *key
    }
}

/// Every counter of the process.
#[derive(Default)]
struct Counters {
    table: HashTable<Counter>,
    hasher: foldhash::fast::RandomState,
}

impl Counters {
    fn hash(&self, name: &str, window_ms: u64, key: &str) -> u64 {
        self.hasher.hash_one((name, window_ms, key))
    }

    /// The counter's place in the table and its window.
    fn get(&self, hash: u64, scope: &Scope, window_ms: u64) -> Option<(usize, Window)> {
        let index = self.table.find_bucket_index(hash, |c| c.is(scope.name, window_ms, &scope.key))?;
        self.table.get_bucket(index).map(|c| (index, c.window))
    }

    /// Stores the window of a counter found at `index` (places hold until something is inserted).
    fn set(&mut self, index: usize, window: Window) {
        if let Some(counter) = self.table.get_bucket_mut(index) {
            counter.window = window;
        }
    }

    /// Stores the window of a counter [`Counters::get`] did not find (found now if an earlier
    /// scope of the same decision inserted it).
    fn charge(&mut self, hash: u64, scope: &Scope, window: Window, window_ms: u64) {
        match self.table.find_mut(hash, |c| c.is(scope.name, window_ms, &scope.key)) {
            Some(counter) => counter.window = window,
            None => {
                let counter = Counter { name: scope.name, window_ms, key: Box::from(&*scope.key), window };
                let hasher = &self.hasher;
                self.table.insert_unique(hash, counter, |c| hasher.hash_one((c.name, c.window_ms, &*c.key)));
            }
        }
    }

    fn sweep(&mut self, now_ms: u64) {
        self.table.retain(|c| now_ms / c.window_ms <= c.window.index + 1);
    }

    fn len(&self) -> usize {
        self.table.len()
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
    fn now_ms(&self) -> u64 {
        super::epoch_millis(std::time::SystemTime::now())
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
        self.peek_at(scopes, self.now_ms())
    }

    /// [`MemoryLimiter::peek`] at `now_ms`.
    pub fn peek_at(&self, scopes: &[Scope], now_ms: u64) -> Decision {
        self.decide_at(scopes, now_ms, false)
    }

    fn decide_at(&self, scopes: &[Scope], now_ms: u64, charge: bool) -> Decision {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, sweep_at, last_sweep) = &mut *guard;
        let mut states: SmallVec<[ScopeState; 4]> = SmallVec::with_capacity(scopes.len());
        let mut refused_by = None;
        let mut retry_after = Duration::ZERO;
        // Each scope's window, hash and place in the table, found once: charging reuses them.
        let mut windows: SmallVec<[Found; 4]> = SmallVec::with_capacity(scopes.len());
        for (i, scope) in scopes.iter().enumerate() {
            let window_ms = (scope.window.as_millis() as u64).max(1);
            let index = now_ms / window_ms;
            let hash = map.hash(scope.name, window_ms, &scope.key);
            let found = map.get(hash, scope, window_ms);
            let window = found.map_or(Window { index, ..Window::default() }, |(_, w)| w).at(index);
            let elapsed = now_ms - index * window_ms;
            windows.push(Found { window, window_ms, hash, place: found.map(|(place, _)| place) });
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
            // Known counters first, by place; new ones after, as an insert may move every place.
            for found in &windows {
                if let Some(place) = found.place {
                    map.set(place, found.charged());
                }
            }
            for (scope, found) in scopes.iter().zip(&windows) {
                if found.place.is_none() {
                    map.charge(found.hash, scope, found.charged(), found.window_ms);
                }
            }
            // Sweep when the table has doubled since the last sweep, or every SWEEP_EVERY_MS:
            // keys idle for two windows carry no information any more.
            if map.len() >= *sweep_at || now_ms.saturating_sub(*last_sweep) >= SWEEP_EVERY_MS {
                map.sweep(now_ms);
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

/// A scope's counter as a decision found it: its window, window length, hash and place in the
/// table (`None`: not there yet).
struct Found {
    window: Window,
    window_ms: u64,
    hash: u64,
    place: Option<usize>,
}

impl Found {
    /// Its window with this request counted.
    fn charged(&self) -> Window {
        Window { current: self.window.current + 1, ..self.window }
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
    fn known_and_new_counters_in_one_decision_are_each_charged_once() {
        let limiter = MemoryLimiter::default();
        let global = scope("global", "all", 10_000);
        // Each decision charges the known global counter by its place and inserts a new one
        // after it (the table grows several times on the way: places must not go stale).
        for i in 0..500 {
            let client = scope("anonymous", &format!("10.0.{}.{}", i / 256, i % 256), 5);
            let order = if i % 2 == 0 { [global.clone(), client.clone()] } else { [client.clone(), global.clone()] };
            assert!(limiter.check_at(&order, 0).allowed);
            assert_eq!(limiter.peek_at(&[client], 0).scopes[0].remaining, 5 - 1 - 1, "charged once");
        }
        assert_eq!(limiter.peek_at(std::slice::from_ref(&global), 0).scopes[0].remaining, 10_000 - 500 - 1);
        // The same counter twice in one decision is charged once, as before.
        assert!(limiter.check_at(&[global.clone(), global.clone()], 0).allowed);
        assert_eq!(limiter.peek_at(&[global], 0).scopes[0].remaining, 10_000 - 501 - 1);
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
