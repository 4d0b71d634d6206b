//! Stock Tracker adapter for the Wildberries seller API.
//!
//! - Credentials: one field, `token` (a WB API token with the Content and Analytics categories,
//!   or Statistics for the legacy stock source), sent as-is in `Authorization`.
//! - Products: `POST content-api /content/v2/get/cards/list`, cursor `{updatedAt, nmID}`, 100
//!   cards a page, done when `cursor.total < limit`; one product per size, with its barcodes.
//! - Stocks, setting `stocks_source`:
//!   - `report` (the default): WB's warehouse-remains report on `seller-analytics-api`, the
//!     per-warehouse source WB offers since it removed the statistics stocks on 2026-06-23. The
//!     first page creates the task (`GET /api/v1/warehouse_remains`), the next polls its status
//!     and, once `done`, downloads every row; while the report is being made the adapter answers
//!     `rate-limited(5)` (WB allows a status check every 5 s), so the host waits and asks again.
//!     In-transit counts are per product there: see [`mapping::remains_levels`].
//!   - `statistics`: the legacy `GET statistics-api /api/v1/supplier/stocks?dateFrom=…`, paging
//!     by the last row's `lastChangeDate` until `[]`, per warehouse with in-transit counts.
//! - Setting `base_url` replaces every WB host (a fake or a sandbox serves every path).
//! - 401 → `invalid-credentials` with WB's detail; 429 → `rate-limited(X-Ratelimit-Retry)`.

pub mod api;
pub mod mapping;

use stock_tracker_plugin_sdk::http::{self, Response};
use stock_tracker_plugin_sdk::{
    Adapter, AdapterError, AdapterInfo, Context, CredentialField, PageRequest, ProductPage, StockPage,
};

use crate::api::{CardsListRequest, CardsListSettings, Filter, MAX_CARDS_PER_PAGE, RequestCursor, Sort};

/// Where the statistics listing starts: early enough to include every row.
const STOCKS_FROM: &str = "2019-06-20";
/// Seconds between status checks of a report task (WB allows one every 5 s).
const REPORT_POLL_SECS: u64 = 5;
/// The cursor of a report whose task exists: `task:<id>`.
const TASK_CURSOR: &str = "task:";

pub struct Wildberries;

impl Adapter for Wildberries {
    fn info() -> AdapterInfo {
        AdapterInfo {
            id: "wildberries".into(),
            name: "Wildberries".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            marketplace: "wildberries".into(),
            credential_fields: vec![CredentialField {
                name: "token".into(),
                label: "API token (categories: Content and Analytics)".into(),
                secret: true,
            }],
        }
    }

    fn verify_credentials(ctx: &Context) -> Result<String, AdapterError> {
        let body = cards_request(RequestCursor { limit: 1, updated_at: None, nm_id: None });
        let resp = call(ctx, "POST", &url(ctx, api::CONTENT_HOST, "/content/v2/get/cards/list"), Some(&body))?;
        let (products, _) = mapping::parse_products_page(&resp.body, 1)?;
        Ok(format!(
            "Wildberries seller account (content API reachable, {} product(s) on the first page)",
            products.len()
        ))
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
}

/// The warehouse-remains report: create the task, then poll it and download the rows.
fn report_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
    let Some(task) = page.cursor.as_deref().and_then(|c| c.strip_prefix(TASK_CURSOR)) else {
        let path = "/api/v1/warehouse_remains?locale=ru&groupByNm=true&groupBySa=true&groupBySize=true";
        let resp = call(ctx, "GET", &url(ctx, api::ANALYTICS_HOST, path), None::<&()>)?;
        let created: api::CreateTaskResponse = parse(&resp, "report task")?;
        return Ok(StockPage {
            items: Vec::new(),
            next_cursor: Some(format!("{TASK_CURSOR}{}", created.data.task_id)),
        });
    };
    if task.is_empty() || !task.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(AdapterError::Internal(format!("bad report task id `{task}`")));
    }
    let base = format!("/api/v1/warehouse_remains/tasks/{task}");
    let resp = call(ctx, "GET", &url(ctx, api::ANALYTICS_HOST, &format!("{base}/status")), None::<&()>)?;
    let status: api::TaskStatusResponse = parse(&resp, "report status")?;
    match status.data.status.as_str() {
        "done" => {}
        "new" | "processing" => return Err(AdapterError::RateLimited(REPORT_POLL_SECS)),
        other => return Err(AdapterError::Upstream(format!("WB's stock report task ended as `{other}`"))),
    }
    let resp = call(ctx, "GET", &url(ctx, api::ANALYTICS_HOST, &format!("{base}/download")), None::<&()>)?;
    if resp.status == 204 || resp.body.is_empty() {
        return Ok(StockPage { items: Vec::new(), next_cursor: None });
    }
    // The report holds every row of the catalogue in one body: its rows are merged as they are
    // parsed (borrowed), and the body is dropped before the levels' strings are made.
    let merged = mapping::remains_levels(&resp.body).map_err(|e| unexpected(&resp, "stock report", e))?;
    drop(resp);
    Ok(StockPage { items: merged.into_levels(), next_cursor: None })
}

/// The legacy statistics listing, paged by `lastChangeDate`.
fn statistics_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
    let date_from = page.cursor.unwrap_or_else(|| STOCKS_FROM.to_owned());
    let path = format!("/api/v1/supplier/stocks?dateFrom={}", encode_query(&date_from));
    let resp = call(ctx, "GET", &url(ctx, api::STATISTICS_HOST, &path), None::<&()>)?;
    // A 60,000-row page is tens of MiB of JSON and the guest's memory is capped: rows are parsed
    // borrowed and merged one at a time, and the body is dropped before the levels are made.
    let (merged, next_cursor) = mapping::stocks_page(&resp.body).map_err(|e| unexpected(&resp, "stocks", e))?;
    drop(resp);
    Ok(StockPage { items: merged.into_levels(), next_cursor })
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

fn call(
    ctx: &Context,
    method: &str,
    url: &str,
    json: Option<&impl serde::Serialize>,
) -> Result<Response, AdapterError> {
    let token = ctx.credential("token")?;
    let request = http::request(method, url, &[("authorization", token)], json);
    let resp = http::send(&request)?;
    if (200..300).contains(&resp.status) {
        Ok(resp)
    } else {
        Err(mapping::error_for(resp.status, resp.header("x-ratelimit-retry"), &resp.body))
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
