//! Configuration: environment variables, each overridable by the flag of the same name.
//!
//! | Variable | Flag | Default | Meaning |
//! |---|---|---|---|
//! | `BIND_ADDR` | `--bind-addr` | `127.0.0.1:8000` | address the HTTP server listens on |
//! | `DATA_DIR` | `--data-dir` | `./data` | where the embedded database and generated keys live |
//! | `DATABASE_URL` | `--database-url` | `sqlite://<DATA_DIR>/stock-tracker.db` | `sqlite://…` or `postgres://…` |
//! | `DATABASE_MAX_CONNECTIONS` | `--database-max-connections` | `10` | connection pool size (SQLite: up to 32 MiB of page cache each) |
//! | `REDIS_URL` | `--redis-url` | unset | `redis://…`: rate limits and failure throttles shared by every instance; reported by readiness |
//! | `JWT_SECRET` | `--jwt-secret` | generated (embedded) | HS256 key for access tokens, at least 32 bytes |
//! | `CREDENTIALS_KEY` | `--credentials-key` | generated (embedded) | 32 bytes, base64: the master key that wraps the credential data keys |
//! | `CREDENTIALS_KEYS_RETIRED` | `--credentials-keys-retired` | unset | comma-separated older master keys, for unwrapping only |
//! | `OPERATOR_TOKEN` | `--operator-token` | unset (API off) | bearer token of the operator API, at least 32 characters |
//! | `CORS_ORIGINS` | `--cors-origins` | unset (no CORS) | comma-separated origins, or `*` |
//! | `PLUGINS_DIR`, `PLUGIN_*` | | see [`crate::plugins`] | plugin directory, cache, grants (`PLUGIN_EXTRA_HOSTS`, `PLUGIN_BASE_URL_TENANTS`), limits |
//! | `SYNC_*` | | see [`crate::sync`] | schedules (default and minimum interval, pausing), attempts, rate-limit wait budget, page size |
//! | `JOBS_WORKERS`, `JOBS_LEASE_SECS`, `SHUTDOWN_GRACE_SECS` | | see [`crate::jobs`] | background workers per process, claim lease, grace period at shutdown |
//! | `CACHE_ENABLED`, `CACHE_TTL_SECS`, `CACHE_MAX_MB` | | see [`crate::cache`] | list answer cache (in Redis with `REDIS_URL`, else in memory) |
//! | `RATE_LIMIT_*`, `TRUSTED_PROXIES` | | see [`crate::ratelimit`] | request rate limits (global, tenant, anonymous per IP) |
//! | `SENTRY_*` | | see [`crate::telemetry::reporting`] | error and performance reporting (off by default) |
//! | `LOG_FORMAT` | `--log-format` | `text` | `text` or `json` |
//! | `RUST_LOG` | | `info` | log filter (`tracing_subscriber::EnvFilter` syntax) |
//!
//! With the embedded default (SQLite), `JWT_SECRET` and `CREDENTIALS_KEY` may be left unset: they are
//! generated once, stored with mode 0600 in `DATA_DIR`, and a warning is logged. With PostgreSQL they
//! are required, because several instances must share them.
//!
//! A bad value stops start-up with one line naming the variable ([`ConfigError`]). Secret values
//! are never echoed, not even in that line.

mod database;
pub mod files;
mod http;
pub mod secrets;

use std::path::PathBuf;

pub use database::{DatabaseConfig, DatabaseKind, RedisConfig};
pub use http::{CorsOrigins, HttpConfig, LogFormat};
pub use secrets::{ResolvedSecrets, SecretsConfig};

/// Everything the service needs to start, grouped by concern.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub http: HttpConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub secrets: SecretsConfig,
    #[command(flatten)]
    pub plugins: crate::plugins::PluginConfig,
    #[command(flatten)]
    pub sync: crate::sync::SyncConfig,
    #[command(flatten)]
    pub jobs: crate::jobs::JobsConfig,
    #[command(flatten)]
    pub cache: crate::cache::CacheConfig,
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookConfig,
    #[command(flatten)]
    pub telegram: crate::telegram::TelegramConfig,
    #[command(flatten)]
    pub ratelimit: crate::ratelimit::RateLimitConfig,
    #[command(flatten)]
    pub sentry: crate::telemetry::reporting::SentryConfig,
}

/// A configuration value that cannot be used; its `Display` is the one line printed at start-up.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable (and flag) at fault.
    pub variable: &'static str,
    /// What is wrong and how to fix it; never contains the value of a secret.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self { variable, problem: problem.into() }
    }
}

impl Config {
    /// A configuration for an embedded database at `url` with keys in `data_dir`; everything else
    /// at its default. Used by tests, benchmarks and tools.
    pub fn embedded(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Self {
            http: HttpConfig::default(),
            database: DatabaseConfig { data_dir, database_url, max_connections: 10 },
            redis: RedisConfig { redis_url: None },
            secrets: SecretsConfig::default(),
            plugins: crate::plugins::PluginConfig::default(),
            sync: crate::sync::SyncConfig::default(),
            jobs: crate::jobs::JobsConfig::default(),
            cache: crate::cache::CacheConfig::default(),
            webhooks: crate::webhooks::WebhookConfig::default(),
            telegram: crate::telegram::TelegramConfig::default(),
            ratelimit: crate::ratelimit::RateLimitConfig::default(),
            sentry: crate::telemetry::reporting::SentryConfig::default(),
        }
    }
}
