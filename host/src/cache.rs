//! The answer cache: product and stock list answers per tenant, in Redis when `REDIS_URL` is set
//! (shared by every instance), in process memory otherwise.
//!
//! An entry is the serialized answer, keyed by tenant, a per-tenant *generation*, what is cached
//! (`products`, `stocks`: the `cache_key` label of the hit and miss counters) and a hash of the
//! query. Invalidation bumps the tenant's generation ([`Cache::invalidate`], called by the sync
//! after each attempt and by a connection's deletion): older entries are never read again and
//! expire on their own. A reader takes the generation *before* it reads the database, so an
//! answer loaded while a sync committed is stored under the old generation and never served;
//! nothing stale survives an invalidation.
//!
//! A miss is loaded once per process however many requests wait for it (single-flight): the
//! others wait for the first and take its answer.
//!
//! Redis failing is never an error: a lookup that fails is a miss answered from the database
//! (after a few failures in a row Redis is left alone for a moment, [`Breaker`]), and an
//! invalidation that fails is retried by a durable job ([`INVALIDATE_JOB`]) until Redis takes
//! it, so entries written before an outage are not served after a sync that happened during it;
//! until then the instance that synced answers that tenant from the database.
//!
//! In process, several instances on one PostgreSQL each keep their own cache: an invalidation is
//! announced to the others with `NOTIFY`, and an instance serves cached answers only while it
//! hears announcements (see [`memory`]).

pub mod invalidation;
mod memory;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use fred::prelude::Client;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::telemetry::Metrics;

/// What is cached (the `cache_key` label).
pub const KEYS: [&str; 2] = ["products", "stocks"];
/// The job kind that retries a failed invalidation.
pub const INVALIDATE_JOB: &str = "cache_invalidate";

/// Cache settings.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheConfig {
    /// Whether list answers are cached.
    #[arg(long, env = "CACHE_ENABLED", value_name = "CACHE_ENABLED", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub cache_enabled: bool,

    /// Longest an entry lives, seconds (invalidation normally ends it sooner).
    #[arg(long, env = "CACHE_TTL_SECS", value_name = "CACHE_TTL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub cache_ttl_secs: u64,

    /// Memory the in-process cache may take, MiB.
    #[arg(long, env = "CACHE_MAX_MB", value_name = "CACHE_MAX_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub cache_max_mb: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { cache_enabled: true, cache_ttl_secs: 300, cache_max_mb: 64 }
    }
}

enum Backend {
    Off,
    Memory(memory::MemoryCache),
    Redis(redis::RedisCache),
}

/// The cache of one process.
pub struct Cache {
    backend: Backend,
    ttl: Duration,
    /// Loads in progress, by entry key (single-flight).
    flights: moka::future::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    metrics: Arc<Metrics>,
}

/// A cached (or freshly loaded) JSON answer.
#[derive(Debug, Clone)]
pub struct Cached(pub Bytes);

impl IntoResponse for Cached {
    fn into_response(self) -> Response {
        ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

impl Cache {
    /// The cache `config` asks for: in Redis when a client is given, else in memory; `shared`
    /// when other instances may change the data (PostgreSQL).
    pub fn new(config: &CacheConfig, redis: Option<Client>, shared: bool, metrics: Arc<Metrics>) -> Self {
        let ttl = Duration::from_secs(config.cache_ttl_secs);
        let backend = match (config.cache_enabled, redis) {
            (false, _) => Backend::Off,
            (true, Some(client)) => Backend::Redis(redis::RedisCache::new(client)),
            (true, None) => Backend::Memory(memory::MemoryCache::new(config.cache_max_mb << 20, ttl, shared)),
        };
        let flights = moka::future::Cache::builder().time_to_idle(Duration::from_secs(60)).build();
        Self { backend, ttl, flights, metrics }
    }

    /// The cached answer to `query` of `what` (one of [`KEYS`]) for the tenant, or `load`'s,
    /// which is then cached. `load` errors are returned and nothing is cached.
    pub async fn get_or_load<T, E, Fut>(
        &self,
        tenant_id: Uuid,
        what: &'static str,
        query: &impl Serialize,
        load: impl FnOnce() -> Fut,
    ) -> Result<Cached, E>
    where
        T: Serialize,
        Fut: Future<Output = Result<T, E>>,
    {
        if matches!(self.backend, Backend::Off) {
            return Ok(Cached(serialize(&load().await?)));
        }
        let suffix = entry_suffix(what, query);
        let (generation, hit) = self.lookup(tenant_id, &suffix).await;
        if let Some(bytes) = hit {
            self.metrics.cache_hits.with_label_values(&[what]).inc();
            return Ok(Cached(bytes));
        }
        self.metrics.cache_misses.with_label_values(&[what]).inc();
        let Some(generation) = generation else {
            // The backend did not answer: no cache for this request.
            return Ok(Cached(serialize(&load().await?)));
        };
        let key = entry_key(tenant_id, generation, &suffix);
        let flight = self.flights.get_with(key.clone(), async { Arc::default() }).await;
        let _only_loader = flight.lock().await;
        // Another request may have loaded it while this one waited.
        if let (_, Some(bytes)) = self.lookup(tenant_id, &suffix).await {
            return Ok(Cached(bytes));
        }
        let bytes = serialize(&load().await?);
        self.store(key, bytes.clone()).await;
        Ok(Cached(bytes))
    }

    /// Whether this is an in-process cache over data other instances may change: its
    /// invalidations are announced, and it must hear theirs ([`invalidation::listen`]).
    pub fn announces(&self) -> bool {
        matches!(&self.backend, Backend::Memory(memory) if memory.shared())
    }

    /// Another instance's invalidation of the tenant, heard.
    pub fn heard(&self, tenant_id: Uuid) {
        if let Backend::Memory(memory) = &self.backend {
            memory.invalidate(tenant_id);
        }
    }

    /// Whether announcements are heard; with `missed`, some may have been lost: every entry
    /// cached so far is dropped.
    pub fn listening(&self, listening: bool, missed: bool) {
        if let Backend::Memory(memory) = &self.backend {
            memory.listening(listening, missed);
        }
    }

    /// Forgets every answer of the tenant. `false` when Redis did not take it (the caller
    /// retries: see [`INVALIDATE_JOB`]).
    pub async fn invalidate(&self, tenant_id: Uuid) -> bool {
        match &self.backend {
            Backend::Off => true,
            Backend::Memory(memory) => {
                memory.invalidate(tenant_id);
                true
            }
            Backend::Redis(redis) => redis.invalidate(tenant_id).await,
        }
    }

    /// The tenant's generation and the entry under it; generation `None` when the backend
    /// cannot be asked.
    async fn lookup(&self, tenant_id: Uuid, suffix: &str) -> (Option<u64>, Option<Bytes>) {
        match &self.backend {
            Backend::Off => (None, None),
            Backend::Memory(memory) => memory.lookup(tenant_id, suffix).await,
            Backend::Redis(redis) => redis.lookup(tenant_id, suffix).await,
        }
    }

    async fn store(&self, key: String, bytes: Bytes) {
        match &self.backend {
            Backend::Off => {}
            Backend::Memory(memory) => memory.store(key, bytes).await,
            Backend::Redis(redis) => redis.store(key, bytes, self.ttl).await,
        }
    }
}

fn serialize(value: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("answers serialize"))
}

fn entry_prefix(tenant_id: Uuid) -> String {
    format!("st:cache:{tenant_id}")
}

fn generation_key(tenant_id: Uuid) -> String {
    format!("{}:generation", entry_prefix(tenant_id))
}

/// `<what>:<hash of the query>`.
fn entry_suffix(what: &str, query: &impl Serialize) -> String {
    let query = serde_json::to_vec(query).expect("queries serialize");
    format!("{what}:{}", hex::encode(&Sha256::digest(&query)[..16]))
}

fn entry_key(tenant_id: Uuid, generation: u64, suffix: &str) -> String {
    format!("{}:{generation}:{suffix}", entry_prefix(tenant_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_entries_hit_until_invalidated_and_load_once() {
        let cache = Cache::new(&CacheConfig::default(), None, false, Arc::new(Metrics::new()));
        let tenant = Uuid::now_v7();
        let loads = std::sync::atomic::AtomicU32::new(0);
        let load = |n: u32| {
            let loads = &loads;
            move || async move {
                loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, ()>(vec![n])
            }
        };
        let first = cache.get_or_load(tenant, "products", &("q", 1), load(1)).await.unwrap();
        let again = cache.get_or_load(tenant, "products", &("q", 1), load(2)).await.unwrap();
        assert_eq!((first.0.as_ref(), again.0.as_ref()), (&b"[1]"[..], &b"[1]"[..]));
        let other_query = cache.get_or_load(tenant, "products", &("q", 2), load(3)).await.unwrap();
        assert_eq!(other_query.0.as_ref(), b"[3]");
        assert!(cache.invalidate(tenant).await);
        let after = cache.get_or_load(tenant, "products", &("q", 1), load(4)).await.unwrap();
        assert_eq!(after.0.as_ref(), b"[4]");
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(cache.metrics.cache_hits.with_label_values(&["products"]).get(), 1);
        assert_eq!(cache.metrics.cache_misses.with_label_values(&["products"]).get(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_load_once() {
        let cache = Arc::new(Cache::new(&CacheConfig::default(), None, false, Arc::new(Metrics::new())));
        let tenant = Uuid::now_v7();
        let loads = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load(tenant, "stocks", &"same", || async move {
                            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok::<_, ()>("answer")
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().0.as_ref(), b"\"answer\"");
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1, "one load for sixteen waiting requests");
    }
}
