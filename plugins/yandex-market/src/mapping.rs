//! Pure mapping from Yandex Market answers to the host's records. No host calls here:
//! unit-tested natively.

use std::collections::BTreeMap;

use stock_tracker_plugin_sdk::money::{minor_from_f64, price};
use stock_tracker_plugin_sdk::{Product, ProductTransit, SaleEvent, SaleKind, StockLevel, WarehouseKind};

use crate::api::{Names, OfferMapping, StatsOrder, WarehouseOffers};

/// An offer of the catalogue: the seller's `offerId` as SKU, Market's SKU as its id.
pub fn product(m: OfferMapping) -> Product {
    let offer = m.offer;
    let price = offer.basic_price.and_then(|p| {
        let selling = minor_from_f64(p.value).filter(|v| *v > 0)?;
        let before = p.discount_base.and_then(minor_from_f64).unwrap_or(0);
        Some(price(selling, before, &p.currency_id))
    });
    let market_sku = m.mapping.and_then(|m| m.market_sku);
    Product {
        marketplace_id: market_sku.map_or_else(|| offer.offer_id.clone(), |s| s.to_string()),
        variant_id: None,
        name: offer.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| offer.offer_id.clone()),
        brand: offer.vendor.filter(|v| !v.is_empty()),
        barcodes: offer.barcodes.into_iter().filter(|b| !b.is_empty()).collect(),
        sku: offer.offer_id,
        price,
    }
}

/// Whether a shop's goods are in Market's warehouses (FBY, LaaS) or the seller's (FBS, DBS).
pub fn kind_of(placement: &str) -> WarehouseKind {
    match placement {
        "FBY" | "LAAS" => WarehouseKind::Marketplace,
        _ => WarehouseKind::Seller,
    }
}

/// The levels of one stocks page, and (in Market's warehouses) the units reserved for orders as
/// in transit to buyers, summed per offer.
///
/// Stock types: `AVAILABLE` is what can be ordered (without it, `FIT` − `FREEZE`); `FREEZE` is
/// reserved for orders; `QUARANTINE`, `UTILIZATION`, `DEFECT`, `EXPIRED` cannot be sold and are
/// not counted. A warehouse the shop's list does not name is Market's (an FBS shop's goods
/// returned to Market's returns point): kind marketplace.
pub fn levels(
    warehouses: &[WarehouseOffers],
    kind: WarehouseKind,
    names: &Names,
) -> (Vec<StockLevel>, Vec<ProductTransit>) {
    let mut levels = Vec::new();
    let mut reserved: BTreeMap<&str, i64> = BTreeMap::new();
    for warehouse in warehouses {
        let (name, kind) = match names.get(&warehouse.warehouse_id) {
            Some(name) => (name.clone(), kind),
            None => (format!("Yandex Market warehouse {}", warehouse.warehouse_id), WarehouseKind::Marketplace),
        };
        for offer in &warehouse.offers {
            let count = |t: &str| offer.stocks.iter().filter(|s| s.kind == t).map(|s| s.count).sum::<i64>();
            let has = |t: &str| offer.stocks.iter().any(|s| s.kind == t);
            let freeze = count("FREEZE");
            let available = if has("AVAILABLE") { count("AVAILABLE") } else { (count("FIT") - freeze).max(0) };
            if kind == WarehouseKind::Marketplace && freeze != 0 {
                *reserved.entry(&offer.offer_id).or_default() += freeze;
            }
            if available != 0 {
                levels.push(StockLevel {
                    sku: offer.offer_id.clone(),
                    warehouse: name.clone(),
                    warehouse_id: Some(warehouse.warehouse_id.to_string()),
                    warehouse_kind: kind,
                    available,
                });
            }
        }
    }
    let transit = reserved
        .into_iter()
        .map(|(sku, to_client)| ProductTransit { sku: sku.to_owned(), to_client, from_client: 0 })
        .collect();
    (levels, transit)
}

/// Milliseconds of a Moscow date's start.
fn moscow_midnight_ms(date: chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis() - 3 * 3_600_000)
}

/// The events of one order: an order per line on its creation date, then, by status at its last
/// change, a sale (`DELIVERED`, `PARTIALLY_DELIVERED`, `PARTIALLY_RETURNED`: the units kept), a
/// return (`RETURNED`) or a cancel (`CANCELLED_*`, `LOST` is not a cancel). Ids are
/// `<order>/<offer>/<warehouse>/<kind>`, so reading an order again rewrites its events in place.
pub fn order_events(order: &StatsOrder) -> Vec<SaleEvent> {
    let created = moscow_midnight_ms(order.creation_date);
    let changed = order
        .status_update_date
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(created, |t| t.timestamp_millis());
    let outcome = match order.status.as_str() {
        "DELIVERED" | "PARTIALLY_DELIVERED" | "PARTIALLY_RETURNED" => Some((SaleKind::Sale, "sale")),
        "RETURNED" => Some((SaleKind::Return, "return")),
        s if s.starts_with("CANCELLED") => Some((SaleKind::Cancel, "cancel")),
        _ => None,
    };
    let mut events = Vec::new();
    for item in &order.items {
        let warehouse = item.warehouse.as_ref();
        let price_minor =
            item.prices.iter().find(|p| p.kind == "BUYER").and_then(|p| p.cost_per_item).and_then(minor_from_f64);
        let event = |kind, name: &str, quantity, at_ms| SaleEvent {
            event_id: format!("{}/{}/{}/{name}", order.id, item.shop_sku, warehouse.map_or(0, |w| w.id)),
            kind,
            sku: item.shop_sku.clone(),
            warehouse: warehouse.map(|w| w.name.clone()),
            quantity,
            at_ms,
            price_minor,
        };
        let ordered = item.initial_count.unwrap_or(item.count);
        if ordered > 0 {
            events.push(event(SaleKind::Order, "order", ordered, created));
        }
        if let Some((kind, name)) = outcome {
            let units = if kind == SaleKind::Cancel { ordered } else { item.count };
            if units > 0 {
                events.push(event(kind, name, units, changed));
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Envelope, OfferMappingsResult, StatsOrdersResult, StocksResult};

    #[test]
    fn offers_with_prices_and_market_skus() {
        let body = r#"{"status":"OK","result":{"paging":{},"offerMappings":[
            {"offer":{"offerId":"A-1","name":"Чайник","vendor":"Бренд","barcodes":["4601"],
                      "basicPrice":{"value":900,"currencyId":"RUR","discountBase":1000}},"mapping":{"marketSku":101}},
            {"offer":{"offerId":"A-2"}}]}}"#;
        let page: Envelope<OfferMappingsResult> = serde_json::from_str(body).unwrap();
        let products: Vec<Product> = page.result.offer_mappings.into_iter().map(product).collect();
        assert_eq!((products[0].marketplace_id.as_str(), products[0].brand.as_deref()), ("101", Some("Бренд")));
        let price = products[0].price.as_ref().unwrap();
        assert_eq!(
            (price.base_minor, price.discounted_minor, price.discount_percent, price.currency.as_str()),
            (100_000, Some(90_000), Some(10), "RUB")
        );
        assert_eq!((products[1].name.as_str(), products[1].marketplace_id.as_str()), ("A-2", "A-2"));
        assert_eq!(products[1].price, None);
    }

    #[test]
    fn stock_types_map_to_available_and_reserved() {
        let body = r#"{"status":"OK","result":{"paging":{"nextPageToken":"x"},"warehouses":[
            {"warehouseId":300,"offers":[
                {"offerId":"A","stocks":[{"type":"FIT","count":12},{"type":"FREEZE","count":2},{"type":"AVAILABLE","count":10},{"type":"DEFECT","count":4}]},
                {"offerId":"B","stocks":[{"type":"FIT","count":5},{"type":"FREEZE","count":5}]}]},
            {"warehouseId":301,"offers":[{"offerId":"A","stocks":[{"type":"FIT","count":3},{"type":"FREEZE","count":1}]}]},
            {"warehouseId":999,"offers":[{"offerId":"B","stocks":[{"type":"AVAILABLE","count":1}]}]}]}}"#;
        let page: Envelope<StocksResult> = serde_json::from_str(body).unwrap();
        let names: Names = [(300, "Софьино".to_owned()), (301, "Томилино".to_owned())].into();
        let (levels, transit) = levels(&page.result.warehouses, WarehouseKind::Marketplace, &names);
        let got: Vec<(&str, &str, i64)> =
            levels.iter().map(|l| (l.sku.as_str(), l.warehouse.as_str(), l.available)).collect();
        assert_eq!(got, vec![("A", "Софьино", 10), ("A", "Томилино", 2), ("B", "Yandex Market warehouse 999", 1)]);
        let transit: Vec<(&str, i64)> = transit.iter().map(|t| (t.sku.as_str(), t.to_client)).collect();
        assert_eq!(transit, vec![("A", 3), ("B", 5)]);
        // In the seller's warehouses the reserve is the seller's own: no in-transit.
        let (_, transit) = levels_of_seller(&page);
        assert!(transit.is_empty());
    }

    fn levels_of_seller(page: &Envelope<StocksResult>) -> (Vec<StockLevel>, Vec<ProductTransit>) {
        let names: Names = [(300, "A".to_owned()), (301, "B".to_owned()), (999, "C".to_owned())].into();
        levels(&page.result.warehouses, WarehouseKind::Seller, &names)
    }

    #[test]
    fn orders_make_events_by_status() {
        let body = r#"{"status":"OK","result":{"paging":{},"orders":[
            {"id":1,"creationDate":"2026-11-30","statusUpdateDate":"2026-12-01T10:00:00+03:00","status":"DELIVERED",
             "items":[{"shopSku":"A","count":2,"prices":[{"type":"BUYER","costPerItem":99.9}],"warehouse":{"id":300,"name":"Софьино"}}]},
            {"id":2,"creationDate":"2026-11-30","status":"CANCELLED_IN_DELIVERY","items":[{"shopSku":"B","count":0,"initialCount":3}]},
            {"id":3,"creationDate":"2026-11-30","status":"PROCESSING","items":[{"shopSku":"B","count":1}]}]}}"#;
        let page: Envelope<StatsOrdersResult> = serde_json::from_str(body).unwrap();
        let events: Vec<(String, SaleKind, i64)> =
            page.result.orders.iter().flat_map(order_events).map(|e| (e.event_id, e.kind, e.quantity)).collect();
        assert_eq!(
            events,
            vec![
                ("1/A/300/order".into(), SaleKind::Order, 2),
                ("1/A/300/sale".into(), SaleKind::Sale, 2),
                ("2/B/0/order".into(), SaleKind::Order, 3),
                ("2/B/0/cancel".into(), SaleKind::Cancel, 3),
                ("3/B/0/order".into(), SaleKind::Order, 1),
            ]
        );
        let first = order_events(&page.result.orders[0]);
        assert_eq!(
            first[0].at_ms,
            chrono::DateTime::parse_from_rfc3339("2026-11-30T00:00:00+03:00").unwrap().timestamp_millis()
        );
        assert_eq!(
            first[1].at_ms,
            chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+03:00").unwrap().timestamp_millis()
        );
        assert_eq!(first[0].price_minor, Some(9990));
    }
}
