//! The rate-limit fields every limited answer carries: `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds) for the scope closest to its limit,
//! `X-RateLimit-Tenant` when a tenant is known, and the IETF `RateLimit-Policy` / `RateLimit`
//! fields. They are worked out when the request is decided and written onto its answer.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::{Decision, Scope};

/// The fields of one answer.
pub struct RateHeaders {
    limit: HeaderValue,
    remaining: HeaderValue,
    reset: HeaderValue,
    tenant: Option<HeaderValue>,
    policy: Option<HeaderValue>,
    current: Option<HeaderValue>,
}

impl RateHeaders {
    /// Reports the refusing scope, or else the one with the fewest requests left. `policy` is
    /// the scopes' `RateLimit-Policy` ([`policy`]); `limit(i)` is scope `i`'s quota as a field
    /// value, if it was worked out beforehand ([`constant`]).
    pub(super) fn new(
        scopes: &[Scope],
        d: &Decision,
        refused: Option<usize>,
        tenant: Option<&str>,
        policy: Option<HeaderValue>,
        limit: impl FnOnce(usize) -> Option<HeaderValue>,
        now_ms: u64,
    ) -> Self {
        let i = refused.unwrap_or_else(|| (0..scopes.len()).min_by_key(|&i| d.scopes[i].remaining).unwrap_or(0));
        let state = d.scopes[i];
        // Every value written into one buffer, each field a slice of it: one allocation instead
        // of one per field, and no formatting machinery.
        let mut text = Vec::with_capacity(96 + tenant.map_or(0, str::len));
        let mut digits = itoa::Buffer::new();
        let field = |text: &mut Vec<u8>, parts: &[&[u8]]| {
            let start = text.len();
            parts.iter().for_each(|part| text.extend_from_slice(part));
            start..text.len()
        };
        let known_limit = limit(i).filter(|_| state.limit == scopes[i].limit);
        let limit = known_limit.is_none().then(|| field(&mut text, &[digits.format(state.limit).as_bytes()]));
        let remaining = field(&mut text, &[digits.format(state.remaining).as_bytes()]);
        let reset = field(&mut text, &[digits.format(epoch_secs_after(now_ms, state.reset_after)).as_bytes()]);
        // `"<scope>";r=<remaining>;t=<seconds>`
        let mut seconds = itoa::Buffer::new();
        let current = field(
            &mut text,
            &[
                b"\"",
                scopes[i].name.as_bytes(),
                b"\";r=",
                digits.format(state.remaining).as_bytes(),
                b";t=",
                seconds.format(ceil_secs(state.reset_after)).as_bytes(),
            ],
        );
        let tenant = tenant.map(|t| field(&mut text, &[t.as_bytes()]));
        let text = Bytes::from(text);
        let value = |range: std::ops::Range<usize>| HeaderValue::from_maybe_shared(text.slice(range)).ok();
        Self {
            limit: known_limit.or_else(|| limit.and_then(value)).unwrap_or(HeaderValue::from_static("0")),
            remaining: value(remaining).unwrap_or(HeaderValue::from_static("0")),
            reset: value(reset).unwrap_or(HeaderValue::from_static("0")),
            tenant: tenant.and_then(value),
            policy,
            current: value(current),
        }
    }

    /// Writes the fields onto an answer's headers.
    pub fn apply(self, headers: &mut HeaderMap) {
        headers.reserve(6);
        headers.insert(X_RATELIMIT_LIMIT, self.limit);
        headers.insert(X_RATELIMIT_REMAINING, self.remaining);
        headers.insert(X_RATELIMIT_RESET, self.reset);
        for (name, value) in
            [(X_RATELIMIT_TENANT, self.tenant), (RATELIMIT_POLICY, self.policy), (RATELIMIT, self.current)]
        {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
    }
}

/// `RateLimit-Policy` for `scopes`: each scope's name, quota and window. It depends only on
/// those, so the rate-limit layer works it out for each combination of scopes a route can have
/// when the route table is built.
pub(super) fn policy(scopes: &[Scope]) -> Option<HeaderValue> {
    let mut policy = String::with_capacity(32 * scopes.len());
    for s in scopes {
        let sep = if policy.is_empty() { "" } else { ", " };
        let _ = write!(policy, "{sep}\"{}\";q={};w={}", s.name, s.limit, s.window.as_secs());
    }
    constant(policy)
}

/// `text` as a field value that is copied without counting references: a value shared by every
/// answer of a route (a policy, a quota) counted its references on every answer (an atomic add
/// and subtract, each worth many plain instructions, and dearer when other cores change it too).
/// Each distinct text is kept for the life of the process (they come from the configuration: a
/// few dozen at most), so the value is `'static`.
pub(super) fn constant(text: String) -> Option<HeaderValue> {
    static KEPT: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    HeaderValue::from_str(&text).ok()?;
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let text = match kept.get(text.as_str()) {
        Some(text) => *text,
        None => {
            let text: &'static str = Box::leak(text.into_boxed_str());
            kept.insert(text);
            text
        }
    };
    Some(HeaderValue::from_static(text))
}

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const X_RATELIMIT_TENANT: HeaderName = HeaderName::from_static("x-ratelimit-tenant");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// When `after` from now is, in whole epoch seconds (rounded up).
pub(crate) fn epoch_secs(after: Duration) -> u64 {
    epoch_secs_after(super::epoch_millis(SystemTime::now()), after)
}

/// When `after` from `now_ms` (epoch milliseconds) is, in whole epoch seconds (rounded up).
pub(crate) fn epoch_secs_after(now_ms: u64, after: Duration) -> u64 {
    (now_ms + after.as_millis() as u64).div_ceil(1000)
}

/// `after` in whole seconds, rounded up.
fn ceil_secs(after: Duration) -> u64 {
    after.as_secs() + u64::from(after.subsec_nanos() > 0)
}

/// Whole seconds to wait, at least one.
pub(crate) fn retry_secs(after: Duration) -> u64 {
    ceil_secs(after).max(1)
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
            scopes: smallvec::smallvec![state(1000, 990, 30_000), state(100, 7, 12_001)],
        };
        let before = epoch_secs(Duration::ZERO);
        let mut headers = HeaderMap::new();
        let now = crate::ratelimit::epoch_millis(SystemTime::now());
        RateHeaders::new(&scopes, &decision, None, Some("t-1"), policy(&scopes), |_| None, now).apply(&mut headers);
        let text = |name: &str| headers[name].to_str().unwrap().to_owned();
        assert_eq!(text("x-ratelimit-limit"), "100");
        assert_eq!(text("x-ratelimit-remaining"), "7");
        let reset: u64 = text("x-ratelimit-reset").parse().unwrap();
        assert!((before + 12..=before + 14).contains(&reset), "{reset} is about 12 s after {before}");
        assert_eq!(text("x-ratelimit-tenant"), "t-1");
        assert_eq!(text("ratelimit-policy"), "\"global\";q=1000;w=60, \"tenant\";q=100;w=60");
        assert_eq!(text("ratelimit"), "\"tenant\";r=7;t=13");

        // A quota worked out beforehand is used when it is the scope's; a decision that reports
        // another quota (a Redis script configured elsewhere) is reported as it is.
        let known = |_| constant("100".to_owned());
        let mut headers = HeaderMap::new();
        RateHeaders::new(&scopes, &decision, None, None, None, known, now).apply(&mut headers);
        assert_eq!(headers["x-ratelimit-limit"], "100");
        let mut other = decision.clone();
        other.scopes[1].limit = 50;
        let mut headers = HeaderMap::new();
        RateHeaders::new(&scopes, &other, None, None, None, known, now).apply(&mut headers);
        assert_eq!(headers["x-ratelimit-limit"], "50");
        assert!(headers.get("x-ratelimit-tenant").is_none() && headers.get("ratelimit-policy").is_none());
    }

    #[test]
    fn constant_values_are_kept_once_and_checked() {
        let a = constant("\"global\";q=1000;w=60".to_owned()).unwrap();
        let b = constant("\"global\";q=1000;w=60".to_owned()).unwrap();
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr(), "one copy of each text");
        assert!(constant("line\nbreak".to_owned()).is_none(), "not a field value");
    }
}
