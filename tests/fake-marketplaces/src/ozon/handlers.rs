//! The fake Ozon's routes: auth and rate limits first, in Ozon's order, then the method.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OzonCatalogue, OzonProduct, State};
use crate::server::Fault;

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move { dispatch(&state, &method, uri.path(), &headers, &body) }
    })
}

/// Ozon's error body: a gRPC status.
fn status(http: StatusCode, code: i32, message: &str) -> Response {
    (http, Json(json!({ "code": code, "message": message, "details": [] }))).into_response()
}

fn dispatch(state: &State, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let (Some(client_id), Some(api_key)) = (header("client-id"), header("api-key")) else {
        return status(StatusCode::UNAUTHORIZED, 16, "Client-Id and Api-Key headers are required");
    };
    if !client_id.parse::<u64>().is_ok_and(|id| id > 0) {
        return status(StatusCode::BAD_REQUEST, 3, "Client-Id header value should be positive integer");
    }
    if client_id != state.config.client_id || api_key != state.config.api_key {
        return status(StatusCode::NOT_FOUND, 5, "Invalid Api-Key, please check the key and try again");
    }
    if *state.revoked.lock().unwrap() {
        return status(StatusCode::FORBIDDEN, 7, "Api-key is deactivated, use another one or generate a new one");
    }
    let limited = || status(StatusCode::TOO_MANY_REQUESTS, 8, "You have reached request rate limit per second");
    match state.faults.take(path) {
        // Ozon documents no wait header; an injected one with seconds says `Retry-After`, which
        // Ozon announced for 2026 (adapters must not depend on it).
        Some(Fault::RateLimited(0)) => return limited(),
        Some(Fault::RateLimited(secs)) => {
            let mut resp = limited();
            resp.headers_mut().insert("retry-after", secs.into());
            return resp;
        }
        Some(Fault::Status(code)) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return status(code, 13, "Internal error");
        }
        None => {}
    }
    {
        let second = chrono::Utc::now().timestamp();
        let mut window = state.window.lock().unwrap();
        if window.0 != second {
            *window = (second, 0);
        }
        window.1 += 1;
        if window.1 > state.config.requests_per_second {
            return limited();
        }
    }
    if method != Method::POST {
        return status(StatusCode::NOT_FOUND, 5, "Not Found");
    }
    let catalogue = state.catalogue.lock().unwrap();
    let answer = match path {
        "/v3/product/list" => parse(body).and_then(|r| product_list(&catalogue, r)),
        "/v3/product/info/list" => parse(body).and_then(|r| product_info(&catalogue, r)),
        "/v4/product/info/stocks" => parse(body).and_then(|r| stocks(&catalogue, r)),
        "/v1/analytics/stocks" => parse(body).and_then(|r| analytics_stocks(&catalogue, r)),
        "/v1/product/info/stocks-by-warehouse/fbs" => parse(body).map(|r| fbs_stocks(&catalogue, r)),
        "/v5/product/info/prices" => parse(body).and_then(|r| prices(&catalogue, r)),
        "/v3/posting/fbs/list" => parse(body).and_then(|r| postings(&catalogue, "fbs", r)),
        "/v2/posting/fbo/list" => parse(body).and_then(|r| postings(&catalogue, "fbo", r)),
        _ => return status(StatusCode::NOT_FOUND, 5, "Not Found"),
    };
    match answer {
        Ok(value) => Json(value).into_response(),
        Err(message) => status(StatusCode::BAD_REQUEST, 3, &message),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid request payload: {e}"))
}

fn check_limit(limit: i64) -> Result<usize, String> {
    (1..=1000).contains(&limit).then_some(limit as usize).ok_or_else(|| "limit must be between 1 and 1000".into())
}

/// Opaque position tokens, base64 of an index.
fn token(index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(index.to_string())
}

fn untoken(token: &str) -> Result<usize, String> {
    if token.is_empty() {
        return Ok(0);
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| "invalid last_id".to_owned())?;
    String::from_utf8(bytes).ok().and_then(|s| s.parse().ok()).ok_or_else(|| "invalid last_id".into())
}

/// A page of `limit` from `start`; the token of the next one (empty after an empty page).
fn window(len: usize, start: usize, limit: usize) -> (std::ops::Range<usize>, String) {
    let range = start.min(len)..(start + limit).min(len);
    let next = if range.is_empty() { String::new() } else { token(range.end) };
    (range, next)
}

#[derive(Deserialize)]
struct ListRequest {
    #[serde(default)]
    last_id: String,
    #[serde(default)]
    cursor: String,
    limit: i64,
}

fn product_list(c: &OzonCatalogue, r: ListRequest) -> Result<Value, String> {
    let limit = check_limit(r.limit)?;
    let start = untoken(&r.last_id)?;
    let (range, last_id) = window(c.products.len(), start, limit);
    let items: Vec<Value> = c.products[range]
        .iter()
        .map(|p| {
            json!({ "product_id": p.product_id, "offer_id": p.offer_id, "archived": false,
                    "has_fbo_stocks": p.fbo.iter().any(|q| *q > 0), "has_fbs_stocks": p.fbs.iter().any(|s| s.0 > 0),
                    "is_discounted": false, "quants": [] })
        })
        .collect();
    Ok(json!({ "result": { "items": items, "total": c.products.len(), "last_id": last_id } }))
}

#[derive(Deserialize)]
struct InfoRequest {
    #[serde(default)]
    product_id: Vec<Value>,
}

/// Rubles as Ozon writes them in strings.
fn rub(kopecks: i64) -> String {
    format!("{}.{:02}", kopecks / 100, kopecks % 100)
}

fn product_info(c: &OzonCatalogue, r: InfoRequest) -> Result<Value, String> {
    if r.product_id.len() > 1000 {
        return Err("product_id: at most 1000 values".into());
    }
    let ids: Vec<i64> = r.product_id.iter().filter_map(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok())).collect();
    let items: Vec<Value> = c
        .products
        .iter()
        .filter(|p| ids.contains(&p.product_id))
        .map(|p| {
            json!({ "id": p.product_id, "offer_id": p.offer_id, "sku": p.sku, "name": p.name,
                    "barcodes": [p.barcode], "currency_code": "RUB", "price": rub(p.price),
                    "old_price": if p.old_price > 0 { rub(p.old_price) } else { String::new() },
                    "min_price": "", "marketing_price": rub(p.price), "is_archived": false,
                    "statuses": { "status": "price_sent", "is_created": true } })
        })
        .collect();
    Ok(json!({ "items": items }))
}

fn stocks(c: &OzonCatalogue, r: ListRequest) -> Result<Value, String> {
    let limit = check_limit(r.limit)?;
    let start = untoken(&r.cursor)?;
    let (range, cursor) = window(c.products.len(), start, limit);
    let fbs_ids: Vec<String> = c.fbs_warehouses.iter().map(|w| w.id.to_string()).collect();
    let items: Vec<Value> = c.products[range]
        .iter()
        .map(|p| {
            let fbs: i64 = p.fbs.iter().map(|s| s.0).sum();
            let reserved: i64 = p.fbs.iter().map(|s| s.1).sum();
            json!({ "offer_id": p.offer_id, "product_id": p.product_id, "stocks": [
                { "sku": p.sku, "type": "fbo", "present": p.fbo.iter().sum::<i64>(), "reserved": 0,
                  "shipment_type": "SHIPMENT_TYPE_GENERAL", "warehouse_ids": [] },
                { "sku": p.sku, "type": "fbs", "present": fbs, "reserved": reserved,
                  "shipment_type": "SHIPMENT_TYPE_GENERAL", "warehouse_ids": fbs_ids },
            ] })
        })
        .collect();
    Ok(json!({ "cursor": cursor, "total": c.products.len(), "items": items }))
}

#[derive(Deserialize)]
struct SkusRequest {
    skus: Vec<Value>,
}

fn sku_of(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

fn find_sku(c: &OzonCatalogue, sku: i64) -> Option<&OzonProduct> {
    c.products.iter().find(|p| p.sku == sku)
}

fn analytics_stocks(c: &OzonCatalogue, r: SkusRequest) -> Result<Value, String> {
    if r.skus.is_empty() || r.skus.len() > 100 {
        return Err("skus: between 1 and 100 values".into());
    }
    let mut items = Vec::new();
    for p in r.skus.iter().filter_map(sku_of).filter_map(|s| find_sku(c, s)) {
        for (w, quantity) in c.fbo_warehouses.iter().zip(&p.fbo).filter(|(_, q)| **q > 0) {
            items.push(json!({ "sku": p.sku, "offer_id": p.offer_id, "name": p.name,
                "warehouse_id": w.id, "warehouse_name": w.name, "cluster_id": 4000 + w.id % 10,
                "cluster_name": "Центр", "available_stock_count": quantity, "valid_stock_count": quantity,
                "transit_stock_count": 0, "requested_stock_count": 0, "return_from_customer_stock_count": 0,
                "return_to_seller_stock_count": 0, "expiring_stock_count": 0, "excess_stock_count": 0,
                "other_stock_count": 0, "stock_defect_stock_count": 0, "transit_defect_stock_count": 0,
                "waiting_docs_stock_count": 0, "ads": 0.5, "idc": 30.0, "days_without_sales": 0,
                "turnover_grade": "ACTUAL", "item_tags": [] }));
        }
    }
    Ok(json!({ "items": items }))
}

#[derive(Deserialize)]
struct FbsRequest {
    sku: Vec<Value>,
}

fn fbs_stocks(c: &OzonCatalogue, r: FbsRequest) -> Value {
    let mut result = Vec::new();
    for p in r.sku.iter().filter_map(sku_of).filter_map(|s| find_sku(c, s)) {
        for (w, (present, reserved)) in c.fbs_warehouses.iter().zip(&p.fbs) {
            result.push(json!({ "sku": p.sku, "product_id": p.product_id, "present": present,
                "reserved": reserved, "warehouse_id": w.id, "warehouse_name": w.name }));
        }
    }
    json!({ "result": result })
}

fn prices(c: &OzonCatalogue, r: ListRequest) -> Result<Value, String> {
    let limit = check_limit(r.limit)?;
    let start = untoken(&r.cursor)?;
    let (range, cursor) = window(c.products.len(), start, limit);
    let items: Vec<Value> = c.products[range]
        .iter()
        .map(|p| {
            let major = |k: i64| k as f64 / 100.0;
            json!({ "offer_id": p.offer_id, "product_id": p.product_id, "acquiring": 0, "volume_weight": 0.1,
                    "price": { "price": major(p.price), "old_price": major(p.old_price), "min_price": 0,
                               "marketing_price": major(p.price), "marketing_seller_price": major(p.price),
                               "net_price": 0, "retail_price": 0, "vat": 0.2, "currency_code": "RUB",
                               "auto_action_enabled": false } })
        })
        .collect();
    Ok(json!({ "cursor": cursor, "total": c.products.len(), "items": items }))
}

#[derive(Deserialize)]
struct PostingsRequest {
    filter: PostingsFilter,
    limit: i64,
    #[serde(default)]
    offset: i64,
}

#[derive(Deserialize)]
struct PostingsFilter {
    since: String,
    to: String,
}

fn postings(c: &OzonCatalogue, scheme: &str, r: PostingsRequest) -> Result<Value, String> {
    let limit = check_limit(r.limit)?;
    let time = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("filter: invalid time `{s}`"))
    };
    let (since, to) = (time(&r.filter.since)?, time(&r.filter.to)?);
    let mut matching: Vec<_> =
        c.postings.iter().filter(|p| p.scheme == scheme && p.in_process_at >= since && p.in_process_at <= to).collect();
    matching.sort_by_key(|p| (p.in_process_at, p.number.clone()));
    let offset = r.offset.max(0) as usize;
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|p| {
            let product = &c.products[p.product];
            let at = p.in_process_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let line = json!({ "sku": product.sku, "offer_id": product.offer_id, "name": product.name,
                "quantity": p.quantity, "price": rub(product.price), "currency_code": "RUB" });
            if scheme == "fbs" {
                json!({ "posting_number": p.number, "order_id": 1, "order_number": p.number, "status": p.status,
                    "in_process_at": at, "shipment_date": at, "products": [line],
                    "delivery_method": { "id": 1, "name": "Доставка", "warehouse": p.warehouse, "warehouse_id": 1 } })
            } else {
                json!({ "posting_number": p.number, "order_id": 1, "order_number": p.number, "status": p.status,
                    "in_process_at": at, "created_at": at, "products": [line],
                    "analytics_data": { "warehouse_name": p.warehouse, "warehouse_id": 1 } })
            }
        })
        .collect();
    let has_next = offset + page.len() < matching.len();
    Ok(if scheme == "fbs" {
        json!({ "result": { "postings": page, "has_next": has_next } })
    } else {
        json!({ "result": page })
    })
}
