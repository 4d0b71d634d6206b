//! The rate-limit layer, applied route by route in the route table, so each route's own limit is
//! declared beside it ([`RouteLimit`]) and decided in the same single call as the global and
//! tenant limits.
//!
//! Every limited answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
//! (epoch seconds) for the scope closest to its limit, `X-RateLimit-Tenant` when a tenant is
//! known, and the IETF `RateLimit-Policy` / `RateLimit` fields. A refusal is 429 with
//! `Retry-After` and the seed's body `{"error": "<Scope> rate limit exceeded", "reset_at": …}`.
//! When the backend fails or takes longer than [`DECISION_BUDGET`], the request goes on
//! (fail-open, counted) unless its route is marked fail-closed (then 503).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Decision, Scope};
use crate::App;
use crate::error::ApiError;

/// Longest a decision may add to a request before it fails open.
pub const DECISION_BUDGET: Duration = Duration::from_millis(50);

/// What a route's own limit is keyed by.
#[derive(Debug, Clone, Copy)]
pub enum KeyBy {
    Tenant,
    User,
    Ip,
    /// A custom key from the request (None: the route limit does not apply to it).
    Custom(fn(&Request) -> Option<String>),
}

/// A route's own limit, declared in the route table.
#[derive(Debug, Clone, Copy)]
pub struct RouteLimit {
    pub name: &'static str,
    pub key_by: KeyBy,
    pub limit: u64,
    pub window: Duration,
    pub fail_closed: bool,
}

impl RouteLimit {
    pub const fn per_ip(name: &'static str, limit: u64, window_secs: u64) -> Self {
        Self { name, key_by: KeyBy::Ip, limit, window: Duration::from_secs(window_secs), fail_closed: false }
    }
    pub const fn per_tenant(name: &'static str, limit: u64, window_secs: u64) -> Self {
        Self { name, key_by: KeyBy::Tenant, limit, window: Duration::from_secs(window_secs), fail_closed: false }
    }
    pub const fn per_user(name: &'static str, limit: u64, window_secs: u64) -> Self {
        Self { name, key_by: KeyBy::User, limit, window: Duration::from_secs(window_secs), fail_closed: false }
    }
    /// Refuse (503) rather than allow when the limiter cannot decide (login).
    pub const fn fail_closed(mut self) -> Self {
        self.fail_closed = true;
        self
    }
}

/// Middleware state: the app and the route's own limit.
pub type LayerState = (Arc<App>, Option<RouteLimit>);

/// The middleware; see the module docs.
pub async fn rate_limit(State((app, route)): State<LayerState>, mut req: Request, next: Next) -> Response {
    let config = &app.config.ratelimit;
    if !config.rate_limit_enabled {
        return next.run(req).await;
    }
    let claims = crate::auth::Bearer::from_headers(req.headers()).token().and_then(|t| app.jwt.verify(t));
    let tenant = claims.as_ref().map(|c| c.tid.to_string());
    if let Some(c) = &claims {
        // Verified once: the handler's `AuthUser` extractor takes these instead of verifying again.
        req.extensions_mut().insert(crate::auth::VerifiedClaims(c.clone()));
    }
    let client = client_ip(req.extensions(), req.headers(), &app.trusted_proxies).map(client_key);
    let mut scopes = Vec::with_capacity(3);
    if claims.is_none() {
        // Unauthenticated traffic (401s included) first spends a budget of its own per client, so
        // no one address can drain the global budget that every tenant shares.
        if let Some(key) = client.clone() {
            scopes.push(Scope {
                name: "anonymous",
                key: key.into(),
                limit: config.rate_limit_anon,
                window: config.anon_window(),
            });
        }
    }
    scopes.push(Scope {
        name: "global",
        key: std::borrow::Cow::Borrowed("all"),
        limit: config.rate_limit_global,
        window: config.global_window(),
    });
    if let Some(tenant) = &tenant {
        scopes.push(Scope {
            name: "tenant",
            key: tenant.clone().into(),
            limit: config.rate_limit_tenant,
            window: config.tenant_window(),
        });
    }
    if let Some(route) = route {
        let key = match route.key_by {
            KeyBy::Ip => client,
            KeyBy::Tenant => claims.as_ref().map(|c| c.tid.to_string()).or(client),
            KeyBy::User => claims.as_ref().map(|c| c.sub.to_string()).or(client),
            KeyBy::Custom(f) => f(&req),
        };
        if let Some(key) = key {
            scopes.push(Scope { name: route.name, key: key.into(), limit: route.limit, window: route.window });
        }
    }

    let outcome = if app.ratelimit_breaker.allow() {
        let started = std::time::Instant::now();
        // Only Redis can be slow: the in-process decision needs no timer.
        let (outcome, backend) = match &app.limiter {
            super::Limiter::Memory(m) => (Ok(Ok(m.check(&scopes))), "memory"),
            super::Limiter::Redis(r) => (tokio::time::timeout(DECISION_BUDGET, r.check(&scopes)).await, "redis"),
        };
        app.metrics.ratelimit_backend_duration.with_label_values(&[backend]).observe(started.elapsed().as_secs_f64());
        match &outcome {
            Ok(Ok(_)) => app.ratelimit_breaker.success(),
            _ => app.ratelimit_breaker.failure(),
        }
        Some(outcome)
    } else {
        None
    };
    let decision = match outcome {
        Some(Ok(Ok(d))) => d,
        failure => {
            app.metrics.ratelimit_fail_open.inc();
            let reason = match failure {
                Some(Ok(Err(e))) => e.to_string(),
                Some(Err(_)) => "timed out".into(),
                _ => "circuit open after repeated failures".into(),
            };
            tracing::warn!(reason = %reason, "rate limiter unavailable; {}", if route.is_some_and(|r| r.fail_closed) { "refusing (fail-closed route)" } else { "allowing (fail-open)" });
            if route.is_some_and(|r| r.fail_closed) {
                return ApiError::Unavailable {
                    code: "rate_limiter_unavailable",
                    message: "the rate limiter is unavailable; try again shortly".into(),
                    retry_after: Some(1),
                }
                .into_response();
            }
            return next.run(req).await;
        }
    };
    for (i, scope) in scopes.iter().enumerate() {
        let verdict = if decision.refused_by == Some(i) {
            "limited"
        } else if decision.allowed {
            "allowed"
        } else {
            "not_charged"
        };
        app.metrics.ratelimit_decisions.with_label_values(&[scope_label(scope.name), verdict]).inc();
    }
    if !decision.allowed {
        let i = decision.refused_by.unwrap_or(0);
        let mut res = ApiError::RateLimited {
            scope: scopes[i].name,
            retry_after_secs: retry_secs(decision.retry_after),
            reset_at: epoch_secs(decision.scopes[i].reset_after),
        }
        .into_response();
        set_headers(res.headers_mut(), &scopes, &decision, Some(i), tenant.as_deref());
        return res;
    }
    let mut res = next.run(req).await;
    set_headers(res.headers_mut(), &scopes, &decision, None, tenant.as_deref());
    res
}

/// Scope names are a fixed set (global, tenant and the route names in the route table).
fn scope_label(name: &'static str) -> &'static str {
    name
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the nearest
/// `X-Forwarded-For` hop that is not one.
pub fn client_ip(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or_default();
    forwarded
        .split(',')
        .rev()
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .or(Some(peer))
}

/// The key a client address is counted under: the address itself for IPv4, its /64 network
/// for IPv6 (one subscriber usually holds a whole /64, so single addresses are free to rotate).
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn set_headers(headers: &mut HeaderMap, scopes: &[Scope], d: &Decision, refused: Option<usize>, tenant: Option<&str>) {
    // Report the refusing scope, or else the one with the fewest requests left.
    let i = refused.unwrap_or_else(|| (0..scopes.len()).min_by_key(|&i| d.scopes[i].remaining).unwrap_or(0));
    let state = d.scopes[i];
    headers.reserve(6);
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(state.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(state.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(epoch_secs(state.reset_after)));
    if let Some(v) = tenant.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(X_RATELIMIT_TENANT, v);
    }
    if let Some(policy) = policy(scopes) {
        headers.insert(RATELIMIT_POLICY, policy);
    }
    let current =
        format!("\"{}\";r={};t={}", scopes[i].name, state.remaining, state.reset_after.as_secs_f64().ceil() as u64);
    if let Ok(v) = HeaderValue::try_from(current) {
        headers.insert(RATELIMIT, v);
    }
}

/// Scopes a request is decided in, at most (anonymous or tenant, global, the route's own).
const MAX_SCOPES: usize = 4;

/// What a `RateLimit-Policy` value is made of: each scope's name, limit and window.
type PolicyKey = [(&'static str, u64, u64); MAX_SCOPES];

/// `RateLimit-Policy` for `scopes`. It depends only on the scopes' names, limits and windows, a
/// handful of combinations per process, so each is formatted once and then cloned.
fn policy(scopes: &[Scope]) -> Option<HeaderValue> {
    static POLICIES: std::sync::LazyLock<std::sync::Mutex<HashMap<PolicyKey, HeaderValue>>> =
        std::sync::LazyLock::new(Default::default);
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

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(client_key(a), "2001:db8:1:2::/64");
        assert_ne!(client_key(a), client_key(other));
        assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
