//! Benchmark: sales ingestion, rows per second, on each backend (issue 13).
//!
//! - Store: 200,000 sale events (orders, sales, returns, cancels of 2,000 products) written with
//!   `record_sales` in pages of 20,000 (an adapter's page of WB's orders or sales, each one
//!   transaction), and then again (a repeated page: idempotent, every row replaced); the baseline
//!   is the same rows one `INSERT … ON CONFLICT` statement each, in the same per-page
//!   transactions. The figure is batched ÷ row-at-a-time rows per second.
//! - End to end: a sync of a WB account whose 2,000 products each have an order a day for 30
//!   days (with their cancels, sales and returns), through the adapter, against the same sync
//!   with sales off; the difference is what ingesting the sales cost, as rows per second.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench sales
//! ```

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fake_wildberries::FakeConfig;
use serde_json::json;
use stock_tracker::on_pool;
use stock_tracker::store::sales::{NewSale, SaleKind};
use stock_tracker_tests::{Backend, TestApp};
use uuid::Uuid;

stock_tracker::product_allocator!();

const PRODUCTS: usize = 2_000;
const EVENTS: usize = 200_000;
const PAGE: usize = 20_000;
const DAYS: u32 = 30;

async fn wait(app: &TestApp, token: &str, run_id: &str) -> serde_json::Value {
    stock_tracker_tests::bench::finished_run(app, token, run_id, Duration::from_millis(50)).await
}

fn rate(rows: usize, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64()
}

async fn store_rates(app: &TestApp) -> (f64, f64, f64) {
    let t = app.register("sales-store@example.com").await;
    let (connection_id, products) = seed(app, &t).await;
    let kinds = [SaleKind::Order, SaleKind::Sale, SaleKind::Return, SaleKind::Cancel];
    let events: Vec<NewSale> = (0..EVENTS)
        .map(|i| NewSale {
            event_id: format!("{i}.r{:08x}.0.0", i * 7919),
            kind: kinds[i % 4],
            product_id: products[i % products.len()],
            warehouse: Some(["Коледино", "Подольск", "Казань"][i % 3].to_owned()),
            quantity: 1,
            price_minor: Some(99_000 + (i % 100) as i64),
            occurred_at: Utc.timestamp_opt(1_790_000_000 + i as i64 * 13, 0).unwrap(),
        })
        .collect();
    let start = Instant::now();
    for page in events.chunks(PAGE) {
        app.app.store.record_sales(t.tenant_id, connection_id, page).await.unwrap();
    }
    let batched = start.elapsed();
    let start = Instant::now();
    for page in events.chunks(PAGE) {
        app.app.store.record_sales(t.tenant_id, connection_id, page).await.unwrap();
    }
    let repeated = start.elapsed();

    let sql = "INSERT INTO sale_event (tenant_id, connection_id, kind, event_id, product_id, warehouse, quantity, \
               price_minor, occurred_at, occurred_unix, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
               ON CONFLICT (tenant_id, connection_id, kind, event_id) DO UPDATE SET product_id = excluded.product_id, \
               warehouse = excluded.warehouse, quantity = excluded.quantity, price_minor = excluded.price_minor, \
               occurred_at = excluded.occurred_at, occurred_unix = excluded.occurred_unix, recorded_at = excluded.recorded_at";
    let other = app.create_connection(&t, "row-at-a-time", "row-token").await;
    let start = Instant::now();
    for page in events.chunks(PAGE) {
        on_pool!(app.app.store.pool(), pool => {
            let mut tx = pool.begin().await.unwrap();
            for s in page {
                sqlx::query(sql)
                    .bind(t.tenant_id).bind(other).bind(s.kind.as_str()).bind(&s.event_id).bind(s.product_id)
                    .bind(s.warehouse.clone().unwrap_or_default()).bind(s.quantity).bind(s.price_minor)
                    .bind(s.occurred_at).bind(s.occurred_at.timestamp()).bind(Utc::now())
                    .execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        });
    }
    let row_at_a_time = start.elapsed();
    (rate(EVENTS, batched), rate(EVENTS, repeated), rate(EVENTS, row_at_a_time))
}

/// Products of a connection (the baseline's rows need real product ids).
async fn seed(app: &TestApp, t: &stock_tracker_tests::TestTenant) -> (Uuid, Vec<Uuid>) {
    use stock_tracker::store::products::NewProduct;
    let connection_id = app.create_connection(t, "sales-seed", "seed-token").await;
    let products: Vec<NewProduct> =
        (0..PRODUCTS).map(|i| NewProduct::named(format!("S-{i:05}"), i.to_string(), format!("Product {i}"))).collect();
    let ids = app.app.store.upsert_products(t.tenant_id, connection_id, &products).await.unwrap();
    (connection_id, ids.into_iter().map(|(_, id)| id).collect())
}

async fn sync_took(app: &TestApp, t: &stock_tracker_tests::TestTenant, sales: &str) -> (Duration, i64) {
    let token = format!("sales-e2e-{sales}");
    app.fake.add_token(&token);
    let body = json!({ "marketplace": "wildberries", "name": format!("WB {sales}"), "credentials": { "token": token },
        "settings": { "base_url": app.fake.base_url(), "sales": sales, "prices": "off", "seller_stocks": "off" } });
    let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let connection_id = res.body["connection_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run = wait(app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run:?}");
    let connection_id: Uuid = connection_id.parse().unwrap();
    let sql = "SELECT COUNT(*) FROM sale_event WHERE connection_id = $1";
    let stored: i64 =
        on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).bind(connection_id).fetch_one(p).await.unwrap());
    (start.elapsed(), stored)
}

async fn run(backend: Backend) {
    let fake = FakeConfig {
        products: PRODUCTS,
        warehouses: 3,
        multi_size_every: 0,
        seller_warehouses: 0,
        selling_products: PRODUCTS,
        sales_days: DAYS,
        ..FakeConfig::default()
    };
    let Some(app) = TestApp::try_with_fake(backend, fake).await else { return };
    let (batched, repeated, row_at_a_time) = store_rates(&app).await;

    let t = app.register("sales-e2e@example.com").await;
    let (without, none) = sync_took(&app, &t, "off").await;
    let (with, stored) = sync_took(&app, &t, "on").await;
    assert_eq!(none, 0);
    let catalogue = app.fake.catalogue();
    let rows = catalogue.orders.len() + catalogue.sales.len();
    let in_sync = rate(stored as usize, with.saturating_sub(without));

    println!("\n### {backend:?}\n");
    println!("| what | rows/s |");
    println!("|---|---|");
    println!("| store: {EVENTS} events, `record_sales` in pages of {PAGE} | {batched:.0} |");
    println!("| store: the same pages again (every row replaced) | {repeated:.0} |");
    println!("| store baseline: one statement per row, same transactions | {row_at_a_time:.0} |");
    println!(
        "| sync: {rows} WB rows ({stored} events) through the adapter, beyond the same sync without sales | {in_sync:.0} |"
    );
    println!("\nratio batched ÷ row-at-a-time: {:.1}×", batched / row_at_a_time);
    println!("context: sync without sales {:.2} s, with sales {:.2} s", without.as_secs_f64(), with.as_secs_f64());
}

fn main() {
    stock_tracker_tests::bench::on_both_backends(run);
}
