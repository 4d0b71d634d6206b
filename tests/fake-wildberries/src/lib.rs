//! A fake of the Wildberries seller API, on loopback, for tests, benchmarks and `serve --demo`.
//!
//! It speaks the real protocol as WB's OpenAPI specs describe it (`02-items.yaml`, `12-reports`):
//! - `POST /content/v2/get/cards/list`: cards with `nmID`, `vendorCode`, `sizes[].skus` …; cursor
//!   `{updatedAt, nmID}` paging, `cursor.total` = cards in this answer, `limit` ≤ 100.
//! - `GET /api/v1/supplier/stocks?dateFrom=…`: a bare array of `StocksItem` (`nmId`,
//!   `supplierArticle`, `quantity`, `inWayToClient`, `quantityFull`, `Price`, …) with
//!   `lastChangeDate` after `dateFrom`, at most `stocks_page_cap` rows; `[]` ends the listing.
//! - `GET /api/v1/warehouse_remains` (creates a report task: `{"data":{"taskId":…}}`),
//!   `…/tasks/{id}/status` (`processing` for `report_polls_before_done` checks, then `done`;
//!   unknown ids 404) and `…/tasks/{id}/download`: one row per article and size with
//!   `warehouses: [{warehouseName, quantity}]`, non-zero places only, plus WB's pseudo-rows for
//!   goods in transit and the total.
//! - `GET marketplace-api /api/v3/warehouses` (the seller's own warehouses) and
//!   `POST /api/v3/stocks/{warehouseId}` with `{"chrtIds": [...]}` (≤ 1,000; `{"stocks":[{chrtId,
//!   amount}]}`).
//! - `GET discounts-prices-api /api/v2/list/goods/filter?limit&offset` (limit ≤ 1,000).
//! - `GET statistics-api /api/v1/supplier/orders` and `/supplier/sales` (`dateFrom`, `flag=0`):
//!   rows changed after `dateFrom`, at most `sales_page_cap` a page, Moscow times.
//! - `GET /ping`.
//! - Auth: `Authorization: <token>` (a `Bearer ` prefix is tolerated, as WB does); a missing or wrong
//!   token, or a token without the endpoint's category, gets WB's gateway 401 body (`token scope
//!   not allowed` for the category). Tokens are JWTs like WB's ([`mint_token`]): the category
//!   bits `s` decide what a token opens; a token that is not a JWT opens the config's categories.
//! - 5xx on demand ([`FakeWildberries::fail_next`]) with the gateway body; a latency for every
//!   answer ([`FakeWildberries::set_latency`]); tokens revoked on demand.
//! - 429 on demand ([`FakeWildberries::rate_limit_next`]) with `X-Ratelimit-Retry`,
//!   `X-Ratelimit-Limit`, `X-Ratelimit-Reset` and the gateway body.
//! - A basic-tier token's limits ([`FakeConfig::basic_tier`]), as WB documents them for Base
//!   tokens: a token bucket of one per endpoint, refilled every 15 min for each report endpoint
//!   (create, status, download: 4 an hour) and the prices list, every 3 h for orders, every 2 h
//!   for sales; over it, 429 with `X-Ratelimit-Retry` the seconds until the next token. The
//!   fake's clock can be moved on ([`FakeWildberries::advance_clock`]) so tests need not wait hours.
//!
//! The catalogue is deterministic: product `i` has vendor code `WB-{i:06}`; every tenth product
//! (configurable) has sizes S, M and L, the others one size (`techSize` `"0"`); every size has stock in every
//! warehouse. Quantities can be changed between syncs ([`FakeWildberries::set_quantity`]).

mod catalogue;
mod handlers;
mod report;
mod seller;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use catalogue::{Catalogue, Order, Sale, SellerWarehouse, StockRow, Unit, WAREHOUSES};

/// Which fake endpoint (for rate limits and request counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Cards,
    Stocks,
    /// The warehouse-remains report (create, status and download).
    Report,
    /// The seller's warehouses and their stock (marketplace API).
    Marketplace,
    Prices,
    Orders,
    Sales,
}

/// API categories (bits of the token's `s`).
pub const CONTENT: u32 = 1;
pub const ANALYTICS: u32 = 2;
pub const PRICES: u32 = 3;
pub const MARKETPLACE: u32 = 4;
pub const STATISTICS: u32 = 5;

/// A token shaped like WB's: a JWT whose payload carries `exp` and the category bits `s` (the
/// signature is not checked, by the fake or the adapter).
pub fn mint_token(categories: &[u32], expires_at: i64) -> String {
    use base64::Engine as _;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let s: u64 = categories.iter().map(|c| 1u64 << c).sum();
    let payload = format!(
        r#"{{"acc":3,"ent":1,"exp":{expires_at},"for":"self","id":"{}","iid":1,"oid":1,"s":{s},"sid":"{}","t":false,"uid":1}}"#,
        uuid::Uuid::now_v7(),
        uuid::Uuid::from_u128(42),
    );
    format!("{}.{}.{}", enc(r#"{"alg":"ES256","kid":"20250101v1","typ":"JWT"}"#), enc(&payload), enc("signature"))
}

/// The categories a token opens, if it is a JWT with a readable `s`.
pub fn token_categories(token: &str) -> Option<u64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?.get("s")?.as_u64()
}

/// How to build the fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub products: usize,
    pub warehouses: usize,
    /// The one token the fake accepts; empty: a JWT minted from the categories below, valid for
    /// 180 days (as WB issues them).
    pub token: String,
    /// Whether the token has the Content category (cards) …
    pub content_scope: bool,
    /// … and the Statistics category (legacy stocks) …
    pub statistics_scope: bool,
    /// … and the Analytics category (the warehouse-remains report) …
    pub analytics_scope: bool,
    /// … and Prices …
    pub prices_scope: bool,
    /// … and Marketplace (the seller's warehouses).
    pub marketplace_scope: bool,
    /// The seller's own warehouses.
    pub seller_warehouses: usize,
    /// Products with orders (the first ones) and the days back they have them.
    pub selling_products: usize,
    pub sales_days: u32,
    /// Most rows one orders or sales answer holds (WB: about 80,000).
    pub sales_page_cap: usize,
    /// Status checks a report task answers `processing` to before `done`.
    pub report_polls_before_done: u32,
    /// Most rows one stocks answer holds (WB: about 60,000).
    pub stocks_page_cap: usize,
    /// Every n-th product has three sizes (S, M, L) instead of one; 0: never.
    pub multi_size_every: usize,
    /// Whether the token is a Base one, with WB's hourly limits on reports, statistics and prices.
    pub basic_tier: bool,
    /// Port to bind on 127.0.0.1 (0: any free port).
    pub port: u16,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            products: 100,
            warehouses: 3,
            token: String::new(),
            content_scope: true,
            statistics_scope: true,
            analytics_scope: true,
            prices_scope: true,
            marketplace_scope: true,
            seller_warehouses: 1,
            selling_products: 10,
            sales_days: 5,
            sales_page_cap: 80_000,
            report_polls_before_done: 0,
            stocks_page_cap: 60_000,
            multi_size_every: 10,
            basic_tier: false,
            port: 0,
        }
    }
}

pub(crate) struct State {
    pub(crate) config: FakeConfig,
    pub(crate) catalogue: Mutex<Catalogue>,
    pub(crate) rate_limits: Mutex<Vec<(Endpoint, u32, u64)>>,
    /// Answers to fail: endpoint, how many more, status.
    pub(crate) failures: Mutex<Vec<(Endpoint, u32, u16)>>,
    pub(crate) latency: Mutex<std::time::Duration>,
    /// Tokens accepted besides `config.token` (one seller account, several tokens).
    pub(crate) extra_tokens: Mutex<std::collections::HashSet<String>>,
    pub(crate) requests: Mutex<Vec<Endpoint>>,
    /// Report tasks: id → status checks left before `done`.
    pub(crate) tasks: Mutex<std::collections::HashMap<String, u32>>,
    /// How far the fake's clock is ahead of the real one (for the basic tier's hourly limits).
    pub(crate) clock_offset: Mutex<chrono::Duration>,
    /// Basic-tier buckets: key → when its next token comes (fake clock).
    pub(crate) buckets: Mutex<std::collections::HashMap<&'static str, chrono::DateTime<chrono::Utc>>>,
}

impl State {
    /// The fake's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + *self.clock_offset.lock().unwrap()
    }
}

/// A running fake. Stops when dropped.
pub struct FakeWildberries {
    addr: SocketAddr,
    state: Arc<State>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeWildberries {
    /// Starts the fake on 127.0.0.1.
    pub async fn start(mut config: FakeConfig) -> std::io::Result<Self> {
        if config.token.is_empty() {
            let categories: Vec<u32> = [
                (CONTENT, config.content_scope),
                (ANALYTICS, config.analytics_scope),
                (PRICES, config.prices_scope),
                (MARKETPLACE, config.marketplace_scope),
                (STATISTICS, config.statistics_scope),
            ]
            .into_iter()
            .filter_map(|(c, on)| on.then_some(c))
            .collect();
            config.token = mint_token(&categories, chrono::Utc::now().timestamp() + 180 * 86_400);
        }
        let now_msk = (chrono::Utc::now() + chrono::Duration::hours(3)).naive_utc();
        let extras = catalogue::Extras {
            seller_warehouses: config.seller_warehouses,
            selling_products: config.selling_products,
            sales_days: config.sales_days,
            now_msk: chrono::SubsecRound::trunc_subsecs(now_msk, 0),
        };
        let catalogue =
            Catalogue::generate_with(config.products, config.warehouses, config.multi_size_every, Some(extras));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config,
            catalogue: Mutex::new(catalogue),
            rate_limits: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            latency: Mutex::default(),
            extra_tokens: Mutex::default(),
            requests: Mutex::new(Vec::new()),
            tasks: Mutex::default(),
            clock_offset: Mutex::new(chrono::Duration::zero()),
            buckets: Mutex::default(),
        });
        let app = handlers::router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self { addr, state, _shutdown: tx })
    }

    /// `http://127.0.0.1:<port>`: the connection's `base_url` setting.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The origin to grant plugins (`PLUGIN_EXTRA_HOSTS`).
    pub fn origin(&self) -> String {
        self.base_url()
    }

    pub fn token(&self) -> &str {
        &self.state.config.token
    }

    /// Accepts `token` too (with the same categories as the main one).
    pub fn add_token(&self, token: &str) {
        self.state.extra_tokens.lock().unwrap().insert(token.to_owned());
    }

    /// No longer accepts `token` (added with [`FakeWildberries::add_token`]): the seller
    /// revoked it.
    pub fn revoke_token(&self, token: &str) {
        self.state.extra_tokens.lock().unwrap().remove(token);
    }

    /// The next `times` requests to `endpoint` get `status` (a 5xx: the marketplace failing).
    pub fn fail_next(&self, endpoint: Endpoint, times: u32, status: u16) {
        self.state.failures.lock().unwrap().push((endpoint, times, status));
    }

    /// Every answer from now on comes after `latency`.
    pub fn set_latency(&self, latency: std::time::Duration) {
        *self.state.latency.lock().unwrap() = latency;
    }

    /// Sets the available quantity of `sku` in `warehouse` (and moves its `lastChangeDate`).
    pub fn set_quantity(&self, sku: &str, warehouse: &str, quantity: i64) {
        self.state.catalogue.lock().unwrap().set_quantity(sku, warehouse, quantity);
    }

    /// Stops listing a product (its cards and stock rows disappear).
    pub fn remove_product(&self, sku: &str) {
        self.state.catalogue.lock().unwrap().remove(sku);
    }

    /// A copy of the catalogue as it is now.
    pub fn catalogue(&self) -> Catalogue {
        self.state.catalogue.lock().unwrap().clone()
    }

    /// The next `times` requests to `endpoint` get 429 with `X-Ratelimit-Retry: retry_after`.
    pub fn rate_limit_next(&self, endpoint: Endpoint, times: u32, retry_after: u64) {
        self.state.rate_limits.lock().unwrap().push((endpoint, times, retry_after));
    }

    /// Moves the fake's clock on (the basic tier's buckets refill by it).
    pub fn advance_clock(&self, by: std::time::Duration) {
        *self.state.clock_offset.lock().unwrap() += chrono::Duration::from_std(by).expect("a sane duration");
    }

    /// Report tasks created so far.
    pub fn report_tasks(&self) -> usize {
        self.state.tasks.lock().unwrap().len()
    }

    /// Requests served so far to `endpoint` (including refused ones).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.state.requests.lock().unwrap().iter().filter(|e| **e == endpoint).count()
    }
}
