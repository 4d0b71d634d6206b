//! Benchmark: the in-process cost of the full middleware stack over a bare router (issue #4;
//! target median ≤ 5 µs per request, without Sentry).
//!
//! The same trivial handler is mounted twice: on a bare axum router, and inside everything a real
//! route gets (CORS off as in the default; the front: request id, body limit, span, compression,
//! panic catcher, error envelope; the route guard: metrics, timeout, panic catcher; and the rate
//! limiter with its in-process backend). Requests go through `tower::ServiceExt::oneshot`, alternating batches of
//! 1,000, and the per-request median of 60 batches is reported for each. With a bearer token the
//! limiter also verifies the JWT to find the tenant (the tenant scope): once per token text (the
//! cached path, a client's steady state), and on every request when each carries a token the app
//! has never seen (first use: HMAC, base64, JSON; the bare router gets the same tokens).
//!
//! ```sh
//! cargo bench -p stock-tracker-tests --bench stack
//! ```

use std::time::{Duration, Instant};

use std::convert::Infallible;

use axum::body::Body;
use axum::http::Request;
use stock_tracker_tests::stack::{self, PATH};
use tower::ServiceExt;

stock_tracker::product_allocator!();

/// Which token requests carry.
#[derive(Clone, Copy)]
enum Token<'a> {
    None,
    /// The same one every time (verified once, then remembered).
    Same(&'a str),
    /// A new one every request, never seen before.
    Fresh(&'a [String]),
}

async fn batch<S>(router: &S, token: Token<'_>, peer: bool, n: usize) -> Duration
where
    S: tower::Service<Request<Body>, Response = axum::response::Response, Error = Infallible> + Clone,
{
    let start = Instant::now();
    for i in 0..n {
        let mut req = Request::get(PATH);
        if peer {
            // As served: the client's address, so anonymous requests spend a per-IP budget too.
            req = req.extension(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
        }
        match token {
            Token::None => {}
            Token::Same(t) => req = req.header("authorization", format!("Bearer {t}")),
            Token::Fresh(tokens) => req = req.header("authorization", format!("Bearer {}", tokens[i])),
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
        let (app, tenant) = stack::app().await;
        let (bare, full) = stack::routers(&app);

        println!("machine: {}", stock_tracker_tests::bench::machine());
        println!("\n## Full stack over a bare router, per request (median of 60 batches of 1,000)\n");
        println!("| request | bare µs | full stack µs | added µs | bare ÷ full |");
        println!("|---|---|---|---|---|");
        let cases = [
            ("anonymous, no client address", false, false, false),
            ("anonymous, from a client address (as served)", false, false, true),
            ("with a token, cached", true, false, true),
            ("with a token, first use", true, true, true),
        ];
        for (label, with_token, fresh, peer) in cases {
            let (mut b, mut f) = (Vec::new(), Vec::new());
            for round in 0..65 {
                // First use: every batch its own thousand new tokens, the same for both routers.
                let tokens = if fresh { stack::fresh_tokens(&app, &tenant, 1000) } else { Vec::new() };
                let token = match (with_token, fresh) {
                    (false, _) => Token::None,
                    (true, false) => Token::Same(&tenant.access_token),
                    (true, true) => Token::Fresh(&tokens),
                };
                let (tb, tf) = (batch(&bare, token, peer, 1000).await, batch(&full, token, peer, 1000).await);
                if round >= 5 {
                    b.push(tb);
                    f.push(tf);
                }
            }
            let (b, f) = (median(b), median(f));
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            println!("| {label} | {:.2} | {:.2} | {:.2} | {:.2} |", us(b), us(f), us(f) - us(b), us(b) / us(f));
        }
    });
}
