//! A fake of the Ozon Seller API (`api-seller.ozon.ru`), as `swagger.json` (v2.1) and the
//! observed behaviour in `reference/marketplaces/README.md` §2 describe it. Every method is a
//! `POST` with a JSON body:
//! - `/v3/product/list`: `{filter, last_id, limit ≤ 1000}` → `{result: {items, total, last_id}}`;
//!   `last_id` is opaque base64 and stays non-empty on the last full page, so the listing ends
//!   with an empty page (clients must stop on either).
//! - `/v3/product/info/list`: `{product_id: [...]}` (≤ 1,000) → `{items}` with prices as strings.
//! - `/v4/product/info/stocks`: `{cursor, filter, limit ≤ 1000}` → `{cursor, total, items}`, a
//!   `fbo` and an `fbs` stock per product.
//! - `/v1/analytics/stocks`: `{skus}` (≤ 100) → FBO stock per warehouse and cluster.
//! - `/v1/product/info/stocks-by-warehouse/fbs`: `{sku: [...]}` → stock per seller warehouse.
//! - `/v5/product/info/prices`: `{cursor, filter, limit ≤ 1000}` → `{cursor, total, items}`,
//!   prices as numbers.
//! - `/v3/posting/fbs/list` (`{filter: {since, to}, limit, offset}` → `{result: {postings,
//!   has_next}}`) and `/v2/posting/fbo/list` (→ `{result: [...]}`): postings by creation time.
//! - Auth as Ozon checks it: no `Client-Id`/`Api-Key` → 401 code 16; a `Client-Id` that is not a
//!   positive integer → 400 code 3; an unknown key → **404** code 5; then the route. Unknown
//!   paths → 404 code 5. Errors are gRPC statuses `{code, message, details}`.
//! - Rate limits: 50 requests a second per `Client-Id` (Ozon's global limit) and injected ones
//!   ([`Faults::rate_limit_next`]): 429 code 8, with no `Retry-After` (Ozon documents none).

mod handlers;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

pub use crate::Faults;
use crate::server::{Running, serve};

/// How to build the fake.
#[derive(Debug, Clone)]
pub struct OzonConfig {
    pub products: usize,
    /// Ozon's warehouses (FBO).
    pub fbo_warehouses: usize,
    /// The seller's warehouses (FBS).
    pub fbs_warehouses: usize,
    /// Products with postings (the first ones) and the days back they have them.
    pub selling_products: usize,
    pub sales_days: i64,
    pub client_id: String,
    pub api_key: String,
    /// Requests a second per `Client-Id` before 429 (Ozon: 50).
    pub requests_per_second: u32,
    pub port: u16,
}

impl Default for OzonConfig {
    fn default() -> Self {
        Self {
            products: 120,
            fbo_warehouses: 3,
            fbs_warehouses: 2,
            selling_products: 8,
            sales_days: 6,
            client_id: "1234567".into(),
            api_key: "6d1b2f5e-0c3a-4f7e-9a61-3b1f2c9d8e70".into(),
            requests_per_second: 50,
            port: 0,
        }
    }
}

/// FBO warehouse names (Ozon's fulfilment centres), cycled.
pub const FBO_WAREHOUSES: [&str; 4] = ["ХОРУГВИНО_РФЦ", "ТВЕРЬ_РФЦ", "КАЗАНЬ_РФЦ", "НОВОСИБИРСК_РФЦ"];

/// One product.
#[derive(Debug, Clone)]
pub struct OzonProduct {
    pub offer_id: String,
    pub product_id: i64,
    pub sku: i64,
    pub name: String,
    pub barcode: String,
    /// Kopecks: the selling price and the crossed-out one (0: none).
    pub price: i64,
    pub old_price: i64,
    /// FBO stock per warehouse index, and FBS `(present, reserved)` per seller warehouse.
    pub fbo: Vec<i64>,
    pub fbs: Vec<(i64, i64)>,
}

/// A warehouse: id and name.
#[derive(Debug, Clone)]
pub struct OzonWarehouse {
    pub id: i64,
    pub name: String,
}

/// A posting's line: which product, how many, its status.
#[derive(Debug, Clone)]
pub struct Posting {
    pub number: String,
    /// `fbs` or `fbo`.
    pub scheme: &'static str,
    pub product: usize,
    pub quantity: i64,
    /// `awaiting_packaging`, `delivering`, `delivered` or `cancelled`.
    pub status: &'static str,
    pub in_process_at: DateTime<Utc>,
    pub warehouse: String,
}

/// The whole seller account.
#[derive(Debug, Clone)]
pub struct OzonCatalogue {
    pub products: Vec<OzonProduct>,
    pub fbo_warehouses: Vec<OzonWarehouse>,
    pub fbs_warehouses: Vec<OzonWarehouse>,
    pub postings: Vec<Posting>,
}

impl OzonCatalogue {
    fn generate(config: &OzonConfig, now: DateTime<Utc>) -> Self {
        let fbo_warehouses: Vec<OzonWarehouse> = (0..config.fbo_warehouses)
            .map(|w| OzonWarehouse {
                id: 15_431_806_189_000 + w as i64,
                name: FBO_WAREHOUSES[w % FBO_WAREHOUSES.len()].to_owned(),
            })
            .collect();
        let fbs_warehouses: Vec<OzonWarehouse> = (0..config.fbs_warehouses)
            .map(|w| OzonWarehouse {
                id: 22_142_605_386_000 + w as i64, name: format!("Склад продавца {}", w + 1)
            })
            .collect();
        let products = (0..config.products)
            .map(|i| {
                let price = (500 + (i as i64 % 50) * 10) * 100;
                OzonProduct {
                    offer_id: format!("OZ-{i:05}"),
                    product_id: 300_000_000 + i as i64,
                    sku: 1_800_000_000 + i as i64,
                    name: format!("Товар Ozon {i}"),
                    barcode: format!("46{i:011}"),
                    price,
                    old_price: if i % 3 == 0 { price / 4 * 5 } else { 0 },
                    fbo: (0..config.fbo_warehouses).map(|w| ((i * 7 + w * 3) % 40) as i64).collect(),
                    fbs: (0..config.fbs_warehouses)
                        .map(|w| {
                            let present = ((i * 5 + w) % 25) as i64;
                            (present, (i as i64 % 3).min(present))
                        })
                        .collect(),
                }
            })
            .collect();
        let statuses = ["delivered", "delivering", "awaiting_packaging", "cancelled", "delivered"];
        let mut postings = Vec::new();
        for product in 0..config.selling_products.min(config.products) {
            for day in 0..config.sales_days {
                for (n, scheme) in ["fbs", "fbo"].into_iter().enumerate() {
                    let warehouse = if scheme == "fbs" {
                        fbs_warehouses.first().map(|w| w.name.clone())
                    } else {
                        fbo_warehouses
                            .get((product + day as usize) % fbo_warehouses.len().max(1))
                            .map(|w| w.name.clone())
                    };
                    postings.push(Posting {
                        number: format!("{}-{:04}-{day}", 10_000 + product, n + 1),
                        scheme,
                        product,
                        quantity: 1 + (product as i64 + day) % 2,
                        status: statuses[(product + day as usize + n) % statuses.len()],
                        in_process_at: now - Duration::days(day) - Duration::minutes(17 * product as i64 + 3),
                        warehouse: warehouse.unwrap_or_default(),
                    });
                }
            }
        }
        Self { products, fbo_warehouses, fbs_warehouses, postings }
    }
}

pub(crate) struct State {
    pub(crate) config: OzonConfig,
    pub(crate) catalogue: Mutex<OzonCatalogue>,
    pub(crate) faults: Faults,
    /// Requests in the current second: (second, count).
    pub(crate) window: Mutex<(i64, u32)>,
    pub(crate) revoked: Mutex<bool>,
}

/// A running fake Ozon. Stops when dropped.
pub struct FakeOzon {
    running: Running,
    state: Arc<State>,
}

impl FakeOzon {
    /// Starts it on 127.0.0.1.
    pub async fn start(config: OzonConfig) -> std::io::Result<Self> {
        let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
        let catalogue = OzonCatalogue::generate(&config, now);
        let state = Arc::new(State {
            config,
            catalogue: Mutex::new(catalogue),
            faults: Faults::default(),
            window: Mutex::new((0, 0)),
            revoked: Mutex::new(false),
        });
        let running = serve(state.config.port, handlers::router(state.clone())).await?;
        Ok(Self { running, state })
    }

    /// `http://127.0.0.1:<port>`: the connection's `base_url` and the origin to grant.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// The credentials the fake accepts, as a connection's `credentials` object.
    pub fn credentials(&self) -> serde_json::Value {
        serde_json::json!({ "client_id": self.state.config.client_id, "api_key": self.state.config.api_key })
    }

    /// A copy of the account as it is now.
    pub fn catalogue(&self) -> OzonCatalogue {
        self.state.catalogue.lock().unwrap().clone()
    }

    /// Sets the FBO stock of product `index` in FBO warehouse `warehouse`.
    pub fn set_fbo(&self, index: usize, warehouse: usize, quantity: i64) {
        self.state.catalogue.lock().unwrap().products[index].fbo[warehouse] = quantity;
    }

    /// The key stops working (Ozon: 403 code 7, "Api-key is deactivated").
    pub fn deactivate_key(&self) {
        *self.state.revoked.lock().unwrap() = true;
    }

    /// Injected faults and request counts, by path (`/v4/product/info/stocks`, …).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }
}
