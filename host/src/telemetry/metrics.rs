//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! The seed's series, exactly as its document names and labels them, so its PromQL works:
//! - `stock_tracker_requests_total{method, endpoint, status_code}` and
//!   `stock_tracker_request_duration_seconds{method, endpoint}` (the seed's buckets, 0.01 … 10 s).
//!   `endpoint` is the route template (`/api/v1/products/{id}`); unmatched paths share `unmatched`.
//! - `stock_tracker_errors_total{error_type, endpoint}`: every error answered, by the envelope's
//!   code (`not_found`, `invalid_field`, `rate_limited`, `internal`, …), panics (`panic`) and
//!   timeouts (`timeout`) included; failed syncs as `sync_failed` with endpoint `sync`.
//! - `stock_tracker_sync_duration_seconds{marketplace}`.
//! - `stock_tracker_sync_products_total{marketplace, status}`: products of succeeded runs under
//!   `success`, of failed runs under `failed` (at least one per failed run, so a run that fails
//!   before its first page still lowers the seed's success rate).
//! - `stock_tracker_active_tenants`: tenants with a request or a sync in the last 15 minutes.
//!
//! Every seed series exists from the start with its known label values at 0 ([`Metrics::preset`]:
//! each operation of the OpenAPI document with each status it documents, each marketplace with
//! both statuses), so the seed's queries answer 0 on a fresh instance rather than "no data", and
//! the first 5xx of a route is seen by `rate()`.
//!
//! Where the seed labels by `tenant_id`, this service does not: at 10,000 tenants every series
//! would multiply by 10,000. Per-tenant figures belong in logs (`tenant.id` field) and the API
//! (sync runs per connection); `active_tenants` counts tenants without naming them.
//!
//! - `stock_tracker_jobs_total{job, status}` (the seed's Celery task counter): each finished
//!   job attempt by kind and how it ended: `success`, `failed` (for good), `retry` (failed, again
//!   later), `deferred` (the outside asked to wait; no attempt spent).
//! - `stock_tracker_cache_hits_total{cache_key}` / `stock_tracker_cache_misses_total{cache_key}`:
//!   answer cache lookups by what is cached (`products`, `stocks`).
//!
//! Added for telling the seller (issue 12): `stock_tracker_events_total{type}` (events recorded
//! by type), `stock_tracker_webhook_deliveries_total{outcome}` (each delivery attempt:
//! `success`, `retry` (failed, again later), `failed` (for good, or the endpoint disabled),
//! `disabled` (the endpoint answered 410 or failed too often and was switched off)),
//! `stock_tracker_webhook_delivery_seconds` (from the event to its successful delivery),
//! `stock_tracker_telegram_messages_total{outcome}` (`sent`, `throttled` (Telegram answered 429),
//! `failed`).
//!
//! Added: `stock_tracker_jobs_running{job}` (jobs this process runs now: per instance, so
//! aggregate with `sum`), `stock_tracker_job_duration_seconds{job}`, `stock_tracker_jobs_queued{job}` (jobs due
//! and waiting for a worker) and `stock_tracker_jobs_oldest_queued_seconds{job}` (how long the
//! oldest of them has waited), sampled from the database every few seconds by every instance
//! (each reports the shared queue: aggregate with `max`, not `sum`),
//! `stock_tracker_plugin_calls_total{plugin, outcome}`,
//! `stock_tracker_plugin_call_duration_seconds{plugin}`, `stock_tracker_plugin_http_requests_total{plugin, outcome}`,
//! `stock_tracker_plugin_memory_peak_bytes{plugin}` (a call's largest linear memory, 1 MiB … 512 MiB),
//! `stock_tracker_ratelimit_decisions_total{scope, decision}`, `stock_tracker_ratelimit_fail_open_total`,
//! `stock_tracker_ratelimit_backend_duration_seconds{backend}` (`redis`: the script's round
//! trip; `memory`: the whole in-process decision, the request's scopes worked out included),
//! `stock_tracker_build_info{version}`, and
//! the process collector (`process_*`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use uuid::Uuid;

/// The seed's request-duration buckets, seconds.
pub const BUCKETS: [f64; 8] = [0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0];
/// How recent a tenant's activity must be to count as active.
pub const ACTIVE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Every series of one process.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub errors: IntCounterVec,
    pub sync_duration: HistogramVec,
    pub sync_products: IntCounterVec,
    pub plugin_calls: IntCounterVec,
    pub plugin_call_duration: HistogramVec,
    pub plugin_http: IntCounterVec,
    pub plugin_memory_peak: HistogramVec,
    pub ratelimit_decisions: IntCounterVec,
    pub ratelimit_fail_open: IntCounter,
    pub ratelimit_backend_duration: HistogramVec,
    pub jobs: IntCounterVec,
    pub job_duration: HistogramVec,
    pub jobs_queued: IntGaugeVec,
    pub jobs_running: IntGaugeVec,
    pub jobs_oldest_queued: GaugeVec,
    pub cache_hits: IntCounterVec,
    pub cache_misses: IntCounterVec,
    pub events: IntCounterVec,
    pub webhook_deliveries: IntCounterVec,
    pub webhook_delivery_seconds: prometheus::Histogram,
    pub telegram_messages: IntCounterVec,
    active_tenants: IntGauge,
    activity: Mutex<HashMap<Uuid, Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(c.clone())).expect("registered once");
    c
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
    registry.register(Box::new(h.clone())).expect("registered once");
    h
}

fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let b = || BUCKETS.to_vec();
        let fast = || vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
        let active_tenants =
            IntGauge::new("stock_tracker_active_tenants", "Tenants with a request or sync in the last 15 minutes")
                .expect("valid");
        r.register(Box::new(active_tenants.clone())).expect("registered once");
        let build =
            IntGaugeVec::new(Opts::new("stock_tracker_build_info", "Build information"), &["version"]).expect("valid");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        r.register(Box::new(build)).expect("registered once");
        #[cfg(target_os = "linux")]
        let _ = r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        Self {
            requests: counter(
                &r,
                "stock_tracker_requests_total",
                "HTTP requests",
                &["method", "endpoint", "status_code"],
            ),
            request_duration: histogram(
                &r,
                "stock_tracker_request_duration_seconds",
                "HTTP request duration",
                &["method", "endpoint"],
                b(),
            ),
            errors: counter(&r, "stock_tracker_errors_total", "Errors answered, by type", &["error_type", "endpoint"]),
            sync_duration: histogram(
                &r,
                "stock_tracker_sync_duration_seconds",
                "Sync run duration",
                &["marketplace"],
                b(),
            ),
            sync_products: counter(
                &r,
                "stock_tracker_sync_products_total",
                "Products synced, by the run's outcome",
                &["marketplace", "status"],
            ),
            plugin_calls: counter(
                &r,
                "stock_tracker_plugin_calls_total",
                "Plugin calls by outcome",
                &["plugin", "outcome"],
            ),
            plugin_call_duration: histogram(
                &r,
                "stock_tracker_plugin_call_duration_seconds",
                "Plugin call duration",
                &["plugin"],
                b(),
            ),
            plugin_http: counter(
                &r,
                "stock_tracker_plugin_http_requests_total",
                "Outbound HTTP from plugins",
                &["plugin", "outcome"],
            ),
            plugin_memory_peak: histogram(
                &r,
                "stock_tracker_plugin_memory_peak_bytes",
                "Largest linear memory of a plugin call",
                &["plugin"],
                prometheus::exponential_buckets((1 << 20) as f64, 2.0, 10).expect("valid buckets"),
            ),
            ratelimit_decisions: counter(
                &r,
                "stock_tracker_ratelimit_decisions_total",
                "Rate-limit decisions",
                &["scope", "decision"],
            ),
            ratelimit_fail_open: {
                let c = IntCounter::new(
                    "stock_tracker_ratelimit_fail_open_total",
                    "Requests let through because the limiter could not decide",
                )
                .expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            ratelimit_backend_duration: histogram(
                &r,
                "stock_tracker_ratelimit_backend_duration_seconds",
                "Limiter backend latency",
                &["backend"],
                fast(),
            ),
            jobs: counter(&r, "stock_tracker_jobs_total", "Job attempts by how they ended", &["job", "status"]),
            job_duration: histogram(
                &r,
                "stock_tracker_job_duration_seconds",
                "Job attempt duration",
                &["job"],
                vec![0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0],
            ),
            jobs_running: registered(
                &r,
                IntGaugeVec::new(Opts::new("stock_tracker_jobs_running", "Jobs this process is running now"), &["job"]),
            ),
            jobs_queued: registered(
                &r,
                IntGaugeVec::new(Opts::new("stock_tracker_jobs_queued", "Jobs due and waiting for a worker"), &["job"]),
            ),
            jobs_oldest_queued: registered(
                &r,
                GaugeVec::new(
                    Opts::new("stock_tracker_jobs_oldest_queued_seconds", "How long the oldest due job has waited"),
                    &["job"],
                ),
            ),
            cache_hits: counter(&r, "stock_tracker_cache_hits_total", "Answer cache hits", &["cache_key"]),
            cache_misses: counter(&r, "stock_tracker_cache_misses_total", "Answer cache misses", &["cache_key"]),
            events: counter(&r, "stock_tracker_events_total", "Events recorded, by type", &["type"]),
            webhook_deliveries: counter(
                &r,
                "stock_tracker_webhook_deliveries_total",
                "Webhook delivery attempts by outcome",
                &["outcome"],
            ),
            webhook_delivery_seconds: registered(
                &r,
                prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "stock_tracker_webhook_delivery_seconds",
                        "From an event to its successful webhook delivery",
                    )
                    .buckets(vec![
                        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0, 36000.0, 86400.0,
                    ]),
                ),
            ),
            telegram_messages: counter(
                &r,
                "stock_tracker_telegram_messages_total",
                "Telegram messages by outcome",
                &["outcome"],
            ),
            active_tenants,
            activity: Mutex::new(HashMap::new()),
            registry: r,
        }
    }

    /// Notes activity of a tenant (a request or a sync).
    pub fn tenant_active(&self, tenant_id: Uuid) {
        self.activity.lock().unwrap_or_else(|e| e.into_inner()).insert(tenant_id, Instant::now());
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        {
            let mut activity = self.activity.lock().unwrap_or_else(|e| e.into_inner());
            activity.retain(|_, at| at.elapsed() < ACTIVE_WINDOW);
            self.active_tenants.set(activity.len() as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// One route's usual request series, resolved once: a lookup by label values hashes them and
/// takes a lock (about 200 instructions each, two per request). The first successful answer's
/// method and status are kept with their counter and the route's duration histogram; any other
/// answer is looked up as before.
#[derive(Debug, Default)]
pub struct RouteSeries {
    kept: std::sync::OnceLock<KeptSeries>,
}

#[derive(Debug)]
struct KeptSeries {
    method: axum::http::Method,
    status: axum::http::StatusCode,
    requests: prometheus::IntCounter,
    duration: prometheus::Histogram,
}

/// Marketplaces the seed's sync series are preset for.
const MARKETPLACES: [&str; 3] = ["wildberries", "ozon", "yandex_market"];

impl Metrics {
    /// Records one answered request; `code` is the error envelope's code, when the answer is an
    /// error that carries one (otherwise the code the envelope will give its status).
    pub fn observe(
        &self,
        method: &str,
        endpoint: &str,
        status: axum::http::StatusCode,
        code: Option<&'static str>,
        took: Duration,
    ) {
        let method = method_label(method);
        self.requests.with_label_values(&[method, endpoint, status.as_str()]).inc();
        self.request_duration.with_label_values(&[method, endpoint]).observe(took.as_secs_f64());
        if status.is_client_error() || status.is_server_error() {
            let error_type = code.unwrap_or_else(|| crate::error::bare_error(status).0);
            self.errors.with_label_values(&[error_type, endpoint]).inc();
        }
    }

    /// [`Metrics::observe`] for a route that keeps its usual series in `series`.
    pub fn observe_route(
        &self,
        series: &RouteSeries,
        method: &axum::http::Method,
        endpoint: &str,
        status: axum::http::StatusCode,
        code: Option<&'static str>,
        took: Duration,
    ) {
        if let Some(kept) = series.kept.get()
            && kept.status == status
            && kept.method == method
        {
            kept.requests.inc();
            kept.duration.observe(took.as_secs_f64());
            return;
        }
        self.observe(method.as_str(), endpoint, status, code, took);
        if status.is_success() && series.kept.get().is_none() {
            let label = method_label(method.as_str());
            let _ = series.kept.set(KeptSeries {
                method: method.clone(),
                status,
                requests: self.requests.with_label_values(&[label, endpoint, status.as_str()]),
                duration: self.request_duration.with_label_values(&[label, endpoint]),
            });
        }
    }

    /// Records a finished job attempt.
    pub fn job_finished(&self, job: &str, status: &str, took: Duration) {
        self.jobs.with_label_values(&[job, status]).inc();
        self.job_duration.with_label_values(&[job]).observe(took.as_secs_f64());
    }

    /// Sets the queue gauges of `jobs` (every job kind this process runs) from a sample: kind →
    /// (due jobs, seconds the oldest has waited); kinds absent from it have none.
    pub fn jobs_sampled(&self, jobs: &[&str], sample: &HashMap<String, (i64, f64)>) {
        for job in jobs {
            let (queued, oldest) = sample.get(*job).copied().unwrap_or((0, 0.0));
            self.jobs_queued.with_label_values(&[*job]).set(queued);
            self.jobs_oldest_queued.with_label_values(&[*job]).set(oldest);
        }
    }

    /// Records a finished sync run.
    pub fn sync_finished(&self, marketplace: &str, succeeded: bool, products: u64, took: Duration) {
        let marketplace = if MARKETPLACES.contains(&marketplace) { marketplace } else { "other" };
        self.sync_duration.with_label_values(&[marketplace]).observe(took.as_secs_f64());
        if succeeded {
            self.sync_products.with_label_values(&[marketplace, "success"]).inc_by(products);
        } else {
            self.sync_products.with_label_values(&[marketplace, "failed"]).inc_by(products.max(1));
            self.errors.with_label_values(&["sync_failed", "sync"]).inc();
        }
    }

    /// Creates the seed's series with their known label values at 0: every documented
    /// `(method, endpoint, status)` of the API, the error type each documented error status
    /// always has, every marketplace with both sync statuses. (A series that first appears at 1
    /// loses that increment to `rate()`; presetting is how the first 5xx of a route is seen.)
    pub fn preset<'a>(&self, operations: impl IntoIterator<Item = (&'a str, &'a str, Vec<&'a str>)>) {
        for (method, endpoint, statuses) in operations {
            let method = method_label(method);
            self.request_duration.with_label_values(&[method, endpoint]);
            for status in statuses {
                self.requests.with_label_values(&[method, endpoint, status]);
                if let Some(error_type) = fixed_error_type(status) {
                    self.errors.with_label_values(&[error_type, endpoint]);
                }
            }
        }
        for marketplace in MARKETPLACES {
            self.sync_duration.with_label_values(&[marketplace]);
            for status in ["success", "failed"] {
                self.sync_products.with_label_values(&[marketplace, status]);
            }
        }
        self.errors.with_label_values(&["sync_failed", "sync"]);
        for status in JOB_STATUSES {
            self.jobs.with_label_values(&[crate::store::sync_runs::SYNC_JOB, status]);
        }
        for key in crate::cache::KEYS {
            self.cache_hits.with_label_values(&[key]);
            self.cache_misses.with_label_values(&[key]);
        }
        for job in [crate::store::sync_runs::SYNC_JOB, crate::store::events::WEBHOOK_JOB] {
            self.jobs_running.with_label_values(&[job]);
        }
        for event_type in crate::events::EventType::ALL {
            self.events.with_label_values(&[event_type.as_str()]);
        }
        for outcome in ["success", "retry", "failed", "disabled"] {
            self.webhook_deliveries.with_label_values(&[outcome]);
        }
        for outcome in ["sent", "throttled", "failed"] {
            self.telegram_messages.with_label_values(&[outcome]);
        }
    }
}

/// How a job attempt can end (`stock_tracker_jobs_total`'s `status`).
pub const JOB_STATUSES: [&str; 4] = ["success", "failed", "retry", "deferred"];

/// The envelope code an error status always answers with (409, 502 and 503 have several).
fn fixed_error_type(status: &str) -> Option<&'static str> {
    Some(match status {
        "400" => "malformed_json",
        "401" => "unauthorized",
        "403" => "forbidden",
        "404" => "not_found",
        "408" => "timeout",
        "413" => "payload_too_large",
        "415" => "unsupported_media_type",
        "422" => "invalid_field",
        "429" => "rate_limited",
        "500" => "internal",
        _ => return None,
    })
}

/// Methods outside the standard set share one label (bounded cardinality).
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
        _ => "OTHER",
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn serve_metrics(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<crate::App>>,
) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render())
}
