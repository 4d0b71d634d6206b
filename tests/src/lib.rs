//! Test harness for Stock Tracker: a real host on a real database, driven through its router.
//!
//! - [`TestApp::new`] builds the app on a fresh SQLite file or a fresh PostgreSQL database.
//! - PostgreSQL comes from `TEST_POSTGRES_URL` (a superuser URL to any database of a running
//!   server, e.g. `postgres://postgres@127.0.0.1:55432/postgres`); each test gets its own
//!   database. Without it, PostgreSQL tests print a notice and pass, unless
//!   `STOCK_TRACKER_REQUIRE_ALL_BACKENDS=1` (set by `.ci/run`), which makes them fail instead.
//! - [`both_backends!`] turns one async test body into a SQLite test and a PostgreSQL test.
//! - [`proxy::TcpProxy`] sits between the app and PostgreSQL so a test can cut the database off.

pub mod bench;
pub mod fake_sentry;
pub mod fake_telegram;
pub mod fixtures;
pub mod marketplaces;
pub mod proxy;
pub mod stack;
pub mod webhook_receiver;

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use fake_wildberries::{FakeConfig, FakeWildberries};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use stock_tracker::{App, Config};
use tower::ServiceExt;
use uuid::Uuid;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the PostgreSQL server for tests, or `None` (after deciding whether that is
/// allowed).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(),
                "STOCK_TRACKER_REQUIRE_ALL_BACKENDS is set but TEST_POSTGRES_URL is not"
            );
            eprintln!("note: TEST_POSTGRES_URL is not set; skipping the PostgreSQL variant of this test");
            None
        }
    }
}

/// A fresh, empty PostgreSQL database; returns its URL.
///
/// Databases are named `st_test_<host>_<pid>_<id>`. The first call in a process drops the ones
/// this machine's finished test processes left behind (their pid is gone), so repeated runs do
/// not pile databases up; another machine's, or a running process's, are left alone.
pub async fn create_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let host = host_tag();
    let name = format!("st_test_{host}_{}_{}", std::process::id(), Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect to TEST_POSTGRES_URL");
    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                .bind(format!("st\\_test\\_{host}\\_%"))
                .fetch_all(&mut admin)
                .await
                .expect("list test databases");
            for stale in names.iter().filter(|n| left_behind(n, &host)) {
                let drop = format!("DROP DATABASE IF EXISTS {stale} WITH (FORCE)");
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await {
                    eprintln!("note: could not drop stale test database {stale}: {e}");
                }
            }
        })
        .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(admin_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Eight hex digits naming this machine, so a shared server's other clients are never touched.
fn host_tag() -> String {
    use std::hash::{Hash, Hasher};
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    host.trim().hash(&mut hasher);
    format!("{:08x}", hasher.finish() as u32)
}

/// Whether `name` (`st_test_<host>_<pid>_<id>`) belongs to a test process of this machine that
/// has ended.
fn left_behind(name: &str, host: &str) -> bool {
    let Some(rest) = name.strip_prefix(&format!("st_test_{host}_")) else { return false };
    let Some(pid) = rest.split('_').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Redis URL for tests (`TEST_REDIS_URL`), or `None` (after deciding whether that is
/// allowed, as for PostgreSQL).
pub fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(), "TEST_REDIS_URL is required");
            eprintln!("note: TEST_REDIS_URL is not set; skipping");
            None
        }
    }
}

/// A proxy in front of the test Redis, so a test can cut it off; `None` as [`redis_url`].
pub async fn redis_proxy() -> Option<proxy::TcpProxy> {
    let url = url::Url::parse(&redis_url()?).expect("TEST_REDIS_URL is a URL");
    let host = (url.host_str().expect("TEST_REDIS_URL has a host"), url.port().unwrap_or(6379));
    let target = tokio::net::lookup_host(host).await.expect("the Redis host resolves").next().expect("an address");
    Some(proxy::TcpProxy::start(target).await)
}

/// Fixed test secrets for PostgreSQL (where they are required).
pub const TEST_JWT_SECRET: &str = "test-jwt-secret-that-is-long-enough-0123456789";
/// The operator token test apps accept on `/api/v1/admin`.
pub const TEST_OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef";
/// A base64 32-byte key.
pub const TEST_CREDENTIALS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A running app on its own database.
pub struct TestApp {
    pub app: Arc<App>,
    /// The fake Wildberries this app's plugins may reach (`PLUGIN_EXTRA_HOSTS`).
    pub fake: Arc<FakeWildberries>,
    pub backend: Backend,
    router: stock_tracker::router::Stack,
    /// The configuration it was built from, to rebuild it (restart) with changes.
    pub config: Config,
    pub data_dir: Arc<TempDir>,
    /// The job workers (and scheduler, when on) of this app: syncs run there, as in `serve`.
    background: Option<stock_tracker::background::Background>,
}

/// A response, body parsed as JSON (or `Null` when empty).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// The error envelope's `code`, if this is an error answer.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// A registered tenant and its owner's session.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestTenant {
    /// The session a register, login or invitation-accept answer holds.
    pub fn from_session(body: &Value, email: &str, password: String) -> Self {
        TestTenant {
            tenant_id: body["tenant"]["tenant_id"].as_str().unwrap().parse().unwrap(),
            user_id: body["user"]["user_id"].as_str().unwrap().parse().unwrap(),
            email: email.to_owned(),
            password,
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }
}

impl TestApp {
    /// A fresh app on `backend`, or `None` when PostgreSQL is not available (see module docs).
    pub async fn try_new(backend: Backend) -> Option<Self> {
        Self::try_with_fake(backend, FakeConfig::default()).await
    }

    /// A fresh app whose fake Wildberries is built from `fake`.
    pub async fn try_with_fake(backend: Backend, fake: FakeConfig) -> Option<Self> {
        Self::try_with(backend, fake, |_| {}).await
    }

    /// A fresh app whose configuration `change` adjusts after the test defaults.
    pub async fn try_with_config(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<Self> {
        Self::try_with(backend, FakeConfig::default(), change).await
    }

    /// A fresh app with its own fake and a configuration `change` adjusts after the test defaults.
    pub async fn try_with(backend: Backend, fake: FakeConfig, change: impl FnOnce(&mut Config)) -> Option<Self> {
        let data_dir = Arc::new(TempDir::new("st-test"));
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(create_postgres_database(&postgres_admin_url()?).await),
        };
        let fake = Arc::new(FakeWildberries::start(fake).await.expect("fake Wildberries starts"));
        let mut config = Config::embedded(data_dir.0.clone(), database_url);
        // Most tests send far more than 100 requests a minute; the rate-limit tests turn it on.
        config.ratelimit.rate_limit_enabled = false;
        // Syncs run when a test starts them; the schedule tests turn the scheduler on.
        config.sync.sync_scheduler = false;
        if backend == Backend::Postgres {
            config.secrets.jwt_secret = Some(TEST_JWT_SECRET.into());
            config.secrets.credentials_key = Some(TEST_CREDENTIALS_KEY.into());
        }
        change(&mut config);
        Some(Self::from_config(backend, config, data_dir, fake).await)
    }

    /// Builds (or rebuilds, as after a restart) the app from a configuration, granting its
    /// plugins the fake's origin and sharing one compiled-plugin cache across tests.
    pub async fn from_config(
        backend: Backend,
        mut config: Config,
        data_dir: Arc<TempDir>,
        fake: Arc<FakeWildberries>,
    ) -> Self {
        // The fake WB's origin is always granted, besides whatever the test grants.
        let grants = config.plugins.plugin_extra_hosts.get_or_insert_with(String::new);
        if !grants.split(',').any(|g| g.trim() == fake.origin()) {
            if !grants.is_empty() {
                grants.push(',');
            }
            grants.push_str(&fake.origin());
        }
        // Test connections reach the fake through `settings.base_url`; the tests of that grant
        // itself set their own list.
        config.plugins.plugin_base_url_tenants.get_or_insert_with(|| "*".into());
        config.secrets.operator_token.get_or_insert_with(|| TEST_OPERATOR_TOKEN.into());
        config.plugins.plugin_max_instances = 16;
        config
            .plugins
            .plugin_cache_dir
            .get_or_insert_with(|| std::env::temp_dir().join("stock-tracker-test-plugin-cache"));
        let app = Arc::new(App::build(config.clone()).await.expect("app builds"));
        let router = stock_tracker::router::router(app.clone());
        let background = Some(stock_tracker::background::Background::start(&app));
        Self { app, fake, backend, router, config, data_dir, background }
    }

    /// Stops this app's workers and scheduler as `serve` does on SIGTERM (running jobs get
    /// `grace`, then their claims are handed back).
    pub async fn stop_background(&mut self, grace: std::time::Duration) {
        if let Some(background) = self.background.take() {
            background.shutdown(grace).await;
        }
    }

    /// This app stopped and started again with `change`: what a restart looks like. (Its
    /// workers stop first, so no job of the test runs under the old configuration.)
    pub async fn replace(mut self, change: impl FnOnce(&mut Config)) -> Self {
        self.stop_background(std::time::Duration::ZERO).await;
        self.restart(change).await
    }

    /// A second instance on the same database and data directory, built with `change` (this
    /// one keeps running, as another process would).
    pub async fn restart(&self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.config.clone();
        change(&mut config);
        Self::from_config(self.backend, config, self.data_dir.clone(), self.fake.clone()).await
    }

    /// The body that creates a Wildberries connection to this app's fake with `token` (which the
    /// fake is told to accept).
    pub fn connection_body(&self, name: &str, token: &str) -> Value {
        self.fake.add_token(token);
        json!({
            "marketplace": "wildberries",
            "name": name,
            "credentials": { "token": token },
            // The legacy per-warehouse listing, whose in-transit counts are exact per warehouse;
            // the report (the adapter's default) has its own tests.
            "settings": { "base_url": self.fake.base_url(), "stocks_source": "statistics" },
        })
    }

    /// Sends a request through the full middleware stack.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.expect("router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        TestResponse { status, headers, body }
    }

    /// Uploads a plugin version through the admin API.
    pub async fn put_plugin(&self, id: &str, manifest: &str, wasm: &[u8]) -> TestResponse {
        let (content_type, body) = fixtures::multipart(&[("manifest", manifest.as_bytes()), ("component", wasm)]);
        let req = Request::put(format!("/api/v1/admin/plugins/{id}"))
            .header("authorization", format!("Bearer {TEST_OPERATOR_TOKEN}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("request builds");
        self.send(req).await
    }

    /// A JSON request with an optional bearer token.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request builds")).await
    }

    /// A JSON request from the client address `ip`, with a raw `Authorization` value (any
    /// scheme, any case).
    pub async fn call_from(
        &self,
        ip: &str,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let mut req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request builds");
        let peer: std::net::SocketAddr = format!("{ip}:40000").parse().expect("an IP address");
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Registers a tenant whose owner is `email` (password `correct horse battery`).
    pub async fn register(&self, email: &str) -> TestTenant {
        let password = "correct horse battery".to_owned();
        let res = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password, "company_name": format!("{email} Ltd") }),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "register {email}: {:?}", res.body);
        TestTenant::from_session(&res.body, email, password)
    }

    /// Invites `email` into `by`'s tenant with `role`; returns the invitation token.
    pub async fn invite(&self, by: &TestTenant, email: &str, role: &str) -> String {
        let res =
            self.post("/api/v1/invitations", Some(&by.access_token), json!({ "email": email, "role": role })).await;
        assert_eq!(res.status, StatusCode::CREATED, "invite {email}: {:?}", res.body);
        res.body["token"].as_str().unwrap().to_owned()
    }

    /// Invites a new person into `by`'s tenant and accepts as them (a new account with the
    /// password `correct horse battery`); returns their session in that tenant.
    pub async fn join(&self, by: &TestTenant, email: &str, role: &str) -> TestTenant {
        let token = self.invite(by, email, role).await;
        let password = "correct horse battery".to_owned();
        let res = self.post("/api/v1/invitations/accept", None, json!({ "token": token, "password": password })).await;
        assert_eq!(res.status, StatusCode::OK, "accept {email}: {:?}", res.body);
        TestTenant::from_session(&res.body, email, password)
    }

    /// Creates a connection through the API; returns its id.
    pub async fn create_connection(&self, tenant: &TestTenant, name: &str, token_value: &str) -> Uuid {
        let res =
            self.post("/api/v1/connections", Some(&tenant.access_token), self.connection_body(name, token_value)).await;
        assert_eq!(res.status, StatusCode::CREATED, "create connection: {:?}", res.body);
        res.body["connection_id"].as_str().unwrap().parse().unwrap()
    }
}

/// Runs one async test body against SQLite and against PostgreSQL, as two tests
/// `<name>::sqlite` and `<name>::postgres`. The app is a [`TestApp`], or another type with the
/// same `try_new(Backend)` when given first: `both_backends!(MarketApp => async fn …)`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::both_backends!($crate::TestApp => $(async fn $name($app) $body)*);
    };
    ($app_type:ty => $(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $app_type) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(<$app_type>::try_new($crate::Backend::Sqlite).await.expect("sqlite is always available")).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = <$app_type>::try_new($crate::Backend::Postgres).await {
                    run(app).await
                }
            }
        }
    )*};
}
