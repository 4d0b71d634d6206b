//! A real Prometheus (Debian's `prometheus`, started by this test on loopback) scrapes the host
//! while it serves: the seed's PromQL queries answer (a number, 0 or NaN for an empty ratio
//! included) on a fresh instance and after traffic, a failed sync and a 5xx, and every query of
//! the deploy kit's Grafana dashboard returns data (except the fail-open panel: none happened).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_the_dashboard_queries_return_data() {
    if Command::new("prometheus").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        assert!(std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(), "prometheus is required");
        eprintln!("note: no prometheus binary; skipping");
        return;
    }
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    // Replaced, not a second instance: the syncs below must run here, where Prometheus scrapes.
    let app = base
        .replace(|c| {
            c.ratelimit.rate_limit_enabled = true;
            c.ratelimit.rate_limit_global = 1_000_000;
            c.ratelimit.rate_limit_tenant = 1_000_000;
        })
        .await;
    // Serve for real, so Prometheus can scrape over TCP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let router = stock_tracker::router::router(app.app.clone());
    tokio::spawn(async move { axum::serve(listener, axum::ServiceExt::into_make_service(router)).await.unwrap() });

    let dir = stock_tracker_tests::TempDir::new("st-prom");
    let prom_port = free_port();
    std::fs::write(
        dir.0.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: stock-tracker\n    static_configs:\n      - targets: ['{api_addr}']\n"),
    )
    .unwrap();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.0.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    stock_tracker::plugins::egress::ensure_tls_provider();
    let http = reqwest::Client::new();
    let query = |expr: String| {
        let http = http.clone();
        async move {
            let mut url = url::Url::parse(&format!("http://127.0.0.1:{prom_port}/api/v1/query")).unwrap();
            url.query_pairs_mut().append_pair("query", &expr);
            let res: Value = match http.get(url).send().await.and_then(|r| r.error_for_status()) {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            res["data"]["result"].as_array().cloned().unwrap_or_default()
        }
    };
    // Waits until `expr` answers; returns the first result's value.
    let answers = |title: String, expr: String| {
        let query = &query;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let results = query(expr.clone()).await;
                if let Some(first) = results.first() {
                    return first["value"][1].as_str().unwrap_or_default().to_owned();
                }
                assert!(Instant::now() < deadline, "{title}: `{expr}` returned no data");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };

    // A fresh instance: every seed query already answers (the series exist at 0).
    for (title, expr) in SEED_QUERIES {
        let value = answers(format!("fresh: {title}"), expr.to_owned()).await;
        assert!(value == "0" || value == "NaN", "fresh: {title}: {value}");
    }

    // Load: requests, a sync that succeeds, one that fails, a 5xx, over a few scrape intervals.
    let t = app.register("prom@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "prom-token").await;
    let run = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    finished_run(&app, &t.access_token, run.body["sync_run_id"].as_str().unwrap()).await;
    app.fake.revoke_token("prom-token");
    let run = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    assert_eq!(
        finished_run(&app, &t.access_token, run.body["sync_run_id"].as_str().unwrap()).await["status"],
        "failed"
    );
    // The marketplace asks to wait while a connection is checked: a 503.
    app.fake.rate_limit_next(fake_wildberries::Endpoint::Cards, 1, 30);
    let res = app.post("/api/v1/connections", Some(&t.access_token), app.connection_body("WB 2", "prom-token-2")).await;
    assert!(res.status.is_server_error(), "{:?}", res.body);
    let fivexx = r#"sum(rate(stock_tracker_requests_total{status_code=~"5.."}[5m]))"#;
    let app = Arc::new(app);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        app.get("/api/v1/products", &t.access_token).await;
        app.get("/api/v1/stocks?low=true", &t.access_token).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (title, expr) in SEED_QUERIES {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = answers(title.to_owned(), expr.to_owned()).await;
            let number: f64 = value.parse().unwrap_or(f64::NAN);
            if number > 0.0 || title.contains("tenants") && number >= 1.0 {
                break;
            }
            assert!(Instant::now() < deadline, "after traffic: {title}: `{expr}` = {value}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    while answers("5xx rate".into(), fivexx.into()).await.parse::<f64>().unwrap_or(0.0) <= 0.0 {
        assert!(Instant::now() < deadline, "the 5xx is not seen by `{fivexx}`");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let dashboard: Value =
        serde_json::from_str(include_str!("../../../examples/deploy/grafana/dashboards/stock-tracker.json")).unwrap();
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["title"].as_str().unwrap().to_owned(), p["targets"][0]["expr"].as_str().unwrap().to_owned()))
        .collect();
    for (title, expr) in queries {
        if title.contains("fail-open") {
            continue; // no fail-open happened
        }
        answers(title, expr).await;
    }
}

/// The seed's queries, as its document gives them.
const SEED_QUERIES: [(&str, &str); 7] = [
    ("request rate", "sum(rate(stock_tracker_requests_total[5m]))"),
    ("error rate", "sum(rate(stock_tracker_errors_total[5m]))"),
    (
        "sync success rate",
        r#"sum(rate(stock_tracker_sync_products_total{status="success"}[5m])) / sum(rate(stock_tracker_sync_products_total[5m]))"#,
    ),
    ("p95 latency", "histogram_quantile(0.95, sum by (le) (rate(stock_tracker_request_duration_seconds_bucket[5m])))"),
    ("active tenants", "stock_tracker_active_tenants"),
    ("job rate", "sum(rate(stock_tracker_jobs_total[5m]))"),
    (
        "cache hit ratio",
        "sum(rate(stock_tracker_cache_hits_total[5m])) / (sum(rate(stock_tracker_cache_hits_total[5m])) + sum(rate(stock_tracker_cache_misses_total[5m])))",
    ),
];
