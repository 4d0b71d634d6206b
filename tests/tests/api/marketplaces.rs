//! One seller on several marketplaces: a tenant with a connection to each of the three sees them
//! side by side, and an adapter hot-loaded for a marketplace the service does not ship joins them.

use stock_tracker_tests::marketplaces::MarketApp;

use super::*;

both_backends! {
    MarketApp =>
    async fn one_tenant_sees_three_marketplaces_side_by_side(app) {
        let t = app.register("three@example.com").await;
        let wb = app.create_connection(&t, "WB", "three-token").await;
        let ozon = app.connect_ozon(&t, "Ozon").await;
        let yandex = app.connect_yandex(&t, "Market").await;
        for connection_id in [wb, ozon, yandex] {
            let run = sync_once(&app, &t, connection_id).await;
            assert_eq!(run["status"], "succeeded", "{run:?}");
        }
        let levels = collect_pages(&app, &t.access_token, "/api/v1/stocks?limit=500").await;
        let by_marketplace = |m: &str| levels.iter().filter(|l| l["marketplace"] == m).count();
        let (w, o, y) = (by_marketplace("wildberries"), by_marketplace("ozon"), by_marketplace("yandex_market"));
        assert!(w > 0 && o > 0 && y > 0, "levels per marketplace: wb {w}, ozon {o}, yandex {y}");
        assert_eq!(w + o + y, levels.len(), "every level names its marketplace");
        for (connection_id, marketplace) in [(wb, "wildberries"), (ozon, "ozon"), (yandex, "yandex_market")] {
            let one = collect_pages(&app, &t.access_token, &format!("/api/v1/stocks?limit=500&connection_id={connection_id}")).await;
            assert_eq!(one.len(), by_marketplace(marketplace), "{marketplace}");
            assert!(one.iter().all(|l| l["marketplace"] == marketplace && l["connection_id"] == connection_id.to_string()));
        }
        let only_ozon = collect_pages(&app, &t.access_token, "/api/v1/stocks?limit=500&marketplace=ozon").await;
        assert_eq!(only_ozon.len(), o);
        assert!(only_ozon.iter().all(|l| l["marketplace"] == "ozon"));
        let bad = app.get("/api/v1/stocks?marketplace=Not%20a%20name", &t.access_token).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", bad.body);
        assert_eq!(bad.body["error"]["field"], "marketplace");
        let none = app.get("/api/v1/stocks?marketplace=amazon", &t.access_token).await;
        assert_eq!(none.body["items"], json!([]), "a marketplace with no connection has no levels");
        // The same SKU text on two marketplaces would be two products: none is merged or lost.
        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        let catalogues = app.fake.catalogue().cards.iter().map(|c| c.sizes.len()).sum::<usize>()
            + app.ozon.catalogue().products.len() + app.yandex.catalogue().offers.len();
        assert_eq!(products.len(), catalogues);
    }
}

/// The plugin author's path end to end: the template, hot-loaded through the operator API for a
/// marketplace the service does not ship, is connected and synced like a built-in one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_loaded_adapter_for_a_new_marketplace_connects_and_syncs() {
    use fake_marketplaces::example::{FakeExample, WAREHOUSES, available};
    let fake = FakeExample::start(130).await.unwrap();
    let grant = fake.base_url();
    for backend in [stock_tracker_tests::Backend::Sqlite, stock_tracker_tests::Backend::Postgres] {
        let Some(app) =
            TestApp::try_with(backend, Default::default(), |c| c.plugins.plugin_extra_hosts = Some(grant.clone()))
                .await
        else {
            continue;
        };
        let t = app.register("author@example.com").await;
        let body = json!({ "marketplace": "example", "name": "Example", "credentials": fake.credentials(),
                           "settings": { "base_url": fake.base_url() } });
        let refused = app.post("/api/v1/connections", Some(&t.access_token), body.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "no adapter yet: {:?}", refused.body);
        assert_eq!(refused.body["error"]["field"], "marketplace");

        let (manifest, wasm) = stock_tracker_tests::fixtures::template();
        let loaded = app.put_plugin("example", &manifest, &wasm).await;
        assert!(loaded.status.is_success(), "{:?}", loaded.body);
        let created = app.post("/api/v1/connections", Some(&t.access_token), body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let connection_id: Uuid = created.body["connection_id"].as_str().unwrap().parse().unwrap();
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "succeeded", "{run:?}");
        assert_eq!(run["products_seen"], 130);
        let levels = stock_levels(&app, &t, "marketplace").await;
        let expected: Levels = (0..130)
            .flat_map(|i| {
                WAREHOUSES
                    .iter()
                    .enumerate()
                    .map(move |(w, (_, name))| ((format!("EX-{i:04}"), (*name).to_owned()), available(i, w)))
            })
            .collect();
        assert_eq!(levels, expected);
    }
}
