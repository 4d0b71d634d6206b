//! Benchmark: the job queue and what it carries (issue 11), on each backend, in one process.
//!
//! 1. **No-op jobs**: 2,000 jobs claimed and completed by 4 workers (`JOBS_WORKERS`' default),
//!    against the baseline of inserting the same 2,000 rows one statement at a time.
//! 2. **Real syncs**: syncs of connections of 200 products (3 warehouses, the legacy stock
//!    listing) against the fake Wildberries through the real adapter, by the app's 4 workers,
//!    against the baseline of the same syncs one at a time. Syncs per second × 1,800 s is how many
//!    connections one instance keeps at a 30-minute interval.
//! 3. **Cached lists**: `GET /api/v1/products` (first page of 50 of 10,000 products) through the
//!    full router with the cache on (every request after the first a hit), against the same
//!    requests with `CACHE_ENABLED=false`, interleaved in one loop; in process memory, and in
//!    Redis when `TEST_REDIS_URL` is set.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres TEST_REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo bench -p stock-tracker-tests --bench jobs
//! ```
//! `BENCH_SYNCS` (default 40) sets how many syncs part 2 runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake_wildberries::FakeConfig;
use stock_tracker::jobs::{Handlers, JobsConfig, Outcome, Workers};
use stock_tracker::store::jobs::NewJob;
use stock_tracker::store::products::NewProduct;
use stock_tracker::store::sync_runs::{SyncStatus, SyncTrigger};
use stock_tracker_tests::{Backend, TestApp};
use uuid::Uuid;

stock_tracker::product_allocator!();

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn no_op_jobs(backend: Backend) {
    let Some(mut app) = TestApp::try_new(backend).await else { return };
    let store = &app.app.store.clone();
    let n = 2_000;
    let job = || NewJob {
        kind: "bench",
        tenant_id: None,
        unique_key: None,
        payload: serde_json::json!({}),
        max_attempts: 3,
        run_at: stock_tracker::store::now(),
    };
    // Baseline: one INSERT per row (the enqueue statement).
    let start = Instant::now();
    for _ in 0..n {
        store.enqueue_job(&job()).await.unwrap();
    }
    let inserted = start.elapsed();
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let handlers = Handlers::default().with("bench", move |_job| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Outcome::Done
        }
    });
    let start = Instant::now();
    let workers = Workers::start(
        store.clone(),
        handlers,
        &JobsConfig::default(),
        Arc::new(tokio::sync::Notify::new()),
        app.app.metrics.clone(),
    );
    while done.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ran = start.elapsed();
    workers.shutdown(Duration::from_secs(1)).await;
    let (ins, jobs) = (per_second(n, inserted), per_second(n, ran));
    println!("| {backend:?} | {n} no-op jobs, 4 workers | {jobs:.0} jobs/s | {ins:.0} inserts/s | {:.2} |", jobs / ins);
    app.stop_background(STOP).await;
}

/// Each part stops its apps' workers when it ends: one runtime runs every part, and workers left
/// polling a finished part's database would run on into the next one.
const STOP: Duration = Duration::from_secs(5);

/// Runs `connections` syncs at once and waits for them; returns the wall time.
async fn sync_all(app: &TestApp, tenant_id: Uuid, connections: &[Uuid]) -> Duration {
    let start = Instant::now();
    let mut runs = Vec::new();
    for id in connections {
        runs.push(
            stock_tracker::sync::start(&app.app, tenant_id, *id, SyncTrigger::Manual).await.unwrap().0.sync_run_id,
        );
    }
    for run in runs {
        loop {
            let r = app.app.store.sync_run(tenant_id, run).await.unwrap();
            if r.status == SyncStatus::Succeeded {
                assert_eq!(r.products_seen, 200);
                break;
            }
            assert_ne!(r.status, SyncStatus::Failed, "{r:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    start.elapsed()
}

async fn real_syncs(backend: Backend, n: usize) {
    let fake = FakeConfig { products: 200, warehouses: 3, multi_size_every: 0, ..Default::default() };
    let Some(mut app) = TestApp::try_with_fake(backend, fake).await else { return };
    let t = app.register("syncs@bench.example").await;
    let mut connections = Vec::new();
    for i in 0..n {
        connections.push(app.create_connection(&t, &format!("WB {i}"), &format!("bench-{i}")).await);
    }
    // Warm up (plugin instances, statement caches), then the baseline: one at a time.
    sync_all(&app, t.tenant_id, &connections[..4]).await;
    let mut serial = Duration::ZERO;
    for id in &connections {
        serial += sync_all(&app, t.tenant_id, std::slice::from_ref(id)).await;
    }
    let parallel = sync_all(&app, t.tenant_id, &connections).await;
    let (one, four) = (per_second(n, serial), per_second(n, parallel));
    println!(
        "| {backend:?} | {n} syncs of 200 products, 4 workers | {four:.1} syncs/s | {one:.1} syncs/s one at a time | {:.2} | {:.0} |",
        four / one,
        four * 1800.0
    );
    app.stop_background(STOP).await;
}

async fn cached_lists(backend: Backend, redis: Option<String>) {
    let Some(mut base) = TestApp::try_new(backend).await else { return };
    let t = base.register("cache@bench.example").await;
    let connection_id = base.create_connection(&t, "bench", "bench-token").await;
    let products: Vec<NewProduct> = (0..10_000)
        .map(|i| NewProduct {
            sku: format!("SKU-{i:06}"),
            marketplace_id: (10_000_000 + i).to_string(),
            barcode: Some(format!("4600{i:09}")),
            name: format!("Товар номер {i}"),
            brand: Some("Бренд".into()),
            variant_id: None,
            price: Some(stock_tracker::store::products::NewPrice::rub(99_00 + i)),
        })
        .collect();
    base.app.store.upsert_products(t.tenant_id, connection_id, &products).await.unwrap();
    // PostgreSQL's statistics for the rows just loaded, as autovacuum gathers within a minute (as
    // in `api_lists.rs`): the uncached side measures the steady state, not the planner's guesses.
    if backend == Backend::Postgres {
        stock_tracker::on_pool!(base.app.store.pool(), p => sqlx::query("ANALYZE").execute(p).await.map(drop).unwrap());
    }
    let label = if redis.is_some() { "Redis" } else { "in process" };
    let mut cached = base.restart(|c| c.redis.redis_url = redis.clone()).await;
    let mut uncached = base.restart(|c| c.cache.cache_enabled = false).await;
    let path = "/api/v1/products";
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..2_200 {
        for (app, times) in [(&cached, &mut on), (&uncached, &mut off)] {
            let start = Instant::now();
            let res = app.get(path, &t.access_token).await;
            let took = start.elapsed();
            let items = res.body["items"].as_array().map(Vec::len);
            assert_eq!(items, Some(50), "{backend:?}, round {round}: {} {:?}", res.status, res.body);
            if round >= 200 {
                times.push(took);
            }
        }
    }
    on.sort();
    off.sort();
    let p50 = |v: &[Duration]| v[v.len() / 2].as_secs_f64() * 1000.0;
    let hits = cached.app.metrics.cache_hits.with_label_values(&["products"]).get();
    assert!(hits >= 2_000, "cache hits: {hits}");
    println!(
        "| {backend:?} | cache {label} | {:.3} ms | {:.3} ms | {:.2}× |",
        p50(&on),
        p50(&off),
        p50(&off) / p50(&on)
    );
    for app in [&mut base, &mut cached, &mut uncached] {
        app.stop_background(STOP).await;
    }
}

fn main() {
    let syncs = std::env::var("BENCH_SYNCS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!("\n| backend | case | throughput | baseline | ratio |\n|---|---|---|---|---|");
        for backend in [Backend::Sqlite, Backend::Postgres] {
            no_op_jobs(backend).await;
        }
        println!(
            "\n| backend | case | 4 workers | baseline | speed-up | connections at 30 min |\n|---|---|---|---|---|---|"
        );
        for backend in [Backend::Sqlite, Backend::Postgres] {
            real_syncs(backend, syncs).await;
        }
        println!("\n| backend | cache | p50 cached | p50 uncached | uncached ÷ cached |\n|---|---|---|---|---|");
        for backend in [Backend::Sqlite, Backend::Postgres] {
            cached_lists(backend, None).await;
        }
        if let Ok(redis) = std::env::var("TEST_REDIS_URL") {
            cached_lists(Backend::Postgres, Some(redis)).await;
        }
    });
}
