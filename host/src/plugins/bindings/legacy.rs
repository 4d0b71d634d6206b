//! A 0.1.0 component seen through 0.2.0 shapes: arguments converted down, answers up.
//!
//! - `info`: no capabilities; the settings are the manifest's `settings = [...]` (0.1 had no
//!   way to declare them), any value allowed.
//! - `verify-credentials`: the description, no expiry.
//! - `rate-limited(n)` → `rate-limited({n, resume: none})`; `upstream` → `transient` (0.1 did not
//!   tell a passing failure from a refusal, and the host always retried it).
//! - Products: `price-minor` → a price in RUB (all three marketplaces sell in roubles); no variant id.
//! - Stock levels are the marketplace's warehouses; their in-transit counts, per warehouse in
//!   0.1, are summed per product.
//! - `page-request.resume` is dropped (0.1 never returns one).

use std::collections::BTreeMap;

use super::v0_1::exports::stock_tracker::marketplace::adapter as old_adapter;
use super::v0_1::stock_tracker::marketplace::{http as old_http, types as old};
use super::{
    Account, AdapterError, AdapterInfo, CallContext, PageRequest, Price, Product, ProductPage, ProductTransit,
    RateLimit, SettingField, StockLevel, StockPage, WarehouseKind,
};
use crate::plugins::bindings::stock_tracker::marketplace::http;

pub fn context(ctx: &CallContext) -> old::CallContext {
    old::CallContext { credentials: ctx.credentials.clone(), settings: ctx.settings.clone() }
}

pub fn page(page: &PageRequest) -> old_adapter::PageRequest {
    old_adapter::PageRequest { cursor: page.cursor.clone(), page_size: page.page_size }
}

pub fn info(info: old::AdapterInfo, manifest_settings: &[String]) -> AdapterInfo {
    AdapterInfo {
        id: info.id,
        name: info.name,
        version: info.version,
        marketplace: info.marketplace,
        credential_fields: info
            .credential_fields
            .into_iter()
            .map(|f| super::stock_tracker::marketplace::types::CredentialField {
                name: f.name,
                label: f.label,
                secret: f.secret,
            })
            .collect(),
        capabilities: Vec::new(),
        settings: manifest_settings
            .iter()
            .map(|name| SettingField { name: name.clone(), label: String::new(), allowed: Vec::new() })
            .collect(),
    }
}

pub fn account(description: String) -> Account {
    Account { description, expires_at: None }
}

pub fn error(err: old::AdapterError) -> AdapterError {
    match err {
        old::AdapterError::InvalidCredentials(m) => AdapterError::InvalidCredentials(m),
        old::AdapterError::RateLimited(secs) => {
            AdapterError::RateLimited(RateLimit { retry_after_secs: secs, resume: None })
        }
        old::AdapterError::Upstream(m) => AdapterError::Transient(m),
        old::AdapterError::Unsupported(m) => AdapterError::Unsupported(m),
        old::AdapterError::Internal(m) => AdapterError::Internal(m),
    }
}

pub fn products(page: old::ProductPage) -> ProductPage {
    let items = page
        .items
        .into_iter()
        .map(|p| Product {
            sku: p.sku,
            marketplace_id: p.marketplace_id,
            variant_id: None,
            barcodes: p.barcodes,
            name: p.name,
            brand: p.brand,
            price: p.price_minor.map(|base_minor| Price {
                base_minor,
                discounted_minor: None,
                discount_percent: None,
                currency: "RUB".into(),
            }),
        })
        .collect();
    ProductPage { items, next_cursor: page.next_cursor }
}

pub fn stocks(page: old::StockPage) -> StockPage {
    let mut transit: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut items = Vec::with_capacity(page.items.len());
    for level in page.items {
        if level.in_transit_to_client != 0 || level.in_transit_from_client != 0 {
            let sum = transit.entry(level.sku.clone()).or_default();
            sum.0 += level.in_transit_to_client;
            sum.1 += level.in_transit_from_client;
        }
        items.push(StockLevel {
            sku: level.sku,
            warehouse: level.warehouse,
            warehouse_id: None,
            warehouse_kind: WarehouseKind::Marketplace,
            available: level.available,
        });
    }
    let in_transit = transit
        .into_iter()
        .map(|(sku, (to_client, from_client))| ProductTransit { sku, to_client, from_client })
        .collect();
    StockPage { items, in_transit, next_cursor: page.next_cursor }
}

/// A 0.1 `http.send` request in current shapes (the same fields).
pub fn request(req: old_http::Request) -> http::Request {
    http::Request { method: req.method, url: req.url, headers: req.headers, body: req.body }
}

/// A current `http.send` answer in 0.1 shapes.
pub fn response(result: Result<http::Response, http::HttpError>) -> Result<old_http::Response, old_http::HttpError> {
    match result {
        Ok(r) => Ok(old_http::Response { status: r.status, headers: r.headers, body: r.body }),
        Err(http::HttpError::Denied(o)) => Err(old_http::HttpError::Denied(o)),
        Err(http::HttpError::Timeout) => Err(old_http::HttpError::Timeout),
        Err(http::HttpError::Connection(e)) => Err(old_http::HttpError::Connection(e)),
        Err(http::HttpError::TooLarge) => Err(old_http::HttpError::TooLarge),
        Err(http::HttpError::InvalidRequest(e)) => Err(old_http::HttpError::InvalidRequest(e)),
    }
}

/// A 0.1 log level as the current one.
pub fn level(
    level: super::v0_1::stock_tracker::marketplace::log::Level,
) -> super::stock_tracker::marketplace::log::Level {
    use super::stock_tracker::marketplace::log::Level as New;
    use super::v0_1::stock_tracker::marketplace::log::Level as Old;
    match level {
        Old::Trace => New::Trace,
        Old::Debug => New::Debug,
        Old::Info => New::Info,
        Old::Warn => New::Warn,
        Old::Error => New::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_transit_is_summed_per_product_and_levels_are_the_marketplaces() {
        let level = |sku: &str, warehouse: &str, available, to, from| old::StockLevel {
            sku: sku.into(),
            warehouse: warehouse.into(),
            available,
            in_transit_to_client: to,
            in_transit_from_client: from,
        };
        let page = stocks(old::StockPage {
            items: vec![level("A", "W1", 5, 1, 0), level("A", "W2", 0, 2, 1), level("B", "W1", 3, 0, 0)],
            next_cursor: Some("c".into()),
        });
        assert_eq!(page.items.len(), 3);
        assert!(page.items.iter().all(|l| l.warehouse_kind == WarehouseKind::Marketplace));
        assert_eq!(page.in_transit, [ProductTransit { sku: "A".into(), to_client: 3, from_client: 1 }]);
        assert_eq!(page.next_cursor.as_deref(), Some("c"));
        assert_eq!(
            error(old::AdapterError::RateLimited(7)),
            AdapterError::RateLimited(RateLimit { retry_after_secs: 7, resume: None })
        );
        assert_eq!(error(old::AdapterError::Upstream("x".into())), AdapterError::Transient("x".into()));
    }
}
