//! The Yandex Market adapter end to end against the fake Market: the cabinet's offers with
//! prices, stock of the FBY shop (Market's warehouses, with goods reserved for buyers in transit)
//! and of the FBS shop (the seller's), sales from order statistics, paging, a 420 mid-sync, and
//! keys Market refuses.

use fake_marketplaces::yandex_market::{FBY_CAMPAIGN, YandexConfig, moscow_date};
use stock_tracker_tests::Backend;
use stock_tracker_tests::marketplaces::{Fakes, MarketApp};

use super::*;

fn fake_levels(app: &MarketApp) -> (Levels, Levels) {
    let c = app.yandex.catalogue();
    let (mut fby, mut fbs) = (Levels::new(), Levels::new());
    for o in &c.offers {
        for (w, (available, _)) in c.fby_warehouses.iter().zip(&o.fby).filter(|(_, s)| s.0 != 0) {
            fby.insert((o.offer_id.clone(), w.name.clone()), *available);
        }
        if o.fbs != 0 {
            fbs.insert((o.offer_id.clone(), c.fbs_warehouse.name.clone()), o.fbs);
        }
    }
    (fby, fbs)
}

fn fake_totals(app: &MarketApp) -> Totals {
    let c = app.yandex.catalogue();
    let mut totals = Totals::new();
    for o in &c.orders {
        let sku = c.offers[o.offer].offer_id.clone();
        let mut add = |day: chrono::NaiveDate, which: usize| {
            let t = totals.entry((day.to_string(), sku.clone(), o.warehouse.name.clone())).or_default();
            *[&mut t.0, &mut t.1, &mut t.2, &mut t.3][which] += o.count;
        };
        add(o.creation_date, 0);
        let changed = moscow_date(o.status_update);
        match o.status {
            "DELIVERED" => add(changed, 1),
            "RETURNED" => add(changed, 2),
            "CANCELLED_IN_DELIVERY" => add(changed, 3),
            _ => {}
        }
    }
    totals
}

both_backends! {
    MarketApp =>
    async fn a_sync_brings_what_the_market_cabinet_holds(app) {
        let t = app.register("ym@example.com").await;
        let connection_id = app.connect_yandex(&t, "Market").await;
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let catalogue = app.yandex.catalogue();

        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        assert_eq!(products.len(), catalogue.offers.len());
        for o in &catalogue.offers {
            let got = products.iter().find(|p| p["sku"] == o.offer_id.as_str()).unwrap();
            assert_eq!((got["name"].as_str(), got["brand"].as_str()), (Some(o.name.as_str()), Some(o.vendor.as_str())));
            assert_eq!(got["marketplace_id"], o.market_sku.to_string());
            let price = &got["price"];
            if o.discount_base > o.price {
                assert_eq!((price["base_minor"].as_i64(), price["discounted_minor"].as_i64()), (Some(o.discount_base), Some(o.price)));
                assert_eq!(price["discount_percent"], 10, "{}", o.offer_id);
            } else {
                assert_eq!((price["base_minor"].as_i64(), price["discounted_minor"].as_i64()), (Some(o.price), None));
            }
            assert_eq!(price["currency"], "RUB", "Market's RUR is ISO 4217 RUB");
            let reserved: i64 = o.fby.iter().map(|s| s.1).sum();
            assert_eq!(got["in_transit"]["to_client"], reserved, "FREEZE in Market's warehouses: {}", o.offer_id);
        }

        let (fby, fbs) = fake_levels(&app);
        assert!(!fby.is_empty() && !fbs.is_empty());
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fby);
        assert_eq!(stock_levels(&app, &t, "seller").await, fbs);

        let expected = fake_totals(&app);
        assert!(expected.values().any(|t| t.1 > 0) && expected.values().any(|t| t.2 > 0) && expected.values().any(|t| t.3 > 0),
            "sales, returns and cancels in the fake");
        assert_eq!(sales_totals(&app, &t).await, expected);

        // Again after a change: the new level, nothing doubled.
        app.yandex.set_fbs(1, 0);
        app.yandex.set_fbs(2, 9);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let (_, fbs) = fake_levels(&app);
        let got: Levels = stock_levels(&app, &t, "seller").await.into_iter().filter(|(_, q)| *q != 0).collect();
        assert_eq!(got, fbs);
        assert_eq!(sales_totals(&app, &t).await, expected);
    }

    async fn a_420_mid_sync_is_waited_out(app) {
        let t = app.register("ym-limit@example.com").await;
        let connection_id = app.connect_yandex(&t, "Market").await;
        let stocks = format!("/v2/campaigns/{FBY_CAMPAIGN}/offers/stocks");
        let orders = format!("/v2/campaigns/{FBY_CAMPAIGN}/stats/orders");
        app.yandex.faults().rate_limit_next(&stocks, 1, 1);
        app.yandex.faults().rate_limit_next(&orders, 1, 1);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        let (fby, _) = fake_levels(&app);
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fby);
        assert_eq!(sales_totals(&app, &t).await, fake_totals(&app));
        // 120 offers are two pages; the refused one was asked again.
        assert_eq!(app.yandex.faults().requests(&stocks), 3);
        assert_eq!(app.yandex.faults().requests(&orders), 2);
    }

    async fn keys_market_refuses_are_named(app) {
        let t = app.register("ym-keys@example.com").await;
        for (key, says) in [("ACMA:wrong:key", "Api-Key token is invalid"), ("Bearer y0_AgAAAA", "prefix invalid")] {
            let body = json!({ "marketplace": "yandex_market", "name": "Y", "credentials": { "api_key": key },
                               "settings": { "base_url": app.yandex.base_url() } });
            let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
            assert!(res.body["error"]["message"].as_str().unwrap().contains(says), "{:?}", res.body);
            assert!(!res.body.to_string().contains(key), "the key is echoed");
        }
        assert_eq!(app.get("/api/v1/connections", &t.access_token).await.body["items"], json!([]));
    }
}

/// 450 offers: five catalogue pages and five stock pages per shop (100 a page), every token
/// followed once; Market's `limit` above 100 is truncated, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pages_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let fakes = Fakes { yandex: YandexConfig { offers: 450, ..YandexConfig::default() }, ..Fakes::default() };
        let Some(app) = MarketApp::try_with(backend, fakes).await else { continue };
        let t = app.register("ym-pages@example.com").await;
        let connection_id = app.connect_yandex(&t, "Market").await;
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert_eq!(run["products_seen"], 450, "{run:?}");
        assert_eq!(
            app.yandex
                .faults()
                .requests(&format!("/v2/businesses/{}/offer-mappings", fake_marketplaces::yandex_market::BUSINESS_ID)),
            5
        );
        assert_eq!(app.yandex.faults().requests(&format!("/v2/campaigns/{FBY_CAMPAIGN}/offers/stocks")), 5);
        let (fby, fbs) = fake_levels(&app);
        assert_eq!(stock_levels(&app, &t, "marketplace").await, fby);
        assert_eq!(stock_levels(&app, &t, "seller").await, fbs);
    }
}
