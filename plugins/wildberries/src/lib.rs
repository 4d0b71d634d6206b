//! Stock Tracker adapter for the Wildberries seller API (WIT `stock-tracker:marketplace@0.2.0`).
//!
//! - Credentials: one field, `token` (a WB API token), sent as-is in `Authorization`. WB tokens
//!   are JWTs: [`token`] reads their expiry and API categories, and a connection whose token
//!   lacks a category its settings use is refused, naming it.
//! - Settings: `stocks_source` (`report`, the default, or `statistics`), and `sales`, `prices`,
//!   `seller_stocks` (`on`, the default, or `off`).
//! - Products: `POST content-api /content/v2/get/cards/list`, cursor `{updatedAt, nmID}`, 100
//!   cards a page, done when `cursor.total < limit`; one product per size, with its barcodes and
//!   its `chrtID` as the variant id.
//! - Stocks of WB's warehouses, `stocks_source`:
//!   - `report`: the warehouse-remains report on `seller-analytics-api` (WB removed the
//!     statistics stocks on 2026-06-23). The task is created (`GET /api/v1/warehouse_remains`),
//!     its status checked; while WB makes it the adapter answers `rate-limited(5)` with the task
//!     id as the resume value, so the host asks about the same task again (after a deferral of
//!     hours too: a basic-tier token's 4 report requests an hour are never spent on a second
//!     task). The download, the whole catalogue in one body, is spooled by the host and read
//!     [`REPORT_PAGE_ROWS`] rows a call ([`stock_tracker_plugin_sdk::spool`]), so any catalogue
//!     fits the call's memory. In-transit counts are per product there.
//!   - `statistics`: the legacy `GET statistics-api /api/v1/supplier/stocks?dateFrom=…`, paging
//!     by the last row's `lastChangeDate` until `[]`.
//! - The seller's own warehouses (FBS/DBS): `GET marketplace-api /api/v3/warehouses` once per
//!   batch of products (the cursor carries the list), then `POST /api/v3/stocks/{warehouseId}`
//!   with the batch's `chrtIds`, one warehouse a call.
//! - Prices: `GET discounts-prices-api /api/v2/list/goods/filter`, 1,000 goods a page by offset.
//! - Sales: `GET statistics-api /api/v1/supplier/orders` and `/supplier/sales` (`flag=0`: rows
//!   changed since `dateFrom`), each paged by its last `lastChangeDate`; an answer below WB's
//!   80,000-row cap is the last. Answers are spooled and read 10,000 rows a call (80,000 rows are
//!   tens of MiB). The cursor keeps both dates for the next sync; the first sync reads the 90
//!   days WB keeps.
//! - Setting `base_url` replaces every WB host (a fake or a sandbox serves every path).
//! - Errors: 401/403 → `invalid-credentials` with WB's detail; 429 →
//!   `rate-limited(X-Ratelimit-Retry)`; 5xx → `transient`; other 4xx → `upstream` with WB's text.

pub mod api;
pub mod mapping;
mod sales;
pub mod token;

use stock_tracker_plugin_sdk::http::{self, Response};
use stock_tracker_plugin_sdk::spool::SpooledArray;
use stock_tracker_plugin_sdk::{
    Account, Adapter, AdapterError, AdapterInfo, Capability, Context, CredentialField, PageRequest, PricePage,
    ProductPage, ProductRef, SalePage, SettingField, StockLevel, StockPage, WarehouseKind, rate_limited,
};

use crate::api::{CardsListRequest, CardsListSettings, Filter, MAX_CARDS_PER_PAGE, RequestCursor, Sort};
use crate::token::Category;

/// Where the statistics listing starts: early enough to include every row.
const STOCKS_FROM: &str = "2019-06-20";
/// Seconds between status checks of a report task (WB allows one every 5 s).
const REPORT_POLL_SECS: u64 = 5;
/// The resume value of a report whose task exists: `task:<id>`.
const TASK_RESUME: &str = "task:";
/// The cursor of a report being read: `spool:<body id>:<offset>`.
const SPOOL_CURSOR: &str = "spool:";
/// Report rows (sizes) per call: about 5 levels each, a few MiB of records.
pub const REPORT_PAGE_ROWS: usize = 10_000;

pub struct Wildberries;

fn setting(name: &str, label: &str, allowed: &[&str]) -> SettingField {
    SettingField { name: name.into(), label: label.into(), allowed: allowed.iter().map(|a| (*a).into()).collect() }
}

/// Whether an `on`/`off` setting is on (the default).
fn enabled(ctx: &Context, name: &str) -> bool {
    ctx.setting(name) != Some("off")
}

impl Adapter for Wildberries {
    fn info() -> AdapterInfo {
        AdapterInfo {
            id: "wildberries".into(),
            name: "Wildberries".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            marketplace: "wildberries".into(),
            credential_fields: vec![CredentialField {
                name: "token".into(),
                label: "API token (categories: Content, Analytics, Statistics, Prices, Marketplace)".into(),
                secret: true,
            }],
            capabilities: vec![Capability::Sales, Capability::Prices, Capability::SellerStock],
            settings: vec![
                setting("stocks_source", "Where WB warehouse stock comes from", &["report", "statistics"]),
                setting("sales", "Orders and sales (Statistics category)", &["on", "off"]),
                setting("prices", "Prices and discounts (Prices category)", &["on", "off"]),
                setting("seller_stocks", "The seller's own warehouses, FBS/DBS (Marketplace category)", &["on", "off"]),
            ],
        }
    }

    fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError> {
        let claims = token::claims(ctx.credential("token")?);
        if let Some(claims) = &claims {
            if let Some(missing) = token::missing(claims, &needed_categories(ctx)) {
                return Err(AdapterError::InvalidCredentials(missing));
            }
            let now = chrono::Utc::now().timestamp().max(0) as u64;
            if let Some(exp) = claims.expires_at.filter(|exp| *exp <= now) {
                let when = chrono::DateTime::from_timestamp(exp as i64, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
                return Err(AdapterError::InvalidCredentials(format!("the token expired at {when}")));
            }
        }
        let body = cards_request(RequestCursor { limit: 1, updated_at: None, nm_id: None });
        let resp = call(ctx, "POST", &url(ctx, api::CONTENT_HOST, "/content/v2/get/cards/list"), Some(&body), None)?;
        let (products, _) = mapping::parse_products_page(&resp.body, 1)?;
        Ok(Account {
            description: format!(
                "Wildberries seller account (content API reachable, {} product(s) on the first page)",
                products.len()
            ),
            expires_at: claims.and_then(|c| c.expires_at),
        })
    }

    fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError> {
        let limit = page.page_size.clamp(1, MAX_CARDS_PER_PAGE);
        let cursor = match page.cursor {
            Some(c) => serde_json::from_str::<RequestCursor>(&c)
                .map_err(|e| AdapterError::Internal(format!("bad product cursor: {e}")))?,
            None => RequestCursor { limit, updated_at: None, nm_id: None },
        };
        let limit = cursor.limit;
        let resp = call(
            ctx,
            "POST",
            &url(ctx, api::CONTENT_HOST, "/content/v2/get/cards/list"),
            Some(&cards_request(cursor)),
            None,
        )?;
        let (items, next) = mapping::parse_products_page(&resp.body, limit)?;
        let next_cursor = next.map(|c| serde_json::to_string(&c).expect("cursor serializes"));
        Ok(ProductPage { items, next_cursor })
    }

    fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
        match ctx.setting("stocks_source").unwrap_or("report") {
            "report" => report_stocks(ctx, page),
            "statistics" => statistics_stocks(ctx, page),
            other => Err(AdapterError::Unsupported(format!(
                "settings.stocks_source `{other}`: expected `report` or `statistics`"
            ))),
        }
    }

    fn fetch_seller_stocks(
        ctx: &Context,
        page: PageRequest,
        products: Vec<ProductRef>,
    ) -> Result<StockPage, AdapterError> {
        if !enabled(ctx, "seller_stocks") || products.is_empty() {
            return Ok(empty_stock_page());
        }
        // The batch's first call lists the warehouses; the cursor carries the list to the rest.
        let cursor: SellerCursor = match page.cursor.as_deref() {
            Some(c) if c.starts_with('{') => serde_json::from_str(c)
                .map_err(|e| AdapterError::Internal(format!("bad seller stock cursor `{c}`: {e}")))?,
            other => {
                // Before 0.3.1 the cursor was the bare index: list again.
                let index = other.map_or(Ok(0), str::parse).map_err(|_| {
                    AdapterError::Internal(format!("bad seller stock cursor `{}`", other.unwrap_or_default()))
                })?;
                let resp = call(ctx, "GET", &url(ctx, api::MARKETPLACE_HOST, "/api/v3/warehouses"), None::<&()>, None)?;
                let warehouses: Vec<api::Warehouse> = parse(&resp, "warehouse list")?;
                SellerCursor { index, warehouses: warehouses.into_iter().map(|w| (w.id, w.name)).collect() }
            }
        };
        let index = cursor.index;
        let Some((warehouse_id, warehouse_name)) = cursor.warehouses.get(index).cloned() else {
            return Ok(empty_stock_page());
        };
        let by_chrt: std::collections::HashMap<i64, &str> =
            products.iter().filter_map(|p| Some((p.variant_id.parse().ok()?, p.sku.as_str()))).collect();
        let body = api::SellerStocksRequest { chrt_ids: by_chrt.keys().copied().collect() };
        let path = format!("/api/v3/stocks/{warehouse_id}");
        let resp = call(ctx, "POST", &url(ctx, api::MARKETPLACE_HOST, &path), Some(&body), None)?;
        let stocks: api::SellerStocksResponse = parse(&resp, "seller stocks")?;
        let items = stocks
            .stocks
            .into_iter()
            .filter(|s| s.amount != 0)
            .filter_map(|s| {
                Some(StockLevel {
                    sku: (*by_chrt.get(&s.chrt_id)?).to_owned(),
                    warehouse: warehouse_name.clone(),
                    warehouse_id: Some(warehouse_id.to_string()),
                    warehouse_kind: WarehouseKind::Seller,
                    available: s.amount,
                })
            })
            .collect();
        let next_cursor = (index + 1 < cursor.warehouses.len()).then(|| {
            let next = SellerCursor { index: index + 1, warehouses: cursor.warehouses };
            serde_json::to_string(&next).expect("cursors serialize")
        });
        Ok(StockPage { items, in_transit: Vec::new(), next_cursor })
    }

    fn fetch_prices(ctx: &Context, page: PageRequest) -> Result<PricePage, AdapterError> {
        if !enabled(ctx, "prices") {
            return Ok(PricePage { items: Vec::new(), next_cursor: None });
        }
        let offset: u64 = page.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit = api::MAX_PRICES_PER_PAGE;
        let path = format!("/api/v2/list/goods/filter?limit={limit}&offset={offset}");
        let resp = call(ctx, "GET", &url(ctx, api::PRICES_HOST, &path), None::<&()>, None)?;
        let goods: api::GoodsResponse = parse(&resp, "price list")?;
        let goods = goods.data.map(|d| d.list_goods).unwrap_or_default();
        let next_cursor = (goods.len() as u32 >= limit).then(|| (offset + goods.len() as u64).to_string());
        Ok(PricePage { items: mapping::goods_prices(goods), next_cursor })
    }

    fn fetch_sales(ctx: &Context, page: PageRequest) -> Result<SalePage, AdapterError> {
        sales::fetch(ctx, page)
    }
}

/// The categories the connection's settings will use, with what uses them.
fn needed_categories(ctx: &Context) -> Vec<(Category, &'static str)> {
    let mut needed = vec![(Category::Content, "products")];
    match ctx.setting("stocks_source").unwrap_or("report") {
        "statistics" => needed.push((Category::Statistics, "stocks_source=statistics")),
        _ => needed.push((Category::Analytics, "the stock report, stocks_source=report")),
    }
    if enabled(ctx, "sales") && !needed.iter().any(|(c, _)| *c == Category::Statistics) {
        needed.push((Category::Statistics, "orders and sales, settings.sales"));
    }
    if enabled(ctx, "prices") {
        needed.push((Category::Prices, "prices, settings.prices"));
    }
    if enabled(ctx, "seller_stocks") {
        needed.push((Category::Marketplace, "the seller's own warehouses, settings.seller_stocks"));
    }
    needed
}

/// Where a batch's seller stock is: which warehouse, of the list its first call made.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SellerCursor {
    index: usize,
    warehouses: Vec<(i64, String)>,
}

fn empty_stock_page() -> StockPage {
    StockPage { items: Vec::new(), in_transit: Vec::new(), next_cursor: None }
}

/// The warehouse-remains report: create the task (or take the one the host hands back), check
/// it, download it spooled, then read it a page of rows a call.
fn report_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
    if let Some(spool) = page.cursor.as_deref().and_then(|c| c.strip_prefix(SPOOL_CURSOR)) {
        let (body_id, offset) = spool
            .rsplit_once(':')
            .and_then(|(id, offset)| Some((id, offset.parse().ok()?)))
            .ok_or_else(|| AdapterError::Internal(format!("bad report cursor `{spool}`")))?;
        return read_report(body_id, offset);
    }
    let task = match page.resume.as_deref().and_then(|r| r.strip_prefix(TASK_RESUME)) {
        Some(task) => task.to_owned(),
        None => {
            let path = "/api/v1/warehouse_remains?locale=ru&groupByNm=true&groupBySa=true&groupBySize=true";
            let resp = call(ctx, "GET", &url(ctx, api::ANALYTICS_HOST, path), None::<&()>, None)?;
            let created: api::CreateTaskResponse = parse(&resp, "report task")?;
            created.data.task_id
        }
    };
    if task.is_empty() || !task.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AdapterError::Internal(format!("bad report task id `{task}`")));
    }
    let resume = Some(format!("{TASK_RESUME}{task}"));
    let base = format!("/api/v1/warehouse_remains/tasks/{task}");
    let status_url = url(ctx, api::ANALYTICS_HOST, &format!("{base}/status"));
    let resp = call(ctx, "GET", &status_url, None::<&()>, resume.clone())?;
    let status: api::TaskStatusResponse = parse(&resp, "report status")?;
    match status.data.status.as_str() {
        "done" => {}
        "new" | "processing" => return Err(rate_limited(REPORT_POLL_SECS, resume)),
        other => return Err(AdapterError::Upstream(format!("WB's stock report task ended as `{other}`"))),
    }
    let download = url(ctx, api::ANALYTICS_HOST, &format!("{base}/download"));
    let request = http::request("GET", &download, &[("authorization", ctx.credential("token")?)], None::<&()>);
    let resp = http::send_spooled(&request)?;
    if !(200..300).contains(&resp.status) {
        // The error body is small: read it whole.
        let body = http::read_spooled(&resp.body_id, 0, 64 * 1024).unwrap_or_default();
        return Err(mapping::error_for(resp.status, resp.header("x-ratelimit-retry"), &body, resume));
    }
    if resp.status == 204 || resp.size == 0 {
        return Ok(empty_stock_page());
    }
    read_report(&resp.body_id, 0)
}

/// Up to [`REPORT_PAGE_ROWS`] rows of a spooled report from `offset`.
fn read_report(body_id: &str, offset: u64) -> Result<StockPage, AdapterError> {
    let mut rows = SpooledArray::open(body_id, offset);
    let (mut items, mut in_transit) = (Vec::new(), Vec::new());
    for _ in 0..REPORT_PAGE_ROWS {
        let Some(element) = rows.next_element().map_err(AdapterError::from)? else {
            return Ok(StockPage { items, in_transit, next_cursor: None });
        };
        let row: api::RemainsRow<'_> = serde_json::from_slice(element)
            .map_err(|e| AdapterError::Upstream(format!("unexpected stock report row: {e}")))?;
        mapping::remains_row(&row, &mut items, &mut in_transit);
    }
    let next_cursor = Some(format!("{SPOOL_CURSOR}{body_id}:{}", rows.offset()));
    Ok(StockPage { items, in_transit, next_cursor })
}

/// The legacy statistics listing, paged by `lastChangeDate`.
fn statistics_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
    let date_from = page.cursor.unwrap_or_else(|| STOCKS_FROM.to_owned());
    let path = format!("/api/v1/supplier/stocks?dateFrom={}", encode_query(&date_from));
    let resp = call(ctx, "GET", &url(ctx, api::STATISTICS_HOST, &path), None::<&()>, None)?;
    // A 60,000-row page is tens of MiB of JSON and the guest's memory is capped: rows are parsed
    // borrowed and merged one at a time, and the body is dropped before the levels are made.
    let (merged, next_cursor) = mapping::stocks_page(&resp.body).map_err(|e| unexpected(&resp, "stocks", e))?;
    drop(resp);
    let (items, in_transit) = merged.into_page();
    Ok(StockPage { items, in_transit, next_cursor })
}

/// A JSON body of `what`, or an upstream error naming it.
fn parse<'a, T: serde::Deserialize<'a>>(resp: &'a Response, what: &str) -> Result<T, AdapterError> {
    serde_json::from_slice(&resp.body).map_err(|e| unexpected(resp, what, e))
}

/// The error for a body of `what` that is not what WB documents.
fn unexpected(resp: &Response, what: &str, e: serde_json::Error) -> AdapterError {
    AdapterError::Upstream(format!("unexpected {what} body (status {}): {e}", resp.status))
}

#[cfg(feature = "component")]
stock_tracker_plugin_sdk::register_adapter!(Wildberries);

fn cards_request(cursor: RequestCursor) -> CardsListRequest {
    CardsListRequest {
        settings: CardsListSettings { sort: Sort { ascending: true }, filter: Filter { with_photo: -1 }, cursor },
    }
}

/// The URL of `path` on `host`, or on the connection's `base_url` when set.
fn url(ctx: &Context, host: &str, path: &str) -> String {
    let base = ctx.setting("base_url").map(|b| b.trim_end_matches('/')).unwrap_or(host);
    format!("{base}{path}")
}

/// One request; a refusal becomes the adapter error (a 429 carrying `resume`).
fn call(
    ctx: &Context,
    method: &str,
    url: &str,
    json: Option<&impl serde::Serialize>,
    resume: Option<String>,
) -> Result<Response, AdapterError> {
    let token = ctx.credential("token")?;
    let request = http::request(method, url, &[("authorization", token)], json);
    let resp = http::send(&request)?;
    if (200..300).contains(&resp.status) {
        Ok(resp)
    } else {
        Err(mapping::error_for(resp.status, resp.header("x-ratelimit-retry"), &resp.body, resume))
    }
}

/// Percent-encodes a query value (dates carry `:` and `.`).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
