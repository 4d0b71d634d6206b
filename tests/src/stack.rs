//! The two routers the middleware-overhead benchmarks compare (`benches/stack.rs` in process,
//! `benches/wrk.rs` over HTTP): one trivial handler on a bare axum router, and the same handler
//! inside everything a real route gets (the outer stack of `router::with_stack`, the metrics route
//! layer and the rate limiter with the app's backend; Sentry off, as without a DSN).

use axum::Router;
use axum::routing::get;
use stock_tracker::ratelimit::RateLimitLayer;
use stock_tracker::telemetry::track::TrackLayer;

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
            c.ratelimit.rate_limit_global = u64::MAX / 4;
            c.ratelimit.rate_limit_tenant = u64::MAX / 4;
            c.ratelimit.rate_limit_anon = u64::MAX / 4;
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

/// `(bare, full)`.
pub fn routers(app: &TestApp) -> (Router, Router) {
    let state = app.app.clone();
    let bare = Router::new().route(PATH, get(ping));
    let routed = Router::new()
        .route(PATH, get(ping).layer(RateLimitLayer::new(state.clone(), None)))
        .route_layer(TrackLayer::new(state));
    (bare, stock_tracker::router::with_stack(routed, None, false))
}

/// Every layer of the full stack, outermost first: the outer layers of `router::with_stack` and
/// the two route layers.
pub const LAYERS: [&str; 8] =
    ["compression", "envelope", "trace", "timeout", "panic", "body_limit", "metrics", "rate_limit"];

/// The full stack rebuilt one layer at a time without the layers in `except`, to see what each
/// costs. Each `Router::layer` boxes its layer separately, so this costs a little more than
/// `with_stack`'s single `ServiceBuilder`; compare it with itself (`except` empty), not with
/// [`routers`]. `router::with_stack` is the reference for the order.
pub fn full_without(app: &TestApp, except: &[&str]) -> Router {
    let on = |layer: &str| !except.contains(&layer);
    let state = app.app.clone();
    let mut method = get(ping);
    if on("rate_limit") {
        method = method.layer(RateLimitLayer::new(state.clone(), None));
    }
    let mut routed = Router::new().route(PATH, method);
    if on("metrics") {
        routed = routed.route_layer(TrackLayer::new(state));
    }
    if on("body_limit") {
        routed = routed.layer(axum::extract::DefaultBodyLimit::max(stock_tracker::api::MAX_BODY_BYTES));
    }
    if on("panic") {
        routed = routed.layer(tower_http::catch_panic::CatchPanicLayer::new());
    }
    if on("timeout") {
        let timeout = stock_tracker::router::REQUEST_TIMEOUT;
        routed = routed.layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    }
    if on("trace") {
        routed = routed.layer(tower_http::trace::TraceLayer::new_for_http());
    }
    if on("envelope") {
        routed = routed.layer(stock_tracker::error::EnvelopeLayer);
    }
    if on("compression") {
        routed = routed.layer(tower_http::compression::CompressionLayer::new());
    }
    routed
}
