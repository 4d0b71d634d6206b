//! The `stock-tracker` binary as an operator meets it: `--help`, start-up errors, and a serve →
//! stop → serve cycle that keeps logins and data (SQLite always; PostgreSQL with
//! `TEST_POSTGRES_URL`).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

mod common;

use common::{BIN, Server, VARIABLES, command, get, post, temp_dir};

#[test]
fn help_lists_every_flag_and_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in VARIABLES.iter().filter(|v| **v != "RUST_LOG") {
        assert!(help.contains(&format!("[env: {var}")), "--help does not mention {var}:\n{help}");
    }
    for sub in ["serve", "worker", "migrate", "rotate-credentials-key"] {
        assert!(help.contains(sub), "--help does not list `{sub}`");
    }
    assert!(help.contains("RUST_LOG") || help.contains("log filter"), "RUST_LOG is documented in --help");
}

#[test]
fn bad_values_stop_startup_with_one_line_naming_the_variable() {
    let dir = temp_dir();
    let cases: [(&str, &str, &str); 11] = [
        ("OPERATOR_TOKEN", "hunter2-operator", "OPERATOR_TOKEN: too short"),
        ("PLUGIN_BASE_URL_TENANTS", "hunter2-tenant", "PLUGIN_BASE_URL_TENANTS: `hunter2-tenant` is not a tenant id"),
        ("BIND_ADDR", "not-an-address", "BIND_ADDR"),
        ("DATABASE_URL", "mysql://root:hunter2@db/x", "DATABASE_URL: unsupported scheme"),
        ("JWT_SECRET", "hunter2-short", "JWT_SECRET: too short"),
        ("CREDENTIALS_KEY", "aHVudGVyMg==", "CREDENTIALS_KEY: decodes to 7 bytes"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL: unsupported scheme"),
        ("CORS_ORIGINS", "https://a.example/path", "CORS_ORIGINS:"),
        ("SENTRY_DSN", "hunter2@nowhere", "SENTRY_DSN: not a Sentry DSN"),
        ("SENTRY_TRACES_SAMPLE_RATE", "2", "SENTRY_TRACES_SAMPLE_RATE: 2 is not between"),
        (
            "SYNC_DEFAULT_INTERVAL_SECS",
            "60",
            "SYNC_DEFAULT_INTERVAL_SECS: must be at least SYNC_MIN_INTERVAL_SECS (300)",
        ),
    ];
    for (var, value, expected) in cases {
        let out = command(&dir).env(var, value).arg("migrate").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value} should stop start-up");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{var}: expected one line, got:\n{stderr}");
        assert!(lines[0].contains(expected), "{var}: {stderr}");
        for secret in ["hunter2", "aHVudGVyMg"] {
            if var == "PLUGIN_BASE_URL_TENANTS" {
                continue; // a tenant id is no secret, and naming the bad one helps
            }
            assert!(!stderr.contains(secret), "{var}: the value was echoed: {stderr}");
        }
    }
    let out = command(&dir).env("DATABASE_URL", "postgres://u@127.0.0.1:1/x").arg("migrate").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("JWT_SECRET: required with PostgreSQL"), "{stderr}");
}

async fn serve_stop_serve_keeps_data(mut env: Vec<(&str, String)>) {
    let dir = temp_dir();
    // The connection is verified through the Wildberries adapter, against a local fake.
    let fake = fake_wildberries::FakeWildberries::start(Default::default()).await.unwrap();
    env.push(("PLUGIN_EXTRA_HOSTS", fake.origin()));
    env.push(("PLUGIN_BASE_URL_TENANTS", "*".into()));
    // Only what this test does: no scheduled sync of the new connection.
    env.push(("SYNC_SCHEDULER", "false".into()));
    let login = json!({ "email": "operator@example.com", "password": "correct horse battery" });

    let server = Server::start(&dir, &env);
    let mut body = login.clone();
    body["company_name"] = "Persisted Ltd".into();
    let (status, reg) = post(&server.base, "/auth/register", None, body).await;
    assert_eq!(status, 201, "{reg}");
    let (status, _) = post(&server.base, "/auth/login", None, login.clone()).await;
    assert_eq!(status, 200);
    let token = reg["access_token"].as_str().unwrap();
    let conn = json!({ "marketplace": "wildberries", "name": "WB", "credentials": { "token": fake.token() },
                       "settings": { "base_url": fake.base_url() } });
    let (status, created) = post(&server.base, "/connections", Some(token), conn).await;
    assert_eq!(status, 201, "{created}");
    let (status, products) = get(&server.base, "/products", token).await;
    assert_eq!((status, products["items"].clone()), (200, json!([])));
    server.stop();

    let server = Server::start(&dir, &env);
    let (status, session) = post(&server.base, "/auth/login", None, login).await;
    assert_eq!(status, 200, "the same login works after a restart: {session}");
    let token = session["access_token"].as_str().unwrap();
    let (status, list) = get(&server.base, "/connections", token).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["connection_id"], created["connection_id"]);
    assert_eq!(list["items"][0]["credential_fields"], json!(["token"]), "credentials still open");
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn serve_stop_serve_on_the_embedded_default() {
    serve_stop_serve_keeps_data(Vec::new()).await;
}

#[tokio::test]
async fn serve_stop_serve_on_postgres() {
    let Some(url) = common::postgres_database() else { return };
    serve_stop_serve_keeps_data(vec![
        ("DATABASE_URL", url),
        ("JWT_SECRET", "binary-test-jwt-secret-0123456789abcdef".into()),
        ("CREDENTIALS_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
    ])
    .await;
}

#[tokio::test]
async fn demo_syncs_and_prints_a_working_login() {
    use std::io::BufRead;
    let dir = temp_dir();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = command(&dir)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .arg("serve")
        .arg("--demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let printed = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("jq ."))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap()
    .join("\n");
    // 300 cards, every tenth with three sizes; 5 warehouses, of which WB's stock report lists only
    // the non-empty ones (the demo syncs through the adapter's default source), and the seller's
    // own warehouse's non-empty levels. Then Ozon's 200 products and Yandex Market's 150 offers.
    let summary = |name: &str| -> (usize, usize) {
        let rest = printed.split(&format!("  {name}: ")).nth(1).unwrap_or_else(|| panic!("no {name} line: {printed}"));
        let mut words = rest.split(' ');
        let products = words.next().and_then(|w| w.parse().ok()).unwrap();
        let rows = words.nth(1).and_then(|w| w.parse().ok()).unwrap();
        (products, rows)
    };
    let (products, stock_rows) = summary("Demo Wildberries");
    assert_eq!(products, 360, "{printed}");
    assert!((1800..=2300).contains(&stock_rows), "{printed}");
    assert_eq!(summary("Demo Ozon").0, 200, "{printed}");
    assert_eq!(summary("Demo Yandex Market").0, 150, "{printed}");
    assert!(started.elapsed() < Duration::from_secs(30), "the demo took {:?}", started.elapsed());
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let (status, session) =
        post(&base, "/auth/login", None, json!({ "email": "demo@stock-tracker.local", "password": "demo-password" }))
            .await;
    assert_eq!(status, 200, "{session}");
    let (status, low) = get(&base, "/stocks?low=true", session["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert!(!low["items"].as_array().unwrap().is_empty(), "the demo has low stock to show");
    for marketplace in ["wildberries", "ozon", "yandex_market"] {
        let (status, page) = get(
            &base,
            &format!("/stocks?marketplace={marketplace}&limit=1"),
            session["access_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(page["items"][0]["marketplace"], marketplace, "the demo shows {marketplace}");
    }
    Server { child, base }.stop();
    let _ = std::fs::remove_dir_all(dir);
}
