//! `GET/PATCH /api/v1/tenant`: the default threshold and the time zone.

use super::*;

both_backends! {
    async fn tenant_settings_read_change_and_refuse_bad_values(app) {
        let t = app.register("tenant@example.com").await;
        let res = app.get("/api/v1/tenant", &t.access_token).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["tenant_id"], t.tenant_id.to_string());
        assert_eq!(res.body["low_stock_threshold"], 5);
        assert_eq!(res.body["timezone"], "Europe/Moscow");

        let res = app.call(Method::PATCH, "/api/v1/tenant", Some(&t.access_token),
            Some(json!({"low_stock_threshold": 12, "timezone": "Asia/Yekaterinburg"}))).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.body);
        assert_eq!(res.body["low_stock_threshold"], 12);
        assert_eq!(res.body["timezone"], "Asia/Yekaterinburg");

        // The stock list's `low` filter follows the tenant's threshold.
        seed_catalogue(&app, &t, 10, &["A"]).await;
        let low = collect_pages(&app, &t.access_token, "/api/v1/stocks?low=true").await;
        assert!(!low.is_empty());
        assert!(low.iter().all(|s| s["available"].as_i64().unwrap() <= 12 && s["low_stock_threshold"] == 12), "{low:?}");
        let all = collect_pages(&app, &t.access_token, "/api/v1/stocks").await;
        assert_eq!(low.len(), all.iter().filter(|s| s["available"].as_i64().unwrap() <= 12).count());

        for (body, field) in [
            (json!({"timezone": "Mars/Olympus"}), "timezone"),
            (json!({"low_stock_threshold": -3}), "low_stock_threshold"),
            (json!({"low_stock_threshold": 2_000_000}), "low_stock_threshold"),
            (json!({"name": ""}), "name"),
            (json!({"plan": "gold"}), "plan"),
        ] {
            let res = app.call(Method::PATCH, "/api/v1/tenant", Some(&t.access_token), Some(body.clone())).await;
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", res.body);
            assert_field(&res.body, field);
        }
        let member = app.join(&t, "tenant-member@example.com", "member").await;
        assert_eq!(app.get("/api/v1/tenant", &member.access_token).await.body["low_stock_threshold"], 12);
        let res = app.call(Method::PATCH, "/api/v1/tenant", Some(&member.access_token), Some(json!({"low_stock_threshold": 1}))).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        let after = app.get("/api/v1/tenant", &t.access_token).await.body;
        assert_eq!((after["low_stock_threshold"].clone(), after["timezone"].clone()), (json!(12), json!("Asia/Yekaterinburg")));
        assert_eq!(app.call(Method::GET, "/api/v1/tenant", None, None).await.status, StatusCode::UNAUTHORIZED);
    }
}
