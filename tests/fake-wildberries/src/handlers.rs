//! HTTP handlers of the fake, with WB's paths, headers and bodies.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Endpoint, State};

pub(crate) type Shared = AxumState<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/ping", get(|| async { axum::Json(json!({ "TS": chrono::Utc::now().to_rfc3339(), "Status": "OK" })) }))
        .route("/content/v2/get/cards/list", post(cards_list))
        .route("/api/v1/supplier/stocks", get(supplier_stocks))
        .route("/api/v1/warehouse_remains", get(crate::report::create))
        .route("/api/v1/warehouse_remains/tasks/{task_id}/status", get(crate::report::status))
        .route("/api/v1/warehouse_remains/tasks/{task_id}/download", get(crate::report::download))
        .route("/api/v3/warehouses", get(crate::seller::warehouses))
        .route("/api/v3/stocks/{warehouse_id}", post(crate::seller::stocks))
        .route("/api/v2/list/goods/filter", get(crate::seller::prices))
        .route("/api/v1/supplier/orders", get(crate::seller::orders))
        .route("/api/v1/supplier/sales", get(crate::seller::sales))
        .layer(axum::middleware::from_fn_with_state(state.clone(), latency))
        .with_state(state)
}

/// Answers after the configured latency ([`crate::FakeWildberries::set_latency`]).
async fn latency(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let delay = *state.latency.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

/// WB's gateway error body (401, 429).
fn gateway(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({
        "title": title,
        "detail": detail,
        "code": "07e4668e--a53a3d31f8b0-[UK-oWaVDUqNrKG]; 03bce=277; 84bd353bf-75",
        "requestId": uuid::Uuid::now_v7().simple().to_string(),
        "origin": "s2s-api-auth-catalog",
        "status": status.as_u16(),
        "statusText": status.canonical_reason().unwrap_or(""),
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    (status, axum::Json(body)).into_response()
}

/// Auth, category and rate-limit checks shared by every endpoint; `Err` is the refusal to send.
#[allow(clippy::result_large_err)] // handled at once by the caller; boxing would only add noise
pub(crate) fn admit(state: &State, headers: &HeaderMap, endpoint: Endpoint) -> Result<(), Response> {
    state.requests.lock().unwrap().push(endpoint);
    let token =
        headers.get("authorization").and_then(|v| v.to_str().ok()).map(|v| v.strip_prefix("Bearer ").unwrap_or(v));
    match token {
        None | Some("") => return Err(gateway(StatusCode::UNAUTHORIZED, "unauthorized", "empty Authorization header")),
        Some(t) if t != state.config.token && !state.extra_tokens.lock().unwrap().contains(t) => {
            return Err(gateway(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "token problem; token is malformed: could not base64 decode signature: illegal base64 data at input byte 84",
            ));
        }
        Some(_) => {}
    }
    let token = token.unwrap_or_default();
    let category = match endpoint {
        Endpoint::Cards => crate::CONTENT,
        Endpoint::Stocks | Endpoint::Orders | Endpoint::Sales => crate::STATISTICS,
        Endpoint::Report => crate::ANALYTICS,
        Endpoint::Prices => crate::PRICES,
        Endpoint::Marketplace => crate::MARKETPLACE,
    };
    let scoped = match crate::token_categories(token) {
        Some(bits) => bits & (1 << category) != 0,
        None => match category {
            crate::CONTENT => state.config.content_scope,
            crate::STATISTICS => state.config.statistics_scope,
            crate::ANALYTICS => state.config.analytics_scope,
            crate::PRICES => state.config.prices_scope,
            _ => state.config.marketplace_scope,
        },
    };
    if !scoped {
        return Err(gateway(StatusCode::UNAUTHORIZED, "unauthorized", "token scope not allowed"));
    }
    let mut failures = state.failures.lock().unwrap();
    if let Some(pos) = failures.iter().position(|(e, n, _)| *e == endpoint && *n > 0) {
        let status = StatusCode::from_u16(failures[pos].2).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        failures[pos].1 -= 1;
        if failures[pos].1 == 0 {
            failures.remove(pos);
        }
        return Err(gateway(status, "internal server error", "something went wrong"));
    }
    drop(failures);
    let mut limits = state.rate_limits.lock().unwrap();
    if let Some(pos) = limits.iter().position(|(e, n, _)| *e == endpoint && *n > 0) {
        let retry = limits[pos].2;
        limits[pos].1 -= 1;
        if limits[pos].1 == 0 {
            limits.remove(pos);
        }
        let mut res = gateway(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests",
            "limited by c122a060-a7fb-4bb4-abb0-32fd4e18d489",
        );
        let h = res.headers_mut();
        h.insert("x-ratelimit-retry", HeaderValue::from(retry));
        h.insert("x-ratelimit-limit", HeaderValue::from(10));
        h.insert("x-ratelimit-reset", HeaderValue::from(retry.max(1) * 10));
        return Err(res);
    }
    Ok(())
}

/// A basic-tier token's limit on `key` (a bucket of one token, refilled every `every`); `Err` is
/// the 429 to send. Other tokens pass.
#[allow(clippy::result_large_err)] // handled at once by the caller, like `admit`
pub(crate) fn basic_tier(state: &State, key: &'static str) -> Result<(), Response> {
    if !state.config.basic_tier {
        return Ok(());
    }
    let every = chrono::Duration::seconds(match key {
        "orders" => 3 * 3600,
        "sales" => 2 * 3600,
        _ => 900,
    });
    let now = state.now();
    let mut buckets = state.buckets.lock().unwrap();
    let next = buckets.entry(key).or_insert(now);
    if *next > now {
        let retry = (*next - now).num_seconds().max(1) as u64;
        let mut res = gateway(StatusCode::TOO_MANY_REQUESTS, "too many requests", "limited by base token limits");
        let h = res.headers_mut();
        h.insert("x-ratelimit-retry", HeaderValue::from(retry));
        h.insert("x-ratelimit-limit", HeaderValue::from(1));
        h.insert("x-ratelimit-reset", HeaderValue::from(retry));
        return Err(res);
    }
    *next = now + every;
    Ok(())
}

/// [`admit`], then the basic tier's limit on `key`.
#[allow(clippy::result_large_err)] // handled at once by the caller, like `admit`
pub(crate) fn admit_limited(
    state: &State,
    headers: &HeaderMap,
    endpoint: Endpoint,
    key: &'static str,
) -> Result<(), Response> {
    admit(state, headers, endpoint)?;
    basic_tier(state, key)
}

pub(crate) fn with_remaining(mut res: Response) -> Response {
    res.headers_mut().insert("x-ratelimit-remaining", HeaderValue::from(9));
    res
}

#[derive(Deserialize)]
struct CardsBody {
    #[serde(default)]
    settings: Option<CardsSettings>,
}

#[derive(Deserialize, Default)]
struct CardsSettings {
    #[serde(default)]
    cursor: Option<CardsCursor>,
}

#[derive(Deserialize, Default)]
struct CardsCursor {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(rename = "updatedAt", default)]
    updated_at: Option<String>,
    #[serde(rename = "nmID", default)]
    nm_id: Option<i64>,
}

fn content_error(detail: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "data": null, "error": true, "errorText": detail, "additionalErrors": null })),
    )
        .into_response()
}

async fn cards_list(AxumState(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(res) = admit(&state, &headers, Endpoint::Cards) {
        return res;
    }
    let Ok(body) = serde_json::from_slice::<CardsBody>(&body) else {
        return content_error("Request body can not be decoded");
    };
    let cursor = body.settings.unwrap_or_default().cursor.unwrap_or_default();
    let limit = cursor.limit.unwrap_or(10);
    if limit == 0 || limit > 100 {
        return content_error("cursor.limit must be between 1 and 100");
    }
    let after = cursor.updated_at.clone().zip(cursor.nm_id);
    let catalogue = state.catalogue.lock().unwrap();
    // Cards are kept in (updatedAt, nmID) order: the page starts after the cursor's card.
    let start =
        after.as_ref().map_or(0, |(u, n)| catalogue.cards.partition_point(|c| (&c.updated_at, c.nm_id) <= (u, *n)));
    let page: Vec<&crate::catalogue::Card> = catalogue.cards[start..].iter().take(limit as usize).collect();
    let json_cards: Vec<Value> = page.iter().map(|c| card_json(c)).collect();
    let last = page.last();
    let body = json!({
        "cards": json_cards,
        "cursor": {
            "updatedAt": last.map(|c| c.updated_at.clone()).or(cursor.updated_at),
            "nmID": last.map(|c| c.nm_id).or(cursor.nm_id),
            "total": page.len(),
        }
    });
    with_remaining(axum::Json(body).into_response())
}

fn card_json(c: &crate::catalogue::Card) -> Value {
    json!({
        "nmID": c.nm_id,
        "imtID": c.nm_id + 7_000_000,
        "nmUUID": uuid::Uuid::from_u64_pair(0x01bd_a0b1, c.nm_id as u64).to_string(),
        "subjectID": 7771,
        "subjectName": c.subject,
        "vendorCode": c.vendor_code,
        "brand": c.brand,
        "title": c.title,
        "description": "",
        "needKiz": false,
        "kizMarked": false,
        "photos": [],
        "video": "",
        "wholesale": { "enabled": false, "quantum": 0 },
        "dimensions": { "length": 10, "width": 10, "height": 10, "weightBrutto": 0.5, "isValid": true },
        "characteristics": [],
        "sizes": c.sizes.iter().map(|s| json!({
            "chrtID": s.chrt_id, "techSize": s.tech_size, "wbSize": "", "skus": [s.barcode],
        })).collect::<Vec<_>>(),
        "tags": [],
        "createdAt": c.updated_at,
        "updatedAt": c.updated_at,
    })
}

#[derive(Deserialize)]
struct StocksQuery {
    #[serde(rename = "dateFrom")]
    date_from: Option<String>,
}

/// `dateFrom` as WB reads it: a date (from its midnight, inclusive) or a date-time (exclusive,
/// so passing the last row's `lastChangeDate` continues after it).
pub(crate) fn parse_date_from(raw: &str) -> Option<(NaiveDateTime, bool)> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Some((date.and_hms_opt(0, 0, 0)?, true));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| (t, false))
}

async fn supplier_stocks(AxumState(state): Shared, headers: HeaderMap, Query(q): Query<StocksQuery>) -> Response {
    if let Err(res) = admit(&state, &headers, Endpoint::Stocks) {
        return res;
    }
    let Some(raw) = q.date_from.filter(|d| !d.is_empty()) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": ["dateFrom: field required"] })))
            .into_response();
    };
    let Some((from, inclusive)) = parse_date_from(&raw) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": "dateFrom: Value not validated" })))
            .into_response();
    };
    let catalogue = state.catalogue.lock().unwrap();
    let rows: Vec<Value> = catalogue
        .stocks
        .iter()
        .filter(|r| if inclusive { r.last_change >= from } else { r.last_change > from })
        .take(state.config.stocks_page_cap)
        .map(|r| {
            json!({
                "lastChangeDate": r.last_change.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "warehouseName": r.warehouse,
                "supplierArticle": r.vendor_code,
                "nmId": r.nm_id,
                "barcode": r.barcode,
                "quantity": r.quantity,
                "inWayToClient": r.in_way_to_client,
                "inWayFromClient": r.in_way_from_client,
                "quantityFull": r.quantity + r.in_way_to_client + r.in_way_from_client,
                "category": "Дом",
                "subject": "Товары для дома",
                "brand": "Тест",
                "techSize": r.tech_size,
                "Price": r.price,
                "Discount": 0,
                "isSupply": true,
                "isRealization": false,
                "SCCode": "Tech",
            })
        })
        .collect();
    with_remaining(axum::Json(rows).into_response())
}
