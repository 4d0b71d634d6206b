//! Rate limiting per route ([`RouteLimiter`]): each route's own limit is declared beside it in
//! the route table ([`RouteLimit`]) and decided in the same single call as the global and tenant
//! limits, by the route's guard ([`crate::router::GuardLayer`]) before the route runs.
//!
//! Every limited answer carries the rate-limit fields of [`super::headers`]. A refusal is 429
//! with `Retry-After` and the seed's body `{"error": "<Scope> rate limit exceeded", "reset_at": …}`.
//! When the backend fails or takes longer than [`DECISION_BUDGET`], the request goes on
//! (fail-open, counted) unless its route is marked fail-closed (then 503).
//!
//! The in-process decision is taken when the request arrives and the request goes on to the
//! route without a future or a layer of its own (docs/BENCHMARKS.md, "Middleware stack"); only
//! the Redis backend, which has to wait, boxes its decision.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arrayvec::ArrayString;

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus::{Histogram, IntCounter};
use smallvec::SmallVec;
use tower::Service;

use super::headers::{self, RateHeaders, epoch_secs_after, retry_secs};
use super::{Decision, Limiter, Scope, ScopeKey, epoch_millis};
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

/// The limiter of one route: the route's own limit if it has one, and what is worked out for it
/// once ([`LimitSeries`]). The route guard ([`crate::router::GuardLayer`]) calls
/// [`RouteLimiter::admit`] before the route.
#[derive(Clone)]
pub struct RouteLimiter {
    route: Option<RouteLimit>,
    series: Arc<LimitSeries>,
}

impl RouteLimiter {
    pub fn new(app: &App, route: Option<RouteLimit>) -> Self {
        Self { route, series: Arc::new(LimitSeries::new(app, route)) }
    }

    /// Decides on `req` and calls `inner` with it if it may go on. The in-process backend
    /// decides here and now; the Redis one has to wait, so the decision and the call are boxed.
    ///
    /// `started` is when the guard took the request: the in-process backend's time
    /// (`stock_tracker_ratelimit_backend_duration_seconds{backend="memory"}`) counts from there,
    /// so it covers working out the request's scopes (its token, its client's key) as well as the
    /// decision, and costs one reading of the clock instead of two.
    pub fn admit<S>(&self, app: &Arc<App>, inner: &mut S, mut req: Request, started: Instant) -> Admitted<S::Future>
    where
        S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        if !app.config.ratelimit.rate_limit_enabled {
            return Admitted::Called { inner: inner.call(req), headers: None };
        }
        let request = Limited::new(app, self.route, &mut req);
        match &app.limiter {
            // The in-process backend cannot fail or be slow: neither the breaker nor a timer.
            Limiter::Memory(memory) => {
                let decision = memory.check_at(&request.scopes, request.now_ms);
                self.series.memory.observe(secs(started));
                match request.conclude(&self.series, &decision) {
                    Verdict::Allow(headers) => Admitted::Called { inner: inner.call(req), headers: Some(headers) },
                    Verdict::Refuse(refusal) => Admitted::Refused(refusal),
                }
            }
            Limiter::Redis(_) => {
                // The ready service goes with the request; a clone stays for the next one.
                let clone = inner.clone();
                let inner = std::mem::replace(inner, clone);
                Admitted::Waiting(Box::pin(decide_remotely(app.clone(), self.series.clone(), request, req, inner)))
            }
        }
    }
}

/// What [`RouteLimiter::admit`] did with a request.
pub enum Admitted<F> {
    /// Passed on: the route's answer, which gets these fields.
    Called { inner: F, headers: Option<RateHeaders> },
    /// The 429 (or 503 on a fail-closed route).
    Refused(Response),
    /// The Redis decision and then the route's answer, fields included.
    Waiting(Pin<Box<dyn Future<Output = Response> + Send>>),
}

/// The scopes a request can count against, in the order they are decided; indexes
/// [`LimitSeries::decisions`].
#[derive(Debug, Clone, Copy)]
enum ScopeKind {
    Anonymous = 0,
    Global = 1,
    Tenant = 2,
    Route = 3,
}

/// What the limiter works out once per route, when the route table is built: its metric series (a
/// lookup by label values hashes them and takes a lock, about 200 instructions each; a request
/// made three or four) and its `RateLimit-Policy` values.
struct LimitSeries {
    /// `stock_tracker_ratelimit_decisions_total` by [`ScopeKind`], then allowed / limited /
    /// not charged.
    decisions: [[IntCounter; 3]; 4],
    /// `stock_tracker_ratelimit_backend_duration_seconds` of the in-process and the Redis backend.
    memory: Histogram,
    redis: Histogram,
    /// `RateLimit-Policy` by the set of [`ScopeKind`]s a request counts against (bit `kind`).
    policies: [Option<HeaderValue>; 1 << MAX_SCOPES],
    /// `X-RateLimit-Limit` by [`ScopeKind`].
    limits: [Option<HeaderValue>; MAX_SCOPES],
}

impl LimitSeries {
    fn new(app: &App, route: Option<RouteLimit>) -> Self {
        let metrics = &app.metrics;
        let config = &app.config.ratelimit;
        let scope = |name, limit, window| Scope { name, key: ScopeKey::Text("".into()), limit, window };
        let kinds = [
            scope("anonymous", config.rate_limit_anon, config.anon_window()),
            scope("global", config.rate_limit_global, config.global_window()),
            scope("tenant", config.rate_limit_tenant, config.tenant_window()),
            route.map_or_else(|| scope("global", 0, Duration::ZERO), |r| scope(r.name, r.limit, r.window)),
        ];
        let policies = std::array::from_fn(|set| {
            let scopes: Vec<Scope> =
                kinds.iter().enumerate().filter(|(kind, _)| set & (1 << kind) != 0).map(|(_, s)| s.clone()).collect();
            headers::policy(&scopes)
        });
        // Without a route limit no scope is of the route's kind; its row repeats the global one
        // rather than make up a label.
        let names = ["anonymous", "global", "tenant", route.map_or("global", |r| r.name)];
        let decisions = names.map(|scope| {
            ["allowed", "limited", "not_charged"]
                .map(|verdict| metrics.ratelimit_decisions.with_label_values(&[scope, verdict]))
        });
        let backend = |name| metrics.ratelimit_backend_duration.with_label_values(&[name]);
        let limits = kinds.each_ref().map(|s| headers::constant(s.limit.to_string()));
        Self { decisions, memory: backend("memory"), redis: backend("redis"), policies, limits }
    }
}

/// The Redis path: ask (within [`DECISION_BUDGET`], through the breaker), then answer.
async fn decide_remotely<S>(
    app: Arc<App>,
    series: Arc<LimitSeries>,
    mut request: Limited,
    req: Request,
    mut inner: S,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let outcome = if app.ratelimit_breaker.allow() {
        let started = Instant::now();
        let outcome = tokio::time::timeout(DECISION_BUDGET, app.limiter.check(&request.scopes)).await;
        series.redis.observe(secs(started));
        match &outcome {
            Ok(Ok(_)) => app.ratelimit_breaker.success(),
            _ => app.ratelimit_breaker.failure(),
        }
        Some(outcome)
    } else {
        None
    };
    // Redis decided after a wait: its reset times count from now.
    request.now_ms = epoch_millis(SystemTime::now());
    let headers = match outcome {
        Some(Ok(Ok(decision))) => match request.conclude(&series, &decision) {
            Verdict::Allow(headers) => Some(headers),
            Verdict::Refuse(refusal) => return refusal,
        },
        failure => {
            app.metrics.ratelimit_fail_open.inc();
            let reason = match failure {
                Some(Ok(Err(e))) => e.to_string(),
                Some(Err(_)) => "timed out".into(),
                _ => "circuit open after repeated failures".into(),
            };
            let closed = request.fail_closed;
            tracing::warn!(reason = %reason, "rate limiter unavailable; {}", if closed { "refusing (fail-closed route)" } else { "allowing (fail-open)" });
            if closed {
                return ApiError::Unavailable {
                    code: "rate_limiter_unavailable",
                    message: "the rate limiter is unavailable; try again shortly".into(),
                    retry_after: Some(1),
                }
                .into_response();
            }
            None
        }
    };
    let Ok(mut res) = inner.call(req).await;
    if let Some(headers) = headers {
        headers.apply(res.headers_mut());
    }
    res
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

/// What a decision means for the request.
enum Verdict {
    /// On to the route; its answer gets these fields.
    Allow(RateHeaders),
    /// The 429.
    Refuse(Response),
}

/// One request's scopes, in the order they are decided, and each scope's kind.
struct Limited {
    scopes: SmallVec<[Scope; MAX_SCOPES]>,
    kinds: [ScopeKind; MAX_SCOPES],
    fail_closed: bool,
    /// When the request came, in epoch milliseconds: one reading of the clock (the front's, which
    /// its id has too) for its token's expiry, its decision and its answer's reset time.
    now_ms: u64,
}

impl Limited {
    /// The scopes `req` counts against. Its bearer token is verified here once: the handler's
    /// `AuthUser` extractor takes the claims from the request instead of verifying again.
    fn new(app: &App, route: Option<RouteLimit>, req: &mut Request) -> Self {
        let config = &app.config.ratelimit;
        let now_ms = crate::error::arrived_ms().unwrap_or_else(|| epoch_millis(SystemTime::now()));
        let claims =
            crate::auth::Bearer::to_verify(req.headers()).and_then(|t| app.jwt.verify_at(t, (now_ms / 1000) as i64));
        let tenant = claims.as_ref().map(|c| uuid_text(c.tid));
        // The client's key is needed without a token (the anonymous scope, and a per-tenant or
        // per-user route limit falls back to it) and for a per-IP route limit.
        let needs_client = claims.is_none() || route.is_some_and(|r| matches!(r.key_by, KeyBy::Ip));
        let client = needs_client
            .then(|| client_ip(req.extensions(), req.headers(), &app.trusted_proxies).map(client_key))
            .flatten();
        let route_key = route.and_then(|route| match route.key_by {
            KeyBy::Ip => client.clone(),
            KeyBy::Tenant => tenant.map(ScopeKey::Inline).or_else(|| client.clone()),
            KeyBy::User => claims.as_ref().map(|c| ScopeKey::Inline(uuid_text(c.sub))).or_else(|| client.clone()),
            KeyBy::Custom(f) => f(req).map(ScopeKey::from),
        });
        let mut limited = Self {
            scopes: SmallVec::new(),
            kinds: [ScopeKind::Global; MAX_SCOPES],
            fail_closed: route.is_some_and(|r| r.fail_closed),
            now_ms,
        };
        let mut push = |kind, name, key: ScopeKey, limit, window| {
            limited.kinds[limited.scopes.len()] = kind;
            limited.scopes.push(Scope { name, key, limit, window });
        };
        if claims.is_none() {
            // Unauthenticated traffic (401s included) first spends a budget of its own per client,
            // so no one address can drain the global budget that every tenant shares.
            if let Some(key) = client {
                push(ScopeKind::Anonymous, "anonymous", key, config.rate_limit_anon, config.anon_window());
            }
        }
        let all = ScopeKey::Text("all".into());
        push(ScopeKind::Global, "global", all, config.rate_limit_global, config.global_window());
        if let Some(tenant) = tenant {
            push(
                ScopeKind::Tenant,
                "tenant",
                ScopeKey::Inline(tenant),
                config.rate_limit_tenant,
                config.tenant_window(),
            );
        }
        if let (Some(route), Some(key)) = (route, route_key) {
            push(ScopeKind::Route, route.name, key, route.limit, route.window);
        }
        if let Some(c) = claims {
            req.extensions_mut().insert(crate::auth::VerifiedClaims(c));
        }
        limited
    }

    /// Counts the decision, then gives the fields for the answer, or the refusal.
    fn conclude(&self, series: &LimitSeries, decision: &Decision) -> Verdict {
        for (i, kind) in self.kinds[..self.scopes.len()].iter().enumerate() {
            let verdict = if decision.refused_by == Some(i) {
                1 // limited
            } else if decision.allowed {
                0 // allowed
            } else {
                2 // not charged
            };
            series.decisions[*kind as usize][verdict].inc();
        }
        let refused = (!decision.allowed).then(|| decision.refused_by.unwrap_or(0));
        let set = self.kinds[..self.scopes.len()].iter().fold(0, |set, kind| set | (1 << *kind as usize));
        let policy = series.policies[set].clone();
        // The tenant's id, as its scope's key.
        let kinds = &self.kinds[..self.scopes.len()];
        let tenant = kinds.iter().position(|k| matches!(k, ScopeKind::Tenant)).map(|i| &*self.scopes[i].key);
        let limit = |i: usize| series.limits[self.kinds[i] as usize].clone();
        let headers = RateHeaders::new(&self.scopes, decision, refused, tenant, policy, limit, self.now_ms);
        let Some(i) = refused else {
            return Verdict::Allow(headers);
        };
        let mut res = ApiError::RateLimited {
            scope: self.scopes[i].name,
            retry_after_secs: retry_secs(decision.retry_after),
            reset_at: epoch_secs_after(self.now_ms, decision.scopes[i].reset_after),
        }
        .into_response();
        headers.apply(res.headers_mut());
        Verdict::Refuse(res)
    }
}

/// Scopes a request is decided in, at most (anonymous or tenant, global, the route's own).
const MAX_SCOPES: usize = 4;

/// A UUID's hyphenated text, inline, without the formatting machinery.
fn uuid_text(id: uuid::Uuid) -> ArrayString<{ ScopeKey::INLINE }> {
    let mut text = ArrayString::new();
    text.push_str(id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
    text
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
pub fn client_key(ip: IpAddr) -> ScopeKey {
    match ip {
        IpAddr::V4(v4) => ipv4_text(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ipv4_text(v4),
            None => {
                let s = v6.segments();
                ScopeKey::from(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
            }
        },
    }
}

/// `a.b.c.d`, as `Display` writes it, without the formatting machinery (a tenth of its cost; every
/// anonymous request needs it): each octet's digits pushed one by one, no copies of digit strings.
fn ipv4_text(v4: std::net::Ipv4Addr) -> ScopeKey {
    let mut text = ArrayString::new();
    let digit = |d: u8| char::from(b'0' + d);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(digit(octet / 100));
        }
        if octet >= 10 {
            text.push(digit(octet / 10 % 10));
        }
        text.push(digit(octet % 10));
    }
    ScopeKey::Inline(text)
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
        assert_eq!(&*client_key(a), "2001:db8:1:2::/64");
        assert_ne!(client_key(a), client_key(other));
        assert_eq!(&*client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(&*client_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        for text in ["0.0.0.0", "255.255.255.255", "10.0.100.9", "127.0.0.1", "9.99.109.190", "1.20.200.250"] {
            assert_eq!(&*client_key(text.parse().unwrap()), text);
        }
    }
}
