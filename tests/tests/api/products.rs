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

    async fn a_write_of_many_statements_records_exactly_the_changes(app) {
        // 3,000 levels: more than one SQLite statement holds (1,000 rows), so the changes are
        // found per statement and their ids drawn per statement.
        let t = app.register("bulk@example.com").await;
        let warehouses = ["W1", "W2", "W3", "W4", "W5"];
        let (_, ids) = seed_catalogue(&app, &t, 600, &warehouses).await;
        let seeded = |i: usize, w: usize| ((i * 7 + w * 3) % 20) as i64;
        let level = |i: usize, w: usize, available| ObservedStock {
            product_id: ids[i].1,
            warehouse: warehouses[w].to_owned(),
            available,
            kind: stock_tracker::store::stocks::WarehouseKind::Marketplace,
            warehouse_id: None,
        };
        // Every third level changes; a new warehouse appears for product 7 (no change: it has no
        // previous quantity); product 599's W5 is observed twice (the later wins).
        let changed = |i: usize, w: usize| (i * 5 + w).is_multiple_of(3);
        let written = |i: usize, w: usize| seeded(i, w) + if changed(i, w) { 100 } else { 0 };
        let mut observed = Vec::new();
        for i in 0..600 {
            for w in 0..5 {
                observed.push(level(i, w, written(i, w)));
            }
        }
        observed.push(ObservedStock { warehouse: "Новый".into(), ..level(7, 0, 5) });
        observed.insert(0, level(599, 4, 1));
        let expected = (0..3000usize).filter(|k| k.is_multiple_of(3)).count() as u64;
        let changes = app.app.store.record_stock_levels(t.tenant_id, &observed, None).await.unwrap();
        assert_eq!(changes, expected, "exactly the changed levels");

        // A second write right after: one level again, which must list before the first write.
        let again = app.app.store.record_stock_levels(t.tenant_id, &[level(599, 4, 7)], None).await.unwrap();
        assert_eq!(again, 1);
        let history = app.app.store.stock_history_of_product(t.tenant_id, ids[599].1, 10).await.unwrap();
        let w5: Vec<(Option<i64>, i64)> =
            history.iter().filter(|h| h.warehouse == "W5").map(|h| (h.previous_available, h.available)).collect();
        let first = written(599, 4);
        let mut want = vec![(Some(first), 7)];
        if changed(599, 4) {
            want.push((Some(seeded(599, 4)), first));
        }
        assert_eq!(w5, want, "newest first, the later observation of the first write recorded");
        // Every changed level of every statement has its change, with the quantities it had.
        for i in [0, 199, 200, 333, 598] {
            let history = app.app.store.stock_history_of_product(t.tenant_id, ids[i].1, 10).await.unwrap();
            let mut got: Vec<(String, Option<i64>, i64)> =
                history.into_iter().map(|h| (h.warehouse, h.previous_available, h.available)).collect();
            got.sort();
            let want: Vec<(String, Option<i64>, i64)> = (0..5)
                .filter(|&w| changed(i, w))
                .map(|w| (warehouses[w].to_owned(), Some(seeded(i, w)), seeded(i, w) + 100))
                .collect();
            assert_eq!(got, want, "product {i}");
        }
        let stocks = app.app.store.stock_levels_of_product(t.tenant_id, ids[7].1).await.unwrap();
        assert!(stocks.iter().any(|s| s.warehouse == "Новый" && s.available == 5), "{stocks:?}");
    }
}
