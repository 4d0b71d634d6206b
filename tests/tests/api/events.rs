//! Stock events: a sync against the fake marketplace that moves a level across its threshold
//! emits exactly one event per product and warehouse, none while the state holds, and one
//! restock event when it recovers; sync outcomes are events too.

use super::*;

/// The tenant's events of `type`, oldest first.
async fn events(app: &TestApp, t: &TestTenant, event_type: &str) -> Vec<Value> {
    collect_pages(app, &t.access_token, &format!("/api/v1/events?type={event_type}&limit=2")).await
}

fn crossing(e: &Value) -> (String, String, i64, String) {
    let d = &e["data"];
    (
        d["sku"].as_str().unwrap().to_owned(),
        d["warehouse"].as_str().unwrap().to_owned(),
        d["available"].as_i64().unwrap(),
        d["previous_state"].as_str().unwrap().to_owned(),
    )
}

both_backends! {
    async fn threshold_crossings_emit_one_event_each_and_one_restock(app) {
        let t = app.register("events@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "events-token").await;
        app.fake.set_quantity("WB-000001", "Коледино", 50);
        app.fake.set_quantity("WB-000002", "Подольск", 50);

        // The first sync sets the baseline: levels already low or out were not crossed.
        assert_eq!(sync_once(&app, &t, connection_id).await["status"], "succeeded");
        for stock_type in ["stock.low", "stock.out", "stock.restocked"] {
            assert_eq!(events(&app, &t, stock_type).await.len(), 0, "{stock_type} on the first sync");
        }
        let completed = events(&app, &t, "sync.completed").await;
        assert_eq!(completed.len(), 1);
        assert_eq!(completed[0]["data"]["connection_id"], connection_id.to_string());
        assert_eq!(completed[0]["data"]["products_seen"], 120);

        // One level falls to the threshold (5 by default), another to zero.
        app.fake.set_quantity("WB-000001", "Коледино", 5);
        app.fake.set_quantity("WB-000002", "Подольск", 0);
        let run = sync_once(&app, &t, connection_id).await;
        let low = events(&app, &t, "stock.low").await;
        let out = events(&app, &t, "stock.out").await;
        assert_eq!(low.iter().map(crossing).collect::<Vec<_>>(), [("WB-000001".into(), "Коледино".into(), 5, "ok".into())]);
        assert_eq!(out.iter().map(crossing).collect::<Vec<_>>(), [("WB-000002".into(), "Подольск".into(), 0, "ok".into())]);
        assert_eq!(low[0]["data"]["threshold"], 5);
        assert_eq!(low[0]["data"]["state"], "low");
        assert_eq!(low[0]["data"]["connection_id"], connection_id.to_string());
        assert!(low[0]["data"]["product_id"].as_str().is_some());
        assert!(low[0]["created_at"].as_str().unwrap() >= run["started_at"].as_str().unwrap());

        // Nothing new while the states hold (a low level moving within low included).
        app.fake.set_quantity("WB-000001", "Коледино", 2);
        sync_once(&app, &t, connection_id).await;
        sync_once(&app, &t, connection_id).await;
        assert_eq!(events(&app, &t, "stock.low").await.len(), 1);
        assert_eq!(events(&app, &t, "stock.out").await.len(), 1);

        // Both recover: one restock each.
        app.fake.set_quantity("WB-000001", "Коледино", 40);
        app.fake.set_quantity("WB-000002", "Подольск", 6);
        sync_once(&app, &t, connection_id).await;
        let mut restocked: Vec<_> = events(&app, &t, "stock.restocked").await.iter().map(crossing).collect();
        restocked.sort();
        assert_eq!(
            restocked,
            [("WB-000001".into(), "Коледино".into(), 40, "low".into()), ("WB-000002".into(), "Подольск".into(), 6, "out".into())]
        );
        assert_eq!(events(&app, &t, "sync.completed").await.len(), 5);

        // The feed pages oldest first without gaps or repeats.
        let all = collect_pages(&app, &t.access_token, "/api/v1/events?limit=3").await;
        assert_eq!(all.len(), 5 + 4);
        let ids: Vec<&str> = all.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "ascending, no repeats");
        let later = app.get(&format!("/api/v1/events?since={}", urlencode(all[6]["created_at"].as_str().unwrap())), &t.access_token).await;
        assert_eq!(later.status, StatusCode::OK, "{:?}", later.body);
        assert!(later.body["items"].as_array().unwrap().len() <= 3);

        // Another tenant sees none of it.
        let other = app.register("events-other@example.com").await;
        assert_eq!(app.get("/api/v1/events", &other.access_token).await.body["items"], json!([]));
    }

    async fn a_threshold_change_applies_at_the_next_sync(app) {
        let t = app.register("thresholds@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "thresholds-token").await;
        app.fake.set_quantity("WB-000001", "Коледино", 30);
        sync_once(&app, &t, connection_id).await;
        let products = collect_pages(&app, &t.access_token, "/api/v1/products?search=WB-000001&limit=500").await;
        let product = products.iter().find(|p| p["sku"] == "WB-000001").unwrap();
        let product_id = product["product_id"].as_str().unwrap();
        assert_eq!(product["low_stock_threshold"], Value::Null);
        assert_eq!(product["effective_low_stock_threshold"], 5);

        // Its own threshold of 30: the level of 30 is now low.
        let res = app.call(Method::PATCH, &format!("/api/v1/products/{product_id}"), Some(&t.access_token),
            Some(json!({"low_stock_threshold": 30}))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["low_stock_threshold"], 30);
        assert_eq!(res.body["effective_low_stock_threshold"], 30);
        sync_once(&app, &t, connection_id).await;
        let low: Vec<_> = events(&app, &t, "stock.low").await.iter().map(crossing)
            .filter(|(sku, ..)| sku == "WB-000001").collect();
        assert!(low.contains(&("WB-000001".into(), "Коледино".into(), 30, "ok".into())), "{low:?}");

        // Back to the tenant's (5): the level of 30 is ok again, so it is restocked.
        let res = app.call(Method::PATCH, &format!("/api/v1/products/{product_id}"), Some(&t.access_token),
            Some(json!({"low_stock_threshold": null}))).await;
        assert_eq!(res.body["low_stock_threshold"], Value::Null);
        assert_eq!(res.body["effective_low_stock_threshold"], 5);
        sync_once(&app, &t, connection_id).await;
        assert!(events(&app, &t, "stock.restocked").await.iter().map(crossing)
            .any(|c| c == ("WB-000001".into(), "Коледино".into(), 30, "low".into())));

        // Bad input changes nothing.
        for (body, field) in [(json!({"low_stock_threshold": -1}), "low_stock_threshold"),
                              (json!({"low_stock_threshold": "x"}), "low_stock_threshold"),
                              (json!({}), "low_stock_threshold")] {
            let res = app.call(Method::PATCH, &format!("/api/v1/products/{product_id}"), Some(&t.access_token), Some(body.clone())).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", res.body);
            assert_field(&res.body, field);
        }
        let member = app.join(&t, "thresholds-member@example.com", "member").await;
        let res = app.call(Method::PATCH, &format!("/api/v1/products/{product_id}"), Some(&member.access_token),
            Some(json!({"low_stock_threshold": 1}))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let other = app.register("thresholds-other@example.com").await;
        let res = app.call(Method::PATCH, &format!("/api/v1/products/{product_id}"), Some(&other.access_token),
            Some(json!({"low_stock_threshold": 1}))).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/v1/products/{product_id}"), &t.access_token).await.body["low_stock_threshold"], Value::Null);
    }

    async fn a_failed_sync_is_an_event_and_evaluates_nothing(app) {
        let app = app.replace(|c| c.sync.sync_max_attempts = 1).await;
        let t = app.register("failed-events@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "failed-events-token").await;
        app.fake.set_quantity("WB-000001", "Коледино", 50);
        sync_once(&app, &t, connection_id).await;
        app.fake.set_quantity("WB-000001", "Коледино", 0);
        app.fake.fail_next(fake_wildberries::Endpoint::Stocks, 100, 502);
        let run = sync_once(&app, &t, connection_id).await;
        assert_eq!(run["status"], "failed");
        let failed = events(&app, &t, "sync.failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["data"]["sync_run_id"], run["sync_run_id"]);
        assert!(failed[0]["data"]["error"].as_str().unwrap().contains("502"));
        assert_eq!(events(&app, &t, "stock.out").await.len(), 0, "a failed sync emits no stock events");

        let res = app.get("/api/v1/events?type=stock.nope", &t.access_token).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.body["error"]["message"].as_str().unwrap().contains("stock.low"));
        assert_eq!(app.get("/api/v1/events?since=yesterday", &t.access_token).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get("/api/v1/events?cursor=zzz", &t.access_token).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
