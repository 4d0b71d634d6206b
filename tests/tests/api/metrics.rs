//! `GET /metrics`: the seed's series by route template, exactly as its document labels them,
//! present from the start; errors by envelope code, panics and timeouts included.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use stock_tracker::router::{GuardLayer, with_stack};
use utoipa_axum::router::OpenApiRouter;

use super::*;

async fn scrape(app: &TestApp) -> String {
    let res = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(res.status, StatusCode::OK);
    res.body.as_str().unwrap().to_owned()
}

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
        line_value(
            &text,
            r#"stock_tracker_requests_total{endpoint="/api/v1/products",method="GET",status_code="200"}"#
        ),
        Some(3.0)
    );
    assert!(text.contains(r#"endpoint="/api/v1/connections/{id}""#), "ids become {{id}}");
    assert!(text.contains(
        r#"stock_tracker_requests_total{endpoint="/api/v1/products/{id}",method="GET",status_code="404"} 1"#
    ));
    assert!(text.contains(r#"stock_tracker_requests_total{endpoint="unmatched",method="GET",status_code="404"} 1"#));
    assert!(text.contains(r#"stock_tracker_errors_total{endpoint="/api/v1/products/{id}",error_type="not_found"} 1"#));
    assert!(text.contains(r#"stock_tracker_errors_total{endpoint="unmatched",error_type="not_found"} 1"#));
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
    assert!(text.contains(r#"stock_tracker_sync_duration_seconds_count{marketplace="wildberries"} 1"#));
    assert_eq!(
        line_value(&text, r#"stock_tracker_sync_products_total{marketplace="wildberries",status="success"}"#),
        Some(120.0)
    );
    assert_eq!(
        line_value(&text, r#"stock_tracker_sync_products_total{marketplace="wildberries",status="failed"}"#),
        Some(0.0)
    );
    assert!(text.contains("stock_tracker_build_info{version="));
    assert!(text.contains("process_resident_memory_bytes"));
    assert!(!text.contains("tenant_id"), "no per-tenant label");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_series_exist_at_zero_on_a_fresh_instance() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let text = scrape(&app).await;
    for series in [
        r#"stock_tracker_requests_total{endpoint="/api/v1/products",method="GET",status_code="200"} 0"#,
        r#"stock_tracker_requests_total{endpoint="/api/v1/connections/{id}/sync",method="POST",status_code="202"} 0"#,
        r#"stock_tracker_requests_total{endpoint="/api/v1/connections",method="POST",status_code="503"} 0"#,
        r#"stock_tracker_requests_total{endpoint="/api/v1/products/{id}",method="GET",status_code="500"} 0"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/products/{id}",error_type="not_found"} 0"#,
        r#"stock_tracker_request_duration_seconds_count{endpoint="/api/v1/stocks",method="GET"} 0"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/products",error_type="internal"} 0"#,
        r#"stock_tracker_errors_total{endpoint="sync",error_type="sync_failed"} 0"#,
        r#"stock_tracker_sync_products_total{marketplace="ozon",status="success"} 0"#,
        r#"stock_tracker_sync_products_total{marketplace="yandex_market",status="failed"} 0"#,
        r#"stock_tracker_sync_duration_seconds_count{marketplace="wildberries"} 0"#,
        "stock_tracker_active_tenants 0",
    ] {
        assert!(text.contains(series), "missing on a fresh instance: {series}");
    }
    for line in text.lines().filter(|l| l.starts_with("stock_tracker_requests_total")) {
        assert!(!line.contains(r#",status=""#) && !line.contains(r#"{status=""#), "the label is status_code: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_counted_by_its_envelope_code_panics_and_timeouts_included() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("errors@example.com").await;
    app.post("/api/v1/auth/login", None, json!({ "email": t.email, "password": "wrong password" })).await;
    app.post(
        "/api/v1/connections",
        Some(&t.access_token),
        json!({ "marketplace": "ebay", "name": "x", "credentials": { "k": "v" } }),
    )
    .await;
    app.get("/api/v1/products?limit=0", &t.access_token).await;
    app.call(Method::GET, "/api/v1/products", None, None).await;
    // A method the route does not serve is answered and counted under the route.
    app.call(Method::DELETE, "/api/v1/products", Some(&t.access_token), None).await;
    let text = scrape(&app).await;
    for series in [
        r#"stock_tracker_errors_total{endpoint="/api/v1/products",error_type="method_not_allowed"} 1"#,
        r#"stock_tracker_requests_total{endpoint="/api/v1/products",method="DELETE",status_code="405"} 1"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/auth/login",error_type="unauthorized"} 1"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/connections",error_type="invalid_field"} 1"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/products",error_type="invalid_field"} 1"#,
        r#"stock_tracker_errors_total{endpoint="/api/v1/products",error_type="unauthorized"} 1"#,
    ] {
        assert!(text.contains(series), "{series}");
    }

    // A route that panics and one that overruns its deadline, under exactly the API's layers.
    let guard = GuardLayer::limited(app.app.clone(), Duration::from_millis(50), None);
    let routes = OpenApiRouter::new()
        .route("/boom", get(|| async { std::convert::identity::<fn() -> StatusCode>(|| panic!("a bug"))() }))
        .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }))
        .route_layer(guard);
    let (routes, _) = routes.split_for_parts();
    let service = with_stack(routes.with_state(Arc::clone(&app.app)), None, false);
    for (path, status) in [("/boom", StatusCode::INTERNAL_SERVER_ERROR), ("/slow", StatusCode::REQUEST_TIMEOUT)] {
        let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let res = tower::ServiceExt::oneshot(service.clone(), req).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
    }
    let text = scrape(&app).await;
    assert!(
        text.contains(r#"stock_tracker_errors_total{endpoint="/boom",error_type="panic"} 1"#),
        "panics are counted"
    );
    assert!(text.contains(r#"stock_tracker_requests_total{endpoint="/boom",method="GET",status_code="500"} 1"#));
    assert!(
        text.contains(r#"stock_tracker_errors_total{endpoint="/slow",error_type="timeout"} 1"#),
        "timeouts are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_counts_against_the_success_rate() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = app.register("failing-sync@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "failing-sync-token").await;
    // The seller revokes the token: the run fails before any product.
    app.fake.revoke_token("failing-sync-token");
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let run = finished_run(&app, &t.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed");
    eventually("the failed job counted", || app.app.metrics.jobs.with_label_values(&["sync", "failed"]).get() == 1)
        .await;
    let text = scrape(&app).await;
    assert_eq!(
        line_value(&text, r#"stock_tracker_sync_products_total{marketplace="wildberries",status="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        line_value(&text, r#"stock_tracker_sync_products_total{marketplace="wildberries",status="success"}"#),
        Some(0.0)
    );
    assert_eq!(line_value(&text, r#"stock_tracker_errors_total{endpoint="sync",error_type="sync_failed"}"#), Some(1.0));
    assert_eq!(line_value(&text, r#"stock_tracker_sync_duration_seconds_count{marketplace="wildberries"}"#), Some(1.0));
    assert_eq!(
        line_value(&text, r#"stock_tracker_jobs_total{job="sync",status="failed"}"#),
        Some(1.0),
        "the seed's task counter"
    );
    assert_eq!(line_value(&text, r#"stock_tracker_jobs_total{job="sync",status="success"}"#), Some(0.0));
}

/// Every route of the document has its guard (metrics, timeout, panic catcher, rate limits): a
/// stranger's request to each operation is counted under its own template, whatever it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_counted_by_its_route() {
    let app = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let document = app.call(Method::GET, "/api/v1/openapi.json", None, None).await.body;
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() && path != "/metrics" {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() > 40, "the document lists the API: {}", operations.len());
    for (method, path) in &operations {
        let concrete = path.split('/').map(|s| if s.starts_with('{') { Uuid::nil().to_string() } else { s.to_owned() });
        let uri = concrete.collect::<Vec<_>>().join("/");
        app.call(method.parse().unwrap(), &uri, None, None).await;
    }
    let text = scrape(&app).await;
    for (method, path) in &operations {
        let prefix = format!(r#"stock_tracker_requests_total{{endpoint="{path}",method="{method}","#);
        let count: f64 = text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        // The document itself was fetched once more, to begin with.
        let expected = if path == "/api/v1/openapi.json" { 2.0 } else { 1.0 };
        assert_eq!(count, expected, "{method} {path} is counted under its template");
    }
}
