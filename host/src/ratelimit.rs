//! Rate limiting: one decision per request over every scope that applies (global, tenant, user,
//! client IP, route key), with two interchangeable backends ([`Limiter`]):
//!
//! - in-process ([`memory::MemoryLimiter`]), the embedded default;
//! - Redis ([`redis::RedisLimiter`]), shared by every instance, whenever `REDIS_URL` is set: one
//!   Lua script call per request checks all scopes at once, with Redis's clock.
//!
//! The algorithm is the sliding-window counter (Cloudflare's): each scope keeps the count of the
//! current fixed window and of the previous one, and the estimate
//! `previous × (1 − elapsed / window) + current` must stay within the limit. A request is charged to
//! its scopes only when every one of them allows it; a rejected request is not counted, so a client
//! that keeps retrying is never locked out. Memory per key is three integers (about 88 bytes in a
//! Redis hash; about 100 bytes in-process), and a key expires two windows after its last use.
//!
//! The estimate assumes requests were spread evenly over the previous window, so at a window edge
//! it may admit up to `limit × (1 + 1/limit)`-ish more or fewer than an exact log would; the tests
//! bound the burst across an edge.
//!
//! The request side (scopes per route, headers, 429, fail-open) is [`layer`]; unauthenticated
//! requests also count against a per-IP scope of their own, before the global one. [`throttle`]
//! budgets failed attempts at secrets (logins per account, operator tokens per IP). [`breaker`]
//! stops waiting on a dead Redis.

pub mod breaker;
pub mod config;
mod headers;
pub mod layer;
pub mod memory;
pub mod redis;
pub mod throttle;

pub use config::RateLimitConfig;
pub use headers::RateHeaders;
pub use layer::{Admitted, KeyBy, RouteLimit, RouteLimiter};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One scope a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Bounded name for headers and metrics: `global`, `tenant`, `user`, `ip`, or a route key.
    pub name: &'static str,
    /// The counter's identity within the scope (tenant id, client IP, …; `all` for the global one).
    pub key: ScopeKey,
    pub limit: u64,
    pub window: Duration,
}

/// A counter's key. The keys every request has (a client address, a tenant or user id, `all`)
/// fit in [`ScopeKey::INLINE`] bytes and are kept inline, so deciding on a request allocates
/// nothing; a longer key (an email a failure throttle counts) is kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKey {
    Inline(arrayvec::ArrayString<{ ScopeKey::INLINE }>),
    Text(std::borrow::Cow<'static, str>),
}

impl ScopeKey {
    /// Room for a hyphenated UUID (36 bytes) and for an IPv6 /64 network.
    pub const INLINE: usize = 40;
}

impl std::ops::Deref for ScopeKey {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Self::Inline(key) => key,
            Self::Text(key) => key,
        }
    }
}

impl std::fmt::Display for ScopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&str> for ScopeKey {
    fn from(key: &str) -> Self {
        arrayvec::ArrayString::from(key).map_or_else(|_| Self::Text(key.to_owned().into()), Self::Inline)
    }
}

impl From<String> for ScopeKey {
    fn from(key: String) -> Self {
        match arrayvec::ArrayString::from(&key) {
            Ok(inline) => Self::Inline(inline),
            Err(_) => Self::Text(key.into()),
        }
    }
}

/// The state of one scope after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeState {
    pub limit: u64,
    /// Requests still allowed now (0 when refused).
    pub remaining: u64,
    /// Until the current window ends (when the count resets).
    pub reset_after: Duration,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Index into the scopes of the first scope that refused.
    pub refused_by: Option<usize>,
    /// After a refusal: how long until the refusing scope would admit one more request.
    pub retry_after: Duration,
    /// One per scope, in order (a request has at most four: inline, no allocation).
    pub scopes: smallvec::SmallVec<[ScopeState; 4]>,
}

/// A limiter backend failed (Redis down or slow); the caller decides whether to fail open.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter backend: {0}")]
pub struct LimiterError(pub String);

/// Either backend.
pub enum Limiter {
    Memory(memory::MemoryLimiter),
    Redis(redis::RedisLimiter),
}

impl Limiter {
    /// Checks every scope and charges them all if, and only if, all allow it.
    pub async fn check(&self, scopes: &[Scope]) -> Result<Decision, LimiterError> {
        match self {
            Self::Memory(m) => Ok(m.check(scopes)),
            Self::Redis(r) => r.check(scopes).await,
        }
    }

    /// What [`Limiter::check`] would decide now, charging nothing (for failure throttles, which
    /// look before an attempt and charge only a failed one).
    pub async fn peek(&self, scopes: &[Scope]) -> Result<Decision, LimiterError> {
        match self {
            Self::Memory(m) => Ok(m.peek(scopes)),
            Self::Redis(r) => r.peek(scopes).await,
        }
    }
}

/// Wall-clock milliseconds, as the limiter counts them (windows start on the same boundaries as
/// Redis's `TIME`).
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Sliding-window arithmetic shared by both backends (the Lua script mirrors it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Index of the current fixed window (now / window).
    pub(crate) index: u64,
    pub(crate) current: u64,
    pub(crate) previous: u64,
}

impl Window {
    /// The window rolled forward to `index`.
    pub(crate) fn at(self, index: u64) -> Self {
        match index.checked_sub(self.index) {
            Some(0) => self,
            Some(1) => Self { index, current: 0, previous: self.current },
            _ => Self { index, current: 0, previous: 0 },
        }
    }

    /// Estimated requests in the sliding window ending at `elapsed` into the current window.
    pub(crate) fn estimate(&self, elapsed_ms: u64, window_ms: u64) -> f64 {
        let weight = (window_ms - elapsed_ms.min(window_ms)) as f64 / window_ms as f64;
        self.previous as f64 * weight + self.current as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_roll_and_weigh_the_previous_one() {
        let w = Window { index: 10, current: 8, previous: 4 };
        assert_eq!(w.at(10), w);
        assert_eq!(w.at(11), Window { index: 11, current: 0, previous: 8 });
        assert_eq!(w.at(13), Window { index: 13, current: 0, previous: 0 });
        assert_eq!(w.estimate(0, 1000), 12.0);
        assert_eq!(w.estimate(500, 1000), 10.0);
        assert_eq!(w.estimate(1000, 1000), 8.0);
    }
}
