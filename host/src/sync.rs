//! The sync engine (the seed's ProductService): brings one connection's products, prices, stock
//! and sales in through its marketplace adapter.
//!
//! A run is carried by a durable job ([`crate::jobs`]): starting a sync ([`start`], or the
//! scheduler in [`schedule`]) records a `queued` run and its job in one transaction, and whichever
//! worker of whichever instance claims the job runs an attempt ([`job`]). The run row is what
//! the seller sees; the job is how it survives a crash, a deploy, a marketplace asking to wait.
//!
//! An attempt runs the phases in order ([`phases`]): products, prices (if the adapter has the
//! `prices` capability), stocks, sales (`sales`). The host drives pagination, calling the adapter
//! once per page, so every call is short ([`pager`]). Each page is written in one transaction
//! with batched statements; a history row is appended only where a quantity changed. Products
//! the marketplace stopped reporting are marked inactive once the product listing completed,
//! never deleted; stock levels and in-transit counts the completed stock listing no longer
//! reports are set to zero (with history). Sale events are stored idempotently, and the cursor
//! the adapter returns is kept for the next run.
//!
//! A page the marketplace failed in passing (`transient`) is retried within the attempt
//! (`SYNC_PAGE_RETRIES`). When the marketplace answers `rate-limited`, the attempt waits and asks
//! again, handing the adapter back the `resume` value it gave, up to
//! `SYNC_MAX_RATE_LIMIT_WAIT_SECS` in total; a longer wait ends the attempt, saves where the run
//! stood (finished phases, the page cursor, the resume value) and defers the run
//! ([`SyncError::RateLimited`]): the next attempt continues from there, even hours later. A
//! failed attempt leaves everything written before it as it was: no deletion, no deactivation.
//!
//! Each page call takes the adapter's current version from the registry, so a hot swap applies
//! from the next page on.

mod config;
pub mod job;
mod pager;
mod phases;
pub mod schedule;

pub use config::{MAX_INTERVAL_SECS, SyncConfig};

use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use crate::App;
use crate::plugins::CallError;
use crate::plugins::bindings::{AdapterError, CallContext};
use crate::store::StoreError;
use crate::store::connections::ConnectionRecord;
use crate::store::sync_runs::{SyncRun, SyncTrigger};
use crate::telemetry::reporting;

/// Pages one phase may take before the run is stopped (a cursor that never ends).
const MAX_PAGES: usize = 100_000;

/// Why an attempt ended early; its `Display` is what the run records.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no adapter is loaded for marketplace `{0}`")]
    NoAdapter(String),
    #[error("{0}")]
    Plugin(#[from] CallError),
    #[error("the marketplace asked to wait {0} s, beyond this attempt's budget for waiting: deferred")]
    RateLimited(u64),
    #[error("the adapter returned the same cursor twice ({0} phase); stopped")]
    CursorLoop(&'static str),
    #[error("more than {MAX_PAGES} pages ({0} phase); stopped")]
    TooManyPages(&'static str),
    #[error("credentials do not open: {0}")]
    Credentials(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the connection was deleted during the sync")]
    ConnectionDeleted,
    #[error("connection settings: {0}")]
    Settings(String),
}

impl SyncError {
    /// Whether the failure is ours to fix (reported to Sentry), rather than the seller's or the
    /// marketplace's (bad credentials, a marketplace that is down, refusing or limiting us).
    pub fn is_ours(&self) -> bool {
        match self {
            Self::Plugin(CallError::Adapter(e)) => matches!(e, AdapterError::Internal(_)),
            Self::RateLimited(_) | Self::ConnectionDeleted | Self::Settings(_) => false,
            Self::Plugin(_)
            | Self::NoAdapter(_)
            | Self::CursorLoop(_)
            | Self::TooManyPages(_)
            | Self::Credentials(_)
            | Self::Store(_) => true,
        }
    }

    /// Whether another attempt may pass: the marketplace failed in passing or was slow, the
    /// database hiccuped, the adapter is being replaced. Refused credentials or requests, a
    /// broken adapter or bad settings will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Plugin(CallError::Adapter(e)) => matches!(e, AdapterError::Transient(_)),
            Self::Plugin(CallError::Timeout(_)) | Self::Store(_) | Self::NoAdapter(_) => true,
            _ => false,
        }
    }

    /// Whether the marketplace refused the connection's credentials.
    pub fn is_refused_credentials(&self) -> bool {
        matches!(self, Self::Plugin(CallError::Adapter(AdapterError::InvalidCredentials(_))))
    }
}

/// Starts a sync of one connection (a run and its job), or returns the run already queued or
/// running for it. Returns the run and whether it is new.
pub async fn start(
    app: &Arc<App>,
    tenant_id: Uuid,
    connection_id: Uuid,
    trigger: SyncTrigger,
) -> Result<(SyncRun, bool), StoreError> {
    let (run, created) =
        app.store.enqueue_sync(tenant_id, connection_id, trigger, app.config.sync.sync_max_attempts).await?;
    if created {
        app.job_wakeup.notify_one();
    }
    Ok((run, created))
}

/// What one attempt brought in.
#[derive(Debug, Default)]
pub struct Progress {
    pub products: i64,
    pub stocks: i64,
    pub changes: i64,
    pub prices: i64,
    pub sales: i64,
    rate_limit_waited: u64,
}

impl Progress {
    pub fn counts(&self) -> (i64, i64, i64) {
        (self.products, self.stocks, self.changes)
    }
}

/// One attempt of a run of `connection` (read once by the caller), recorded as `run_id`'s
/// progress. The caller records the outcome ([`job`]).
pub async fn attempt(
    app: &App,
    connection: &ConnectionRecord,
    run_id: Uuid,
    progress: &mut Progress,
) -> Result<(), SyncError> {
    let started = Instant::now();
    let transaction = reporting::SyncTransaction::start(
        &connection.marketplace,
        connection.tenant_id,
        connection.connection_id,
        run_id,
    );
    let outcome = transaction.bind(phases::run(app, connection, run_id, progress)).await;
    // Spooled bodies serve one attempt's pages; a later attempt asks the marketplace again.
    app.plugins.runtime().release(phases::scope(connection));
    transaction.finish(outcome.as_ref().err().map(|e| (e as &(dyn std::error::Error + 'static), e.is_ours())));
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let counts = progress.counts();
    match &outcome {
        Ok(()) => tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, sync_run.id = %run_id,
            products = counts.0, stocks = counts.1, changes = counts.2, prices = progress.prices, sales = progress.sales,
            duration_ms = started.elapsed().as_millis() as u64, "sync {run_id} succeeded"),
        Err(err) => tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, sync_run.id = %run_id,
            error = %err, duration_ms = started.elapsed().as_millis() as u64, "sync {run_id} attempt ended: {err}"),
    }
    outcome
}

/// The adapter's view of a connection: opened credentials and settings as strings.
pub async fn call_context(app: &App, connection: &ConnectionRecord) -> Result<CallContext, SyncError> {
    let credentials = app
        .keyring
        .open_credentials(&app.store, connection)
        .await
        .map_err(|_| SyncError::Credentials("sealed under a key that is not configured, or tampered".into()))?;
    Ok(CallContext { credentials: credentials.into_iter().collect(), settings: settings_pairs(&connection.settings.0) })
}

/// Connection settings as the adapter receives them: strings as they are, other JSON as text.
pub fn settings_pairs(settings: &serde_json::Value) -> Vec<(String, String)> {
    match settings {
        serde_json::Value::Object(map) => {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
        }
        _ => Vec::new(),
    }
}
