//! The fake Yandex Market's routes: auth, version, rate-limit budget, then the method; every
//! answer carries the `X-RateLimit-Resource-*` headers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BUSINESS_ID, FBS_CAMPAIGN, FBY_CAMPAIGN, State, YmCatalogue, moscow_date};
use crate::server::Fault;

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move { dispatch(&state, &method, &uri, &headers, &body) }
    })
}

/// YM's error envelope.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "status": "ERROR", "errors": [{ "code": code, "message": message }] }))).into_response()
}

fn ok(result: Value) -> Response {
    Json(json!({ "status": "OK", "result": result })).into_response()
}

/// The resource a path counts against: its template (ids replaced).
fn resource(path: &str) -> String {
    path.split('/')
        .map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn dispatch(state: &State, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let path = uri.path();
    let key = headers.get("api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if key.is_empty() {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Credentials are not specified");
    }
    if key.starts_with("Bearer") {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Api-Key token prefix invalid");
    }
    if key != state.config.api_key {
        return error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Api-Key token is invalid");
    }
    let resource = resource(path);
    let limit = state.config.requests_per_minute;
    let now = Utc::now();
    let minute = now.timestamp() / 60;
    let until = |secs: i64| httpdate::fmt_http_date((now + chrono::Duration::seconds(secs)).into());
    let limited = |until: String| {
        let message = format!("Hit rate limit of '{limit}' requests per '1 minute' for resource '{resource}'");
        let mut resp = error(StatusCode::from_u16(420).unwrap(), "HIT_RATE_LIMIT", &message);
        set_limit_headers(&mut resp, limit, 0, &until);
        resp
    };
    match state.faults.take(path) {
        Some(Fault::RateLimited(secs)) => return limited(until(secs as i64)),
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "INTERNAL_ERROR", "Service temporarily unavailable. Please, try again later");
        }
        None => {}
    }
    let remaining = {
        let mut budgets = state.budgets.lock().unwrap();
        let entry = budgets.entry(resource.clone()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        limit.checked_sub(entry.1)
    };
    let window_end = until(60 - now.timestamp() % 60);
    let Some(remaining) = remaining else {
        return limited(window_end);
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let mut resp = route(state, method, path, &query, body);
    set_limit_headers(&mut resp, limit, remaining, &window_end);
    resp
}

fn set_limit_headers(resp: &mut Response, limit: u32, remaining: u32, until: &str) {
    let h = resp.headers_mut();
    h.insert("x-ratelimit-resource-limit", limit.into());
    h.insert("x-ratelimit-resource-remaining", remaining.into());
    if let Ok(v) = HeaderValue::from_str(until) {
        h.insert("x-ratelimit-resource-until", v);
    }
}

fn route(state: &State, method: &Method, path: &str, query: &HashMap<String, String>, body: &[u8]) -> Response {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let catalogue = state.catalogue.lock().unwrap();
    let id = |s: &str| s.parse::<i64>().ok();
    let page = match Page::read(query) {
        Ok(page) => page,
        Err(message) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v2", "campaigns"]) => campaigns(),
        ("GET", ["v2", "warehouses"]) => ok(json!({ "warehouses": catalogue.fby_warehouses.iter()
            .map(|w| json!({ "id": w.id, "name": w.name })).collect::<Vec<_>>() })),
        ("GET", ["v2", "businesses", b, "warehouses"]) if id(b) == Some(BUSINESS_ID) => {
            let w = &catalogue.fbs_warehouse;
            ok(json!({ "warehouses": [{ "id": w.id, "name": w.name, "campaignId": FBS_CAMPAIGN, "express": false }],
                       "warehouseGroups": [] }))
        }
        ("POST", ["v2", "businesses", b, "offer-mappings"]) if id(b) == Some(BUSINESS_ID) => {
            offer_mappings(&catalogue, page.limit(100))
        }
        ("POST", ["v2", "campaigns", c, "offers", "stocks"]) if matches!(id(c), Some(FBY_CAMPAIGN | FBS_CAMPAIGN)) => {
            stocks(&catalogue, id(c).unwrap(), page.limit(100))
        }
        ("POST", ["v2", "campaigns", c, "stats", "orders"]) if matches!(id(c), Some(FBY_CAMPAIGN | FBS_CAMPAIGN)) => {
            match serde_json::from_slice::<StatsRequest>(if body.is_empty() { b"{}" } else { body }) {
                Ok(r) => stats_orders(&catalogue, id(c).unwrap(), r, page.limit(200)),
                Err(e) => error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("JSON: {e}")),
            }
        }
        (_, ["v2", "campaigns", c, ..]) => {
            error(StatusCode::FORBIDDEN, "FORBIDDEN", &format!("Access denied for campaign '{c}'"))
        }
        (_, ["v2", "businesses", b, ..]) => {
            error(StatusCode::FORBIDDEN, "FORBIDDEN", &format!("Access denied for business '{b}'"))
        }
        _ => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Resource not found"),
    }
}

/// `page_token` (or `pageToken`) and `limit`.
struct Page {
    start: usize,
    limit: Option<usize>,
}

impl Page {
    fn read(query: &HashMap<String, String>) -> Result<Self, String> {
        let token = query.get("page_token").or_else(|| query.get("pageToken")).filter(|t| !t.is_empty());
        let start = match token {
            None => 0,
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok()?.parse().ok())
                .ok_or_else(|| "Invalid page_token".to_owned())?,
        };
        let limit = match query.get("limit") {
            None => None,
            Some(l) => Some(l.parse::<usize>().ok().filter(|l| *l > 0).ok_or_else(|| format!("Invalid limit: {l}"))?),
        };
        Ok(Self { start, limit })
    }

    /// The page's size: the limit, truncated to `max` (YM's behaviour since 2026-08).
    fn limit(&self, max: usize) -> Paged {
        Paged { start: self.start, size: self.limit.unwrap_or(max / 2).min(max) }
    }
}

#[derive(Clone, Copy)]
struct Paged {
    start: usize,
    size: usize,
}

impl Paged {
    /// The range of `len` items this page holds, and the paging object (no token at the end).
    fn of(self, len: usize) -> (std::ops::Range<usize>, Value) {
        let range = self.start.min(len)..(self.start + self.size).min(len);
        let paging = if range.end < len {
            json!({ "nextPageToken": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(range.end.to_string()) })
        } else {
            json!({})
        };
        (range, paging)
    }
}

fn campaigns() -> Response {
    let campaign = |id: i64, placement: &str| {
        json!({ "domain": format!("Магазин {placement}"), "id": id, "business": { "id": BUSINESS_ID, "name": "Бизнес" },
                "placementType": placement, "apiAvailability": "AVAILABLE" })
    };
    Json(json!({
        "campaigns": [campaign(FBY_CAMPAIGN, "FBY"), campaign(FBS_CAMPAIGN, "FBS")],
        "pager": { "total": 2, "from": 1, "to": 2, "currentPage": 1, "pagesCount": 1, "pageSize": 100 },
        "paging": {},
    }))
    .into_response()
}

/// Roubles as a JSON number.
fn rub(kopecks: i64) -> f64 {
    kopecks as f64 / 100.0
}

fn offer_mappings(c: &YmCatalogue, page: Paged) -> Response {
    let (range, paging) = page.of(c.offers.len());
    let mappings: Vec<Value> = c.offers[range]
        .iter()
        .map(|o| {
            let mut price = json!({ "value": rub(o.price), "currencyId": "RUR", "updatedAt": "2026-11-01T00:00:00Z" });
            if o.discount_base > 0 {
                price["discountBase"] = json!(rub(o.discount_base));
            }
            json!({ "offer": { "offerId": o.offer_id, "name": o.name, "vendor": o.vendor, "barcodes": [o.barcode],
                               "basicPrice": price, "cardStatus": "HAS_CARD_CAN_UPDATE", "archived": false },
                    "mapping": { "marketSku": o.market_sku, "marketSkuName": o.name } })
        })
        .collect();
    ok(json!({ "paging": paging, "offerMappings": mappings }))
}

fn stocks(c: &YmCatalogue, campaign: i64, page: Paged) -> Response {
    let (range, paging) = page.of(c.offers.len());
    let offers = &c.offers[range];
    let stock = |kind: &str, count: i64| json!({ "type": kind, "count": count });
    let warehouses: Vec<Value> = if campaign == FBY_CAMPAIGN {
        c.fby_warehouses
            .iter()
            .enumerate()
            .map(|(w, warehouse)| {
                let offers: Vec<Value> = offers
                    .iter()
                    .map(|o| {
                        let (available, freeze) = o.fby[w];
                        json!({ "offerId": o.offer_id, "updatedAt": "2026-12-01T10:00:00+03:00", "stocks": [
                            stock("FIT", available + freeze), stock("FREEZE", freeze), stock("AVAILABLE", available),
                            stock("QUARANTINE", i64::from(available % 7 == 0)),
                        ] })
                    })
                    .collect();
                json!({ "warehouseId": warehouse.id, "offers": offers })
            })
            .collect()
    } else {
        let offers: Vec<Value> = offers
            .iter()
            .map(|o| json!({ "offerId": o.offer_id, "stocks": [stock("FIT", o.fbs), stock("AVAILABLE", o.fbs)] }))
            .collect();
        vec![json!({ "warehouseId": c.fbs_warehouse.id, "offers": offers })]
    };
    ok(json!({ "paging": paging, "warehouses": warehouses }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatsRequest {
    date_from: Option<NaiveDate>,
    date_to: Option<NaiveDate>,
    update_from: Option<NaiveDate>,
    update_to: Option<NaiveDate>,
}

fn stats_orders(c: &YmCatalogue, campaign: i64, r: StatsRequest, page: Paged) -> Response {
    let within = |d: NaiveDate, from: Option<NaiveDate>, to: Option<NaiveDate>| {
        from.is_none_or(|f| d >= f) && to.is_none_or(|t| d <= t)
    };
    if r.date_from.is_none() && r.update_from.is_none() {
        return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "Missing field: dateFrom or updateFrom");
    }
    let matching: Vec<_> = c
        .orders
        .iter()
        .filter(|o| o.campaign_id == campaign)
        .filter(|o| within(o.creation_date, r.date_from, r.date_to))
        .filter(|o| within(moscow_date(o.status_update), r.update_from, r.update_to))
        .collect();
    let (range, paging) = page.of(matching.len());
    let orders: Vec<Value> = matching[range]
        .iter()
        .map(|o| {
            let offer = &c.offers[o.offer];
            let total = rub(offer.price * o.count);
            json!({ "id": o.id, "creationDate": o.creation_date, "status": o.status,
                "statusUpdateDate": (o.status_update + chrono::Duration::hours(3)).naive_utc().format("%Y-%m-%dT%H:%M:%S+03:00").to_string(),
                "partnerOrderId": "", "paymentType": "PREPAID", "fake": false,
                "items": [{ "offerName": offer.name, "marketSku": offer.market_sku, "shopSku": offer.offer_id,
                            "count": o.count, "prices": [{ "type": "BUYER", "costPerItem": rub(offer.price), "total": total }],
                            "warehouse": { "id": o.warehouse.id, "name": o.warehouse.name } }],
                "payments": [], "commissions": [], "currency": "RUR" })
        })
        .collect();
    ok(json!({ "paging": paging, "orders": orders }))
}
