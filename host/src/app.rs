//! The shared state: built once at start-up, handed to every handler as [`AppState`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fred::prelude::{ClientLike, ReconnectPolicy};
use secrecy::ExposeSecret;

use crate::auth::JwtKeys;
use crate::config::{Config, ConfigError, CorsOrigins};
use crate::crypto::MasterKeys;
use crate::crypto::keys::{Keys, MasterSource};
use crate::plugins::Registry;
use crate::plugins::runtime::Runtime;
use crate::ratelimit::Limiter;
use crate::store::Store;
use crate::telemetry::Metrics;

/// What handlers extract: `State(app): AppState`.
pub type AppState = axum::extract::State<Arc<App>>;

/// Everything a request may need.
pub struct App {
    /// The configuration the process started with.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Access-token signing and verification.
    pub jwt: JwtKeys,
    /// Credential sealing keys (master keys from the configuration, data keys from the database).
    pub keyring: Keys,
    /// Parsed `CORS_ORIGINS`.
    pub cors: CorsOrigins,
    /// Loaded marketplace adapters.
    pub plugins: Arc<Registry>,
    /// Request rate limits: in Redis when `REDIS_URL` is set, else in-process.
    pub limiter: Limiter,
    /// Parsed `TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Prometheus series (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// Stops asking a failing limiter backend for a while.
    pub ratelimit_breaker: crate::ratelimit::breaker::Breaker,
    /// Redis, when `REDIS_URL` is set. Connected in the background: start-up does not wait for
    /// it, and readiness reports its state.
    pub redis: Option<fred::clients::Client>,
    /// Product and stock list answers.
    pub cache: crate::cache::Cache,
    /// Wakes an idle job worker of this process (a job was just enqueued here).
    pub job_wakeup: Arc<tokio::sync::Notify>,
    /// The Telegram bot, when `TELEGRAM_BOT_TOKEN` is set.
    pub telegram: Option<crate::telegram::Telegram>,
    /// The time forecasting and alerting see (tests set it).
    pub clock: crate::clock::Clock,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("store", &self.store.kind()).field("keyring", &self.keyring).finish_non_exhaustive()
    }
}

impl App {
    /// Validates the configuration, connects, migrates and assembles the state.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // One TLS provider for every client in the process (plugin HTTP, database).
        crate::plugins::egress::ensure_tls_provider();
        let cors = config.http.cors()?;
        config.sentry.validate()?;
        config.sync.validate()?;
        config.webhooks.validate()?;
        config.telegram.validate()?;
        config.plugins.base_url_tenants()?;
        let (url, kind) = config.database.resolve()?;
        // Plugins and their compiled cache live here on either backend; keys and the database
        // too on the embedded default.
        crate::config::files::private_dir("DATA_DIR", &config.database.data_dir)?;
        let secrets = config.secrets.resolve(&config.database.data_dir, kind)?;
        for name in &secrets.generated {
            tracing::warn!(
                secret = name,
                data_dir = %config.database.data_dir.display(),
                "{name} was not set: generated one and stored it in DATA_DIR (mode 0600); set {name} explicitly in production"
            );
        }
        let redis = config.redis.resolve()?.map(|url| connect_redis(url.expose_secret())).transpose()?;

        let store = Store::connect(&url, kind, config.database.max_connections)
            .await
            .with_context(|| format!("cannot connect to the {kind:?} database (DATABASE_URL)"))?;
        store.migrate().await.context("cannot apply database migrations")?;
        let masters = match secrets.credentials_key_file {
            Some(path) => MasterSource::File(path),
            None => MasterSource::Fixed(Arc::new(MasterKeys::new(
                &secrets.credentials_key,
                &secrets.retired_credentials_keys,
            ))),
        };
        let keyring = Keys::load(&store, masters).await.context("cannot load the credential keys")?;
        let metrics = Arc::new(Metrics::new());
        let plugins = load_plugins(&config, metrics.clone()).await?;
        let trusted_proxies = config.ratelimit.trusted()?;
        let limiter = match &redis {
            Some(client) => Limiter::Redis(crate::ratelimit::redis::RedisLimiter::new(client.clone())),
            None => Limiter::Memory(crate::ratelimit::memory::MemoryLimiter::default()),
        };

        let shared = store.kind() == crate::config::DatabaseKind::Postgres;
        let cache = crate::cache::Cache::new(&config.cache, redis.clone(), shared, metrics.clone());
        Ok(Self {
            jwt: JwtKeys::new(&secrets.jwt_secret),
            keyring,
            store,
            cors,
            plugins,
            limiter,
            trusted_proxies,
            metrics,
            ratelimit_breaker: Default::default(),
            redis,
            cache,
            job_wakeup: Arc::new(tokio::sync::Notify::new()),
            telegram: crate::telegram::Telegram::new(&config.telegram),
            clock: crate::clock::Clock::default(),
            config,
        })
    }
}

/// Builds the plugin runtime and loads plugins: those in `PLUGINS_DIR` (watched for changes from
/// then on), and the built-in ones whose id the directory does not provide.
async fn load_plugins(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Arc<Registry>> {
    let data_dir = &config.database.data_dir;
    let cache_dir = config.plugins.plugin_cache_dir.clone().unwrap_or_else(|| data_dir.join("plugin-cache"));
    let plugins_dir = config.plugins.plugins_dir.clone().unwrap_or_else(|| data_dir.join("plugins"));
    let runtime = Arc::new(Runtime::new(config.plugins.clone(), &cache_dir, metrics)?);
    std::fs::create_dir_all(&plugins_dir)
        .map_err(|e| ConfigError::new("PLUGINS_DIR", format!("cannot create {}: {e}", plugins_dir.display())))?;
    let registry = Arc::new(Registry::new(runtime, Some(plugins_dir.clone())));
    crate::plugins::directory::scan(&registry, &plugins_dir).await;
    for (manifest, wasm) in crate::plugins::bundled::BUNDLED {
        let manifest = crate::plugins::manifest::Manifest::parse(manifest)?;
        if registry.get(&manifest.id).is_none() {
            registry.install(wasm.to_vec(), manifest).await.map_err(|e| anyhow::anyhow!("built-in plugin: {e}"))?;
        }
    }
    crate::plugins::directory::watch(registry.clone(), plugins_dir)?;
    Ok(registry)
}

/// A Redis client that connects (and reconnects) in the background, with short command timeouts
/// so that a dead Redis costs a bounded wait, never a hang.
fn connect_redis(url: &str) -> Result<fred::clients::Client, ConfigError> {
    let config = fred::types::config::Config::from_url(url)
        .map_err(|e| ConfigError::new("REDIS_URL", format!("not a valid Redis URL ({})", e.details())))?;
    let client = fred::types::Builder::from_config(config)
        .with_performance_config(|p| p.default_command_timeout = Duration::from_millis(250))
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_millis(500);
            c.internal_command_timeout = Duration::from_millis(500);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build()
        .map_err(|e| ConfigError::new("REDIS_URL", format!("cannot build a client ({})", e.details())))?;
    let _background = client.connect();
    Ok(client)
}
