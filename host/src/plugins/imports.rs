//! The per-call store state and the host side of the plugin imports (`http`, `log`), for every
//! supported WIT version, plus the memory limiter.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use uuid::Uuid;

use super::bindings::stock_tracker::marketplace::{http, log, types};
use super::bindings::{legacy, v0_1};
use super::egress::{Egress, EgressError, Origin, Outbound};
use super::runtime::PluginStats;
use super::spool::Spools;

/// Captured guest stdout/stderr per call; writing past it traps the call.
pub const OUTPUT_CAPACITY: usize = 64 * 1024;
/// Log lines a single call may write; the rest are dropped (counted once).
pub const LOG_LINES_PER_CALL: usize = 1_000;
/// Longest log line kept, in bytes.
pub const LOG_LINE_MAX: usize = 4 * 1024;

/// What a call runs with, besides the plugin: the host's shared parts and the call's scope.
pub struct CallEnv {
    pub metrics: Arc<crate::telemetry::Metrics>,
    pub egress: Egress,
    pub spools: Arc<Spools>,
    pub scope: Uuid,
}

/// Everything one call's store holds. Nothing survives the call but spooled bodies (see
/// [`Spools`]).
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
    spools: Arc<Spools>,
    /// Whose spooled bodies this call may read and owns the ones it makes.
    scope: Uuid,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl HostState {
    /// A fresh state: WASI with no env, args, files, sockets or inherited stdio; output captured.
    pub fn new(
        env: CallEnv,
        plugin_id: Arc<str>,
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
            egress: env.egress,
            allowed,
            deadline,
            log_budget: LOG_LINES_PER_CALL,
            stats,
            metrics: env.metrics,
            spools: env.spools,
            scope: env.scope,
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
    /// Whether the call grew a memory beyond its initial size.
    pub(crate) memory_grew: bool,
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
        Self { inner, memory_bytes, memory_exceeded: false, memory_peak: 0, memory_grew: false }
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
            // A memory is created with `current` 0; growing it afterwards means the call needed
            // more than the component's initial heap.
            self.memory_grew |= current > 0;
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
impl v0_1::stock_tracker::marketplace::types::Host for HostState {}

impl HostState {
    /// Counts a request's outcome and maps a refusal to the WIT error.
    fn outcome<T>(&self, result: Result<T, EgressError>, started: Instant) -> Result<T, http::HttpError> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(EgressError::Denied(_)) => "denied",
            Err(EgressError::Timeout) => "timeout",
            Err(EgressError::Connection(_)) => "connection",
            Err(EgressError::TooLarge) => "too_large",
            Err(EgressError::InvalidRequest(_)) => "invalid_request",
        };
        self.stats.record_http(result.as_ref().err(), started.elapsed());
        self.metrics.plugin_http.with_label_values(&[&*self.plugin_id, outcome]).inc();
        result.map_err(|err| {
            if let EgressError::Denied(origin) = &err {
                tracing::warn!(plugin.id = %self.plugin_id, origin = %origin, "plugin {} request to {origin} denied", self.plugin_id);
            }
            match err {
                EgressError::Denied(o) => http::HttpError::Denied(o),
                EgressError::Timeout => http::HttpError::Timeout,
                EgressError::Connection(e) => http::HttpError::Connection(e),
                EgressError::TooLarge => http::HttpError::TooLarge,
                EgressError::InvalidRequest(e) => http::HttpError::InvalidRequest(e),
            }
        })
    }
}

impl HostState {
    /// The guest's request, under this call's origins and deadline.
    fn outbound<'a>(&'a self, req: &'a http::Request) -> Outbound<'a> {
        Outbound {
            allowed: &self.allowed,
            method: &req.method,
            url: &req.url,
            headers: &req.headers,
            body: req.body.as_deref(),
            deadline: self.deadline,
        }
    }
}

impl http::Host for HostState {
    async fn send(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let started = Instant::now();
        // A body bigger than the call's memory could never be handed in: refuse it as it arrives.
        let max_body = self.limits.memory_bytes;
        let result = self.egress.send(self.outbound(&req), max_body).await;
        Ok(self.outcome(result, started).map(|resp| http::Response {
            status: resp.status,
            headers: resp.headers,
            body: resp.body,
        }))
    }

    async fn send_spooled(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::SpooledResponse, http::HttpError>> {
        let started = Instant::now();
        let (id, path, file) = match self.spools.create() {
            Ok(created) => created,
            Err(e) => {
                tracing::error!(error = %e, "cannot create a spool file");
                return Ok(Err(http::HttpError::Connection("the host cannot spool bodies now".into())));
            }
        };
        let result = self.egress.send_to_file(self.outbound(&req), file).await;
        Ok(match self.outcome(result, started) {
            Ok((status, headers, size)) => {
                self.spools.register(self.scope, id.clone(), path);
                Ok(http::SpooledResponse { status, headers, body_id: id, size })
            }
            Err(err) => {
                let _ = std::fs::remove_file(path);
                Err(err)
            }
        })
    }

    async fn read_spooled(
        &mut self,
        body_id: String,
        offset: u64,
        max_bytes: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, http::HttpError>> {
        let (spools, scope) = (self.spools.clone(), self.scope);
        let read = tokio::task::spawn_blocking(move || spools.read(scope, &body_id, offset, max_bytes)).await?;
        Ok(read.map_err(http::HttpError::InvalidRequest))
    }
}

impl v0_1::stock_tracker::marketplace::http::Host for HostState {
    async fn send(
        &mut self,
        req: v0_1::stock_tracker::marketplace::http::Request,
    ) -> wasmtime::Result<
        Result<v0_1::stock_tracker::marketplace::http::Response, v0_1::stock_tracker::marketplace::http::HttpError>,
    > {
        let answer = http::Host::send(self, legacy::request(req)).await?;
        Ok(legacy::response(answer))
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

impl v0_1::stock_tracker::marketplace::log::Host for HostState {
    async fn write(
        &mut self,
        level: v0_1::stock_tracker::marketplace::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        log::Host::write(self, legacy::level(level), message).await
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
