//! The Redis backend of the answer cache: one Lua lookup (generation and entry in one round
//! trip), a 50 ms budget and a breaker in front of every lookup and store, invalidation by
//! `INCR` of the tenant's generation.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use fred::prelude::{Client, KeysInterface};
use fred::types::Expiration;
use fred::types::scripts::Script;
use uuid::Uuid;

use super::{entry_prefix, generation_key};
use crate::ratelimit::breaker::Breaker;

/// Longest a cache lookup or store may take in Redis: a cache slower than this is worse than
/// the database it stands in front of.
const BUDGET: Duration = Duration::from_millis(50);

/// One lookup in Redis: the tenant's generation and the entry under it, in one round trip.
/// KEYS: the generation key. ARGV: the entry key before and after the generation.
const LOOKUP: &str = r#"
local g = redis.call('GET', KEYS[1]) or '0'
return {g, redis.call('GET', ARGV[1] .. g .. ARGV[2])}
"#;

pub(super) struct RedisCache {
    client: Client,
    lookup: Script,
    breaker: Breaker,
    /// Tenants whose invalidation Redis has not taken yet: this process answers them from the
    /// database until it has, even once Redis is reachable again.
    pending: Mutex<HashSet<Uuid>>,
}

impl RedisCache {
    pub(super) fn new(client: Client) -> Self {
        Self { client, lookup: Script::from_lua(LOOKUP), breaker: Breaker::default(), pending: Mutex::default() }
    }

    /// Bumps the tenant's generation; `false` when Redis did not take it.
    pub(super) async fn invalidate(&self, tenant_id: Uuid) -> bool {
        // Not behind the breaker: an invalidation is always tried.
        let taken = match self.client.incr::<i64, _>(generation_key(tenant_id)).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(tenant.id = %tenant_id, error = %err, "cannot invalidate the answer cache in Redis");
                false
            }
        };
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if taken {
            pending.remove(&tenant_id);
        } else {
            pending.insert(tenant_id);
        }
        taken
    }

    /// The tenant's generation and the entry under it; `(None, None)` when Redis cannot be asked.
    pub(super) async fn lookup(&self, tenant_id: Uuid, suffix: &str) -> (Option<u64>, Option<Bytes>) {
        if self.pending.lock().unwrap_or_else(|e| e.into_inner()).contains(&tenant_id) || !self.breaker.allow() {
            return (None, None);
        }
        let prefix = format!("{}:", entry_prefix(tenant_id));
        let keys = vec![generation_key(tenant_id)];
        let call = self.lookup.evalsha_with_reload::<Vec<fred::types::Value>, _, _>(
            &self.client,
            keys,
            vec![prefix, format!(":{suffix}")],
        );
        match tokio::time::timeout(BUDGET, call).await {
            Ok(Ok(values)) => {
                self.breaker.success();
                let mut values = values.into_iter();
                let generation = values.next().and_then(|g| g.as_str().and_then(|g| g.parse().ok()));
                (generation, values.next().and_then(fred::types::Value::into_bytes))
            }
            Ok(Err(err)) => {
                self.breaker.failure();
                tracing::debug!(error = %err, "answer cache lookup failed; answering from the database");
                (None, None)
            }
            Err(_) => {
                self.breaker.failure();
                tracing::debug!("answer cache lookup timed out; answering from the database");
                (None, None)
            }
        }
    }

    pub(super) async fn store(&self, key: String, bytes: Bytes, ttl: Duration) {
        let set = self.client.set::<(), _, _>(key, bytes, Some(Expiration::EX(ttl.as_secs() as i64)), None, false);
        if !matches!(tokio::time::timeout(BUDGET, set).await, Ok(Ok(()))) {
            self.breaker.failure();
            tracing::debug!("cannot store an answer in the cache");
        }
    }
}
