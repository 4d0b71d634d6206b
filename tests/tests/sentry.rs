//! Sentry through a loopback ingest that speaks the envelope protocol ([`FakeSentry`]): what the
//! host reports, with which context, and what it never sends. One test in this binary, because
//! the Sentry client is global to the process and, as in `main`, is started before the runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use stock_tracker::telemetry::reporting::{self, SentryConfig};
use stock_tracker_tests::fake_sentry::FakeSentry;
use stock_tracker_tests::{Backend, TEST_CREDENTIALS_KEY, TEST_JWT_SECRET, TEST_OPERATOR_TOKEN, TestApp, TestTenant};
use tower::ServiceExt;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";
const EMAIL: &str = "sentry-owner@example.com";
const WB_TOKEN: &str = "wb-secret-token-sentry-0123";

#[test]
fn sentry_gets_5xx_panics_and_syncs_with_context_and_never_404_429_or_secrets() {
    // The ingest stands for another machine: its own runtime.
    let ingest_rt = tokio::runtime::Runtime::new().unwrap();
    let ingest = ingest_rt.block_on(FakeSentry::start()).unwrap();

    let config = SentryConfig {
        sentry_dsn: Some(ingest.dsn().into()),
        sentry_environment: "test".into(),
        sentry_traces_sample_rate: 1.0,
        ..SentryConfig::default()
    };
    let guard = reporting::init(&config).unwrap().expect("a DSN turns Sentry on");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let seen = rt.block_on(exercise(config));
    rt.shutdown_timeout(Duration::from_secs(5));
    drop(guard); // flushes the queue
    let deadline = Instant::now() + Duration::from_secs(10);
    while ingest.items("transaction").len() < seen.min_transactions && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }

    let events = ingest.items("event");
    let transactions = ingest.items("transaction");
    let t = &seen.tenant;

    // The 500: tenant and user ids, the request id, the route; error level.
    let five_hundred = events.iter().find(|e| e["tags"]["request_id"] == "sentry-500").expect("the 500 is reported");
    assert!(five_hundred["level"].is_null() || five_hundred["level"] == "error", "error is the default level");
    assert_eq!(five_hundred["user"], json!({ "id": t.user_id.to_string() }), "only the user id");
    assert_eq!(five_hundred["tags"]["tenant_id"], t.tenant_id.to_string());
    assert_eq!(five_hundred["tags"]["http.status_code"], "500");
    assert_eq!(five_hundred["request"]["url"], "http://api.test/api/v1/stocks", "no query string");
    assert_eq!(five_hundred["breadcrumbs"], Value::Null, "nothing from other work on the thread");
    let trace_of = |name: &str| {
        let tx = transactions.iter().find(|t| t["transaction"] == name).unwrap_or_else(|| panic!("no `{name}`"));
        tx["contexts"]["trace"]["trace_id"].clone()
    };
    assert_eq!(
        five_hundred["contexts"]["trace"]["trace_id"],
        trace_of("GET /api/v1/stocks"),
        "linked to its transaction"
    );
    assert_eq!(five_hundred["environment"], "test");

    // The panic, captured inside the request's hub (so with its context).
    let panic = events
        .iter()
        .find(|e| e["exception"]["values"].to_string().contains("handler blew up"))
        .expect("the panic is reported");
    assert_eq!(panic["user"]["id"], t.user_id.to_string());
    assert_eq!(panic["tags"]["tenant_id"], t.tenant_id.to_string());

    // The failed sync: its ids, and the breadcrumbs of the steps and plugin calls before it.
    let sync_failure = events
        .iter()
        .find(|e| e["tags"]["sync_run_id"] == seen.failed_run.as_str())
        .expect("the failed sync is reported");
    assert_eq!(sync_failure["tags"]["tenant_id"], t.tenant_id.to_string());
    assert_eq!(sync_failure["tags"]["connection_id"], seen.connection_id.to_string());
    let crumbs: Vec<String> = sync_failure["breadcrumbs"]["values"]
        .as_array()
        .expect("breadcrumbs")
        .iter()
        .map(|b| format!("{} {}", b["category"].as_str().unwrap(), b["message"].as_str().unwrap()))
        .collect();
    assert!(
        crumbs.iter().any(|c| c.starts_with("plugin wildberries ") && c.contains("list-products: ok")),
        "{crumbs:?}"
    );
    assert!(crumbs.iter().any(|c| c.starts_with("sync products page 1: ")), "{crumbs:?}");
    assert!(crumbs.iter().any(|c| c.contains("fetch-stocks: ok")), "{crumbs:?}");

    // Nothing else: not the 404s, the 401s, the 429, nor the successful sync.
    assert_eq!(events.len(), 3, "only the 500, the panic and the failed sync: {events:#?}");

    // Transactions: named by route template, never for health, metrics, unmatched paths, 404s or
    // 429s; one per sync run.
    let names: std::collections::BTreeSet<&str> =
        transactions.iter().map(|t| t["transaction"].as_str().unwrap()).collect();
    let expected = [
        "GET /api/v1/stocks",
        "GET /api/v1/sync-runs/{id}",
        "GET /boom/{id}",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/register",
        "POST /api/v1/connections",
        "POST /api/v1/connections/{id}/sync",
        "sync wildberries",
    ];
    assert_eq!(names.into_iter().collect::<Vec<_>>(), expected);
    for tx in &transactions {
        let status = tx["contexts"]["trace"]["status"].as_str().unwrap_or_default();
        assert!(!matches!(status, "not_found" | "resource_exhausted"), "{tx:#}");
    }
    let sync_statuses: Vec<&str> = transactions
        .iter()
        .filter(|t| t["transaction"] == "sync wildberries")
        .map(|t| t["contexts"]["trace"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(sync_statuses.len(), 2, "one transaction per sync run");
    assert!(sync_statuses.contains(&"ok") && sync_statuses.contains(&"internal_error"), "{sync_statuses:?}");

    // No secret anywhere, in any envelope.
    let secrets = [
        PASSWORD,
        EMAIL,
        WB_TOKEN,
        &t.access_token,
        &t.refresh_token,
        TEST_JWT_SECRET,
        TEST_CREDENTIALS_KEY,
        TEST_OPERATOR_TOKEN,
        "Bearer",
        "authorization",
        "Authorization",
    ];
    let received = ingest.received();
    assert!(received.len() >= 3);
    for envelope in &received {
        let raw = String::from_utf8_lossy(&envelope.raw);
        for secret in secrets {
            assert!(!raw.contains(secret), "`{secret}` was sent to Sentry: {raw}");
        }
    }
}

/// What the run produced, for the assertions.
struct Seen {
    tenant: TestTenant,
    connection_id: Uuid,
    failed_run: String,
    min_transactions: usize,
}

async fn exercise(sentry: SentryConfig) -> Seen {
    let app = TestApp::try_with_config(Backend::Sqlite, |c| {
        c.sentry = sentry;
        c.ratelimit.rate_limit_enabled = true;
        // The broken-database sync below fails for good at once (it would be retried otherwise).
        c.sync.sync_max_attempts = 1;
        c.secrets.jwt_secret = Some(TEST_JWT_SECRET.into());
        c.secrets.credentials_key = Some(TEST_CREDENTIALS_KEY.into());
    })
    .await
    .unwrap();
    let t = app.register(EMAIL).await;
    assert_eq!(t.password, PASSWORD);
    let connection_id = app.create_connection(&t, "WB", WB_TOKEN).await;
    assert_eq!(sync(&app, &t, connection_id).await, "succeeded");

    // Never traced or reported: health, metrics, an unknown path, a missing product.
    assert_eq!(app.call(Method::GET, "/api/v1/health/live", None, None).await.status, StatusCode::OK);
    assert_eq!(app.call(Method::GET, "/metrics", None, None).await.status, StatusCode::OK);
    assert_eq!(app.call(Method::GET, "/api/v1/no-such-route", None, None).await.status, StatusCode::NOT_FOUND);
    let missing = app.get(&format!("/api/v1/products/{}", Uuid::now_v7()), &t.access_token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Wrong passwords from one address until the login limit answers 429.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let body = json!({ "email": EMAIL, "password": "wrong horse battery" });
        let mut req = Request::post("/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo("10.9.8.7:5000".parse::<SocketAddr>().unwrap()));
        statuses.push(app.send(req).await.status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");

    // A broken database: the stock list answers 500, and the next sync fails in its stock phase.
    let sql = "ALTER TABLE stock_level RENAME TO stock_level_gone";
    stock_tracker::on_pool!(app.app.store.pool(), p => sqlx::query(sql).execute(p).await.unwrap().rows_affected());
    let req = Request::get("/api/v1/stocks?warehouse=needle")
        .header("host", "api.test")
        .header("authorization", format!("Bearer {}", t.access_token))
        .header("x-request-id", "sentry-500")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    let failed_run = res.body["sync_run_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_for_run(&app, &t, &failed_run).await, "failed");

    // A panicking handler behind the same stack (no real route panics on purpose).
    let (user_id, tenant_id) = (t.user_id, t.tenant_id);
    let boom = Router::new().route(
        "/boom/{id}",
        get(move || async move {
            reporting::set_caller(user_id, tenant_id);
            panic!("handler blew up");
            #[allow(unreachable_code)]
            ""
        }),
    );
    let res = stock_tracker::router::with_stack(boom, None, true)
        .oneshot(Request::get("/boom/7").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);

    Seen { tenant: t, connection_id, failed_run, min_transactions: 8 }
}

async fn sync(app: &TestApp, t: &TestTenant, connection_id: Uuid) -> String {
    let res = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{:?}", res.body);
    wait_for_run(app, t, res.body["sync_run_id"].as_str().unwrap()).await
}

async fn wait_for_run(app: &TestApp, t: &TestTenant, run_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), &t.access_token).await;
        let status = res.body["status"].clone();
        if let Value::String(s) = status
            && (s == "succeeded" || s == "failed")
        {
            return s;
        }
        assert!(Instant::now() < deadline, "sync {run_id} did not finish: {:?}", res.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
