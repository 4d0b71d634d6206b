//! Pure mapping from Ozon answers to the host's records. No host calls here: unit-tested
//! natively.

use stock_tracker_plugin_sdk::money::{minor_from_f64, minor_from_str, price};
use stock_tracker_plugin_sdk::{Price, Product, SaleEvent, SaleKind, StockLevel, WarehouseKind};

use crate::api::{AnalyticsStock, FbsStock, Posting, ProductInfo};

/// A product of `/v3/product/info/list`: the seller's article as SKU, Ozon's `product_id` as its
/// id and Ozon's SKU as the variant id (what the stock methods take).
pub fn product(info: ProductInfo) -> Product {
    let selling = minor_from_str(&info.price).unwrap_or(0);
    let old = minor_from_str(&info.old_price).unwrap_or(0);
    let price = (selling > 0).then(|| price(selling, old, &info.currency_code));
    let name = if info.name.trim().is_empty() { info.offer_id.clone() } else { info.name };
    Product {
        marketplace_id: info.id.0.to_string(),
        variant_id: info.sku.map(|s| s.0.to_string()),
        sku: info.offer_id,
        barcodes: info.barcodes.into_iter().filter(|b| !b.is_empty()).collect(),
        name,
        brand: None,
        price,
    }
}

/// `/v5/product/info/prices` numbers into a price.
pub fn price_v5(selling: f64, old: f64, currency_code: &str) -> Option<Price> {
    let selling = minor_from_f64(selling).filter(|p| *p > 0)?;
    Some(price(selling, minor_from_f64(old).unwrap_or(0), currency_code))
}

/// An FBO level of `/v1/analytics/stocks` (Ozon's warehouses).
pub fn fbo_level(row: &AnalyticsStock, sku: &str) -> StockLevel {
    StockLevel {
        sku: sku.to_owned(),
        warehouse: row.warehouse_name.clone(),
        warehouse_id: Some(row.warehouse_id.0.to_string()),
        warehouse_kind: WarehouseKind::Marketplace,
        available: row.available_stock_count,
    }
}

/// An FBS level (the seller's warehouse): what is there and not reserved for an order.
pub fn fbs_level(row: &FbsStock, sku: &str) -> StockLevel {
    StockLevel {
        sku: sku.to_owned(),
        warehouse: row.warehouse_name.clone(),
        warehouse_id: Some(row.warehouse_id.0.to_string()),
        warehouse_kind: WarehouseKind::Seller,
        available: (row.present - row.reserved).max(0),
    }
}

/// The events one posting makes: an order per line when it entered processing, then a sale
/// when delivered or a cancel when cancelled (Ozon gives no time for either: the processing
/// time stands for both). Ids are `<posting>/<ozon sku>/<kind>`, so reading a posting again
/// after its status changed adds the new event and rewrites the others in place.
pub fn posting_events(posting: &Posting) -> Vec<SaleEvent> {
    let Some(at_ms) = posting
        .in_process_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
    else {
        return Vec::new();
    };
    let warehouse = posting
        .delivery_method
        .as_ref()
        .map(|d| d.warehouse.clone())
        .or_else(|| posting.analytics_data.as_ref().map(|a| a.warehouse_name.clone()))
        .filter(|w| !w.is_empty());
    let outcome = match posting.status.as_str() {
        "delivered" => Some((SaleKind::Sale, "sale")),
        "cancelled" => Some((SaleKind::Cancel, "cancel")),
        _ => None,
    };
    let mut events = Vec::new();
    for line in posting.products.iter().filter(|l| l.quantity > 0) {
        let event = |kind, name: &str| SaleEvent {
            event_id: format!("{}/{}/{name}", posting.posting_number, line.sku.0),
            kind,
            sku: line.offer_id.clone(),
            warehouse: warehouse.clone(),
            quantity: line.quantity,
            at_ms,
            price_minor: minor_from_str(&line.price),
        };
        events.push(event(SaleKind::Order, "order"));
        if let Some((kind, name)) = outcome {
            events.push(event(kind, name));
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FboPostingsResponse, ProductInfoResponse};

    #[test]
    fn prices_from_numbers() {
        assert_eq!(price_v5(1299.5, 0.0, "RUB").unwrap().base_minor, 129_950);
        assert_eq!(price_v5(1000.0, 1250.0, "RUB").unwrap().discount_percent, Some(20));
        assert_eq!(price_v5(0.0, 10.0, "RUB"), None);
    }

    #[test]
    fn products_from_the_info_list() {
        let body = br#"{"items":[{"id":"223681945","offer_id":"136748","sku":1800000000,"name":"","barcodes":["4600000000001",""],
            "currency_code":"RUB","price":"1000.00","old_price":"1250.00"}]}"#;
        let info: ProductInfoResponse = serde_json::from_slice(body).unwrap();
        let p = product(info.items.into_iter().next().unwrap());
        assert_eq!(
            (p.sku.as_str(), p.marketplace_id.as_str(), p.variant_id.as_deref()),
            ("136748", "223681945", Some("1800000000"))
        );
        assert_eq!(p.name, "136748", "an empty name falls back to the article");
        assert_eq!(p.barcodes, vec!["4600000000001"]);
        assert_eq!(p.price.unwrap().discount_percent, Some(20));
    }

    #[test]
    fn postings_make_orders_then_sales_or_cancels() {
        let body = r#"{"result":[
            {"posting_number":"1-1-1","status":"delivered","in_process_at":"2026-11-30T10:00:00Z",
             "products":[{"sku":5,"offer_id":"A","quantity":2,"price":"10.50"}],"analytics_data":{"warehouse_name":"ТВЕРЬ_РФЦ"}},
            {"posting_number":"1-1-2","status":"cancelled","in_process_at":"2026-11-30T11:00:00Z",
             "products":[{"sku":6,"offer_id":"B","quantity":1,"price":"1"}]},
            {"posting_number":"1-1-3","status":"awaiting_packaging","in_process_at":"2026-11-30T12:00:00Z",
             "products":[{"sku":6,"offer_id":"B","quantity":1,"price":"1"}]},
            {"posting_number":"1-1-4","status":"delivered","products":[{"sku":6,"offer_id":"B","quantity":1,"price":"1"}]}
        ]}"#;
        let postings: FboPostingsResponse = serde_json::from_str(body).unwrap();
        let events: Vec<(String, SaleKind, i64)> =
            postings.result.iter().flat_map(posting_events).map(|e| (e.event_id, e.kind, e.quantity)).collect();
        assert_eq!(
            events,
            vec![
                ("1-1-1/5/order".into(), SaleKind::Order, 2),
                ("1-1-1/5/sale".into(), SaleKind::Sale, 2),
                ("1-1-2/6/order".into(), SaleKind::Order, 1),
                ("1-1-2/6/cancel".into(), SaleKind::Cancel, 1),
                ("1-1-3/6/order".into(), SaleKind::Order, 1),
            ],
            "a posting without a processing time is skipped"
        );
        let first = posting_events(&postings.result[0]).remove(0);
        assert_eq!((first.warehouse.as_deref(), first.price_minor), (Some("ТВЕРЬ_РФЦ"), Some(1050)));
    }
}
