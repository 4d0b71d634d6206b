//! Pure mapping from WB answers to the host's records. No host calls here: unit-tested natively
//! on recorded JSON.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer as _, SeqAccess, Visitor};

use stock_tracker_plugin_sdk::{
    AdapterError, Price, Product, ProductPrice, ProductTransit, SaleEvent, SaleKind, StockLevel, WarehouseKind,
    rate_limited,
};

use crate::api::{
    CardsListResponse, ErrorBody, Goods, OrderRow, RemainsRow, RequestCursor, SaleRow, StocksItem, UnitRow,
};

/// The seller's article of one size: the vendor code, plus `/size` unless the product has no
/// real size (WB reports `"0"` or `""`). Card sizes and stock rows both carry vendor code and
/// tech size, so both map to the same SKU.
pub fn sku(vendor_code: &str, tech_size: &str) -> String {
    match tech_size.trim() {
        "" | "0" => vendor_code.to_owned(),
        size => format!("{vendor_code}/{size}"),
    }
}

/// Parses a card-list body (borrowing from it) and maps it; see [`products_page`].
pub fn parse_products_page(body: &[u8], limit: u32) -> Result<(Vec<Product>, Option<RequestCursor>), AdapterError> {
    let resp: CardsListResponse<'_> =
        serde_json::from_slice(body).map_err(|e| AdapterError::Upstream(format!("unexpected card list body: {e}")))?;
    Ok(products_page(resp, limit))
}

/// Products of one card-list page (one per size) and the cursor of the next page.
pub fn products_page(resp: CardsListResponse<'_>, limit: u32) -> (Vec<Product>, Option<RequestCursor>) {
    let mut products = Vec::with_capacity(resp.cards.len());
    for card in resp.cards {
        let name = card.title.map(|t| t.0).filter(|t| !t.trim().is_empty()).unwrap_or_else(|| card.vendor_code.clone());
        let name = name.into_owned();
        let brand = card.brand.map(|b| b.0).filter(|b| !b.is_empty()).map(Cow::into_owned);
        for size in card.sizes {
            products.push(Product {
                sku: sku(&card.vendor_code, &size.tech_size),
                marketplace_id: format!("{}/{}", card.nm_id, size.chrt_id),
                variant_id: Some(size.chrt_id.to_string()),
                barcodes: size.skus.into_iter().map(|b| b.0.into_owned()).collect(),
                name: name.clone(),
                brand: brand.clone(),
                price: None,
            });
        }
    }
    // WB: the last page is the one whose cursor.total is below the requested limit.
    let next = if resp.cursor.total < limit {
        None
    } else {
        Some(RequestCursor { limit, updated_at: resp.cursor.updated_at, nm_id: resp.cursor.nm_id })
    };
    (products, next)
}

/// Stock levels of one statistics page (a JSON array of rows), summed per (sku, warehouse), and
/// the next `dateFrom` (the last row's `lastChangeDate`); an empty page ends the listing. Rows are
/// merged as they are read; see [`Merged`] for the rest.
pub fn stocks_page(body: &[u8]) -> serde_json::Result<(Merged, Option<String>)> {
    let mut merged = Merged::default();
    let mut last = None;
    for_each_element(body, |row: StocksItem<'_>| {
        let counts = merged.at(sku(&row.supplier_article, &row.tech_size), &row.warehouse_name);
        counts.available += row.quantity;
        counts.to_client += row.in_way_to_client;
        counts.from_client += row.in_way_from_client;
        last = Some(row.last_change_date);
    })?;
    Ok((merged, last.map(Cow::into_owned)))
}

/// Pseudo-rows of the warehouse-remains report (`locale=ru`): goods on their way to buyers,
/// returns on their way back, and the total over warehouses (which is not a place).
pub const REMAINS_TO_CLIENT: &str = "В пути до получателей";
pub const REMAINS_FROM_CLIENT: &str = "В пути возвраты на склад WB";
pub const REMAINS_TOTAL: &str = "Всего находится на складах";

/// One row of the warehouse-remains report (one article and size): a level per real warehouse,
/// and the size's goods in transit, which WB counts per product, not per warehouse. Warehouses
/// at zero are absent from the report; the host zeroes what a full listing omits.
pub fn remains_row(row: &RemainsRow<'_>, levels: &mut Vec<StockLevel>, transit: &mut Vec<ProductTransit>) {
    let sku = sku(&row.vendor_code, &row.tech_size);
    let (mut to_client, mut from_client) = (0, 0);
    for place in &row.warehouses {
        match place.warehouse_name.as_ref() {
            REMAINS_TO_CLIENT => to_client += place.quantity,
            REMAINS_FROM_CLIENT => from_client += place.quantity,
            REMAINS_TOTAL => {}
            warehouse => levels.push(StockLevel {
                sku: sku.clone(),
                warehouse: warehouse.to_owned(),
                warehouse_id: None,
                warehouse_kind: WarehouseKind::Marketplace,
                available: place.quantity,
            }),
        }
    }
    if (to_client, from_client) != (0, 0) {
        transit.push(ProductTransit { sku, to_client, from_client });
    }
}

/// Calls `each` with every element of the JSON array in `body`, parsed borrowed, one at a time:
/// a big answer is merged as it is read, never held as rows.
fn for_each_element<'de, T: Deserialize<'de>>(body: &'de [u8], each: impl FnMut(T)) -> serde_json::Result<()> {
    struct Elements<F, T>(F, PhantomData<T>);
    impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Elements<F, T> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(element) = seq.next_element()? {
                (self.0)(element);
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_seq(Elements(each, PhantomData))?;
    de.end()
}

/// Counts per (SKU, warehouse) while rows are merged, owning no part of the response: a big
/// report (every row of the catalogue in one call) decides how much memory the adapter needs, so
/// the caller drops the body before [`Merged::into_levels`] makes each level's strings.
/// Warehouses are numbered as first seen.
#[derive(Default)]
pub struct Merged {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    counts: BTreeMap<(String, usize), Counts>,
}

#[derive(Default)]
struct Counts {
    available: i64,
    to_client: i64,
    from_client: i64,
}

impl Merged {
    /// The counts of `sku` in `warehouse`, zero on first use.
    fn at(&mut self, sku: String, warehouse: &str) -> &mut Counts {
        let number = match self.index.get(warehouse) {
            Some(number) => *number,
            None => {
                self.names.push(warehouse.to_owned());
                self.index.insert(warehouse.to_owned(), self.names.len() - 1);
                self.names.len() - 1
            }
        };
        self.counts.entry((sku, number)).or_default()
    }

    /// One level per (SKU, warehouse), ordered by SKU, then warehouse name; and each SKU's
    /// goods in transit summed over its warehouses (the host keeps them per product).
    pub fn into_page(self) -> (Vec<StockLevel>, Vec<ProductTransit>) {
        let mut levels: Vec<StockLevel> = Vec::with_capacity(self.counts.len());
        let mut transit: Vec<ProductTransit> = Vec::new();
        for ((sku, warehouse), counts) in self.counts {
            if counts.to_client != 0 || counts.from_client != 0 {
                match transit.last_mut() {
                    Some(t) if t.sku == sku => {
                        t.to_client += counts.to_client;
                        t.from_client += counts.from_client;
                    }
                    _ => transit.push(ProductTransit {
                        sku: sku.clone(),
                        to_client: counts.to_client,
                        from_client: counts.from_client,
                    }),
                }
            }
            levels.push(StockLevel {
                sku,
                warehouse: self.names[warehouse].clone(),
                warehouse_id: None,
                warehouse_kind: WarehouseKind::Marketplace,
                available: counts.available,
            });
        }
        // The map orders each SKU's warehouses as first seen; names order them for the host.
        for group in levels.chunk_by_mut(|a, b| a.sku == b.sku) {
            group.sort_unstable_by(|a, b| a.warehouse.cmp(&b.warehouse));
        }
        (levels, transit)
    }
}

/// Maps a non-success answer to an adapter error, with WB's own words (`detail`, `errorText`,
/// `errors`, `message`): 401/403 → invalid credentials (e.g. `token scope not allowed`), 429 →
/// rate limited for `X-Ratelimit-Retry` seconds (carrying `resume`), 5xx → transient (worth
/// retrying), any other → upstream (the request itself was refused).
pub fn error_for(status: u16, retry_after: Option<&str>, body: &[u8], resume: Option<String>) -> AdapterError {
    let detail = error_text(body).unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        401 | 403 => AdapterError::InvalidCredentials(detail),
        429 => rate_limited(retry_after.and_then(|v| v.trim().parse().ok()).unwrap_or(60), resume),
        500..=599 => AdapterError::Transient(format!("HTTP {status}: {detail}")),
        _ => AdapterError::Upstream(format!("HTTP {status}: {detail}")),
    }
}

/// The text of any of WB's error bodies, if it has one.
fn error_text(body: &[u8]) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let errors = match parsed.errors {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Array(items)) => Some(
            items
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    };
    let code = parsed.code.and_then(|c| c.as_str().map(str::to_owned));
    [parsed.detail, parsed.error_text, errors, parsed.message, parsed.title, code]
        .into_iter()
        .flatten()
        .find(|t| !t.trim().is_empty())
}

/// Prices per size from the prices list: minor units, rounded to the kopeck.
pub fn goods_prices(goods: Vec<Goods>) -> Vec<ProductPrice> {
    let minor = |roubles: f64| (roubles * 100.0).round() as i64;
    let mut prices = Vec::new();
    for g in goods {
        let currency = g.currency.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| "RUB".to_owned());
        for size in g.sizes {
            prices.push(ProductPrice {
                sku: sku(&g.vendor_code, &size.tech_size_name),
                price: Price {
                    base_minor: minor(size.price),
                    discounted_minor: size.discounted_price.map(minor),
                    discount_percent: g.discount,
                    currency: currency.clone(),
                },
            });
        }
    }
    prices
}

/// A statistics time (`2026-11-30T12:34:56`, Moscow time without an offset; sometimes with
/// one) in unix milliseconds.
pub fn statistics_time_ms(text: &str) -> Option<i64> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let moscow = chrono::FixedOffset::east_opt(3 * 3600)?;
    Some(local.and_local_timezone(moscow).single()?.timestamp_millis())
}

fn minor(roubles: Option<f64>) -> Option<i64> {
    roubles.map(|r| (r * 100.0).round() as i64)
}

fn place(name: &str) -> Option<String> {
    (!name.trim().is_empty()).then(|| name.to_owned())
}

/// The event of one unit of the orders or sales listing.
fn unit_event(row: &UnitRow, kind: SaleKind, at_ms: i64) -> SaleEvent {
    SaleEvent {
        event_id: row.srid.clone(),
        kind,
        sku: sku(&row.supplier_article, &row.tech_size),
        warehouse: place(&row.warehouse_name),
        quantity: 1,
        at_ms,
        price_minor: minor(row.price_with_disc).map(i64::abs),
    }
}

/// Events of one orders row: the order, and its cancellation if it was cancelled. A row without
/// a readable time gives none (`false`).
pub fn order_events(row: &OrderRow, out: &mut Vec<SaleEvent>) -> bool {
    let Some(at_ms) = statistics_time_ms(&row.unit.date) else { return false };
    out.push(unit_event(&row.unit, SaleKind::Order, at_ms));
    if row.is_cancel {
        let cancelled = row.cancel_date.as_deref().and_then(statistics_time_ms).filter(|t| *t > 0).unwrap_or(at_ms);
        out.push(unit_event(&row.unit, SaleKind::Cancel, cancelled));
    }
    true
}

/// The event of one sales row: a sale (`saleID` `S…`) or a return (`R…`).
pub fn sale_event(row: &SaleRow) -> Option<SaleEvent> {
    let kind = if row.sale_id.starts_with('R') { SaleKind::Return } else { SaleKind::Sale };
    Some(unit_event(&row.unit, kind, statistics_time_ms(&row.unit.date)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARDS: &str = r#"{"cards":[
        {"nmID":12345678,"imtID":123654789,"nmUUID":"01bda0b1-5c0b-736c-b2be-d0a6543e9be","subjectID":7771,
         "subjectName":"AKF системы","vendorCode":"wb7f6mumjr1","brand":"Тест","title":"Тест-система",
         "description":"Тестовое описание","needKiz":false,"photos":[],"video":"",
         "dimensions":{"length":55,"width":40,"height":15,"weightBrutto":6.24,"isValid":false},
         "characteristics":[{"id":14177449,"name":"Цвет","value":["красно-сиреневый"]}],
         "sizes":[{"chrtID":316399238,"techSize":"0","wbSize":"","skus":["987456321654"]}],
         "tags":[],"createdAt":"2023-12-06T11:17:00.96577Z","updatedAt":"2023-12-06T11:17:00.96577Z"},
        {"nmID":22222222,"vendorCode":"TSHIRT","brand":"","title":"Футболка",
         "sizes":[{"chrtID":1,"techSize":"S","skus":["2000000000011","2000000000012"]},
                  {"chrtID":2,"techSize":"M","skus":["2000000000028"]}],
         "updatedAt":"2023-12-07T10:00:00Z"}
      ],
      "cursor":{"updatedAt":"2023-12-07T10:00:00Z","nmID":22222222,"total":2}}"#;

    #[test]
    fn cards_map_to_one_product_per_size() {
        let (products, next) = products_page(serde_json::from_str(CARDS).unwrap(), 100);
        let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
        assert_eq!(skus, ["wb7f6mumjr1", "TSHIRT/S", "TSHIRT/M"]);
        assert_eq!(products[0].marketplace_id, "12345678/316399238");
        assert_eq!(products[0].barcodes, ["987456321654"]);
        assert_eq!(products[0].name, "Тест-система");
        assert_eq!(products[0].brand.as_deref(), Some("Тест"));
        assert_eq!(products[1].barcodes, ["2000000000011", "2000000000012"]);
        assert_eq!(products[1].brand, None, "an empty brand is no brand");
        assert_eq!(next, None, "total 2 < limit 100: last page");
    }

    #[test]
    fn strings_are_borrowed_from_the_body_unless_escaped() {
        let resp: CardsListResponse<'_> = serde_json::from_str(CARDS).unwrap();
        let card = &resp.cards[1];
        assert!(matches!(card.title.as_ref().unwrap().0, Cow::Borrowed("Футболка")));
        assert!(matches!(card.sizes[0].skus[0].0, Cow::Borrowed("2000000000011")));
        let escaped = r#"{"cards":[{"nmID":1,"vendorCode":"A","title":"say \"hi\"","sizes":[]}],"cursor":{"total":1}}"#;
        let resp: CardsListResponse<'_> = serde_json::from_str(escaped).unwrap();
        assert_eq!(resp.cards[0].title.as_ref().unwrap().0, "say \"hi\"", "escapes still decode (owned)");
    }

    #[test]
    fn a_full_page_continues_from_the_answer_cursor() {
        let (_, next) = products_page(serde_json::from_str(CARDS).unwrap(), 2);
        assert_eq!(
            next,
            Some(RequestCursor { limit: 2, updated_at: Some("2023-12-07T10:00:00Z".into()), nm_id: Some(22222222) })
        );
        let json = serde_json::to_value(RequestCursor { limit: 100, updated_at: None, nm_id: None }).unwrap();
        assert_eq!(json, serde_json::json!({ "limit": 100 }), "first page sends only the limit");
    }

    const STOCKS: &str = r#"[
      {"lastChangeDate":"2023-07-05T11:13:35","warehouseName":"Краснодар","supplierArticle":"443284","nmId":1439871458,
       "barcode":"2037401340280","quantity":33,"inWayToClient":1,"inWayFromClient":0,"quantityFull":34,
       "category":"Посуда и инвентарь","subject":"Формы для запекания","brand":"X","techSize":"0","Price":185,
       "Discount":0,"isSupply":true,"isRealization":false,"SCCode":"Tech"},
      {"lastChangeDate":"2023-07-05T11:13:36","warehouseName":"Краснодар","supplierArticle":"443284","nmId":1439871458,
       "barcode":"2037401340280","quantity":2,"inWayToClient":0,"inWayFromClient":1,"quantityFull":3,
       "techSize":"0","Price":185,"Discount":0,"isSupply":false,"isRealization":true,"SCCode":"Tech"},
      {"lastChangeDate":"2023-07-06T09:00:00","warehouseName":"Коледино","supplierArticle":"TSHIRT","nmId":22222222,
       "barcode":"2000000000028","quantity":0,"inWayToClient":4,"inWayFromClient":0,"quantityFull":4,"techSize":"M",
       "Price":990,"Discount":10,"isSupply":true,"isRealization":false,"SCCode":"Tech"}
    ]"#;

    #[test]
    fn stock_rows_sum_per_sku_and_warehouse_and_page_by_last_change() {
        let (merged, next) = stocks_page(STOCKS.as_bytes()).unwrap();
        let (levels, transit) = merged.into_page();
        assert_eq!(next.as_deref(), Some("2023-07-06T09:00:00"));
        assert_eq!(levels.len(), 2);
        let krasnodar = levels.iter().find(|l| l.warehouse == "Краснодар").unwrap();
        assert_eq!(krasnodar.sku, "443284");
        assert_eq!(krasnodar.available, 35);
        assert_eq!(
            transit,
            [
                ProductTransit { sku: "443284".into(), to_client: 1, from_client: 1 },
                ProductTransit { sku: "TSHIRT/M".into(), to_client: 4, from_client: 0 },
            ],
            "in transit per product"
        );
        let koledino = levels.iter().find(|l| l.warehouse == "Коледино").unwrap();
        assert_eq!(koledino.sku, "TSHIRT/M", "same SKU rule as the card sizes");
        assert_eq!(koledino.available, 0);
        assert_eq!(stocks_page(b"[]").unwrap().1, None, "[] ends the listing");
        assert!(stocks_page(b"{}").is_err() && stocks_page(b"[{}]").is_err(), "not rows: an error, not a panic");
    }

    // The spec's example row, plus a size with everything in transit and one at zero everywhere.
    const REMAINS: &str = r#"[
      {"brand":"Wonderful","subjectName":"Фотоальбомы","vendorCode":"41058/прозрачный","nmId":183804172,
       "barcode":"2037031652319","techSize":"0","volume":1.33,"warehouses":[
         {"warehouseName":"В пути до получателей","quantity":14},
         {"warehouseName":"В пути возвраты на склад WB","quantity":4},
         {"warehouseName":"Всего находится на складах","quantity":267},
         {"warehouseName":"Невинномысск","quantity":134},
         {"warehouseName":"Коледино","quantity":133}]},
      {"vendorCode":"TSHIRT","nmId":22222222,"techSize":"M","warehouses":[
         {"warehouseName":"В пути до получателей","quantity":2}]},
      {"vendorCode":"TSHIRT","nmId":22222222,"techSize":"L","warehouses":[]}
    ]"#;

    #[test]
    fn remains_rows_map_to_real_warehouses_and_transit_per_product() {
        let (mut levels, mut transit) = (Vec::new(), Vec::new());
        let rows: Vec<RemainsRow<'_>> = serde_json::from_str(REMAINS).unwrap();
        for row in &rows {
            remains_row(row, &mut levels, &mut transit);
        }
        let got: Vec<(&str, &str, i64)> =
            levels.iter().map(|l| (l.sku.as_str(), l.warehouse.as_str(), l.available)).collect();
        assert_eq!(
            got,
            [("41058/прозрачный", "Невинномысск", 134), ("41058/прозрачный", "Коледино", 133)],
            "the total row is not a warehouse; a size at zero everywhere has no level"
        );
        assert!(levels.iter().all(|l| l.warehouse_kind == WarehouseKind::Marketplace));
        assert_eq!(
            transit,
            [
                ProductTransit { sku: "41058/прозрачный".into(), to_client: 14, from_client: 4 },
                ProductTransit { sku: "TSHIRT/M".into(), to_client: 2, from_client: 0 },
            ]
        );
        assert!(serde_json::from_str::<RemainsRow<'_>>("{\"vendorCode\":1}").is_err(), "a malformed row is an error");
    }

    #[test]
    fn prices_are_per_size_in_kopecks() {
        let body = r#"{"data":{"listGoods":[{"nmID":98486,"vendorCode":"07326060","sizes":[{"sizeID":3123515574,"price":500,"discountedPrice":350,"clubDiscountedPrice":332.5,"techSizeName":"42"}],"currencyIsoCode4217":"RUB","discount":30,"clubDiscount":5,"editableSizePrice":true,"isBadTurnover":true}]},"error":false,"errorText":""}"#;
        let goods: crate::api::GoodsResponse = serde_json::from_str(body).unwrap();
        let prices = goods_prices(goods.data.unwrap().list_goods);
        assert_eq!(
            prices,
            [ProductPrice {
                sku: "07326060/42".into(),
                price: Price {
                    base_minor: 50_000,
                    discounted_minor: Some(35_000),
                    discount_percent: Some(30),
                    currency: "RUB".into()
                },
            }]
        );
    }

    #[test]
    fn orders_sales_and_returns_become_events_in_moscow_time() {
        let orders: Vec<OrderRow> = serde_json::from_str(
            r#"[
          {"date":"2026-11-30T10:00:00","lastChangeDate":"2026-11-30T10:05:00","warehouseName":"Коледино",
           "supplierArticle":"TSHIRT","techSize":"M","priceWithDisc":990.5,"isCancel":true,
           "cancelDate":"2026-11-30T12:00:00","srid":"11.rf9ef11fce1684117b0nhj96222982382.3.0"},
          {"date":"2026-11-30T11:00:00","lastChangeDate":"2026-11-30T11:00:00","warehouseName":"",
           "supplierArticle":"MUG","techSize":"0","isCancel":false,"cancelDate":"0001-01-01T00:00:00","srid":"x2"}]"#,
        )
        .unwrap();
        let mut events = Vec::new();
        for row in &orders {
            assert!(order_events(row, &mut events));
        }
        type Shown<'a> = (&'a str, SaleKind, &'a str, Option<&'a str>, i64, Option<i64>);
        let got: Vec<Shown<'_>> = events
            .iter()
            .map(|e| (e.event_id.as_str(), e.kind, e.sku.as_str(), e.warehouse.as_deref(), e.at_ms, e.price_minor))
            .collect();
        // 10:00 MSK is 07:00 UTC.
        let at = |h| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        assert_eq!(
            got,
            [
                (
                    "11.rf9ef11fce1684117b0nhj96222982382.3.0",
                    SaleKind::Order,
                    "TSHIRT/M",
                    Some("Коледино"),
                    at(7),
                    Some(99_050)
                ),
                (
                    "11.rf9ef11fce1684117b0nhj96222982382.3.0",
                    SaleKind::Cancel,
                    "TSHIRT/M",
                    Some("Коледино"),
                    at(9),
                    Some(99_050)
                ),
                ("x2", SaleKind::Order, "MUG", None, at(8), None),
            ]
        );
        let sales: Vec<SaleRow> = serde_json::from_str(
            r#"[
          {"date":"2026-11-30T13:00:00","lastChangeDate":"2026-11-30T13:00:00","warehouseName":"Коледино",
           "supplierArticle":"TSHIRT","techSize":"M","priceWithDisc":990.5,"saleID":"S9993700024","srid":"s1"},
          {"date":"2026-11-30T14:00:00","lastChangeDate":"2026-11-30T14:00:00","warehouseName":"Коледино",
           "supplierArticle":"TSHIRT","techSize":"M","priceWithDisc":-990.5,"saleID":"R9993700025","srid":"s2"}]"#,
        )
        .unwrap();
        let kinds: Vec<(SaleKind, Option<i64>)> =
            sales.iter().map(|r| sale_event(r).unwrap()).map(|e| (e.kind, e.price_minor)).collect();
        assert_eq!(kinds, [(SaleKind::Sale, Some(99_050)), (SaleKind::Return, Some(99_050))]);
    }

    #[test]
    fn errors_map_by_status() {
        let unauthorized = br#"{"title":"unauthorized","detail":"token scope not allowed","code":"x","requestId":"y","origin":"s2s-api-auth-catalog","status":401,"statusText":"Unauthorized","timestamp":"2024-09-30T06:52:38Z"}"#;
        assert_eq!(
            error_for(401, None, unauthorized, None),
            AdapterError::InvalidCredentials("token scope not allowed".into())
        );
        assert_eq!(error_for(429, Some("7"), b"{}", Some("task:1".into())), rate_limited(7, Some("task:1".into())));
        assert_eq!(error_for(429, None, b"not json", None), rate_limited(60, None));
        assert_eq!(error_for(502, None, b"", None), AdapterError::Transient("HTTP 502: HTTP 502".into()));
        let content = br#"{"data":null,"error":true,"errorText":"cursor.limit must be between 1 and 100","additionalErrors":null}"#;
        assert_eq!(
            error_for(400, None, content, None),
            AdapterError::Upstream("HTTP 400: cursor.limit must be between 1 and 100".into())
        );
        assert_eq!(
            error_for(400, None, br#"{"errors":["dateFrom: field required"]}"#, None),
            AdapterError::Upstream("HTTP 400: dateFrom: field required".into())
        );
        assert_eq!(
            error_for(409, None, br#"{"code":"StoreIsProcessing","message":"The store is processing"}"#, None),
            AdapterError::Upstream("HTTP 409: The store is processing".into())
        );
    }
}
