//! The Ozon adapter end to end against the fake Ozon: products with prices, stock in Ozon's
//! warehouses (FBO) and the seller's (FBS), sales from postings, paging over many pages, a rate
//! limit mid-sync, and credentials Ozon refuses.

use fake_marketplaces::ozon::OzonConfig;
use stock_tracker_tests::Backend;
use stock_tracker_tests::marketplaces::{Fakes, MarketApp};

use super::*;

fn fake_levels(app: &MarketApp) -> (Levels, Levels) {
    let c = app.ozon.catalogue();
    let (mut fbo, mut fbs) = (Levels::new(), Levels::new());
    for p in &c.products {
        for (w, q) in c.fbo_warehouses.iter().zip(&p.fbo).filter(|(_, q)| **q != 0) {
            fbo.insert((p.offer_id.clone(), w.name.clone()), *q);
        }
        for (w, (present, reserved)) in c.fbs_warehouses.iter().zip(&p.fbs).filter(|(_, s)| s.0 - s.1 != 0) {
            fbs.insert((p.offer_id.clone(), w.name.clone()), present - reserved);
        }
    }
    (fbo, fbs)
}

fn fake_totals(app: &MarketApp) -> Totals {
    let c = app.ozon.catalogue();
    let mut totals = Totals::new();
    for p in &c.postings {
        let day = (p.in_process_at + chrono::Duration::hours(3)).date_naive().to_string();
        let t = totals.entry((day, c.products[p.product].offer_id.clone(), p.warehouse.clone())).or_default();
        t.0 += p.quantity;
        match p.status {
            "delivered" => t.1 += p.quantity,
            "cancelled" => t.3 += p.quantity,
            _ => {}
        }
    }
    totals
}

both_backends! {
    MarketApp =>
    async fn a_sync_brings_what_the_ozon_account_holds(app) {
        let t = app.register("ozon@example.com").await;
        let connection_id = app.connect_ozon(&t, "Ozon").await;
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let catalogue = app.ozon.catalogue();

        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        assert_eq!(products.len(), catalogue.products.len());
        for p in &catalogue.products {
            let got = products.iter().find(|x| x["sku"] == p.offer_id.as_str()).unwrap();
            assert_eq!(got["name"], p.name.as_str());
            assert_eq!(got["marketplace_id"], p.product_id.to_string());
            let expected = if p.old_price > p.price {
                json!({ "base_minor": p.old_price, "discounted_minor": p.price, "discount_percent": 20, "currency": "RUB" })
            } else {
                json!({ "base_minor": p.price, "discounted_minor": null, "discount_percent": null, "currency": "RUB" })
            };
            assert_eq!(got["price"], expected, "{}", p.offer_id);
        }

        let (fbo, fbs) = fake_levels(&app);
        assert!(!fbo.is_empty() && !fbs.is_empty());
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fbo);
        assert_eq!(stock_levels(&app, &t, "seller").await, fbs);

        let expected = fake_totals(&app);
        assert!(expected.values().any(|t| t.1 > 0) && expected.values().any(|t| t.3 > 0), "sales and cancels in the fake");
        assert_eq!(sales_totals(&app, &t).await, expected);

        // A second sync changes nothing and doubles nothing; a level that went to zero goes.
        let first = &catalogue.products[0];
        let gone = (first.offer_id.clone(), catalogue.fbo_warehouses[1].name.clone());
        app.ozon.set_fbo(0, 1, 0);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let after = stock_levels(&app, &t, "marketplace").await;
        assert_eq!(after.get(&gone), fbo.get(&gone).map(|_| &0), "a level no longer reported reads 0");
        let mut expected_fbo = fbo.clone();
        expected_fbo.remove(&gone);
        assert_eq!(after.into_iter().filter(|(_, q)| *q != 0).collect::<Levels>(), expected_fbo);
        assert_eq!(sales_totals(&app, &t).await, expected);
    }

    async fn a_rate_limit_mid_sync_is_waited_out(app) {
        let t = app.register("ozon-limit@example.com").await;
        let connection_id = app.connect_ozon(&t, "Ozon").await;
        app.ozon.faults().rate_limit_next("/v1/analytics/stocks", 1, 1);
        app.ozon.faults().rate_limit_next("/v3/posting/fbs/list", 1, 0);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let (fbo, _) = fake_levels(&app);
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fbo);
        assert_eq!(sales_totals(&app, &t).await, fake_totals(&app));
        // Two stock pages (120 products, 100 a page), the refused call asked again.
        assert_eq!(app.ozon.faults().requests("/v1/analytics/stocks"), 3);
        assert_eq!(app.ozon.faults().requests("/v3/posting/fbs/list"), 2);
    }

    async fn credentials_ozon_refuses_are_named(app) {
        let t = app.register("ozon-keys@example.com").await;
        let create = |credentials: Value| {
            let body = json!({ "marketplace": "ozon", "name": "O", "credentials": credentials,
                               "settings": { "base_url": app.ozon.base_url() } });
            app.post("/api/v1/connections", Some(&t.access_token), body)
        };
        let mut wrong = app.ozon.credentials();
        wrong["api_key"] = json!("00000000-0000-0000-0000-000000000000");
        let res = create(wrong).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        assert!(res.body["error"]["message"].as_str().unwrap().contains("Invalid Api-Key"), "{:?}", res.body);
        let mut not_a_number = app.ozon.credentials();
        not_a_number["client_id"] = json!("abc");
        let res = create(not_a_number).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        assert!(res.body["error"]["message"].as_str().unwrap().contains("Client-Id"), "{:?}", res.body);
        let res = create(json!({ "client_id": "1" })).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        // Nothing was stored.
        let list = app.get("/api/v1/connections", &t.access_token).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 0, "{:?}", list.body);

        // A key deactivated after connecting fails the sync, naming why.
        let connection_id = app.connect_ozon(&t, "Ozon").await;
        app.ozon.deactivate_key();
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "failed", "{run:?}");
        assert!(run["error"].as_str().unwrap().contains("deactivated"), "{run:?}");
    }
}

/// Paging across many pages: 1,050 products are 11 product pages and 11 stock pages (100 a
/// page, the host's default), each page's cursor used once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pages_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = MarketApp::try_with(
            backend,
            Fakes { ozon: OzonConfig { products: 1050, ..OzonConfig::default() }, ..Fakes::default() },
        )
        .await
        else {
            continue;
        };
        let t = app.register("ozon-pages@example.com").await;
        let connection_id = app.connect_ozon(&t, "Ozon").await;
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert_eq!(run["products_seen"], 1050, "{run:?}");
        // 11 pages and the empty one that ends the listing.
        assert_eq!(app.ozon.faults().requests("/v3/product/list"), 1 + 12, "verification, then the pages");
        assert_eq!(app.ozon.faults().requests("/v4/product/info/stocks"), 12);
        let (fbo, fbs) = fake_levels(&app);
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fbo);
        assert_eq!(stock_levels(&app, &t, "seller").await, fbs);
    }
}
