//! The fake's deterministic catalogue.

use chrono::{Duration, NaiveDate, NaiveDateTime};

/// Warehouse names, first `warehouses` of them are used.
pub const WAREHOUSES: [&str; 8] =
    ["Коледино", "Подольск", "Электросталь", "Казань", "Краснодар", "Екатеринбург", "Новосибирск", "Хабаровск"];
const NAMES: [&str; 6] = [
    "Футболка хлопковая",
    "Кружка керамическая",
    "Рюкзак городской",
    "Наушники беспроводные",
    "Чехол для телефона",
    "Термос стальной",
];
const BRANDS: [&str; 4] = ["Северный ветер", "Тест", "Уют", "Vector"];

/// One size of a card.
#[derive(Debug, Clone)]
pub struct Size {
    pub chrt_id: i64,
    pub tech_size: String,
    pub barcode: String,
}

/// One card (`nmID`).
#[derive(Debug, Clone)]
pub struct Card {
    pub nm_id: i64,
    pub vendor_code: String,
    pub title: String,
    pub brand: String,
    pub subject: String,
    pub updated_at: String,
    pub sizes: Vec<Size>,
}

/// One statistics row: a size in a warehouse.
#[derive(Debug, Clone)]
pub struct StockRow {
    pub nm_id: i64,
    pub vendor_code: String,
    pub tech_size: String,
    pub barcode: String,
    pub warehouse: String,
    pub quantity: i64,
    pub in_way_to_client: i64,
    pub in_way_from_client: i64,
    pub price: i64,
    pub last_change: NaiveDateTime,
}

impl StockRow {
    /// The SKU the Stock Tracker adapter derives: vendor code, plus `/size` for real sizes.
    pub fn sku(&self) -> String {
        sku(&self.vendor_code, &self.tech_size)
    }
}

fn sku(vendor_code: &str, tech_size: &str) -> String {
    if tech_size == "0" { vendor_code.to_owned() } else { format!("{vendor_code}/{tech_size}") }
}

/// Cards and stock rows.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub cards: Vec<Card>,
    pub stocks: Vec<StockRow>,
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
}

impl Catalogue {
    pub fn generate(products: usize, warehouses: usize, multi_size_every: usize) -> Self {
        let warehouses = &WAREHOUSES[..warehouses.clamp(1, WAREHOUSES.len())];
        let mut cards = Vec::with_capacity(products);
        let mut stocks = Vec::new();
        let mut seq = 0i64;
        for i in 0..products {
            let multi = multi_size_every > 0 && i % multi_size_every == multi_size_every - 1;
            let sizes: Vec<&str> = if multi { vec!["S", "M", "L"] } else { vec!["0"] };
            let nm_id = 100_000_000 + i as i64;
            let vendor_code = format!("WB-{i:06}");
            let updated = epoch() + Duration::milliseconds(i as i64 * 1500 + 123);
            let card = Card {
                nm_id,
                vendor_code: vendor_code.clone(),
                title: format!("{} №{i}", NAMES[i % NAMES.len()]),
                brand: BRANDS[i % BRANDS.len()].to_owned(),
                subject: "Товары для дома".to_owned(),
                updated_at: format!("{}Z", updated.format("%Y-%m-%dT%H:%M:%S%.6f")),
                sizes: sizes
                    .iter()
                    .enumerate()
                    .map(|(s, tech)| Size {
                        chrt_id: 200_000_000 + (i * 10 + s) as i64,
                        tech_size: (*tech).to_owned(),
                        barcode: format!("20{:011}", i * 10 + s),
                    })
                    .collect(),
            };
            for (s, size) in card.sizes.iter().enumerate() {
                for (w, warehouse) in warehouses.iter().enumerate() {
                    seq += 1;
                    stocks.push(StockRow {
                        nm_id,
                        vendor_code: vendor_code.clone(),
                        tech_size: size.tech_size.clone(),
                        barcode: size.barcode.clone(),
                        warehouse: (*warehouse).to_owned(),
                        quantity: ((i * 31 + s * 7 + w * 13) % 60) as i64,
                        in_way_to_client: ((i + w) % 3) as i64,
                        in_way_from_client: ((i * w) % 2) as i64,
                        price: 500 + (i % 50) as i64 * 10,
                        last_change: epoch() + Duration::seconds(seq),
                    });
                }
            }
            cards.push(card);
        }
        Self { cards, stocks }
    }

    pub(crate) fn set_quantity(&mut self, sku_: &str, warehouse: &str, quantity: i64) {
        let latest = self.stocks.iter().map(|r| r.last_change).max().unwrap_or_else(epoch);
        let row = self
            .stocks
            .iter_mut()
            .find(|r| r.sku() == sku_ && r.warehouse == warehouse)
            .unwrap_or_else(|| panic!("fake WB has no stock row for {sku_} in {warehouse}"));
        row.quantity = quantity;
        row.last_change = latest + Duration::seconds(1);
        self.stocks.sort_by_key(|r| r.last_change);
    }

    pub(crate) fn remove(&mut self, sku_: &str) {
        self.stocks.retain(|r| r.sku() != sku_);
        for card in &mut self.cards {
            card.sizes.retain(|s| sku(&card.vendor_code, &s.tech_size) != sku_);
        }
        self.cards.retain(|c| !c.sizes.is_empty());
    }

    /// Every SKU, as the adapter derives them.
    pub fn skus(&self) -> Vec<String> {
        self.cards.iter().flat_map(|c| c.sizes.iter().map(|s| sku(&c.vendor_code, &s.tech_size))).collect()
    }
}
