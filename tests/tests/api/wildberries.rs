//! The complete Wildberries adapter (WIT 0.2.0) end to end against the fake WB: prices, the
//! seller's own warehouses, sales with their daily totals, and tokens checked for what the
//! connection will use them for.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use fake_wildberries::{ANALYTICS, CONTENT, MARKETPLACE, PRICES, STATISTICS, mint_token};
use stock_tracker::on_pool;
use stock_tracker_tests::Backend;

use super::*;

/// The daily totals the fake's rows make, in Moscow days (the tenant's default time zone; the
/// fake's times are Moscow time).
fn fake_totals(app: &TestApp) -> Totals {
    let catalogue = app.fake.catalogue();
    let mut totals = Totals::new();
    let mut add = |at: NaiveDateTime, unit: &fake_wildberries::Unit, which: usize| {
        let key = (at.date().to_string(), unit.sku(), unit.warehouse.clone());
        let t = totals.entry(key).or_default();
        *[&mut t.0, &mut t.1, &mut t.2, &mut t.3][which] += 1;
    };
    for order in &catalogue.orders {
        add(order.unit.date, &order.unit, 0);
        if let Some(cancelled) = order.cancel_date {
            add(cancelled, &order.unit, 3);
        }
    }
    for sale in &catalogue.sales {
        add(sale.unit.date, &sale.unit, if sale.is_return() { 2 } else { 1 });
    }
    totals
}

async fn stored_sale_events(app: &TestApp, tenant_id: Uuid) -> i64 {
    let sql = "SELECT COUNT(*) FROM sale_event WHERE tenant_id = $1";
    on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).bind(tenant_id).fetch_one(p).await.unwrap())
}

both_backends! {
    async fn a_sync_brings_prices_seller_stock_and_sales(app) {
        let t = app.register("wb-complete@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "complete-token").await;
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let catalogue = app.fake.catalogue();

        // Prices: every size of a card at the card's price, with its discount, in kopecks.
        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        assert_eq!(products.len(), 120);
        for card in &catalogue.cards {
            for size in &card.sizes {
                let sku = if size.tech_size == "0" { card.vendor_code.clone() } else { format!("{}/{}", card.vendor_code, size.tech_size) };
                let product = products.iter().find(|p| p["sku"] == sku.as_str()).unwrap();
                let discounted = (card.price * i64::from(100 - card.discount)) as f64; // kopecks: ×100 ÷100
                assert_eq!(
                    product["price"],
                    json!({ "base_minor": card.price * 100, "discounted_minor": discounted as i64,
                            "discount_percent": card.discount, "currency": "RUB" }),
                    "{sku}"
                );
            }
        }

        // The seller's own warehouse: its non-zero levels, by name and WB's warehouse id.
        let seller = collect_pages(&app, &t.access_token, "/api/v1/stocks?limit=500&warehouse_kind=seller").await;
        let got: BTreeMap<(String, String), i64> = seller
            .iter()
            .map(|s| {
                assert_eq!(s["warehouse_kind"], "seller");
                ((s["sku"].as_str().unwrap().to_owned(), s["warehouse"].as_str().unwrap().to_owned()), s["available"].as_i64().unwrap())
            })
            .collect();
        let chrt_sku: BTreeMap<i64, String> = catalogue.cards.iter().flat_map(|c| c.sizes.iter().map(move |s| {
            (s.chrt_id, if s.tech_size == "0" { c.vendor_code.clone() } else { format!("{}/{}", c.vendor_code, s.tech_size) })
        })).collect();
        let warehouse = &catalogue.seller_warehouses[0];
        let expected: BTreeMap<(String, String), i64> = catalogue
            .seller_stock
            .iter()
            .filter(|(_, amount)| **amount != 0)
            .map(|((chrt, _), amount)| ((chrt_sku[chrt].clone(), warehouse.name.clone()), *amount))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(got, expected);
        let product_id = products.iter().find(|p| p["sku"] == "WB-000001").unwrap()["product_id"].as_str().unwrap().to_owned();
        let detail = app.get(&format!("/api/v1/products/{product_id}"), &t.access_token).await;
        let level = detail.body["stocks"].as_array().unwrap().iter().find(|s| s["warehouse_kind"] == "seller").unwrap().clone();
        assert_eq!(level["warehouse_id"], warehouse.id.to_string());

        // Sales: the daily totals equal the fake's rows.
        let expected = fake_totals(&app);
        assert!(expected.values().any(|t| t.3 > 0) && expected.values().any(|t| t.2 > 0), "cancels and returns in the fake");
        assert_eq!(sales_totals(&app, &t).await, expected);
        let stored = stored_sale_events(&app, t.tenant_id).await;
        let cancels: usize = catalogue.orders.iter().filter(|o| o.cancel_date.is_some()).count();
        assert_eq!(stored as usize, catalogue.orders.len() + cancels + catalogue.sales.len());

        // A second sync continues from the stored cursor: nothing is added twice.
        let before = (app.fake.requests(fake_wildberries::Endpoint::Orders), app.fake.requests(fake_wildberries::Endpoint::Sales));
        let second = sync_once(&app, &t, connection_id).await;
        assert_eq!(second["status"], "succeeded", "{second:?}");
        assert_eq!(stored_sale_events(&app, t.tenant_id).await, stored, "no duplicate sale");
        assert_eq!(sales_totals(&app, &t).await, expected);
        let after = (app.fake.requests(fake_wildberries::Endpoint::Orders), app.fake.requests(fake_wildberries::Endpoint::Sales));
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "one request each, from the last change on");
    }

    async fn a_sales_cursor_whose_answer_is_gone_asks_again(app) {
        // A sync that ended mid-answer left a cursor naming a spooled body the host no longer has
        // (bodies go with their attempt): the next sync asks WB again from the same date.
        let t = app.register("wb-gone@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "gone-token").await;
        let cursor = json!({ "orders": "2026-01-01", "sales": "2026-01-01", "on_sales": false,
            "reading": { "body_id": "0123456789abcdef0123456789abcdef", "offset": 4096, "rows": 10000, "last_change": null } });
        app.app.store.set_sync_state(t.tenant_id, connection_id, "sales.cursor", Some(&cursor.to_string())).await.unwrap();
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert_eq!(sales_totals(&app, &t).await, fake_totals(&app));
        let stored = app.app.store.sync_state(t.tenant_id, connection_id, "sales.cursor").await.unwrap().unwrap();
        let stored: Value = serde_json::from_str(&stored).unwrap();
        assert!(stored.get("reading").is_none(), "the answer was read to the end: {stored}");
        assert_ne!(stored["orders"], "2026-01-01", "the orders date moved on to the last row's change");
    }

    async fn tokens_are_checked_for_the_categories_the_settings_use(app) {
        let t = app.register("wb-scopes@example.com").await;
        let in_a_year = chrono::Utc::now().timestamp() + 365 * 86_400;
        let create = |token: String, settings: Value| {
            app.fake.add_token(&token);
            let mut all = json!({ "base_url": app.fake.base_url() });
            all.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
            json!({ "marketplace": "wildberries", "name": format!("WB {}", Uuid::now_v7()),
                    "credentials": { "token": token }, "settings": all })
        };

        // The stock report (the default source) needs Analytics: a token without it is refused.
        let no_analytics = mint_token(&[CONTENT, STATISTICS, PRICES, MARKETPLACE], in_a_year);
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(no_analytics.clone(), json!({}))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        assert_eq!(res.body["error"]["field"], "credentials");
        let message = res.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("Analytics") && message.contains("stock report"), "{message}");
        assert!(!res.body.to_string().contains(&no_analytics), "the token is not echoed");

        // Two missing categories are both named; turning off what needs them lets it connect.
        let content_only = mint_token(&[CONTENT, ANALYTICS], in_a_year);
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(content_only.clone(), json!({}))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        let message = res.body["error"]["message"].as_str().unwrap();
        for name in ["Statistics", "Prices", "Marketplace"] {
            assert!(message.contains(name), "{name}: {message}");
        }
        let off = json!({ "sales": "off", "prices": "off", "seller_stocks": "off" });
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(content_only, off)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        let expires: chrono::DateTime<chrono::Utc> = res.body["credentials_expire_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(expires.timestamp(), in_a_year, "the token's exp");

        // A value a setting does not allow is refused before the marketplace is asked.
        let full = mint_token(&[CONTENT, ANALYTICS, STATISTICS, PRICES, MARKETPLACE], in_a_year);
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(full, json!({ "sales": "sometimes" }))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "settings.sales");

        // A token that expires within 14 days: the seller is told once, as an event.
        let soon = chrono::Utc::now().timestamp() + 10 * 86_400;
        let short = mint_token(&[CONTENT, ANALYTICS, STATISTICS, PRICES, MARKETPLACE], soon);
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(short, json!({}))).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        assert_eq!(stock_tracker::events::credentials_expiring(&app.app).await.unwrap(), 1);
        assert_eq!(stock_tracker::events::credentials_expiring(&app.app).await.unwrap(), 0, "told once");
        let events = app.get("/api/v1/events?type=connection.credentials_expiring", &t.access_token).await;
        let items = events.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{:?}", events.body);
        assert_eq!(items[0]["data"]["connection_id"], res.body["connection_id"]);
        let told: chrono::DateTime<chrono::Utc> = items[0]["data"]["expires_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(told.timestamp(), soon);

        // An expired token is refused with when it expired.
        let expired = mint_token(&[CONTENT, ANALYTICS, STATISTICS, PRICES, MARKETPLACE], chrono::Utc::now().timestamp() - 60);
        let res = app.post("/api/v1/connections", Some(&t.access_token), create(expired, json!({}))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.body["error"]["message"].as_str().unwrap().contains("expired"), "{:?}", res.body);
    }
}

/// A basic-tier token (WB: report endpoints 4 an hour, orders one per 3 h, sales one per 2 h):
/// the run is deferred when the report's status may not be asked again for 15 minutes, and the
/// next attempt continues with the same report task (never a second one) and completes.
async fn a_basic_tier_token_completes_through_deferrals(backend: Backend) {
    let fake = fake_wildberries::FakeConfig { basic_tier: true, report_polls_before_done: 1, ..Default::default() };
    let Some(app) = TestApp::try_with_fake(backend, fake).await else { return };
    let t = app.register("basic@example.com").await;
    let mut body = app.connection_body("WB basic", "basic-token");
    body["settings"].as_object_mut().unwrap().remove("stocks_source");
    let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
    let connection_id = res.body["connection_id"].as_str().unwrap().to_owned();

    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run_id = res.body["sync_run_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut deferrals = 0;
    let run = loop {
        let run = app.get(&format!("/api/v1/sync-runs/{run_id}"), &t.access_token).await.body;
        if matches!(run["status"].as_str(), Some("succeeded" | "failed")) {
            break run;
        }
        if run["status"] == "queued" && run["next_attempt_at"].is_string() {
            // Deferred: the marketplace's wait is minutes to hours. Move the fake's clock past it
            // and make the job due now, rather than wait.
            let next: chrono::DateTime<chrono::Utc> = run["next_attempt_at"].as_str().unwrap().parse().unwrap();
            assert!(run["error"].as_str().unwrap().contains("deferred"), "{run:?}");
            assert!(
                next > chrono::Utc::now() + chrono::Duration::minutes(5),
                "WB's wait, not a retry backoff: {run:?}"
            );
            deferrals += 1;
            app.fake.advance_clock((next - chrono::Utc::now()).to_std().unwrap() + Duration::from_secs(1));
            // The run is marked deferred before its job is handed back in the same attempt's
            // end: make the job due until the run is picked up again.
            let sql = "UPDATE job SET run_at = $1 WHERE unique_key = $2 AND state IN ('available', 'retryable')";
            let key = format!("sync:{connection_id}");
            while app.get(&format!("/api/v1/sync-runs/{run_id}"), &t.access_token).await.body["next_attempt_at"]
                .is_string()
            {
                on_pool!(app.app.store.pool(), p => { sqlx::query(sql).bind(chrono::Utc::now()).bind(&key).execute(p).await.unwrap(); });
                app.app.job_wakeup.notify_one();
                assert!(Instant::now() < deadline, "the deferred run was not picked up again");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        assert!(Instant::now() < deadline, "{run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run:?}");
    assert!(deferrals >= 1, "the basic tier's limits deferred the run");
    assert_eq!(run["attempts"], 1, "deferrals spend no attempt: {run:?}");
    assert_eq!(app.fake.report_tasks(), 1, "the deferred run polled the same report task");
    let stocks = collect_pages(&app, &t.access_token, "/api/v1/stocks?limit=500&warehouse_kind=marketplace").await;
    let nonzero = app.fake.catalogue().stocks.iter().filter(|r| r.quantity != 0).count();
    assert_eq!(stocks.len(), nonzero, "the report's levels");
    assert_eq!(sales_totals(&app, &t).await, fake_totals(&app), "and the sales");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_tier_token_completes_through_deferrals_sqlite() {
    a_basic_tier_token_completes_through_deferrals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_tier_token_completes_through_deferrals_postgres() {
    a_basic_tier_token_completes_through_deferrals(Backend::Postgres).await;
}

/// 12,500 orders in one WB answer (tens of MiB with its sales): spooled and read 10,000 rows a
/// call, within the call's memory; the totals equal the fake's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_of_many_orders_is_read_in_pages() {
    let fake = fake_wildberries::FakeConfig {
        products: 500,
        multi_size_every: 0,
        selling_products: 500,
        sales_days: 25,
        ..Default::default()
    };
    let app = TestApp::try_with_fake(Backend::Sqlite, fake).await.unwrap();
    let t = app.register("many-orders@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "many-orders-token").await;
    let run = sync_once(&app, &t, connection_id).await;
    assert_eq!(run["status"], "succeeded", "{run:?}");
    assert!(app.fake.catalogue().orders.len() > 10_000, "more than the adapter reads a call");
    assert_eq!(sales_totals(&app, &t).await, fake_totals(&app));
    let peak = app.app.plugins.get("wildberries").unwrap().summary().memory_peak_bytes;
    assert!(peak < 32 << 20, "the largest call stayed small: {} MiB", peak >> 20);
}

/// The seller's warehouses are listed once per batch of products, not once per warehouse: with
/// three warehouses and one batch, one list and three stock requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_warehouses_are_listed_once_per_batch() {
    let fake = fake_wildberries::FakeConfig { seller_warehouses: 3, ..fake_wildberries::FakeConfig::default() };
    let app = TestApp::try_with_fake(Backend::Sqlite, fake).await.unwrap();
    let t = app.register("wb-warehouses@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "warehouses-token").await;
    let before = app.fake.requests(fake_wildberries::Endpoint::Marketplace);
    let run = sync_once(&app, &t, connection_id).await;
    assert_eq!(run["status"], "succeeded", "{run:?}");
    assert_eq!(app.fake.requests(fake_wildberries::Endpoint::Marketplace) - before, 1 + 3);
    let catalogue = app.fake.catalogue();
    let names: BTreeMap<i64, String> = catalogue.seller_warehouses.iter().map(|w| (w.id, w.name.clone())).collect();
    let seller = stock_levels(&app, &t, "seller").await;
    let expected = catalogue.seller_stock.values().filter(|a| **a != 0).count();
    assert_eq!(seller.len(), expected);
    assert_eq!(
        seller.keys().map(|(_, w)| w.clone()).collect::<std::collections::BTreeSet<_>>().len(),
        names.len(),
        "levels in each warehouse"
    );
}
