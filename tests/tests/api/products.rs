//! `/api/v1/products`: keyset pages in a stable order, filters, and the detail view.

use stock_tracker::store::products::{NewPrice, NewProduct};
use stock_tracker::store::stocks::ObservedStock;

use super::*;

both_backends! {
    async fn pages_cover_everything_once_in_sku_order(app) {
        let t = app.register("pages@example.com").await;
        seed_catalogue(&app, &t, 23, &["W1"]).await;
        let items = collect_pages(&app, &t.access_token, "/api/v1/products?limit=5").await;
        let skus: Vec<&str> = items.iter().map(|p| p["sku"].as_str().unwrap()).collect();
        let expected: Vec<String> = (0..23).map(|i| format!("SKU-{i:04}")).collect();
        assert_eq!(skus, expected);

        let first = app.get("/api/v1/products?limit=500", &t.access_token).await;
        assert_eq!(first.body["items"].as_array().unwrap().len(), 23);
        assert!(first.body["next_cursor"].is_null());
        for bad in ["limit=0", "limit=501", "cursor=garbage", "connection_id=123"] {
            let res = app.get(&format!("/api/v1/products?{bad}"), &t.access_token).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }

    async fn search_and_connection_filters(app) {
        let t = app.register("search@example.com").await;
        let (c1, _) = seed_catalogue(&app, &t, 5, &["W1"]).await;
        let c2 = app.create_connection(&t, "second", "tok").await;
        let extra = [
            NewProduct { sku: "TSHIRT-RED".into(), marketplace_id: "9001".into(), barcode: Some("2000000000017".into()),
                         name: "Футболка красная".into(), brand: None, variant_id: None, price: None },
            NewProduct { sku: "MUG_50%".into(), marketplace_id: "9002".into(), barcode: None,
                         name: "Кружка".into(), brand: None, variant_id: None, price: Some(NewPrice::rub(50_00)) },
        ];
        app.app.store.upsert_products(t.tenant_id, c2, &extra).await.unwrap();
        let skus = |path: String| {
            let app = &app;
            let token = t.access_token.clone();
            async move {
                let res = app.get(&path, &token).await;
                assert_eq!(res.status, StatusCode::OK, "{path}: {:?}", res.body);
                res.body["items"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(skus("/api/v1/products?search=tshirt".into()).await, ["TSHIRT-RED"], "sku, any case");
        assert_eq!(skus("/api/v1/products?search=%D0%A4%D0%A3%D0%A2%D0%91%D0%9E%D0%9B".into()).await, ["TSHIRT-RED"], "Cyrillic name, any case");
        assert_eq!(skus("/api/v1/products?search=00000017".into()).await, ["TSHIRT-RED"], "barcode");
        assert_eq!(skus("/api/v1/products?search=_50%25".into()).await, ["MUG_50%"], "wildcards are literal");
        assert_eq!(skus("/api/v1/products?search=%25".into()).await, ["MUG_50%"]);
        assert_eq!(skus(format!("/api/v1/products?connection_id={c2}")).await, ["MUG_50%", "TSHIRT-RED"]);
        assert_eq!(skus(format!("/api/v1/products?connection_id={c1}&search=sku-0003")).await, ["SKU-0003"]);
        assert!(skus(format!("/api/v1/products?connection_id={}", Uuid::now_v7())).await.is_empty());
    }

    async fn detail_shows_stock_per_warehouse_and_history(app) {
        let t = app.register("detail@example.com").await;
        let (_, ids) = seed_catalogue(&app, &t, 2, &["Коледино", "Казань"]).await;
        let product_id = ids[0].1;
        let observe = |w: &str, available| ObservedStock {
            product_id, warehouse: w.to_owned(), available,
                kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
                warehouse_id: None,
        };
        // The seed left Коледино at 0 and Казань at 3 for this product.
        let changes = app.app.store.record_stock_levels(t.tenant_id, &[observe("Коледино", 42), observe("Казань", 4)], None).await.unwrap();
        assert_eq!(changes, 2);
        let unchanged = app.app.store.record_stock_levels(t.tenant_id, &[observe("Коледино", 42), observe("Казань", 4)], None).await.unwrap();
        assert_eq!(unchanged, 0, "the same quantities are not a change");

        let res = app.get(&format!("/api/v1/products/{product_id}"), &t.access_token).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["sku"], "SKU-0000");
        let stocks = res.body["stocks"].as_array().unwrap();
        let by_wh: Vec<(&str, i64)> = stocks.iter().map(|s| (s["warehouse"].as_str().unwrap(), s["available"].as_i64().unwrap())).collect();
        assert_eq!(by_wh, [("Казань", 4), ("Коледино", 42)]);
        let history = res.body["history"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        let change = |w: &str| {
            let h = history.iter().find(|h| h["warehouse"] == w).unwrap();
            (h["previous_available"].as_i64().unwrap(), h["available"].as_i64().unwrap())
        };
        assert_eq!(change("Коледино"), (0, 42));
        assert_eq!(change("Казань"), (3, 4));

        // The same level twice in one write: the later observation wins, one change recorded.
        let dup = app.app.store.record_stock_levels(t.tenant_id, &[observe("Казань", 9), observe("Казань", 11)], None).await.unwrap();
        assert_eq!(dup, 1);
        let res = app.get(&format!("/api/v1/products/{product_id}"), &t.access_token).await;
        let kazan = res.body["stocks"].as_array().unwrap().iter().find(|s| s["warehouse"] == "Казань").unwrap().clone();
        assert_eq!(kazan["available"], 11);
        assert_eq!(res.body["history"][0]["previous_available"], 4);
    }
}
