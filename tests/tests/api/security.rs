//! The security review's findings, each as the attack that worked before and fails now: anonymous
//! lock-out, the lower-case `bearer` bypass, plugin-id path traversal, operator-token guessing,
//! file modes, login guessing spread over addresses, a connection deleted mid-sync, oversized or
//! unknown connection settings, and `settings.base_url` as a tenant's way out.

use std::os::unix::fs::PermissionsExt;

use fake_wildberries::Endpoint;
use stock_tracker_tests::{Backend, TEST_OPERATOR_TOKEN, TempDir};

use stock_tracker::on_pool;

use super::*;

async fn with_limits(change: impl FnOnce(&mut stock_tracker::Config)) -> TestApp {
    let base = TestApp::try_new(Backend::Sqlite).await.unwrap();
    base.replace(|c| {
        c.ratelimit.rate_limit_enabled = true;
        change(c);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_flood_from_one_address_does_not_lock_tenants_out() {
    let app = with_limits(|c| {
        c.ratelimit.rate_limit_global = 60;
        c.ratelimit.rate_limit_anon = 10;
    })
    .await;
    let tenant = app.register("busy-seller@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..100 {
        // Every one a 401 (no token) or a 429: neither may spend the budget tenants share.
        statuses.push(app.call_from("203.0.113.9", Method::GET, "/api/v1/products", None, None).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 90);
    let refused = app.call_from("203.0.113.9", Method::GET, "/api/v1/products", None, None).await;
    assert_eq!(refused.body["error"], "Anonymous rate limit exceeded");
    assert_eq!(refused.body["scope"], "anonymous");
    let bearer = format!("Bearer {}", tenant.access_token);
    for _ in 0..20 {
        let res = app.call_from("198.51.100.7", Method::GET, "/api/v1/products", Some(&bearer), None).await;
        assert_eq!(res.status, StatusCode::OK, "a tenant is still served: {:?}", res.body);
    }
    // Another anonymous client has its own budget; IPv6 clients are one client per /64.
    assert_eq!(
        app.call_from("203.0.113.10", Method::GET, "/api/v1/health/live", None, None).await.status,
        StatusCode::OK
    );
    let mut v6 = Vec::new();
    for i in 0..12 {
        v6.push(
            app.call_from(&format!("[2001:db8:7:7::{i:x}]"), Method::GET, "/api/v1/products", None, None).await.status,
        );
    }
    assert_eq!(v6.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 2, "{v6:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_case_bearer_is_counted_like_any_other() {
    let app = with_limits(|c| c.ratelimit.rate_limit_tenant = 3).await;
    let t = app.register("lowercase@example.com").await;
    let mut statuses = Vec::new();
    for scheme in ["bearer", "BEARER", "Bearer", "bearer"] {
        let auth = format!("{scheme} {}", t.access_token);
        statuses.push(app.call_from("10.1.0.1", Method::GET, "/api/v1/products", Some(&auth), None).await);
    }
    assert!(
        statuses[..3].iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(statuses[3].status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses[3].body["scope"], "tenant", "the tenant limit, whatever the scheme's case");
    assert_eq!(statuses[0].headers["x-ratelimit-tenant"], t.tenant_id.to_string().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_ids_never_reach_outside_the_plugins_directory() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let outside = TempDir::new("st-traversal");
    for name in ["x.toml", "x.wasm"] {
        std::fs::write(outside.0.join(name), b"keep me").unwrap();
    }
    // The plugins directory is DATA_DIR/plugins; `x` sits beside DATA_DIR's parent.
    let relative = format!("..%2F..%2F{}%2Fx", outside.0.file_name().unwrap().to_str().unwrap());
    let absolute = outside.0.join("x").display().to_string().replace('/', "%2F");
    let operator = format!("Bearer {TEST_OPERATOR_TOKEN}");
    for id in [relative.as_str(), absolute.as_str(), "..", "..%2Fx", "%2E%2E%2Fx", "not-loaded"] {
        for (method, path) in [
            (Method::DELETE, format!("/api/v1/admin/plugins/{id}")),
            (Method::POST, format!("/api/v1/admin/plugins/{id}/rollback")),
        ] {
            let res = app.call_from("10.2.0.1", method.clone(), &path, Some(&operator), None).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{method} {path}: {:?}", res.body);
        }
        if id != "not-loaded" {
            let res = app.put_plugin(id, "id = \"x\"", b"").await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "PUT {id}: {:?}", res.body);
        }
    }
    for name in ["x.toml", "x.wasm"] {
        assert_eq!(std::fs::read(outside.0.join(name)).unwrap(), b"keep me", "{name} untouched");
    }
    assert!(app.app.plugins.get("wildberries").is_some(), "nothing real was unloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_token_guesses_are_throttled_per_address_and_admin_routes_are_limited() {
    let app = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let right = format!("Bearer {TEST_OPERATOR_TOKEN}");
    for i in 0..10 {
        let res = app
            .call_from("10.3.0.1", Method::GET, "/api/v1/admin/plugins", Some(&format!("Bearer guess-{i}")), None)
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let res = app.call_from("10.3.0.1", Method::GET, "/api/v1/admin/plugins", Some(&right), None).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "even the right token waits: {:?}", res.body);
    assert_eq!(res.body["scope"], "operator_auth");
    assert!(res.headers.contains_key("retry-after"));
    let res = app.call_from("10.3.0.2", Method::GET, "/api/v1/admin/plugins", Some(&right), None).await;
    assert_eq!(res.status, StatusCode::OK, "another address is not affected");
    let res = app
        .call_from(
            "10.3.0.2",
            Method::GET,
            "/api/v1/admin/plugins",
            Some(&right.to_lowercase().replace(&TEST_OPERATOR_TOKEN.to_lowercase(), TEST_OPERATOR_TOKEN)),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "`bearer` works here too");

    let limited = app.restart(|c| c.ratelimit.rate_limit_enabled = true).await;
    let mut statuses = Vec::new();
    for _ in 0..32 {
        statuses
            .push(limited.call_from("10.3.0.3", Method::GET, "/api/v1/admin/plugins", Some(&right), None).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 30, "{statuses:?}");
    assert_eq!(statuses[31], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_are_private() {
    let base = TestApp::try_new(Backend::Sqlite).await.unwrap();
    let fresh = base.data_dir.0.join("fresh").join("data");
    let app = base.restart(|c| c.database.data_dir = fresh.clone()).await;
    app.register("private@example.com").await;
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
    };
    assert_eq!(mode(fresh.clone()), 0o700);
    for name in ["stock-tracker.db", "stock-tracker.db-wal", "stock-tracker.db-shm", "jwt.secret", "credentials.key"] {
        assert_eq!(mode(fresh.join(name)), 0o600, "{name}");
    }
}

both_backends! {
    async fn login_guesses_are_throttled_per_account_whatever_the_address(app) {
        let t = app.register("guessed@example.com").await;
        for email in [t.email.as_str(), "nobody@example.com"] {
            for i in 0..10 {
                let res = app.call_from(&format!("10.4.{i}.1"), Method::POST, "/api/v1/auth/login", None,
                    Some(json!({ "email": email, "password": format!("guess number {i}") }))).await;
                assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{email} guess {i}");
            }
        }
        let known = app.call_from("10.4.99.1", Method::POST, "/api/v1/auth/login", None,
            Some(json!({ "email": t.email, "password": t.password }))).await;
        let unknown = app.call_from("10.4.99.1", Method::POST, "/api/v1/auth/login", None,
            Some(json!({ "email": "NOBODY@example.com", "password": "correct horse battery" }))).await;
        assert_eq!(known.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits: {:?}", known.body);
        assert_eq!(unknown.status, known.status, "unknown emails are answered the same");
        assert_eq!(unknown.body["error"], known.body["error"]);
        assert_eq!(known.body["scope"], "login_account");
        // Other accounts are not affected.
        let other = app.register("unguessed@example.com").await;
        let res = app.call_from("10.4.99.1", Method::POST, "/api/v1/auth/login", None,
            Some(json!({ "email": other.email, "password": other.password }))).await;
        assert_eq!(res.status, StatusCode::OK);
    }

    async fn deleting_a_connection_during_its_sync_ends_the_run_without_a_panic(app) {
        let t = app.register("vanish@example.com").await;
        let connection_id = app.create_connection(&t, "WB", "vanish-token").await;
        app.fake.rate_limit_next(Endpoint::Stocks, 1, 1);
        let stocks_before = app.fake.requests(Endpoint::Stocks);
        let failed_before = app.app.metrics.errors.with_label_values(&["sync_failed", "sync"]).get();
        let run = app.post(&format!("/api/v1/connections/{connection_id}/sync"), Some(&t.access_token), json!({})).await;
        assert_eq!(run.status, StatusCode::ACCEPTED);
        // Delete while the run waits out the marketplace's rate limit.
        let start = Instant::now();
        while app.fake.requests(Endpoint::Stocks) == stocks_before {
            assert!(start.elapsed() < Duration::from_secs(30), "the sync never reached stocks");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let res = app.call(Method::DELETE, &format!("/api/v1/connections/{connection_id}"), Some(&t.access_token), None).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
        // The job ends (completed: there is nothing left to sync), without a panic or a retry.
        let key = format!("sync:{connection_id}");
        let start = Instant::now();
        loop {
            let sql = "SELECT state FROM job WHERE unique_key = $1";
            let state: String = on_pool!(app.app.store.pool(), p => sqlx::query_scalar(sql).bind(&key).fetch_one(p).await.unwrap());
            if state != "running" {
                assert_eq!(state, "completed");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the sync job did not end");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(app.app.metrics.errors.with_label_values(&["sync_failed", "sync"]).get(), failed_before + 1, "counted as failed");
        let run_id = run.body["sync_run_id"].as_str().unwrap();
        let res = app.get(&format!("/api/v1/sync-runs/{run_id}"), &t.access_token).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }

    async fn connection_settings_are_capped_and_checked_against_the_adapter(app) {
        let t = app.register("settings@example.com").await;
        let mut body = app.connection_body("WB", "settings-token");
        body["settings"]["notes"] = json!("x".repeat(9 * 1024));
        let res = app.post("/api/v1/connections", Some(&t.access_token), body.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", res.body);
        assert_eq!(res.body["error"]["field"], "settings");
        assert!(res.body["error"]["message"].as_str().unwrap().contains("8192 bytes"));
        body["settings"]["notes"] = json!("short");
        let res = app.post("/api/v1/connections", Some(&t.access_token), body.clone()).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "settings.notes");
        assert!(res.body["error"]["message"].as_str().unwrap().contains("stocks_source"), "{:?}", res.body);
        body["settings"].as_object_mut().unwrap().remove("notes");
        let res = app.post("/api/v1/connections", Some(&t.access_token), body).await;
        assert_eq!(res.status, StatusCode::CREATED, "declared settings pass: {:?}", res.body);
        let id = res.body["connection_id"].as_str().unwrap();
        let res = app.call(Method::PATCH, &format!("/api/v1/connections/{id}"), Some(&t.access_token),
            Some(json!({ "settings": { "huge": "y".repeat(10_000) } }))).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        let res = app.get(&format!("/api/v1/connections/{id}"), &t.access_token).await;
        assert_eq!(res.body["settings"]["stocks_source"], "statistics", "a refused change loses nothing");
        assert!(res.body.to_string().len() < 2048);
    }

    async fn base_url_is_the_operators_decision(app) {
        let allowed = app.register("sandbox-tenant@example.com").await;
        let other = app.register("plain-tenant@example.com").await;
        let before = app.create_connection(&other, "WB", "kept-token").await;
        let app = app.replace(|c| c.plugins.plugin_base_url_tenants = Some(allowed.tenant_id.to_string())).await;
        let res = app.post("/api/v1/connections", Some(&allowed.access_token), app.connection_body("WB", "ok-token")).await;
        assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.body);
        let res = app.post("/api/v1/connections", Some(&other.access_token), app.connection_body("WB2", "no-token")).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.body["error"]["field"], "settings.base_url");
        assert!(res.body["error"]["message"].as_str().unwrap().contains("PLUGIN_BASE_URL_TENANTS"));
        // A connection stored before the grant was withdrawn no longer syncs against that host.
        let res = app.post(&format!("/api/v1/connections/{before}/sync"), Some(&other.access_token), json!({})).await;
        let run = finished_run(&app, &other.access_token, res.body["sync_run_id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "failed");
        assert!(run["error"].as_str().unwrap().contains("settings.base_url"), "{run:?}");

        // Upstream error text reaches a tenant cut short and flattened.
        let noisy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let noisy_url = format!("http://{}", noisy.local_addr().unwrap());
        let detail = format!("<html>\n\u{1b}[31m{}</html>", "internal detail ".repeat(400));
        let router = axum::Router::new().fallback(move || {
            let detail = detail.clone();
            async move { (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "detail": detail }))) }
        });
        tokio::spawn(async move { axum::serve(noisy, router).await.unwrap() });
        let grants = format!("{},{noisy_url}", app.fake.origin());
        let app = app.replace(|c| c.plugins.plugin_extra_hosts = Some(grants)).await;
        let res = app.post("/api/v1/connections", Some(&allowed.access_token), json!({
            "marketplace": "wildberries", "name": "noisy", "credentials": { "token": "t" },
            "settings": { "base_url": noisy_url } })).await;
        assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{:?}", res.body);
        let message = res.body["error"]["message"].as_str().unwrap();
        assert!(message.chars().count() < 400, "{} characters", message.chars().count());
        assert!(message.ends_with('…') && !message.contains('\n') && !message.contains('\u{1b}'), "{message}");
    }
}
