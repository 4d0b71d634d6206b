//! Sync end to end: the real Wildberries adapter (WebAssembly) against the fake WB over loopback,
//! on both databases.

use std::collections::{BTreeMap, BTreeSet};

use fake_wildberries::{Endpoint, FakeConfig};
use stock_tracker::on_pool;
use stock_tracker_tests::Backend;

use super::*;

/// Polls a run until `done` holds for it; fails the test after 30 s.
async fn wait_for_run(app: &TestApp, token: &str, run_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), token).await;
        if done(&res.body) {
            return res.body;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "run {run_id}: {:?}", res.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every stock row of WB's warehouses through the API: (sku, warehouse) → available.
async fn api_stocks(app: &TestApp, token: &str) -> BTreeMap<(String, String), i64> {
    collect_pages(app, token, "/api/v1/stocks?limit=500&warehouse_kind=marketplace")
        .await
        .into_iter()
        .map(|s| {
            (
                (s["sku"].as_str().unwrap().to_owned(), s["warehouse"].as_str().unwrap().to_owned()),
                s["available"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn fake_stocks(app: &TestApp) -> BTreeMap<(String, String), i64> {
    app.fake.catalogue().stocks.iter().map(|r| ((r.sku(), r.warehouse.clone()), r.quantity)).collect()
}

async fn history_rows_of_run(app: &TestApp, run_id: &str) -> i64 {
    let run_id: Uuid = run_id.parse().unwrap();
    let sql = "SELECT COUNT(*) FROM stock_history WHERE sync_run_id = $1";
    on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).bind(run_id).fetch_one(p).await.unwrap())
}

both_backends! {
    async fn sync_matches_the_marketplace_and_records_only_changes(app) {
        let t = app.register("sync@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "sync-token").await;

        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let catalogue = app.fake.catalogue();
        let expected_skus: BTreeSet<String> = catalogue.skus().into_iter().collect();
        assert_eq!(expected_skus.len(), 120, "100 cards, every tenth with three sizes");
        assert_eq!(run["products_seen"], 120);
        let seller_levels = catalogue.seller_stock.values().filter(|a| **a != 0).count();
        assert_eq!(run["stocks_seen"], 360 + seller_levels, "WB's warehouses, then the seller's non-zero levels");
        assert!(run["duration_ms"].as_i64().is_some());

        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        let skus: BTreeSet<String> = products.iter().map(|p| p["sku"].as_str().unwrap().to_owned()).collect();
        assert_eq!(skus, expected_skus);
        let tshirt = products.iter().find(|p| p["sku"] == "WB-000009/M").unwrap();
        assert_eq!(tshirt["marketplace_id"], "100000009/200000091");
        assert_eq!(api_stocks(&app, &t.access_token).await, fake_stocks(&app), "quantity per warehouse");

        // The marketplace changes five quantities; the next sync records exactly those.
        let changed = [("WB-000001", "Коледино", 7), ("WB-000002", "Подольск", 0), ("WB-000009/L", "Электросталь", 99),
                       ("WB-000050", "Коледино", 1), ("WB-000099/S", "Подольск", 42)];
        for (sku, warehouse, qty) in changed {
            app.fake.set_quantity(sku, warehouse, qty);
        }
        let second = sync_once(&app, &t, connection_id).await;
        assert_eq!(second["status"], "succeeded", "{second:?}");
        assert_eq!(second["stock_changes"], 5);
        assert_eq!(history_rows_of_run(&app, second["sync_run_id"].as_str().unwrap()).await, 5);
        assert_eq!(history_rows_of_run(&app, run["sync_run_id"].as_str().unwrap()).await, 0, "the first sync changed nothing");
        assert_eq!(api_stocks(&app, &t.access_token).await, fake_stocks(&app));

        let product_id = products.iter().find(|p| p["sku"] == "WB-000009/L").unwrap()["product_id"].as_str().unwrap().to_owned();
        let detail = app.get(&format!("/api/v1/products/{product_id}"), &t.access_token).await;
        let history = detail.body["history"].as_array().unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0]["warehouse"], "Электросталь");
        assert_eq!(history[0]["available"], 99);
        assert_eq!(history[0]["sync_run_id"], second["sync_run_id"]);

        // A third sync with nothing changed records nothing.
        let third = sync_once(&app, &t, connection_id).await;
        assert_eq!(third["stock_changes"], 0);
    }

    async fn a_rate_limit_in_the_middle_is_waited_out(app) {
        let t = app.register("ratelimited@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "rl-token").await;
        app.fake.rate_limit_next(Endpoint::Stocks, 1, 1);
        let before = app.fake.requests(Endpoint::Stocks);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert!(app.fake.requests(Endpoint::Stocks) - before >= 3, "the 429, the page again, the empty page");
        assert_eq!(api_stocks(&app, &t.access_token).await, fake_stocks(&app));
    }

    async fn a_failed_run_leaves_the_previous_data(app) {
        // One attempt, so the failure is final at once.
        let app = app.replace(|c| c.sync.sync_max_attempts = 1).await;
        let t = app.register("failed@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "fail-token").await;
        assert_eq!(sync_once(&app, &t, connection_id).await["status"], "succeeded");
        let before = api_stocks(&app, &t.access_token).await;

        // The products come in, then the stock listing fails.
        app.fake.set_quantity("WB-000003", "Коледино", 55);
        app.fake.fail_next(Endpoint::Stocks, 100, 502);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "failed");
        assert_eq!(run["products_seen"], 120, "{run:?}");
        assert!(run["error"].as_str().unwrap().contains("502"), "{run:?}");
        assert_eq!(api_stocks(&app, &t.access_token).await, before, "stock untouched by the failed run");
        assert_eq!(collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await.len(), 120);
        assert!(collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await.iter().all(|p| p["active"] == true));
    }

    async fn a_marketplace_failure_is_retried_and_the_run_completes(app) {
        let t = app.register("retried@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "retry-token").await;
        // The first attempt tries the page four times (SYNC_PAGE_RETRIES = 3), then gives up; the
        // second attempt's first try fails too, its retry passes.
        app.fake.fail_next(Endpoint::Cards, 5, 503);
        let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
        let run_id = res.body["sync_run_id"].as_str().unwrap().to_owned();
        // Between the attempts the run is queued, saying why and until when.
        let waiting = wait_for_run(&app, &t.access_token, &run_id, |r| r["next_attempt_at"].is_string()).await;
        assert_eq!((waiting["status"].as_str(), waiting["attempts"].as_i64()), (Some("queued"), Some(1)), "{waiting:?}");
        assert!(waiting["error"].as_str().unwrap().contains("attempt 1 of 5"), "{waiting:?}");
        let run = finished_run(&app, &t.access_token, &run_id).await;
        assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("succeeded"), Some(2)), "{run:?}");
        assert!(run["error"].is_null() && run["next_attempt_at"].is_null(), "{run:?}");
        assert_eq!(api_stocks(&app, &t.access_token).await, fake_stocks(&app));
        let jobs = &app.app.metrics.jobs;
        eventually("one retry and one success counted", || {
            (jobs.with_label_values(&["sync", "retry"]).get(), jobs.with_label_values(&["sync", "success"]).get()) == (1, 1)
        }).await;
    }

    async fn passing_failures_are_retried_within_the_attempt_and_refusals_are_not(app) {
        let t = app.register("page-retries@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "page-retry-token").await;
        // Two 502s on the product listing: the page is retried (0.5 s, 1.5 s) within the attempt.
        app.fake.fail_next(Endpoint::Cards, 2, 502);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("succeeded"), Some(1)), "{run:?}");
        // A 4xx is the marketplace refusing the request: not retried, the run fails with WB's words.
        app.fake.fail_next(Endpoint::Stocks, 1, 400);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!((run["status"].as_str(), run["attempts"].as_i64()), (Some("failed"), Some(1)), "{run:?}");
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("HTTP 400") && error.contains("something went wrong"), "{error}");
    }

    async fn a_long_marketplace_wait_defers_the_run_until_after_it(app) {
        // A run may wait 1 s in total; the marketplace asks for 3.
        let app = app.replace(|c| c.sync.sync_max_rate_limit_wait_secs = 1).await;
        let t = app.register("deferred@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "defer-token").await;
        app.fake.rate_limit_next(Endpoint::Stocks, 1, 3);
        let asked = Instant::now();
        let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
        let run_id = res.body["sync_run_id"].as_str().unwrap().to_owned();
        let waiting = wait_for_run(&app, &t.access_token, &run_id, |r| r["next_attempt_at"].is_string()).await;
        assert_eq!(waiting["status"], "queued", "deferred, not failed: {waiting:?}");
        assert!(waiting["error"].as_str().unwrap().contains("asked to wait 3 s"), "{waiting:?}");
        let next: chrono::DateTime<chrono::Utc> = waiting["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert!(next > chrono::Utc::now() + chrono::Duration::milliseconds(1500), "after the marketplace's wait: {waiting:?}");
        let run = finished_run(&app, &t.access_token, &run_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert!(asked.elapsed() >= Duration::from_secs(3), "not before the wait was over");
        assert_eq!(run["attempts"], 1, "a deferral spends no attempt: {run:?}");
        assert_eq!(api_stocks(&app, &t.access_token).await, fake_stocks(&app));
        let sql = "SELECT deferrals FROM job WHERE unique_key = $1";
        let key = format!("sync:{connection_id}");
        let deferrals: i32 = on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).bind(&key).fetch_one(p).await.unwrap());
        assert_eq!(deferrals, 1);
        eventually("one deferral counted", || app.app.metrics.jobs.with_label_values(&["sync", "deferred"]).get() == 1).await;
    }

    async fn products_no_longer_listed_become_inactive(app) {
        let t = app.register("inactive@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "inactive-token").await;
        sync_once(&app, &t, connection_id).await;
        app.fake.remove_product("WB-000004");
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded");
        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        assert_eq!(products.len(), 120, "kept, not deleted");
        let gone = products.iter().find(|p| p["sku"] == "WB-000004").unwrap();
        assert_eq!(gone["active"], false);
        assert_eq!(products.iter().filter(|p| p["active"] == false).count(), 1);
        let stocks = api_stocks(&app, &t.access_token).await;
        assert!(!stocks.keys().any(|(sku, _)| sku == "WB-000004"), "stock of inactive products is not listed");
    }

    async fn a_second_start_returns_the_running_run(app) {
        let t = app.register("twice@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "twice-token").await;
        // Slow the run down: the first products page waits out a 1 s rate limit.
        app.fake.rate_limit_next(Endpoint::Cards, 1, 1);
        let path = format!("/api/v1/connections/{connection_id}/sync");
        let first = app.post(&path, Some(&t.access_token), json!({})).await;
        let second = app.post(&path, Some(&t.access_token), json!({})).await;
        assert_eq!(second.status, StatusCode::ACCEPTED);
        assert_eq!(first.body["sync_run_id"], second.body["sync_run_id"]);
        let run = finished_run(&app, &t.access_token, first.body["sync_run_id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded");
        let all = app.post("/api/v1/sync", Some(&t.access_token), json!({})).await;
        assert_eq!(all.status, StatusCode::ACCEPTED);
        assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
        assert_ne!(all.body["items"][0]["sync_run_id"], first.body["sync_run_id"], "a new run once the first finished");
    }

    async fn bad_tokens_are_refused_at_connection_time(app) {
        let t = app.register("badtoken@example.com").await;
        let body = json!({ "marketplace": "wildberries", "name": "WB", "credentials": { "token": "not-a-wb-token" },
                           "settings": { "base_url": app.fake.base_url() } });
        let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        assert_eq!(res.body["error"]["field"], "credentials");
        let message = res.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("refused") && message.contains("token"), "{message}");
        assert!(!res.body.to_string().contains("not-a-wb-token"), "the token is echoed");
        assert_eq!(app.get("/api/v1/connections", &t.access_token).await.body["items"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_category_gets_wbs_reason() {
    let fake = FakeConfig { content_scope: false, ..FakeConfig::default() };
    let app = TestApp::try_with_fake(Backend::Sqlite, fake).await.unwrap();
    let t = app.register("scope@example.com").await;
    let res = app.post("/api/v1/connections", Some(&t.access_token), app.connection_body("WB", "scoped")).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body["error"]["message"].as_str().unwrap().contains("token scope not allowed"), "{:?}", res.body);
}

/// The adapter's default stock source, WB's warehouse-remains report: the task is created, polled
/// while WB makes it (one `processing` answer, waited out as the adapter asks), downloaded; the
/// levels equal the marketplace's non-zero ones, in-transit counts add up per product, and a
/// warehouse that ran empty (absent from the next report) is set to zero with history.
async fn stock_report_is_the_default_source(backend: Backend) {
    let fake = FakeConfig { report_polls_before_done: 1, ..FakeConfig::default() };
    let Some(app) = TestApp::try_with_fake(backend, fake).await else { return };
    let t = app.register("report@example.com").await;
    let mut body = app.connection_body("WB report", "report-token");
    body["settings"].as_object_mut().unwrap().remove("stocks_source");
    let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let connection_id: Uuid = res.body["connection_id"].as_str().unwrap().parse().unwrap();

    let run = sync_once(&app, &t, connection_id).await;
    assert_eq!(run["status"], "succeeded", "{run:?}");
    assert_eq!(app.fake.requests(Endpoint::Report), 4, "create, status (processing), status (done), download");
    assert_eq!(app.fake.requests(Endpoint::Stocks), 0, "the legacy listing is not used");
    let nonzero =
        |m: BTreeMap<(String, String), i64>| m.into_iter().filter(|(_, q)| *q != 0).collect::<BTreeMap<_, _>>();
    assert_eq!(api_stocks(&app, &t.access_token).await, nonzero(fake_stocks(&app)), "quantity per warehouse");

    // In-transit counts are per product in the report, and so on products.
    let transit = |rows: Vec<(String, i64, i64)>| {
        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (sku, to, from) in rows {
            let e = sums.entry(sku).or_default();
            e.0 += to;
            e.1 += from;
        }
        sums.retain(|_, v| *v != (0, 0));
        sums
    };
    let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
    let api_transit = transit(
        products
            .iter()
            .map(|p| {
                let n = |k: &str| p["in_transit"][k].as_i64().unwrap();
                (p["sku"].as_str().unwrap().to_owned(), n("to_client"), n("from_client"))
            })
            .collect(),
    );
    let fake_transit = transit(
        app.fake.catalogue().stocks.iter().map(|r| (r.sku(), r.in_way_to_client, r.in_way_from_client)).collect(),
    );
    assert!(!fake_transit.is_empty());
    assert_eq!(api_transit, fake_transit);

    // One warehouse runs empty (the report omits it), another changes.
    app.fake.set_quantity("WB-000001", "Коледино", 0);
    app.fake.set_quantity("WB-000002", "Подольск", 42);
    let second = sync_once(&app, &t, connection_id).await;
    assert_eq!(second["status"], "succeeded", "{second:?}");
    assert_eq!(second["stock_changes"], 2, "{second:?}");
    let stocks = api_stocks(&app, &t.access_token).await;
    assert_eq!(stocks[&("WB-000001".to_owned(), "Коледино".to_owned())], 0, "set to zero, not left stale");
    assert_eq!(stocks[&("WB-000002".to_owned(), "Подольск".to_owned())], 42);
    assert_eq!(history_rows_of_run(&app, second["sync_run_id"].as_str().unwrap()).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_report_is_the_default_source_sqlite() {
    stock_report_is_the_default_source(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_report_is_the_default_source_postgres() {
    stock_report_is_the_default_source(Backend::Postgres).await;
}
