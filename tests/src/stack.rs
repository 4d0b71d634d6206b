//! The two routers the middleware-overhead benchmarks compare (`benches/stack.rs` in process,
//! `benches/wrk.rs` over HTTP): one trivial handler on a bare axum router, and the same handler
//! inside everything a real route gets (the outer stack of `router::with_stack`, the metrics route
//! layer and the rate limiter with the app's backend; Sentry off, as without a DSN).

use axum::Router;
use axum::routing::get;
use stock_tracker::ratelimit::layer::rate_limit;
use stock_tracker::telemetry::metrics;

use crate::{Backend, TestApp};

/// The path both routers serve.
pub const PATH: &str = "/api/v1/ping";

async fn ping() -> &'static str {
    "ok"
}

/// An app with rate limiting on (limits too high to refuse) and a registered tenant's access
/// token, for requests that carry one.
pub async fn app() -> (TestApp, String) {
    let base = TestApp::try_new(Backend::Sqlite).await.expect("SQLite is always there");
    let app = base
        .restart(|c| {
            c.ratelimit.rate_limit_enabled = true;
            c.ratelimit.rate_limit_global = u64::MAX / 4;
            c.ratelimit.rate_limit_tenant = u64::MAX / 4;
        })
        .await;
    let token = app.register("stack@example.com").await.access_token;
    (app, token)
}

/// `(bare, full)`.
pub fn routers(app: &TestApp) -> (Router, Router) {
    let state = app.app.clone();
    let bare = Router::new().route(PATH, get(ping));
    let routed = Router::new()
        .route(PATH, get(ping).layer(axum::middleware::from_fn_with_state((state.clone(), None), rate_limit)))
        .route_layer(axum::middleware::from_fn_with_state(state, metrics::track));
    (bare, stock_tracker::router::with_stack(routed, None, false))
}
