//! Tenant isolation: every route, tenant B sees none of tenant A's resources (404, never 403),
//! and no list shows them.

use super::*;

both_backends! {
    async fn another_tenants_resources_are_not_found(app) {
        let a = app.register("tenant-a@example.com").await;
        let b = app.register("tenant-b@example.com").await;
        let (connection_id, products) = seed_catalogue(&app, &a, 3, &["Коледино", "Подольск"]).await;
        let product_id = products[0].1;
        let run = app.app.store.insert_sync_run(a.tenant_id, connection_id).await.unwrap();

        let bt = b.access_token.as_str();
        let single = [
            format!("/api/v1/connections/{connection_id}"),
            format!("/api/v1/products/{product_id}"),
            format!("/api/v1/sync-runs/{}", run.sync_run_id),
        ];
        for path in &single {
            let res = app.get(path, bt).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}: {:?}", res.body);
            assert_eq!(res.error_code(), Some("not_found"));
            assert_eq!(app.get(path, &a.access_token).await.status, StatusCode::OK, "{path} for its owner");
        }
        let conn_path = format!("/api/v1/connections/{connection_id}");
        // Even an invalid body is a 404, not a 422: the existence check comes first.
        for body in [json!({ "name": "hijacked" }), json!({ "name": "" })] {
            let res = app.call(Method::PATCH, &conn_path, Some(bt), Some(body)).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND);
        }
        assert_eq!(app.call(Method::DELETE, &conn_path, Some(bt), None).await.status, StatusCode::NOT_FOUND);

        for list in ["/api/v1/connections", "/api/v1/products", "/api/v1/stocks", "/api/v1/sync-runs",
                     &format!("/api/v1/products?connection_id={connection_id}"),
                     &format!("/api/v1/stocks?connection_id={connection_id}"),
                     &format!("/api/v1/sync-runs?connection_id={connection_id}")] {
            let res = app.get(list, bt).await;
            assert_eq!(res.status, StatusCode::OK, "{list}");
            assert_eq!(res.body["items"], json!([]), "{list} shows another tenant's rows");
        }
        let members = app.get("/api/v1/members", bt).await;
        assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
        assert!(!members.body.to_string().contains("tenant-a@"));

        // A's data is intact after B's attempts.
        let res = app.get(&conn_path, &a.access_token).await;
        assert_eq!(res.status, StatusCode::OK, "B deleted A's connection");
        assert!(res.body["name"].as_str().unwrap().starts_with("seed-"), "B renamed A's connection: {:?}", res.body);
        assert_eq!(app.get("/api/v1/products", &a.access_token).await.body["items"].as_array().unwrap().len(), 3);
    }
}
