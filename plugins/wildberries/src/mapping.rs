//! Pure mapping from WB answers to the host's records. No host calls here: unit-tested natively
//! on recorded JSON.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer as _, SeqAccess, Visitor};

use stock_tracker_plugin_sdk::{AdapterError, Product, StockLevel};

use crate::api::{CardsListResponse, GatewayError, RemainsRow, RequestCursor, StocksItem};

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
                barcodes: size.skus.into_iter().map(|b| b.0.into_owned()).collect(),
                name: name.clone(),
                brand: brand.clone(),
                price_minor: None,
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
/// Where in-transit goods of a product with nothing on any shelf are reported (WB's own name for
/// its warehouses as a whole).
pub const REMAINS_NO_WAREHOUSE: &str = "Склад WB";

/// Stock levels from the warehouse-remains report (a JSON array of rows): one per SKU and real
/// warehouse. The report counts goods in transit per product, not per warehouse, so they are put
/// on the product's warehouse with the most stock (ties: the last by name; or on
/// [`REMAINS_NO_WAREHOUSE`] when no shelf has any): the product's totals are exact, the split of
/// in-transit goods between warehouses is not known. Warehouses at zero are absent from the
/// report; the host zeroes what a full listing omits.
pub fn remains_levels(body: &[u8]) -> serde_json::Result<Merged> {
    let mut merged = Merged::default();
    let mut in_transit: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for_each_element(body, |row: RemainsRow<'_>| {
        let sku = sku(&row.vendor_code, &row.tech_size);
        for place in &row.warehouses {
            match place.warehouse_name.as_ref() {
                REMAINS_TO_CLIENT => in_transit.entry(sku.clone()).or_default().0 += place.quantity,
                REMAINS_FROM_CLIENT => in_transit.entry(sku.clone()).or_default().1 += place.quantity,
                REMAINS_TOTAL => {}
                warehouse => merged.at(sku.clone(), warehouse).available += place.quantity,
            }
        }
    })?;
    for (sku, (to_client, from_client)) in in_transit.into_iter().filter(|(_, t)| *t != (0, 0)) {
        let fullest = merged
            .counts
            .range((sku.clone(), 0)..)
            .take_while(|((s, _), _)| *s == sku)
            .max_by(|(a, x), (b, y)| x.available.cmp(&y.available).then(merged.names[a.1].cmp(&merged.names[b.1])))
            .map(|((_, warehouse), _)| merged.names[*warehouse].clone());
        let counts = merged.at(sku, fullest.as_deref().unwrap_or(REMAINS_NO_WAREHOUSE));
        counts.to_client += to_client;
        counts.from_client += from_client;
    }
    Ok(merged)
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

    /// One level per (SKU, warehouse), ordered by SKU, then warehouse name.
    pub fn into_levels(self) -> Vec<StockLevel> {
        let mut levels: Vec<StockLevel> = Vec::with_capacity(self.counts.len());
        levels.extend(self.counts.into_iter().map(|((sku, warehouse), counts)| StockLevel {
            sku,
            warehouse: self.names[warehouse].clone(),
            available: counts.available,
            in_transit_to_client: counts.to_client,
            in_transit_from_client: counts.from_client,
        }));
        // The map orders each SKU's warehouses as first seen; names order them for the host.
        for group in levels.chunk_by_mut(|a, b| a.sku == b.sku) {
            group.sort_unstable_by(|a, b| a.warehouse.cmp(&b.warehouse));
        }
        levels
    }
}

/// Maps a non-success answer to an adapter error: 401/403 → invalid credentials (with WB's
/// detail, e.g. `token scope not allowed`), 429 → rate limited for `X-Ratelimit-Retry` seconds.
pub fn error_for(status: u16, retry_after: Option<&str>, body: &[u8]) -> AdapterError {
    let parsed: GatewayError = serde_json::from_slice(body).unwrap_or_default();
    let detail = parsed.detail.or(parsed.title).unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        401 | 403 => AdapterError::InvalidCredentials(detail),
        429 => AdapterError::RateLimited(retry_after.and_then(|v| v.trim().parse().ok()).unwrap_or(60)),
        _ => AdapterError::Upstream(format!("HTTP {status}: {detail}")),
    }
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
        let levels = merged.into_levels();
        assert_eq!(next.as_deref(), Some("2023-07-06T09:00:00"));
        assert_eq!(levels.len(), 2);
        let krasnodar = levels.iter().find(|l| l.warehouse == "Краснодар").unwrap();
        assert_eq!(krasnodar.sku, "443284");
        assert_eq!((krasnodar.available, krasnodar.in_transit_to_client, krasnodar.in_transit_from_client), (35, 1, 1));
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
    fn remains_rows_map_to_real_warehouses_with_transit_on_the_fullest() {
        let levels = remains_levels(REMAINS.as_bytes()).unwrap().into_levels();
        let got: Vec<(&str, &str, i64, i64, i64)> = levels
            .iter()
            .map(|l| {
                (l.sku.as_str(), l.warehouse.as_str(), l.available, l.in_transit_to_client, l.in_transit_from_client)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("41058/прозрачный", "Коледино", 133, 0, 0),
                ("41058/прозрачный", "Невинномысск", 134, 14, 4),
                ("TSHIRT/M", REMAINS_NO_WAREHOUSE, 0, 2, 0),
            ],
            "the total row is not a warehouse; a size at zero everywhere has no row"
        );
    }

    #[test]
    fn transit_ties_go_to_the_last_warehouse_by_name_whatever_the_row_order() {
        for [first, second] in [["Алексин", "Бор"], ["Бор", "Алексин"]] {
            let body = format!(
                r#"[{{"vendorCode":"X","techSize":"0","warehouses":[{{"warehouseName":"{first}","quantity":5}},
                   {{"warehouseName":"{second}","quantity":5}},{{"warehouseName":"{REMAINS_TO_CLIENT}","quantity":3}}]}}]"#
            );
            let levels = remains_levels(body.as_bytes()).unwrap().into_levels();
            let got: Vec<(&str, i64, i64)> =
                levels.iter().map(|l| (l.warehouse.as_str(), l.available, l.in_transit_to_client)).collect();
            assert_eq!(got, [("Алексин", 5, 0), ("Бор", 5, 3)], "rows in order {first}, {second}");
        }
        assert!(remains_levels(b"[{\"vendorCode\":1}]").is_err(), "a malformed report is an error");
    }

    #[test]
    fn errors_map_by_status() {
        let unauthorized = br#"{"title":"unauthorized","detail":"token scope not allowed","code":"x","requestId":"y","origin":"s2s-api-auth-catalog","status":401,"statusText":"Unauthorized","timestamp":"2024-09-30T06:52:38Z"}"#;
        assert_eq!(
            error_for(401, None, unauthorized),
            AdapterError::InvalidCredentials("token scope not allowed".into())
        );
        assert_eq!(error_for(429, Some("7"), b"{}"), AdapterError::RateLimited(7));
        assert_eq!(error_for(429, None, b"not json"), AdapterError::RateLimited(60));
        assert_eq!(error_for(502, None, b""), AdapterError::Upstream("HTTP 502: HTTP 502".into()));
    }
}
