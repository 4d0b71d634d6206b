//! Loading a plugin version and calling it: a fresh store and instance per call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use uuid::Uuid;

use super::bindings::{
    Account, AdapterError, AdapterInfo, AdapterPlugin, AdapterPluginPre, CallContext, Capability, PageRequest,
    PricePage, ProductPage, ProductRef, SUPPORTED_WIT_VERSIONS, SalePage, StockPage, WIT_PACKAGE, legacy, v0_1,
};
use super::cache::{CodeCache, content_hash};
use super::egress::{Egress, EgressConfig, EgressError, Origin};
use super::imports::{CallEnv, HostState, truncate};
use super::manifest::Manifest;
use super::spool::Spools;
use super::{PluginConfig, engine};
use crate::telemetry::reporting;

/// Why a plugin call produced no answer. `Adapter` is the plugin's own, well-formed refusal; the
/// rest are the sandbox containing a misbehaving plugin.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{}", describe(.0))]
    Adapter(AdapterError),
    #[error("plugin exceeded its {0:?} deadline")]
    Timeout(Duration),
    #[error("plugin exceeded its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(usize),
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

impl CallError {
    /// A short, bounded label for metrics and run records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Adapter(AdapterError::InvalidCredentials(_)) => "invalid_credentials",
            Self::Adapter(AdapterError::RateLimited(_)) => "rate_limited",
            Self::Adapter(AdapterError::Transient(_)) => "transient",
            Self::Adapter(AdapterError::Upstream(_)) => "upstream",
            Self::Adapter(AdapterError::Unsupported(_)) => "unsupported",
            Self::Adapter(AdapterError::Internal(_)) => "adapter_internal",
            Self::Timeout(_) => "timeout",
            Self::MemoryLimit(_) => "memory_limit",
            Self::Trap(_) => "trap",
            Self::Instantiate(_) => "instantiate",
        }
    }
}

/// An adapter's refusal in words, as tenants see it (in API errors and sync runs): the adapter's
/// text passes through [`shown`].
pub fn describe(err: &AdapterError) -> String {
    match err {
        AdapterError::InvalidCredentials(m) => format!("invalid credentials: {}", shown(m)),
        AdapterError::RateLimited(r) => format!("rate limited by the marketplace for {} s", r.retry_after_secs),
        AdapterError::Transient(m) => format!("marketplace failed: {}", shown(m)),
        AdapterError::Upstream(m) => format!("marketplace error: {}", shown(m)),
        AdapterError::Unsupported(m) => format!("unsupported: {}", shown(m)),
        AdapterError::Internal(m) => format!("adapter error: {}", shown(m)),
    }
}

/// Longest adapter or upstream text shown to a tenant, in characters.
pub const MAX_SHOWN_CHARS: usize = 300;

/// An adapter's (often upstream's) text made fit to show a tenant: control characters and runs of
/// whitespace become one space, and it is cut at [`MAX_SHOWN_CHARS`] with `…`. Upstream bodies
/// can be whole HTML pages or echo request data; this keeps the gist and nothing more.
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_CHARS + 4));
    let mut chars = 0;
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        if chars + usize::from(space) >= MAX_SHOWN_CHARS {
            out.push('…');
            return out;
        }
        if std::mem::take(&mut space) {
            out.push(' ');
            chars += 1;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// Why a version was not loaded. The message is shown to the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// Counters of one loaded version (reported by the admin API).
#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub http_requests: AtomicU64,
    pub http_denied: AtomicU64,
    pub http_micros: AtomicU64,
    /// The largest linear memory any call of this version had, bytes.
    pub memory_peak_bytes: AtomicU64,
}

impl PluginStats {
    pub(crate) fn record_http(&self, error: Option<&EgressError>, took: Duration) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        self.http_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if matches!(error, Some(EgressError::Denied(_))) {
            self.http_denied.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A compiled, checked plugin version, ready to instantiate.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub info: AdapterInfo,
    /// Hex SHA-256 of the component bytes.
    pub content_hash: String,
    /// WIT package version the component targets.
    pub wit_version: String,
    pub loaded_at: DateTime<Utc>,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    pub stats: Arc<PluginStats>,
    /// The component bytes (to persist or re-install this version).
    pub source: Arc<[u8]>,
    pre: Pre,
    /// The same component linked in the resident pool's engine (absent without that pool).
    resident_pre: Option<Pre>,
    /// Whether the last call of each function ([`Call::index`]) grew its memory: the next one
    /// then runs in the resident pool.
    last_grew: [AtomicBool; Call::KINDS],
    origins: Arc<Vec<Origin>>,
    memory_bytes: usize,
    timeout: Duration,
    id: Arc<str>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.manifest.id)
            .field("version", &self.info.version)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

/// A plugin's description as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginSummary {
    pub id: String,
    pub version: String,
    pub marketplace: String,
    pub content_hash: String,
    pub wit_version: String,
    pub loaded_at: DateTime<Utc>,
    pub calls: u64,
    pub failures: u64,
    pub http_requests: u64,
    pub http_denied: u64,
    /// The largest linear memory any call of this version had, and the cap a call may reach.
    pub memory_peak_bytes: u64,
    pub memory_limit_bytes: u64,
}

/// The linked component, by the WIT version it targets.
enum Pre {
    Current(AdapterPluginPre<HostState>),
    V0_1(v0_1::AdapterPluginPre<HostState>),
}

impl LoadedPlugin {
    pub fn summary(&self) -> PluginSummary {
        PluginSummary {
            id: self.manifest.id.clone(),
            version: self.info.version.clone(),
            marketplace: self.info.marketplace.clone(),
            content_hash: self.content_hash.clone(),
            wit_version: self.wit_version.clone(),
            loaded_at: self.loaded_at,
            calls: self.stats.calls.load(Ordering::Relaxed),
            failures: self.stats.failures.load(Ordering::Relaxed),
            http_requests: self.stats.http_requests.load(Ordering::Relaxed),
            http_denied: self.stats.http_denied.load(Ordering::Relaxed),
            memory_peak_bytes: self.stats.memory_peak_bytes.load(Ordering::Relaxed),
            memory_limit_bytes: self.memory_bytes as u64,
        }
    }

    /// Whether the adapter declared `capability` (so its optional export answers).
    pub fn can(&self, capability: Capability) -> bool {
        self.info.capabilities.contains(&capability)
    }
}

/// One call into a plugin.
enum Call {
    Info,
    Verify(CallContext),
    Products(CallContext, PageRequest),
    Stocks(CallContext, PageRequest),
    SellerStocks(CallContext, PageRequest, Vec<ProductRef>),
    Prices(CallContext, PageRequest),
    Sales(CallContext, PageRequest),
}

impl Call {
    /// How many functions there are ([`Self::index`]).
    const KINDS: usize = 7;

    /// The function, as an index below [`Self::KINDS`].
    fn index(&self) -> usize {
        match self {
            Self::Info => 0,
            Self::Verify(_) => 1,
            Self::Products(..) => 2,
            Self::Stocks(..) => 3,
            Self::SellerStocks(..) => 4,
            Self::Prices(..) => 5,
            Self::Sales(..) => 6,
        }
    }

    /// The WIT function's name, for breadcrumbs.
    fn name(&self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Verify(_) => "verify-credentials",
            Self::Products(..) => "list-products",
            Self::Stocks(..) => "fetch-stocks",
            Self::SellerStocks(..) => "fetch-seller-stocks",
            Self::Prices(..) => "fetch-prices",
            Self::Sales(..) => "fetch-sales",
        }
    }
}

enum Output {
    Info(AdapterInfo),
    Verify(Result<Account, AdapterError>),
    Products(Result<ProductPage, AdapterError>),
    Stocks(Result<StockPage, AdapterError>),
    Prices(Result<PricePage, AdapterError>),
    Sales(Result<SalePage, AdapterError>),
}

impl Output {
    /// The adapter's refusal, if it refused.
    fn refusal(&self) -> Option<&AdapterError> {
        match self {
            Self::Info(_) => None,
            Self::Verify(r) => r.as_ref().err(),
            Self::Products(r) => r.as_ref().err(),
            Self::Stocks(r) => r.as_ref().err(),
            Self::Prices(r) => r.as_ref().err(),
            Self::Sales(r) => r.as_ref().err(),
        }
    }
}

/// Whose spooled bodies a call reads and makes: a sync passes its connection's (bodies then
/// serve the phase's next calls until [`Runtime::release`]); other calls get their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(pub Uuid);

impl Scope {
    /// A scope of one call.
    pub fn once() -> Self {
        Self(Uuid::new_v4())
    }
}

/// One instance pool: its engine, the linker of the host's imports, and its compiled-code cache
/// (both pools' engines compile alike, so they share the cached files).
struct Pool {
    engine: Engine,
    linker: Linker<HostState>,
    cache: CodeCache,
}

impl Pool {
    fn new(engine: Engine, cache_dir: &std::path::Path) -> anyhow::Result<Self> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        AdapterPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        v0_1::AdapterPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        let cache = CodeCache::new(cache_dir, &engine)?;
        Ok(Self { engine, linker, cache })
    }

    /// The component compiled (or taken from the cache) for this pool's engine. Blocking.
    fn component(&self, hash: &str, wasm: &[u8]) -> Result<(Component, bool), LoadError> {
        self.cache
            .load_or_compile(&self.engine, hash, wasm)
            .map_err(|e| LoadError(format!("not a valid component: {e:#}")))
    }

    /// `component` linked against the host's imports, for `wit_version`.
    fn link(&self, component: &Component, wit_version: &str) -> Result<Pre, LoadError> {
        let instance_pre =
            self.linker.instantiate_pre(component).map_err(|e| LoadError(format!("cannot link: {e:#}")))?;
        let missing = |e: wasmtime::Error| LoadError(format!("missing exports: {e:#}"));
        Ok(if wit_version == "0.1.0" {
            Pre::V0_1(v0_1::AdapterPluginPre::new(instance_pre).map_err(missing)?)
        } else {
            Pre::Current(AdapterPluginPre::new(instance_pre).map_err(missing)?)
        })
    }
}

/// The engines, linkers and policies shared by every plugin.
pub struct Runtime {
    metrics: Arc<crate::telemetry::Metrics>,
    /// Calls that touch little memory: every page handed back to the kernel after the call.
    lean: Pool,
    /// Calls that touch a lot: a slot keeps up to `PLUGIN_KEEP_RESIDENT_MB` of dirtied pages.
    resident: Option<Pool>,
    /// Every call in `resident` (benchmarks compare it with the product's choice).
    resident_always: bool,
    egress: Egress,
    config: PluginConfig,
    spools: Arc<Spools>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.lean.cache).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine and linker. `cache_dir` holds compiled code.
    pub fn new(
        config: PluginConfig,
        cache_dir: &std::path::Path,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> anyhow::Result<Self> {
        let engines = engine::build(&config)?;
        let lean = Pool::new(engines.lean, cache_dir)?;
        let resident = engines.resident.map(|e| Pool::new(e, cache_dir)).transpose()?;
        let egress = Egress::new(EgressConfig {
            extra_origins: config.extra_origins()?,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: (config.plugin_max_response_mb as usize) << 20,
            max_redirects: 5,
        });
        let spools = Arc::new(Spools::new()?);
        Ok(Self { metrics, lean, resident, resident_always: false, egress, config, spools })
    }

    /// The same runtime sending every call to the resident pool, for benchmarks comparing that
    /// with the product's choice.
    pub fn resident_for_every_call(mut self) -> Self {
        self.resident_always = true;
        self
    }

    /// Compiles (or takes from the cache) and checks a component: it must be a WebAssembly
    /// component (not precompiled code), target a supported WIT version, link against the host's
    /// imports, and report the manifest's id from `info()`.
    pub async fn load(self: &Arc<Self>, wasm: Vec<u8>, manifest: Manifest) -> Result<LoadedPlugin, LoadError> {
        if Engine::detect_precompiled(&wasm).is_some() {
            return Err(LoadError("precompiled code is not accepted; upload the .wasm component".into()));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError("not a WebAssembly file".into()));
        }
        if !SUPPORTED_WIT_VERSIONS.contains(&manifest.wit.as_str()) {
            return Err(LoadError(format!(
                "manifest declares WIT {WIT_PACKAGE}@{}; this host supports {}",
                manifest.wit,
                SUPPORTED_WIT_VERSIONS.join(", ")
            )));
        }
        let hash = content_hash(&wasm);
        let source: Arc<[u8]> = wasm.into();
        let (this, hash2, bytes) = (self.clone(), hash.clone(), source.clone());
        let ((component, from_cache), resident) = tokio::task::spawn_blocking(move || {
            let lean = this.lean.component(&hash2, &bytes)?;
            // The resident engine compiles alike: it finds the file the lean one just cached.
            let resident = this.resident.as_ref().map(|p| p.component(&hash2, &bytes)).transpose()?;
            Ok::<_, LoadError>((lean, resident))
        })
        .await
        .map_err(|e| LoadError(format!("compile task failed: {e}")))??;
        let wit_version = self.check_wit_version(&component)?;
        if wit_version != manifest.wit {
            return Err(LoadError(format!(
                "the component targets WIT {WIT_PACKAGE}@{wit_version} but its manifest says wit = \"{}\"",
                manifest.wit
            )));
        }
        let pre = self.lean.link(&component, &wit_version)?;
        let resident_pre = match (&self.resident, resident) {
            (Some(pool), Some((component, _))) => Some(pool.link(&component, &wit_version)?),
            _ => None,
        };

        let memory_bytes =
            (manifest.limits.memory_mb.unwrap_or(u64::MAX).min(self.config.plugin_memory_mb) as usize) << 20;
        let timeout =
            Duration::from_millis(manifest.limits.timeout_ms.unwrap_or(u64::MAX).min(self.config.plugin_timeout_ms));
        let mut plugin = LoadedPlugin {
            info: AdapterInfo {
                id: manifest.id.clone(),
                name: String::new(),
                version: manifest.version.clone(),
                marketplace: String::new(),
                credential_fields: Vec::new(),
                capabilities: Vec::new(),
                settings: Vec::new(),
            },
            id: manifest.id.as_str().into(),
            origins: Arc::new(manifest.origins()),
            manifest,
            content_hash: hash,
            wit_version,
            loaded_at: Utc::now(),
            from_cache,
            stats: Arc::default(),
            source,
            pre,
            resident_pre,
            last_grew: Default::default(),
            memory_bytes,
            timeout,
        };
        let info = self.info(&plugin).await.map_err(|e| LoadError(format!("info() failed: {e}")))?;
        if info.id != plugin.manifest.id {
            return Err(LoadError(format!(
                "info() reports id `{}` but the manifest says `{}`",
                info.id, plugin.manifest.id
            )));
        }
        if let Some(bad) =
            info.settings.iter().find(|f| !super::manifest::valid_id(&f.name) || f.name == super::settings::BASE_URL)
        {
            return Err(LoadError(format!(
                "info() declares a setting `{}`; names are 1-64 characters of a-z, 0-9, `-` or `_`, and not base_url",
                truncate(&bad.name, 64)
            )));
        }
        if plugin.wit_version != "0.1.0" && !plugin.manifest.settings.is_empty() {
            return Err(LoadError(
                "since WIT 0.2.0 an adapter declares its settings in info(), not in the manifest's `settings`".into(),
            ));
        }
        plugin.info = info;
        Ok(plugin)
    }

    /// The WIT version of the component's `adapter` export, if supported.
    fn check_wit_version(&self, component: &Component) -> Result<String, LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&self.lean.engine).map(|(name, _)| name.to_owned()).collect();
        let prefix = format!("{WIT_PACKAGE}/adapter@");
        let Some(version) = exports.iter().find_map(|n| n.strip_prefix(&prefix)) else {
            return Err(LoadError(format!(
                "the component does not export {WIT_PACKAGE}/adapter (exports: {})",
                if exports.is_empty() { "none".to_owned() } else { exports.join(", ") }
            )));
        };
        if !SUPPORTED_WIT_VERSIONS.contains(&version) {
            return Err(LoadError(format!(
                "the component targets WIT {WIT_PACKAGE}@{version}; this host supports {}",
                SUPPORTED_WIT_VERSIONS.join(", ")
            )));
        }
        Ok(version.to_owned())
    }

    pub async fn info(&self, plugin: &LoadedPlugin) -> Result<AdapterInfo, CallError> {
        match self.call(plugin, Scope::once(), Call::Info).await? {
            Output::Info(info) => Ok(info),
            _ => unreachable!("info call answers info"),
        }
    }

    pub async fn verify_credentials(&self, plugin: &LoadedPlugin, ctx: CallContext) -> Result<Account, CallError> {
        match self.call(plugin, Scope::once(), Call::Verify(ctx)).await? {
            Output::Verify(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("verify call answers verify"),
        }
    }

    pub async fn list_products(
        &self,
        plugin: &LoadedPlugin,
        scope: Scope,
        ctx: CallContext,
        page: PageRequest,
    ) -> Result<ProductPage, CallError> {
        match self.call(plugin, scope, Call::Products(ctx, page)).await? {
            Output::Products(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("products call answers products"),
        }
    }

    pub async fn fetch_stocks(
        &self,
        plugin: &LoadedPlugin,
        scope: Scope,
        ctx: CallContext,
        page: PageRequest,
    ) -> Result<StockPage, CallError> {
        match self.call(plugin, scope, Call::Stocks(ctx, page)).await? {
            Output::Stocks(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("stocks call answers stocks"),
        }
    }

    /// Stock of the seller's warehouses for a batch of variants (capability `seller-stock`).
    pub async fn fetch_seller_stocks(
        &self,
        plugin: &LoadedPlugin,
        scope: Scope,
        ctx: CallContext,
        page: PageRequest,
        products: Vec<ProductRef>,
    ) -> Result<StockPage, CallError> {
        match self.call(plugin, scope, Call::SellerStocks(ctx, page, products)).await? {
            Output::Stocks(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("stocks call answers stocks"),
        }
    }

    /// Prices (capability `prices`).
    pub async fn fetch_prices(
        &self,
        plugin: &LoadedPlugin,
        scope: Scope,
        ctx: CallContext,
        page: PageRequest,
    ) -> Result<PricePage, CallError> {
        match self.call(plugin, scope, Call::Prices(ctx, page)).await? {
            Output::Prices(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("prices call answers prices"),
        }
    }

    /// Sale events (capability `sales`).
    pub async fn fetch_sales(
        &self,
        plugin: &LoadedPlugin,
        scope: Scope,
        ctx: CallContext,
        page: PageRequest,
    ) -> Result<SalePage, CallError> {
        match self.call(plugin, scope, Call::Sales(ctx, page)).await? {
            Output::Sales(r) => r.map_err(CallError::Adapter),
            _ => unreachable!("sales call answers sales"),
        }
    }

    /// Deletes the spooled bodies of `scope` (a sync attempt ended).
    pub fn release(&self, scope: Scope) {
        self.spools.release(scope.0);
    }

    /// Spooled bodies held now.
    pub fn spooled_bodies(&self) -> usize {
        self.spools.len()
    }

    /// One call: fresh store, limits, deadline; the store is dropped afterwards whatever happened.
    async fn call(&self, plugin: &LoadedPlugin, scope: Scope, call: Call) -> Result<Output, CallError> {
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let name = call.name();
        let result = self.call_inner(plugin, scope, call).await;
        let outcome = match &result {
            Err(e) => e.kind(),
            Ok(out) => out.refusal().map_or("ok", |e| CallError::Adapter(e.clone()).kind()),
        };
        if outcome != "ok" {
            plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        let id = &*plugin.id;
        self.metrics.plugin_calls.with_label_values(&[id, outcome]).inc();
        let took = started.elapsed();
        self.metrics.plugin_call_duration.with_label_values(&[id]).observe(took.as_secs_f64());
        let level = if outcome == "ok" { reporting::Level::Info } else { reporting::Level::Warning };
        reporting::breadcrumb("plugin", level, || {
            format!("{id} {} {name}: {outcome} in {} ms", plugin.manifest.version, took.as_millis())
        });
        result
    }

    async fn call_inner(&self, plugin: &LoadedPlugin, scope: Scope, call: Call) -> Result<Output, CallError> {
        let deadline = Instant::now() + plugin.timeout;
        let env = CallEnv {
            metrics: self.metrics.clone(),
            egress: self.egress.clone(),
            spools: self.spools.clone(),
            scope: scope.0,
        };
        let state = HostState::new(
            env,
            plugin.id.clone(),
            plugin.origins.clone(),
            plugin.memory_bytes,
            deadline,
            plugin.stats.clone(),
        );
        // The pool that pays for this call: the resident one when the plugin's last call of this
        // function grew its memory beyond the initial heap (see `engine`).
        let kind = call.index();
        let resident = self.resident_always || plugin.last_grew[kind].load(Ordering::Relaxed);
        let (engine, pre) = match (&self.resident, &plugin.resident_pre) {
            (Some(pool), Some(pre)) if resident => (&pool.engine, pre),
            _ => (&self.lean.engine, &plugin.pre),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });

        let run = async {
            let out = match pre {
                Pre::Current(pre) => {
                    let instance = pre.instantiate_async(&mut store).await.map_err(|e| (e, true))?;
                    call_current(instance.stock_tracker_marketplace_adapter(), &mut store, call).await
                }
                Pre::V0_1(pre) => {
                    let instance = pre.instantiate_async(&mut store).await.map_err(|e| (e, true))?;
                    call_v0_1(instance.stock_tracker_marketplace_adapter(), &mut store, call, &plugin.manifest).await
                }
            };
            out.map_err(|e| (e, false))
        };
        // The epoch callback stops a guest that computes; this outer bound also covers time spent
        // parked in host calls, where epochs do not fire.
        let outcome = tokio::time::timeout(plugin.timeout + engine::EPOCH_TICK * 5, run).await;
        let id = &plugin.id;
        let peak = store.data().limits.memory_peak;
        plugin.last_grew[kind].store(store.data().limits.memory_grew, Ordering::Relaxed);
        plugin.stats.memory_peak_bytes.fetch_max(peak as u64, Ordering::Relaxed);
        self.metrics.plugin_memory_peak.with_label_values(&[&**id]).observe(peak as f64);
        flush_output(id, &store.data().stdout, "stdout");
        flush_output(id, &store.data().stderr, "stderr");
        match outcome {
            Err(_) => Err(CallError::Timeout(plugin.timeout)),
            Ok(Ok(out)) => Ok(out),
            Ok(Err((err, instantiating))) => {
                let limits = &store.data().limits;
                let error = if limits.memory_exceeded {
                    CallError::MemoryLimit(limits.memory_bytes)
                } else if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                    CallError::Timeout(plugin.timeout)
                } else if instantiating {
                    CallError::Instantiate(format!("{err:#}"))
                } else {
                    CallError::Trap(truncate(&format!("{err:#}"), 2048).to_owned())
                };
                tracing::warn!(plugin.id = %id, kind = error.kind(), error = %error, "plugin {id} call failed");
                Err(error)
            }
        }
    }

    /// The lean pool's engine (for tests and benchmarks).
    pub fn engine(&self) -> &Engine {
        &self.lean.engine
    }
}

/// A call into a component of the current WIT version.
async fn call_current(
    adapter: &super::bindings::exports::stock_tracker::marketplace::adapter::Guest,
    store: &mut Store<HostState>,
    call: Call,
) -> wasmtime::Result<Output> {
    Ok(match call {
        Call::Info => Output::Info(adapter.call_info(&mut *store).await?),
        Call::Verify(ctx) => Output::Verify(adapter.call_verify_credentials(&mut *store, &ctx).await?),
        Call::Products(ctx, page) => Output::Products(adapter.call_list_products(&mut *store, &ctx, &page).await?),
        Call::Stocks(ctx, page) => Output::Stocks(adapter.call_fetch_stocks(&mut *store, &ctx, &page).await?),
        Call::SellerStocks(ctx, page, variants) => {
            Output::Stocks(adapter.call_fetch_seller_stocks(&mut *store, &ctx, &page, &variants).await?)
        }
        Call::Prices(ctx, page) => Output::Prices(adapter.call_fetch_prices(&mut *store, &ctx, &page).await?),
        Call::Sales(ctx, page) => Output::Sales(adapter.call_fetch_sales(&mut *store, &ctx, &page).await?),
    })
}

/// A call into a 0.1.0 component, in and out through [`legacy`]. It has no prices or sales.
async fn call_v0_1(
    adapter: &v0_1::exports::stock_tracker::marketplace::adapter::Guest,
    store: &mut Store<HostState>,
    call: Call,
    manifest: &Manifest,
) -> wasmtime::Result<Output> {
    let unsupported = |what: &str| AdapterError::Unsupported(format!("a WIT 0.1.0 adapter has no {what}"));
    Ok(match call {
        Call::Info => Output::Info(legacy::info(adapter.call_info(&mut *store).await?, &manifest.settings)),
        Call::Verify(ctx) => Output::Verify(
            adapter
                .call_verify_credentials(&mut *store, &legacy::context(&ctx))
                .await?
                .map(legacy::account)
                .map_err(legacy::error),
        ),
        Call::Products(ctx, page) => Output::Products(
            adapter
                .call_list_products(&mut *store, &legacy::context(&ctx), &legacy::page(&page))
                .await?
                .map(legacy::products)
                .map_err(legacy::error),
        ),
        Call::Stocks(ctx, page) => Output::Stocks(
            adapter
                .call_fetch_stocks(&mut *store, &legacy::context(&ctx), &legacy::page(&page))
                .await?
                .map(legacy::stocks)
                .map_err(legacy::error),
        ),
        Call::SellerStocks(..) => Output::Stocks(Err(unsupported("seller stocks"))),
        Call::Prices(..) => Output::Prices(Err(unsupported("prices"))),
        Call::Sales(..) => Output::Sales(Err(unsupported("sales"))),
    })
}

/// Writes what the guest printed to the host log, one line each, tagged with the plugin id.
fn flush_output(id: &str, pipe: &wasmtime_wasi::p2::pipe::MemoryOutputPipe, stream: &str) {
    let bytes = pipe.contents();
    if bytes.is_empty() {
        return;
    }
    for line in String::from_utf8_lossy(&bytes).lines().take(200) {
        tracing::info!(plugin.id = id, stream, "[plugin {id} {stream}] {}", truncate(line, 4096));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_text_is_cut_and_flattened() {
        assert_eq!(shown("  bad\r\n\ttoken \u{1b}[31m "), "bad token [31m");
        let page = format!("<html>{}</html>", "x".repeat(5000));
        let cut = shown(&page);
        assert_eq!(cut.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown(&"y".repeat(MAX_SHOWN_CHARS)), "y".repeat(MAX_SHOWN_CHARS));
    }
}
