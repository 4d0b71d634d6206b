//! The per-call store state and the host side of the plugin imports (`http`, `log`), plus the
//! memory limiter.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::stock_tracker::marketplace::{http, log, types};
use super::egress::{Egress, EgressError, Origin};
use super::runtime::PluginStats;

/// Captured guest stdout/stderr per call; writing past it traps the call.
pub const OUTPUT_CAPACITY: usize = 64 * 1024;
/// Log lines a single call may write; the rest are dropped (counted once).
pub const LOG_LINES_PER_CALL: usize = 1_000;
/// Longest log line kept, in bytes.
pub const LOG_LINE_MAX: usize = 4 * 1024;

/// Everything one call's store holds. Nothing survives the call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: CallLimits,
    pub(crate) plugin_id: Arc<str>,
    egress: Egress,
    allowed: Arc<Vec<Origin>>,
    deadline: Instant,
    log_budget: usize,
    stats: Arc<PluginStats>,
    metrics: Arc<crate::telemetry::Metrics>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl HostState {
    /// A fresh state: WASI with no env, args, files, sockets or inherited stdio; output captured.
    pub fn new(
        metrics: Arc<crate::telemetry::Metrics>,
        plugin_id: Arc<str>,
        egress: Egress,
        allowed: Arc<Vec<Origin>>,
        memory_bytes: usize,
        deadline: Instant,
        stats: Arc<PluginStats>,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limits: CallLimits::new(memory_bytes),
            plugin_id,
            egress,
            allowed,
            deadline,
            log_budget: LOG_LINES_PER_CALL,
            stats,
            metrics,
            stdout,
            stderr,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// `StoreLimits` (memory cap, one instance's worth of tables and memories, grow failures trap)
/// that also remembers whether the memory cap was hit, so the failure can be named, and the
/// largest memory the call had, so operators see how close adapters come to the cap.
pub struct CallLimits {
    inner: StoreLimits,
    pub(crate) memory_bytes: usize,
    pub(crate) memory_exceeded: bool,
    pub(crate) memory_peak: usize,
}

impl CallLimits {
    fn new(memory_bytes: usize) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(memory_bytes)
            .instances(32)
            .tables(64)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        Self { inner, memory_bytes, memory_exceeded: false, memory_peak: 0 }
    }
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_peak = self.memory_peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl types::Host for HostState {}

impl http::Host for HostState {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let started = Instant::now();
        let result =
            self.egress.send(&self.allowed, &req.method, &req.url, &req.headers, req.body, self.deadline).await;
        self.stats.record_http(&result, started.elapsed());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(EgressError::Denied(_)) => "denied",
            Err(EgressError::Timeout) => "timeout",
            Err(EgressError::Connection(_)) => "connection",
            Err(EgressError::TooLarge) => "too_large",
            Err(EgressError::InvalidRequest(_)) => "invalid_request",
        };
        self.metrics.plugin_http.with_label_values(&[&*self.plugin_id, outcome]).inc();
        Ok(match result {
            Ok(resp) => Ok(http::Response { status: resp.status, headers: resp.headers, body: resp.body }),
            Err(err) => {
                if let EgressError::Denied(origin) = &err {
                    tracing::warn!(plugin.id = %self.plugin_id, origin = %origin, "plugin {} request to {origin} denied", self.plugin_id);
                }
                Err(match err {
                    EgressError::Denied(o) => http::HttpError::Denied(o),
                    EgressError::Timeout => http::HttpError::Timeout,
                    EgressError::Connection(e) => http::HttpError::Connection(e),
                    EgressError::TooLarge => http::HttpError::TooLarge,
                    EgressError::InvalidRequest(e) => http::HttpError::InvalidRequest(e),
                })
            }
        })
    }
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.log_budget == 0 {
            return Ok(());
        }
        self.log_budget -= 1;
        let message = truncate(&message, LOG_LINE_MAX);
        let id = &*self.plugin_id;
        match level {
            log::Level::Trace => tracing::trace!(plugin.id = id, "[plugin {id}] {message}"),
            log::Level::Debug => tracing::debug!(plugin.id = id, "[plugin {id}] {message}"),
            log::Level::Info => tracing::info!(plugin.id = id, "[plugin {id}] {message}"),
            log::Level::Warn => tracing::warn!(plugin.id = id, "[plugin {id}] {message}"),
            log::Level::Error => tracing::error!(plugin.id = id, "[plugin {id}] {message}"),
        }
        if self.log_budget == 0 {
            tracing::warn!(
                plugin.id = id,
                "plugin {id} wrote {LOG_LINES_PER_CALL} log lines in one call; dropping the rest"
            );
        }
        Ok(())
    }
}

/// Cuts a string at a char boundary at or below `max` bytes.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
