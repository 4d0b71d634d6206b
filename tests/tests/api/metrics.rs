//! `GET /metrics`: the seed's series by route template, bounded labels, plugin and limiter series.

use super::*;

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_are_labelled_by_route_template() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("metrics@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "metrics-token").await;
    for _ in 0..3 {
        app.get("/api/v1/products", &t.access_token).await;
    }
    app.get(&format!("/api/v1/connections/{connection_id}"), &t.access_token).await;
    app.get(&format!("/api/v1/products/{}", Uuid::now_v7()), &t.access_token).await;
    app.get("/api/v1/no/such/path/42", &t.access_token).await;
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run = res.body["sync_run_id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if app.get(&format!("/api/v1/sync-runs/{run}"), &t.access_token).await.body["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let res = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = res.body.as_str().unwrap().to_owned();
    assert_eq!(
        line_value(&text, r#"stock_tracker_requests_total{endpoint="/api/v1/products",method="GET",status="200"}"#),
        Some(3.0)
    );
    assert!(text.contains(r#"endpoint="/api/v1/connections/{id}""#), "ids become {{id}}");
    assert!(
        text.contains(r#"stock_tracker_requests_total{endpoint="/api/v1/products/{id}",method="GET",status="404"} 1"#)
    );
    assert!(text.contains(r#"stock_tracker_requests_total{endpoint="unmatched",method="GET",status="404"} 1"#));
    assert!(!text.contains(&connection_id.to_string()), "no raw id in any label");
    assert!(!text.contains("no/such/path"));
    for le in ["0.01", "0.05", "0.1", "0.5", "1", "2.5", "5", "10", "+Inf"] {
        assert!(
            text.contains(&format!(
                r#"stock_tracker_request_duration_seconds_bucket{{endpoint="/api/v1/products",method="GET",le="{le}"}}"#
            )),
            "bucket {le}"
        );
    }
    assert_eq!(line_value(&text, "stock_tracker_active_tenants "), Some(1.0));
    assert!(text.contains(r#"stock_tracker_plugin_calls_total{outcome="ok",plugin="wildberries"}"#), "plugin calls");
    assert!(text.contains(r#"stock_tracker_plugin_http_requests_total{outcome="ok",plugin="wildberries"}"#));
    // Every call's largest memory, bucketed from 1 MiB: the WB calls of one small sync fit in 64.
    let calls = line_value(&text, r#"stock_tracker_plugin_memory_peak_bytes_count{plugin="wildberries"}"#).unwrap();
    assert!(calls >= 3.0, "one observation per call");
    assert_eq!(
        line_value(&text, r#"stock_tracker_plugin_memory_peak_bytes_bucket{plugin="wildberries",le="67108864"}"#),
        Some(calls)
    );
    assert!(
        text.contains(r#"stock_tracker_sync_duration_seconds_count{marketplace="wildberries",status="succeeded"} 1"#)
    );
    assert_eq!(line_value(&text, r#"stock_tracker_sync_products_total{marketplace="wildberries"}"#), Some(120.0));
    assert!(text.contains("stock_tracker_build_info{version="));
    assert!(text.contains("process_resident_memory_bytes"));
    assert!(!text.contains("tenant_id"), "no per-tenant label");
}
