//! Benchmark: list latency on a large tenant, in-process, on both backends.
//!
//! Seeds 100 tenants; one of them has 100,000 products × 5 warehouses (500,000 stock rows), the
//! others 100 products each. Then measures, with the answer cache off, through the full router
//! (auth, JSON, database):
//! `GET /api/v1/products` and `GET /api/v1/stocks?low=true`, each on the first page and on a page
//! deep in the list (a cursor 90 % of the way through), default page size (50).
//!
//! Baseline, in the same loop (sample by sample, alternating): `GET /api/v1/health/live` with the
//! same token through the same router: the bare route, everything a request costs but the
//! database and the list's JSON. The figure is the ratio list p50 ÷ bare p50.
//!
//! ```sh
//! cargo bench -p stock-tracker-tests --bench api_lists
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench api_lists
//! ```
//! Without `TEST_POSTGRES_URL` only SQLite runs. `BENCH_PRODUCTS` and `BENCH_SAMPLES` shrink or
//! grow the run (defaults 100000 and 300).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use stock_tracker::api::pagination::encode_cursor;
use stock_tracker::store::products::NewProduct;
use stock_tracker::store::stocks::ObservedStock;
use stock_tracker_tests::{Backend, TestApp, TestTenant};
use uuid::Uuid;

stock_tracker::product_allocator!();

const WAREHOUSES: [&str; 5] = ["Коледино", "Подольск", "Электросталь", "Казань", "Краснодар"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Available quantity of product `i` in warehouse `w`: about 6 % are at or below the default
/// threshold of 5.
fn quantity(i: usize, w: usize) -> i64 {
    ((i * 37 + w * 11) % 100) as i64
}

async fn seed(app: &TestApp, tenant: &TestTenant, products: usize) -> Vec<(String, Uuid)> {
    let connection_id = app.create_connection(tenant, "bench", "bench-token").await;
    let mut ids = Vec::with_capacity(products);
    for start in (0..products).step_by(5_000) {
        let batch: Vec<NewProduct> = (start..(start + 5_000).min(products))
            .map(|i| NewProduct {
                sku: format!("SKU-{i:07}"),
                marketplace_id: (10_000_000 + i).to_string(),
                barcode: Some(format!("4600{i:09}")),
                name: format!("Товар номер {i}"),
                brand: Some("Бренд".into()),
                variant_id: None,
                price: Some(stock_tracker::store::products::NewPrice::rub(99_00 + i as i64)),
            })
            .collect();
        let mut batch_ids = app.app.store.upsert_products(tenant.tenant_id, connection_id, &batch).await.unwrap();
        batch_ids.sort();
        let observed: Vec<ObservedStock> = batch_ids
            .iter()
            .flat_map(|(sku, id)| {
                let i: usize = sku[4..].parse().unwrap();
                WAREHOUSES.iter().enumerate().map(move |(w, name)| ObservedStock {
                    product_id: *id,
                    warehouse: (*name).to_owned(),
                    available: quantity(i, w),
                    kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
                    warehouse_id: None,
                })
            })
            .collect();
        app.app.store.record_stock_levels(tenant.tenant_id, &observed, None).await.unwrap();
        ids.extend(batch_ids);
    }
    ids.sort();
    ids
}

struct Stats {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

/// `path` and the bare route, alternating sample by sample: (list, bare).
async fn measure(app: &TestApp, token: &str, path: &str, samples: usize) -> (Stats, Stats) {
    for _ in 0..20 {
        let res = app.get(path, token).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {:?}", res.body);
        assert!(!res.body["items"].as_array().unwrap().is_empty(), "{path} returned no rows");
        assert_eq!(app.get(BARE, token).await.status, StatusCode::OK);
    }
    let (mut list, mut bare) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for _ in 0..samples {
        for (path, times) in [(path, &mut list), (BARE, &mut bare)] {
            let start = Instant::now();
            let res = app.get(path, token).await;
            times.push(start.elapsed());
            assert_eq!(res.status, StatusCode::OK);
        }
    }
    (stats(list), stats(bare))
}

/// The bare route: the same router and token, no database, a two-field JSON answer.
const BARE: &str = "/api/v1/health/live";

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Stats { p50: at(0.50), p90: at(0.90), p99: at(0.99), max: *times.last().unwrap() }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

async fn run(backend: Backend, products: usize, samples: usize) {
    let Some(app) = TestApp::try_new(backend).await else { return };
    let seed_start = Instant::now();
    let mut target = None;
    for t in 0..100 {
        let tenant = app.register(&format!("tenant{t}@bench.example")).await;
        if t == 42 {
            target = Some(tenant);
        } else {
            seed(&app, &tenant, 100).await;
        }
    }
    let target = target.unwrap();
    let ids = seed(&app, &target, products).await;
    eprintln!("{backend:?}: seeded 100 tenants, {products} products x 5 warehouses in {:.1?}", seed_start.elapsed());
    // Every answer from the database: with the answer cache on, every request after the first
    // would be a hit (the cache is measured in `jobs.rs`).
    if backend == Backend::Postgres {
        // The steady state: autovacuum analyzes a table this size within a minute or so of the
        // load, and until it has, the planner guesses (the low-stock list took 15× longer).
        stock_tracker::on_pool!(app.app.store.pool(), p => sqlx::query("ANALYZE").execute(p).await.map(drop).unwrap());
    }
    // (The seeding app's workers stop: only the measured app runs.)
    let app = app.replace(|c| c.cache.cache_enabled = false).await;

    // Deep pages start 90 % of the way through each ordering.
    let deep_product = &ids[products * 9 / 10];
    let products_cursor = encode_cursor(&(deep_product.0.clone(), deep_product.1));
    let mut by_id: Vec<Uuid> = ids.iter().map(|(_, id)| *id).collect();
    by_id.sort();
    let stocks_cursor = encode_cursor(&(by_id[products * 9 / 10], WAREHOUSES[0].to_owned()));

    let cases = [
        ("GET /products (first page)", "/api/v1/products".to_owned()),
        ("GET /products (deep cursor)", format!("/api/v1/products?cursor={products_cursor}")),
        ("GET /stocks?low=true (first page)", "/api/v1/stocks?low=true".to_owned()),
        ("GET /stocks?low=true (deep cursor)", format!("/api/v1/stocks?low=true&cursor={stocks_cursor}")),
    ];
    println!("\n{backend:?}, {products} products x 5 warehouses, {samples} samples each, page size 50\n");
    println!("| request | p50 ms | p90 ms | p99 ms | max ms | bare route p50 ms | p50 ÷ bare p50 |");
    println!("|---|---|---|---|---|---|---|");
    for (label, path) in cases {
        let (s, bare) = measure(&app, &target.access_token, &path, samples).await;
        println!(
            "| {label} | {} | {} | {} | {} | {} | {:.1} |",
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            ms(bare.p50),
            s.p50.as_secs_f64() / bare.p50.as_secs_f64()
        );
    }
}

fn main() {
    let products = env_usize("BENCH_PRODUCTS", 100_000);
    let samples = env_usize("BENCH_SAMPLES", 300);
    stock_tracker_tests::bench::on_both_backends(|backend| run(backend, products, samples));
}
