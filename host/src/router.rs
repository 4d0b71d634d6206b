//! The one route table: every route of the API, and the middleware stack around it.
//!
//! Everything lives under `/api/v1`. Health routes and the OpenAPI document need no token; every
//! other route except register, login, refresh, logout and accepting an invitation takes a bearer
//! access token (the [`crate::auth::AuthUser`] extractor in the handler's signature). Each handler
//! declares its path and method with `#[utoipa::path]`; `guarded!` (through utoipa's `routes!`)
//! serves it inside its route guard and records it in the OpenAPI document
//! ([`crate::api::openapi`]), so the table and the document cannot disagree.

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

/// `routes!` with every handler inside a route guard of its own ([`GuardLayer`]; `$guard` is
/// evaluated once per handler). The guard wraps the handler before axum boxes it into a route,
/// not the boxed route after (`MethodRouter::layer`), which would cost every request a second
/// boxed route, its clone and a boxed future (docs/BENCHMARKS.md). A method the path does not
/// serve is answered by the method router's 405, under a guard of its own
/// ([`GuardLayer::for_other_methods`]: counted, and limited by all but the route's own limit).
macro_rules! guarded {
    ($guard:expr => $($module:ident :: $handler:ident),+ $(,)?) => {{
        // `routes!` documents the handlers; its own router (of the bare handlers) is not served.
        let (schemas, paths, _): (_, _, axum::routing::MethodRouter<Arc<App>>) = routes!($($module::$handler),+);
        let mut methods = axum::routing::MethodRouter::new().layer($guard.for_other_methods());
        $(
            let guard = $guard;
            for method in utoipa_axum::paste! { <$module::[<__path_ $handler>] as utoipa::Path>::methods() } {
                let handler = axum::handler::Handler::layer($module::$handler, guard.clone());
                methods = methods.on(utoipa_axum::PathItemExt::to_method_filter(&method), handler);
            }
        )+
        (schemas, paths, methods)
    }};
}

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
    // Each handler's `#[utoipa::path]` gives its path and method; `guarded!` serves it with the
    // guard before the arrow and records its operation in the OpenAPI document in the same step.
    let api = OpenApiRouter::new()
        .routes(guarded!(open() => health::health_alias))
        .routes(guarded!(open() => health::health))
        .routes(guarded!(open() => health::live))
        .routes(guarded!(open() => health::ready))
        .routes(guarded!(open() => openapi::get_openapi))
        .routes(guarded!(limit(Some(RouteLimit::per_ip("register", 10, 3600))) => auth::register))
        .routes(guarded!(limit(Some(RouteLimit::per_ip("login", 5, 300).fail_closed())) => auth::login))
        .routes(guarded!(limit(Some(RouteLimit::per_ip("refresh", 30, 60))) => auth::refresh))
        .routes(guarded!(limit(None) => auth::logout))
        .routes(guarded!(limit(None) => auth::get_me))
        .routes(guarded!(limit(None) => invitations::list_invitations))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant(
            "invitations",
            30,
            3600,
        ))) => invitations::create_invitation))
        .routes(guarded!(limit(None) => invitations::delete_invitation))
        .routes(guarded!(limit(Some(RouteLimit::per_ip("accept", 10, 300))) => invitations::accept_invitation))
        .routes(guarded!(limit(None) => members::list_members))
        .routes(guarded!(limit(None) => members::update_member, members::remove_member))
        .routes(guarded!(limit(None) => connections::list_connections, connections::create_connection))
        .routes(guarded!(limit(None) =>
            connections::get_connection,
            connections::update_connection,
            connections::delete_connection
        ))
        .routes(guarded!(limit(None) => products::list_products))
        .routes(guarded!(limit(None) => products::get_product, products::update_product))
        .routes(guarded!(limit(None) => tenant::get_tenant, tenant::update_tenant))
        .routes(guarded!(limit(None) => events::list_events))
        .routes(guarded!(limit(None) => sales::list_sales))
        .routes(guarded!(limit(None) => forecasts::list_forecasts))
        .routes(guarded!(limit(None) => forecasts::get_restock_plan))
        .routes(guarded!(limit(None) => forecasts::list_incidents))
        .routes(guarded!(limit(None) => forecasts::get_forecast_settings, forecasts::put_forecast_settings))
        .routes(guarded!(limit(None) => forecasts::get_forecast_override, forecasts::put_forecast_override))
        .routes(guarded!(limit(None) => webhooks::list_webhooks, webhooks::create_webhook))
        .routes(guarded!(limit(None) => webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(guarded!(limit(None) => webhooks::rotate_webhook_secret))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant("webhook_test", 10, 60))) => webhooks::test_webhook))
        .routes(guarded!(limit(None) => webhooks::list_deliveries))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant("telegram_link", 20, 3600))) => telegram::create_link))
        .routes(guarded!(limit(None) => telegram::list_chats))
        .routes(guarded!(limit(None) => telegram::delete_chat))
        // Not rate-limited: Telegram posts every update from a few addresses, which a per-IP
        // budget would throttle; a stranger gets 401 after a constant-time check, body unread.
        .routes(guarded!(open() => telegram::telegram_webhook))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant("redeliver", 60, 60))) => webhooks::redeliver))
        .routes(guarded!(limit(None) => stocks::list_stocks))
        .routes(guarded!(limit(None) => sync_runs::list_sync_runs))
        .routes(guarded!(limit(None) => sync_runs::get_sync_run))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant("sync", 5, 300))) => sync::start_sync))
        .routes(guarded!(limit(Some(RouteLimit::per_tenant("sync", 5, 300))) => sync::start_all_syncs))
        .routes(guarded!(limit(Some(ADMIN_LIMIT)) => admin::list_plugins))
        .routes(
            guarded!(limit(Some(ADMIN_LIMIT)) => admin::put_plugin, admin::delete_plugin)
                .layer(DefaultBodyLimit::max(admin::MAX_UPLOAD_BYTES)),
        )
        .routes(guarded!(limit(Some(ADMIN_LIMIT)) => admin::rollback_plugin));

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
        .routes(guarded!(open() => health::health_alias))
        .routes(guarded!(open() => health::health))
        .routes(guarded!(open() => health::live))
        .routes(guarded!(open() => health::ready));
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
