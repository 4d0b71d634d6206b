//! Benchmark: webhook fan-out (issue 12): 1,000 events recorded in one batch for a tenant with
//! 10 endpoints (10,000 deliveries, each a durable job: signed, sent, recorded) to a receiver on
//! loopback, by the app's workers, on each backend. The baseline, measured in the same process
//! just before, is the same number of signed POSTs to the same receiver straight from a client
//! at the same concurrency, with no database at all: the ratio is what durability costs.
//!
//! ```sh
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p stock-tracker-tests --bench webhooks
//! ```
//! `BENCH_EVENTS` (default 1000) and `BENCH_ENDPOINTS` (default 10) change the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stock_tracker::store::events::NewEvent;
use stock_tracker_tests::webhook_receiver::{Receiver, sign_v1};
use stock_tracker_tests::{Backend, TestApp};

stock_tracker::product_allocator!();

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `n` signed POSTs with `concurrency` in flight, straight to the receiver.
async fn baseline(receiver: &Receiver, n: usize, concurrency: usize) -> Duration {
    let client = reqwest::Client::new();
    let url = Arc::new(receiver.url("/baseline"));
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body = r#"{"type":"stock.low","timestamp":"2026-12-02T00:00:00.000Z","data":{"sku":"SKU-0001","warehouse":"A","available":3}}"#;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            for i in (worker..n).step_by(concurrency) {
                let id = format!("msg_{i}");
                let ts = chrono::Utc::now().timestamp().to_string();
                let res = client
                    .post(url.as_str())
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", &ts)
                    .header("webhook-signature", sign_v1(secret, &id, &ts, body.as_bytes()))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let _ = res.bytes().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    start.elapsed()
}

async fn fan_out(backend: Backend, events: usize, endpoints: usize, workers: u32) {
    let Some(mut app) = TestApp::try_with_config(backend, |c| {
        c.webhooks.webhook_allow_private = true;
        c.jobs.jobs_workers = workers;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let t = app.register("bench@example.com").await;
    for _ in 0..endpoints {
        let res = app
            .post(
                "/api/v1/webhooks",
                Some(&t.access_token),
                serde_json::json!({"url": receiver.url("/in"), "events": ["stock.low"]}),
            )
            .await;
        assert_eq!(res.status, axum::http::StatusCode::CREATED, "{:?}", res.body);
    }
    let n = events * endpoints;
    let base = baseline(&receiver, n, workers as usize).await;
    let before = receiver.count();

    let batch: Vec<NewEvent> = (0..events)
        .map(|i| NewEvent {
            event_type: "stock.low",
            data: serde_json::json!({"sku": format!("SKU-{i:04}"), "warehouse": "Коледино", "available": 3, "threshold": 5}),
        })
        .collect();
    let start = Instant::now();
    stock_tracker::events::record(&app.app, t.tenant_id, &batch, None).await.unwrap();
    let recorded = start.elapsed();
    while receiver.count() - before < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(start.elapsed() < Duration::from_secs(600), "deliveries stalled at {}", receiver.count() - before);
    }
    let delivered = start.elapsed();
    let (rate, base_rate) = (n as f64 / delivered.as_secs_f64(), n as f64 / base.as_secs_f64());
    println!(
        "| {backend:?} | {events} events × {endpoints} endpoints, {workers} workers | {:.0} ms | {rate:.0} deliveries/s | {base_rate:.0} POSTs/s | {:.2} |",
        recorded.as_secs_f64() * 1000.0,
        rate / base_rate
    );
    app.stop_background(Duration::from_secs(1)).await;
}

fn main() {
    let (events, endpoints) = (env("BENCH_EVENTS", 1000), env("BENCH_ENDPOINTS", 10));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        println!(
            "\n| backend | case | recording the batch | delivered | baseline (no database) | ratio |\n|---|---|---|---|---|---|"
        );
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for workers in [4, 16] {
                fan_out(backend, events, endpoints, workers).await;
            }
        }
    });
}
