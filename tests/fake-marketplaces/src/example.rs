//! A fake of "Example Market", the small marketplace API `examples/plugin-template` speaks: the
//! shapes a plugin author starts from before pointing the template at a real marketplace, and
//! what `stock-tracker plugin check` runs the template against.
//!
//! - Auth: `Authorization: Bearer <api_key>`; otherwise 401
//!   `{"error": {"code": "unauthorized", "message": "invalid API key"}}`.
//! - `GET /v1/account` → `{"seller": "…"}`.
//! - `GET /v1/products?limit=…&page_token=…` → `{"items": [{"sku", "id", "name", "barcode",
//!   "price": {"amount": "1290.00", "currency": "RUB"}}], "next_page_token": "…" | null}`;
//!   `limit` 1..=200 (default 50).
//! - `GET /v1/stocks?limit=…&page_token=…` → `{"items": [{"sku", "warehouse": {"id", "name"},
//!   "available"}], "next_page_token"}`.
//! - Rate limits: 429 with `Retry-After` (seconds) and `{"error": {"code": "rate_limited", …}}`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub use crate::Faults;
use crate::server::{Fault, Running, serve};

/// The key the fake accepts.
pub const API_KEY: &str = "example-key-0123456789";
/// Warehouses every product is stocked in.
pub const WAREHOUSES: [(&str, &str); 2] = [("wh-1", "Example Central"), ("wh-2", "Example North")];

struct ExampleState {
    products: usize,
    faults: Faults,
}

/// A running fake Example Market. Stops when dropped.
pub struct FakeExample {
    running: Running,
    state: Arc<ExampleState>,
}

impl FakeExample {
    /// Starts it on 127.0.0.1 with `products` products.
    pub async fn start(products: usize) -> std::io::Result<Self> {
        let state = Arc::new(ExampleState { products, faults: Faults::default() });
        let router = Router::new()
            .route("/v1/account", get(account))
            .route("/v1/products", get(products_page))
            .route("/v1/stocks", get(stocks_page))
            .with_state(state.clone());
        Ok(Self { running: serve(0, router).await?, state })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// The credentials the fake accepts, as a connection's `credentials` object.
    pub fn credentials(&self) -> Value {
        json!({ "api_key": API_KEY })
    }

    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// Auth and injected faults: the refusal, if any.
fn refusal(state: &ExampleState, headers: &HeaderMap, path: &str) -> Option<Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if auth.strip_prefix("Bearer ") != Some(API_KEY) {
        return Some(error(StatusCode::UNAUTHORIZED, "unauthorized", "invalid API key"));
    }
    match state.faults.take(path)? {
        Fault::RateLimited(secs) => {
            let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests");
            resp.headers_mut().insert("retry-after", secs.into());
            Some(resp)
        }
        Fault::Status(code) => Some(error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "unavailable",
            "try later",
        )),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    page_token: Option<String>,
}

/// One page of a listing of `len` products, each making `items`; a refusal as the API answers it.
fn listing(
    state: &ExampleState,
    headers: &HeaderMap,
    path: &str,
    q: &PageQuery,
    items: impl Fn(usize) -> Vec<Value>,
) -> Response {
    if let Some(refused) = refusal(state, headers, path) {
        return refused;
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "bad_request", "limit must be 1..=200");
    }
    let start = match q.page_token.as_deref() {
        None | Some("") => 0,
        Some(t) => match t.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()) {
            Some(start) => start,
            None => return error(StatusCode::BAD_REQUEST, "bad_request", "unknown page_token"),
        },
    };
    let len = state.products;
    let end = (start + limit).min(len);
    let next = if end < len { json!(format!("p{end}")) } else { Value::Null };
    let items: Vec<Value> = (start.min(len)..end).flat_map(items).collect();
    Json(json!({ "items": items, "next_page_token": next })).into_response()
}

async fn account(State(s): State<Arc<ExampleState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&s, &headers, "/v1/account") {
        return refused;
    }
    Json(json!({ "seller": "Example seller" })).into_response()
}

fn sku(i: usize) -> String {
    format!("EX-{i:04}")
}

async fn products_page(State(s): State<Arc<ExampleState>>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    listing(&s, &headers, "/v1/products", &q, |i| {
        vec![json!({ "sku": sku(i), "id": format!("{}", 9000 + i), "name": format!("Example product {i}"),
                     "barcode": format!("200{i:010}"), "price": { "amount": format!("{}.00", 1000 + i), "currency": "RUB" } })]
    })
}

/// Stock of product `i` in warehouse `w`.
pub fn available(i: usize, w: usize) -> i64 {
    ((i * 5 + w * 2) % 13) as i64
}

async fn stocks_page(State(s): State<Arc<ExampleState>>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    listing(&s, &headers, "/v1/stocks", &q, |i| {
        WAREHOUSES
            .iter()
            .enumerate()
            .map(|(w, (id, name))| json!({ "sku": sku(i), "warehouse": { "id": id, "name": name }, "available": available(i, w) }))
            .collect()
    })
}
