//! What the binary's tests share: the binary with a clean environment, a running server, HTTP
//! calls, a fresh PostgreSQL database.
#![allow(dead_code)] // each test file uses part of it

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_stock-tracker");

/// Every variable the binary reads (none may leak in from the developer's shell).
pub(crate) const VARIABLES: [&str; 47] = [
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_ANON",
    "RATE_LIMIT_ANON_WINDOW",
    "RATE_LIMIT_GLOBAL",
    "RATE_LIMIT_GLOBAL_WINDOW",
    "RATE_LIMIT_TENANT",
    "RATE_LIMIT_TENANT_WINDOW",
    "TRUSTED_PROXIES",
    "BIND_ADDR",
    "DATA_DIR",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "REDIS_URL",
    "JWT_SECRET",
    "CREDENTIALS_KEY",
    "CREDENTIALS_KEYS_RETIRED",
    "OPERATOR_TOKEN",
    "CORS_ORIGINS",
    "LOG_FORMAT",
    "PLUGINS_DIR",
    "PLUGIN_CACHE_DIR",
    "PLUGIN_EXTRA_HOSTS",
    "PLUGIN_BASE_URL_TENANTS",
    "PLUGIN_MEMORY_MB",
    "PLUGIN_TIMEOUT_MS",
    "PLUGIN_MAX_INSTANCES",
    "PLUGIN_MAX_RESPONSE_MB",
    "PLUGIN_KEEP_RESIDENT_MB",
    "SYNC_MAX_RATE_LIMIT_WAIT_SECS",
    "SYNC_PAGE_SIZE",
    "SYNC_MAX_ATTEMPTS",
    "SYNC_SCHEDULER",
    "SYNC_DEFAULT_INTERVAL_SECS",
    "SYNC_MIN_INTERVAL_SECS",
    "SYNC_PAUSE_AFTER_REFUSALS",
    "JOBS_WORKERS",
    "JOBS_LEASE_SECS",
    "SHUTDOWN_GRACE_SECS",
    "CACHE_ENABLED",
    "CACHE_TTL_SECS",
    "CACHE_MAX_MB",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_RELEASE",
    "SENTRY_TRACES_SAMPLE_RATE",
    "RUST_LOG",
    "RUST_LOG",
];

/// A command with none of our variables inherited from the developer's shell.
pub(crate) fn command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for var in VARIABLES {
        cmd.env_remove(var);
    }
    cmd.env("DATA_DIR", data_dir).env("RUST_LOG", "warn");
    cmd
}

pub(crate) fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("st-bin-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A name part no other call shares, in this test process or another: the process, the time and
/// a count. (The time alone is not enough: two tests on two threads read the same nanosecond,
/// shared a directory and read each other's files.)
pub(crate) fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}_{nanos}_{n}", std::process::id())
}

/// A running `stock-tracker` process.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(data_dir: &Path, env: &[(&str, String)]) -> Server {
        Self::start_with(data_dir, env, &[])
    }

    /// Runs the binary with `args` (a subcommand) and waits until it listens.
    pub(crate) fn start_with(data_dir: &Path, env: &[(&str, String)], args: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = command(data_dir);
        cmd.args(args);
        cmd.env("BIND_ADDR", format!("127.0.0.1:{port}")).stdout(Stdio::null()).stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let server = Server { child, base: format!("http://127.0.0.1:{port}/api/v1") };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub(crate) fn stop(mut self) {
        // SIGTERM: the graceful path an orchestrator takes.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
    }

    /// SIGKILL: the process dies at once, leases and all.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

pub(crate) async fn post(base: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    stock_tracker::plugins::egress::ensure_tls_provider();
    let mut req = reqwest::Client::new().post(format!("{base}{path}")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    stock_tracker::plugins::egress::ensure_tls_provider();
    let res = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A fresh PostgreSQL database on `TEST_POSTGRES_URL`'s server, or `None` when that is not set
/// (allowed unless `STOCK_TRACKER_REQUIRE_ALL_BACKENDS`).
pub(crate) fn postgres_database() -> Option<String> {
    let Some(admin) = std::env::var("TEST_POSTGRES_URL").ok() else {
        assert!(std::env::var("STOCK_TRACKER_REQUIRE_ALL_BACKENDS").is_err(), "TEST_POSTGRES_URL is required");
        eprintln!("note: TEST_POSTGRES_URL is not set; skipping");
        return None;
    };
    let mut url = url::Url::parse(&admin).unwrap();
    let name = format!("st_bin_{}", unique_suffix());
    let status = Command::new("psql")
        .args([admin.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql is installed with PostgreSQL");
    assert!(status.success());
    url.set_path(&name);
    Some(url.to_string())
}
