//! Benchmark: a catalogue of 500,000 sizes × 5 warehouses synced through WB's stock report (one
//! body of every row, no paging), on each backend (issue 13): the host spools the download and
//! the adapter reads it 10,000 sizes a call, so every call stays within the default 64 MiB.
//!
//! Measured per backend, in one run:
//! - the first sync through the API (products 100 cards a page, then the report; prices, seller
//!   warehouses and sales off), and the largest linear memory any adapter call had;
//! - the baseline: the same products and levels written straight into the store in the same
//!   pages (no adapter, no HTTP, no spool), in a second connection of the same process.
//!
//! The figure is the ratio sync ÷ baseline (what the adapter path adds), and the memory peak
//! against the 64 MiB cap; absolute times are context.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench report
//! BENCH_REPORT_SIZES=50000 cargo bench -p stock-tracker-tests --bench report   # a quicker run
//! ```

use std::time::{Duration, Instant};

use fake_wildberries::FakeConfig;
use serde_json::json;
use stock_tracker::store::products::NewProduct;
use stock_tracker::store::stocks::ObservedStock;
use stock_tracker_tests::{Backend, TestApp};

stock_tracker::product_allocator!();

const WAREHOUSES: usize = 5;

fn sizes() -> usize {
    std::env::var("BENCH_REPORT_SIZES").ok().and_then(|v| v.parse().ok()).unwrap_or(500_000)
}

async fn wait(app: &TestApp, token: &str, run_id: &str) -> serde_json::Value {
    stock_tracker_tests::bench::finished_run(app, token, run_id, Duration::from_millis(100)).await
}

async fn run(backend: Backend) {
    let sizes = sizes();
    let fake = FakeConfig {
        products: sizes,
        warehouses: WAREHOUSES,
        multi_size_every: 0,
        seller_warehouses: 0,
        selling_products: 0,
        ..FakeConfig::default()
    };
    let generated = Instant::now();
    // The fake builds the whole report body before answering (seconds at this size): the call
    // that downloads it gets a minute.
    let Some(app) = TestApp::try_with(backend, fake, |c| c.plugins.plugin_timeout_ms = 60_000).await else { return };
    eprintln!("fake catalogue of {sizes} sizes ready in {:.1} s", generated.elapsed().as_secs_f64());
    let t = app.register("report-bench@example.com").await;
    let token = "report-bench-token";
    app.fake.add_token(token);
    let body = json!({ "marketplace": "wildberries", "name": "WB report", "credentials": { "token": token },
        "settings": { "base_url": app.fake.base_url(), "sales": "off", "prices": "off", "seller_stocks": "off" } });
    let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let connection_id = res.body["connection_id"].as_str().unwrap().to_owned();

    let start = Instant::now();
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let synced = start.elapsed();
    assert_eq!(run["status"], "succeeded", "{run:?}");
    assert_eq!(run["products_seen"], sizes as i64);
    let levels = run["stocks_seen"].as_i64().unwrap();
    let plugin = app.app.plugins.get("wildberries").unwrap().summary();
    let (peak, cap) = (plugin.memory_peak_bytes as f64 / 1048576.0, plugin.memory_limit_bytes as f64 / 1048576.0);

    // The baseline: the same rows straight into the store, in the same pages.
    let catalogue = app.fake.catalogue();
    let other = app.create_connection(&t, "baseline", "baseline-token").await;
    let start = Instant::now();
    let mut ids = std::collections::HashMap::with_capacity(sizes);
    for cards in catalogue.cards.chunks(100) {
        let products: Vec<NewProduct> = cards
            .iter()
            .map(|c| NewProduct {
                sku: c.vendor_code.clone(),
                marketplace_id: format!("{}/{}", c.nm_id, c.sizes[0].chrt_id),
                barcode: Some(c.sizes[0].barcode.clone()),
                name: c.title.clone(),
                brand: Some(c.brand.clone()),
                variant_id: Some(c.sizes[0].chrt_id.to_string()),
                price: None,
            })
            .collect();
        ids.extend(app.app.store.upsert_products(t.tenant_id, other, &products).await.unwrap());
    }
    let rows: Vec<ObservedStock> = catalogue
        .stocks
        .iter()
        .filter(|r| r.quantity != 0)
        .map(|r| ObservedStock::marketplace(ids[&r.vendor_code], &r.warehouse, r.quantity))
        .collect();
    for page in rows.chunks(10_000 * WAREHOUSES) {
        app.app.store.record_stock_levels(t.tenant_id, page, None).await.unwrap();
    }
    let baseline = start.elapsed();
    assert_eq!(rows.len() as i64, levels, "the baseline writes what the sync wrote");

    println!("\n### {backend:?}: {sizes} sizes × {WAREHOUSES} warehouses ({levels} non-zero levels)\n");
    println!("| what | seconds |");
    println!("|---|---|");
    println!("| sync through the adapter (cards, then the spooled report) | {:.1} |", synced.as_secs_f64());
    println!("| baseline: the same rows written straight into the store | {:.1} |", baseline.as_secs_f64());
    println!("\nratio sync ÷ baseline: {:.2}×", synced.as_secs_f64() / baseline.as_secs_f64());
    println!("largest adapter call memory: {peak:.1} MiB of {cap:.0} MiB ({:.0} %)", 100.0 * peak / cap);
}

fn main() {
    stock_tracker_tests::bench::on_both_backends(run);
}
