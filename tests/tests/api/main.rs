//! The API test suite: one module per route group, each test run on SQLite and on PostgreSQL
//! (see the harness in `tests/src/lib.rs`).

mod auth;
mod cache;
mod connections;
mod credentials;
mod errors;
mod events;
mod forecasts;
mod health;
mod invitations;
mod isolation;
mod jobs;
mod marketplaces;
mod members;
mod metrics;
mod openapi;
mod ozon;
mod plugins;
mod products;
mod prometheus;
mod ratelimit;
mod sales;
mod schedule;
mod security;
mod sqlite;
mod stocks;
mod sync;
mod sync_runs;
mod telegram;
mod tenant;
mod webhooks;
mod wildberries;
mod yandex_market;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use stock_tracker_tests::{TestApp, TestTenant, both_backends};

use uuid::Uuid;

/// Seeds `n` products (sku `SKU-0000` …) with stock in `warehouses` for a new connection of
/// `tenant`, straight through the store. Returns the connection id and product ids by sku.
async fn seed_catalogue(
    app: &TestApp,
    tenant: &TestTenant,
    n: usize,
    warehouses: &[&str],
) -> (Uuid, Vec<(String, Uuid)>) {
    use stock_tracker::store::products::NewProduct;
    use stock_tracker::store::stocks::ObservedStock;
    let connection_id = app.create_connection(tenant, &format!("seed-{}", Uuid::now_v7()), "seed-token").await;
    let products: Vec<NewProduct> = (0..n)
        .map(|i| NewProduct {
            sku: format!("SKU-{i:04}"),
            marketplace_id: format!("{}", 100_000 + i),
            barcode: Some(format!("46000000{i:05}")),
            name: format!("Product {i}"),
            brand: Some("Brand".into()),
            variant_id: None,
            price: Some(stock_tracker::store::products::NewPrice::rub(1000 + i as i64)),
        })
        .collect();
    let ids = app.app.store.upsert_products(tenant.tenant_id, connection_id, &products).await.unwrap();
    let observed: Vec<ObservedStock> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, (_, id))| {
            warehouses.iter().enumerate().map(move |(w, name)| ObservedStock {
                product_id: *id,
                warehouse: (*name).to_owned(),
                available: ((i * 7 + w * 3) % 20) as i64,
                kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
                warehouse_id: None,
            })
        })
        .collect();
    app.app.store.record_stock_levels(tenant.tenant_id, &observed, None).await.unwrap();
    (connection_id, ids)
}

/// Starts a sync of the connection and waits for its run to finish.
async fn sync_once(app: &TestApp, t: &TestTenant, connection_id: Uuid) -> Value {
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{:?}", res.body);
    assert!(matches!(res.body["status"].as_str(), Some("queued" | "running")), "{:?}", res.body);
    finished_run(app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await
}

/// Polls a run until it finishes; fails the test after 60 s.
async fn finished_run(app: &TestApp, token: &str, run_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), token).await;
        assert_eq!(res.status, StatusCode::OK);
        if matches!(res.body["status"].as_str(), Some("succeeded" | "failed")) {
            return res.body;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "run {run_id} did not finish: {:?}", res.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `check` holds: for a counter that moves just after what the test waited for (a
/// job's outcome is counted once its run shows it); fails the test after 10 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts an error envelope names `field` as the one at fault.
fn assert_field(body: &Value, field: &str) {
    let error = &body["error"];
    assert!(
        error["field"].as_str().is_some_and(|f| f.starts_with(field))
            || error["message"].as_str().is_some_and(|m| m.contains(field)),
        "expected an error about `{field}`: {body:?}"
    );
}

/// Follows `next_cursor` from `first_path` to the end, returning every item.
async fn collect_pages(app: &TestApp, token: &str, first_path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first_path.to_owned();
    let sep = if first_path.contains('?') { '&' } else { '?' };
    for _ in 0..1000 {
        let res = app.get(&path, token).await;
        assert_eq!(res.status, StatusCode::OK, "{path}: {:?}", res.body);
        items.extend(res.body["items"].as_array().unwrap().iter().cloned());
        match res.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first_path}{sep}cursor={cursor}"),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

/// `(local date, sku, warehouse)` → (orders, sales, returns, cancels), in units.
type Totals = std::collections::BTreeMap<(String, String, String), (i64, i64, i64, i64)>;

/// The daily sales totals the API answers for the last 30 Moscow days.
async fn sales_totals(app: &TestApp, t: &TestTenant) -> Totals {
    let today = (chrono::Utc::now() + chrono::Duration::hours(3)).date_naive();
    let from = today - chrono::Duration::days(30);
    collect_pages(app, &t.access_token, &format!("/api/v1/sales?limit=100&from={from}&to={today}"))
        .await
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_i64().unwrap();
            let key = (
                r["date"].as_str().unwrap().to_owned(),
                r["sku"].as_str().unwrap().to_owned(),
                r["warehouse"].as_str().unwrap_or_default().to_owned(),
            );
            (key, (n("orders"), n("sales"), n("returns"), n("cancels")))
        })
        .collect()
}

/// `(sku, warehouse)` → available.
type Levels = std::collections::BTreeMap<(String, String), i64>;

/// The stock levels of one warehouse kind (`marketplace`, `seller`) the API answers.
async fn stock_levels(app: &TestApp, t: &TestTenant, kind: &str) -> Levels {
    collect_pages(app, &t.access_token, &format!("/api/v1/stocks?limit=500&warehouse_kind={kind}"))
        .await
        .iter()
        .map(|s| {
            let key = (s["sku"].as_str().unwrap().to_owned(), s["warehouse"].as_str().unwrap().to_owned());
            (key, s["available"].as_i64().unwrap())
        })
        .collect()
}
