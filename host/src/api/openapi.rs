//! The OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
//!
//! Nothing here lists routes: each handler describes its own operation (`#[utoipa::path]`: path,
//! parameters, body, answers, security), and the route table ([`crate::router`]) adds handlers
//! through utoipa-axum's router, which records each operation as the route is added. A route
//! therefore cannot be served without being documented, nor documented without being served.
//!
//! What every operation can answer whatever its handler does is added here, once, after the
//! routes are collected ([`complete`]): 408 and 500 (the timeout and the panic catcher), 429 (the
//! rate limiter, on every limited route), 401 (on routes that take a token), 400/413/415/422 (on
//! routes with a JSON body), 404 (on routes with a path id) and 422 (on routes with a query). The
//! two bodies these use are the error envelope ([`ErrorBody`]) and the seed's 429 body
//! ([`RateLimitedBody`]). Links ([`LINKS`]) tell clients (and the fuzzer's stateful phase) which
//! answer's id feeds which operation.

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::{ErrorBody, RateLimitedBody};

/// Security scheme of tenant routes: an access token from login.
pub const BEARER: &str = "bearer";
/// Security scheme of the operator API: `OPERATOR_TOKEN`.
pub const OPERATOR: &str = "operator";

/// The document's fixed parts; operations come from the route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stock Tracker",
        description = "Marketplace stock tracking for sellers: connections to Wildberries, Ozon and Yandex Market, \
                       their products and per-warehouse stock, sync runs, and the operator's plugin API. \
                       Errors answer one envelope (`ErrorBody`); 429 answers the seed's body (`RateLimitedBody`). \
                       Lists answer `{items, next_cursor}`: pass `next_cursor` back as `cursor`.",
        license(name = "MIT OR Apache-2.0")
    ),
    servers((url = "/", description = "this server")),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, RateLimitedBody)),
    tags(
        (name = "auth", description = "Sign-up, login, sessions"),
        (name = "invitations", description = "How people join a tenant"),
        (name = "members", description = "Who belongs to the tenant"),
        (name = "connections", description = "Marketplace accounts"),
        (name = "sync", description = "Bringing a connection's data in"),
        (name = "products", description = "The synced catalogue"),
        (name = "stocks", description = "Stock per product and warehouse"),
        (name = "tenant", description = "The tenant's settings"),
        (name = "sales", description = "Orders, sales, returns and cancellations by day"),
        (name = "forecasts", description = "What to restock, where, and by when: forecasts, the restock plan, alert incidents"),
        (name = "events", description = "What happened: stock crossing thresholds, syncs ending"),
        (name = "webhooks", description = "Events sent to the tenant's endpoints (Standard Webhooks)"),
        (name = "telegram", description = "The Telegram bot: linking chats, and its webhook"),
        (name = "admin", description = "The operator API: hot-loading plugins"),
        (name = "health", description = "Probes"),
        (name = "meta", description = "Metrics and this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token from register, login, refresh or accepting an invitation (15 minutes)."))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        let operator = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The operator token (`OPERATOR_TOKEN`, at least 32 characters)."))
            .build();
        components.add_security_scheme(OPERATOR, SecurityScheme::Http(operator));
    }
}

/// Routes outside every rate limit (no 429).
const UNLIMITED: [&str; 7] = [
    "/metrics",
    "/api/v1/telegram/webhook",
    "/api/v1/health",
    "/api/v1/health/",
    "/api/v1/health/live",
    "/api/v1/health/ready",
    "/api/v1/openapi.json",
];

/// OpenAPI links: (operation, status, link name, target operation, JSON pointer into the body
/// that gives the target's `id`).
const LINKS: [(&str, &str, &str, &str, &str); 12] = [
    ("create_connection", "201", "GetConnection", "get_connection", "/connection_id"),
    ("create_connection", "201", "UpdateConnection", "update_connection", "/connection_id"),
    ("create_connection", "201", "SyncConnection", "start_sync", "/connection_id"),
    ("create_connection", "201", "DeleteConnection", "delete_connection", "/connection_id"),
    ("start_sync", "202", "GetSyncRun", "get_sync_run", "/sync_run_id"),
    ("create_invitation", "201", "DeleteInvitation", "delete_invitation", "/invitation_id"),
    ("list_products", "200", "GetFirstProduct", "get_product", "/items/0/product_id"),
    ("list_stocks", "200", "GetFirstProduct", "get_product", "/items/0/product_id"),
    ("list_sync_runs", "200", "GetFirstSyncRun", "get_sync_run", "/items/0/sync_run_id"),
    ("list_connections", "200", "GetFirstConnection", "get_connection", "/items/0/connection_id"),
    ("list_members", "200", "UpdateFirstMember", "update_member", "/items/0/user_id"),
    ("list_members", "200", "RemoveFirstMember", "remove_member", "/items/0/user_id"),
];

/// Adds the answers every operation can give (see the module docs), and the [`LINKS`], to the
/// collected document.
pub fn complete(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    let error = ResponseBuilder::new()
        .description("An error, in the envelope")
        .content("application/json", Content::new(Some(Ref::from_schema_name(ErrorBody::name()))))
        .build();
    components.responses.insert("Error".into(), RefOr::T(error));
    let limited = ResponseBuilder::new()
        .description("Over a rate limit or a failure budget; `Retry-After` says when to try again")
        .content("application/json", Content::new(Some(Ref::from_schema_name(RateLimitedBody::name()))))
        .header("Retry-After", HeaderBuilder::new().schema(Some(u64::schema())).description(Some("seconds")).build())
        .build();
    components.responses.insert("RateLimited".into(), RefOr::T(limited));

    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(path, operation);
            add_links(operation);
        }
    }
}

fn add_links(op: &mut Operation) {
    let id = op.operation_id.clone().unwrap_or_default();
    for (_, status, name, target, pointer) in LINKS.iter().filter(|l| l.0 == id) {
        if let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) {
            let link =
                LinkBuilder::new().operation_id(*target).parameter("id", format!("$response.body#{pointer}")).build();
            response.links.insert((*name).to_owned(), RefOr::T(link));
        }
    }
}

fn complete_operation(path: &str, op: &mut Operation) {
    let mut codes = vec!["408", "500"];
    if !UNLIMITED.contains(&path) {
        codes.push("429");
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        codes.push("401");
    }
    if op.request_body.is_some() {
        codes.extend(["400", "413", "415", "422"]);
    }
    if path.contains('{') {
        codes.push("404");
    }
    let has_query =
        op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
    if has_query {
        codes.push("422");
    }
    for code in codes {
        let name = if code == "429" { "RateLimited" } else { "Error" };
        op.responses.responses.entry(code.to_owned()).or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// The served document, serialized once.
#[derive(Debug, Clone)]
pub struct Served(pub Arc<str>);

impl Served {
    /// Serializes the [`complete`]d document.
    pub fn new(doc: &Document) -> Self {
        Self(Arc::from(doc.to_json().expect("the OpenAPI document serializes")))
    }
}

/// `GET /api/v1/openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json", body = Object)),
)]
pub async fn get_openapi(axum::Extension(doc): axum::Extension<Served>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], doc.0.to_string())
}
