//! The two routers the middleware-overhead benchmarks compare (`benches/stack.rs` in process,
//! `benches/wrk.rs` over HTTP): one trivial handler on a bare axum router, and the same handler
//! inside everything a real route gets (the front of `router::with_stack` and the route's guard
//! with the rate limiter and the app's backend; Sentry off, as without a DSN).

use axum::Router;
use axum::handler::Handler;
use axum::routing::get;
use stock_tracker::router::{GuardLayer, Stack};
use tower::util::Either;

use crate::{Backend, TestApp, TestTenant};

/// The path both routers serve.
pub const PATH: &str = "/api/v1/ping";

async fn ping() -> &'static str {
    "ok"
}

/// An app with rate limiting on (limits too high to refuse) and a registered tenant, whose access
/// token requests carry when they carry one.
pub async fn app() -> (TestApp, TestTenant) {
    let base = TestApp::try_new(Backend::Sqlite).await.expect("SQLite is always there");
    let app = base
        .restart(|c| {
            c.ratelimit.rate_limit_enabled = true;
            // Ten digits, as a large real limit has (a limit's digits are written into three
            // answer fields), and far more than a benchmark sends in a window.
            c.ratelimit.rate_limit_global = 1_000_000_000;
            c.ratelimit.rate_limit_tenant = 1_000_000_000;
            c.ratelimit.rate_limit_anon = 1_000_000_000;
        })
        .await;
    let tenant = app.register("stack@example.com").await;
    (app, tenant)
}

/// `n` valid access tokens of `tenant` the app has never seen (each for another user id), so each
/// request pays the full verification (HMAC, base64, JSON) on first use.
pub fn fresh_tokens(app: &TestApp, tenant: &TestTenant, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            app.app.jwt.issue(uuid::Uuid::new_v4(), tenant.tenant_id, stock_tracker::store::tenants::Role::Owner).0
        })
        .collect()
}

/// `(bare, full)`: the full router is [`full_without`] nothing.
pub fn routers(app: &TestApp) -> (Router, Stack) {
    let bare = Router::new().route(PATH, get(ping));
    let Either::Left(full) = full_without(app, &[]) else { unreachable!("the front is on") };
    (bare, full)
}

/// The pieces a real route's request passes, outermost first: the front of `router::with_stack`
/// (request id, body limit, span, compression, panic catcher, error envelope), the route's guard
/// (metrics, timeout, panic catcher) and the rate limiter the guard runs.
pub const LAYERS: [&str; 3] = ["front", "guard", "rate_limit"];

/// The full stack, composed as `router::router` composes it, without the pieces in `except`, to
/// see what each costs ("guard" takes the rate limiter with it).
pub fn full_without(app: &TestApp, except: &[&str]) -> Either<Stack, Router> {
    let on = |layer: &str| !except.contains(&layer);
    let (state, timeout) = (app.app.clone(), stock_tracker::router::REQUEST_TIMEOUT);
    let method = if on("guard") {
        get(ping.layer(if on("rate_limit") {
            GuardLayer::limited(state, timeout, None)
        } else {
            GuardLayer::unlimited(state, timeout)
        }))
    } else {
        get(ping)
    };
    let routed = Router::new().route(PATH, method);
    if on("front") {
        Either::Left(stock_tracker::router::with_stack(routed, None, false))
    } else {
        Either::Right(routed)
    }
}
