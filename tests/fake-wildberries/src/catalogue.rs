//! The fake's deterministic catalogue: cards, stock in WB's warehouses and the seller's own,
//! prices, orders and sales.

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
    /// Roubles, every size the same.
    pub price: i64,
    /// The seller's discount, percent.
    pub discount: u32,
}

/// One of the seller's own warehouses (`GET /api/v3/warehouses`).
#[derive(Debug, Clone)]
pub struct SellerWarehouse {
    pub id: i64,
    pub name: String,
}

/// What an order row and a sales row both say: one unit of one size.
#[derive(Debug, Clone)]
pub struct Unit {
    pub srid: String,
    /// Moscow time.
    pub date: NaiveDateTime,
    pub last_change: NaiveDateTime,
    pub warehouse: String,
    pub nm_id: i64,
    pub vendor_code: String,
    pub tech_size: String,
    pub barcode: String,
    /// Roubles (negative on a return).
    pub price_with_disc: f64,
}

impl Unit {
    pub fn sku(&self) -> String {
        sku(&self.vendor_code, &self.tech_size)
    }
}

/// One order row (`GET /api/v1/supplier/orders`).
#[derive(Debug, Clone)]
pub struct Order {
    pub unit: Unit,
    pub cancel_date: Option<NaiveDateTime>,
}

/// One sales row (`GET /api/v1/supplier/sales`): sold (`S…`) or returned (`R…`).
#[derive(Debug, Clone)]
pub struct Sale {
    pub unit: Unit,
    pub sale_id: String,
}

impl Sale {
    pub fn is_return(&self) -> bool {
        self.sale_id.starts_with('R')
    }
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

/// Cards, stock rows, the seller's warehouses and stock (by `chrtID`), orders and sales.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub cards: Vec<Card>,
    pub stocks: Vec<StockRow>,
    pub seller_warehouses: Vec<SellerWarehouse>,
    /// (chrtID, seller warehouse id) → amount.
    pub seller_stock: std::collections::BTreeMap<(i64, i64), i64>,
    pub orders: Vec<Order>,
    pub sales: Vec<Sale>,
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
}

/// What [`Catalogue::generate`] makes besides cards and WB stock.
#[derive(Debug, Clone, Copy)]
pub struct Extras {
    pub seller_warehouses: usize,
    /// Products with orders (the first ones), and the days back they have them.
    pub selling_products: usize,
    pub sales_days: u32,
    /// Moscow time "now": orders are placed on the days before it.
    pub now_msk: NaiveDateTime,
}

impl Catalogue {
    pub fn generate(products: usize, warehouses: usize, multi_size_every: usize) -> Self {
        Self::generate_with(products, warehouses, multi_size_every, None)
    }

    /// The catalogue with seller warehouses, orders and sales.
    pub fn generate_with(products: usize, warehouses: usize, multi_size_every: usize, extras: Option<Extras>) -> Self {
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
                price: 500 + (i % 50) as i64 * 10,
                discount: if i % 2 == 0 { 10 } else { 0 },
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
        let mut catalogue = Self {
            cards,
            stocks,
            seller_warehouses: Vec::new(),
            seller_stock: Default::default(),
            orders: Vec::new(),
            sales: Vec::new(),
        };
        if let Some(extras) = extras {
            catalogue.add_extras(extras, warehouses);
        }
        catalogue
    }

    fn add_extras(&mut self, extras: Extras, warehouses: &[&str]) {
        for k in 0..extras.seller_warehouses {
            let warehouse =
                SellerWarehouse { id: 507_000 + k as i64, name: format!("Склад продавца {}", k + 1) };
            for (i, card) in self.cards.iter().enumerate() {
                for (s, size) in card.sizes.iter().enumerate() {
                    let amount = ((i * 7 + s + k * 3) % 20) as i64;
                    self.seller_stock.insert((size.chrt_id, warehouse.id), amount);
                }
            }
            self.seller_warehouses.push(warehouse);
        }
        // Each selling product: one order a day at 10:00 + i minutes, every fifth cancelled two
        // hours later; the rest sold the next day at 15:00 (if that has passed), every seventh
        // sale returned a day after that.
        let mut change = extras.now_msk - Duration::days(i64::from(extras.sales_days) + 3);
        let mut tick = || {
            change += Duration::seconds(1);
            change
        };
        let mut n = 0usize;
        for day in (1..=i64::from(extras.sales_days)).rev() {
            for (i, card) in self.cards.iter().take(extras.selling_products).enumerate() {
                let size = &card.sizes[n % card.sizes.len()];
                let warehouse = warehouses[(i + day as usize) % warehouses.len()].to_owned();
                let date = (extras.now_msk - Duration::days(day)).date().and_hms_opt(10, 0, 0).expect("a time")
                    + Duration::minutes(i as i64);
                let price = card.price as f64 * f64::from(100 - card.discount) / 100.0;
                n += 1;
                let srid = format!("{n}.r{:x}{:08}.0.0", card.nm_id, n);
                let cancelled = n.is_multiple_of(5);
                let unit = |date, price_with_disc| Unit {
                    srid: srid.clone(),
                    date,
                    last_change: date,
                    warehouse: warehouse.clone(),
                    nm_id: card.nm_id,
                    vendor_code: card.vendor_code.clone(),
                    tech_size: size.tech_size.clone(),
                    barcode: size.barcode.clone(),
                    price_with_disc,
                };
                let order = Unit { last_change: tick(), ..unit(date, price) };
                self.orders.push(Order { unit: order, cancel_date: cancelled.then(|| date + Duration::hours(2)) });
                let sold = date.date().succ_opt().expect("a date").and_hms_opt(15, 0, 0).expect("a time");
                if cancelled || sold > extras.now_msk {
                    continue;
                }
                self.sales.push(Sale { unit: unit(sold, price), sale_id: format!("S{n:010}") });
                let returned = sold + Duration::days(1);
                if n.is_multiple_of(7) && returned <= extras.now_msk {
                    self.sales.push(Sale { unit: unit(returned, -price), sale_id: format!("R{n:010}") });
                }
            }
        }
        let mut at = extras.now_msk - Duration::days(i64::from(extras.sales_days) + 2);
        for sale in &mut self.sales {
            // lastChangeDate order is what WB pages by: strictly increasing.
            at = at.max(sale.unit.date - Duration::seconds(1)) + Duration::seconds(1);
            sale.unit.last_change = at;
        }
        self.sales.sort_by_key(|s| s.unit.last_change);
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
