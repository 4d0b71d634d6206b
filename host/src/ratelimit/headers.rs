//! The rate-limit fields every limited answer carries: `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds) for the scope closest to its limit,
//! `X-RateLimit-Tenant` when a tenant is known, and the IETF `RateLimit-Policy` / `RateLimit`
//! fields. They are worked out when the request is decided and written onto its answer.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::{Decision, Scope};

/// The fields of one answer.
pub(super) struct RateHeaders {
    limit: u64,
    remaining: u64,
    reset: u64,
    tenant: Option<HeaderValue>,
    policy: Option<HeaderValue>,
    current: Option<HeaderValue>,
}

impl RateHeaders {
    /// Reports the refusing scope, or else the one with the fewest requests left.
    pub(super) fn new(scopes: &[Scope], d: &Decision, refused: Option<usize>, tenant: Option<&str>) -> Self {
        let i = refused.unwrap_or_else(|| (0..scopes.len()).min_by_key(|&i| d.scopes[i].remaining).unwrap_or(0));
        let state = d.scopes[i];
        // `"<scope>";r=<remaining>;t=<seconds>`, without the formatting machinery.
        let mut digits = itoa::Buffer::new();
        let mut current = String::with_capacity(48);
        current.push('"');
        current.push_str(scopes[i].name);
        current.push_str("\";r=");
        current.push_str(digits.format(state.remaining));
        current.push_str(";t=");
        current.push_str(digits.format(state.reset_after.as_secs_f64().ceil() as u64));
        Self {
            limit: state.limit,
            remaining: state.remaining,
            reset: epoch_secs(state.reset_after),
            tenant: tenant.and_then(|t| HeaderValue::from_str(t).ok()),
            policy: policy(scopes),
            current: HeaderValue::try_from(current).ok(),
        }
    }

    pub(super) fn apply(self, headers: &mut HeaderMap) {
        headers.reserve(6);
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(self.reset));
        for (name, value) in
            [(X_RATELIMIT_TENANT, self.tenant), (RATELIMIT_POLICY, self.policy), (RATELIMIT, self.current)]
        {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
    }
}

/// Scopes a request is decided in, at most (anonymous or tenant, global, the route's own).
const MAX_SCOPES: usize = 4;

/// What a `RateLimit-Policy` value is made of: each scope's name, limit and window.
type PolicyKey = [(&'static str, u64, u64); MAX_SCOPES];

/// `RateLimit-Policy` for `scopes`. It depends only on the scopes' names, limits and windows, a
/// handful of combinations per process, so each is formatted once and then cloned.
fn policy(scopes: &[Scope]) -> Option<HeaderValue> {
    type Policies = HashMap<PolicyKey, HeaderValue, foldhash::fast::RandomState>;
    static POLICIES: LazyLock<Mutex<Policies>> = LazyLock::new(Default::default);
    if scopes.len() > MAX_SCOPES {
        return format_policy(scopes);
    }
    let mut key: PolicyKey = [("", 0, 0); MAX_SCOPES];
    for (k, s) in key.iter_mut().zip(scopes) {
        *k = (s.name, s.limit, s.window.as_secs());
    }
    let mut cache = POLICIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(&key) {
        return Some(v.clone());
    }
    let value = format_policy(scopes)?;
    if cache.len() >= 256 {
        cache.clear();
    }
    cache.insert(key, value.clone());
    Some(value)
}

fn format_policy(scopes: &[Scope]) -> Option<HeaderValue> {
    let mut policy = String::with_capacity(32 * scopes.len());
    for s in scopes {
        let sep = if policy.is_empty() { "" } else { ", " };
        let _ = write!(policy, "{sep}\"{}\";q={};w={}", s.name, s.limit, s.window.as_secs());
    }
    HeaderValue::try_from(policy).ok()
}

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const X_RATELIMIT_TENANT: HeaderName = HeaderName::from_static("x-ratelimit-tenant");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// When `after` from now is, in whole epoch seconds (rounded up).
pub(crate) fn epoch_secs(after: Duration) -> u64 {
    (SystemTime::now() + after).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs_f64().ceil() as u64)
}

/// Whole seconds to wait, at least one.
pub(crate) fn retry_secs(after: Duration) -> u64 {
    after.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::ScopeState;

    #[test]
    fn every_field_of_the_scope_closest_to_its_limit() {
        let scope = |name, limit, secs| Scope { name, key: "k".into(), limit, window: Duration::from_secs(secs) };
        let scopes = [scope("global", 1000, 60), scope("tenant", 100, 60)];
        let state =
            |limit, remaining, reset_ms| ScopeState { limit, remaining, reset_after: Duration::from_millis(reset_ms) };
        let decision = Decision {
            allowed: true,
            refused_by: None,
            retry_after: Duration::ZERO,
            scopes: vec![state(1000, 990, 30_000), state(100, 7, 12_001)],
        };
        let before = epoch_secs(Duration::ZERO);
        let mut headers = HeaderMap::new();
        RateHeaders::new(&scopes, &decision, None, Some("t-1")).apply(&mut headers);
        let text = |name: &str| headers[name].to_str().unwrap().to_owned();
        assert_eq!(text("x-ratelimit-limit"), "100");
        assert_eq!(text("x-ratelimit-remaining"), "7");
        let reset: u64 = text("x-ratelimit-reset").parse().unwrap();
        assert!((before + 12..=before + 14).contains(&reset), "{reset} is about 12 s after {before}");
        assert_eq!(text("x-ratelimit-tenant"), "t-1");
        assert_eq!(text("ratelimit-policy"), "\"global\";q=1000;w=60, \"tenant\";q=100;w=60");
        assert_eq!(text("ratelimit"), "\"tenant\";r=7;t=13");
    }
}
