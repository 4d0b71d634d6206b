//! Stock Tracker adapter for the Ozon Seller API (WIT `stock-tracker:marketplace@0.2.0`), written
//! with the guest SDK alone.
//!
//! - Credentials: `client_id` and `api_key`, sent as `Client-Id` and `Api-Key` on every call.
//! - Settings: `sales`, `prices`, `seller_stocks` (`on`, the default, or `off`).
//! - Products: `/v3/product/list` (`last_id` paging; the listing ends on an empty page or an
//!   empty `last_id`), then `/v3/product/info/list` for the page's names, barcodes, prices and
//!   Ozon SKUs. The seller's article (`offer_id`) is the SKU, Ozon's SKU the variant id.
//! - Stock in Ozon's warehouses (FBO): `/v4/product/info/stocks` (cursor paging, 100 products a
//!   page) names the products with FBO stock; `/v1/analytics/stocks` (≤ 100 SKUs) gives it per
//!   warehouse.
//! - Stock in the seller's warehouses (FBS/rFBS): `/v1/product/info/stocks-by-warehouse/fbs` for
//!   the host's batch of products, present minus reserved.
//! - Prices: `/v5/product/info/prices` (cursor paging, 1,000 a page).
//! - Sales: FBS and FBO postings ([`sales`]).
//! - Errors: Ozon answers gRPC statuses `{code, message}`: 401 (code 16), 403 (7) and the 404
//!   (5) of an unknown key → `invalid-credentials`; 429 (8) → `rate-limited` (Ozon sends no wait:
//!   the SDK's default); 5xx → `transient`; the rest `upstream`, with Ozon's message.
//! - Setting `base_url` replaces the host (a fake or a sandbox).

pub mod api;
pub mod mapping;
pub mod sales;

use std::collections::HashMap;

use stock_tracker_plugin_sdk::client::{Client, Failure};
use stock_tracker_plugin_sdk::{
    Account, Adapter, AdapterError, AdapterInfo, Capability, Context, CredentialField, PageRequest, PricePage,
    ProductPage, ProductPrice, ProductRef, SalePage, SettingField, StockPage, paging,
};

use crate::api::{
    AnalyticsStocksRequest, AnalyticsStocksResponse, CursorRequest, FbsStocksRequest, FbsStocksResponse,
    PricesResponse, ProductInfoRequest, ProductInfoResponse, ProductListRequest, ProductListResponse, StocksResponse,
    VisibilityFilter,
};

pub struct Ozon;

fn setting(name: &str, label: &str) -> SettingField {
    SettingField { name: name.into(), label: label.into(), allowed: vec!["on".into(), "off".into()] }
}

/// Whether an `on`/`off` setting is on (the default).
fn enabled(ctx: &Context, name: &str) -> bool {
    ctx.setting(name) != Some("off")
}

/// Ozon's reading of a refusal: an unknown key is a 404 (code 5) naming the key.
fn classify(failure: &Failure<'_>) -> Option<AdapterError> {
    (failure.status == 404 && failure.message.contains("Api-Key"))
        .then(|| AdapterError::InvalidCredentials(failure.message.clone()))
}

/// The API client with the connection's credentials.
fn client(ctx: &Context) -> Result<Client, AdapterError> {
    let client_id = ctx.credential("client_id")?;
    if !client_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AdapterError::InvalidCredentials("client_id: Ozon's Client-Id is a number".into()));
    }
    Ok(Client::for_context(ctx, api::HOST)
        .header("Client-Id", client_id)
        .header("Api-Key", ctx.credential("api_key")?)
        .classify(classify))
}

fn all() -> VisibilityFilter {
    VisibilityFilter { visibility: "ALL" }
}

/// A `{cursor}` page cursor: Ozon's token; `None` on the first page.
fn ozon_cursor(page: &PageRequest) -> Result<String, AdapterError> {
    Ok(paging::cursor::<String>(page)?.unwrap_or_default())
}

/// The next page's cursor: none when Ozon's is empty or the page was.
fn next_cursor(cursor: String, page_len: usize) -> Option<String> {
    paging::next((!cursor.is_empty() && page_len > 0).then_some(&cursor))
}

impl Adapter for Ozon {
    fn info() -> AdapterInfo {
        AdapterInfo {
            id: "ozon".into(),
            name: "Ozon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            marketplace: "ozon".into(),
            credential_fields: vec![
                CredentialField { name: "client_id".into(), label: "Client ID".into(), secret: false },
                CredentialField { name: "api_key".into(), label: "API key (Seller API)".into(), secret: true },
            ],
            capabilities: vec![Capability::Sales, Capability::Prices, Capability::SellerStock],
            settings: vec![
                setting("sales", "Orders and sales from FBS and FBO postings"),
                setting("prices", "Prices"),
                setting("seller_stocks", "Stock in the seller's own warehouses (FBS/rFBS)"),
            ],
        }
    }

    fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError> {
        let body = ProductListRequest { filter: all(), last_id: String::new(), limit: 1 };
        let answer: ProductListResponse = client(ctx)?.post("/v3/product/list", &body)?;
        Ok(Account {
            description: format!("Ozon seller {} ({} products)", ctx.credential("client_id")?, answer.result.total),
            expires_at: None,
        })
    }

    fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError> {
        let client = client(ctx)?;
        let body = ProductListRequest {
            filter: all(),
            last_id: ozon_cursor(&page)?,
            limit: paging::page_size(&page, api::MAX_LIMIT),
        };
        let list: ProductListResponse = client.post("/v3/product/list", &body)?;
        if list.result.items.is_empty() {
            return Ok(ProductPage { items: Vec::new(), next_cursor: None });
        }
        let ids = list.result.items.iter().map(|i| i.product_id.0.to_string()).collect();
        let info: ProductInfoResponse =
            client.post("/v3/product/info/list", &ProductInfoRequest { product_id: ids })?;
        let items = info.items.into_iter().map(mapping::product).collect();
        Ok(ProductPage { items, next_cursor: next_cursor(list.result.last_id, list.result.items.len()) })
    }

    fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
        let client = client(ctx)?;
        let body = CursorRequest {
            cursor: ozon_cursor(&page)?,
            filter: all(),
            limit: paging::page_size(&page, api::MAX_ANALYTICS_SKUS),
        };
        let stocks: StocksResponse = client.post("/v4/product/info/stocks", &body)?;
        let with_fbo: HashMap<String, &str> = stocks
            .items
            .iter()
            .flat_map(|item| item.stocks.iter().map(move |s| (s, item.offer_id.as_str())))
            .filter(|(s, _)| s.kind == "fbo" && s.present > 0)
            .map(|(s, offer)| (s.sku.0.to_string(), offer))
            .collect();
        let mut items = Vec::new();
        if !with_fbo.is_empty() {
            let request = AnalyticsStocksRequest { skus: with_fbo.keys().cloned().collect() };
            let rows: AnalyticsStocksResponse = client.post("/v1/analytics/stocks", &request)?;
            for row in rows.items.iter().filter(|r| r.available_stock_count != 0) {
                let sku = with_fbo.get(&row.sku.0.to_string()).copied().unwrap_or(row.offer_id.as_str());
                items.push(mapping::fbo_level(row, sku));
            }
        }
        Ok(StockPage { items, in_transit: Vec::new(), next_cursor: next_cursor(stocks.cursor, stocks.items.len()) })
    }

    fn fetch_seller_stocks(
        ctx: &Context,
        _page: PageRequest,
        products: Vec<ProductRef>,
    ) -> Result<StockPage, AdapterError> {
        let by_sku: HashMap<&str, &str> = products
            .iter()
            .filter(|p| !p.variant_id.is_empty())
            .map(|p| (p.variant_id.as_str(), p.sku.as_str()))
            .collect();
        if !enabled(ctx, "seller_stocks") || by_sku.is_empty() {
            return Ok(StockPage { items: Vec::new(), in_transit: Vec::new(), next_cursor: None });
        }
        let request = FbsStocksRequest { sku: by_sku.keys().map(|s| (*s).to_owned()).collect() };
        let rows: FbsStocksResponse = client(ctx)?.post("/v1/product/info/stocks-by-warehouse/fbs", &request)?;
        let items = rows
            .result
            .iter()
            .filter_map(|row| Some(mapping::fbs_level(row, by_sku.get(row.sku.0.to_string().as_str())?)))
            .filter(|level| level.available != 0)
            .collect();
        Ok(StockPage { items, in_transit: Vec::new(), next_cursor: None })
    }

    fn fetch_prices(ctx: &Context, page: PageRequest) -> Result<PricePage, AdapterError> {
        if !enabled(ctx, "prices") {
            return Ok(PricePage { items: Vec::new(), next_cursor: None });
        }
        let body = CursorRequest { cursor: ozon_cursor(&page)?, filter: all(), limit: api::MAX_LIMIT };
        let prices: PricesResponse = client(ctx)?.post("/v5/product/info/prices", &body)?;
        let len = prices.items.len();
        let items = prices
            .items
            .into_iter()
            .filter_map(|item| {
                let price = mapping::price_v5(item.price.price, item.price.old_price, &item.price.currency_code)?;
                Some(ProductPrice { sku: item.offer_id, price })
            })
            .collect();
        Ok(PricePage { items, next_cursor: next_cursor(prices.cursor, len) })
    }

    fn fetch_sales(ctx: &Context, page: PageRequest) -> Result<SalePage, AdapterError> {
        if !enabled(ctx, "sales") {
            return Ok(SalePage { items: Vec::new(), cursor: page.cursor.unwrap_or_default(), more: false });
        }
        sales::fetch(&client(ctx)?, page)
    }
}

stock_tracker_plugin_sdk::register_adapter!(Ozon);
