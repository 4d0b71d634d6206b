//! The one route table: every route of the API, and the middleware stack around it.
//!
//! Everything lives under `/api/v1`. Health routes and the OpenAPI document need no token; every
//! other route except register, login, refresh, logout and accepting an invitation takes a bearer
//! access token (the [`crate::auth::AuthUser`] extractor in the handler's signature). Each handler
//! declares its path and method with `#[utoipa::path]`; `routes!` serves it and records it in the
//! OpenAPI document ([`crate::api::openapi`]), so the table and the document cannot disagree.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower::Layer;
use tower_http::cors::{AllowOrigin, Any, Cors, CorsLayer};

use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::api::openapi::{self, ApiDoc};
use crate::api::{
    admin, auth, connections, events, forecasts, invitations, members, products, sales, stocks, sync, sync_runs,
    telegram, tenant, webhooks,
};
use crate::config::CorsOrigins;
use crate::error::ApiError;
use crate::ratelimit::RouteLimit;
use crate::telemetry::{metrics, reporting};
use crate::{App, error, health};

mod front;
mod guard;

pub use front::Front;
pub use guard::GuardLayer;

/// Builds the service: routes, then middleware, outermost first (the seed's order, with the
/// pieces it left implicit):
/// 1. CORS, so a preflight is answered before anything else runs;
/// 2. the front ([`Front`]): request id, body limit (1 MiB; larger bodies are refused before they
///    are read), one span per request, compression of answers (gzip when the client accepts it),
///    a panic catcher for the router itself, and the error envelope, which rewrites any bare
///    error into JSON (also the timeout's and the panic catcher's below);
///
/// Then routing, and per matched route: Sentry when `SENTRY_DSN` is set (a hub per request and a
/// transaction named by route template; inside the front, so a handler's 500 or panic is
/// reported within the request's hub before it turns into the envelope), the route's guard
/// ([`GuardLayer`], declared with the route: metrics by route template, so after routing; the
/// request timeout ([`REQUEST_TIMEOUT`], a 408 envelope); the panic catcher (a bug in a handler is
/// a 500 envelope, not a dropped connection); rate limiting, before any work, one decision for all
/// of the request's limits, counted by the metrics like any answer), and the tenant context (the
/// handler's `AuthUser` extractor, which also puts tenant and user on the Sentry scope).
pub fn router(app: Arc<App>) -> Stack {
    let cors = cors_layer(app.cors.clone());
    // Every route has a guard (metrics, timeout, panic catcher: [`GuardLayer`]). Rate limits:
    // every tenant route counts against the global and tenant limits; some also have their own,
    // declared here beside the route and decided in the same call.
    let limit = |route: Option<RouteLimit>| GuardLayer::limited(app.clone(), REQUEST_TIMEOUT, route);
    let open = || GuardLayer::unlimited(app.clone(), REQUEST_TIMEOUT);
    // Each handler's `#[utoipa::path]` gives its path and method; `routes!` serves it and records
    // its operation in the OpenAPI document in the same step.
    let api = OpenApiRouter::new()
        .routes(routes!(health::health_alias).layer(open()))
        .routes(routes!(health::health).layer(open()))
        .routes(routes!(health::live).layer(open()))
        .routes(routes!(health::ready).layer(open()))
        .routes(routes!(openapi::get_openapi).layer(open()))
        .routes(routes!(auth::register).layer(limit(Some(RouteLimit::per_ip("register", 10, 3600)))))
        .routes(routes!(auth::login).layer(limit(Some(RouteLimit::per_ip("login", 5, 300).fail_closed()))))
        .routes(routes!(auth::refresh).layer(limit(Some(RouteLimit::per_ip("refresh", 30, 60)))))
        .routes(routes!(auth::logout).layer(limit(None)))
        .routes(routes!(auth::get_me).layer(limit(None)))
        .routes(routes!(invitations::list_invitations).layer(limit(None)))
        .routes(routes!(invitations::create_invitation).layer(limit(Some(RouteLimit::per_tenant(
            "invitations",
            30,
            3600,
        )))))
        .routes(routes!(invitations::delete_invitation).layer(limit(None)))
        .routes(routes!(invitations::accept_invitation).layer(limit(Some(RouteLimit::per_ip("accept", 10, 300)))))
        .routes(routes!(members::list_members).layer(limit(None)))
        .routes(routes!(members::update_member, members::remove_member).layer(limit(None)))
        .routes(routes!(connections::list_connections, connections::create_connection).layer(limit(None)))
        .routes(
            routes!(connections::get_connection, connections::update_connection, connections::delete_connection)
                .layer(limit(None)),
        )
        .routes(routes!(products::list_products).layer(limit(None)))
        .routes(routes!(products::get_product, products::update_product).layer(limit(None)))
        .routes(routes!(tenant::get_tenant, tenant::update_tenant).layer(limit(None)))
        .routes(routes!(events::list_events).layer(limit(None)))
        .routes(routes!(sales::list_sales).layer(limit(None)))
        .routes(routes!(forecasts::list_forecasts).layer(limit(None)))
        .routes(routes!(forecasts::get_restock_plan).layer(limit(None)))
        .routes(routes!(forecasts::list_incidents).layer(limit(None)))
        .routes(routes!(forecasts::get_forecast_settings, forecasts::put_forecast_settings).layer(limit(None)))
        .routes(routes!(forecasts::get_forecast_override, forecasts::put_forecast_override).layer(limit(None)))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook).layer(limit(None)))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook).layer(limit(None)))
        .routes(routes!(webhooks::rotate_webhook_secret).layer(limit(None)))
        .routes(routes!(webhooks::test_webhook).layer(limit(Some(RouteLimit::per_tenant("webhook_test", 10, 60)))))
        .routes(routes!(webhooks::list_deliveries).layer(limit(None)))
        .routes(routes!(telegram::create_link).layer(limit(Some(RouteLimit::per_tenant("telegram_link", 20, 3600)))))
        .routes(routes!(telegram::list_chats).layer(limit(None)))
        .routes(routes!(telegram::delete_chat).layer(limit(None)))
        // Not rate-limited: Telegram posts every update from a few addresses, which a per-IP
        // budget would throttle; a stranger gets 401 after a constant-time check, body unread.
        .routes(routes!(telegram::telegram_webhook).layer(open()))
        .routes(routes!(webhooks::redeliver).layer(limit(Some(RouteLimit::per_tenant("redeliver", 60, 60)))))
        .routes(routes!(stocks::list_stocks).layer(limit(None)))
        .routes(routes!(sync_runs::list_sync_runs).layer(limit(None)))
        .routes(routes!(sync_runs::get_sync_run).layer(limit(None)))
        .routes(routes!(sync::start_sync).layer(limit(Some(RouteLimit::per_tenant("sync", 5, 300)))))
        .routes(routes!(sync::start_all_syncs).layer(limit(Some(RouteLimit::per_tenant("sync", 5, 300)))))
        .routes(routes!(admin::list_plugins).layer(limit(Some(ADMIN_LIMIT))))
        .routes(
            routes!(admin::put_plugin, admin::delete_plugin)
                .layer(DefaultBodyLimit::max(admin::MAX_UPLOAD_BYTES))
                .layer(limit(Some(ADMIN_LIMIT))),
        )
        .routes(routes!(admin::rollback_plugin).layer(limit(Some(ADMIN_LIMIT))));

    let (routes, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(metrics::serve_metrics))
        .nest("/api/v1", api)
        .split_for_parts();
    openapi::complete(&mut document);
    app.metrics.preset(document.paths.paths.iter().filter(|(path, _)| *path != "/metrics").flat_map(|(path, item)| {
        [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("PATCH", &item.patch), ("DELETE", &item.delete)]
            .into_iter()
            .filter_map(move |(method, op)| {
                let statuses = op.as_ref()?.responses.responses.keys().map(String::as_str).collect();
                Some((method, path.as_str(), statuses))
            })
    }));
    let routes = routes.fallback(unmatched).layer(axum::Extension(openapi::Served::new(&document)));
    with_stack(routes.with_state(app.clone()), cors, app.config.sentry.enabled())
}

/// The routes of `stock-tracker worker`: health and metrics only, under the same stack.
pub fn worker_router(app: Arc<App>) -> Stack {
    let open = || GuardLayer::unlimited(app.clone(), REQUEST_TIMEOUT);
    let api = OpenApiRouter::new()
        .routes(routes!(health::health_alias).layer(open()))
        .routes(routes!(health::health).layer(open()))
        .routes(routes!(health::live).layer(open()))
        .routes(routes!(health::ready).layer(open()));
    let (routes, _) =
        OpenApiRouter::new().routes(routes!(metrics::serve_metrics)).nest("/api/v1", api).split_for_parts();
    let cors = cors_layer(app.cors.clone());
    with_stack(routes.fallback(unmatched).with_state(app.clone()), cors, app.config.sentry.enabled())
}

/// Operator calls per client address (their bearer is no tenant token, so they also spend the
/// anonymous per-IP budget; wrong tokens are throttled separately, see [`admin::Operator`]).
const ADMIN_LIMIT: RouteLimit = RouteLimit::per_ip("admin", 30, 60);

/// The served service: the router inside the front, inside CORS when it is configured.
pub type Stack = tower::util::Either<Cors<Front<Router>>, Front<Router>>;

/// The outer middleware (see [`router`] for the order and the reasons) around a whole router,
/// once (not route by route); public so the overhead benchmark measures exactly this stack.
///
/// With Sentry on, matched routes (only: an unknown path is never a transaction) also get a hub
/// of their own and a transaction named by route template, inside the front: outside metrics,
/// rate limiting and the handler, so a 5xx, a panic or a 429 happens within the hub.
pub fn with_stack(routes: Router, cors: Option<CorsLayer>, sentry: bool) -> Stack {
    let routes = match reporting::layers(sentry) {
        Some(layers) => routes.route_layer(layers),
        None => routes,
    };
    // Turns every handler into a route now rather than on each request (what axum's
    // `into_make_service` does for a router served directly).
    let front = Front::new(routes.with_state(()), sentry);
    match cors {
        Some(cors) => tower::util::Either::Left(cors.layer(front)),
        None => tower::util::Either::Right(front),
    }
}

/// Longest a request may take before it is answered with 408 (plugin calls have their own,
/// shorter deadlines; sync runs are background tasks and not bound by it).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Unknown paths: a 404 envelope, counted under the one `unmatched` label.
async fn unmatched(axum::extract::State(app): axum::extract::State<Arc<App>>, method: axum::http::Method) -> ApiError {
    app.metrics.observe(
        method.as_str(),
        "unmatched",
        StatusCode::NOT_FOUND,
        Some("not_found"),
        std::time::Duration::ZERO,
    );
    ApiError::NotFound
}

/// No layer at all without `CORS_ORIGINS`: browsers then refuse cross-origin calls.
fn cors_layer(origins: CorsOrigins) -> Option<CorsLayer> {
    let layer = CorsLayer::new()
        .allow_methods(tower_http::cors::AllowMethods::mirror_request())
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .expose_headers([error::REQUEST_ID_HEADER]);
    match origins {
        CorsOrigins::None => None,
        CorsOrigins::Any => Some(layer.allow_origin(Any)),
        CorsOrigins::List(list) => Some(layer.allow_origin(AllowOrigin::list(list))),
    }
}
