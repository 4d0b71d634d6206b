//! Rate limits through the API: per-route limits declared in the route table, the tenant limit,
//! headers, 429 answers, and fail-open / fail-closed when the limiter cannot decide.

use std::time::{Duration, Instant};

use stock_tracker_tests::TestResponse;

use super::*;

async fn from_ip(
    app: &TestApp,
    ip: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    app.call_from(ip, method, path, token.map(|t| format!("Bearer {t}")).as_deref(), body).await
}

async fn limited(tenant_limit: u64) -> TestApp {
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    base.replace(|c| {
        c.ratelimit.rate_limit_enabled = true;
        c.ratelimit.rate_limit_tenant = tenant_limit;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_ip() {
    let app = limited(100).await;
    let t = app.register("ip@example.com").await;
    let body = json!({ "email": t.email, "password": "wrong password" });
    for i in 0..5 {
        let res = from_ip(&app, "10.0.0.1", Method::POST, "/api/v1/auth/login", None, Some(body.clone())).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert_eq!(res.headers["x-ratelimit-remaining"], (4 - i).to_string().as_str(), "attempt {i}");
    }
    let res = from_ip(&app, "10.0.0.1", Method::POST, "/api/v1/auth/login", None, Some(body.clone())).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.body["error"], "Login rate limit exceeded");
    assert!(res.body["reset_at"].as_u64().unwrap() > 1_700_000_000);
    let retry: u64 = res.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(res.headers["x-ratelimit-limit"], "5");
    assert_eq!(res.headers["x-ratelimit-remaining"], "0");
    assert!(res.headers["ratelimit-policy"].to_str().unwrap().contains("\"login\";q=5;w=300"));
    // A wrong method is no login attempt: the address's anonymous budget counts it, the login
    // budget does not refuse it.
    let res = from_ip(&app, "10.0.0.1", Method::GET, "/api/v1/auth/login", None, None).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!res.headers["ratelimit-policy"].to_str().unwrap().contains("login"));
    assert_eq!(res.headers["x-ratelimit-limit"], "60", "the anonymous budget, the default");
    // Another address is not affected.
    let other = from_ip(
        &app,
        "10.0.0.2",
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": t.email, "password": t.password })),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_limit_covers_each_tenant_separately_with_headers() {
    let app = limited(3).await;
    let a = app.register("limit-a@example.com").await;
    let b = app.register("limit-b@example.com").await;
    for remaining in ["2", "1", "0"] {
        let res = from_ip(&app, "10.0.0.3", Method::GET, "/api/v1/products", Some(&a.access_token), None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.headers["x-ratelimit-limit"], "3");
        assert_eq!(res.headers["x-ratelimit-remaining"], remaining);
        assert_eq!(res.headers["x-ratelimit-tenant"], a.tenant_id.to_string().as_str());
        let reset: u64 = res.headers["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > 1_700_000_000, "epoch seconds");
        assert!(res.headers["ratelimit"].to_str().unwrap().starts_with("\"tenant\";r="));
    }
    let res = from_ip(&app, "10.0.0.3", Method::GET, "/api/v1/products", Some(&a.access_token), None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.body["error"], "Tenant rate limit exceeded");
    let res = from_ip(&app, "10.0.0.3", Method::GET, "/api/v1/products", Some(&b.access_token), None).await;
    assert_eq!(res.status, StatusCode::OK, "tenant B is not limited by tenant A");
    // A method the route does not serve spends the same budget and says so.
    let res = from_ip(&app, "10.0.0.3", Method::DELETE, "/api/v1/products", Some(&b.access_token), None).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers["x-ratelimit-remaining"], "1");
    let res = from_ip(&app, "10.0.0.3", Method::DELETE, "/api/v1/products", Some(&a.access_token), None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "tenant A has no budget left for any method");
    // Health is never limited.
    for _ in 0..10 {
        assert_eq!(
            from_ip(&app, "10.0.0.3", Method::GET, "/api/v1/health/live", None, None).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_fails_open_quickly_and_login_fails_closed() {
    let dead = stock_tracker_tests::proxy::TcpProxy::start("127.0.0.1:9".parse().unwrap()).await;
    dead.down();
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = base.register("failopen@example.com").await;
    let app = base
        .restart(|c| {
            c.ratelimit.rate_limit_enabled = true;
            c.redis.redis_url = Some(format!("redis://{}", dead.addr));
        })
        .await;
    for _ in 0..5 {
        let start = Instant::now();
        let res = from_ip(&app, "10.0.0.4", Method::GET, "/api/v1/products", Some(&t.access_token), None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(start.elapsed() < Duration::from_millis(250), "fail-open took {:?}", start.elapsed());
    }
    assert!(app.app.metrics.ratelimit_fail_open.get() >= 5);
    let res = from_ip(
        &app,
        "10.0.0.4",
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": t.email, "password": t.password })),
    )
    .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "login is fail-closed: {:?}", res.body);
    assert_eq!(res.error_code(), Some("rate_limiter_unavailable"));
    // The limiter answers before the route: the envelope still names the request.
    let id = res.headers["x-request-id"].to_str().unwrap();
    assert_eq!(res.body["error"]["request_id"], id, "{:?}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limiting_survives_redis_going_away_and_resumes_when_it_returns() {
    let Some(proxy) = stock_tracker_tests::redis_proxy().await else { return };
    let base = TestApp::try_new(stock_tracker_tests::Backend::Sqlite).await.unwrap();
    let t = base.register("redis-outage@example.com").await;
    let app = base
        .restart(|c| {
            c.ratelimit.rate_limit_enabled = true;
            c.ratelimit.rate_limit_tenant = 3;
            c.redis.redis_url = Some(format!("redis://{}", proxy.addr));
        })
        .await;
    let get = || from_ip(&app, "10.0.0.5", Method::GET, "/api/v1/products", Some(&t.access_token), None);
    // Give the client its first connection, then: limited through Redis.
    let start = Instant::now();
    while get().await.headers.get("x-ratelimit-limit").is_none() {
        assert!(start.elapsed() < Duration::from_secs(5), "Redis limiter never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get().await.status);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");

    // Redis goes away: every request succeeds, none waits more than the decision budget (plus
    // slack for a debug build), the fail-open counter grows.
    proxy.down();
    tokio::time::sleep(Duration::from_millis(200)).await; // the proxy cuts open connections within 20 ms
    let before = app.app.metrics.ratelimit_fail_open.get();
    for _ in 0..20 {
        let start = Instant::now();
        let res = get().await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(start.elapsed() < Duration::from_millis(150), "took {:?}", start.elapsed());
    }
    assert!(app.app.metrics.ratelimit_fail_open.get() >= before + 20);

    // Redis returns: limiting resumes by itself (the tenant's window is still full).
    proxy.up();
    let start = Instant::now();
    loop {
        if get().await.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "limiting did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
