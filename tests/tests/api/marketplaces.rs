//! One seller on three marketplaces: a tenant with a connection to each sees them side by side.

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
        let bad = app.get("/api/v1/stocks?marketplace=amazon", &t.access_token).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", bad.body);
        assert_eq!(bad.body["error"]["field"], "marketplace");
        // The same SKU text on two marketplaces would be two products: none is merged or lost.
        let products = collect_pages(&app, &t.access_token, "/api/v1/products?limit=500").await;
        let catalogues = app.fake.catalogue().cards.iter().map(|c| c.sizes.len()).sum::<usize>()
            + app.ozon.catalogue().products.len() + app.yandex.catalogue().offers.len();
        assert_eq!(products.len(), catalogues);
    }
}
