//! Marketplace adapters as sandboxed WebAssembly components.
//!
//! - [`engine`]: one wasmtime `Engine` per process: pooling allocator, epoch interruption driven by
//!   a ticker thread, component-model concurrency off.
//! - [`runtime`]: a loaded plugin version ([`runtime::LoadedPlugin`], holding an `InstancePre`) and
//!   the call path: a fresh `Store` and instance per call, memory cap (`StoreLimits`), wall-clock
//!   deadline (epoch callback plus an outer timeout), WASI with an empty context.
//! - [`imports`]: what a plugin may use: `http` (through [`egress`]) and `log`.
//! - [`registry`]: the atomically swapped map from plugin id to loaded version, with rollback;
//!   [`cache`]: compiled code on disk, keyed by content hash and engine compatibility.
//! - [`manifest`]: the `plugin.toml` format.
//!
//! - [`settings`]: which connection settings a tenant may set.
//!
//! Configuration ([`PluginConfig`]): `PLUGINS_DIR`, `PLUGIN_CACHE_DIR`, `PLUGIN_EXTRA_HOSTS`, `PLUGIN_BASE_URL_TENANTS`,
//! `PLUGIN_MEMORY_MB`, `PLUGIN_TIMEOUT_MS`, `PLUGIN_MAX_INSTANCES`, `PLUGIN_MAX_RESPONSE_MB`, `PLUGIN_KEEP_RESIDENT_MB`.

pub mod bindings;
pub mod bundled;
pub mod cache;
pub mod check;
pub mod directory;
pub mod egress;
pub mod engine;
pub mod imports;
pub mod manifest;
mod outcome;
pub mod registry;
pub mod runtime;
pub mod settings;
pub mod spool;

use std::path::PathBuf;
use std::time::Duration;

pub use registry::Registry;
pub use runtime::{CallError, LoadedPlugin};

/// Plugin host settings.
#[derive(Debug, Clone, clap::Args)]
pub struct PluginConfig {
    /// Directory scanned at start and watched for `<id>.wasm` + `<id>.toml` (default: DATA_DIR/plugins).
    #[arg(long, env = "PLUGINS_DIR", value_name = "PLUGINS_DIR")]
    pub plugins_dir: Option<PathBuf>,

    /// Where compiled plugin code is cached (default: DATA_DIR/plugin-cache).
    #[arg(long, env = "PLUGIN_CACHE_DIR", value_name = "PLUGIN_CACHE_DIR")]
    pub plugin_cache_dir: Option<PathBuf>,

    /// Origins every plugin may call besides its manifest's, comma-separated (e.g. `http://127.0.0.1:9100`).
    #[arg(long, env = "PLUGIN_EXTRA_HOSTS", value_name = "PLUGIN_EXTRA_HOSTS")]
    pub plugin_extra_hosts: Option<String>,

    /// Tenants whose connections may set `settings.base_url` (point their adapter at another
    /// host, such as a fake or a sandbox): comma-separated tenant ids, or `*` for every tenant
    /// (tests and the demo only). Unset: no tenant may.
    #[arg(long, env = "PLUGIN_BASE_URL_TENANTS", value_name = "PLUGIN_BASE_URL_TENANTS")]
    pub plugin_base_url_tenants: Option<String>,

    /// Memory cap per plugin call, MiB (a manifest may ask for less).
    #[arg(long, env = "PLUGIN_MEMORY_MB", value_name = "PLUGIN_MEMORY_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub plugin_memory_mb: u64,

    /// Wall-clock deadline per plugin call, milliseconds (a manifest may ask for less).
    #[arg(long, env = "PLUGIN_TIMEOUT_MS", value_name = "PLUGIN_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub plugin_timeout_ms: u64,

    /// Plugin calls that may run at once (sizes the instance pool).
    #[arg(long, env = "PLUGIN_MAX_INSTANCES", value_name = "PLUGIN_MAX_INSTANCES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub plugin_max_instances: u32,

    /// Largest response body a plugin's HTTP request may receive, MiB: the bytes a spooled body
    /// (`http.send-spooled`, written to a temporary file and read in pieces) may reach. A body
    /// handed whole into the call (`http.send`) is also bounded by the call's memory.
    #[arg(long, env = "PLUGIN_MAX_RESPONSE_MB", value_name = "PLUGIN_MAX_RESPONSE_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=16384))]
    pub plugin_max_response_mb: u64,

    /// Memory each slot of the resident instance pool keeps between calls, MiB: the pages a call
    /// dirtied (up to this much) are zeroed instead of handed back to the kernel, so the next call
    /// does not fault them in again. Calls whose function last grew its memory use that pool; the
    /// rest use the lean one (see `plugins::engine`). 0: one lean pool only. Worst-case extra
    /// RSS: PLUGIN_MAX_INSTANCES times this.
    #[arg(long, env = "PLUGIN_KEEP_RESIDENT_MB", value_name = "PLUGIN_KEEP_RESIDENT_MB", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub plugin_keep_resident_mb: u64,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            plugins_dir: None,
            plugin_cache_dir: None,
            plugin_extra_hosts: None,
            plugin_base_url_tenants: None,
            plugin_memory_mb: 64,
            plugin_timeout_ms: 10_000,
            plugin_max_instances: 64,
            plugin_max_response_mb: 1024,
            plugin_keep_resident_mb: 16,
        }
    }
}

impl PluginConfig {
    /// The parsed operator grants.
    pub fn extra_origins(&self) -> Result<Vec<egress::Origin>, crate::config::ConfigError> {
        self.plugin_extra_hosts
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                egress::Origin::parse(s).map_err(|e| {
                    crate::config::ConfigError::new("PLUGIN_EXTRA_HOSTS", format!("`{s}` is not an origin: {e}"))
                })
            })
            .collect()
    }

    /// The parsed `PLUGIN_BASE_URL_TENANTS`: `None` for `*` (every tenant), else the listed ids.
    pub fn base_url_tenants(&self) -> Result<Option<Vec<uuid::Uuid>>, crate::config::ConfigError> {
        let raw = self.plugin_base_url_tenants.as_deref().unwrap_or_default().trim();
        if raw == "*" {
            return Ok(None);
        }
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                uuid::Uuid::try_parse(s).map_err(|_| {
                    crate::config::ConfigError::new(
                        "PLUGIN_BASE_URL_TENANTS",
                        format!("`{s}` is not a tenant id (or `*`)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Whether `tenant_id`'s connections may set `settings.base_url` (checked at start-up, so a
    /// bad value here means no).
    pub fn base_url_allowed(&self, tenant_id: uuid::Uuid) -> bool {
        match self.base_url_tenants() {
            Ok(None) => true,
            Ok(Some(ids)) => ids.contains(&tenant_id),
            Err(_) => false,
        }
    }

    /// Per-call deadline.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.plugin_timeout_ms)
    }
}
