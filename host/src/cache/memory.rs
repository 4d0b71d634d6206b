//! The in-process backend of the answer cache (moka: bounded by bytes, with a TTL).
//!
//! On PostgreSQL, several instances may share the data while each keeps its own cache, so an
//! invalidation is also announced to the others (`NOTIFY`, see [`super::invalidation`]) and each
//! instance bumps the tenant's generation when it hears one. An instance that is not listening
//! (not yet connected, or the connection dropped and announcements may have been missed) serves
//! no cached answer, and a lost connection drops every entry (a new epoch).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use uuid::Uuid;

use super::entry_key;

pub(super) struct MemoryCache {
    entries: moka::future::Cache<String, Bytes>,
    generations: Mutex<HashMap<Uuid, u64>>,
    /// Whether other instances may change the data (PostgreSQL): then answers are cached only
    /// while this instance hears their announcements.
    shared: bool,
    listening: AtomicBool,
    /// Bumped when announcements may have been missed: every entry before it is unreachable.
    epoch: AtomicU64,
}

impl MemoryCache {
    pub(super) fn new(max_bytes: u64, ttl: Duration, shared: bool) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &String, v: &Bytes| (k.len() + v.len()).try_into().unwrap_or(u32::MAX))
                .time_to_live(ttl)
                .build(),
            generations: Mutex::default(),
            shared,
            listening: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    pub(super) fn shared(&self) -> bool {
        self.shared
    }

    pub(super) fn invalidate(&self, tenant_id: Uuid) {
        *self.generations.lock().unwrap_or_else(|e| e.into_inner()).entry(tenant_id).or_default() += 1;
    }

    /// Announcements are heard (again); with `missed`, some may have been lost meanwhile.
    pub(super) fn listening(&self, listening: bool, missed: bool) {
        if missed {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.listening.store(listening, Ordering::SeqCst);
    }

    /// The tenant's generation (with the epoch) and the entry under it; `(None, None)` when
    /// answers may not be cached now.
    pub(super) async fn lookup(&self, tenant_id: Uuid, suffix: &str) -> (Option<u64>, Option<Bytes>) {
        if self.shared && !self.listening.load(Ordering::SeqCst) {
            return (None, None);
        }
        let own = self.generations.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant_id).copied().unwrap_or(0);
        let generation = (self.epoch.load(Ordering::SeqCst) << 40) + own;
        (Some(generation), self.entries.get(&entry_key(tenant_id, generation, suffix)).await)
    }

    pub(super) async fn store(&self, key: String, bytes: Bytes) {
        self.entries.insert(key, bytes).await;
    }
}
