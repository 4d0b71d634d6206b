//! Stock Tracker adapter for the Wildberries seller API.
//!
//! - Credentials: one field, `token` (a WB API token with the Content and Statistics categories),
//!   sent as-is in `Authorization`.
//! - Products: `POST content-api /content/v2/get/cards/list`, cursor `{updatedAt, nmID}`, 100
//!   cards a page, done when `cursor.total < limit`; one product per size, with its barcodes.
//! - Stocks: `GET statistics-api /api/v1/supplier/stocks?dateFrom=…`, paging by the last row's
//!   `lastChangeDate` until `[]`, per warehouse with in-transit counts.
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
                label: "API token (categories: Content, Statistics)".into(),
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
        let date_from = page.cursor.unwrap_or_else(|| STOCKS_FROM.to_owned());
        let path = format!("/api/v1/supplier/stocks?dateFrom={}", encode_query(&date_from));
        let resp = call(ctx, "GET", &url(ctx, api::STATISTICS_HOST, &path), None::<&()>)?;
        // Borrowed parse: a 60,000-row page is tens of MiB of JSON, and the guest's memory is capped.
        let rows: Vec<api::StocksItem<'_>> = serde_json::from_slice(&resp.body)
            .map_err(|e| AdapterError::Upstream(format!("unexpected stocks body (status {}): {e}", resp.status)))?;
        let (items, next_cursor) = mapping::stocks_page(rows);
        Ok(StockPage { items, next_cursor })
    }
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
