//! Health probes: shapes, readiness following the database, liveness doing no I/O.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stock_tracker::Config;
use stock_tracker_tests::proxy::TcpProxy;
use stock_tracker_tests::{
    Backend, TEST_CREDENTIALS_KEY, TEST_JWT_SECRET, TempDir, create_postgres_database, postgres_admin_url,
};

use super::*;

async fn probe(app: &TestApp, path: &str) -> stock_tracker_tests::TestResponse {
    app.call(Method::GET, path, None, None).await
}

/// Polls readiness until it answers `status`, for at most `within`.
async fn ready_becomes(app: &TestApp, status: StatusCode, within: Duration) -> stock_tracker_tests::TestResponse {
    let start = Instant::now();
    loop {
        let res = probe(app, "/api/v1/health/ready").await;
        if res.status == status || start.elapsed() > within {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends! {
    async fn probe_shapes(app) {
        let res = probe(&app, "/api/v1/health/").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["status"], "healthy");
        assert_eq!(res.body["service"], "stock-tracker");
        assert!(res.body["timestamp"].as_str().is_some());
        let live = probe(&app, "/api/v1/health/live").await;
        assert_eq!(live.status, StatusCode::OK);
        assert_eq!(live.body["status"], "alive");
        assert!(live.body["timestamp"].as_str().is_some());
        let ready = probe(&app, "/api/v1/health/ready").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.body["status"], "healthy");
        assert_eq!(ready.body["checks"]["database"]["status"], "healthy");
        assert!(ready.body["checks"]["database"]["response_time_ms"].as_f64().is_some());
        assert!(ready.body["checks"].get("redis").is_none(), "redis is reported only when configured");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_postgres_reachability() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db_url = create_postgres_database(&admin).await;
    let mut url = url::Url::parse(&db_url).unwrap();
    let target = (url.host_str().unwrap().to_owned(), url.port().unwrap_or(5432));
    let target = tokio::net::lookup_host(target).await.unwrap().next().unwrap();
    let proxy = TcpProxy::start(target).await;
    url.set_port(Some(proxy.addr.port())).unwrap();

    let dir = Arc::new(TempDir::new("st-ready"));
    let mut config = Config::embedded(dir.0.clone(), Some(url.to_string()));
    config.secrets.jwt_secret = Some(TEST_JWT_SECRET.into());
    config.secrets.credentials_key = Some(TEST_CREDENTIALS_KEY.into());
    let fake = std::sync::Arc::new(fake_wildberries::FakeWildberries::start(Default::default()).await.unwrap());
    let app = TestApp::from_config(Backend::Postgres, config, dir, fake).await;
    assert_eq!(probe(&app, "/api/v1/health/ready").await.status, StatusCode::OK);

    proxy.down();
    let res = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(5)).await;
    assert_eq!(res.body["status"], "unhealthy");
    assert_eq!(res.body["checks"]["database"]["status"], "unhealthy");
    let started = Instant::now();
    let live = probe(&app, "/api/v1/health/live").await;
    assert_eq!(live.status, StatusCode::OK, "liveness must not depend on the database");
    assert!(started.elapsed() < Duration::from_millis(200));
    let timed = Instant::now();
    probe(&app, "/api/v1/health/ready").await;
    assert!(timed.elapsed() < Duration::from_secs(1), "readiness must answer within its check timeout");

    proxy.up();
    let res = ready_becomes(&app, StatusCode::OK, Duration::from_secs(10)).await;
    assert_eq!(res.body["status"], "healthy");
}

/// An embedded database has no network to lose; what can go is the database itself. Here its
/// schema disappears under the running process (as after restoring the wrong file), then comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_sqlite_availability() {
    use stock_tracker::on_pool;
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    assert_eq!(probe(&app, "/api/v1/health/ready").await.status, StatusCode::OK);
    let exec = |sql: &'static str| {
        let pool = app.app.store.pool().clone();
        async move { on_pool!(&pool, p => sqlx::query(sql).execute(p).await.unwrap().rows_affected()) }
    };

    exec("ALTER TABLE tenant RENAME TO tenant_away").await;
    let res = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(5)).await;
    assert_eq!(res.body["checks"]["database"]["status"], "unhealthy");
    assert!(!res.body.to_string().contains("tenant"), "internals in the probe: {:?}", res.body);
    assert_eq!(probe(&app, "/api/v1/health/live").await.status, StatusCode::OK);

    exec("ALTER TABLE tenant_away RENAME TO tenant").await;
    ready_becomes(&app, StatusCode::OK, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_checked_when_configured_and_only_degrades() {
    let Some(redis_url) = stock_tracker_tests::redis_url() else { return };
    let base = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let with_redis = base.restart(|c| c.redis.redis_url = Some(redis_url.clone())).await;
    // The client connects in the background; give it a moment.
    let start = Instant::now();
    let mut res = probe(&with_redis, "/api/v1/health/ready").await;
    while res.body["checks"]["redis"]["status"] != "healthy" && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        res = probe(&with_redis, "/api/v1/health/ready").await;
    }
    assert_eq!(res.body["status"], "healthy", "{:?}", res.body);
    assert_eq!(res.body["checks"]["redis"]["status"], "healthy");
    assert!(res.body["checks"]["redis"]["response_time_ms"].as_f64().is_some());

    // Nothing listens on this port: Redis is down, the instance stays in rotation.
    let dead = TcpProxy::start("127.0.0.1:9".parse().unwrap()).await;
    dead.down();
    let without = base.restart(|c| c.redis.redis_url = Some(format!("redis://{}", dead.addr))).await;
    let started = Instant::now();
    let res = probe(&without, "/api/v1/health/ready").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(res.status, StatusCode::OK, "a Redis outage keeps the instance in rotation");
    assert_eq!(res.body["status"], "healthy");
    assert_eq!(res.body["checks"]["redis"]["status"], "unhealthy");
    assert_eq!(res.body["checks"]["database"]["status"], "healthy");
}
