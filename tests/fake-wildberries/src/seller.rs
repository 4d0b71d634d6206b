//! The seller's warehouses and their stock (`02-items.yaml`, marketplace API), prices
//! (discounts-prices API), orders and sales (`12-reports.yaml`, statistics API).

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Endpoint;
use crate::handlers::{Shared, admit, admit_limited, parse_date_from, with_remaining};

/// The marketplace API's error body (`{code, message}`).
fn marketplace_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "code": code, "message": message }))).into_response()
}

/// `GET /api/v3/warehouses`
pub(crate) async fn warehouses(axum::extract::State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(res) = admit(&state, &headers, Endpoint::Marketplace) {
        return res;
    }
    let catalogue = state.catalogue.lock().unwrap();
    let list: Vec<Value> = catalogue
        .seller_warehouses
        .iter()
        .map(|w| {
            json!({ "name": w.name, "officeId": 15, "id": w.id, "cargoType": 1, "deliveryType": 1,
                    "isDeleting": false, "isProcessing": false })
        })
        .collect();
    with_remaining(axum::Json(list).into_response())
}

#[derive(Deserialize)]
pub(crate) struct StocksBody {
    #[serde(rename = "chrtIds")]
    chrt_ids: Vec<i64>,
}

/// `POST /api/v3/stocks/{warehouseId}`
pub(crate) async fn stocks(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Path(warehouse_id): Path<i64>,
    body: Bytes,
) -> Response {
    if let Err(res) = admit(&state, &headers, Endpoint::Marketplace) {
        return res;
    }
    let Ok(body) = serde_json::from_slice::<StocksBody>(&body) else {
        return marketplace_error(StatusCode::BAD_REQUEST, "IncorrectRequestBody", "Incorrect required body");
    };
    if body.chrt_ids.is_empty() || body.chrt_ids.len() > 1000 {
        return marketplace_error(StatusCode::BAD_REQUEST, "IncorrectRequestBody", "chrtIds: 1 to 1000 items");
    }
    let catalogue = state.catalogue.lock().unwrap();
    if !catalogue.seller_warehouses.iter().any(|w| w.id == warehouse_id) {
        return marketplace_error(StatusCode::NOT_FOUND, "NotFound", "");
    }
    let stocks: Vec<Value> = body
        .chrt_ids
        .iter()
        .filter_map(|chrt| {
            let amount = catalogue.seller_stock.get(&(*chrt, warehouse_id))?;
            Some(json!({ "chrtId": chrt, "amount": amount }))
        })
        .collect();
    with_remaining(axum::Json(json!({ "stocks": stocks })).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PricesQuery {
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
}

/// The prices API's error body.
fn prices_error(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "data": null, "error": true, "errorText": text }))).into_response()
}

/// `GET /api/v2/list/goods/filter?limit&offset`
pub(crate) async fn prices(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Query(q): Query<PricesQuery>,
) -> Response {
    if let Err(res) = admit_limited(&state, &headers, Endpoint::Prices, "prices") {
        return res;
    }
    let Some(limit) = q.limit.filter(|l| (1..=1000).contains(l)) else {
        return prices_error("limit: must be from 1 to 1000");
    };
    let catalogue = state.catalogue.lock().unwrap();
    let goods: Vec<Value> = catalogue
        .cards
        .iter()
        .skip(q.offset)
        .take(limit)
        .map(|c| {
            let discounted = c.price as f64 * f64::from(100 - c.discount) / 100.0;
            json!({
                "nmID": c.nm_id, "vendorCode": c.vendor_code, "currencyIsoCode4217": "RUB",
                "discount": c.discount, "clubDiscount": 0, "editableSizePrice": false, "isBadTurnover": false,
                "sizes": c.sizes.iter().map(|s| json!({
                    "sizeID": s.chrt_id, "price": c.price, "discountedPrice": discounted,
                    "clubDiscountedPrice": discounted, "techSizeName": s.tech_size,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    with_remaining(
        axum::Json(json!({ "data": { "listGoods": goods }, "error": false, "errorText": "" })).into_response(),
    )
}

#[derive(Deserialize)]
pub(crate) struct StatisticsQuery {
    #[serde(rename = "dateFrom")]
    date_from: Option<String>,
    #[serde(default)]
    flag: u8,
}

fn statistics_error(text: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [text] }))).into_response()
}

/// `dateFrom`, or the error answer.
#[allow(clippy::result_large_err)] // handled at once by the caller
fn date_from(q: &StatisticsQuery) -> Result<(NaiveDateTime, bool), Response> {
    let raw =
        q.date_from.as_deref().filter(|d| !d.is_empty()).ok_or_else(|| statistics_error("dateFrom: field required"))?;
    if q.flag != 0 {
        return Err(statistics_error("flag: only 0 is served by this fake"));
    }
    parse_date_from(raw).ok_or_else(|| statistics_error("dateFrom: Value not validated"))
}

fn msk(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The fields every orders and sales row has.
fn unit_json(u: &crate::Unit) -> serde_json::Map<String, Value> {
    let row = json!({
        "date": msk(u.date), "lastChangeDate": msk(u.last_change), "warehouseName": u.warehouse,
        "warehouseType": "Склад WB", "countryName": "Россия", "oblastOkrugName": "Центральный федеральный округ",
        "regionName": "Московская", "supplierArticle": u.vendor_code, "nmId": u.nm_id, "barcode": u.barcode,
        "category": "Дом", "subject": "Товары для дома", "brand": "Тест", "techSize": u.tech_size,
        "incomeID": 56735459, "isSupply": false, "isRealization": true, "totalPrice": u.price_with_disc,
        "discountPercent": 0, "spp": 0, "finishedPrice": u.price_with_disc, "priceWithDisc": u.price_with_disc,
        "sticker": "926912515", "gNumber": "34343462218572569531", "srid": u.srid,
    });
    let Value::Object(map) = row else { unreachable!("an object literal") };
    map
}

/// Rows of one statistics listing changed after `dateFrom`, at most `sales_page_cap`.
fn listing<T>(
    state: &crate::State,
    headers: &HeaderMap,
    q: &StatisticsQuery,
    (endpoint, limit): (Endpoint, &'static str),
    rows: impl Fn(&crate::Catalogue) -> &[T],
    unit: impl Fn(&T) -> &crate::Unit,
    extra: impl Fn(&T) -> Value,
) -> Response {
    if let Err(res) = admit_limited(state, headers, endpoint, limit) {
        return res;
    }
    let (from, inclusive) = match date_from(q) {
        Ok(from) => from,
        Err(res) => return res,
    };
    let catalogue = state.catalogue.lock().unwrap();
    let body: Vec<Value> = rows(&catalogue)
        .iter()
        .filter(|r| {
            let changed = unit(r).last_change;
            if inclusive { changed >= from } else { changed > from }
        })
        .take(state.config.sales_page_cap)
        .map(|r| {
            let mut row = unit_json(unit(r));
            if let Value::Object(more) = extra(r) {
                row.extend(more);
            }
            Value::Object(row)
        })
        .collect();
    with_remaining(axum::Json(body).into_response())
}

/// `GET /api/v1/supplier/orders?dateFrom&flag=0`
pub(crate) async fn orders(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Query(q): Query<StatisticsQuery>,
) -> Response {
    listing(
        &state,
        &headers,
        &q,
        (Endpoint::Orders, "orders"),
        |c| &c.orders,
        |o| &o.unit,
        |o| {
            json!({
                "isCancel": o.cancel_date.is_some(),
                "cancelDate": o.cancel_date.map_or_else(|| "0001-01-01T00:00:00".to_owned(), msk),
            })
        },
    )
}

/// `GET /api/v1/supplier/sales?dateFrom&flag=0`
pub(crate) async fn sales(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    Query(q): Query<StatisticsQuery>,
) -> Response {
    listing(
        &state,
        &headers,
        &q,
        (Endpoint::Sales, "sales"),
        |c| &c.sales,
        |s| &s.unit,
        |s| json!({ "saleID": s.sale_id, "paymentSaleAmount": 0, "forPay": s.unit.price_with_disc * 0.8 }),
    )
}
