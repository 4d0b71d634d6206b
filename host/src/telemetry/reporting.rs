//! Sentry: 5xx errors, panics, failed syncs and performance transactions, off unless
//! `SENTRY_DSN` is set (then nothing is installed: no layer, no hub, no cost per request).
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `SENTRY_DSN` | unset (off) | where events go, `https://<key>@<host>/<project>` |
//! | `SENTRY_ENVIRONMENT` | `production` | the event's environment |
//! | `SENTRY_RELEASE` | `stock-tracker@<version>` | the event's release |
//! | `SENTRY_TRACES_SAMPLE_RATE` | `0.1` | share of API requests recorded as transactions |
//!
//! What is sent, and what never is:
//! - **Events**: a 5xx answer ([`capture_api_error`], with the request id), a panic (the panic
//!   integration, inside the request's hub), a sync that failed for a reason of ours (database,
//!   plugin trap/timeout/memory, no adapter; not bad credentials or a marketplace's 429). Each
//!   carries the tenant id (tag) and user id (`user.id`) when known, nothing else about the user.
//! - **Transactions**: one per API request, named by route template (`GET /api/v1/products/{id}`;
//!   unmatched paths have no transaction at all), sampled at `SENTRY_TRACES_SAMPLE_RATE`, except
//!   health and metrics (never); one per sync run (always: there are few).
//! - **Never**: anything answered 404 or 429 (events and transactions: a scanner or a client at its
//!   limit would otherwise flood the project), request bodies, cookies, query strings, and every
//!   header but a short allow-list ([`SAFE_HEADERS`]); no email, password, token or credential.
//!   The filter sits in the transport ([`Scrubbed`]), so it covers everything the SDK sends.
//!
//! Breadcrumbs: one per plugin call (adapter, call, outcome, duration) and per sync step (page,
//! items), so an event shows what led to it.
//!
//! The client must exist before the async runtime starts (every worker thread then inherits it):
//! `main` calls [`init`] first.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sentry::protocol::EnvelopeItem;
pub use sentry::protocol::Level;
use sentry::protocol::{Breadcrumb, Context, Event, Request, SpanStatus};
use sentry::{Envelope, Transport, TransportFactory, TransportOptions};
use uuid::Uuid;

use crate::config::ConfigError;

/// `SENTRY_*` settings.
#[derive(Clone, clap::Args)]
pub struct SentryConfig {
    /// Sentry DSN (`https://<key>@<host>/<project>`). Unset: Sentry is off.
    #[arg(long, env = "SENTRY_DSN", value_name = "SENTRY_DSN", hide_env_values = true, value_parser = crate::config::secrets::secret)]
    pub sentry_dsn: Option<SecretString>,

    /// Environment reported with every event.
    #[arg(long, env = "SENTRY_ENVIRONMENT", value_name = "SENTRY_ENVIRONMENT", default_value = "production")]
    pub sentry_environment: String,

    /// Release reported with every event (default `stock-tracker@<version>`).
    #[arg(long, env = "SENTRY_RELEASE", value_name = "SENTRY_RELEASE")]
    pub sentry_release: Option<String>,

    /// Share of API requests recorded as performance transactions, 0.0 to 1.0.
    #[arg(long, env = "SENTRY_TRACES_SAMPLE_RATE", value_name = "SENTRY_TRACES_SAMPLE_RATE", default_value_t = 0.1)]
    pub sentry_traces_sample_rate: f32,
}

impl Default for SentryConfig {
    fn default() -> Self {
        Self {
            sentry_dsn: None,
            sentry_environment: "production".into(),
            sentry_release: None,
            sentry_traces_sample_rate: 0.1,
        }
    }
}

impl std::fmt::Debug for SentryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentryConfig")
            .field("sentry_dsn", &if self.sentry_dsn.is_some() { "[set]" } else { "[unset]" })
            .field("sentry_environment", &self.sentry_environment)
            .field("sentry_release", &self.sentry_release)
            .field("sentry_traces_sample_rate", &self.sentry_traces_sample_rate)
            .finish()
    }
}

impl SentryConfig {
    /// Whether a DSN is configured.
    pub fn enabled(&self) -> bool {
        self.dsn().is_some()
    }

    fn dsn(&self) -> Option<&str> {
        self.sentry_dsn.as_ref().map(|d| d.expose_secret().trim()).filter(|d| !d.is_empty())
    }

    /// Checks every value, naming the variable (never echoing the DSN).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(dsn) = self.dsn() {
            dsn.parse::<sentry::types::Dsn>().map_err(|_| {
                ConfigError::new("SENTRY_DSN", "not a Sentry DSN; expected https://<key>@<host>/<project>")
            })?;
        }
        if !(0.0..=1.0).contains(&self.sentry_traces_sample_rate) {
            return Err(ConfigError::new(
                "SENTRY_TRACES_SAMPLE_RATE",
                format!("{} is not between 0.0 and 1.0", self.sentry_traces_sample_rate),
            ));
        }
        Ok(())
    }
}

/// Starts the Sentry client when a DSN is set; keep the guard alive for the process's lifetime
/// (dropping it flushes what is queued). Call before building the async runtime.
pub fn init(config: &SentryConfig) -> Result<Option<sentry::ClientInitGuard>, ConfigError> {
    config.validate()?;
    let Some(dsn) = config.dsn() else { return Ok(None) };
    crate::plugins::egress::ensure_tls_provider();
    let rate = config.sentry_traces_sample_rate;
    let release =
        config.sentry_release.clone().unwrap_or_else(|| format!("stock-tracker@{}", env!("CARGO_PKG_VERSION")));
    let options = sentry::ClientOptions::new()
        .dsn(dsn)
        .environment(config.sentry_environment.clone())
        .release(release)
        .send_default_pii(false)
        .traces_sampler(move |ctx| sample_rate(ctx.name(), ctx.operation(), rate))
        .before_send(|mut event| {
            scrub_event(&mut event);
            Some(event)
        })
        .transport(ScrubbedFactory);
    Ok(Some(sentry::init(options)))
}

/// Health and metrics are never traced; sync runs always are; API requests at `rate`.
fn sample_rate(name: &str, operation: &str, rate: f32) -> f32 {
    if operation == SYNC_OPERATION {
        1.0
    } else if name.split_once(' ').is_some_and(|(_, path)| path == "/metrics" || path.starts_with("/api/v1/health")) {
        0.0
    } else {
        rate
    }
}

/// The two layers that give each matched request its own hub and its transaction, in the order
/// sentry-tower requires (hub outside, HTTP inside). `None` when Sentry is off.
pub fn layers(enabled: bool) -> Option<SentryLayers> {
    enabled.then(|| {
        tower::ServiceBuilder::new()
            .layer(HubLayer::new(request_hub as HubFor))
            .layer(sentry::integrations::tower::SentryHttpLayer::new().enable_transaction())
            .into_inner()
    })
}

type HubFor = fn(&axum::extract::Request) -> sentry::Hub;
type HubLayer = sentry::integrations::tower::SentryLayer<HubFor, sentry::Hub, axum::extract::Request>;

/// The stacked Sentry layers' type.
pub type SentryLayers = tower::layer::util::Stack<
    sentry::integrations::tower::SentryHttpLayer,
    tower::layer::util::Stack<HubLayer, tower::layer::util::Identity>,
>;

fn request_hub(_: &axum::extract::Request) -> sentry::Hub {
    fresh_hub()
}

/// A hub for one request or sync run: the main hub's client and settings, but none of the
/// breadcrumbs that other work (plugin loading at start-up, say) left on the main or the worker
/// thread's hub.
fn fresh_hub() -> sentry::Hub {
    let hub = sentry::Hub::new_from_top(sentry::Hub::main());
    hub.configure_scope(|scope| scope.clear_breadcrumbs());
    hub
}

/// Puts the authenticated caller on the request's scope: `user.id` and the `tenant_id` tag.
/// Nothing happens when Sentry is off.
pub fn set_caller(user_id: Uuid, tenant_id: Uuid) {
    sentry::configure_scope(|scope| {
        scope.set_user(Some(sentry::User { id: Some(user_id.to_string()), ..Default::default() }));
        scope.set_tag("tenant_id", tenant_id);
    });
}

/// Reports a 5xx answer: 500 as an error, other 5xx (a marketplace down or limiting us) as a
/// warning. Called where the error becomes a response, inside the request's hub.
pub fn capture_api_error(
    status: axum::http::StatusCode,
    error: &(dyn std::error::Error + 'static),
    request_id: Option<&str>,
) {
    if !status.is_server_error() {
        return;
    }
    sentry::with_scope(
        |scope| {
            scope.set_tag("http.status_code", status.as_u16());
            if let Some(id) = request_id {
                scope.set_tag("request_id", id);
            }
            scope.set_level(Some(if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
                Level::Error
            } else {
                Level::Warning
            }));
        },
        || sentry::capture_error(error),
    );
}

/// A breadcrumb (category, message, level), built only when Sentry is on.
pub fn breadcrumb(category: &'static str, level: Level, message: impl FnOnce() -> String) {
    sentry::add_breadcrumb(|| Breadcrumb {
        category: Some(category.into()),
        level,
        message: Some(message()),
        ..Default::default()
    });
}

/// The operation of sync-run transactions.
pub const SYNC_OPERATION: &str = "sync.run";

/// The transaction of one sync run, on a hub of its own (the run is a background task); nothing
/// at all when Sentry is off.
pub struct SyncTransaction(Option<(Arc<sentry::Hub>, sentry::Transaction)>);

impl SyncTransaction {
    /// Starts the run's transaction (`sync <marketplace>`) with its ids as tags.
    pub fn start(marketplace: &str, tenant_id: Uuid, connection_id: Uuid, run_id: Uuid) -> Self {
        if sentry::Hub::main().client().is_none_or(|c| !c.is_enabled()) {
            return Self(None);
        }
        let hub = Arc::new(fresh_hub());
        let transaction =
            hub.start_transaction(sentry::TransactionContext::new(&format!("sync {marketplace}"), SYNC_OPERATION));
        hub.configure_scope(|scope| {
            scope.set_span(Some(transaction.clone().into()));
            scope.set_tag("tenant_id", tenant_id);
            scope.set_tag("connection_id", connection_id);
            scope.set_tag("sync_run_id", run_id);
            scope.set_tag("marketplace", marketplace);
        });
        Self(Some((hub, transaction)))
    }

    /// Runs the run's work on the run's hub (its breadcrumbs and events land there).
    pub async fn bind<F: std::future::Future>(&self, work: F) -> F::Output {
        use sentry::SentryFutureExt;
        match &self.0 {
            Some((hub, _)) => work.bind_hub(hub.clone()).await,
            None => work.await,
        }
    }

    /// Ends the run: an error event when it failed for a reason of ours (`report`), and the
    /// transaction with its status.
    pub fn finish(self, failure: Option<(&(dyn std::error::Error + 'static), bool)>) {
        let Some((hub, transaction)) = self.0 else { return };
        let status = match failure {
            None => SpanStatus::Ok,
            Some((error, report)) => {
                if report {
                    hub.capture_error(error);
                }
                if report { SpanStatus::InternalError } else { SpanStatus::FailedPrecondition }
            }
        };
        transaction.set_status(status);
        transaction.finish();
    }
}

/// Request headers kept in events and transactions; every other header is dropped.
pub const SAFE_HEADERS: &[&str] =
    &["accept", "accept-encoding", "content-length", "content-type", "user-agent", "x-request-id"];

/// Keeps only what is safe to send about the request and the user.
fn scrub_request(request: &mut Option<Request>) {
    if let Some(req) = request {
        req.data = None;
        req.cookies = None;
        req.query_string = None;
        req.env.clear();
        req.headers.retain(|name, _| SAFE_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        if let Some(url) = &mut req.url {
            url.set_query(None);
            url.set_fragment(None);
        }
    }
}

fn scrub_user(user: &mut Option<sentry::User>) {
    if let Some(user) = user {
        *user = sentry::User { id: user.id.take(), ..Default::default() };
    }
}

fn scrub_event(event: &mut Event<'static>) {
    scrub_request(&mut event.request);
    scrub_user(&mut event.user);
    event.extra.clear();
}

/// Statuses whose requests are never reported (see the module docs).
fn is_ignored(status: Option<SpanStatus>, tags: &std::collections::BTreeMap<String, String>) -> bool {
    matches!(status, Some(SpanStatus::NotFound | SpanStatus::ResourceExhausted))
        || tags.get("http.status_code").is_some_and(|s| s == "404" || s == "429")
}

/// Scrubs and filters every envelope, then hands it to the HTTP transport.
fn filter_envelope(envelope: Envelope) -> Option<Envelope> {
    let mut out = Envelope::new().with_headers(envelope.headers().clone());
    let mut kept = 0;
    for item in envelope.into_items() {
        let item = match item {
            EnvelopeItem::Transaction(mut tx) => {
                let status = match tx.contexts.get("trace") {
                    Some(Context::Trace(trace)) => trace.status,
                    _ => None,
                };
                if is_ignored(status, &tx.tags) {
                    continue;
                }
                scrub_request(&mut tx.request);
                scrub_user(&mut tx.user);
                tx.extra.clear();
                EnvelopeItem::Transaction(tx)
            }
            EnvelopeItem::Event(mut event) => {
                if is_ignored(None, &event.tags) {
                    continue;
                }
                scrub_event(&mut event);
                EnvelopeItem::Event(event)
            }
            other => other,
        };
        out.add_item(item);
        kept += 1;
    }
    (kept > 0).then_some(out)
}

/// Builds the HTTP transport on the process's rustls client, wrapped in [`Scrubbed`].
struct ScrubbedFactory;

impl TransportFactory for ScrubbedFactory {
    fn create_transport_with_options(&self, options: TransportOptions) -> Arc<dyn Transport> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client with the process's TLS provider");
        let inner = sentry::transports::ReqwestHttpTransportOptions::from(options).with_client(client).build();
        Arc::new(Scrubbed(inner))
    }
}

/// The last filter before the network: drops 404/429 items, scrubs requests and users.
struct Scrubbed<T>(T);

impl<T: Transport> Transport for Scrubbed<T> {
    fn send_envelope(&self, envelope: Envelope) {
        if let Some(envelope) = filter_envelope(envelope) {
            self.0.send_envelope(envelope);
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.0.flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> bool {
        self.0.shutdown(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_metrics_are_never_sampled_syncs_always() {
        assert_eq!(sample_rate("GET /api/v1/health/ready", "http.server", 0.5), 0.0);
        assert_eq!(sample_rate("GET /metrics", "http.server", 0.5), 0.0);
        assert_eq!(sample_rate("GET /api/v1/products/{id}", "http.server", 0.5), 0.5);
        assert_eq!(sample_rate("sync wildberries", SYNC_OPERATION, 0.0), 1.0);
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_the_dsn() {
        let bad = SentryConfig { sentry_dsn: Some("not-a-dsn-secretish".into()), ..SentryConfig::default() };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.variable, "SENTRY_DSN");
        assert!(!err.to_string().contains("secretish"), "{err}");
        let bad = SentryConfig { sentry_traces_sample_rate: 1.5, ..SentryConfig::default() };
        assert_eq!(bad.validate().unwrap_err().variable, "SENTRY_TRACES_SAMPLE_RATE");
        assert!(SentryConfig::default().validate().is_ok());
        assert!(!SentryConfig::default().enabled());
    }

    #[test]
    fn requests_keep_only_safe_headers_and_no_query() {
        let mut req = Some(Request {
            url: Some("https://api.example/api/v1/stocks?q=secret".parse().unwrap()),
            query_string: Some("q=secret".into()),
            data: Some("{\"password\":\"x\"}".into()),
            headers: [("Authorization", "Bearer t"), ("User-Agent", "curl"), ("X-Api-Key", "k"), ("Cookie", "c")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Default::default()
        });
        scrub_request(&mut req);
        let req = req.unwrap();
        assert_eq!(req.headers.keys().collect::<Vec<_>>(), ["User-Agent"]);
        assert_eq!(req.url.unwrap().as_str(), "https://api.example/api/v1/stocks");
        assert!(req.data.is_none() && req.query_string.is_none());
    }
}
