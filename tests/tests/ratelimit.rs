//! The rate limiter's two backends under the same tests: in-process, and real Redis
//! (`TEST_REDIS_URL`, started by `.ci/run`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::{ClientLike, Config};
use stock_tracker::ratelimit::memory::MemoryLimiter;
use stock_tracker::ratelimit::redis::RedisLimiter;
use stock_tracker::ratelimit::{Limiter, Scope};
use uuid::Uuid;

async fn limiters() -> Vec<(&'static str, Arc<Limiter>)> {
    let mut out = vec![("memory", Arc::new(Limiter::Memory(MemoryLimiter::default())))];
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => {
            let client = fred::types::Builder::from_config(Config::from_url(&url).unwrap()).build().unwrap();
            client.init().await.expect("connect to TEST_REDIS_URL");
            out.push(("redis", Arc::new(Limiter::Redis(RedisLimiter::new(client)))));
        }
        Err(_) => {
            assert!(std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(), "TEST_REDIS_URL is required");
            eprintln!("note: TEST_REDIS_URL is not set; testing the in-process backend only");
        }
    }
    out
}

fn scope(name: &'static str, limit: u64, window: Duration) -> Scope {
    Scope { name, key: Uuid::now_v7().to_string().into(), limit, window }
}

/// Sleeps until `at_ms` into the current wall-clock window of `window_ms` (Redis runs on this
/// machine, so its clock agrees).
async fn sleep_until_phase(window_ms: u64, at_ms: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let phase = now % window_ms;
    let wait = if phase < at_ms { at_ms - phase } else { window_ms - phase + at_ms };
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_exactly_the_limit() {
    for (name, limiter) in limiters().await {
        let s = scope("tenant", 50, Duration::from_secs(60));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (limiter, s) = (limiter.clone(), s.clone());
                tokio::spawn(async move { limiter.check(&[s]).await.unwrap().allowed })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            allowed += usize::from(t.await.unwrap());
        }
        assert_eq!(allowed, 50, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_twice_the_limit_keeps_getting_about_the_limit() {
    for (name, limiter) in limiters().await {
        let s = scope("user", 10, Duration::from_secs(1));
        sleep_until_phase(1000, 0).await;
        let mut per_window = Vec::new();
        for _ in 0..6 {
            let mut allowed = 0;
            for _ in 0..20 {
                allowed += usize::from(limiter.check(std::slice::from_ref(&s)).await.unwrap().allowed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            per_window.push(allowed);
        }
        // Never locked out, never far over: the estimate is approximate by design.
        assert!(per_window.iter().all(|n| (6..=12).contains(n)), "{name}: {per_window:?}");
        assert!(per_window.iter().sum::<usize>() <= 6 * 10 + 6, "{name}: {per_window:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_a_window_edge_stays_within_the_limit() {
    for (name, limiter) in limiters().await {
        let s = scope("ip", 10, Duration::from_secs(1));
        sleep_until_phase(1000, 900).await;
        let mut allowed = 0;
        for _ in 0..10 {
            allowed += usize::from(limiter.check(std::slice::from_ref(&s)).await.unwrap().allowed);
        }
        sleep_until_phase(1000, 50).await;
        for _ in 0..10 {
            allowed += usize::from(limiter.check(std::slice::from_ref(&s)).await.unwrap().allowed);
        }
        // A fixed window would admit 20 here; the sliding estimate admits at most one over.
        assert!((10..=11).contains(&allowed), "{name}: {allowed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_are_independent_and_refusals_charge_nothing() {
    for (name, limiter) in limiters().await {
        let global = scope("global", 1000, Duration::from_secs(60));
        let (a, b) = (scope("tenant", 3, Duration::from_secs(60)), scope("tenant", 3, Duration::from_secs(60)));
        for _ in 0..10 {
            limiter.check(&[global.clone(), a.clone()]).await.unwrap();
        }
        let d = limiter.check(&[global.clone(), a.clone()]).await.unwrap();
        assert!(!d.allowed, "{name}");
        assert_eq!(d.refused_by, Some(1), "{name}: the tenant scope refused");
        assert!(d.retry_after > Duration::ZERO);
        let other = limiter.check(&[global.clone(), b.clone()]).await.unwrap();
        assert!(other.allowed, "{name}: tenant B is not affected by tenant A");
        // Global was charged for A's 3 allowed requests and B's one, not for A's 8 refusals:
        // 996 remain after B's.
        assert_eq!(other.scopes[0].remaining, 1000 - 4, "{name}");
        assert_eq!(other.scopes[1].remaining, 2, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peeking_charges_nothing_and_sees_what_checks_spent() {
    for (name, limiter) in limiters().await {
        let s = scope("login_account", 3, Duration::from_secs(60));
        for _ in 0..10 {
            let d = limiter.peek(std::slice::from_ref(&s)).await.unwrap();
            assert!(d.allowed, "{name}");
            assert_eq!(d.scopes[0].remaining, 2, "{name}: looking spends nothing");
        }
        for _ in 0..3 {
            assert!(limiter.check(std::slice::from_ref(&s)).await.unwrap().allowed, "{name}");
        }
        let d = limiter.peek(std::slice::from_ref(&s)).await.unwrap();
        assert!(!d.allowed, "{name}: three failures fill a budget of three");
        assert!(d.retry_after > Duration::ZERO, "{name}");
    }
}
