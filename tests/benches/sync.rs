//! Benchmark: an end-to-end sync of 100,000 stock rows (20,000 products × 5 warehouses) from the
//! fake Wildberries, through the real adapter component, on each backend (issue #3; target
//! ≤ 10 s), with a row-at-a-time write of the same rows beside it as the baseline.
//!
//! Measured per backend, in one run:
//! - the first sync through the API (`POST /connections/{id}/sync` until the run succeeds);
//! - a second sync with five quantities changed (the steady state);
//! - a third, unchanged, through WB's stock report (the adapter's default source; the first two
//!   use the legacy statistics listing, paged by 60,000 rows);
//! - writing the 100,000 observed rows again with the batched `record_stock_levels` (per chunk: read
//!   the previous quantities, upsert the levels, record the changes), and the baseline doing the
//!   same per row (a read, an `INSERT … ON CONFLICT` and a change record each, in the same
//!   per-page transactions); every row changes on both. The ratio is the figure (goal ≥ 10×).
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench sync
//! ```

use std::time::{Duration, Instant};

use fake_wildberries::FakeConfig;
use serde_json::json;
use stock_tracker::on_pool;
use stock_tracker::store::stocks::ObservedStock;
use stock_tracker_tests::{Backend, TestApp};
use uuid::Uuid;

stock_tracker::product_allocator!();

const PRODUCTS: usize = 20_000;
const WAREHOUSES: usize = 5;

async fn wait(app: &TestApp, token: &str, run_id: &str) -> serde_json::Value {
    stock_tracker_tests::bench::finished_run(app, token, run_id, Duration::from_millis(20)).await
}

fn s(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

async fn run(backend: Backend) {
    // WB's warehouses only, as the figures before WIT 0.2 were: no seller warehouse, no sales.
    let fake = FakeConfig {
        products: PRODUCTS,
        warehouses: WAREHOUSES,
        multi_size_every: 0,
        seller_warehouses: 0,
        selling_products: 0,
        ..FakeConfig::default()
    };
    let Some(app) = TestApp::try_with_fake(backend, fake).await else { return };
    let t = app.register("bench@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "bench-token").await;
    let path = format!("/api/v1/connections/{connection_id}/sync");

    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let first = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let first_took = start.elapsed();
    assert_eq!(first["status"], "succeeded", "{first:?}");
    assert_eq!(first["stocks_seen"], (PRODUCTS * WAREHOUSES) as i64);

    for i in 0..5 {
        app.fake.set_quantity(&format!("WB-{:06}", i * 1000), "Коледино", 1000 + i as i64);
    }
    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let second = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let second_took = start.elapsed();
    assert_eq!(second["stock_changes"], 5);
    let wb_peak = || app.app.plugins.get("wildberries").unwrap().summary().memory_peak_bytes as f64 / 1048576.0;
    let statistics_peak = wb_peak();

    // The same catalogue through WB's stock report (the adapter's default source): one download
    // of every row instead of 60,000-row statistics pages.
    let patch = json!({ "settings": { "base_url": app.fake.base_url() } });
    let res = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/connections/{connection_id}"),
            Some(&t.access_token),
            Some(patch),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let start = Instant::now();
    let res = app.post(&path, Some(&t.access_token), json!({})).await;
    let report = wait(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    let report_took = start.elapsed();
    assert_eq!(report["status"], "succeeded", "{report:?}");
    assert_eq!(report["stock_changes"], 0, "same quantities through the other source");
    let report_peak = wb_peak();

    // The write path alone: the same rows batched, then one statement per row.
    let ids = app.app.store.product_ids_by_sku(t.tenant_id, connection_id).await.unwrap();
    let rows: Vec<ObservedStock> = app
        .fake
        .catalogue()
        .stocks
        .iter()
        .map(|r| ObservedStock {
            product_id: ids[&r.sku()],
            warehouse: r.warehouse.clone(),
            available: r.quantity + 1,
            kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
            warehouse_id: None,
        })
        .collect();
    let start = Instant::now();
    let mut batched_changes = 0;
    for page in rows.chunks(60_000) {
        batched_changes += app.app.store.record_stock_levels(t.tenant_id, page, None).await.unwrap();
    }
    let batched = start.elapsed();

    // The baseline does per row what the batched path does per chunk: read the level's previous
    // quantity, upsert the level, and record the change (every row changes here, on both paths).
    let start = Instant::now();
    let read = "SELECT available FROM stock_level WHERE tenant_id = $1 AND product_id = $2 AND warehouse = $3";
    let upsert = "INSERT INTO stock_level (tenant_id, product_id, warehouse, available, warehouse_kind, \
               warehouse_id, updated_at, first_sync_run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
               ON CONFLICT (tenant_id, product_id, warehouse) \
               DO UPDATE SET available = excluded.available, warehouse_kind = excluded.warehouse_kind, \
               warehouse_id = excluded.warehouse_id, updated_at = excluded.updated_at";
    let change = "INSERT INTO stock_history (tenant_id, stock_history_id, product_id, warehouse, \
               previous_available, available, sync_run_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let mut baseline_changes = 0;
    for page in rows.chunks(60_000) {
        on_pool!(app.app.store.pool(), pool => {
            let mut tx = pool.begin().await.unwrap();
            for r in page {
                let at = chrono::Utc::now();
                let available = r.available + 1;
                let before: Option<i64> = sqlx::query_scalar(read)
                    .bind(t.tenant_id).bind(r.product_id).bind(&r.warehouse)
                    .fetch_optional(&mut *tx).await.unwrap();
                sqlx::query(upsert)
                    .bind(t.tenant_id).bind(r.product_id).bind(&r.warehouse).bind(available)
                    .bind(r.kind.as_str()).bind(r.warehouse_id.as_deref()).bind(at).bind(None::<Uuid>)
                    .execute(&mut *tx).await.unwrap();
                if let Some(before) = before.filter(|b| *b != available) {
                    sqlx::query(change)
                        .bind(t.tenant_id).bind(Uuid::now_v7()).bind(r.product_id).bind(&r.warehouse)
                        .bind(before).bind(available).bind(None::<Uuid>).bind(at)
                        .execute(&mut *tx).await.unwrap();
                    baseline_changes += 1;
                }
            }
            tx.commit().await.unwrap();
        });
    }
    let row_at_a_time = start.elapsed();
    assert_eq!(batched_changes, rows.len() as u64, "every row changes on the batched path");
    assert_eq!(baseline_changes, rows.len(), "and on the baseline");

    println!("\n### {backend:?}: {PRODUCTS} products × {WAREHOUSES} warehouses = {} stock rows\n", rows.len());
    println!("| what | seconds |");
    println!("|---|---|");
    println!("| first sync, end to end (adapter + fake WB over loopback + database) | {} |", s(first_took));
    println!("| second sync, 5 quantities changed | {} |", s(second_took));
    println!("| third sync, nothing changed, through the stock report (default source) | {} |", s(report_took));
    println!("| write {} rows, batched (`record_stock_levels`, as the sync does) | {} |", rows.len(), s(batched));
    println!(
        "| write {} rows row-at-a-time: read, upsert, change record per row (baseline) | {} |",
        rows.len(),
        s(row_at_a_time)
    );
    println!(
        "\nlargest WB adapter call memory: {statistics_peak:.1} MiB after the statistics syncs, {report_peak:.1} MiB \
         after the report sync too"
    );
    println!("batched is {:.1}× faster than row-at-a-time", row_at_a_time.as_secs_f64() / batched.as_secs_f64());
}

fn main() {
    stock_tracker_tests::bench::on_both_backends(run);
}
