//! A Stock Tracker adapter for "Example Market" (the API `stock-tracker plugin check` fakes when
//! it sees marketplace `example`): products and stock, paged by `page_token`. Replace the URLs,
//! shapes and mapping with your marketplace's; keep the structure.
//!
//! - `info()` says who the adapter is and what a connection needs (credential fields, settings).
//! - `verify_credentials` makes one cheap call, so a bad key is refused when the seller connects.
//! - `list_products` / `fetch_stocks` answer one page each; the host calls again with
//!   `next_cursor` until it is `None`, and never with a cursor it has seen.
//! - Errors: the SDK's `Client` maps 401/403 to `invalid-credentials`, 429/420 to `rate-limited`
//!   (with the wait `Retry-After` gives), 5xx to `transient`, the rest to `upstream`.

use serde::Deserialize;
use stock_tracker_plugin_sdk::client::Client;
use stock_tracker_plugin_sdk::money::{minor_from_str, price};
use stock_tracker_plugin_sdk::paging::{self, query};
use stock_tracker_plugin_sdk::{
    Account, Adapter, AdapterError, AdapterInfo, Context, CredentialField, PageRequest, Product, ProductPage,
    StockLevel, StockPage, WarehouseKind,
};

/// The marketplace's API; a connection's `base_url` setting replaces it (sandboxes, fakes).
const API: &str = "https://api.example-market.test";
/// The most items the API returns a page.
const MAX_PAGE: u32 = 200;

pub struct ExampleMarket;

/// The API client: base URL and the key on every request.
fn client(ctx: &Context) -> Result<Client, AdapterError> {
    let key = ctx.credential("api_key")?;
    Ok(Client::for_context(ctx, API).header("Authorization", &format!("Bearer {key}")))
}

/// `path?limit=…[&page_token=…]` for the page the host asks for.
fn paged(path: &str, page: &PageRequest) -> Result<String, AdapterError> {
    let limit = paging::page_size(page, MAX_PAGE).to_string();
    Ok(match paging::cursor::<String>(page)? {
        Some(token) => format!("{path}?{}", query(&[("limit", &limit), ("page_token", &token)])),
        None => format!("{path}?{}", query(&[("limit", &limit)])),
    })
}

#[derive(Deserialize)]
struct AccountAnswer {
    seller: String,
}

/// A page of anything: the items and the token of the next page.
#[derive(Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub struct ApiProduct {
    pub sku: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub price: Option<ApiPrice>,
}

#[derive(Deserialize)]
pub struct ApiPrice {
    pub amount: String,
    pub currency: String,
}

#[derive(Deserialize)]
pub struct ApiStock {
    pub sku: String,
    pub warehouse: ApiWarehouse,
    pub available: i64,
}

#[derive(Deserialize)]
pub struct ApiWarehouse {
    pub id: String,
    pub name: String,
}

/// Mapping, kept free of host calls so `cargo test` checks it natively.
pub fn product(p: ApiProduct) -> Product {
    Product {
        price: p.price.and_then(|pr| Some(price(minor_from_str(&pr.amount)?, 0, &pr.currency))),
        sku: p.sku,
        marketplace_id: p.id,
        variant_id: None,
        barcodes: p.barcode.into_iter().collect(),
        name: p.name,
        brand: None,
    }
}

pub fn level(s: ApiStock) -> StockLevel {
    StockLevel {
        sku: s.sku,
        warehouse: s.warehouse.name,
        warehouse_id: Some(s.warehouse.id),
        warehouse_kind: WarehouseKind::Marketplace,
        available: s.available,
    }
}

/// The next cursor: the marketplace's token, if there is a next page.
fn next(token: Option<String>) -> Option<String> {
    paging::next(token.filter(|t| !t.is_empty()).as_ref())
}

impl Adapter for ExampleMarket {
    fn info() -> AdapterInfo {
        AdapterInfo {
            id: "example".into(),
            name: "Example Market".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            marketplace: "example".into(),
            credential_fields: vec![CredentialField { name: "api_key".into(), label: "API key".into(), secret: true }],
            capabilities: Vec::new(),
            settings: Vec::new(),
        }
    }

    fn verify_credentials(ctx: &Context) -> Result<Account, AdapterError> {
        let account: AccountAnswer = client(ctx)?.get("/v1/account")?;
        Ok(Account { description: format!("Example Market seller {}", account.seller), expires_at: None })
    }

    fn list_products(ctx: &Context, page: PageRequest) -> Result<ProductPage, AdapterError> {
        let answer: Page<ApiProduct> = client(ctx)?.get(&paged("/v1/products", &page)?)?;
        Ok(ProductPage {
            items: answer.items.into_iter().map(product).collect(),
            next_cursor: next(answer.next_page_token),
        })
    }

    fn fetch_stocks(ctx: &Context, page: PageRequest) -> Result<StockPage, AdapterError> {
        let answer: Page<ApiStock> = client(ctx)?.get(&paged("/v1/stocks", &page)?)?;
        Ok(StockPage {
            items: answer.items.into_iter().map(level).collect(),
            in_transit: Vec::new(),
            next_cursor: next(answer.next_page_token),
        })
    }
}

stock_tracker_plugin_sdk::register_adapter!(ExampleMarket);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_product_page() {
        let body = r#"{"items":[{"sku":"EX-1","id":"9","name":"Kettle","barcode":"200","price":{"amount":"1290.50","currency":"RUB"}}],
                       "next_page_token":"p1"}"#;
        let page: Page<ApiProduct> = serde_json::from_str(body).unwrap();
        assert_eq!(next(page.next_page_token.clone()).as_deref(), Some("\"p1\""));
        let p = product(page.items.into_iter().next().unwrap());
        assert_eq!((p.sku.as_str(), p.price.unwrap().base_minor), ("EX-1", 129_050));
    }
}
