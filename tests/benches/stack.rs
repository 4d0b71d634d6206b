//! Benchmark: the in-process cost of the full middleware stack over a bare router (issue #4;
//! target median ≤ 5 µs per request, without Sentry).
//!
//! The same trivial handler is mounted twice: on a bare axum router, and inside everything a real
//! route gets (CORS off as in the default, compression, error envelope and request id, tracing,
//! timeout, panic catcher, body limit, the metrics route layer, and the rate limiter with its
//! in-process backend). Requests go through `tower::ServiceExt::oneshot`, alternating batches of
//! 1,000, and the per-request median of 60 batches is reported for each. With a bearer token the
//! limiter also verifies the JWT to find the tenant (the tenant scope).
//!
//! ```sh
//! cargo bench -p stock-tracker-tests --bench stack
//! ```

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use stock_tracker_tests::stack::{self, PATH};
use tower::ServiceExt;

async fn batch(router: &Router, token: Option<&str>, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let mut req = Request::get(PATH);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    start.elapsed() / n as u32
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (app, token) = stack::app().await;
        let (bare, full) = stack::routers(&app);

        println!("\n## Full stack over a bare router, per request (median of 60 batches of 1,000)\n");
        println!("| request | bare µs | full stack µs | added µs |");
        println!("|---|---|---|---|");
        for (label, token) in [("anonymous", None), ("with a bearer token (tenant scope)", Some(token.as_str()))] {
            let (mut b, mut f) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                batch(&bare, token, 1000).await;
                batch(&full, token, 1000).await;
            }
            for _ in 0..60 {
                b.push(batch(&bare, token, 1000).await);
                f.push(batch(&full, token, 1000).await);
            }
            let (b, f) = (median(b), median(f));
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!("| {label} | {:.2} | {:.2} | {:.2} |", us(b), us(f), us(f) - us(b));
        }
    });
}
