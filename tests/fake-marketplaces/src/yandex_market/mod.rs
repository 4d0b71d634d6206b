//! A fake of the Yandex Market Partner API (`api.partner.market.yandex.ru`), as its official
//! OpenAPI (2026-07) and `reference/marketplaces/README.md` §3 describe it:
//! - `GET /v2/campaigns`: the shops, `{campaigns, pager, paging}` (no `status` envelope).
//! - `POST /v2/businesses/{businessId}/offer-mappings?page_token&limit`: the catalogue,
//!   `{status: "OK", result: {paging: {nextPageToken}, offerMappings: [{offer, mapping}]}}`.
//! - `POST /v2/campaigns/{campaignId}/offers/stocks?page_token&limit`: stock per warehouse and
//!   type (`FIT`, `FREEZE`, `AVAILABLE`, `QUARANTINE`, …).
//! - `GET /v2/warehouses` (Market's FBY warehouses) and `GET /v2/businesses/{businessId}/warehouses`
//!   (the seller's).
//! - `POST /v2/campaigns/{campaignId}/stats/orders?page_token&limit`: orders with their items,
//!   status and dates, by `updateFrom`/`updateTo` (status update date) or `dateFrom`/`dateTo`.
//! - Paging: `page_token` and `pageToken` both accepted, `limit` above the maximum silently
//!   truncated (as since 2026-08), `nextPageToken` absent on the last page.
//! - Auth: `Api-Key` required (`Credentials are not specified`; a `Bearer …` value gets
//!   `Api-Key token prefix invalid`; an unknown one `Api-Key token is invalid`, all 401), a
//!   campaign or business of another cabinet 403. Unversioned paths 404.
//! - Rate limits: every answer carries `X-RateLimit-Resource-Limit`, `-Remaining` and `-Until`
//!   (RFC 822); over a resource's budget, or when injected ([`Faults::rate_limit_next`]), **420**
//!   `Hit rate limit of 'N' requests per 'period' for resource 'R'`.
//!   Errors are `{status: "ERROR", errors: [{code, message}]}`.

mod handlers;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, Utc};

pub use crate::Faults;
use crate::server::{Running, serve};

/// How to build the fake.
#[derive(Debug, Clone)]
pub struct YandexConfig {
    pub offers: usize,
    /// Market's warehouses the FBY shop stores in.
    pub fby_warehouses: usize,
    /// Offers with orders (the first ones) and the days back they have them.
    pub selling_offers: usize,
    pub sales_days: i64,
    pub api_key: String,
    /// Requests a minute each resource allows before 420.
    pub requests_per_minute: u32,
    pub port: u16,
}

impl Default for YandexConfig {
    fn default() -> Self {
        Self {
            offers: 120,
            fby_warehouses: 2,
            selling_offers: 8,
            sales_days: 6,
            api_key: "ACMA:I4c4CxCSYaI41RSC2uYWP2qj3Rhhm4knMiBEga5K:151c0664".into(),
            requests_per_minute: 1000,
            port: 0,
        }
    }
}

/// The business (cabinet) and its two shops.
pub const BUSINESS_ID: i64 = 7_001_234;
pub const FBY_CAMPAIGN: i64 = 21_621_656;
pub const FBS_CAMPAIGN: i64 = 21_621_657;

/// A warehouse: id and name.
#[derive(Debug, Clone)]
pub struct YmWarehouse {
    pub id: i64,
    pub name: String,
}

/// One offer and its stock: per FBY warehouse `(available, freeze)`, and in the seller's
/// warehouse (FBS) `available`.
#[derive(Debug, Clone)]
pub struct Offer {
    pub offer_id: String,
    pub market_sku: i64,
    pub name: String,
    pub vendor: String,
    pub barcode: String,
    /// Kopecks: the price, and the one before the discount (0: none).
    pub price: i64,
    pub discount_base: i64,
    pub fby: Vec<(i64, i64)>,
    pub fbs: i64,
}

/// One order line.
#[derive(Debug, Clone)]
pub struct YmOrder {
    pub id: i64,
    pub campaign_id: i64,
    pub offer: usize,
    pub count: i64,
    /// `DELIVERED`, `PROCESSING`, `CANCELLED_IN_DELIVERY`, `RETURNED`, `DELIVERY`.
    pub status: &'static str,
    /// Moscow date.
    pub creation_date: NaiveDate,
    pub status_update: DateTime<Utc>,
    pub warehouse: YmWarehouse,
}

/// The whole cabinet.
#[derive(Debug, Clone)]
pub struct YmCatalogue {
    pub offers: Vec<Offer>,
    pub fby_warehouses: Vec<YmWarehouse>,
    pub fbs_warehouse: YmWarehouse,
    pub orders: Vec<YmOrder>,
}

/// Moscow is UTC+3 all year.
pub fn moscow_date(t: DateTime<Utc>) -> NaiveDate {
    (t + Duration::hours(3)).date_naive()
}

impl YmCatalogue {
    fn generate(config: &YandexConfig, now: DateTime<Utc>) -> Self {
        let names = ["Яндекс Маркет Софьино", "Яндекс Маркет Томилино", "Яндекс Маркет Ростов", "Яндекс Маркет Самара"];
        let fby_warehouses: Vec<YmWarehouse> = (0..config.fby_warehouses)
            .map(|w| YmWarehouse { id: 300 + w as i64, name: names[w % names.len()].to_owned() })
            .collect();
        let fbs_warehouse = YmWarehouse { id: 55_001, name: "Склад продавца (Маркет)".into() };
        let offers = (0..config.offers)
            .map(|i| {
                let price = (990 + i as i64) * 100;
                Offer {
                    offer_id: format!("YM-{i:05}"),
                    market_sku: 100_000_000 + i as i64,
                    name: format!("Товар Маркета {i}"),
                    vendor: "Вендор".into(),
                    barcode: format!("47{i:011}"),
                    price,
                    discount_base: if i % 4 == 0 { price / 9 * 10 } else { 0 },
                    fby: (0..config.fby_warehouses).map(|w| (((i * 3 + w) % 30) as i64, (i % 4) as i64)).collect(),
                    fbs: ((i * 11) % 17) as i64,
                }
            })
            .collect();
        let statuses = ["DELIVERED", "PROCESSING", "CANCELLED_IN_DELIVERY", "RETURNED", "DELIVERY"];
        let mut orders = Vec::new();
        for offer in 0..config.selling_offers.min(config.offers) {
            for day in 0..config.sales_days {
                let created = now - Duration::days(day) - Duration::minutes(11 * offer as i64 + 1);
                let fby = (offer + day as usize).is_multiple_of(2) && !fby_warehouses.is_empty();
                orders.push(YmOrder {
                    id: 500_000_000 + (offer as i64) * 1000 + day,
                    campaign_id: if fby { FBY_CAMPAIGN } else { FBS_CAMPAIGN },
                    offer,
                    count: 1 + (offer as i64 + day) % 3,
                    status: statuses[(offer + day as usize) % statuses.len()],
                    creation_date: moscow_date(created),
                    status_update: (created + Duration::hours(5)).min(now),
                    warehouse: if fby {
                        fby_warehouses[offer % fby_warehouses.len()].clone()
                    } else {
                        fbs_warehouse.clone()
                    },
                });
            }
        }
        Self { offers, fby_warehouses, fbs_warehouse, orders }
    }
}

pub(crate) struct State {
    pub(crate) config: YandexConfig,
    pub(crate) catalogue: Mutex<YmCatalogue>,
    pub(crate) faults: Faults,
    /// Per resource: (minute, requests in it).
    pub(crate) budgets: Mutex<std::collections::HashMap<String, (i64, u32)>>,
}

/// A running fake Yandex Market. Stops when dropped.
pub struct FakeYandexMarket {
    running: Running,
    state: Arc<State>,
}

impl FakeYandexMarket {
    /// Starts it on 127.0.0.1.
    pub async fn start(config: YandexConfig) -> std::io::Result<Self> {
        let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
        let catalogue = YmCatalogue::generate(&config, now);
        let state = Arc::new(State {
            config,
            catalogue: Mutex::new(catalogue),
            faults: Faults::default(),
            budgets: Mutex::default(),
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
        serde_json::json!({ "api_key": self.state.config.api_key })
    }

    /// A copy of the cabinet as it is now.
    pub fn catalogue(&self) -> YmCatalogue {
        self.state.catalogue.lock().unwrap().clone()
    }

    /// Sets the available FBS stock of offer `index`.
    pub fn set_fbs(&self, index: usize, available: i64) {
        self.state.catalogue.lock().unwrap().offers[index].fbs = available;
    }

    /// Injected faults and request counts, by path (`/v2/campaigns/21621656/offers/stocks`, …).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }
}
