//! The answer cache: hits and misses counted, a sync invalidates, and Redis going away changes
//! nothing a user sees.

use stock_tracker_tests::TestTenant;

use super::*;

fn hits(app: &TestApp, key: &str) -> (u64, u64) {
    let m = &app.app.metrics;
    (m.cache_hits.with_label_values(&[key]).get(), m.cache_misses.with_label_values(&[key]).get())
}

async fn sync(app: &TestApp, t: &TestTenant, connection_id: Uuid) {
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run = finished_run(app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run:?}");
}

/// `available` of `sku` in `warehouse` as the stock list answers it.
async fn available(app: &TestApp, t: &TestTenant, sku: &str, warehouse: &str) -> i64 {
    let items = collect_pages(app, &t.access_token, "/api/v1/stocks?limit=500").await;
    let row = items.iter().find(|s| s["sku"] == sku && s["warehouse"] == warehouse);
    row.unwrap_or_else(|| panic!("{sku} in {warehouse} not listed"))["available"].as_i64().unwrap()
}

/// Hits and misses, the same answer from the cache as from the database, invalidation by a sync,
/// and tenants apart.
async fn a_sync_invalidates_what_is_cached(app: &TestApp) {
    let t = app.register("cached@example.com").await;
    let other = app.register("cached-other@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "cache-token").await;
    sync(app, &t, connection_id).await;

    let (h0, m0) = hits(app, "products");
    let first = app.get("/api/v1/products?limit=20", &t.access_token).await;
    let second = app.get("/api/v1/products?limit=20", &t.access_token).await;
    assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first.body, second.body, "the cached answer is the answer");
    assert_eq!(second.headers["content-type"], "application/json");
    assert_eq!(hits(app, "products"), (h0 + 1, m0 + 1));
    // Another query, another tenant: their own entries.
    app.get("/api/v1/products?limit=21", &t.access_token).await;
    let theirs = app.get("/api/v1/products?limit=20", &other.access_token).await;
    assert!(theirs.body["items"].as_array().unwrap().is_empty(), "{:?}", theirs.body);
    assert_eq!(hits(app, "products"), (h0 + 1, m0 + 3));

    let before = available(app, &t, "WB-000004", "Коледино").await;
    assert_eq!(available(app, &t, "WB-000004", "Коледино").await, before);
    assert!(hits(app, "stocks").0 >= 1, "served from the cache");
    app.fake.set_quantity("WB-000004", "Коледино", before + 17);
    sync(app, &t, connection_id).await;
    assert_eq!(available(app, &t, "WB-000004", "Коледино").await, before + 17, "the sync invalidated it");
    // Deleting the connection takes its products out of the answers at once.
    app.call(Method::DELETE, &format!("/api/v1/connections/{connection_id}"), Some(&t.access_token), None).await;
    assert!(app.get("/api/v1/products?limit=20", &t.access_token).await.body["items"].as_array().unwrap().is_empty());
}

both_backends! {
    async fn in_process(app) {
        a_sync_invalidates_what_is_cached(&app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_redis() {
    let Some(redis) = stock_tracker_tests::redis_url() else { return };
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let app = base.replace(|c| c.redis.redis_url = Some(redis)).await;
    a_sync_invalidates_what_is_cached(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_changes_no_answer() {
    let Some(proxy) = stock_tracker_tests::redis_proxy().await else { return };
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let app = base.replace(|c| c.redis.redis_url = Some(format!("redis://{}", proxy.addr))).await;
    let t = app.register("redis-gone@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "redis-gone-token").await;
    sync(&app, &t, connection_id).await;
    let before = available(&app, &t, "WB-000005", "Подольск").await;
    let start = Instant::now();
    while hits(&app, "stocks").0 == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "Redis never served a hit");
        assert_eq!(available(&app, &t, "WB-000005", "Подольск").await, before);
    }

    // Redis is cut off, and a sync changes the stock meanwhile: every answer is right and none fails.
    proxy.down();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.fake.set_quantity("WB-000005", "Подольск", before + 3);
    sync(&app, &t, connection_id).await;
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(available(&app, &t, "WB-000005", "Подольск").await, before + 3);
        assert!(started.elapsed() < Duration::from_secs(2), "a dead Redis costs {:?}", started.elapsed());
    }
    // Redis comes back holding the entries from before the sync: they are never served.
    proxy.up();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        assert_eq!(available(&app, &t, "WB-000005", "Подольск").await, before + 3);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sql = "SELECT state FROM job WHERE kind = 'cache_invalidate'";
    let states: Vec<String> =
        stock_tracker::on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap());
    assert_eq!(states, ["completed"], "the failed invalidation was retried until Redis took it");
    let (hits_before, _) = hits(&app, "stocks");
    available(&app, &t, "WB-000005", "Подольск").await;
    assert_eq!(available(&app, &t, "WB-000005", "Подольск").await, before + 3);
    assert!(hits(&app, "stocks").0 > hits_before, "cached again once Redis is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_without_redis_hear_each_others_invalidations() {
    let Some(a) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    let b = a.restart(|_| {}).await;
    let t = a.register("two-caches@example.com").await;
    let connection_id = a.create_connection(&t, "WB", "two-caches-token").await;
    sync(&a, &t, connection_id).await;
    let before = available(&b, &t, "WB-000006", "Коледино").await;
    let start = Instant::now();
    while hits(&b, "stocks").0 == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "B never served from its cache");
        assert_eq!(available(&b, &t, "WB-000006", "Коледино").await, before);
    }

    // A syncs a change (either instance's worker may run it); B's cache hears of it.
    a.fake.set_quantity("WB-000006", "Коледино", before + 9);
    sync(&a, &t, connection_id).await;
    let start = Instant::now();
    while available(&b, &t, "WB-000006", "Коледино").await != before + 9 {
        assert!(start.elapsed() < Duration::from_secs(1), "B still answers the old stock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (hits_before, _) = hits(&b, "stocks");
    available(&b, &t, "WB-000006", "Коледино").await;
    assert!(hits(&b, "stocks").0 > hits_before, "and caches again");
}

/// An app that goes away without a shutdown (as a test's does) stops its background: on
/// PostgreSQL with the in-process cache it listens for other instances' invalidations, and that
/// listener must not run on holding the app, its pool and its connections.
#[tokio::test]
async fn a_dropped_app_lets_go_of_its_listener() {
    let Some(app) = TestApp::try_new(stock_tracker_tests::Backend::Postgres).await else { return };
    assert!(app.app.cache.announces(), "the case with a listener");
    let app_state = std::sync::Arc::downgrade(&app.app);
    drop(app);
    let deadline = Instant::now() + Duration::from_secs(5);
    while app_state.upgrade().is_some() {
        assert!(Instant::now() < deadline, "the dropped app is still held after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
