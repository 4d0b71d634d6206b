//! A real Prometheus (Debian's `prometheus`, started by this test on loopback) scrapes the host
//! while it serves, and every query of the deploy kit's Grafana dashboard returns data (except the
//! cache panel: no cache exists yet).

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
    let app = base
        .restart(|c| {
            c.ratelimit.rate_limit_enabled = true;
            c.ratelimit.rate_limit_global = 1_000_000;
            c.ratelimit.rate_limit_tenant = 1_000_000;
        })
        .await;
    // Serve for real, so Prometheus can scrape over TCP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let router = stock_tracker::router::router(app.app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

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

    // Load: requests, a sync, and a 500-free mix over a few scrape intervals.
    let t = app.register("prom@example.com").await;
    let connection_id = app.create_connection(&t, "WB", "prom-token").await;
    app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let app = Arc::new(app);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        app.get("/api/v1/products", &t.access_token).await;
        app.get("/api/v1/stocks?low=true", &t.access_token).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let dashboard: Value =
        serde_json::from_str(include_str!("../../../examples/deploy/grafana/dashboards/stock-tracker.json")).unwrap();
    let queries: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["title"].as_str().unwrap().to_owned(), p["targets"][0]["expr"].as_str().unwrap().to_owned()))
        .collect();
    stock_tracker::plugins::egress::ensure_tls_provider();
    let http = reqwest::Client::new();
    for (title, expr) in queries {
        if title.contains("Cache") || title.contains("fail-open") {
            continue; // no cache yet; no fail-open happened
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut url = url::Url::parse(&format!("http://127.0.0.1:{prom_port}/api/v1/query")).unwrap();
            url.query_pairs_mut().append_pair("query", &expr);
            let res: Value = http
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map(|r| r.json())
                .unwrap_or_else(|e| panic!("{title}: {e}"))
                .await
                .unwrap_or(Value::Null);
            let results = res["data"]["result"].as_array().cloned().unwrap_or_default();
            if !results.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{title}: `{expr}` returned no data: {res}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
